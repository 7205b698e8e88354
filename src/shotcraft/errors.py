"""One exception hierarchy; each user-facing error carries the exit code the CLI returns."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path


class ShotcraftError(Exception):
    """A failure the user can act on: shown as one line per problem, no traceback."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [str(self)]


class UsageError(ShotcraftError):
    exit_code = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a spec file: where (key path, line) and what."""

    path: str
    message: str
    line: int | None = None
    missing_file: bool = False  # a file the spec names is not there (see MissingInput)


class SpecError(ShotcraftError):
    """A shot, reel or preset file that cannot be used; lists every problem at once."""

    exit_code = 3

    def __init__(self, file: Path | str, problems: list[Problem]) -> None:
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        out = []
        for p in self.problems:
            where = f"{self.file}:{p.line}" if p.line else self.file
            out.append(f"{where}: {p.path}: {p.message}" if p.path else f"{where}: {p.message}")
        return out


class BackendUnavailable(ShotcraftError):
    exit_code = 4


class RenderFailed(ShotcraftError):
    exit_code = 5


class OverBudget(ShotcraftError):
    exit_code = 6


class MissingInput(ShotcraftError):
    exit_code = 7


# errnos that mean "this place cannot take the write", not "shotcraft has a bug"
WRITE_ERRNOS = frozenset(
    getattr(errno, n)
    for n in ("ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EFBIG", "ENOTDIR", "EISDIR")
    if hasattr(errno, n)
)


class CannotWrite(ShotcraftError):
    """A full disk or an unwritable place: nothing final was replaced (writes are atomic)."""

    exit_code = 8

    def __init__(self, path: Path | str | None, cause: str) -> None:
        self.path = str(path) if path is not None else None
        self.cause = cause
        where = f"cannot write {self.path}" if self.path else "cannot write"
        left = f"; {self.path} was left as it was" if self.path else ""
        super().__init__(f"{where}: {cause}{left}")

    @classmethod
    def from_os(cls, e: OSError, path: Path | str | None = None) -> CannotWrite:
        return cls(e.filename if e.filename is not None else path, os_cause(e))


def os_cause(e: OSError) -> str:
    """ "no space left on device", "read-only file system", "permission denied"."""
    text = e.strerror or (os.strerror(e.errno) if e.errno else "") or type(e).__name__
    return text.strip().rstrip(".").lower()


def is_write_fault(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in WRITE_ERRNOS
