"""Atomic file writes: a temporary file in the same folder, then os.replace."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def temp_beside(path: Path, suffix: str | None = None) -> Path:
    """A new empty temporary file in the folder of `path` (same filesystem: replace is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix + ".part", dir=path.parent
    )
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: Path) -> None:
    """Move a finished temporary file to its final name, with the usual file mode."""
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it becomes `path` only if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed, so a final
    name never holds half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_json(path: Path, obj: Any, compact: bool = False) -> None:
    """JSON for people (indented), or `compact` for large machine-read files (motion.json:
    indenting tens of thousands of per-frame values took longer than computing them)."""
    text = json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=2)
    write_bytes(path, (text + "\n").encode())


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def read_artifact(path: Path, schema: str, stage: str) -> dict[str, Any]:
    """A JSON artifact a stage wrote, checked for its schema; MissingInput (exit 7) otherwise,
    naming the stage that makes it."""
    from shotcraft.errors import MissingInput

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MissingInput(f"{path}: not found; run `shotcraft {stage}` first") from None
    except json.JSONDecodeError as e:
        raise MissingInput(
            f"{path}: not valid JSON ({e}); run `shotcraft {stage} --force`"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else None
        raise MissingInput(
            f"{path}: schema {found!r} is not {schema}; run `shotcraft {stage} --force`"
        )
    return data


def file_digest(path: Any, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
