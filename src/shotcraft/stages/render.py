"""render's work: paint the layers once (through the cache), composite every frame, encode
the clip. The runner (stages/pipeline.py) hands in the layout, motion, layer plan and units."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft import __version__
from shotcraft.backends.base import Backend, ModelBackend
from shotcraft.cost import RenderEstimate
from shotcraft.draw.compositor import Compositor
from shotcraft.executors.segments import SEGMENT_GOPS, Segment, plan_segments
from shotcraft.fsutil import write_bytes
from shotcraft.layout.planner import Layout
from shotcraft.media.encode import X264_PARAMS, EncoderSettings
from shotcraft.motion.track import MotionTrack
from shotcraft.progress import Advance
from shotcraft.project import Inputs, assets_of
from shotcraft.spec.load import find_preset
from shotcraft.spec.model import Shot
from shotcraft.stages.coherence import Coherence
from shotcraft.stages.common import (
    Settings,
    ShotContext,
    has_video_pass,
    refine_inputs,
    render_size,
)
from shotcraft.stages.estimate import WorkUnits
from shotcraft.stages.frames import draw_segments, drawer, drawn_frames, encode_segments
from shotcraft.stages.harmonize import Harmonizer
from shotcraft.stages.layers import LayerPlan, fetch_layers

RENDER_SCHEMA = "shotcraft.render/1"


def render_inputs(
    ctx: ShotContext, backend: Backend, pick: int, segment_gops: int = SEGMENT_GOPS
) -> Inputs:
    return Inputs(
        {
            "stage": "render",
            "refine": refine_inputs(ctx, pick),
            # what changes the clip: not whether previews are made alongside it
            "preset": {k: v for k, v in dataclasses.asdict(ctx.preset).items() if k != "previews"},
            "backend": backend_id(ctx.shot, backend),
            # where the encoders start and stop (not how many workers run them)
            "segment_gops": segment_gops,
            # how they encode beyond the preset's settings (new parameters re-render)
            "x264_params": X264_PARAMS,
        }
    )


def encoder_settings(ctx: ShotContext) -> EncoderSettings:
    p = ctx.preset
    return EncoderSettings(
        crf=p.crf, preset=p.encoder_preset, gop=max(1, round(p.gop_seconds * ctx.shot.fps))
    )


def render_clip(
    ctx: ShotContext,
    settings: Settings,
    backend: Backend,
    layout: Layout,
    motion: MotionTrack,
    lp: LayerPlan,
    units: WorkUnits,
    estimate: RenderEstimate,
) -> dict[str, Any]:
    """Paint the layers (through the cache), composite and encode every frame into clip.mp4.
    Returns the render report (render.json is written by the runner)."""
    shot, preset, paths = ctx.shot, ctx.preset, ctx.paths
    size = render_size(shot, preset)
    painter = backend if isinstance(backend, ModelBackend) else None

    # 1. Layers through the cache: hash, look up, make on a miss.
    t_layers = time.perf_counter()
    calls_before = backend.denoiser_calls
    with settings.reporter.task(f"{shot.id}: painting layers", units.layer_steps) as advance:
        _on_step(backend, advance)
        layers = fetch_layers(settings.cache, backend, shot, layout, lp)
    t_layers = time.perf_counter() - t_layers

    # 2. Composite (and harmonize) every frame, the encoder running on its own thread.
    t_frames = time.perf_counter()
    comp = Compositor(layers.plate, size, layers.sprites)
    enc = encoder_settings(ctx)
    video_pass = None
    if has_video_pass(shot, painter):
        from shotcraft.stages.video_pass import build_video_pass

        video_pass = build_video_pass(
            shot,
            motion,
            comp,
            layers.sprites,
            lp.plate_size,
            settings.cache,
            settings.device,
            painter,
            model_prompt(shot),
        )
    # temporal figures judge a model's frames; drawn frames follow the camera exactly
    painted = painter is not None or video_pass is not None
    coherence = Coherence(motion, size, lp.plate_size) if painted else None
    harmonizer = None
    segments = clip_segments(ctx, settings, motion)
    frames: Iterator[np.ndarray] | None = None
    if harmonized(ctx, backend) and painter is not None:
        harmonizer = Harmonizer(
            painter,
            settings.cache,
            comp,
            motion,
            lp.plate_size,
            painter.model.every,
            model_prompt(shot),
            shot.seed,
            preset.samples,
            preset.shutter,
        )
        frames = harmonizer.frames()
    if video_pass is not None:
        if frames is None:
            frames = drawn_frames(comp, motion, None, preset.samples, preset.shutter, rgb=True)
        frames = video_pass.frames(frames)
    with settings.reporter.task(f"{shot.id}: render", motion.frames) as advance:
        _on_step(backend, None)
        if frames is None:  # each frame on its own: segments side by side
            draw = drawer(comp, motion, preset.samples, preset.shutter)
            each_at = None if coherence is None else coherence.add_at
            seconds = draw_segments(
                draw, paths.clip, segments, size, shot.fps, enc, advance, each_at
            )
        else:  # something carries from frame to frame: in order, one segment after another
            each = None if coherence is None else coherence.add
            seconds = encode_segments(
                frames, paths.clip, segments, size, shot.fps, enc, advance, each
            )
    t_frames = time.perf_counter() - t_frames

    # 3. The report.
    return clip_report(
        ctx,
        backend,
        motion,
        estimate,
        layers.report,
        {"layers": t_layers, "frames": t_frames},
        backend.denoiser_calls
        - calls_before
        + (video_pass.own_denoiser_calls if video_pass is not None else 0),
        {
            "harmonize": None
            if harmonizer is None
            else {
                "every": "auto" if harmonizer.every is None else harmonizer.every,
                "key_frames": harmonizer.hits + harmonizer.misses,
                "from_cache": harmonizer.hits,
                "repainted": harmonizer.repainted,
            },
            "video_pass": None if video_pass is None else video_pass.report(),
            **({"coherence": coherence.report()} if coherence is not None else {}),
        },
        execution_report("local", [WORKER], segments, seconds, [WORKER] * len(segments)),
    )


WORKER = "main"  # the command's own process


def clip_report(
    ctx: ShotContext,
    backend: Backend,
    motion: MotionTrack,
    estimate: RenderEstimate,
    cache_report: dict[str, Any],
    seconds: dict[str, float],
    denoiser_calls: int,
    passes: dict[str, Any],
    execution: dict[str, Any],
) -> dict[str, Any]:
    """render.json (less what the runner adds): the same whoever made the frames."""
    shot, preset = ctx.shot, ctx.preset
    reused = (["plate"] if cache_report["plate"]["hit"] else []) + [
        f"sprite:{sid}" for sid, r in cache_report["sprites"].items() if r["hit"]
    ]
    return {
        "schema": RENDER_SCHEMA,
        "shot": shot.id,
        "shotcraft": __version__,
        "preset": preset.name,
        "backend": backend_id(shot, backend),
        "size": list(render_size(shot, preset)),
        "fps": shot.fps,
        "frames": motion.frames,
        "estimate_seconds": round(estimate.seconds, 3),
        "estimate": estimate.to_json(),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "cache": cache_report,
        "reused": reused,
        "denoiser_calls": denoiser_calls,
        "harmonize": None,
        "video_pass": None,
        **passes,
        "encoder": encoder_settings(ctx).describe(),
        **execution,
    }


def splittable(ctx: ShotContext, backend: Backend) -> bool:
    """Whether a shot's segments can be drawn apart: nothing carries from frame to frame (a
    video model's chunks), so any worker can start anywhere. A harmonized shot can: its key
    frames are painted first, and a segment carries corrections from the keys around it."""
    if ctx.shot.video is not None:
        return False
    if not isinstance(backend, ModelBackend):
        return True
    return not backend.has_video_pass


def harmonized(ctx: ShotContext, backend: Backend) -> bool:
    """Whether render repaints key frames (and carries their corrections)."""
    return bool(ctx.preset.harmonize) and isinstance(backend, ModelBackend)


def clip_segments(ctx: ShotContext, settings: Settings, motion: MotionTrack) -> tuple[Segment, ...]:
    return plan_segments(motion.frames, encoder_settings(ctx).gop, settings.segment_gops)


def execution_report(
    executor: str,
    workers: list[str],
    segments: tuple[Segment, ...],
    seconds: list[float],
    ran_on: list[str],
) -> dict[str, Any]:
    """Where the frames were made (render.json): the executor, its workers, each segment."""
    return {
        "executor": executor,
        "workers": sorted(set(workers)),
        "segments": [
            {"index": s.index, "frames": [s.start, s.end], "seconds": round(t, 3), "worker": w}
            for s, t, w in zip(segments, seconds, ran_on, strict=True)
        ],
    }


def backend_id(shot: Shot, backend: Backend) -> dict[str, Any]:
    """What of the backend a render depends on (part of its inputs)."""
    return {
        "name": backend.name,
        "version": backend.version,
        "model": dataclasses.asdict(shot.model) if shot.model else None,
    }


def model_prompt(shot: Any) -> str:
    """What a whole frame shows, for image-to-image and video passes."""
    return ", ".join(p for p in [shot.background.prompt, *(s.prompt for s in shot.subjects)] if p)


def _on_step(backend: Backend, advance: Advance | None) -> None:
    if isinstance(backend, ModelBackend):
        backend.on_step = None if advance is None else (lambda: advance(1))


def _make_escape(p: Path | str) -> str:
    return str(p).replace("$", "$$").replace(" ", "\\ ").replace("#", "\\#")


def write_depfile(ctx: ShotContext, path: Path) -> None:
    """clip.d: the clip depends on the shot file, its assets and its preset (make -include)."""
    deps = [ctx.shot.source, *assets_of(ctx.shot)]
    preset = find_preset(ctx.preset.name)
    deps.append(preset.resolve())
    target = _make_escape(ctx.paths.clip)
    lines = [f"{target}: " + " \\\n  ".join(_make_escape(d) for d in deps), ""]
    # An empty rule per prerequisite, so deleting one does not break make (like gcc -MP).
    lines += [f"{_make_escape(d)}:" for d in deps]
    write_bytes(path, ("\n".join(lines) + "\n").encode())
