"""Layers through the cache: made on two threads or one, the same pictures and the same report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.cache import Cache
from shotcraft.layout.planner import plan
from shotcraft.motion.track import compute_motion
from shotcraft.spec.load import load_shot
from shotcraft.stages.layers import Layers, fetch_layers, plan_layers

SHOT = """
    version = 1
    [shot]
    duration = 1.0
    size = [320, 180]
    seed = 2
    [background]
    colors = ["#27405e", "#f4b26b"]
    extent = 1.3
    [[subjects]]
    id = "a"
    shape = "circle"
    place = "left, ground"
    [[subjects]]
    id = "b"
    shape = "star"
    place = "right, ground"
"""


class OneAtATime(ProceduralBackend):
    threads = 1


class Broken(ProceduralBackend):
    def sprite(self, *args: Any) -> Any:
        raise RuntimeError("no sprite today")


def _fetch(backend: ProceduralBackend, cache: Path, write_shot: Callable[..., Path]) -> Layers:
    shot = load_shot(write_shot(SHOT))
    layout = plan(shot, 0)
    lp = plan_layers(backend, shot, layout, compute_motion(shot, layout), 1.0, shot.size[1])
    return fetch_layers(Cache(cache), backend, shot, layout, lp)


def _pixels(layers: Layers) -> list[np.ndarray]:
    plate = [np.asarray(layer.image) for layer in layers.plate.layers]
    return plate + [np.asarray(layers.sprites[sid]) for sid in sorted(layers.sprites)]


def test_two_threads_make_what_one_makes(tmp_path: Path, write_shot: Callable[..., Path]) -> None:
    both = _fetch(ProceduralBackend(), tmp_path / "c2", write_shot)
    one = _fetch(OneAtATime(), tmp_path / "c1", write_shot)
    assert [a.shape for a in _pixels(both)] == [a.shape for a in _pixels(one)]
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(both), _pixels(one), strict=True))
    assert sorted(both.report["sprites"]) == ["a", "b"]
    assert not both.report["plate"]["hit"] and not both.report["sprites"]["a"]["hit"]
    again = _fetch(ProceduralBackend(), tmp_path / "c2", write_shot)  # now from the cache
    assert again.report["plate"]["hit"] and all(r["hit"] for r in again.report["sprites"].values())
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(again), _pixels(one), strict=True))


def test_a_sprite_that_fails_on_the_second_thread_fails_the_fetch(
    tmp_path: Path, write_shot: Callable[..., Path]
) -> None:
    with pytest.raises(RuntimeError, match="no sprite today"):
        _fetch(Broken(), tmp_path / "c", write_shot)
    assert Cache(tmp_path / "c").entries()  # the plate made beside it is kept
