"""Carrying a correction along known motion: where every pixel of a frame was at another frame.

The camera model is the compositor's own (`layer_affine`), so carried corrections land where
the compositor drew the layer; subjects follow their feet, size, turn and facing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from shotcraft.draw.compositor import Compositor, layer_affine
from shotcraft.motion.sample import CameraState, frame_state
from shotcraft.motion.track import MotionTrack


def screen_to_plate(cam: CameraState, size: tuple[int, int], plate: tuple[int, int]) -> np.ndarray:
    """3x3 matrix: frame pixel -> plate pixel for this camera (the compositor's mapping)."""
    a, b, c, d, e, f = layer_affine(cam, size, plate)
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def warp(image: np.ndarray, out_to_in: np.ndarray) -> np.ndarray:
    """Resample a float HxWxC array so output pixel p shows input pixel out_to_in @ p."""
    return _warp_into(image, out_to_in, (image.shape[1], image.shape[0]))


def motion_between(
    motion: MotionTrack, a: int, b: int, size: tuple[int, int], plate: tuple[int, int]
) -> np.ndarray:
    """Frame-b pixel -> frame-a pixel, following the plate (the camera)."""
    ma = screen_to_plate(frame_state(motion, a).camera, size, plate)
    mb = screen_to_plate(frame_state(motion, b).camera, size, plate)
    return np.linalg.inv(ma) @ mb


def plate_part(comp: Compositor, motion: MotionTrack, corr: np.ndarray, a: int) -> np.ndarray:
    """The plate's own correction at key frame `a`: where subjects covered the plate it is
    unknown, so it is filled from the plate around them (a normalized blur)."""
    w, h = comp.size
    visible = np.ones((h, w, 1), dtype=np.float32)
    for sa in frame_state(motion, a).subjects:
        placed = comp.place_sprite(sa)
        if placed is not None:
            piece, (x0, y0) = placed
            alpha = np.asarray(piece.getchannel("A"), dtype=np.float32)[..., None] / 255.0
            visible[y0 : y0 + piece.height, x0 : x0 + piece.width] *= 1.0 - alpha
    if not (visible < 1.0).any():
        return corr
    fill = _smooth(corr * visible) / np.maximum(_smooth(visible), 1e-3)
    return corr * visible + fill * (1.0 - visible)


def carry(
    comp: Compositor,
    motion: MotionTrack,
    plate: tuple[int, int],
    corr: np.ndarray,
    a: int,
    t: int,
    plate_corr: np.ndarray | None = None,
) -> np.ndarray:
    """A correction made at frame `a`, moved to frame `t` along each layer's known motion:
    the plate's (the camera), then each subject's own (position, size, turn, facing) inside its
    silhouette at `t`, drawn far to near like the composite. `plate_corr` is
    plate_part(corr, a), passed in when one key's correction is carried to many frames."""
    size = comp.size
    at_a, at_t = frame_state(motion, a), frame_state(motion, t)
    if plate_corr is None:
        plate_corr = plate_part(comp, motion, corr, a)
    out = warp(plate_corr, motion_between(motion, a, t, size, plate))
    for sa, st in zip(at_a.subjects, at_t.subjects, strict=True):
        placed = comp.place_sprite(st)
        if placed is None or sa.height <= 0 or st.height <= 0:
            continue
        piece, (x0, y0) = placed
        ph, pw = piece.height, piece.width
        alpha = np.asarray(piece.getchannel("A"), dtype=np.float32)[..., None] / 255.0
        if not alpha.any():
            continue
        m = subject_motion(sa, st, size, (x0, y0))
        moved = _warp_into(corr, m, (pw, ph))
        region = out[y0 : y0 + ph, x0 : x0 + pw]
        out[y0 : y0 + ph, x0 : x0 + pw] = moved * alpha + region * (1.0 - alpha)
    return out


def _affine(a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def _turn(degrees: float) -> np.ndarray:
    r = math.radians(degrees)
    return _affine(math.cos(r), -math.sin(r), 0.0, math.sin(r), math.cos(r), 0.0)


def subject_motion(
    sa: Any, st: Any, size: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """3x3 matrix: a pixel of the subject at frame t (relative to `origin`) -> the same point
    of the subject at frame a. Follows its feet, size, rotation about the feet, and facing."""
    w, h = size
    k = sa.height / st.height
    flip = _affine(-1.0 if sa.mirror != st.mirror else 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    to_t = _affine(1.0, 0.0, origin[0] - st.sx * w, 0.0, 1.0, origin[1] - st.sy * h)
    to_a = _affine(1.0, 0.0, sa.sx * w, 0.0, 1.0, sa.sy * h)
    scale = _affine(k, 0.0, 0.0, 0.0, k, 0.0)
    return to_a @ _turn(sa.rotation) @ scale @ flip @ _turn(-st.rotation) @ to_t


def _smooth(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """A cheap wide blur: down by `factor` with a box filter, back up bilinearly."""
    h, w = image.shape[:2]
    small = (max(1, w // factor), max(1, h // factor))
    chans = []
    for c in range(image.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(image[..., c]), "F")
        im = im.resize(small, Image.Resampling.BOX).resize((w, h), Image.Resampling.BILINEAR)
        chans.append(np.asarray(im))
    return np.stack(chans, axis=-1)


def _warp_into(image: np.ndarray, out_to_in: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Like warp, into an output of another size (a region)."""
    coeffs = tuple(out_to_in[:2].ravel())
    chans = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c]), "F").transform(
                size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(chans, axis=-1)
