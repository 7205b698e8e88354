"""sketch's artifacts: layout.json (the plan), storyboard.png and variants/.

The runner (stages/pipeline.py) decides what is stale and hands the layout, its motion and
the estimate in; nothing here plans or computes motion itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shotcraft.backends.procedural import ProceduralBackend, subject_color
from shotcraft.draw.images import png_bytes
from shotcraft.draw.plate import Plate
from shotcraft.draw.storyboard import contact_sheet, key_times, storyboard
from shotcraft.fsutil import atomic_path, write_json
from shotcraft.layout.io import layout_to_json
from shotcraft.layout.planner import Layout
from shotcraft.motion.track import MotionTrack, framing_warnings
from shotcraft.stages.common import Settings, ShotContext

PANEL_WIDTH = 320


def _save_png(img: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes([np.asarray(img.convert("RGB"))], level=6))


def _storyboard_plate(ctx: ShotContext, layout: Layout, settings: Settings) -> Plate:
    """The plate at storyboard size: cheap procedural drawing (or the user's picture), or,
    when the preset asks for `storyboard_steps` and the shot has a model, a quick painting
    (with the process's one copy of the model)."""
    k = PANEL_WIDTH / ctx.shot.size[0]
    pw, ph = layout.plate_size
    size = (max(2, round(pw * k)), max(2, round(ph * k)))
    model, steps = ctx.shot.model, ctx.preset.storyboard_steps
    if model is None or steps <= 0 or ctx.shot.background.image is not None:
        return ProceduralBackend().plate(ctx.shot.background, size)
    backend = settings.backends.get(dataclasses.replace(model, steps=steps), settings.device)
    got = settings.cache.get_or_make(
        backend.plate_spec(ctx.shot.background, size),
        lambda: backend.plate(ctx.shot.background, size).to_png(),
        f"{backend.name} {backend.version}",
    )
    return Plate.from_png(got.data)


def write_layout(
    ctx: ShotContext,
    layout: Layout,
    motion: MotionTrack,
    folder: Path,
    estimate: dict[str, Any],
) -> tuple[Path, list[str]]:
    """layout.json, with the estimate and the framing warnings."""
    warnings = framing_warnings(ctx.shot, motion)
    path = folder / "layout.json"
    write_json(path, layout_to_json(layout, ctx.shot, estimate, warnings))
    return path, warnings


def write_storyboard(
    ctx: ShotContext,
    layout: Layout,
    motion: MotionTrack,
    folder: Path,
    title: str,
    settings: Settings,
) -> tuple[Path, Image.Image]:
    """storyboard.png: the key frames side by side, subjects as stand-ins in their colours."""
    shot = ctx.shot
    times = key_times(
        [k.t for s in shot.subjects for k in s.keys] + [k.t for k in shot.camera.keys],
        shot.duration,
    )
    aspects = {s.id: s.aspect for s in layout.subjects}
    colors = {s.id: subject_color(s) for s in shot.subjects}  # as the sprites are drawn
    plate = _storyboard_plate(ctx, layout, settings)
    board = storyboard(plate, motion, times, aspects, colors, PANEL_WIDTH, title=title)
    path = folder / "storyboard.png"
    _save_png(board, path)
    return path, board


def write_contact_sheet(boards: list[Image.Image], path: Path) -> Path:
    _save_png(contact_sheet(boards, [f"variant {k}" for k in range(1, len(boards) + 1)]), path)
    return path
