"""The render loop: draw a shot's frames and encode them. Calibration times this very code, so
the rates it measures are the rates of what a render runs."""

from __future__ import annotations

import io
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.draw.compositor import Compositor, frames_in_order
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.errors import RenderFailed
from shotcraft.executors.segments import ENCODER_THREADS, Segment, splice
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
    start: int = 0,
    threads: int = 2,
) -> Iterator[np.ndarray]:
    """`count` frames from frame `start` (to the end by default), drawn on up to `threads`
    threads, in order."""
    draw = drawer(comp, motion, samples, shutter, rgb)
    n = motion.frames - start if count is None else count
    workers = max(1, min(threads, os.cpu_count() or 1))
    if start:
        return frames_in_order(lambda i: draw(start + i), n, workers=workers)
    return frames_in_order(draw, n, workers=workers)


def encode(
    frames: Iterable[np.ndarray],
    path: Path,
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    advance: Advance | None = None,
    each: Callable[[np.ndarray], None] | None = None,
    threads: int = 0,
) -> int:
    """Encode frames (RGB arrays or I420 planes) into `path`, published atomically; `each`
    sees every frame after it is queued (coherence figures). `threads`: the encoder's (0: as
    many as it likes). Returns the frame count."""
    with VideoWriter(path, size, fps, settings, threads=threads) as writer:
        for frame in frames:
            writer.write(frame)
            if each is not None:
                each(frame)
            if advance is not None:
                advance(1)
        return writer.frames


def encode_segment_bytes(
    frames: Iterable[np.ndarray],
    segment: Segment,
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    advance: Advance | None = None,
) -> tuple[bytes, float]:
    """One segment's frames encoded in memory, as a worker does: nothing on disk, so a
    worker killed or interrupted mid-segment leaves no file behind. (bytes, seconds)."""
    t0 = time.perf_counter()
    buffer = io.BytesIO()
    with VideoWriter(
        Path(segment.name), size, fps, settings, threads=ENCODER_THREADS, buffer=buffer
    ) as writer:
        for frame in frames:
            writer.write(frame)
            if advance is not None:
                advance(1)
        n = writer.frames
    if n != segment.frames:
        raise RenderFailed(
            f"{segment.name}: {n} frames drawn for frames {segment.start}..{segment.end - 1}"
        )
    return buffer.getvalue(), time.perf_counter() - t0


def encode_segments(
    frames: Iterable[np.ndarray],
    path: Path,
    segments: Sequence[Segment],
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    advance: Advance | None = None,
    each: Callable[[np.ndarray], None] | None = None,
) -> list[float]:
    """A whole shot's frames cut into `segments`, encoded one after another and spliced into
    `path` (published atomically): the very bytes workers would make segment by segment.
    Returns each segment's seconds.

    An encoder's last frames (its lookahead, its frame threads draining) are finished on a
    thread of their own while the next segment's encoder starts, so the cores stay busy."""
    it = iter(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds: list[float] = []
    closing: _Closing | None = None
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}-segments-") as tmp:
        parts = []
        try:
            for seg in segments:
                part = Path(tmp) / seg.name
                t0 = time.perf_counter()
                writer = VideoWriter(part, size, fps, settings, threads=ENCODER_THREADS)
                try:
                    for frame in itertools.islice(it, seg.frames):
                        writer.write(frame)
                        if each is not None:
                            each(frame)
                        if advance is not None:
                            advance(1)
                    if writer.frames != seg.frames:
                        raise RenderFailed(
                            f"{path}: {writer.frames} frames drawn for frames "
                            f"{seg.start}..{seg.end - 1}"
                        )
                    if closing is not None:
                        seconds.append(closing.wait())
                        closing = None
                except BaseException:  # a Ctrl-C included: this writer is no one else's
                    writer.abort()
                    raise
                # handed over before its thread starts: a Ctrl-C while it starts still
                # finds it in `closing`, and the scratch folder is removed only after it
                closing = _Closing(writer, t0)
                closing.start()
                parts.append(part)
            if closing is not None:
                seconds.append(closing.wait())
                closing = None
        finally:
            if closing is not None:
                closing.wait(raise_error=False)
        splice(parts, path, fps)
    return seconds


class _Closing:
    """A finished segment's writer flushed and published on a thread of its own."""

    def __init__(self, writer: VideoWriter, started: float) -> None:
        self.started = started
        self.error: BaseException | None = None
        self.done = 0.0
        self._writer = writer
        self._thread = threading.Thread(target=self._run, name="shotcraft-segment-close")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._writer.__exit__(None, None, None)
        except BaseException as e:  # handed to the thread that waits
            self.error = e
        self.done = time.perf_counter()

    def wait(self, raise_error: bool = True) -> float:
        if self._thread.ident is None:  # interrupted before its thread began: undo it here
            self._writer.abort()
            if raise_error:
                raise RenderFailed(f"{self._writer.path.name}: never finished")
            return 0.0
        self._thread.join()
        if self.error is not None and raise_error:
            raise self.error
        return self.done - self.started
