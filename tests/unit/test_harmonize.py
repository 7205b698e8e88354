"""Carrying a correction made on a key frame to the frames after it, along known motion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.draw.carry import carry, subject_motion
from shotcraft.draw.compositor import Compositor
from shotcraft.layout.planner import plan, plate_size
from shotcraft.motion.sample import SubjectState, frame_state
from shotcraft.motion.track import compute_motion
from shotcraft.spec.model import Background, Camera, CameraKey, Shot, Subject, SubjectKey
from shotcraft.stages.harmonize import key_frames


def _setup(camera: Camera) -> tuple[Compositor, object, tuple[int, int]]:
    subject = Subject(
        id="s",
        shape="box",
        height=0.4,
        place="middle",
        keys=(SubjectKey(0.0, at=(0.25, 0.7)), SubjectKey(1.0, at=(0.75, 0.7), ease="linear")),
    )
    shot = Shot(
        id="h",
        source=Path("h.toml"),
        duration=1.0,
        fps=12,
        size=(160, 96),
        seed=1,
        preset="preview",
        background=Background(style="solid", colors=((0, 0, 0),)),
        camera=camera,
        subjects=(subject,),
    )
    layout = plan(shot)
    motion = compute_motion(shot, layout)
    sprite = ProceduralBackend().sprite(subject, layout.subject("s"), 64)
    plate = ProceduralBackend().plate(shot.background, plate_size(shot))
    return Compositor(plate, shot.size, {"s": sprite}), motion, plate_size(shot)


def _mask(comp: Compositor, motion: object, i: int) -> np.ndarray:
    st = frame_state(motion, i).subjects[0]  # type: ignore[arg-type]
    placed = comp.place_sprite(st)
    assert placed is not None
    piece, (x0, y0) = placed
    m = np.zeros((96, 160), dtype=bool)
    a = np.asarray(piece.getchannel("A")) > 200
    m[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]] = a
    return m


def test_a_subjects_correction_travels_with_it() -> None:
    comp, motion, plate = _setup(Camera())
    corr = np.zeros((96, 160, 3), dtype=np.float32)
    at_0 = _mask(comp, motion, 0)
    corr[at_0] = 100.0  # the model brightened the subject on key frame 0
    moved = carry(comp, motion, plate, corr, 0, 8)
    at_8 = _mask(comp, motion, 8)
    assert moved[at_8].mean() > 90  # it follows the subject ...
    assert moved[at_0 & ~at_8].mean() < 10  # ... and does not stay where it was


def test_the_plates_correction_follows_the_camera() -> None:
    cam = Camera((CameraKey(0.0), CameraKey(1.0, pan=(0.1, 0.0), ease="linear")))
    comp, motion, plate = _setup(cam)
    corr = np.zeros((96, 160, 3), dtype=np.float32)
    corr[:, 100:110] = 50.0  # a vertical band of the plate, far from the subject at frame 11
    moved = carry(comp, motion, plate, corr, 0, 11)
    shift = 0.1 * 160 * 11 / 12  # the camera panned right: the plate moved left on screen
    cols = np.nonzero(moved[5, :, 0] > 25)[0]
    assert abs(cols.mean() - (104.5 - shift)) < 1.5


def _shot_motion(camera: Camera, subject: Subject, seconds: float = 4.0) -> object:
    shot = Shot(
        id="k",
        source=Path("k.toml"),
        duration=seconds,
        fps=24,
        size=(160, 96),
        seed=1,
        preset="final",
        background=Background(),
        camera=camera,
        subjects=(subject,),
    )
    return compute_motion(shot, plan(shot))


WALKER = Subject(
    id="s",
    place="left, ground",
    motion="walk",
    keys=(SubjectKey(0.0), SubjectKey(4.0, at=(0.8, 0.9), ease="linear")),
)


def test_auto_keys_come_once_a_second_on_a_slow_pan() -> None:
    motion = _shot_motion(Camera((CameraKey(0.0), CameraKey(4.0, pan=(0.1, 0.0)))), WALKER)
    assert key_frames(motion, None) == [0, 24, 48, 72]  # type: ignore[arg-type]
    assert key_frames(motion, 4) == list(range(0, 96, 4))  # type: ignore[arg-type]


def test_auto_keys_come_sooner_when_the_scene_changes_more_than_carrying_follows() -> None:
    # a fast zoom (3x in 4 s, even in log space): 15% more every ln 1.15 / ln 3 * 96 = 12.2
    # frames, so a key every 13 frames instead of every 24
    zoom = Camera((CameraKey(0.0), CameraKey(4.0, zoom=3.0, ease="linear")))
    still = Subject(id="s", place="center, ground", height=0.2)  # stays in view
    keys = key_frames(_shot_motion(zoom, still), None)  # type: ignore[arg-type]
    assert keys == list(range(0, 96, 13))
    # a subject fading out: a key before it has faded a quarter, and so on
    fading = Subject(
        id="s",
        place="left, ground",
        keys=(SubjectKey(0.0, opacity=1.0), SubjectKey(1.0, opacity=0.0, ease="linear")),
    )
    keys = key_frames(_shot_motion(Camera(), fading, 1.0), None)  # type: ignore[arg-type]
    assert keys[:4] == [0, 7, 14, 21]


def _point(s: SubjectState, q: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """Where a point of the subject (relative to its feet, in units of its height, as the
    sprite faces right) lands in the frame: the compositor's own mapping."""
    w, h = size
    qx = -q[0] if s.mirror else q[0]
    r = math.radians(s.rotation)
    dx, dy = qx * s.height * h, q[1] * s.height * h
    return np.array(
        [
            s.sx * w + dx * math.cos(r) - dy * math.sin(r),
            s.sy * h + dx * math.sin(r) + dy * math.cos(r),
            1.0,
        ]
    )


def test_a_subjects_correction_follows_it_as_it_turns_grows_and_faces_about() -> None:
    size = (160, 96)

    def state(sx: float, height: float, rotation: float, mirror: bool) -> SubjectState:
        return SubjectState("s", sx, 0.8, sx, 0.8, height, rotation, mirror, 1.0, 0.0, True)

    a = state(0.3, 0.4, -10.0, False)
    t = state(0.6, 0.5, 25.0, True)
    m = subject_motion(a, t, size)
    for q in [(0.0, 0.0), (0.2, -0.5), (-0.1, -0.9), (0.25, -0.3)]:
        assert np.allclose(m @ _point(t, q, size), _point(a, q, size), atol=1e-6)


def test_any_range_of_a_harmonized_shot_is_made_from_its_own_key_frames() -> None:
    """A segment worker carries corrections from the key frames `keys_for` names, painted
    elsewhere: its frames are the whole shot's frames there, to the bit."""
    from shotcraft.stages.harmonize import Harmonizer, keys_for

    cam = Camera((CameraKey(0.0), CameraKey(1.0, pan=(0.1, 0.0), zoom=1.1, ease="linear")))
    comp, motion, plate = _setup(cam)

    def painted(k: int, composite: np.ndarray) -> np.ndarray:  # a stand-in model, per key
        return np.clip(composite * 0.8 + 20 + k, 0, 255).astype(np.uint8)

    h = Harmonizer(None, None, comp, motion, plate, 5, "p", 1)
    whole = list(h.frames(painted=painted))
    assert h.keys() == [0, 5, 10] and len(whole) == 12
    for start, end in [(0, 4), (4, 8), (8, 12), (5, 6), (3, 11)]:
        asked: list[int] = []
        needed = keys_for(h.keys(), start, end)

        def only(
            k: int, composite: np.ndarray, needed: list[int] = needed, asked: list[int] = asked
        ) -> np.ndarray:
            assert k in needed, (k, needed)
            asked.append(k)
            return painted(k, composite)

        part = list(h.frames(start, end, only))
        assert all(np.array_equal(a, b) for a, b in zip(part, whole[start:end], strict=True))
        assert sorted(asked) == needed
    assert keys_for([0, 5, 10], 0, 5) == [0, 5] and keys_for([0, 5, 10], 0, 6) == [0, 5]
    assert keys_for([0, 5, 10], 0, 7) == [0, 5, 10]
    assert keys_for([0, 5, 10], 10, 12) == [10] and keys_for([0, 5, 10], 5, 6) == [5]
