"""The interface every backend offers to the render stage."""

from __future__ import annotations

from typing import Any, Protocol

from PIL import Image

from shotcraft.draw.plate import Plate
from shotcraft.layout.planner import SubjectLayout
from shotcraft.spec.model import Background, Subject


class Backend(Protocol):
    name: str
    version: str
    denoiser_calls: int

    def plate_spec(self, background: Background, size: tuple[int, int]) -> dict[str, Any]:
        """The cache key spec of a plate: everything that changes its pixels."""
        ...

    def plate(self, background: Background, size: tuple[int, int]) -> Plate:
        """The plate's layers, far to near, each with its parallax."""
        ...

    def sprite_spec(self, subject: Subject, sl: SubjectLayout, height: int) -> dict[str, Any]: ...

    def sprite(self, subject: Subject, sl: SubjectLayout, height: int) -> Image.Image:
        """An RGBA sprite `height` pixels tall, facing right."""
        ...
