"""Pictures the user names: opened and fully decoded once, every mode turned into 8-bit RGB(A).

Pillow's own `convert("RGB")` clips 16- and 32-bit grayscale to white instead of scaling it,
so wide modes are scaled here first.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Mapping, Sequence
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


PNG_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (L, RGB, RGBA)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def open_png(data: bytes) -> Image.Image:
    """PNG bytes shotcraft wrote (a cache entry), decoded. Pillow's PNG reader is used
    directly: `Image.open` first imports and tries five format plugins (6 ms a process)."""
    if data[:8] != PNG_SIGNATURE:
        im = Image.open(io.BytesIO(data))
    else:
        from PIL import PngImagePlugin

        im = PngImagePlugin.PngImageFile(io.BytesIO(data))
    im.load()
    return im


def pillow_png(img: Image.Image) -> bytes:
    """A picture as PNG by Pillow, filtered rows: a model's pictures (and the user's) come
    out a third smaller than `png_bytes`'s unfiltered ones."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def png_bytes(
    blocks: Sequence[np.ndarray], text: Mapping[str, str] | None = None, level: int = 1
) -> bytes:
    """8-bit pixel rows as one PNG: `blocks` (each (rows, w) or (rows, w, channels), one
    width and channel count) stacked top to bottom; `text` as tEXt chunks.

    Written here rather than by Pillow because Pillow always picks a filter for each row
    (it tries all five), which made the encode of a 720p plate strip 3.5x slower and its
    decode 3x slower than storing the rows unfiltered, for files of the same size: shaded
    skies and ridges compress as well either way. Any PNG reader decodes the result."""
    arrays = [b if b.ndim == 3 else b[..., None] for b in blocks]
    h = sum(a.shape[0] for a in arrays)
    w, c = arrays[0].shape[1], arrays[0].shape[2]
    if c not in PNG_COLOR_TYPES or any(a.shape[1:] != (w, c) for a in arrays) or w * h == 0:
        raise ValueError(f"cannot store blocks of shapes {[a.shape for a in arrays]} as a PNG")
    body = np.empty((h, w * c + 1), np.uint8)
    body[:, 0] = 0  # filter type None on every row
    y = 0
    for a in arrays:
        body[y : y + a.shape[0], 1:] = a.reshape(a.shape[0], w * c)
        y += a.shape[0]
    head = struct.pack(">IIBBBBB", w, h, 8, PNG_COLOR_TYPES[c], 0, 0, 0)
    chunks = [_chunk(b"IHDR", head)]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    chunks += [_chunk(b"IDAT", zlib.compress(body.data, level)), _chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


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
