"""refine's artifacts: motion.json (every frame's transforms), a cheap animatic, control maps.

The runner (stages/pipeline.py) computes the motion once and hands it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shotcraft.backends.procedural import ProceduralBackend, subject_color
from shotcraft.draw.compositor import Compositor
from shotcraft.draw.storyboard import Animatic
from shotcraft.fsutil import atomic_path, write_json
from shotcraft.geometry import even_size
from shotcraft.layout.planner import Layout
from shotcraft.media.encode import EncoderSettings
from shotcraft.motion.io import motion_to_json
from shotcraft.motion.sample import frame_state
from shotcraft.motion.track import MotionTrack
from shotcraft.stages.common import Settings, ShotContext
from shotcraft.stages.frames import encode
from shotcraft.stages.layers import sprite_heights


def layout_path(ctx: ShotContext, pick: int) -> Path:
    return ctx.paths.layout if pick == 0 else ctx.paths.variant(pick) / "layout.json"


def write_motion(ctx: ShotContext, motion: MotionTrack | dict[str, Any]) -> Path:
    """motion.json, from the track or from its JSON form already made (`motion_to_json`)."""
    data = motion if isinstance(motion, dict) else motion_to_json(motion)
    write_json(ctx.paths.motion, data, compact=True)
    return ctx.paths.motion


def _small_size(ctx: ShotContext, scale: float) -> tuple[int, int]:
    return even_size(ctx.shot.size, scale, minimum=16)


def write_animatic(
    ctx: ShotContext, motion: MotionTrack, layout: Layout, settings: Settings
) -> Path:
    """animatic.mp4: every frame at animatic_scale, subjects as stand-ins (seconds)."""
    aspects = {s.id: s.aspect for s in layout.subjects}
    size = _small_size(ctx, ctx.preset.animatic_scale)
    plate = ProceduralBackend().plate(
        ctx.shot.background, even_size(size, ctx.shot.background.extent, minimum=0)
    )
    colors = {s.id: subject_color(s) for s in ctx.shot.subjects}  # as the sprites are drawn
    animatic = Animatic(plate, size, motion, aspects, colors)
    enc = EncoderSettings(crf=30, preset="ultrafast", gop=ctx.shot.fps)
    with settings.reporter.task(f"{ctx.shot.id}: animatic", motion.frames) as advance:
        frames = (animatic.frame(i) for i in range(motion.frames))
        # Small frames: drawing one is mostly Python, so a Python encoder thread beside it
        # waits for the GIL more than it works. Encoded where they are drawn instead, by
        # x264's own two frame threads (no GIL; a fixed count, so the same bytes on every
        # machine): the bench animatic (300 frames of 320x180) took 87 ms, against 99 with
        # an encoder thread and 107 with one x264 thread.
        small = size[0] * size[1] <= 640 * 360
        encode(
            frames,
            ctx.paths.animatic,
            size,
            ctx.shot.fps,
            enc,
            advance,
            threads=2 if small else 0,
            threaded=not small,
        )
    return ctx.paths.animatic


def write_controls(
    ctx: ShotContext, motion: MotionTrack, layout: Layout, settings: Settings
) -> int:
    """Per-frame depth (16-bit PNG: subjects by depth, 0 near .. 65535 far, the plate 65535)
    and instance masks (8-bit PNG: 0 background, k = the k-th subject of motion.json) at half
    the shot's size, from the subjects' silhouettes."""
    size = _small_size(ctx, 0.5)
    backend = ProceduralBackend()
    subjects = {s.id: s for s in ctx.shot.subjects}
    heights = sprite_heights(motion, size[1])
    sprites = {
        sid: backend.sprite(subjects[sid], layout.subject(sid), h) for sid, h in heights.items()
    }
    comp = Compositor(Image.new("RGB", (2, 2)), size, sprites)
    folder = ctx.paths.controls
    with settings.reporter.task(f"{ctx.shot.id}: controls", motion.frames) as advance:
        for i in range(motion.frames):
            depth = np.full((size[1], size[0]), 65535, dtype=np.uint16)
            mask = np.zeros((size[1], size[0]), dtype=np.uint8)
            st = frame_state(motion, i)
            for n, (s, track) in enumerate(zip(st.subjects, motion.subjects, strict=True), 1):
                placed = comp.place_sprite(s)
                if placed is None:
                    continue
                piece, (x0, y0) = placed
                inside = np.asarray(piece.getchannel("A")) >= 128
                ph, pw = inside.shape
                mask[y0 : y0 + ph, x0 : x0 + pw][inside] = n
                depth[y0 : y0 + ph, x0 : x0 + pw][inside] = round(track.depth * 65000)
            with atomic_path(folder / "depth" / f"{i:05d}.png") as tmp:
                Image.fromarray(depth).save(tmp, format="PNG")
            with atomic_path(folder / "mask" / f"{i:05d}.png") as tmp:
                Image.fromarray(mask).save(tmp, format="PNG")
            advance(1)
    return motion.frames
