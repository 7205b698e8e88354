"""Compositing straight into the encoder's format: YUV 4:2:0, BT.601 limited range.

The encoder wants yuv420p. Drawing in RGB and converting every frame costs a full-frame
conversion on top of a full-frame resample; here the plate is converted once, its luma is
resampled at full size and its chroma at quarter size (half the work of RGB), and sprites are
blended into the three planes. The result is what swscale would make of the RGB composite,
to within rounding.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from shotcraft.draw.compositor import (
    AFFINE,
    BILINEAR,
    CameraState,
    Compositor,
    FrameState,
    SubjectState,
    frame_state,
)
from shotcraft.motion.track import MotionTrack

# BT.601, limited range: what swscale uses by default for RGB -> yuv420p
_Y = np.array([0.256788, 0.504129, 0.097906], dtype=np.float32)
_U = np.array([-0.148223, -0.290993, 0.439216], dtype=np.float32)
_V = np.array([0.439216, -0.367788, -0.071427], dtype=np.float32)


def rgb_to_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float Y at full size, U and V at half size (2x2 means of the RGB, then converted)."""
    f = rgb.astype(np.float32)
    y = 16.0 + f @ _Y
    h, w = f.shape[:2]
    h2, w2 = h - h % 2, w - w % 2
    q = _quarter(f[:h2, :w2])
    return y, 128.0 + q @ _U, 128.0 + q @ _V


def _quarter(a: np.ndarray) -> np.ndarray:
    """2x2 means (even height and width): slicing, far cheaper than reshape + mean."""
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) * 0.25


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


class YuvCompositor:
    """Draws the same frames as a Compositor, as I420 arrays of shape (h * 3 / 2, w)."""

    def __init__(self, comp: Compositor) -> None:
        self.comp = comp
        w, h = comp.size
        if w % 2 or h % 2:
            raise ValueError("YUV 4:2:0 needs an even frame size")
        y, u, v = rgb_to_planes(np.asarray(comp.plate))
        self.plate_y = Image.fromarray(_u8(y))
        self.plate_u = Image.fromarray(_u8(u))
        self.plate_v = Image.fromarray(_u8(v))

    def _plane(self, plate: Image.Image, cam: CameraState, scale: int) -> np.ndarray:
        """The camera's view of one plane (`scale` 2 for chroma: half size, half coordinates)."""
        w, h = self.comp.size[0] // scale, self.comp.size[1] // scale
        pw, ph = plate.size
        fw, fh = self.comp.size
        cx, cy = (
            (self.comp.plate.width / 2 + cam.pan_x * fw) / scale,
            (self.comp.plate.height / 2 + cam.pan_y * fh) / scale,
        )
        z = cam.zoom
        box = (cx - w / (2 * z), cy - h / (2 * z), cx + w / (2 * z), cy + h / (2 * z))
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= pw and box[3] <= ph
        if abs(cam.roll) < 1e-6 and inside:
            return np.array(plate.resize((w, h), BILINEAR, box=box))
        r = math.radians(cam.roll)
        cos, sin = math.cos(r) / z, math.sin(r) / z
        a, b, d, e = cos, -sin, sin, cos
        c = cx - a * w / 2 - b * h / 2
        f = cy - d * w / 2 - e * h / 2
        fill = 16 if plate is self.plate_y else 128  # black beyond the plate
        out = plate.transform((w, h), AFFINE, (a, b, c, d, e, f), BILINEAR, fillcolor=fill)
        return np.array(out)

    def frame_at(self, motion: MotionTrack, i: int) -> np.ndarray:
        return self.frame(frame_state(motion, i))

    def frame(self, state: FrameState) -> np.ndarray:
        comp = self.comp
        w, h = comp.size
        y = self._plane(self.plate_y, state.camera, 1)
        u = self._plane(self.plate_u, state.camera, 2)
        v = self._plane(self.plate_v, state.camera, 2)
        for s in state.subjects:
            if s.shadow:
                self._shadow(y, u, v, s)
            placed = comp.place_sprite(s)
            if placed is None:
                continue
            piece, (x0, y0) = placed
            rgba = np.asarray(piece, dtype=np.float32)
            alpha = rgba[..., 3:4] / 255.0 * min(max(s.opacity, 0.0), 1.0)
            self._blend(y, u, v, rgba[..., :3], alpha[..., 0], x0, y0)
        return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)

    def _blend(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        rgb: np.ndarray,
        alpha: np.ndarray,
        x0: int,
        y0: int,
    ) -> None:
        """Blend an RGB piece with its alpha at (x0, y0): luma per pixel, chroma per 2x2."""
        ph, pw = alpha.shape
        # pad to an even-aligned box so every chroma sample is covered whole
        ex, ey = x0 % 2, y0 % 2
        hh, ww = ph + ey, pw + ex
        hh += hh % 2
        ww += ww % 2
        prgb = np.zeros((hh, ww, 3), dtype=np.float32)
        pa = np.zeros((hh, ww), dtype=np.float32)
        prgb[ey : ey + ph, ex : ex + pw] = rgb
        pa[ey : ey + ph, ex : ex + pw] = alpha
        bx, by = x0 - ex, y0 - ey
        H, W = y.shape
        # clip to the frame (pieces from place_sprite are inside, padding may not be)
        hh, ww = min(hh, H - by), min(ww, W - bx)
        prgb, pa = prgb[:hh, :ww], pa[:hh, :ww]
        py = 16.0 + prgb @ _Y
        region = y[by : by + hh, bx : bx + ww].astype(np.float32)
        y[by : by + hh, bx : bx + ww] = _u8(region + (py - region) * pa)
        h2, w2 = hh // 2, ww // 2
        if h2 == 0 or w2 == 0:
            return
        pm = _quarter(prgb[: h2 * 2, : w2 * 2] * pa[: h2 * 2, : w2 * 2, None])
        am = _quarter(pa[: h2 * 2, : w2 * 2])
        for plane, coef in ((u, _U), (v, _V)):
            sl = np.s_[by // 2 : by // 2 + h2, bx // 2 : bx // 2 + w2]
            reg = plane[sl].astype(np.float32)
            # premultiplied: chroma of the covered part + what shows through
            plane[sl] = _u8((pm @ coef + 128.0 * am) + reg * (1.0 - am))

    def _shadow(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, s: SubjectState) -> None:
        placed = self.comp.place_shadow(s)
        if placed is None:
            return
        m, (x0, y0), strength = placed
        w, h = self.comp.size
        ax0, ay0 = max(0, -x0), max(0, -y0)  # clip to the frame
        ax1, ay1 = min(m.width, w - x0), min(m.height, h - y0)
        if ax1 <= ax0 or ay1 <= ay0:
            return
        a = np.asarray(m, dtype=np.float32)[ay0:ay1, ax0:ax1] / 255.0 * strength
        black = np.zeros((*a.shape, 3), dtype=np.float32)
        self._blend(y, u, v, black, a, x0 + ax0, y0 + ay0)
