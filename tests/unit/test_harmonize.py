"""Carrying a correction made on a key frame to the frames after it, along known motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.draw.compositor import Compositor, frame_state
from shotcraft.layout.planner import plan, plate_size
from shotcraft.motion.track import compute_motion
from shotcraft.spec.model import Background, Camera, CameraKey, Shot, Subject, SubjectKey
from shotcraft.stages.harmonize import carry


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
