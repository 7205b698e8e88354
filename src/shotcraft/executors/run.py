"""Rendering several shots, and a shot's segments, at once: the driver's side.

Every shot is planned here first (up-to-date check, budget, layout and motion files), so a
refusal comes before any work. Then each shot's layers are one unit and each of its segments
another, handed to a `Runner` (worker processes, or Ray); the driver collects the segments as
they finish, splices each shot's clip when its last segment is in, and writes its reports.
A harmonized shot's key frames are units of their own (model calls, on the model's actor or in
this process), painted before its segments, which carry the corrections from them. A video
model's chunks joined by cross-fading are units too: the driver builds each chunk's inputs
from the composite (a few chunks ahead, never the whole shot), the chunks are painted by
workers that keep the model loaded, and the driver cross-fades the painted chunks in order and
encodes the clip. Shots whose frames carry state from one to the next (chunks conditioned on
the last chunk's painted frames, `join = "condition"`) are one unit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shotcraft.backends.base import ModelBackend
from shotcraft.errors import RenderFailed
from shotcraft.executors.segments import Segment, splice
from shotcraft.executors.spec import ExecutorSpec
from shotcraft.executors.work import (
    ChunkDone,
    ChunkTask,
    HarmonizeWork,
    KeyDone,
    KeyJob,
    LayerBytes,
    LayersJob,
    SegmentDone,
    SegmentJob,
    chunk_model,
    chunks_in_workers,
    compositor,
    worker_name,
)
from shotcraft.stages.coherence import Coherence
from shotcraft.stages.common import Settings, StageResult, load_context, render_size
from shotcraft.stages.frames import drawn_frames, encode_segments
from shotcraft.stages.harmonize import key_frames, keys_for
from shotcraft.stages.pipeline import Pipeline, RenderWork
from shotcraft.stages.render import (
    clip_report,
    clip_segments,
    encoder_settings,
    execution_report,
    harmonized,
    model_prompt,
    render_clip,
    splittable,
)
from shotcraft.stages.video_pass import VideoPass, build_video_pass, paint_chunk, video_work


class Runner(Protocol):
    """Where units run. Handles are opaque (futures, Ray object refs)."""

    name: str
    passes_handles: bool  # units take handles of other units' results (Ray's object refs)
    frame_progress: bool  # workers report frames as they go (`progress`)
    threads: int  # the threads a unit draws and encodes on (0: the cores over the workers)

    def workers(self) -> int: ...

    def layers(self, job: LayersJob) -> Any: ...

    def model_layers(self, job: LayersJob, pipeline: Pipeline) -> Any: ...

    def key(self, job: KeyJob, layers: Any, pipeline: Pipeline) -> Any:
        """One harmonize key frame painted by the model (a KeyDone); `layers`: the layers'
        handle where the runner passes handles, else their value."""
        ...

    def chunk(self, task: ChunkTask, backend: Any) -> Any:
        """One video chunk painted by the model (a ChunkDone); `backend`: this process's
        video model (not loaded unless the runner paints here with it)."""
        ...

    def chunks_coming(self, painter: Any) -> None:
        """A shot will hand out chunks painted by `painter` (`work.chunk_model`): workers a
        runner keeps for that model stay until every such shot has handed out its last."""
        ...

    def chunks_handed(self, painter: Any) -> None:
        """One shot (of those announced by `chunks_coming`) has handed out its last chunk."""
        ...

    def segment(self, job: SegmentJob, layers: Any) -> Any: ...

    def whole(self, pipeline: Pipeline, work: RenderWork) -> Any:
        """A shot that is one unit: its clip bytes and report (a WholeDone)."""
        ...

    def wait(self, handles: list[Any]) -> tuple[list[Any], list[Any]]:
        """Block until at least one is done: (done, pending)."""
        ...

    def progress(self) -> int:
        """Frames drawn since the last call, where workers report them (else 0)."""
        ...

    def result(self, handle: Any) -> Any: ...

    def cancel(self, handles: list[Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class WholeDone:
    shot_id: str
    clip: bytes
    report: dict[str, Any]
    worker: str


@dataclass(slots=True)
class _Shot:
    pipeline: Pipeline
    work: RenderWork
    segments: tuple[Segment, ...] = ()
    layers: LayerBytes | None = None
    layers_handle: Any = None
    done: dict[int, SegmentDone] = field(default_factory=dict)
    result: StageResult | None = None
    t0: float = field(default_factory=time.perf_counter)
    t_layers: float = 0.0
    parallel: Any = None  # the ParallelEstimate, for render.json
    key_frames: list[int] | None = None  # a harmonized shot's: painted before its segments
    keys: dict[int, KeyDone] = field(default_factory=dict)
    t_keys: float = 0.0
    chunked: bool = False  # a video model's chunks as units, joined here
    video: VideoPass | None = None  # the driver's pass: builds the chunks' inputs, joins them
    chunk_jobs: Generator[Any, None, None] | None = None  # the chunks not handed out yet
    chunks: dict[int, ChunkDone] = field(default_factory=dict)
    chunks_out: int = 0  # handed out, not in yet
    counted: set[int] = field(default_factory=set)  # chunks the bar has moved for
    t_chunks: float = 0.0


def render_shots(
    shot_files: Sequence[Path],
    settings: Settings,
    spec: ExecutorSpec,
    budget: float | None = None,
    previews: bool | None = None,
    fit_budget: float | None = None,
) -> list[StageResult]:
    """Render every shot, their units spread over the executor's workers; results in order.
    `fit_budget` fits each shot's settings here, before anything is handed out (to the
    one-process estimate: parallel workers only make the render come in under it)."""
    # 1. Plan every shot: refusals (over budget, bad files) before any frame is drawn.
    pipelines = [Pipeline(load_context(Path(f), settings), settings) for f in shot_files]
    planned = [p.plan_render(budget, previews, fit_budget, render_here=False) for p in pipelines]
    pipelines = [
        w.pipeline if isinstance(w, RenderWork) and w.pipeline is not None else p
        for p, w in zip(pipelines, planned, strict=True)
    ]
    results: list[StageResult | None] = [w if isinstance(w, StageResult) else None for w in planned]
    todo = {
        i: _Shot(p, w)
        for i, (p, w) in enumerate(zip(pipelines, planned, strict=True))
        if isinstance(w, RenderWork)
    }
    if todo:
        from shotcraft.executors import open_runner
        from shotcraft.executors.plan import critical_path

        start_ray = spec.kind == "ray" and not (spec.address or os.environ.get("RAY_ADDRESS"))
        workers = spec.jobs or os.cpu_count() or 1
        for shot in todo.values():
            p, w = shot.pipeline, shot.work
            chunks = _chunks_apart(p, w)
            if chunks:  # the model's chunks side by side; frames and encoding here
                shot.chunked = True
                # on workers that each load the video model: Ray's actors, or a local
                # runner's processes where the model runs on the CPU (the runner's own rule)
                apart = spec.kind == "ray" or chunks_in_workers(settings.device)
                shot.parallel = critical_path(
                    w.estimate, chunks, workers, start_ray, ("video",), model_units=apart
                )
            else:
                n = len(clip_segments(p.ctx, settings, p.motion(w.pick)))
                n = n if splittable(p.ctx, w.backend) else 1  # chunks in order: one unit
                # Ray's model actors (layers, key frames) load the model of their own
                on_actors = spec.kind == "ray" and isinstance(w.backend, ModelBackend)
                shot.parallel = critical_path(
                    w.estimate, n, workers, start_ray, model_units=on_actors
                )
            if not shot.parallel.pays:
                settings.reporter.info(f"{p.ctx.shot.id}: {shot.parallel.note}")

        with open_runner(spec, settings) as runner:
            _run(todo, runner, settings)
        for i, shot in todo.items():
            results[i] = shot.result
    return [r for r in results if r is not None]


def _run(todo: dict[int, _Shot], runner: Runner, settings: Settings) -> None:
    total = sum(s.pipeline.motion(s.work.pick).frames for s in todo.values())
    workers = runner.workers()
    label = f"render: {len(todo)} shot{'s' * (len(todo) != 1)} on {workers} {runner.name} workers"
    pending: dict[Any, tuple[str, int, Any]] = {}  # handle -> (kind, shot index, detail)
    threads = _threads(runner, workers)
    by_frame = runner.frame_progress
    passes_handles = runner.passes_handles
    with settings.reporter.task(label, total) as advance:
        # 2. Hand out the units: layers first; a shot's segments once its layers are known.
        for i, shot in todo.items():
            p, w = shot.pipeline, shot.work
            if not splittable(p.ctx, w.backend) and not shot.chunked:
                pending[runner.whole(p, w)] = ("whole", i, None)
                continue
            job = LayersJob(
                p.ctx.shot, p.layout(w.pick), p.layer_plan(w.pick), str(settings.cache.root)
            )
            shot.segments = clip_segments(p.ctx, settings, p.motion(w.pick))
            if harmonized(p.ctx, w.backend):
                shot.key_frames = key_frames(p.motion(w.pick), _every(w.backend))
            if shot.chunked:  # its model's workers stay for it (loaded once, not per shot)
                runner.chunks_coming(_painter(shot))
            if isinstance(w.backend, ModelBackend):
                h = runner.model_layers(job, p)
            else:
                h = runner.layers(job)
            shot.layers_handle = h
            pending[h] = ("layers", i, None)
            # Segments depend on their layers: a runner that can pass a handle as an argument
            # (Ray) gets them now, so they start wherever the layers land
            if passes_handles and shot.key_frames is None and not shot.chunked:
                for seg in shot.segments:
                    pending[runner.segment(_segment_job(shot, seg, threads), h)] = (
                        "segment",
                        i,
                        seg,
                    )
        # 3. Collect: splice and report each shot when its last unit is in.
        try:
            while pending:
                done, _ = runner.wait(list(pending))
                if by_frame:
                    advance(runner.progress())
                for h in done:
                    kind, i, seg = pending.pop(h)
                    shot = todo[i]
                    value = runner.result(h)
                    if kind == "layers":
                        shot.layers = value
                        shot.t_layers = time.perf_counter() - shot.t0
                        if shot.chunked:  # the chunks' inputs need the layers, here
                            _start_chunks(shot, value, settings)
                            _chunks_next(shot, i, runner, pending, workers + 1, advance)
                        elif shot.key_frames is not None:  # key frames first, as tasks
                            ref = shot.layers_handle if passes_handles else value
                            for k in shot.key_frames:
                                pending[runner.key(_key_job(shot, k), ref, shot.pipeline)] = (
                                    "key",
                                    i,
                                    k,
                                )
                        elif not passes_handles:
                            for s in shot.segments:
                                unit = _segment_job(shot, s, threads)
                                pending[runner.segment(unit, value)] = ("segment", i, s)
                    elif kind == "key":
                        shot.keys[seg] = value
                        _file_key(settings, value)
                        if len(shot.keys) == len(shot.key_frames or ()):
                            shot.t_keys = time.perf_counter() - shot.t0 - shot.t_layers
                            for s in shot.segments:
                                unit = _segment_job(shot, s, threads)
                                layers = shot.layers_handle if passes_handles else shot.layers
                                pending[runner.segment(unit, layers)] = ("segment", i, s)
                    elif kind == "chunk":
                        _chunk_in(shot, value, settings)
                        _chunks_next(shot, i, runner, pending, workers + 1, advance)
                    elif kind == "segment":
                        shot.done[seg.index] = value
                        if not by_frame:
                            advance(seg.frames)
                    else:
                        _finish_whole(shot, value, runner.name)
                        advance(shot.pipeline.motion(shot.work.pick).frames)
                    complete = shot.layers is not None and len(shot.done) == len(shot.segments)
                    if complete and shot.result is None and not shot.chunked:
                        _finish_split(shot, runner.name)
        except BaseException:
            # Ctrl-C, or a unit that failed for good: nothing more runs, nothing half-written
            runner.cancel(list(pending))
            for shot in todo.values():
                if shot.chunk_jobs is not None:
                    shot.chunk_jobs.close()  # its drawing threads stop
            raise


def _chunks_apart(p: Pipeline, w: RenderWork) -> int:
    """How many chunks a shot's video pass paints as units of their own: 0 when it has none,
    or when its chunks must be painted in order (`join = "condition"`: a chunk is given the
    frames the last one painted), or when harmonize feeds it (its key frames first, in one
    process)."""
    ctx = p.ctx
    if harmonized(ctx, w.backend):
        return 0
    painter = w.backend if isinstance(w.backend, ModelBackend) else None
    vw = video_work(ctx.shot, p.motion(w.pick).frames, render_size(ctx.shot, ctx.preset), painter)
    if vw is None or vw.join != "crossfade":
        return 0
    return vw.chunks


def _start_chunks(shot: _Shot, layers: LayerBytes, settings: Settings) -> None:
    """The driver's video pass over the shot's composite, from the layers' bytes (the very
    compositor and references a one-process render has), and its chunks' inputs to come."""
    from shotcraft.stages.layers import from_png

    p, w = shot.pipeline, shot.work
    ctx, motion = p.ctx, p.motion(w.pick)
    comp = compositor(layers, render_size(ctx.shot, ctx.preset))
    sprites = {sid: from_png(data).convert("RGBA") for sid, data in layers.sprites.items()}
    painter = w.backend if isinstance(w.backend, ModelBackend) else None
    vp = build_video_pass(
        ctx.shot,
        motion,
        comp,
        sprites,
        p.layer_plan(w.pick).plate_size,
        settings.cache,
        settings.device,
        painter,
        model_prompt(ctx.shot),
    )
    assert vp is not None
    shot.video = vp
    source = drawn_frames(comp, motion, None, ctx.preset.samples, ctx.preset.shutter, rgb=True)
    shot.chunk_jobs = vp.chunk_jobs(source)
    shot.t_chunks = time.perf_counter()


def _chunks_next(
    shot: _Shot, i: int, runner: Runner, pending: dict[Any, Any], window: int, advance: Any
) -> None:
    """Move the bar for the chunks in, hand out more, and join the clip after the last."""
    vp = shot.video
    assert vp is not None
    _hand_chunks(shot, i, runner, pending, window)
    for c in [c for c in shot.chunks if c not in shot.counted]:  # from units or this cache
        advance(vp.plan.frames_completed(c))
        shot.counted.add(c)
    if shot.chunk_jobs is None and not shot.chunks_out:
        _finish_chunked(shot, runner.name)


def _hand_chunks(shot: _Shot, i: int, runner: Runner, pending: dict[Any, Any], window: int) -> None:
    """Hand out chunks until `window` are in flight: the driver holds only their inputs. A
    chunk this machine's cache has is read here, not sent (a worker without the shared
    folder would paint it again)."""

    vp, settings = shot.video, shot.pipeline.settings
    assert vp is not None
    ctx = shot.pipeline.ctx
    while shot.chunk_jobs is not None and shot.chunks_out < window:
        item = next(shot.chunk_jobs, None)
        if item is None:
            shot.chunk_jobs = None
            runner.chunks_handed(_painter(shot))
            break
        c, ch, job, spec = item
        if settings.cache.contains(spec):
            got = paint_chunk(vp.backend, vp.settings, settings.cache, ch, job, spec)
            _chunk_in(shot, ChunkDone(ctx.shot.id, c, got, spec, "", worker_name()), None)
            continue
        task = ChunkTask(
            ctx.shot.id,
            c,
            ch,
            job,
            spec,
            vp.settings,
            ctx.shot.video,
            ctx.shot.model,
            settings.device,
            str(settings.cache.root),
        )
        del job
        pending[runner.chunk(task, vp.backend)] = ("chunk", i, c)
        shot.chunks_out += 1


def _painter(shot: _Shot) -> Any:
    ctx = shot.pipeline.ctx
    return chunk_model(ctx.shot.video, ctx.shot.model, shot.pipeline.settings.device)


def _chunk_in(shot: _Shot, done: ChunkDone, settings: Settings | None) -> None:
    """A painted chunk: counted, and filed in this machine's cache (from where the join reads
    it: the driver never holds the shot's painted frames)."""

    vp = shot.video
    assert vp is not None
    if settings is not None:  # from a unit (else read from this cache already)
        shot.chunks_out -= 1
        if not settings.cache.contains(done.spec):
            settings.cache.get_or_make(done.spec, lambda: done.painted.png, done.producer)
    vp.tally(vp.plan.chunks[done.index], done.painted, elsewhere=done.worker != worker_name())
    # the bytes are in the cache: keep only what the report needs
    light = dataclasses.replace(done.painted, png=b"")
    shot.chunks[done.index] = dataclasses.replace(done, painted=light)


def _finish_chunked(shot: _Shot, executor: str) -> None:
    """Every chunk is in: cross-fade them in order over the composite and encode the clip, as
    a one-process render does (the same code, the chunks read from the cache)."""

    p, w, vp = shot.pipeline, shot.work, shot.video
    assert shot.layers is not None and vp is not None
    ctx, motion = p.ctx, p.motion(w.pick)
    size = render_size(ctx.shot, ctx.preset)
    t_chunks = time.perf_counter() - shot.t_chunks
    t_join = time.perf_counter()
    comp = vp.inputs.comp
    source = drawn_frames(comp, motion, None, ctx.preset.samples, ctx.preset.shutter, rgb=True)
    known = {c: d.spec for c, d in shot.chunks.items()}
    coherence = Coherence(motion, size, p.layer_plan(w.pick).plate_size)
    seconds = encode_segments(
        vp.frames(source, known),
        ctx.paths.clip,
        shot.segments,
        size,
        ctx.shot.fps,
        encoder_settings(ctx),
        None,
        coherence.add,
    )
    here = worker_name()
    ordered = [shot.chunks[c] for c in range(len(vp.plan.chunks))]
    report = clip_report(
        ctx,
        w.backend,
        motion,
        w.estimate,
        shot.layers.report,
        {"layers": shot.layers.seconds, "chunks": t_chunks, "frames": time.perf_counter() - t_join},
        shot.layers.denoiser_calls + vp.denoiser_calls,
        {"harmonize": None, "video_pass": vp.report(), "coherence": coherence.report()},
        execution_report(
            executor,
            [shot.layers.worker, *(d.worker for d in ordered), here],
            shot.segments,
            seconds,
            [here] * len(shot.segments),
        ),
    )
    report["layers_worker"] = shot.layers.worker
    placements = sorted({d.placement for d in ordered if d.placement})
    if placements and not vp.backend.placement:  # loaded in the workers only
        report["video_pass"]["placement"] = ", ".join(placements)
    # alongside the segments (encoded here): each chunk's model call, where it ran
    report["chunks"] = [
        {
            "index": d.index,
            "model_frames": [ch.start, ch.start + ch.length],
            "seconds": round(d.painted.seconds, 3),
            "worker": d.worker,
            "from_cache": d.painted.hit,
            "load_seconds": round(d.painted.load_seconds, 3),
        }
        for d, ch in zip(ordered, vp.plan.chunks, strict=True)
    ]
    report["chunk_workers"] = _chunk_workers(ordered)
    report["estimate_parallel"] = None if shot.parallel is None else shot.parallel.to_json()
    shot.result = p.finish_render(w, report)


def _chunk_workers(chunks: list[ChunkDone]) -> dict[str, dict[str, Any]]:
    """Per worker that painted chunks: how many, the seconds it spent loading the model
    (once per worker; the estimate's `worker_load_seconds` is its prediction) and painting."""
    out: dict[str, dict[str, Any]] = {}
    for d in chunks:
        w = out.setdefault(d.worker, {"chunks": 0, "load_seconds": 0.0, "paint_seconds": 0.0})
        w["chunks"] += 1
        w["load_seconds"] = round(w["load_seconds"] + d.painted.load_seconds, 3)
        w["paint_seconds"] = round(w["paint_seconds"] + d.painted.paint_seconds, 3)
    return out


def _threads(runner: Runner, workers: int) -> int:
    if runner.threads:
        return runner.threads
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _every(backend: Any) -> int | None:
    return backend.model.every


def _key_job(shot: _Shot, k: int) -> KeyJob:
    p, w = shot.pipeline, shot.work
    ctx = p.ctx
    return KeyJob(
        ctx.shot.id,
        k,
        p.motion(w.pick),
        render_size(ctx.shot, ctx.preset),
        ctx.preset.samples,
        ctx.preset.shutter,
        p.layer_plan(w.pick).plate_size,
        _every(w.backend),
        model_prompt(ctx.shot),
        ctx.shot.seed,
        str(p.settings.cache.root),
    )


def _file_key(settings: Settings, done: KeyDone) -> None:
    """A key frame painted on another node goes in this machine's cache too, so a later
    single-process render of the shot finds it (one folder for both: already there)."""
    if not settings.cache.contains(done.spec):
        settings.cache.get_or_make(done.spec, lambda: done.png, done.producer)


def _segment_job(shot: _Shot, seg: Segment, threads: int) -> SegmentJob:
    ctx, w = shot.pipeline.ctx, shot.work
    hw = None
    if shot.key_frames is not None:
        needed = keys_for(shot.key_frames, seg.start, seg.end)
        hw = HarmonizeWork(
            shot.pipeline.layer_plan(w.pick).plate_size,
            _every(w.backend),
            {k: shot.keys[k].png for k in needed},
        )
    painted = isinstance(w.backend, ModelBackend)
    return SegmentJob(
        ctx.shot.id,
        seg,
        shot.pipeline.motion(w.pick),
        render_size(ctx.shot, ctx.preset),
        ctx.shot.fps,
        ctx.preset.samples,
        ctx.preset.shutter,
        encoder_settings(ctx),
        threads,
        hw,
        shot.pipeline.layer_plan(w.pick).plate_size if painted else None,
    )


def _finish_split(shot: _Shot, executor: str) -> None:
    p, w = shot.pipeline, shot.work
    ctx = p.ctx
    assert shot.layers is not None
    t_frames = time.perf_counter()
    ordered = [shot.done[s.index] for s in shot.segments]
    with _scratch(ctx.paths.clip) as tmp:
        parts = []
        for seg, part in zip(shot.segments, ordered, strict=True):
            path = tmp / seg.name
            path.write_bytes(part.data)
            parts.append(path)
        frames = splice(parts, ctx.paths.clip, ctx.shot.fps)
    if frames != p.motion(w.pick).frames:
        raise RenderFailed(
            f"{ctx.shot.id}: the segments hold {frames} frames, not {p.motion(w.pick).frames}"
        )
    ran_on = [d.worker for d in ordered]
    keys = [shot.keys[k] for k in shot.key_frames or ()]
    passes: dict[str, Any] = {}
    if shot.key_frames is not None:
        every = _every(w.backend)
        passes["harmonize"] = {
            "every": "auto" if every is None else every,
            "key_frames": len(keys),
            "from_cache": sum(d.hit for d in keys),
            "repainted": [d.frame for d in keys if not d.hit],
            "workers": sorted({d.worker for d in keys}),
        }
    sums = [d.coherence for d in ordered if d.coherence is not None]
    if sums:
        passes["coherence"] = Coherence.merged(sums)
    seconds = {
        "layers": shot.layers.seconds,
        # from the layers (and key frames) being in to the clip being joined: the frames'
        # critical path
        "frames": time.perf_counter() - shot.t0 - shot.t_layers - shot.t_keys,
        "splice": time.perf_counter() - t_frames,
    }
    if shot.key_frames is not None:
        seconds["key_frames"] = shot.t_keys
    report = clip_report(
        ctx,
        w.backend,
        p.motion(w.pick),
        w.estimate,
        shot.layers.report,
        seconds,
        shot.layers.denoiser_calls + sum(d.denoiser_calls for d in keys),
        passes,
        execution_report(
            executor,
            [shot.layers.worker, *(d.worker for d in keys), *ran_on],
            shot.segments,
            [d.seconds for d in ordered],
            ran_on,
        ),
    )
    report["layers_worker"] = shot.layers.worker
    for entry, d in zip(report["segments"], ordered, strict=True):
        entry["cpu_seconds"] = round(d.cpu_seconds, 3)
    report["estimate_parallel"] = None if shot.parallel is None else shot.parallel.to_json()
    shot.result = p.finish_render(w, report)


def _finish_whole(shot: _Shot, done: WholeDone, executor: str) -> None:
    ctx = shot.pipeline.ctx
    ctx.paths.clip.parent.mkdir(parents=True, exist_ok=True)
    from shotcraft.fsutil import write_bytes

    write_bytes(ctx.paths.clip, done.clip)
    report = dict(done.report)
    report["executor"] = executor
    report["workers"] = [done.worker]
    for s in report.get("segments", []):
        s["worker"] = done.worker
    report["estimate_parallel"] = None if shot.parallel is None else shot.parallel.to_json()
    shot.result = shot.pipeline.finish_render(shot.work, report)


@contextlib.contextmanager
def _scratch(clip: Path) -> Iterator[Path]:
    clip.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=clip.parent, prefix=f".{clip.stem}-segments-") as tmp:
        yield Path(tmp)


def whole_render(pipeline: Pipeline, work: RenderWork, settings: Settings) -> WholeDone:
    """A shot rendered as one unit in this process, into a scratch folder: its clip bytes and
    report. (Workers run this for harmonized and video-model shots.)"""
    import dataclasses

    from shotcraft.project import ShotPaths

    ctx, k = pipeline.ctx, work.pick
    with tempfile.TemporaryDirectory(prefix="shotcraft-whole-") as tmp:
        local = dataclasses.replace(ctx, paths=ShotPaths.of(Path(tmp), ctx.shot.id))
        report = render_clip(
            local,
            settings,
            work.backend,
            pipeline.layout(k),
            pipeline.motion(k),
            pipeline.layer_plan(k),
            pipeline.units(k),
            work.estimate,
        )
        clip = local.paths.clip.read_bytes()
    return WholeDone(ctx.shot.id, clip, report, worker_name())
