"""A content-addressed store: sharded objects with meta, atomic writes, a lock per key."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from shotcraft import __version__
from shotcraft.cache.keys import cache_key
from shotcraft.fsutil import remove_orphans, write_bytes, write_json

log = logging.getLogger("shotcraft")
# Threads of one process take turns at stats.json here first: two of them waiting on the file
# lock itself would poll it, and the second would sleep 50 ms for a write that takes one.
_STATS_TURN = threading.Lock()


def default_cache_dir(explicit: Path | None = None) -> Path:
    """--cache > $SHOTCRAFT_CACHE > $XDG_CACHE_HOME/shotcraft > ~/.cache/shotcraft."""
    if explicit is not None:
        root = Path(explicit)
    elif os.environ.get("SHOTCRAFT_CACHE"):
        root = Path(os.environ["SHOTCRAFT_CACHE"])
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]) / "shotcraft"
    else:
        root = Path.home() / ".cache" / "shotcraft"
    if root.exists() and not root.is_dir():
        from shotcraft.errors import UsageError

        raise UsageError(f"cache folder {root} is a file, not a folder")
    return root


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


_KEY_TAIL = re.compile(r"^[0-9a-f]{62}$")


def meta_problem(meta: Any, key: str) -> str | None:
    """What makes a meta file unusable (wrong shape, another key), or None."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    if not isinstance(meta.get("sha256"), str):
        return "no sha256"
    if meta.get("key", key) != key:
        return "made for another key"
    size = meta.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return "no size"
    for name in ("created", "seconds"):
        v = meta.get(name, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"`{name}` is not a number"
    if not isinstance(meta.get("spec", {}), dict) or not isinstance(meta.get("kind", ""), str):
        return "`spec` or `kind` has the wrong type"
    return None


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
            meta = json.loads(meta_p.read_bytes())
            data = obj.read_bytes()
        except FileNotFoundError:
            return None
        except ValueError:  # a meta file that is not JSON: the entry cannot be trusted
            raise CacheCorrupt(key) from None
        if meta_problem(meta, key) is not None:
            raise CacheCorrupt(key)
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise CacheCorrupt(key)
        with contextlib.suppress(OSError):
            os.utime(obj)  # last use, for gc
        return data, meta

    def contains(self, spec: dict[str, Any]) -> bool:
        return self.contains_key(cache_key(spec))

    def contains_key(self, key: str) -> bool:
        """Whether an entry of this key (a spec's `cache_key`) is stored."""
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            return False
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
                "cache entry %s is corrupt (its meta file is damaged or its bytes do not "
                "match their sha256); dropping it and making it again",
                key[:12],
            )
            self._drop(key)
            return None

    # --- statistics ------------------------------------------------------------------
    def _count(self, kind: str, hit: bool) -> None:
        path = self.root / "stats.json"
        lock = FileLock(str(self.root / "locks" / "stats.lock"))
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        with _STATS_TURN, lock:
            stats = self.counters()
            k = stats.setdefault(kind, {"hits": 0, "misses": 0})
            k["hits" if hit else "misses"] += 1
            write_json(path, stats)

    def counters(self) -> dict[str, dict[str, int]]:
        """Hits and misses by kind; a damaged stats.json counts as none (it is only counts)."""
        try:
            data = json.loads((self.root / "stats.json").read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        out = {}
        for kind, k in data.items():
            if isinstance(k, dict):
                counts = {n: k.get(n, 0) for n in ("hits", "misses")}
                if all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
                    out[str(kind)] = counts
        return out

    # --- listing and upkeep ----------------------------------------------------------
    def _keys(self) -> Iterator[str]:
        """Every key with an object or a meta file (an object whose meta was lost included,
        so that gc and verify still see it)."""
        base = self.root / "objects"
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            names = set()
            for p in shard.iterdir():
                stem = p.name[:-5] if p.name.endswith(".json") else p.name
                if _KEY_TAIL.match(stem):
                    names.add(stem)
            for stem in sorted(names):
                yield shard.name + stem

    def entries(self) -> list[Entry]:
        out = []
        for key in self._keys():
            try:
                st = self._obj(key).stat()
            except OSError:
                continue  # a meta without its object: nothing to list or evict (verify drops it)
            meta: Any = None
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(self._meta(key).read_bytes())
            if meta_problem(meta, key) is not None:
                # meta lost or damaged: listed (and evictable) by what the object itself says
                last = st.st_mtime
                out.append(Entry(key, "?", st.st_size, last, last, "(no meta)", 0.0, {}))
                continue
            out.append(
                Entry(
                    key=key,
                    kind=str(meta.get("kind", "?")),
                    size=int(meta["size"]),
                    created=float(meta.get("created", 0.0)),
                    last_used=st.st_mtime,
                    producer=str(meta.get("producer", "")),
                    seconds=float(meta.get("seconds", 0.0)),
                    spec=dict(meta.get("spec", {})),
                )
            )
        return out

    def verify(self, repair: bool = True) -> VerifyReport:
        checked, corrupt, removed = 0, [], []
        with contextlib.suppress(OSError):
            remove_orphans(self.root / "objects")  # temp files of killed writers
        for key in self._keys():
            checked += 1
            with self._lock(key):  # not an entry another process is writing right now
                try:
                    meta = json.loads(self._meta(key).read_bytes())
                    ok = meta_problem(meta, key) is None and (
                        hashlib.sha256(self._obj(key).read_bytes()).hexdigest() == meta["sha256"]
                    )
                except (OSError, ValueError):
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
        with contextlib.suppress(OSError):
            remove_orphans(self.root / "objects")
        return evict
