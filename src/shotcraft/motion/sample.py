"""Motion sampled at one frame: the camera and every subject, interpolated between frames.

What the compositor draws, what harmonize carries corrections along, and what the storyboard
shows all read the track through `frame_state`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shotcraft.motion.track import MotionTrack


@dataclass(frozen=True, slots=True)
class CameraState:
    pan_x: float
    pan_y: float
    zoom: float
    roll: float


@dataclass(frozen=True, slots=True)
class SubjectState:
    id: str
    sx: float
    sy: float
    gx: float
    gy: float
    height: float
    rotation: float
    mirror: bool
    opacity: float
    lift: float  # gait lift relative to the subject's height (fades the shadow)
    shadow: bool


@dataclass(frozen=True, slots=True)
class FrameState:
    camera: CameraState
    subjects: tuple[SubjectState, ...]


def frame_state(motion: MotionTrack, i: float) -> FrameState:
    """The state at frame `i`, interpolated linearly between frames for fractional `i`."""
    n = motion.frames
    i0 = int(min(max(math.floor(i), 0), n - 1))
    i1 = min(i0 + 1, n - 1)
    f = float(min(max(i - i0, 0.0), 1.0)) if i1 != i0 else 0.0

    def at(a: np.ndarray) -> float:
        return float(a[i0] + (a[i1] - a[i0]) * f)

    cam = motion.camera
    camera = CameraState(at(cam.pan_x), at(cam.pan_y), at(cam.zoom), at(cam.roll))
    subjects = tuple(
        SubjectState(
            id=s.id,
            sx=at(s.sx),
            sy=at(s.sy),
            gx=at(s.ground_sx),
            gy=at(s.ground_sy),
            height=at(s.height),
            rotation=at(s.rotation),
            mirror=bool(s.mirror[i0] if f < 0.5 else s.mirror[i1]),
            opacity=at(s.opacity),
            lift=at(s.bob) / max(at(s.height), 1e-6),
            shadow=s.shadow,
        )
        for s in motion.subjects
    )
    return FrameState(camera, subjects)
