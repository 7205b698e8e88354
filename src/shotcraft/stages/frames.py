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
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.draw.compositor import Compositor, frames_in_order
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.errors import RenderFailed
from shotcraft.executors.segments import ENCODER_THREADS, Segment, Splicer, splice
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
    threaded: bool = True,
) -> int:
    """Encode frames (RGB arrays or I420 planes) into `path`, published atomically; `each`
    sees every frame after it is queued (coherence figures). `threads`: the encoder's (0: as
    many as it likes); `threaded`: fed from a thread of its own (else on this one). Returns
    the frame count."""
    with VideoWriter(path, size, fps, settings, threads=threads, threaded=threaded) as writer:
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


# The render loop's shape (calibrated rates belong to it): 2, segments side by side; 3, the
# encoder's I-frames a step better (ipratio 2), which makes the segments' P-frames cheaper;
# 4, segments joined as they finish, layers converted on two threads; 5, the kernels' SIMD
# paths (a pan's rows, sprites, blends: compositing a 720p frame in 55 % of the time).
LOOP_VERSION = 5
# Segments encoded at once by one process: one x264 thread each. (Each encoder holds its
# lookahead and reference frames, about 60 MB at 1080p; beyond this, --jobs spreads further.)
MAX_SEGMENT_WORKERS = 8


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def draw_segments(
    draw: Callable[[int], np.ndarray],
    path: Path,
    segments: Sequence[Segment],
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    advance: Advance | None = None,
    each: Callable[[int, np.ndarray], None] | None = None,
    workers: int = 0,
) -> list[float]:
    """A shot whose frames can be drawn in any order (nothing carries from one frame to the
    next): its segments drawn and encoded side by side, each by one thread that draws a frame
    and hands it to its own single-threaded encoder, then spliced into `path` (published
    atomically). The segments and their encoders are those of `encode_segments` and of
    workers elsewhere, so the bytes are the same. `each(i, frame)` sees every frame, from any
    thread. `workers`: 0 for the cores (at most MAX_SEGMENT_WORKERS). Returns each segment's
    seconds.

    One x264 thread per segment, as many segments at once as there are cores, keeps the
    cores as busy as x264's own frame threads do, for less work: frame threads wait on each
    other's rows and cost about 15 % more CPU for the same frames."""
    n = max(1, min(workers or min(cores(), MAX_SEGMENT_WORKERS), len(segments)))
    # fewer segments than cores: each encoder on a thread of its own, beside its drawing
    threaded = n < cores()
    lock = threading.Lock()
    stop = threading.Event()
    order = iter(segments)
    seconds: dict[int, float] = {}
    drawn = [0]  # frames done, counted by the workers; reported from the calling thread

    def step(k: int) -> None:
        with lock:
            drawn[0] += k

    def worker(tmp: Path) -> None:
        while not stop.is_set():
            with lock:
                seg = next(order, None)
            if seg is None:
                return
            t0 = time.perf_counter()
            writer = VideoWriter(
                tmp / seg.name, size, fps, settings, threaded=threaded, threads=ENCODER_THREADS
            )
            try:
                for i in range(seg.start, seg.end):
                    if stop.is_set():
                        raise _Stopped
                    frame = draw(i)
                    writer.write(frame)
                    if each is not None:
                        each(i, frame)
                    step(1)
            except BaseException:
                writer.abort()
                raise
            writer.__exit__(None, None, None)
            seconds[seg.index] = time.perf_counter() - t0

    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}-segments-") as tmp,
        Splicer(path, fps) as joined,
    ):
        pool = ThreadPoolExecutor(n, thread_name_prefix="shotcraft-segment")
        futures = [pool.submit(worker, Path(tmp)) for _ in range(n)]
        reported = 0
        spliced = 0  # segments joined so far: in order, each once it and those before are done

        def report() -> None:  # progress callbacks run where the caller runs (an event loop's
            nonlocal reported, spliced  # thread, for the MCP server), never on a worker thread
            now = drawn[0]
            if advance is not None and now > reported:
                advance(now - reported)
            reported = now
            while spliced < len(segments) and segments[spliced].index in seconds:
                joined.add(Path(tmp) / segments[spliced].name)
                spliced += 1

        try:
            while wait(futures, timeout=0.05, return_when=FIRST_EXCEPTION).not_done:
                report()
                if any(f.done() and f.exception() is not None for f in futures):
                    break
        except BaseException:  # Ctrl-C, a segment that will not join: the workers stop at
            stop.set()  # their next frame
            pool.shutdown(wait=True)
            raise
        if any(f.done() and f.exception() is not None for f in futures):
            stop.set()  # one failed: the others stop at their next frame
        pool.shutdown(wait=True)
        for f in futures:
            error = f.exception()
            if error is not None and not isinstance(error, _Stopped):
                raise error
        report()
        joined.finish()
    return [seconds[s.index] for s in segments]


class _Stopped(Exception):
    """Another segment failed: this one stops without a report of its own."""


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
