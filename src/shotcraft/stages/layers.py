"""Plates and sprites through the cache: hash the spec, look up, make on a miss."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from shotcraft.backends.base import Backend
from shotcraft.cache import Cache
from shotcraft.draw.images import open_png, pillow_png
from shotcraft.draw.plate import Plate
from shotcraft.geometry import even_size
from shotcraft.layout.planner import Layout, SubjectLayout
from shotcraft.motion.track import MotionTrack
from shotcraft.spec.model import Shot, Subject

SPRITE_BUCKET = 8  # sprite heights are rounded up to this, so nearby sizes share an entry


def to_png(img: Image.Image) -> bytes:
    """A painted or drawn layer as a cache entry (`draw.images.pillow_png`)."""
    return pillow_png(img)


def from_png(data: bytes) -> Image.Image:
    return open_png(data)


def scaled_plate_size(layout: Layout, scale: float) -> tuple[int, int]:
    return even_size(layout.plate_size, scale)


def sprite_heights(motion: MotionTrack, frame_height: int) -> dict[str, int]:
    """The tallest each subject gets on screen, in pixels: sprites are only ever shrunk."""
    out = {}
    for s in motion.subjects:
        px = float(s.height.max()) * frame_height if len(s.height) else 8.0
        px = min(max(px, 8.0), 4.0 * frame_height)
        out[s.id] = int(math.ceil(px / SPRITE_BUCKET) * SPRITE_BUCKET)
    return out


@dataclass(frozen=True, slots=True)
class LayerPlan:
    plate_size: tuple[int, int]
    plate_spec: dict[str, Any]
    sprite_specs: dict[str, dict[str, Any]]
    sprite_heights: dict[str, int]
    sprite_aspects: dict[str, float]  # width over height, from the layout


def plan_layers(
    backend: Backend,
    shot: Shot,
    layout: Layout,
    motion: MotionTrack,
    scale: float,
    frame_height: int,
) -> LayerPlan:
    psize = scaled_plate_size(layout, scale)
    heights = sprite_heights(motion, frame_height)
    subjects = {s.id: s for s in shot.subjects}
    specs = {
        sid: backend.sprite_spec(subjects[sid], layout.subject(sid), h)
        for sid, h in heights.items()
    }
    aspects = {sid: layout.subject(sid).aspect for sid in heights}
    return LayerPlan(psize, backend.plate_spec(shot.background, psize), specs, heights, aspects)


@dataclass(frozen=True, slots=True)
class Layers:
    plate: Plate
    sprites: dict[str, Image.Image]
    report: dict[str, Any]  # per layer: key, hit, seconds


def fetch_layers(
    cache: Cache, backend: Backend, shot: Shot, layout: Layout, plan: LayerPlan
) -> Layers:
    """The plate and every sprite from the cache, made where missing. A backend that can
    make two layers at once (`threads`) gets the sprites made on a second thread while the
    plate is made on this one: drawing and PNG coding release the GIL."""
    producer = f"{backend.name} {backend.version}"
    parallax = plan.plate_spec.get("parallax")
    subjects = {s.id: s for s in shot.subjects}

    def fetch_plate() -> tuple[Plate, dict[str, Any]]:
        made: list[Plate] = []  # a plate made here is used as made, not decoded back

        def make_plate() -> bytes:
            made.append(backend.plate(shot.background, plan.plate_size))
            return made[0].to_png()

        got = cache.get_or_make(plan.plate_spec, make_plate, producer)
        plate = made[0].as_stored(parallax) if made else Plate.from_png(got.data, parallax)
        return plate, {"key": got.key, "hit": got.hit, "seconds": round(got.seconds, 4)}

    def fetch_sprites() -> dict[str, tuple[Image.Image, dict[str, Any]]]:
        out = {}
        for sid, spec in plan.sprite_specs.items():
            subject, sl, h = subjects[sid], layout.subject(sid), plan.sprite_heights[sid]
            sprite: list[Image.Image] = []
            g = cache.get_or_make(spec, _sprite_maker(backend, subject, sl, h, sprite), producer)
            image = (sprite[0] if sprite else from_png(g.data)).convert("RGBA")
            out[sid] = image, {"key": g.key, "hit": g.hit, "seconds": round(g.seconds, 4)}
        return out

    if backend.threads > 1 and plan.sprite_specs:
        with ThreadPoolExecutor(1, thread_name_prefix="shotcraft-layers") as pool:
            sprites_later = pool.submit(fetch_sprites)
            plate, plate_report = fetch_plate()
            sprites = sprites_later.result()
    else:
        plate, plate_report = fetch_plate()
        sprites = fetch_sprites()
    report = {"plate": plate_report, "sprites": {sid: r for sid, (_, r) in sprites.items()}}
    return Layers(plate, {sid: image for sid, (image, _) in sprites.items()}, report)


def _sprite_maker(
    backend: Backend, subject: Subject, sl: SubjectLayout, h: int, made: list[Image.Image]
) -> Callable[[], bytes]:
    def make() -> bytes:
        made.append(backend.sprite(subject, sl, h))
        return to_png(made[0])

    return make
