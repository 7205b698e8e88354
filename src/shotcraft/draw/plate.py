"""A background plate as layers at several depths, each moving with its own parallax.

The procedural backend paints a sky and one layer per ridge; a model's plate or the user's
picture is a single layer. In the cache a plate is one PNG: a single layer as RGB, several as
an RGBA strip with the layers stacked top to bottom (far first); the parallax of each layer
is part of the cache key spec, so the PNG alone never has to say.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True, slots=True)
class PlateLayer:
    image: Image.Image  # "RGB" (opaque) or "RGBA" (straight alpha)
    parallax: float = 1.0  # how far it moves for a camera pan, relative to the camera


@dataclass(frozen=True, slots=True)
class Plate:
    layers: tuple[PlateLayer, ...]  # far to near; the first is opaque

    @classmethod
    def single(cls, image: Image.Image) -> Plate:
        return cls((PlateLayer(image.convert("RGB"), 1.0),))

    @property
    def size(self) -> tuple[int, int]:
        return self.layers[0].image.size

    @property
    def parallax(self) -> list[float]:
        return [layer.parallax for layer in self.layers]

    def flat(self) -> Image.Image:
        """The layers composited as seen by a camera at rest."""
        out = self.layers[0].image.convert("RGB")
        for layer in self.layers[1:]:
            out.paste(layer.image.convert("RGB"), (0, 0), layer.image.getchannel("A"))
        return out

    def to_png(self) -> bytes:
        if len(self.layers) == 1:
            strip = self.layers[0].image.convert("RGB")
        else:
            w, h = self.size
            strip = Image.new("RGBA", (w, h * len(self.layers)))
            for k, layer in enumerate(self.layers):
                strip.paste(layer.image.convert("RGBA"), (0, k * h))
        buf = io.BytesIO()
        strip.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    @classmethod
    def from_png(cls, data: bytes, parallax: Sequence[float] | None = None) -> Plate:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if not parallax or len(parallax) == 1:
                return cls((PlateLayer(im.convert("RGB"), parallax[0] if parallax else 1.0),))
            n = len(parallax)
            w, h = im.width, im.height // n
            if im.height != h * n:
                raise ValueError(f"plate strip of height {im.height} is not {n} layers")
            rgba = im.convert("RGBA")
        layers = []
        for k, p in enumerate(parallax):
            part = rgba.crop((0, k * h, w, (k + 1) * h))
            layers.append(PlateLayer(part.convert("RGB") if k == 0 else part, float(p)))
        return cls(tuple(layers))
