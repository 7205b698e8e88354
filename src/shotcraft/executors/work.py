"""The pieces of a render that run in a worker (a local process, a Ray task or actor): layers
through the cache, a harmonize key frame, a video model's chunk, and one segment's frames drawn
and encoded. Values in, values out: a worker needs no project folder, only a cache folder for
what it makes.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.backends import families
from shotcraft.backends.base import Backend
from shotcraft.backends.video_base import ChunkJob, VideoSettings
from shotcraft.executors.segments import Segment
from shotcraft.layout.planner import Layout
from shotcraft.media.encode import EncoderSettings
from shotcraft.motion.track import MotionTrack
from shotcraft.spec.model import ModelSpec, Shot, VideoSpec
from shotcraft.stages.layers import LayerPlan
from shotcraft.stages.video_pass import Chunk, ChunkPainted

# Tests only: a folder where a file `kill-<shot>-<segment>` makes the worker that draws that
# segment kill itself halfway through, once (the file is claimed by renaming it). A worker
# that starts a segment leaves `drawing-<shot>-<segment>` there (to interrupt it mid-work).
FAULT_DIR_ENV = "SHOTCRAFT_FAULT_DIR"


# frames drawn, for the driver's one progress bar: a queue a worker pool hands each worker
_progress: Any = None
PROGRESS_EVERY = 8  # frames a message: a put costs tens of microseconds


def set_progress(q: Any) -> None:
    global _progress
    _progress = q


def worker_name() -> str:
    """host:pid, and under Ray the node too (test clusters run several nodes on one host)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()
        return f"{socket.gethostname()}/{node[:8]}:{os.getpid()}"
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class LayersJob:
    """Make (or find) a shot's plate and sprites in the cache at `cache_root`."""

    shot: Shot
    layout: Layout
    plan: LayerPlan
    cache_root: str


@dataclass(frozen=True, slots=True)
class LayerBytes:
    """A shot's layers as the cache holds them (PNG bytes), and how getting them went."""

    shot_id: str
    plate: bytes
    parallax: tuple[float, ...] | None
    sprites: dict[str, bytes]
    report: dict[str, Any]  # per layer: key, hit, seconds (render.json's "cache")
    seconds: float
    denoiser_calls: int
    worker: str


def make_layers(job: LayersJob, backend: Backend) -> LayerBytes:
    """The same lookups as stages.layers.fetch_layers, keeping the bytes to hand on."""
    from shotcraft.cache import Cache
    from shotcraft.stages.layers import to_png

    t0 = time.perf_counter()
    calls = backend.denoiser_calls
    cache, plan, shot = Cache(Path(job.cache_root)), job.plan, job.shot
    producer = f"{backend.name} {backend.version}"
    got = cache.get_or_make(
        plan.plate_spec, lambda: backend.plate(shot.background, plan.plate_size).to_png(), producer
    )
    report: dict[str, Any] = {
        "plate": {"key": got.key, "hit": got.hit, "seconds": round(got.seconds, 4)},
        "sprites": {},
    }
    sprites = {}
    subjects = {s.id: s for s in shot.subjects}
    for sid, spec in plan.sprite_specs.items():
        subject, sl, h = subjects[sid], job.layout.subject(sid), plan.sprite_heights[sid]

        def make(subject: Any = subject, sl: Any = sl, h: int = h) -> bytes:
            return to_png(backend.sprite(subject, sl, h))

        g = cache.get_or_make(spec, make, producer)
        sprites[sid] = g.data
        report["sprites"][sid] = {"key": g.key, "hit": g.hit, "seconds": round(g.seconds, 4)}
    parallax = plan.plate_spec.get("parallax")
    return LayerBytes(
        shot.id,
        got.data,
        None if parallax is None else tuple(parallax),
        sprites,
        report,
        time.perf_counter() - t0,
        backend.denoiser_calls - calls,
        worker_name(),
    )


def procedural_layers(job: LayersJob) -> LayerBytes:
    from shotcraft.backends import ProceduralBackend

    return make_layers(job, ProceduralBackend())


@dataclass(frozen=True, slots=True)
class KeyJob:
    """Paint one harmonize key frame of a shot (a model call, through the cache)."""

    shot_id: str
    frame: int
    motion: MotionTrack
    size: tuple[int, int]
    samples: int
    shutter: float
    plate_size: tuple[int, int]
    every: int | None
    prompt: str
    seed: int
    cache_root: str


@dataclass(frozen=True, slots=True)
class KeyDone:
    """A harmonized key frame as the cache holds it (PNG bytes), and how getting it went."""

    shot_id: str
    frame: int
    png: bytes
    hit: bool
    spec: dict[str, Any]  # its cache key spec: the driver files it in its own cache too
    producer: str
    seconds: float
    denoiser_calls: int
    worker: str


@dataclass(frozen=True, slots=True)
class HarmonizeWork:
    """What a segment of a harmonized shot needs besides its layers: the key frames its
    frames are carried from (stages.harmonize.keys_for), already painted."""

    plate_size: tuple[int, int]
    every: int | None
    keys: dict[int, bytes]  # key frame -> harmonized PNG


def compositor(layers: LayerBytes, size: tuple[int, int]) -> Any:
    from shotcraft.draw.compositor import Compositor
    from shotcraft.draw.plate import Plate
    from shotcraft.stages.layers import from_png

    plate = Plate.from_png(layers.plate, None if layers.parallax is None else list(layers.parallax))
    sprites = {sid: from_png(data).convert("RGBA") for sid, data in layers.sprites.items()}
    return Compositor(plate, size, sprites)


def paint_key(job: KeyJob, layers: LayerBytes, backend: Any) -> KeyDone:
    """One key frame: its composite, harmonized by the model unless the cache has it."""
    from shotcraft.cache import Cache
    from shotcraft.stages.harmonize import Harmonizer

    t0, calls = time.perf_counter(), backend.denoiser_calls
    h = Harmonizer(
        backend,
        Cache(Path(job.cache_root)),
        compositor(layers, job.size),
        job.motion,
        job.plate_size,
        job.every,
        job.prompt,
        job.seed,
        job.samples,
        job.shutter,
    )
    png, hit, spec = h.paint(job.frame, h.composite(job.frame))
    return KeyDone(
        job.shot_id,
        job.frame,
        png,
        hit,
        spec,
        f"{backend.name} {backend.version}",
        time.perf_counter() - t0,
        backend.denoiser_calls - calls,
        worker_name(),
    )


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """Paint one chunk of a shot's video pass (a model call, through the cache): its inputs
    as the driver built them (`VideoPass.chunk_jobs`) and their cache key, so a chunk painted
    here is the very entry a single-process render reads."""

    shot_id: str
    index: int
    chunk: Chunk
    job: ChunkJob
    spec: dict[str, Any]  # VideoPass.job_spec
    settings: VideoSettings
    video: VideoSpec | None  # the shot's [video] table; None: AnimateDiff from `model`
    model: ModelSpec | None
    device: str
    cache_root: str
    threads: int = 0  # torch threads in a worker process (0: leave them as they are)

    @property
    def painter(self) -> tuple[Any, str]:
        return chunk_model(self.video, self.model, self.device)


def chunk_model(video: VideoSpec | None, model: ModelSpec | None, device: str) -> tuple[Any, str]:
    """What paints a shot's chunks, as runners key the workers that keep it loaded: its
    [video] table, else (AnimateDiff) its image model; on this device request."""
    return (video if video is not None else model, device)


@dataclass(frozen=True, slots=True)
class ChunkDone:
    shot_id: str
    index: int
    painted: ChunkPainted
    spec: dict[str, Any]  # its cache key spec: the driver files it in its own cache too
    producer: str
    worker: str
    placement: str = ""  # where the worker put the pipeline (render.json's video_pass)


def chunks_in_workers(device: str) -> bool:
    """The one rule for where a local runner paints a video model's chunks: in worker
    processes when the model runs on the CPU (each worker loads it; the cores share the
    painting), else in this process (one copy of the weights on the GPU). `device`: a
    request ("auto", "cuda:1") or a resolved device; nothing is imported to answer."""
    return families.device_class(device) == "cpu"


def chunk_backend(task: ChunkTask, pool: Any = None) -> Any:
    """The video model a chunk needs, kept loaded by `pool` (or this process's registry)."""
    from shotcraft.backends.video_base import video_backend

    if task.video is not None:
        return video_backend(task.video, task.device)
    from shotcraft.backends.video_animatediff import AnimateDiffVideo

    return AnimateDiffVideo((pool or _own_pool()).get(task.model, task.device))


def paint_video_chunk(task: ChunkTask, backend: Any) -> ChunkDone:
    """One chunk, painted by `backend` unless the cache at `task.cache_root` has it."""
    from shotcraft.cache import Cache
    from shotcraft.stages.video_pass import paint_chunk

    if task.threads:
        import torch

        torch.set_num_threads(task.threads)  # a worker process among others on the cores
    cache = Cache(Path(task.cache_root))
    painted = paint_chunk(backend, task.settings, cache, task.chunk, task.job, task.spec)
    return ChunkDone(
        task.shot_id,
        task.index,
        painted,
        task.spec,
        f"{backend.family} {backend.version}",
        worker_name(),
        backend.placement,
    )


def paint_chunk_here(task: ChunkTask) -> ChunkDone:
    """A chunk in a local worker process: the model stays loaded there for its next chunks."""
    return paint_video_chunk(task, chunk_backend(task))


_pool: Any = None  # a worker process's models (AnimateDiff's image model), loaded once


def _own_pool() -> Any:
    global _pool
    if _pool is None:
        from shotcraft.backends import BackendPool

        _pool = BackendPool()
    return _pool


@dataclass(frozen=True, slots=True)
class SegmentJob:
    """Draw and encode frames [segment.start, segment.end) of a shot."""

    shot_id: str
    segment: Segment
    motion: MotionTrack
    size: tuple[int, int]
    fps: int
    samples: int
    shutter: float
    encoder: EncoderSettings
    threads: int  # drawing threads (the encoder's are fixed: segments.ENCODER_THREADS)
    harmonize: HarmonizeWork | None = None  # a harmonized shot: corrections carried from keys
    # a model-painted shot's plate size: its temporal figures are summed (render.json)
    coherence_plate: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SegmentDone:
    shot_id: str
    index: int
    data: bytes  # the segment's mp4
    seconds: float
    worker: str
    cpu_seconds: float = 0.0  # the worker process's CPU time for it, all threads
    coherence: tuple[float, float, int] | None = None  # a painted shot's figures' sums


def render_segment(job: SegmentJob, layers: LayerBytes) -> SegmentDone:
    from shotcraft.stages.coherence import Coherence
    from shotcraft.stages.frames import drawn_frames, encode_segment_bytes

    t0, cpu0 = time.perf_counter(), time.process_time()
    seg = job.segment
    comp = compositor(layers, job.size)
    coherence = None
    frames: Iterator[np.ndarray]
    if job.harmonize is not None:
        from shotcraft.stages.harmonize import Harmonizer, decode_key

        hw = job.harmonize
        h = Harmonizer(
            None, None, comp, job.motion, hw.plate_size, hw.every, "", 0, job.samples, job.shutter
        )
        frames = h.frames(seg.start, seg.end, lambda k, _composite: decode_key(hw.keys[k]))
    else:
        frames = drawn_frames(
            comp,
            job.motion,
            seg.frames,
            job.samples,
            job.shutter,
            start=seg.start,
            threads=job.threads or 2,
        )
    if job.coherence_plate is not None:
        coherence = Coherence(job.motion, job.size, job.coherence_plate, start=seg.start)
        frames = _observed(frames, coherence.add)
    fault, tell = _fault(job), _progress
    step = 0

    def advance(n: int = 1) -> None:
        nonlocal step
        if fault is not None:
            fault(n)
        step += n
        if tell is not None and step >= PROGRESS_EVERY:
            tell.put(step)
            step = 0

    data, _ = encode_segment_bytes(frames, seg, job.size, job.fps, job.encoder, advance)
    if tell is not None and step:
        tell.put(step)
    return SegmentDone(
        job.shot_id,
        seg.index,
        data,
        time.perf_counter() - t0,
        worker_name(),
        time.process_time() - cpu0,
        None if coherence is None else coherence.sums(),
    )


def _observed(frames: Iterator[np.ndarray], each: Any) -> Iterator[np.ndarray]:
    for f in frames:
        each(f)
        yield f


def _fault(job: SegmentJob) -> Any:
    """The test hook of FAULT_DIR_ENV: an `advance` that kills this process halfway."""
    folder = os.environ.get(FAULT_DIR_ENV)
    if not folder:
        return None
    (Path(folder) / f"drawing-{job.shot_id}-{job.segment.index}").touch()
    armed = Path(folder) / f"kill-{job.shot_id}-{job.segment.index}"
    if not armed.exists():
        return None
    halfway, done = job.segment.frames // 2, 0

    def advance(n: int = 1) -> None:
        nonlocal done
        done += n
        if done == halfway:
            try:
                armed.rename(armed.with_suffix(".fired"))  # once: whoever renames it dies
            except FileNotFoundError:
                return
            os.kill(os.getpid(), signal.SIGKILL)

    return advance
