"""sketch: plan where everything is (layout.json), draw the storyboard, offer variants."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from PIL import Image

from shotcraft.backends import get_backend
from shotcraft.backends.procedural import ProceduralBackend, subject_color
from shotcraft.draw.plate import Plate
from shotcraft.draw.storyboard import contact_sheet, key_times, storyboard
from shotcraft.fsutil import atomic_path, write_json
from shotcraft.layout.io import layout_to_json
from shotcraft.layout.planner import Layout, plan
from shotcraft.motion.track import compute_motion, framing_warnings
from shotcraft.stages.common import (
    Settings,
    ShotContext,
    StageResult,
    sketch_inputs,
    variants_inputs,
)
from shotcraft.stages.estimate import render_estimate

PANEL_WIDTH = 320


def _save_png(img: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", compress_level=3)


def _storyboard_plate(ctx: ShotContext, layout: Layout, settings: Settings) -> Plate:
    """The plate at storyboard size: cheap procedural drawing (or the user's picture), or,
    when the preset asks for `storyboard_steps` and the shot has a model, a quick painting."""
    k = PANEL_WIDTH / ctx.shot.size[0]
    pw, ph = layout.plate_size
    size = (max(2, round(pw * k)), max(2, round(ph * k)))
    model, steps = ctx.shot.model, ctx.preset.storyboard_steps
    if model is None or steps <= 0 or ctx.shot.background.image is not None:
        return ProceduralBackend().plate(ctx.shot.background, size)
    backend = get_backend(dataclasses.replace(model, steps=steps), settings.device)
    got = settings.cache.get_or_make(
        backend.plate_spec(ctx.shot.background, size),
        lambda: backend.plate(ctx.shot.background, size).to_png(),
        f"{backend.name} {backend.version}",
    )
    return Plate.from_png(got.data)


def _write_layout(
    ctx: ShotContext,
    layout: Layout,
    folder: Path,
    estimate: dict[str, Any],
    title: str,
    settings: Settings,
) -> tuple[list[Path], list[str], Image.Image]:
    shot = ctx.shot
    motion = compute_motion(shot, layout)
    warnings = framing_warnings(shot, motion)
    times = key_times(
        [k.t for s in shot.subjects for k in s.keys] + [k.t for k in shot.camera.keys],
        shot.duration,
    )
    aspects = {s.id: s.aspect for s in layout.subjects}
    colors = {s.id: subject_color(s) for s in shot.subjects}  # as the sprites are drawn
    plate = _storyboard_plate(ctx, layout, settings)
    board = storyboard(plate, motion, times, aspects, colors, PANEL_WIDTH, title=title)
    layout_path, board_path = folder / "layout.json", folder / "storyboard.png"
    write_json(layout_path, layout_to_json(layout, shot, estimate, warnings))
    _save_png(board, board_path)
    return [layout_path, board_path], warnings, board


def sketch(ctx: ShotContext, settings: Settings, variants: int = 0) -> StageResult:
    t0 = time.perf_counter()
    paths, state = ctx.paths, ctx.state
    inputs = sketch_inputs(ctx)
    base_current = state.is_current("sketch", inputs) and not settings.force
    v_inputs = variants_inputs(ctx, variants)
    have_variants = state.stage("variants")
    variants_current = variants == 0 or (
        have_variants.get("inputs") == v_inputs
        and all((paths.root / p).exists() for p in have_variants.get("outputs", []))
        and not settings.force
    )
    if base_current and variants_current:
        return StageResult(
            "sketch", ctx.shot.id, False, (str(paths.layout),), time.perf_counter() - t0
        )

    outputs: list[Path] = []
    warnings: list[str] = []
    est = render_estimate(ctx, settings, measure_model=False).to_json()
    if not base_current:
        layout = plan(ctx.shot, 0)
        written, warnings, _ = _write_layout(ctx, layout, paths.root, est, ctx.shot.id, settings)
        state.record("sketch", inputs, written)
        outputs += written
        for w in warnings:
            settings.reporter.warn(f"{ctx.shot.id}: {w}")
    if variants and not variants_current:
        boards, vouts = [], []
        for k in range(1, variants + 1):
            vlayout = plan(ctx.shot, k)
            written, _, board = _write_layout(
                ctx, vlayout, paths.variant(k), est, f"{ctx.shot.id} variant {k}", settings
            )
            boards.append(board)
            vouts += written
        sheet = paths.variants / "sheet.png"
        _save_png(contact_sheet(boards, [f"variant {k}" for k in range(1, variants + 1)]), sheet)
        vouts.append(sheet)
        state.record("variants", v_inputs, vouts, count=variants)
        outputs += vouts
    return StageResult(
        "sketch",
        ctx.shot.id,
        True,
        tuple(str(p) for p in outputs),
        time.perf_counter() - t0,
        {"estimate": est, "warnings": warnings, "variants": variants},
    )
