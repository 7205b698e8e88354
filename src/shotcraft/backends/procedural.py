"""The built-in backend: numpy/Pillow drawing, no GPU, no weights. The reference for tests."""

from __future__ import annotations

from typing import Any

from PIL import Image

from shotcraft import __version__
from shotcraft.cache.keys import file_digest
from shotcraft.draw import procedural as draw
from shotcraft.draw.plate import Plate
from shotcraft.layout.planner import SubjectLayout, stable_hash
from shotcraft.spec.model import Background, Subject


def background_colors(bg: Background) -> tuple[tuple[int, int, int], ...]:
    return bg.colors or draw.palette_from_text(bg.prompt or "shotcraft")


def background_seed(bg: Background) -> int:
    if bg.seed is not None:
        return bg.seed
    return stable_hash(f"{bg.prompt}|{bg.colors}|{bg.style}|{bg.ridges}") % 2**32


def subject_color(subject: Subject) -> tuple[int, int, int]:
    if subject.color is not None:
        return subject.color
    import colorsys

    hue = (stable_hash(subject.id) % 360) / 360.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.6, 0.85)
    return (int(r * 255), int(g * 255), int(b * 255))


class ProceduralBackend:
    name = "procedural"
    version = __version__
    threads = 2  # pure functions of their arguments: a plate and sprites may be drawn at once
    denoiser_calls = 0  # draws, never denoises

    def plate_spec(self, background: Background, size: tuple[int, int]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "kind": "plate",
            "backend": self.name,
            "backend_version": self.version,
            "draw_version": draw.DRAW_VERSION,
            "size": list(size),
        }
        if background.image is not None:
            spec["image_sha256"] = file_digest(background.image)
            return spec
        spec.update(
            style=background.style,
            colors=[list(c) for c in background_colors(background)],
            seed=background_seed(background),
            ridges=background.ridges,
            sun=list(background.sun) if background.sun else None,
            haze=background.haze,
        )
        parallax = draw.plate_parallax(
            background.style, len(background_colors(background)), background.ridges
        )
        if parallax is not None:
            spec["parallax"] = parallax
        return spec

    def plate(self, background: Background, size: tuple[int, int]) -> Plate:
        if background.image is not None:
            return Plate.single(draw.plate_from_image(background.image, size))
        return draw.plate(
            size,
            background_colors(background),
            background.style,
            background_seed(background),
            background.ridges,
            background.sun,
            background.haze,
        )

    def sprite_spec(self, subject: Subject, sl: SubjectLayout, height: int) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "kind": "sprite",
            "backend": self.name,
            "backend_version": self.version,
            "draw_version": draw.DRAW_VERSION,
            "height": height,
        }
        if subject.image is not None:
            spec["image_sha256"] = file_digest(subject.image)
        else:
            spec.update(shape=sl.shape, color=list(subject_color(subject)), aspect=sl.aspect)
        return spec

    def sprite(self, subject: Subject, sl: SubjectLayout, height: int) -> Image.Image:
        if subject.image is not None:
            return draw.sprite_from_image(subject.image, height)
        return draw.sprite(sl.shape, subject_color(subject), height, sl.aspect)
