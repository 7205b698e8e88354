"""The Ray runner's bookkeeping of a video model's chunk actors: they end (their CPUs back to
the segments) only when no chunk of the model is in flight and no shot has more to hand out,
so a model is loaded once per actor for the command, not once per shot."""

from __future__ import annotations

from typing import Any

import pytest

from shotcraft.executors import cluster
from shotcraft.executors.work import chunk_model


class _FakeRay:
    def __init__(self) -> None:
        self.killed: list[Any] = []

    def kill(self, actor: Any, no_restart: bool = False) -> None:
        self.killed.append(actor)


def _runner(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, _FakeRay]:
    fake = _FakeRay()
    monkeypatch.setattr(cluster, "ray", fake)
    runner = object.__new__(cluster.RayRunner)  # the bookkeeping only: no Ray started
    runner._chunk_actors, runner._chunk_refs, runner._chunk_shots = {}, {}, {}
    return runner, fake


def test_chunk_actors_stay_for_a_second_shot_of_the_same_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, fake = _runner(monkeypatch)
    model = chunk_model(None, None, "cpu")  # any hashable painter will do
    runner.chunks_coming(model)  # two shots of one video model
    runner.chunks_coming(model)
    runner._chunk_actors[model] = ["actor-a", "actor-b"]
    runner._chunk_refs = {"c0": model, "c1": model}  # shot 1's chunks in flight
    runner.chunks_handed(model)  # shot 1 has handed out its last
    runner._chunk_landed("c0")
    runner._chunk_landed("c1")
    assert fake.killed == []  # shot 2 is still to come: the loaded actors wait for it
    runner._chunk_refs = {"c2": model}
    runner.chunks_handed(model)
    assert fake.killed == []  # its chunk is still in flight
    runner._chunk_landed("c2")
    assert fake.killed == ["actor-a", "actor-b"] and model not in runner._chunk_actors


def test_chunk_actors_of_a_model_no_shot_needs_end_when_its_last_chunk_lands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, fake = _runner(monkeypatch)
    a, b = chunk_model(None, None, "cpu"), chunk_model(None, None, "cuda")
    runner.chunks_coming(a)
    runner.chunks_coming(b)
    runner._chunk_actors = {a: ["actor-a"], b: ["actor-b"]}
    runner._chunk_refs = {"a0": a}
    runner.chunks_handed(a)
    runner._chunk_landed("a0")
    assert fake.killed == ["actor-a"]  # b's shot still hands out: its actor stays
