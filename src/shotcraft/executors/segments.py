"""A shot's frames cut into segments on GOP boundaries, and segments joined into one clip.

Every render encodes its clip as segments, one encoder each, and splices them losslessly: a
render by one process and a render spread over many workers run the same encoders over the
same frames, so they decode to the same pixels. x264 looks ahead across GOP boundaries, so the
cut points must belong to the shot (a fixed number of GOPs), never to the number of workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from shotcraft.errors import RenderFailed
from shotcraft.fsutil import publish, temp_beside

# One segment a GOP. Every GOP is closed and starts on an IDR frame, so a cut there costs the
# stream nothing; an encoder's start is about 10 ms. Short segments are what spread: a 10 s shot
# is ten pieces for the cores of one process, for --jobs workers or for a Ray cluster.
SEGMENT_GOPS = 1
# x264's frame threads change its decisions (a thread can only search the rows of a reference
# frame that another thread has finished): at 720p, 8 threads decode to other pixels than 1 to
# 4 do. So every segment encoder runs one thread, whatever the machine or the worker: the same
# bytes on a 2-core laptop and a 64-core node. The cores go to segments side by side
# (stages/frames.draw_segments, --jobs, Ray), which costs less CPU than frame threads do.
ENCODER_THREADS = 1


@dataclass(frozen=True, slots=True)
class Segment:
    """Frames [start, end) of a shot, encoded on their own."""

    index: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def name(self) -> str:
        return f"segment-{self.index:04d}.mp4"


def plan_segments(frames: int, gop: int, segment_gops: int = SEGMENT_GOPS) -> tuple[Segment, ...]:
    """The segments of a shot of `frames` frames: `segment_gops` GOPs each, the last shorter."""
    if gop < 1 or segment_gops < 1:
        raise ValueError(f"gop ({gop}) and segment_gops ({segment_gops}) must be at least 1")
    length = gop * segment_gops
    return tuple(
        Segment(i, start, min(start + length, frames))
        for i, start in enumerate(range(0, max(frames, 1), length))
    )


def splice(parts: Sequence[Path], out: Path, fps: int) -> int:
    """Join segment files (H.264 in mp4, closed GOPs, no B-frames, equal codec headers) into
    `out`, published atomically, without decoding. Returns the frame count."""
    if not parts:
        raise RenderFailed(f"{out}: no segments to join")
    with Splicer(out, fps) as joined:
        for part in parts:
            joined.add(part)
        return joined.finish()


class Splicer:
    """`splice`, a segment at a time: a render joins each segment as soon as it and those
    before it are encoded, while later ones are still drawn. `finish` publishes `out`;
    leaving the block without it (an error, Ctrl-C) removes the partial file."""

    def __init__(self, out: Path, fps: int) -> None:
        self.out, self.fps = out, fps
        self.written = 0
        self._tmp = temp_beside(out, ".part" + (out.suffix or ".mp4"))
        self._container: Any = None
        self._stream: Any = None
        self._reference = b""
        self._first: Path | None = None

    def add(self, part: Path) -> None:
        import av  # only where a clip is joined: planning segments must stay light

        with av.open(str(part)) as src:
            s = src.streams.video[0]
            extradata = bytes(s.codec_context.extradata or b"")
            if self._container is None:
                self._first, self._reference = part, extradata
                self._container = av.open(str(self._tmp), "w", format="mp4")
                self._stream = self._container.add_stream_from_template(s)
                # the timescale an encoded clip gets from the mp4 muxer: fps * 512 ticks a second
                self._stream.time_base = Fraction(1, self.fps * 512)
            elif extradata != self._reference:
                raise RenderFailed(f"{part}: encoded with other settings than {self._first}")
            ostream, fps = self._stream, self.fps
            for packet in src.demux(s):
                if packet.size == 0:
                    continue
                # the muxer may settle its time base when it writes the header (the first
                # packet), so each packet is timed in the one it has now
                packet.stream = ostream
                packet.pts = packet.dts = round(self.written / fps / ostream.time_base)
                packet.duration = round(1 / fps / ostream.time_base)
                packet.time_base = ostream.time_base
                self._container.mux(packet)
                self.written += 1

    def finish(self) -> int:
        """Publish the joined clip; its frame count."""
        if self._container is None:
            raise RenderFailed(f"{self.out}: no segments to join")
        container, self._container = self._container, None
        container.close()
        publish(self._tmp, self.out)
        return self.written

    def __enter__(self) -> Splicer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
