"""The render loop: draw a shot's frames and encode them. Calibration times this very code, so
the rates it measures are the rates of what a render runs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.draw.compositor import Compositor, frames_in_order
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.motion.track import MotionTrack
from shotcraft.progress import Advance


def drawer(
    comp: Compositor, motion: MotionTrack, samples: int = 1, shutter: float = 0.5, rgb: bool = False
) -> Callable[[int], Any]:
    """How to draw frame i: straight into the encoder's YUV 4:2:0 when nothing downstream
    needs RGB and there is no motion blur to average; RGB otherwise."""
    if samples == 1 and not rgb:
        return partial(YuvCompositor(comp).frame_at, motion)
    return partial(comp.frame_array, motion, samples=samples, shutter=shutter)


def drawn_frames(
    comp: Compositor,
    motion: MotionTrack,
    count: int | None = None,
    samples: int = 1,
    shutter: float = 0.5,
    rgb: bool = False,
) -> Iterator[np.ndarray]:
    """The first `count` frames (all by default), drawn on two threads, in order."""
    draw = drawer(comp, motion, samples, shutter, rgb)
    n = motion.frames if count is None else count
    return frames_in_order(draw, n, workers=min(2, os.cpu_count() or 1))


def encode(
    frames: Iterable[np.ndarray],
    path: Path,
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    advance: Advance | None = None,
    each: Callable[[np.ndarray], None] | None = None,
) -> int:
    """Encode frames (RGB arrays or I420 planes) into `path`, published atomically; `each`
    sees every frame after it is queued (coherence figures). Returns the frame count."""
    with VideoWriter(path, size, fps, settings) as writer:
        for frame in frames:
            writer.write(frame)
            if each is not None:
                each(frame)
            if advance is not None:
                advance(1)
        return writer.frames
