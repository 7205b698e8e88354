"""Compositing straight into the encoder's format: YUV 4:2:0, BT.601 limited range.

The encoder wants yuv420p. Drawing in RGB and converting every frame costs a full-frame
conversion on top of a full-frame resample; here each plate layer is converted once (luma at
full size, chroma at quarter size, layers with alpha premultiplied), resampled through the
camera with its own parallax and laid over the ones behind it, and sprites are blended into
the three planes. The result is what swscale would make of the RGB composite, to within
rounding. The per-pixel work is in `shotcraft.draw.kernels` (native when built).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from shotcraft.draw import kernels
from shotcraft.draw.compositor import Affine, Compositor, layer_affine
from shotcraft.draw.plate import PlateLayer
from shotcraft.motion.sample import CameraState, FrameState, SubjectState, frame_state
from shotcraft.motion.track import MotionTrack


class _Layer:
    """One plate layer as I420 planes: (Y, U, V) opaque, or premultiplied with alpha."""

    def __init__(self, rgba: np.ndarray, parallax: float) -> None:
        self.parallax = parallax
        h, w = rgba.shape[:2]
        self.size = (w, h)
        planes = kernels.to_i420(rgba[: h - h % 2, : w - w % 2])
        self.planes = planes[:3]
        self.alphas: tuple[np.ndarray, ...] | None = None
        self.top, self.full = 0, 0
        if len(planes) == 3:
            return
        self.alphas = planes[3:]
        # rows above `top` are transparent and rows from `full` down opaque: layers behind
        # this one need not be drawn there
        a8 = self.alphas[0]
        seen = np.flatnonzero(a8.any(axis=1))
        self.top = int(seen[0]) if len(seen) else h
        partial = np.flatnonzero((a8 < 255).any(axis=1))
        self.full = int(partial[-1]) + 1 if len(partial) else 0


class YuvCompositor:
    """Draws the same frames as a Compositor, as I420 arrays of shape (h * 3 / 2, w)."""

    def __init__(self, comp: Compositor) -> None:
        self.comp = comp
        w, h = comp.size
        if w % 2 or h % 2:
            raise ValueError("YUV 4:2:0 needs an even frame size")
        self._arrays: dict[int, np.ndarray] = {}
        layers = comp.layers.layers

        def convert(layer: PlateLayer) -> _Layer:
            return _Layer(np.asarray(layer.image), layer.parallax)

        # two threads for big layers (the native conversion frees the GIL); a preview's
        # convert in less time than the threads take to start
        big = layers[0].image.width * layers[0].image.height >= 1 << 19
        if len(layers) > 1 and kernels.NATIVE and big:
            with ThreadPoolExecutor(2, thread_name_prefix="shotcraft-yuv") as pool:
                self.layers = list(pool.map(convert, layers))
        else:
            self.layers = [convert(layer) for layer in layers]

    def frame_at(self, motion: MotionTrack, i: int) -> np.ndarray:
        return self.frame(frame_state(motion, i))

    def frame(self, state: FrameState) -> np.ndarray:
        w, h = self.comp.size
        out = np.empty((h * 3 // 2, w), dtype=np.uint8)
        self._background(state.camera, kernels.i420_planes(out))
        for s in state.subjects:
            if s.shadow:
                self._shadow(out, s)
            placed = self.comp.sprite_map(s)
            if placed is not None:
                image, m, box = placed
                kernels.sprite(out, self._array(image), m, box, s.opacity)
        return out

    def _background(self, cam: CameraState, planes: tuple[np.ndarray, ...]) -> None:
        size = self.comp.size
        for p, dst in enumerate(planes):
            scale = 1 if p == 0 else 2
            maps = [layer_affine(cam, size, ly.size, ly.parallax, scale) for ly in self.layers]
            rows = self._rows(maps, scale, dst.shape[0])
            for layer, m, span in zip(self.layers, maps, rows, strict=True):
                if layer.alphas is None:
                    fill = 16 if p == 0 else 128  # black beyond the plate
                    kernels.sample(dst, layer.planes[p], m, fill, span)
                else:
                    alpha = layer.alphas[0 if p == 0 else 1]
                    kernels.over(dst, layer.planes[p], alpha, m, span)

    def _rows(self, maps: Sequence[Affine], scale: int, height: int) -> list[tuple[int, int]]:
        """The output rows each layer can show: from the first row that reaches its top
        down to where a nearer layer covers whole rows. Two rows of margin for the filter."""
        width = self.comp.size[0] / scale
        spans = []
        covered = height  # rows from here down are hidden behind nearer layers
        for layer, m in zip(reversed(self.layers), reversed(maps), strict=True):
            a, b, c, d, e, f = m
            if e <= 0:  # rolled past 90 degrees: no shortcuts
                return [(0, height)] * len(maps)
            # source y along output row v spans e (v + .5) + f + d * [.5, width - .5] - .5
            lo, hi = min(d * 0.5, d * (width - 0.5)), max(d * 0.5, d * (width - 0.5))
            start = 0
            if layer.alphas is not None:
                start = max(0, math.floor((layer.top / scale - f - hi) / e) - 2)
            spans.append((start, covered))
            if layer.alphas is None or layer.full >= layer.size[1]:
                continue
            # the frame's corners in the layer: all within its width?
            corners = (c, b * height + c, a * width + c, a * width + b * height + c)
            if min(corners) >= 0 and max(corners) <= layer.size[0] / scale:
                row = math.ceil((layer.full / scale + 1 - f - lo) / e) + 2
                covered = min(covered, max(0, row))
        return spans[::-1]

    def _array(self, image: Image.Image) -> np.ndarray:
        """A sprite level's pixels, padded once (drawing threads may race: same result)."""
        got = self._arrays.get(id(image))
        if got is None:
            got = self._arrays[id(image)] = kernels.pad_sprite(np.asarray(image))
        return got

    def _shadow(self, frame: np.ndarray, s: SubjectState) -> None:
        placed = self.comp.place_shadow(s)
        if placed is None:
            return
        m, (x0, y0), strength = placed
        w, h = self.comp.size
        ax0, ay0 = max(0, -x0), max(0, -y0)  # clip to the frame
        ax1, ay1 = min(m.width, w - x0), min(m.height, h - y0)
        if ax1 <= ax0 or ay1 <= ay0:
            return
        piece = np.zeros((ay1 - ay0, ax1 - ax0, 4), dtype=np.uint8)
        piece[..., 3] = np.asarray(m)[ay0:ay1, ax0:ax1]
        kernels.blend(frame, piece, x0 + ax0, y0 + ay0, strength)
