"""Reading videos back: frame counts, sizes, frames as arrays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True, slots=True)
class VideoInfo:
    frames: int
    size: tuple[int, int]
    fps: Fraction
    duration: float
    codec: str
    has_audio: bool


def probe(path: Path) -> VideoInfo:
    """Counts frames by demuxing packets (exact, no decoding)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = Fraction(v.average_rate or v.base_rate or 24)
        count = sum(1 for p in c.demux(v) if p.size > 0)
        has_audio = bool(c.streams.audio)
        return VideoInfo(
            frames=count,
            size=(v.codec_context.width, v.codec_context.height),
            fps=fps,
            duration=count / float(fps) if fps else 0.0,
            codec=v.codec_context.name,
            has_audio=has_audio,
        )


def frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame as an RGB array, in order."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            yield frame.to_ndarray(format="rgb24")
