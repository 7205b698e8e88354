"""The render estimate: the work a render will do, counted once, then priced by `cost`.

`work_units` counts frames to composite and encode, layers to make and every model call (at
its paint size, with its real denoiser steps); the render stage reads the same units for its
progress, and `cost` turns them into seconds with this machine's rates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shotcraft import cost
from shotcraft.backends.base import Backend, ModelBackend
from shotcraft.cache import Cache
from shotcraft.errors import BackendUnavailable
from shotcraft.motion.track import MotionTrack
from shotcraft.stages.common import Settings, ShotContext, has_video_pass, render_size
from shotcraft.stages.harmonize import key_frames
from shotcraft.stages.layers import LayerPlan


@dataclass(frozen=True, slots=True)
class WorkUnits:
    frames: int
    size: tuple[int, int]
    samples: int
    plate_to_make: tuple[int, int] | None  # None: the plate is in the cache
    sprites_to_make: int
    layers_cached: int
    paints: tuple[cost.ModelCall, ...]  # model calls, layers first
    layer_steps: int  # denoiser evaluations of the layers still to paint (a progress total)
    painted: tuple[tuple[int, int], ...] = ()  # sizes of the layers a model paints (resized,
    # keyed and stored as PNG: not drawn, so not in plate_to_make or sprites_to_make)
    keyed: tuple[tuple[int, int], ...] = ()  # paint sizes of the sprites keyed by colour

    @property
    def denoiser_calls(self) -> int:
        return sum(p.evaluations for p in self.paints)


def work_units(
    ctx: ShotContext,
    backend: Backend,
    lp: LayerPlan,
    motion: MotionTrack,
    cache: Cache,
    chunk_keys: Sequence[str] = (),
) -> WorkUnits:
    """`chunk_keys`: the video pass's chunk cache keys, in order, where a render of these very
    inputs wrote them (render.json): the chunks still in the cache are not painted again."""
    shot, preset = ctx.shot, ctx.preset
    size = render_size(shot, preset)
    plate_cached = cache.contains(lp.plate_spec)
    sprites_cached = sum(cache.contains(s) for s in lp.sprite_specs.values())
    paints: list[cost.ModelCall] = []
    painted: list[tuple[str, tuple[int, int]]] = []
    keyed: list[tuple[int, int]] = []
    if isinstance(backend, ModelBackend):
        model = backend.model
        # sprites are painted at least 64 px (see the backend's sprite())
        layers = [("plate", lp.plate_spec, lp.plate_size)] + [
            (f"sprite:{sid}", spec, (max(64, round(h * lp.sprite_aspects[sid])), max(64, h)))
            for sid, spec in lp.sprite_specs.items()
            for h in [lp.sprite_heights[sid]]
        ]
        for what, spec, px in layers:
            if spec.get("backend") == backend.name and not cache.contains(spec):
                paints.append(
                    cost.ModelCall(what, "t2i", backend.paint_size(px), backend.steps("t2i"))
                )
                painted.append((what, px))
                if what != "plate" and not model.matting:  # a matting model is not priced
                    keyed.append(backend.paint_size(px))
        if preset.harmonize:
            # assumed not cached: their keys are the composites' digests, known only later
            keys = len(key_frames(motion, model.every))
            paints.append(
                cost.ModelCall(
                    "harmonize", "i2i", backend.paint_size(size), backend.harmonize_steps(), keys
                )
            )
    video = None
    if has_video_pass(shot, backend):
        from shotcraft.stages.video_pass import video_work

        video = video_work(shot, motion.frames, size, backend)
    if video is not None:
        # all frames of a chunk go through the denoiser together: one evaluation a step
        per_chunk = max(1, video.denoiser_calls // max(1, video.chunks))
        if video.family == "animatediff":  # on the image model: its rates price it
            paints.append(
                cost.ModelCall(
                    "video",
                    "v2v",
                    backend.paint_size(size) if isinstance(backend, ModelBackend) else size,
                    per_chunk,
                    video.chunks,
                    frames=max(f for _, _, f in video.sizes),
                )
            )
        else:  # a video model of its own, priced by its rates (cost_video), one call a shape
            known = list(chunk_keys) if len(chunk_keys) == video.chunks else []
            sizes = [
                s
                for c, s in enumerate(video.sizes)
                if not known or not cache.contains_key(known[c])
            ]
            for (w, h, f), n in Counter(sizes).items():
                paints.append(
                    cost.ModelCall(
                        "video", "video-model", (w, h), per_chunk, n, f, video.references
                    )
                )
    plate_painted = any(what == "plate" for what, _ in painted)
    return WorkUnits(
        frames=motion.frames,
        size=size,
        samples=preset.samples,
        plate_to_make=None if plate_cached or plate_painted else lp.plate_size,
        sprites_to_make=len(lp.sprite_specs) - sprites_cached - (len(painted) - plate_painted),
        layers_cached=int(plate_cached) + sprites_cached,
        paints=tuple(paints),
        layer_steps=sum(p.evaluations for p in paints if p.kind == "t2i"),
        painted=tuple(px for _, px in painted),
        keyed=tuple(keyed),
    )


def render_estimate(
    ctx: ShotContext,
    settings: Settings,
    backend: Backend,
    lp: LayerPlan,
    motion: MotionTrack,
    measure_model: bool = True,
    chunk_keys: Sequence[str] = (),
) -> cost.RenderEstimate:
    """What rendering will cost, with its range. With `measure_model` (render) the model is
    timed first at the sizes this render paints where this machine has not timed them yet.
    Without it (sketch, status) nothing is loaded and torch is not imported: a model never
    timed here is priced from its config files, marked rough, with its wider error bar."""
    cache = settings.cache
    units = work_units(ctx, backend, lp, motion, cache, chunk_keys)
    rates = cost.rates_for(cache.root, ctx.preset.encoder_preset, settings.reporter)
    base = cost.estimate(
        rates,
        frames=units.frames,
        size=units.size,
        samples=units.samples,
        plate_size=units.plate_to_make,
        sprites_to_make=units.sprites_to_make,
        layers_cached=units.layers_cached,
        painted=units.painted,
        keyed=units.keyed,
    )
    est = _with_image_model(base, units, settings, backend, measure_model)
    video_calls = tuple(c for c in units.paints if c.kind == "video-model")
    if video_calls:
        est = _with_video_model(est, ctx, settings, video_calls)
    return est


def _with_image_model(
    base: cost.RenderEstimate,
    units: WorkUnits,
    settings: Settings,
    backend: Backend,
    measure_model: bool,
) -> cost.RenderEstimate:
    if not isinstance(backend, ModelBackend):
        if not units.paints:
            return base
        return cost.with_model(base, None, units.paints, None, loaded=False)
    cache = settings.cache
    record: dict[str, Any] | None
    priced = tuple(c for c in units.paints if c.kind != "video-model")
    if measure_model and priced:
        record = cost.model_rates(cache.root, backend, settings.reporter, priced)
    else:
        record = cost.known_model_rates(cache.root, backend)
        if record is None:
            from shotcraft import cost_config

            record = cost_config.rough_rates(backend)
    return cost.with_model(base, record, units.paints, backend.model.id, loaded=backend.loaded)


def _with_video_model(
    base: cost.RenderEstimate,
    ctx: ShotContext,
    settings: Settings,
    calls: tuple[cost.ModelCall, ...],
) -> cost.RenderEstimate:
    """The shot's [video] model priced at the rates this machine measured (the chunks of
    earlier renders, or `shotcraft calibrate --model`), else rough from its config files. A
    render does not time a video model first: a chunk can take minutes, so the render's own
    chunks time it (`cost_video.learn`), at the shapes it paints."""
    from shotcraft import cost_video
    from shotcraft.backends.video_base import video_backend

    shot = ctx.shot
    assert shot.video is not None  # "video-model" calls come from a [video] table
    try:
        vb = video_backend(shot.video, settings.device)
    except BackendUnavailable:  # the render says why when it builds the pass
        return cost_video.with_video(base, None, calls, shot.video.model, loaded=False)
    from shotcraft.stages.video_pass import video_prompt

    vs = vb.settings(shot.video, shot.fps, video_prompt(shot))
    record = cost_video.known_rates(settings.cache.root, vb, vs)
    if record is None:
        from shotcraft import cost_config

        record = cost_config.rough_video_rates(vb, vs, calls)
    return cost_video.with_video(base, record, calls, vb.model, loaded=vb.loaded)
