"""How a command asked to run (`--jobs`, `--executor`, `--address`): light enough for the CLI
to parse before it knows whether anything runs in parallel (the runner's modules are imported
only when something does)."""

from __future__ import annotations

from dataclasses import dataclass

from shotcraft.errors import UsageError


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """How to run: `kind` "local" (processes on this machine) or "ray"; `jobs` workers for
    local (None: one per core); `address` of a Ray cluster (None: $RAY_ADDRESS, else a local
    Ray started for the command); `threads` per worker (0: cores / jobs)."""

    kind: str = "local"
    jobs: int | None = 1
    address: str | None = None
    threads: int = 0

    @property
    def parallel(self) -> bool:
        return self.kind == "ray" or self.jobs != 1


def parse_jobs(value: str) -> int | None:
    """--jobs N | auto (None: one per core)."""
    if value.strip().lower() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"--jobs: '{value}' is not a number of workers or 'auto'") from None
    if n < 1:
        raise UsageError(f"--jobs: must be at least 1 (or 'auto'), not {n}")
    return n
