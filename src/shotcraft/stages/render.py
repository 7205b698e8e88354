"""render: paint the layers once (through the cache), composite every frame, encode the clip."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from shotcraft import __version__
from shotcraft.backends import get_backend
from shotcraft.backends.base import ModelBackend
from shotcraft.draw.compositor import Compositor, frames_in_order
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.errors import OverBudget
from shotcraft.fsutil import write_bytes, write_json
from shotcraft.layout.io import read_layout
from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.motion.io import read_motion
from shotcraft.project import Inputs, assets_of
from shotcraft.spec.load import find_preset
from shotcraft.stages.coherence import Coherence
from shotcraft.stages.common import (
    Settings,
    ShotContext,
    StageResult,
    refine_inputs,
    render_size,
)
from shotcraft.stages.estimate import paint_steps, render_estimate
from shotcraft.stages.harmonize import Harmonizer
from shotcraft.stages.layers import fetch_layers, plan_layers
from shotcraft.stages.refine import layout_path, refine
from shotcraft.stages.video_pass import VideoPass

RENDER_SCHEMA = "shotcraft.render/1"


def render_inputs(ctx: ShotContext, backend_id: dict[str, Any]) -> Inputs:
    return Inputs(
        {
            "stage": "render",
            "refine": refine_inputs(ctx, ctx.state.pick),
            "preset": dataclasses.asdict(ctx.preset),
            "backend": backend_id,
        }
    )


def encoder_settings(ctx: ShotContext) -> EncoderSettings:
    p = ctx.preset
    return EncoderSettings(
        crf=p.crf, preset=p.encoder_preset, gop=max(1, round(p.gop_seconds * ctx.shot.fps))
    )


def render(ctx: ShotContext, settings: Settings, budget: float | None = None) -> StageResult:
    t0 = time.perf_counter()
    shot, preset, paths = ctx.shot, ctx.preset, ctx.paths
    # 1. Check inputs: the backend must be usable before anything else happens.
    backend = get_backend(
        shot.model, settings.device, download=settings.download, verbose=settings.verbose
    )
    t_backend = time.perf_counter() - t0
    backend_id = {
        "name": backend.name,
        "version": backend.version,
        "model": dataclasses.asdict(shot.model) if shot.model else None,
    }
    inputs = render_inputs(ctx, backend_id)
    state = ctx.state
    up_to_date = state.is_current("render", inputs) and not settings.force

    # 2. Estimate, and refuse before any work when over budget.
    if up_to_date:
        refine(ctx, settings.upstream())  # an upstream file may be missing
        return StageResult("render", shot.id, False, (str(paths.clip),), time.perf_counter() - t0)
    estimate = render_estimate(ctx, settings)
    if budget is not None and estimate.seconds > budget:
        raise OverBudget(
            f"{shot.id}: the render is estimated at {estimate.seconds:.1f}s, over the budget "
            f"of {budget:g}s ({estimate.frames} frames at {estimate.megapixels:.2f} MP, "
            f"{estimate.layers_to_make} layers to make); raise --budget or use a cheaper preset"
        )

    # 3. Upstream stages, then read what they wrote.
    t_up = time.perf_counter()
    refine(ctx, settings.upstream())
    t_up = time.perf_counter() - t_up
    t_own = time.perf_counter()
    layout = read_layout(layout_path(ctx, ctx.state.pick))
    motion = read_motion(paths.motion)
    size = render_size(shot, preset)

    # 4. Layers through the cache: hash, look up, make on a miss.
    t_layers = time.perf_counter()
    lp = plan_layers(backend, shot, layout, motion, preset.scale, size[1])
    calls_before = backend.denoiser_calls
    painting = paint_steps(backend, settings.cache, lp)
    with settings.reporter.task(f"{shot.id}: painting layers", painting) as advance:
        _on_step(backend, advance)
        layers = fetch_layers(settings.cache, backend, shot, layout, lp)
    t_layers = time.perf_counter() - t_layers

    # 5. Composite (and harmonize) every frame, the encoder running on its own thread.
    t_frames = time.perf_counter()
    comp = Compositor(layers.plate, size, layers.sprites)
    enc = encoder_settings(ctx)
    # temporal figures judge a model's frames; drawn frames follow the camera exactly
    coherence = Coherence(motion, size, lp.plate_size) if shot.model is not None else None
    harmonizer = None
    painter = backend if isinstance(backend, ModelBackend) else None
    if preset.harmonize and painter is not None:
        prompt = model_prompt(shot)
        harmonizer = Harmonizer(
            painter,
            settings.cache,
            comp,
            motion,
            lp.plate_size,
            painter.model.every,
            prompt,
            shot.seed,
            preset.samples,
            preset.shutter,
        )
        frames = harmonizer.frames()
    else:
        needs_rgb = shot.model is not None and bool(shot.model.motion_adapter)  # video pass
        draw = _drawer(comp, motion, preset.samples, preset.shutter, needs_rgb)
        frames = frames_in_order(draw, motion.frames, workers=min(2, os.cpu_count() or 1))
    video_pass = None
    if painter is not None and painter.has_video_pass:
        video_pass = VideoPass(painter, settings.cache, model_prompt(shot), shot.seed)
        frames = video_pass.frames(frames)
    with (
        settings.reporter.task(f"{shot.id}: render", motion.frames) as advance,
        VideoWriter(paths.clip, size, shot.fps, enc) as writer,
    ):
        _on_step(backend, None)
        for frame in frames:
            writer.write(frame)
            if coherence is not None:
                coherence.add(frame)
            advance(1)
    t_frames = time.perf_counter() - t_frames

    # 6. Reports: render.json, the make depfile, state.json.
    # what the estimate covers: the backend's start-up and this stage's own work
    actual = t_backend + time.perf_counter() - t_own
    cache_report = layers.report
    reused = (["plate"] if cache_report["plate"]["hit"] else []) + [
        f"sprite:{sid}" for sid, r in cache_report["sprites"].items() if r["hit"]
    ]
    report = {
        "schema": RENDER_SCHEMA,
        "shot": shot.id,
        "shotcraft": __version__,
        "preset": preset.name,
        "backend": backend_id,
        "size": list(size),
        "fps": shot.fps,
        "frames": motion.frames,
        "estimate_seconds": round(estimate.seconds, 3),
        "actual_seconds": round(actual, 3),
        "estimate": estimate.to_json(),
        "seconds": {
            "backend": round(t_backend, 3),
            "upstream": round(t_up, 3),
            "layers": round(t_layers, 3),
            "frames": round(t_frames, 3),
        },
        "cache": cache_report,
        "reused": reused,
        "denoiser_calls": backend.denoiser_calls - calls_before,
        "harmonize": None
        if harmonizer is None
        else {
            "every": "auto" if harmonizer.every is None else harmonizer.every,
            "key_frames": harmonizer.hits + harmonizer.misses,
            "from_cache": harmonizer.hits,
            "repainted": harmonizer.repainted,
        },
        "video_pass": None
        if video_pass is None
        else {
            "chunks": video_pass.chunks,
            "repainted": video_pass.repainted,
        },
        **({"coherence": coherence.report()} if coherence is not None else {}),
        "encoder": enc.describe(),
    }
    write_json(paths.render_json, report)
    write_depfile(ctx, paths.depfile)
    state.record("render", inputs, [paths.clip, paths.render_json])
    return StageResult(
        "render",
        shot.id,
        True,
        (str(paths.clip), str(paths.render_json)),
        actual,
        {"frames": motion.frames, "reused": reused, "estimate_seconds": report["estimate_seconds"]},
    )


def _drawer(
    comp: Compositor, motion: Any, samples: int, shutter: float, rgb: bool
) -> Callable[[int], Any]:
    """How to draw frame i: straight into the encoder's YUV 4:2:0 when nothing downstream
    needs RGB and there is no motion blur to average; RGB otherwise."""
    if samples == 1 and not rgb:
        return partial(YuvCompositor(comp).frame_at, motion)
    return partial(comp.frame_array, motion, samples=samples, shutter=shutter)


def model_prompt(shot: Any) -> str:
    """What a whole frame shows, for image-to-image and video passes."""
    return ", ".join(p for p in [shot.background.prompt, *(s.prompt for s in shot.subjects)] if p)


def _on_step(backend: Any, advance: Any) -> None:
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
