"""The render estimate from the shot alone: layout and motion are computed in memory (ms)."""

from __future__ import annotations

import dataclasses
from typing import Any

from shotcraft import cost
from shotcraft.backends import get_backend
from shotcraft.backends.base import ModelBackend
from shotcraft.layout.planner import plan
from shotcraft.motion.track import compute_motion
from shotcraft.stages.common import Settings, ShotContext, render_size
from shotcraft.stages.harmonize import key_frames
from shotcraft.stages.layers import plan_layers
from shotcraft.stages.video_pass import VIDEO_CHUNK


def render_estimate(
    ctx: ShotContext, settings: Settings, pick: int | None = None, measure_model: bool = True
) -> cost.RenderEstimate:
    """What rendering will cost. With `measure_model` False (sketch, status) a model that this
    device has not timed yet is not loaded: its denoiser time is left out and the estimate
    says so (torch is never imported by the cheap stages)."""
    shot, preset = ctx.shot, ctx.preset
    layout = plan(shot, ctx.state.pick if pick is None else pick)
    motion = compute_motion(shot, layout)
    size = render_size(shot, preset)
    backend = get_backend(
        shot.model, settings.device, download=settings.download, verbose=settings.verbose
    )
    lp = plan_layers(backend, shot, layout, motion, preset.scale, size[1])
    cache = settings.cache
    plate_cached = cache.contains(lp.plate_spec)
    sprites_cached = sum(cache.contains(s) for s in lp.sprite_specs.values())
    rates = cost.rates_for(cache.root, preset.encoder_preset, settings.reporter)
    base = cost.estimate(
        rates,
        frames=shot.frames,
        size=size,
        samples=preset.samples,
        plate_size=None if plate_cached else lp.plate_size,
        sprites_to_make=len(lp.sprite_specs) - sprites_cached,
        layers_cached=int(plate_cached) + sprites_cached,
    )
    if not isinstance(backend, ModelBackend):
        return base
    painter = backend
    model = backend.model
    # Denoiser work: layers still to paint, then harmonized key frames (assumed not cached:
    # their keys are the composites' digests, known only once the layers exist).
    if measure_model:
        mrates: dict[str, float] | None = cost.model_rates(cache.root, backend, settings.reporter)
    else:
        mrates = cost.known_model_rates(cache.root, backend)
    calls = denoiser_calls(painter, cache, lp, motion, preset.harmonize)
    if mrates is None:
        return dataclasses.replace(
            base,
            denoiser_calls=calls,
            note=f"the model's time is not included: run `shotcraft calibrate --model {model.id}`",
        )
    paint = 0.0
    todo = [(lp.plate_spec, lp.plate_size)] + [  # sprites are painted at least 64 px
        (spec, (max(64, round(h * layout.subject(sid).aspect)), max(64, h)))
        for sid, spec in lp.sprite_specs.items()
        for h in [lp.sprite_heights[sid]]
    ]
    for spec, px in todo:
        if spec.get("backend") == backend.name and not cache.contains(spec):
            paint += cost.denoise_seconds(
                mrates, painter.steps("t2i"), painter.paint_size(px), "t2i"
            )
    harmonize = 0.0
    if preset.harmonize:
        keys = len(key_frames(motion, model.every))
        steps = painter.harmonize_steps()
        harmonize = keys * cost.denoise_seconds(mrates, steps, painter.paint_size(size), "i2i")
    video = 0.0
    if model.motion_adapter:
        chunks = -(-shot.frames // VIDEO_CHUNK)
        steps = painter.harmonize_steps()
        # all frames of a chunk go through the denoiser together: one evaluation a step
        video = (
            chunks * steps * cost.denoise_seconds(mrates, 1, painter.paint_size(size)) * VIDEO_CHUNK
        )
    load = float(mrates.get("load_s", 0.0))  # importing torch/diffusers, loading weights
    if paint:
        load += float(mrates.get("warmup_t2i_s", 0.0))
    if harmonize:
        load += float(mrates.get("warmup_i2i_s", 0.0))
    return dataclasses.replace(
        base,
        seconds=base.seconds + load + paint + harmonize + video,
        denoiser_calls=calls,
        breakdown={
            **base.breakdown,
            "model_load": load,
            "painting": paint,
            "harmonize": harmonize,
            "video": video,
        },
    )


def paint_steps(backend: Any, cache: Any, lp: Any) -> int:
    """Denoiser steps the layers not yet in the cache will take (0 for drawn layers)."""
    if not isinstance(backend, ModelBackend):
        return 0
    todo = [lp.plate_spec, *lp.sprite_specs.values()]
    return sum(
        backend.steps("t2i")  # the family's default when the shot gives none
        for spec in todo
        if spec.get("backend") == backend.name and not cache.contains(spec)
    )


def denoiser_calls(painter: Any, cache: Any, lp: Any, motion: Any, harmonize: bool) -> int:
    """Denoiser evaluations a render will make: layers, harmonized key frames, video chunks."""
    model = painter.model
    calls = paint_steps(painter, cache, lp)
    if harmonize:
        calls += len(key_frames(motion, model.every)) * painter.harmonize_steps()
    if model.motion_adapter:
        calls += -(-motion.frames // VIDEO_CHUNK) * painter.harmonize_steps()
    return calls
