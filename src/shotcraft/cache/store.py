"""A content-addressed store: sharded objects with meta, atomic writes, a lock per key."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from shotcraft import __version__
from shotcraft.cache.keys import cache_key
from shotcraft.fsutil import write_bytes, write_json

log = logging.getLogger("shotcraft")


def default_cache_dir(explicit: Path | None = None) -> Path:
    """--cache > $SHOTCRAFT_CACHE > $XDG_CACHE_HOME/shotcraft > ~/.cache/shotcraft."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get("SHOTCRAFT_CACHE"):
        return Path(os.environ["SHOTCRAFT_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "shotcraft"
    return Path.home() / ".cache" / "shotcraft"


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    kind: str
    size: int
    created: float
    last_used: float
    producer: str
    seconds: float
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    key: str
    hit: bool
    seconds: float  # what making it cost (now, or when it was made)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: int
    corrupt: tuple[str, ...]
    removed: tuple[str, ...]


class CacheCorrupt(Exception):
    pass


class Cache:
    """`get_or_make` is the one way in: hash the spec, look up, make under a lock, write."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # --- paths -----------------------------------------------------------------------
    def _obj(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key[2:]

    def _meta(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / (key[2:] + ".json")

    def _lock(self, key: str) -> FileLock:
        p = self.root / "locks" / key[:2] / (key[2:] + ".lock")
        p.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(p))

    # --- reading ---------------------------------------------------------------------
    def _read(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        obj, meta_p = self._obj(key), self._meta(key)
        try:
            meta = json.loads(meta_p.read_text())
            data = obj.read_bytes()
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise CacheCorrupt(key)
        with contextlib.suppress(OSError):
            os.utime(obj)  # last use, for gc
        return data, meta

    def contains(self, spec: dict[str, Any]) -> bool:
        key = cache_key(spec)
        return self._obj(key).is_file() and self._meta(key).is_file()

    def _drop(self, key: str) -> None:
        for p in (self._meta(key), self._obj(key)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def get_or_make(
        self, spec: dict[str, Any], make: Callable[[], bytes], producer: str = ""
    ) -> Fetched:
        key = cache_key(spec)
        got = self._checked_read(key)
        if got is not None:
            self._count(spec.get("kind", "?"), hit=True)
            return Fetched(got[0], key, True, float(got[1].get("seconds", 0.0)))
        with self._lock(key):
            # Another process may have made it while we waited for the lock.
            got = self._checked_read(key)
            if got is not None:
                self._count(spec.get("kind", "?"), hit=True)
                return Fetched(got[0], key, True, float(got[1].get("seconds", 0.0)))
            t0 = time.perf_counter()
            data = make()
            seconds = time.perf_counter() - t0
            write_bytes(self._obj(key), data)
            meta = {
                "key": key,
                "kind": spec.get("kind", "?"),
                "spec": spec,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "created": time.time(),
                "producer": producer or f"shotcraft {__version__} pid {os.getpid()}",
                "seconds": round(seconds, 6),
            }
            write_json(self._meta(key), meta)  # the meta last: its presence marks completion
        self._count(spec.get("kind", "?"), hit=False)
        return Fetched(data, key, False, seconds)

    def _checked_read(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        try:
            return self._read(key)
        except CacheCorrupt:
            log.warning(
                "cache entry %s is corrupt (its bytes do not match their sha256); "
                "dropping it and making it again",
                key[:12],
            )
            self._drop(key)
            return None

    # --- statistics ------------------------------------------------------------------
    def _count(self, kind: str, hit: bool) -> None:
        path = self.root / "stats.json"
        lock = FileLock(str(self.root / "locks" / "stats.lock"))
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        with lock:
            try:
                stats = json.loads(path.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                stats = {}
            k = stats.setdefault(kind, {"hits": 0, "misses": 0})
            k["hits" if hit else "misses"] += 1
            write_json(path, stats)

    def counters(self) -> dict[str, dict[str, int]]:
        try:
            return dict(json.loads((self.root / "stats.json").read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    # --- listing and upkeep ----------------------------------------------------------
    def _metas(self) -> Iterator[tuple[str, Path]]:
        base = self.root / "objects"
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if not shard.is_dir():
                continue
            for p in sorted(shard.iterdir()):
                if p.suffix == ".json":
                    yield shard.name + p.stem, p

    def entries(self) -> list[Entry]:
        out = []
        for key, meta_p in self._metas():
            try:
                meta = json.loads(meta_p.read_text())
                last = self._obj(key).stat().st_mtime
            except (OSError, json.JSONDecodeError):
                continue
            out.append(
                Entry(
                    key=key,
                    kind=str(meta.get("kind", "?")),
                    size=int(meta.get("size", 0)),
                    created=float(meta.get("created", 0.0)),
                    last_used=last,
                    producer=str(meta.get("producer", "")),
                    seconds=float(meta.get("seconds", 0.0)),
                    spec=dict(meta.get("spec", {})),
                )
            )
        return out

    def verify(self, repair: bool = True) -> VerifyReport:
        checked, corrupt, removed = 0, [], []
        for key, meta_p in self._metas():
            checked += 1
            try:
                meta = json.loads(meta_p.read_text())
                ok = hashlib.sha256(self._obj(key).read_bytes()).hexdigest() == meta.get("sha256")
            except (OSError, json.JSONDecodeError):
                ok = False
            if not ok:
                corrupt.append(key)
                if repair:
                    self._drop(key)
                    removed.append(key)
        return VerifyReport(checked, tuple(corrupt), tuple(removed))

    def gc(self, max_size: int | None = None, older_than: float | None = None) -> list[Entry]:
        """Evict by last use: anything unused for `older_than` seconds, then the least
        recently used until the total is at most `max_size` bytes."""
        entries = sorted(self.entries(), key=lambda e: e.last_used)
        now = time.time()
        evict = [e for e in entries if older_than is not None and now - e.last_used > older_than]
        keep = [e for e in entries if e not in evict]
        if max_size is not None:
            total = sum(e.size for e in keep)
            for e in list(keep):
                if total <= max_size:
                    break
                evict.append(e)
                keep.remove(e)
                total -= e.size
        for e in evict:
            with self._lock(e.key):
                self._drop(e.key)
        return evict
