"""A background plate as layers at several depths, each moving with its own parallax.

The procedural backend paints a sky and one layer per ridge; a model's plate or the user's
picture is a single layer. In the cache a plate is one PNG: a single layer as RGB, several as
an RGBA strip with the layers stacked top to bottom (far first). A ridge is transparent above
its crest, so each layer is stored from its first visible row down; a text chunk gives those
rows. The parallax of each layer is part of the cache key spec, so the PNG never has to say.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shotcraft.draw.images import open_png, pillow_png, png_bytes

ROWS_CHUNK = "shotcraft-rows"  # where each stored layer starts in its full-height image


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
        """One layer (a painted plate, a picture): Pillow's filtered rows, a third smaller
        for such pictures. A strip of drawn layers: unfiltered (`png_bytes`), as small for
        shaded skies and ridges and 2.3x faster to write."""
        if len(self.layers) == 1:
            return pillow_png(_mode(self.layers[0].image, "RGB"))
        h = self.size[1]
        parts = [_mode(layer.image, "RGBA") for layer in self.layers]
        tops = [0] + [_first_row(part) for part in parts[1:]]
        rows = [np.asarray(part)[top:] for part, top in zip(parts, tops, strict=True)]
        return png_bytes(rows, {ROWS_CHUNK: json.dumps({"height": h, "tops": tops})})

    def as_stored(self, parallax: Sequence[float] | None = None) -> Plate:
        """This plate as `from_png(self.to_png(), parallax)` gives it back, without the PNG
        round trip (a plate just made is used as the cache will hand it to the next
        render): the sky as RGB, every other layer RGBA and wholly transparent above its
        first visible row."""
        if not parallax or len(parallax) == 1:
            p = parallax[0] if parallax else 1.0
            return Plate((PlateLayer(self.layers[0].image.convert("RGB"), p),))
        layers = []
        for k, (layer, p) in enumerate(zip(self.layers, parallax, strict=True)):
            part = layer.image.convert("RGBA")
            if k:
                part = _below(part.crop((0, _first_row(part), *part.size)), part.height)
            layers.append(PlateLayer(part.convert("RGB") if k == 0 else part, float(p)))
        return Plate(tuple(layers))

    @classmethod
    def from_png(cls, data: bytes, parallax: Sequence[float] | None = None) -> Plate:
        with open_png(data) as im:
            if not parallax or len(parallax) == 1:
                return cls((PlateLayer(im.convert("RGB"), parallax[0] if parallax else 1.0),))
            n = len(parallax)
            w = im.width
            rows = json.loads(im.info.get(ROWS_CHUNK, "null")) or {
                "height": im.height // n,
                "tops": [0] * n,  # a strip of whole layers
            }
            h, tops = int(rows["height"]), [int(t) for t in rows["tops"]]
            if len(tops) != n or im.height != sum(h - t for t in tops):
                raise ValueError(f"plate strip of height {im.height} is not {n} layers")
            rgba = im if im.mode == "RGBA" else im.convert("RGBA")
            layers, y = [], 0
            for k, (p, top) in enumerate(zip(parallax, tops, strict=True)):
                part = _below(rgba.crop((0, y, w, y + h - top)), h)
                y += h - top
                layers.append(PlateLayer(part.convert("RGB") if k == 0 else part, float(p)))
        return cls(tuple(layers))


def _mode(image: Image.Image, mode: str) -> Image.Image:
    return image if image.mode == mode else image.convert(mode)


def _below(rows: Image.Image, height: int) -> Image.Image:
    """A layer's stored rows at the bottom of a layer `height` tall, transparent above them."""
    if rows.height == height:
        return rows
    full = Image.new("RGBA", (rows.width, height))
    full.paste(rows, (0, height - rows.height))
    return full


def _first_row(image: Image.Image) -> int:
    """The first row with anything visible in an RGBA image (its height when empty)."""
    box = image.getchannel("A").getbbox()
    return box[1] if box else image.height
