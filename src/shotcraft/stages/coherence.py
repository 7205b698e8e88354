"""Temporal coherence figures of a rendered clip: warping error and flicker (render.json)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from shotcraft.draw.carry import motion_between, warp
from shotcraft.motion.track import MotionTrack


class Coherence:
    """Temporal figures on small copies of the output frames, over every STRIDE-th pair of
    consecutive frames (a sample keeps the render loop cheap; the figures are means).

    warping_error: mean absolute difference (0..255) between a frame and the one before it
    moved along the known camera motion. temporal_flicker: VBench-style score, 1 minus the
    mean absolute difference between consecutive frames over 255 (1 = perfectly steady).
    """

    SCALE = 8
    STRIDE = 4

    def __init__(
        self, motion: MotionTrack, size: tuple[int, int], plate: tuple[int, int], start: int = 0
    ):
        """`start`: the shot's frame the first `add` is (a segment's figures; see `merged`)."""
        self.motion, self.size, self.plate = motion, size, plate
        self.small = (max(1, size[0] // self.SCALE), max(1, size[1] // self.SCALE))
        self.prev: np.ndarray | None = None
        self.i = start
        self.pairs = 0
        self.warp_sum = 0.0
        self.diff_sum = 0.0

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 2:  # I420 planes: the luma is enough for these figures
            frame = frame[: self.size[1]]
        img = Image.fromarray(frame)
        if img.width % self.SCALE == 0 and img.height % self.SCALE == 0:
            img = img.reduce(self.SCALE)  # box filter in C: far cheaper than resize
        else:
            img = img.resize(self.small, Image.Resampling.BOX)
        small = np.asarray(img, dtype=np.float32)
        return small[..., None] if small.ndim == 2 else small

    def add(self, frame: np.ndarray) -> None:
        i, self.i = self.i, self.i + 1
        phase = i % self.STRIDE
        if phase == self.STRIDE - 1:
            self.prev = self._shrink(frame)
        elif phase == 0 and self.prev is not None and i > 0:
            cur = self._shrink(frame)
            k = self.SCALE
            m = motion_between(self.motion, i - 1, i, self.size, self.plate)
            scale = np.diag([k, k, 1.0])
            moved = warp(self.prev, np.linalg.inv(scale) @ m @ scale)
            self.warp_sum += float(np.abs(cur - moved)[2:-2, 2:-2].mean())
            self.diff_sum += float(np.abs(cur - self.prev).mean())
            self.pairs += 1
            self.prev = None

    def sums(self) -> tuple[float, float, int]:
        return (self.warp_sum, self.diff_sum, self.pairs)

    def report(self) -> dict[str, float]:
        return self.merged([self.sums()])

    @staticmethod
    def merged(parts: list[tuple[float, float, int]]) -> dict[str, float]:
        """The figures of a shot made in segments, from each segment's sums. A pair that
        straddles two segments is not sampled (each segment starts on its own)."""
        warp_sum, diff_sum = sum(p[0] for p in parts), sum(p[1] for p in parts)
        n = sum(p[2] for p in parts)
        pairs = max(1, n)
        return {
            "warping_error": round(warp_sum / pairs, 4),
            "temporal_flicker": round(1.0 - diff_sum / pairs / 255.0, 6),
            "pairs_sampled": n,
        }
