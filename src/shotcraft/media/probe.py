"""Reading videos back: what a file holds (frames, size, rate, keyframes), frames as arrays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class VideoInfo:
    frames: int
    size: tuple[int, int]
    fps: Fraction
    codec: str
    pix_fmt: str
    keyframes: tuple[int, ...]  # frame indexes in decode order
    b_frames: bool  # decode order differs from display order
    extradata: bytes  # codec headers (SPS/PPS for H.264): equal ones can be spliced
    has_audio: bool

    @property
    def duration(self) -> float:
        return self.frames / float(self.fps) if self.fps else 0.0


def probe(path: Path) -> VideoInfo:
    """Demuxes the video packets (exact counts, no decoding)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        keys, n, b_frames, last_dts = [], 0, False, None
        for p in c.demux(s):
            if p.size == 0:
                continue
            if p.is_keyframe:
                keys.append(n)
            if p.pts != p.dts or (last_dts is not None and p.dts is not None and p.dts < last_dts):
                b_frames = True
            last_dts = p.dts
            n += 1
        cc = s.codec_context
        return VideoInfo(
            frames=n,
            size=(cc.width, cc.height),
            fps=Fraction(s.average_rate or s.base_rate or 24),
            codec=cc.name,
            pix_fmt=str(cc.pix_fmt),
            keyframes=tuple(keys),
            b_frames=b_frames,
            extradata=bytes(cc.extradata or b""),
            has_audio=bool(c.streams.audio),
        )


def frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame as an RGB array, in order."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            yield frame.to_ndarray(format="rgb24")
