"""Easing, planner and motion: the properties users rely on when they plan a shot."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shotcraft.layout.planner import plan
from shotcraft.motion.easing import get_ease
from shotcraft.motion.track import compute_motion
from shotcraft.spec.model import Background, Camera, CameraKey, Shot, Subject, SubjectKey

NAMED = ["linear", "in", "out", "in-out"]
coord = st.floats(0.0, 1.0)


@pytest.mark.parametrize("name", [*NAMED, "cubic-bezier(0.25, 0.1, 0.25, 1)"])
def test_easing_hits_end_points_exactly(name: str) -> None:
    f = get_ease(name)
    out = f(np.array([0.0, 1.0]))
    assert out[0] == 0.0 and out[1] == 1.0


@given(st.sampled_from(NAMED), st.lists(coord, min_size=2, max_size=50))
def test_named_easings_are_monotone(name: str, us: list[float]) -> None:
    u = np.sort(np.array(us))
    y = get_ease(name)(u)
    assert np.all(np.diff(y) >= -1e-12)


@given(coord, st.floats(-1.0, 2.0), coord, st.floats(-1.0, 2.0))
@settings(max_examples=50)
def test_cubic_bezier_matches_css_end_points_and_linear_case(x1, y1, x2, y2) -> None:
    f = get_ease(f"cubic-bezier({x1}, {y1}, {x2}, {y2})")
    assert f(np.array([0.0]))[0] == 0.0 and f(np.array([1.0]))[0] == 1.0
    lin = get_ease("cubic-bezier(0.0, 0.0, 1.0, 1.0)")
    u = np.linspace(0, 1, 11)
    assert np.allclose(lin(u), u, atol=1e-6)


def _shot(subjects: tuple[Subject, ...], **kw: object) -> Shot:
    base = Shot(
        id="t",
        source=Path("t.toml"),
        duration=2.0,
        fps=24,
        size=(1280, 720),
        seed=5,
        preset="preview",
        background=Background(),
        camera=Camera(),
        subjects=subjects,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@given(st.integers(2, 4), st.integers(0, 2**31), st.sampled_from(["small", "medium"]))
@settings(max_examples=40, deadline=None)
def test_planner_never_overlaps_subjects_that_fit_side_by_side(
    n: int, seed: int, size: str
) -> None:
    subjects = tuple(
        Subject(id=f"s{i}", shape="box", place=f"center ground {size}") for i in range(n)
    )
    shot = _shot(subjects, seed=seed)
    for variant in (0, 1, 2):
        layout = plan(shot, variant)
        total = sum(s.width for s in layout.subjects)
        if total > 0.9:
            continue
        boxes = [(s.keys[0].x - s.width / 2, s.keys[0].x + s.width / 2) for s in layout.subjects]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[1] <= b[0] + 1e-9 or b[1] <= a[0] + 1e-9, (variant, boxes)


def test_farther_subjects_are_smaller_and_higher_on_the_ground() -> None:
    shot = _shot(
        (
            Subject(id="near", place="left ground", depth=0.0),
            Subject(id="far", place="right ground", depth=0.9),
        )
    )
    layout = plan(shot)
    near, far = layout.subject("near"), layout.subject("far")
    assert far.height < near.height
    assert far.keys[0].y < near.keys[0].y  # higher on screen = smaller y


def test_hints_follow_the_rule_of_thirds() -> None:
    shot = _shot((Subject(id="a", place="left third"), Subject(id="b", place="right third, small")))
    layout = plan(shot)
    assert layout.subject("a").keys[0].x == pytest.approx(1 / 3)
    assert layout.subject("b").keys[0].x == pytest.approx(2 / 3)


def test_same_seed_same_layout_and_variants_differ() -> None:
    shot = _shot(tuple(Subject(id=f"s{i}", place="ground") for i in range(3)))
    assert plan(shot, 0) == plan(shot, 0)
    positions = {tuple(round(s.keys[0].x, 4) for s in plan(shot, k).subjects) for k in range(4)}
    assert len(positions) == 4


def _mover(x0: float, x1: float, motion: str = "walk", t1: float = 1.0) -> Subject:
    return Subject(
        id="m",
        place="ground",
        motion=motion,
        keys=(SubjectKey(0.0, at=(x0, 0.85)), SubjectKey(t1, at=(x1, 0.85), ease="linear")),
    )


@pytest.mark.parametrize("gait", ["walk", "run", "hop", "float", "sway"])
def test_gait_bob_is_zero_at_rest_and_nonzero_when_moving(gait: str) -> None:
    shot = _shot((_mover(0.2, 0.6, gait, t1=1.0),))  # moves for 1 s, rests for 1 s
    m = compute_motion(shot, plan(shot)).subjects[0]
    rest = slice(30, 48)
    assert np.all(m.bob[rest] == 0.0)
    assert np.allclose(m.rotation[rest], 0.0)
    if gait != "sway":
        assert m.bob[5:20].max() > 0.001
    else:
        assert np.abs(m.rotation[5:20]).max() > 0.5


def test_subject_moving_left_is_mirrored_and_keeps_facing_at_rest() -> None:
    shot = _shot((_mover(0.8, 0.2),))
    m = compute_motion(shot, plan(shot)).subjects[0]
    assert m.mirror[5] and m.mirror[20]
    assert m.mirror[40]  # at rest it still faces left
    right = _shot((_mover(0.2, 0.8),))
    assert not compute_motion(right, plan(right)).subjects[0].mirror.any()


def test_face_key_overrides_direction() -> None:
    s = dataclasses.replace(
        _mover(0.8, 0.2),
        keys=(SubjectKey(0.0, at=(0.8, 0.85), face="right"), SubjectKey(1.0, at=(0.2, 0.85))),
    )
    shot = _shot((s,))
    assert not compute_motion(shot, plan(shot)).subjects[0].mirror.any()


def test_spline_through_keys_does_not_overshoot() -> None:
    keys = (
        SubjectKey(0.0, at=(0.1, 0.8)),
        SubjectKey(0.5, at=(0.5, 0.5), path="spline", ease="linear"),
        SubjectKey(1.0, at=(0.6, 0.45), path="spline", ease="linear"),
        SubjectKey(2.0, at=(0.9, 0.8), path="spline", ease="linear"),
    )
    shot = _shot((Subject(id="s", keys=keys),))
    m = compute_motion(shot, plan(shot)).subjects[0]
    assert m.x.min() >= 0.1 - 1e-9 and m.x.max() <= 0.9 + 1e-9  # x is monotone through the keys
    assert np.all(np.diff(m.x) >= -1e-9)
    assert m.y.min() >= 0.45 - 1e-9 and m.y.max() <= 0.8 + 1e-9
    for k in keys:  # passes through each key
        i = round(k.t * 24)
        i = min(i, 47)
        if i < 47:
            assert (m.x[i], m.y[i]) == pytest.approx(k.at, abs=1e-9)


def test_arc_rises_between_keys() -> None:
    keys = (SubjectKey(0.0, at=(0.2, 0.8)), SubjectKey(2.0, at=(0.8, 0.8), path="arc", arc=0.2))
    shot = _shot((Subject(id="s", keys=keys),), duration=2.0)
    m = compute_motion(shot, plan(shot)).subjects[0]
    assert m.y[0] == pytest.approx(0.8) and m.y.min() == pytest.approx(0.6, abs=0.01)


def test_camera_pan_moves_near_layers_more_than_far() -> None:
    cam = Camera((CameraKey(0.0), CameraKey(2.0, pan=(0.1, 0.0), ease="linear")))
    subjects = (
        Subject(id="near", depth=0.0, keys=(SubjectKey(0.0, at=(0.5, 0.8)),)),
        Subject(id="far", depth=1.0, keys=(SubjectKey(0.0, at=(0.5, 0.8)),)),
    )
    shot = _shot(subjects, camera=cam)
    tracks = {s.id: s for s in compute_motion(shot, plan(shot)).subjects}
    shift_near = tracks["near"].sx[0] - tracks["near"].sx[-1]
    shift_far = tracks["far"].sx[0] - tracks["far"].sx[-1]
    assert shift_far == pytest.approx(0.1 * 47 / 48, abs=1e-6)  # moves with the plate
    assert shift_near > shift_far * 1.4


def test_same_inputs_give_identical_motion() -> None:
    shot = _shot((_mover(0.2, 0.8, "run"),), camera=Camera((CameraKey(0.0),), shake=0.01))
    a = compute_motion(shot, plan(shot))
    b = compute_motion(shot, plan(shot))
    assert np.array_equal(a.subjects[0].sx, b.subjects[0].sx)
    assert np.array_equal(a.camera.pan_x, b.camera.pan_x)
