"""The cache: made once, verified on read, corrupt entries remade, concurrent makers share."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from pathlib import Path

import pytest

from shotcraft.cache import Cache, default_cache_dir
from shotcraft.cache.keys import cache_key

SPEC = {"kind": "plate", "backend": "test", "size": [4, 4], "seed": 1}


def test_key_ignores_order_and_changes_with_content() -> None:
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_made_once_then_hit(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    calls = []

    def make() -> bytes:
        calls.append(1)
        return b"plate-bytes"

    first = cache.get_or_make(SPEC, make)
    second = cache.get_or_make(SPEC, make)
    assert (first.hit, second.hit) == (False, True)
    assert second.data == b"plate-bytes" and len(calls) == 1
    key = first.key
    assert (tmp_path / "objects" / key[:2] / key[2:]).read_bytes() == b"plate-bytes"
    meta = json.loads((tmp_path / "objects" / key[:2] / f"{key[2:]}.json").read_text())
    assert meta["spec"] == SPEC and meta["size"] == 11 and meta["kind"] == "plate"
    assert {"sha256", "created", "producer", "seconds"} <= set(meta)
    assert cache.counters()["plate"] == {"hits": 1, "misses": 1}


def test_corrupt_entry_is_dropped_with_a_warning_and_remade(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(tmp_path)
    key = cache.get_or_make(SPEC, lambda: b"good").key
    (tmp_path / "objects" / key[:2] / key[2:]).write_bytes(b"evil")
    assert cache.verify(repair=False).corrupt == (key,)
    logging.getLogger("shotcraft").propagate = True
    with caplog.at_level(logging.WARNING, logger="shotcraft"):
        got = cache.get_or_make(SPEC, lambda: b"good")
    assert not got.hit and got.data == b"good"
    assert "corrupt" in caplog.text
    assert cache.verify().corrupt == ()


def test_a_failed_make_leaves_no_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def boom() -> bytes:
        raise RuntimeError("painter crashed")

    with pytest.raises(RuntimeError):
        cache.get_or_make(SPEC, boom)
    assert cache.entries() == []
    assert not cache.contains(SPEC)


def test_gc_evicts_least_recently_used_first(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    keys = []
    for i in range(3):
        keys.append(cache.get_or_make({**SPEC, "seed": i}, lambda: b"x" * 100).key)
        time.sleep(0.02)
    cache.get_or_make({**SPEC, "seed": 0}, lambda: b"")  # touch the oldest: now most recent
    evicted = cache.gc(max_size=200)
    assert [e.key for e in evicted] == [keys[1]]
    assert {e.key for e in cache.entries()} == {keys[0], keys[2]}


def test_location_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOTCRAFT_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert default_cache_dir(tmp_path / "c") == tmp_path / "c"
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SHOTCRAFT_CACHE")
    assert default_cache_dir() == tmp_path / "b" / "shotcraft"


def _worker(root: str, out: str) -> None:
    cache = Cache(Path(root))

    def make() -> bytes:
        time.sleep(0.3)  # long enough that both processes ask while one makes
        with open(out, "a") as f:
            f.write("made\n")
        return b"shared"

    cache.get_or_make(SPEC, make)


def test_two_processes_needing_one_entry_make_it_once(tmp_path: Path) -> None:
    log = tmp_path / "made.log"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "c"), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert log.read_text().count("made") == 1
    assert Cache(tmp_path / "c").counters()["plate"] == {"hits": 2, "misses": 1}


def test_threads_counting_hits_at_once_lose_none(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = Cache(tmp_path)
    spec = {"kind": "sprite", "n": 1}
    cache.get_or_make(spec, lambda: b"x")
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: cache.get_or_make(spec, lambda: b"y").data, range(40)))
    assert got == [b"x"] * 40
    assert cache.counters()["sprite"] == {"hits": 40, "misses": 1}
