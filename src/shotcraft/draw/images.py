"""Pictures the user names: opened and fully decoded once, every mode turned into 8-bit RGB(A).

Pillow's own `convert("RGB")` clips 16- and 32-bit grayscale to white instead of scaling it,
so wide modes are scaled here first.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class BadImage(ValueError):
    """A file named as a picture that cannot be used as one (the message says why)."""


def check_image(path: Path) -> tuple[int, int]:
    """Open and fully decode `path`; its size, or BadImage saying what is wrong."""
    with open_image(path) as im:
        return im.size


def open_image(path: Path) -> Image.Image:
    """The picture at `path`, fully decoded, with Pillow's decompression-bomb limit applied
    as an error (not a warning): a picture that large would exhaust memory while drawing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            try:
                im.load()
            except BaseException:
                im.close()
                raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise BadImage(
            f"is too large to decode safely (over {limit // 1_000_000} megapixels)"
        ) from None
    except UnidentifiedImageError:
        raise BadImage("is not a picture Pillow can read (PNG, JPEG, WebP, ...)") from None
    except PermissionError:
        raise BadImage("cannot be read (permission denied)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadImage(f"is damaged or cut short ({e})") from None
    if im.width < 1 or im.height < 1:
        im.close()
        raise BadImage("has no pixels")
    return im


def _wide_to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit integer and float grayscale scaled into 0..255 by the range the mode holds."""
    a = np.asarray(im)
    if im.mode == "F":
        top = 1.0 if float(np.nanmax(a, initial=0.0)) <= 1.0 else 255.0
    elif im.mode.startswith("I;16") or (im.mode == "I" and int(a.max(initial=0)) <= 65535):
        top = 65535.0 if int(a.max(initial=0)) > 255 else 255.0
    else:
        top = float(max(255, int(a.max(initial=0))))
    out = np.clip(np.nan_to_num(a.astype(np.float64)) * (255.0 / top) + 0.5, 0, 255)
    return Image.fromarray(out.astype(np.uint8), "L")


def to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _wide_to_8bit(im)
    return im if im.mode == "RGB" else im.convert("RGB")


def to_rgba(im: Image.Image) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _wide_to_8bit(im)
    return im if im.mode == "RGBA" else im.convert("RGBA")
