"""Temporal coherence figures of a rendered clip: warping error and flicker (render.json)."""

from __future__ import annotations

import threading

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
        self.i = start
        self._lock = threading.Lock()
        self._before: dict[int, np.ndarray] = {}  # frame i - 1 shrunk, waiting for frame i
        self._after: dict[int, np.ndarray] = {}  # frame i shrunk, waiting for frame i - 1
        self._pairs: dict[int, tuple[float, float]] = {}  # i -> (warp error, difference)

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
        """The next frame, in order."""
        i, self.i = self.i, self.i + 1
        self.add_at(i, frame)

    def add_at(self, i: int, frame: np.ndarray) -> None:
        """Frame i, from any thread, in any order: the figures are the same."""
        phase = i % self.STRIDE
        if phase not in (0, self.STRIDE - 1) or (phase == 0 and i == 0):
            return
        small = self._shrink(frame)
        key = i + 1 if phase else i  # the pair (key - 1, key)
        with self._lock:
            waiting = self._after if phase else self._before
            other = waiting.pop(key, None)
            if other is None:
                (self._before if phase else self._after)[key] = small
                return
        prev, cur = (small, other) if phase else (other, small)
        k = self.SCALE
        m = motion_between(self.motion, key - 1, key, self.size, self.plate)
        scale = np.diag([k, k, 1.0])
        moved = warp(prev, np.linalg.inv(scale) @ m @ scale)
        figures = (float(np.abs(cur - moved)[2:-2, 2:-2].mean()), float(np.abs(cur - prev).mean()))
        with self._lock:
            self._pairs[key] = figures

    def sums(self) -> tuple[float, float, int]:
        pairs = [self._pairs[k] for k in sorted(self._pairs)]  # summed in frame order
        return (sum(p[0] for p in pairs), sum(p[1] for p in pairs), len(pairs))

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
