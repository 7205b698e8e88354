"""The render loop's pixel kernels: native when the C extension was built, Pillow + numpy if not.

Both give the same pictures (to within a level of rounding, tested); the native ones are
several times faster and release the GIL, which is what lets a render keep pace with its
encoder. `NATIVE` says which is in use.

Planes are 2-D uint8 arrays, C-contiguous. An affine map (a, b, c, d, e, f) takes output pixel
(u, v) to source (a(u+.5) + b(v+.5) + c, d(u+.5) + e(v+.5) + f): Pillow's AFFINE convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np
from PIL import Image

_native: ModuleType | None
try:  # built by setup.py when a C compiler was at hand
    import shotcraft.draw._kernels as _native
except ImportError:  # pragma: no cover - depends on the install
    _native = None

NATIVE = _native is not None

Affine = tuple[float, float, float, float, float, float]

BILINEAR = Image.Resampling.BILINEAR
AFFINE = Image.Transform.AFFINE

# BT.601, limited range: what swscale uses by default for RGB -> yuv420p
KY = np.array([0.256788, 0.504129, 0.097906], dtype=np.float32)
KU = np.array([-0.148223, -0.290993, 0.439216], dtype=np.float32)
KV = np.array([0.439216, -0.367788, -0.071427], dtype=np.float32)


def sample(dst: np.ndarray, src: np.ndarray, m: Affine, fill: int, rows: tuple[int, int]) -> None:
    """Rows v0..v1 of `dst` = `src` resampled (bilinear) through `m`; outside `src` is `fill`."""
    h, w = dst.shape
    v0, v1 = max(rows[0], 0), min(rows[1], h)
    if v1 <= v0:
        return
    if _native is not None:
        _native.sample(dst, w, h, src, src.shape[1], src.shape[0], m, fill, v0, v1)
        return
    dst[v0:v1] = _pillow_view(src, m, (w, h), fill)[v0:v1]


def over(
    dst: np.ndarray, layer: np.ndarray, alpha: np.ndarray, m: Affine, rows: tuple[int, int]
) -> None:
    """Rows v0..v1 of `dst` = premultiplied `layer` (with `alpha`) through `m`, over `dst`."""
    h, w = dst.shape
    v0, v1 = max(rows[0], 0), min(rows[1], h)
    if v1 <= v0:
        return
    if _native is not None:
        sh, sw = layer.shape
        _native.over(dst, w, h, layer, alpha, sw, sh, m, v0, v1)
        return
    p = _pillow_view(layer, m, (w, h), 0)[v0:v1].astype(np.uint32)
    a = _pillow_view(alpha, m, (w, h), 0)[v0:v1].astype(np.uint32)
    out = p + (dst[v0:v1].astype(np.uint32) * (255 - a) + 127) // 255
    dst[v0:v1] = np.minimum(out, 255).astype(np.uint8)


def _pillow_view(src: np.ndarray, m: Affine, size: tuple[int, int], fill: int) -> np.ndarray:
    return np.asarray(through(Image.fromarray(src), size, m, fill))


def through(image: Image.Image, size: tuple[int, int], m: Affine, fill: int = 0) -> Image.Image:
    """`image` resampled (bilinear) through the affine map `m` into `size`; beyond its edge,
    `fill`. A plain shift or scale that stays inside takes Pillow's faster resize."""
    a, b, c, d, e, f = m
    w, h = size
    box = (c, f, c + a * w, f + e * h)
    inside = box[0] >= 0 and box[1] >= 0 and box[2] <= image.width and box[3] <= image.height
    if b == 0 and d == 0 and inside:
        return image.resize(size, BILINEAR, box=box)
    return image.transform(size, AFFINE, m, BILINEAR, fillcolor=fill)


def pad_sprite(image: np.ndarray) -> np.ndarray:
    """A premultiplied RGBa image (h, w, 4) inside a one-pixel transparent border, as
    `sprite` takes it: edges fade out, and the kernel needs no bounds checks."""
    return np.pad(image, ((1, 1), (1, 1), (0, 0)))


def sprite(
    frame: np.ndarray,
    padded: np.ndarray,
    m: Affine,
    box: tuple[int, int, int, int],
    opacity: float = 1.0,
) -> None:
    """Resample a premultiplied RGBa image (from `pad_sprite`) into `box` (x0, y0, x1, y1) of
    an I420 frame through `m` (box pixel -> image pixel, unpadded) and blend it there."""
    x0, y0, x1, y1 = box
    H, W = frame.shape[0] * 2 // 3, frame.shape[1]
    sh, sw = padded.shape[0] - 2, padded.shape[1] - 2
    if _native is not None:
        _native.sprite(frame, W, H, padded, sw, sh, m, x0, y0, x1, y1, opacity)
        return
    im = Image.frombuffer("RGBa", (sw, sh), np.ascontiguousarray(padded[1:-1, 1:-1]).tobytes())
    piece = np.asarray(im.transform((x1 - x0, y1 - y0), AFFINE, m, BILINEAR))
    blend(frame, piece, x0, y0, opacity)


def mix(out: np.ndarray, weight: np.ndarray, toward: np.ndarray, base: np.ndarray) -> None:
    """`out` (rows, w, 3) uint8 = `base` + `toward` * `weight`, truncated: float32 colours
    `toward` and `base` (rows, 3), one a row, and `weight` (rows, w), one a pixel."""
    rows, w = weight.shape
    if _native is not None:
        _native.mix(out, w, rows, _f32(weight), _f32(toward), _f32(base))
        return
    lit = np.multiply(toward[:, None, :], weight[..., None])
    lit += base[:, None, :]
    out[...] = lit


def ridge(
    out: np.ndarray, r0: int, top: np.ndarray, flat: np.ndarray, dim: np.ndarray, k: np.float32
) -> None:
    """Rows r0.. of a procedural ridge into `out` (h - r0, w, 4) uint8: colour `flat` (a
    float32 row colour) darkened by `dim` times the depth below the crest `top` (a float32
    row a column) times `k`, to at most 1, and alpha the crest's coverage of each pixel row."""
    rows, w = out.shape[:2]
    if _native is not None:
        _native.ridge(out, w, rows, r0, _f32(top), _f32(flat), _f32(dim), float(k))
        return
    below = np.arange(r0, r0 + rows, dtype=np.float32)[:, None] - top.reshape(1, w)
    shade = np.clip(below * k, 0, 1)
    rgb = np.multiply(shade[..., None], -dim[:, None, :])
    rgb += flat[:, None, :]
    out[..., :3] = rgb
    below *= 255.0
    below += 255.5
    out[..., 3] = np.clip(below, 0.5, 255.5, out=below)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def to_i420(rgb: np.ndarray) -> tuple[np.ndarray, ...]:
    """RGB (h, w, 3) -> (Y, U, V); straight RGBA (h, w, 4) -> premultiplied (Y, U, V) and
    alpha at full and half size. BT.601 limited range; chroma from 2x2 means. Even sizes."""
    h, w, ch = rgb.shape
    y = np.empty((h, w), np.uint8)
    u, v = np.empty((h // 2, w // 2), np.uint8), np.empty((h // 2, w // 2), np.uint8)
    a = np.empty((h, w), np.uint8) if ch == 4 else None
    ac = np.empty((h // 2, w // 2), np.uint8) if ch == 4 else None
    if _native is not None:
        _native.to_i420(np.ascontiguousarray(rgb), w, h, ch, y, u, v, a, ac)
    else:
        f = rgb[..., :3].astype(np.float32)
        al = rgb[..., 3].astype(np.float32) / 255.0 if ch == 4 else np.ones((h, w), np.float32)
        y[:] = _u8((16.0 + f @ KY) * al)
        q = _quarter(np.concatenate([f * al[..., None], al[..., None]], axis=2))
        u[:] = _u8(q[..., :3] @ KU + 128.0 * q[..., 3])
        v[:] = _u8(q[..., :3] @ KV + 128.0 * q[..., 3])
        if a is not None and ac is not None:
            a[:] = rgb[..., 3]
            ac[:] = _u8(q[..., 3] * 255.0)
    if a is None or ac is None:
        return y, u, v
    return y, u, v, a, ac


def blend(frame: np.ndarray, piece: np.ndarray, x0: int, y0: int, opacity: float = 1.0) -> None:
    """Blend a premultiplied RGBa piece (h, w, 4) into an I420 frame (H * 3 / 2, W) at (x0, y0):
    luma per pixel, chroma per 2x2 block from the block's premultiplied means."""
    H, W = frame.shape[0] * 2 // 3, frame.shape[1]
    ph, pw = piece.shape[:2]
    if ph == 0 or pw == 0:
        return
    if _native is not None:
        _native.blend(frame, W, H, np.ascontiguousarray(piece), pw, ph, x0, y0, opacity)
        return
    _blend_numpy(frame, W, H, piece, x0, y0, min(max(opacity, 0.0), 1.0))


def blend_all(frame: np.ndarray, pieces: Sequence[tuple[np.ndarray, int, int]]) -> None:
    """`blend` of many pieces (h, w, 4) in order, each at (x0, y0) and cut to the frame: one
    call for a frame's labels instead of one a glyph."""
    H, W = frame.shape[0] * 2 // 3, frame.shape[1]
    if _native is not None:
        _native.blend_all(frame, W, H, pieces)
        return
    for piece, x, y in pieces:
        ph, pw = piece.shape[:2]
        cx0, cy0 = max(0, -x), max(0, -y)
        cx1, cy1 = min(pw, W - x), min(ph, H - y)
        if cx1 > cx0 and cy1 > cy0:
            blend(frame, piece[cy0:cy1, cx0:cx1], x + cx0, y + cy0)


def i420_planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of an I420 frame stored as (H * 3 / 2, W)."""
    H, W = frame.shape[0] * 2 // 3, frame.shape[1]
    chroma = frame[H:].reshape(-1)
    quarter = W * H // 4
    return (
        frame[:H],
        chroma[:quarter].reshape(H // 2, W // 2),
        chroma[quarter:].reshape(H // 2, W // 2),
    )


def _blend_numpy(
    frame: np.ndarray, W: int, H: int, piece: np.ndarray, x0: int, y0: int, op: float
) -> None:
    y, u, v = i420_planes(frame)
    ph, pw = piece.shape[:2]
    # pad to an even-aligned box so every chroma sample is covered whole, then clip to the frame
    ex, ey = x0 % 2, y0 % 2
    hh, ww = ph + ey + (ph + ey) % 2, pw + ex + (pw + ex) % 2
    p = np.zeros((hh, ww, 4), dtype=np.float32)
    p[ey : ey + ph, ex : ex + pw] = piece
    p *= op
    bx, by = x0 - ex, y0 - ey
    cx0, cy0 = max(0, -bx), max(0, -by)
    cx1, cy1 = min(ww, W - bx), min(hh, H - by)
    cx0, cy0 = cx0 + cx0 % 2, cy0 + cy0 % 2
    p = p[cy0:cy1, cx0:cx1]
    bx, by = bx + cx0, by + cy0
    hh, ww = p.shape[:2]
    if hh <= 0 or ww <= 0:
        return
    rgb, a = p[..., :3], p[..., 3] / 255.0
    region = y[by : by + hh, bx : bx + ww].astype(np.float32)
    y[by : by + hh, bx : bx + ww] = _u8(16.0 * a + rgb @ KY + region * (1.0 - a))
    h2, w2 = hh // 2, ww // 2
    if h2 == 0 or w2 == 0:
        return
    q = _quarter(p[: h2 * 2, : w2 * 2])
    am = q[..., 3] / 255.0
    sl = np.s_[by // 2 : by // 2 + h2, bx // 2 : bx // 2 + w2]
    for plane, coef in ((u, KU), (v, KV)):
        plane[sl] = _u8(q[..., :3] @ coef + 128.0 * am + plane[sl].astype(np.float32) * (1 - am))


def _quarter(a: np.ndarray) -> np.ndarray:
    """2x2 means (even height and width): slicing, far cheaper than reshape + mean."""
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) * 0.25


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)
