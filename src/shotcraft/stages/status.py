"""status: which stages of a shot are up to date, which are stale and why."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from shotcraft.backends import get_backend
from shotcraft.layout.planner import plan
from shotcraft.motion.track import compute_motion
from shotcraft.stages.common import (
    Settings,
    load_context,
    refine_inputs,
    render_size,
    sketch_inputs,
)
from shotcraft.stages.estimate import render_estimate
from shotcraft.stages.layers import plan_layers
from shotcraft.stages.render import render_inputs


def shot_status(shot_file: Path, settings: Settings) -> dict[str, Any]:
    ctx = load_context(shot_file, settings)
    state = ctx.state
    backend = get_backend(ctx.shot.model, settings.device)
    backend_id = {
        "name": backend.name,
        "version": backend.version,
        "model": dataclasses.asdict(ctx.shot.model) if ctx.shot.model else None,
    }
    checks = {
        "sketch": sketch_inputs(ctx),
        "refine": refine_inputs(ctx, state.pick),
        "render": render_inputs(ctx, backend_id),
    }
    stages = {}
    for name, inputs in checks.items():
        why = state.why_stale(name, inputs)
        stages[name] = (
            "up to date" if why is None else ("missing" if why == "never run" else f"stale ({why})")
        )
    est = render_estimate(ctx, settings, measure_model=False)
    layout = plan(ctx.shot, state.pick)
    lp = plan_layers(
        backend,
        ctx.shot,
        layout,
        compute_motion(ctx.shot, layout),
        ctx.preset.scale,
        render_size(ctx.shot, ctx.preset)[1],
    )
    return {
        "shot": ctx.shot.id,
        "folder": str(ctx.paths.root),
        "pick": state.pick,
        "stages": stages,
        "estimate_seconds": round(est.seconds, 3),
        "layers": 1 + len(lp.sprite_specs),
        "layers_cached": est.layers_cached,
    }
