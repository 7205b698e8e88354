"""Atomic file writes: a temporary file in the same folder, then os.replace."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


# Temporary names carry the writer's pid (`.clip.mp4.1234-x8f2k.part`), so that the next run
# can tell the leftovers of a killed run (their pid is gone) from a live writer's files.
_TEMP_RE = re.compile(r"^\..+\.(\d+)-[a-z0-9_]{8}\..*part.*$")


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """OSErrors that mean "this place cannot take the write" become CannotWrite naming `path`
    (the final name, not the hidden temporary one)."""
    from shotcraft.errors import CannotWrite, is_write_fault, os_cause

    try:
        yield
    except OSError as e:
        if is_write_fault(e):
            raise CannotWrite(path, os_cause(e)) from None
        raise


def temp_beside(path: Path, suffix: str | None = None) -> Path:
    """A new empty temporary file in the folder of `path` (same filesystem: replace is atomic)."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}-",
            suffix=suffix or path.suffix + ".part",
            dir=path.parent,
        )
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: Path) -> None:
    """Move a finished temporary file to its final name, with the usual file mode."""
    with writing(path):
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600
        os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_orphans(folder: Path, recursive: bool = True) -> list[Path]:
    """Remove the temporary files killed runs left in `folder`: only those whose writer's
    process is gone, so a run going on beside this one keeps its files."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP_RE.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
        elif recursive and p.is_dir() and not p.is_symlink():
            removed += remove_orphans(p, recursive=True)
    return removed


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it becomes `path` only if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed, so a final
    name never holds half a file.
    """
    path = Path(path)
    tmp = temp_beside(path, suffix)
    try:
        with writing(path):
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
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise MissingInput(f"{path}: not found; run `shotcraft {stage}` first") from None
    except ValueError as e:
        raise MissingInput(
            f"{path}: not valid JSON ({e}); run `shotcraft {stage} --force`"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else None
        raise MissingInput(
            f"{path}: schema {found!r} is not {schema}; run `shotcraft {stage} --force`"
        )
    return data


@contextlib.contextmanager
def artifact_fields(path: Path, stage: str) -> Iterator[None]:
    """Reading an artifact's fields: a missing key or a value of the wrong type means it was
    damaged (or cut short) after it was written; MissingInput names the command that remakes
    it."""
    from shotcraft.errors import MissingInput

    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        what = f"no {e}" if isinstance(e, KeyError) else str(e) or type(e).__name__
        raise MissingInput(
            f"{path}: damaged ({what}); run `shotcraft {stage} --force` to make it again"
        ) from None


def finite(v: Any) -> float:
    """A number read back from an artifact: a finite float, or ValueError/TypeError."""
    try:
        if not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v):
            return float(v)
    except OverflowError:  # an integer too large for a float
        pass
    text = repr(v)
    raise ValueError(f"{text if len(text) <= 40 else text[:36] + '...'} is not a finite number")


def pair(v: Any, kind: Any = float) -> Any:
    """A two-element list read back from an artifact, as a tuple of `kind`."""
    if not isinstance(v, list) or len(v) != 2:
        raise ValueError(f"{v!r} is not a pair")
    a, b = finite(v[0]), finite(v[1])
    return (kind(a), kind(b))


def file_digest(path: Any, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
