"""The render estimate from the shot alone: layout and motion are computed in memory (ms)."""

from __future__ import annotations

from shotcraft import cost
from shotcraft.backends import get_backend
from shotcraft.layout.planner import plan
from shotcraft.motion.track import compute_motion
from shotcraft.stages.common import Settings, ShotContext, render_size
from shotcraft.stages.layers import plan_layers


def render_estimate(
    ctx: ShotContext, settings: Settings, pick: int | None = None
) -> cost.RenderEstimate:
    shot, preset = ctx.shot, ctx.preset
    layout = plan(shot, ctx.state.pick if pick is None else pick)
    motion = compute_motion(shot, layout)
    size = render_size(shot, preset)
    backend = get_backend(shot.model, settings.device)
    lp = plan_layers(backend, shot, layout, motion, preset.scale, size[1])
    cache = settings.cache
    plate_cached = cache.contains(lp.plate_spec)
    sprites_cached = sum(cache.contains(s) for s in lp.sprite_specs.values())
    rates = cost.rates_for(cache.root, preset.encoder_preset, settings.reporter)
    return cost.estimate(
        rates,
        frames=shot.frames,
        size=size,
        samples=preset.samples,
        plate_size=None if plate_cached else lp.plate_size,
        sprites_to_make=len(lp.sprite_specs) - sprites_cached,
        layers_cached=int(plate_cached) + sprites_cached,
    )
