"""Procedural plates (sky, sun, hazy noise ridges) and sprites (shapes with light and a face).

Everything here is a pure function of its arguments, so the results can be cached by key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from shotcraft.draw import kernels
from shotcraft.draw.images import open_image, to_rgb, to_rgba
from shotcraft.draw.plate import Plate, PlateLayer

Color = tuple[int, int, int]

# Part of every procedural cache key: bump it whenever a change here changes pixels, so
# caches made by older code are not reused for the new look.
DRAW_VERSION = 4


def palette_from_text(text: str, n: int = 2) -> tuple[Color, ...]:
    """A pleasant sky palette (dark top, warm horizon) derived from a prompt's hash."""
    d = hashlib.sha256(text.encode()).digest()
    hue = d[0] / 255.0
    import colorsys

    top = colorsys.hsv_to_rgb((hue + 0.55) % 1.0, 0.45 + d[1] / 255 * 0.3, 0.2 + d[2] / 255 * 0.2)
    low = colorsys.hsv_to_rgb(hue, 0.35 + d[3] / 255 * 0.3, 0.85 + d[4] / 255 * 0.15)
    cols = [top, low][:n]
    return tuple(tuple(int(c * 255) for c in rgb) for rgb in cols)  # type: ignore[misc]


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    return a + (b - a) * t


def _noise1d(rng: np.random.Generator, n: int, octaves: int = 5, base: int = 4) -> np.ndarray:
    """Fractal value noise on 0..1 of length n: smooth ridgelines."""
    out = np.zeros(n)
    amp, total = 1.0, 0.0
    x = np.linspace(0.0, 1.0, n)
    for o in range(octaves):
        cells = base * 2**o
        knots = rng.random(cells + 2)
        pos = x * cells
        i = np.floor(pos).astype(int)
        f = pos - i
        f = f * f * (3 - 2 * f)
        out += amp * _mix(knots[i], knots[i + 1], f)
        total += amp
        amp *= 0.5
    return out / total


SKY_PARALLAX = 0.5  # the sky and sun move half as far as the camera pans


def ridge_parallax(r: int, ridges: int) -> float:
    """Far ridges move less than near ones; the nearest moves with the camera (1.0)."""
    return 0.6 + 0.4 * (r + 1) / ridges


def plate_parallax(style: str, ncolors: int, ridges: int) -> list[float] | None:
    """The parallax of each layer `plate` paints for these settings (None: a single layer)."""
    if style in ("solid", "gradient") or ncolors < 2:
        return None
    return [SKY_PARALLAX] + [ridge_parallax(r, ridges) for r in range(ridges)]


def plate(
    size: tuple[int, int],
    colors: tuple[Color, ...],
    style: str,
    seed: int,
    ridges: int = 3,
    sun: tuple[float, float] | None = None,
    haze: float = 0.35,
) -> Plate:
    """A sky (with sun and haze) and, for style "ridges", one layer per ridge, far to near."""
    w, h = size
    cols = [np.array(c, dtype=np.float32) for c in colors]
    if style == "solid":
        return Plate.single(Image.new("RGB", size, tuple(int(v) for v in cols[0])))
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    if style == "gradient" or len(cols) == 1:
        stops = cols if len(cols) > 1 else [cols[0] * 0.6, cols[0]]
        seg = np.clip(y * (len(stops) - 1), 0, len(stops) - 1 - 1e-6)
        i = seg.astype(int)
        f = seg - i
        arr = np.stack([_mix(stops[k], stops[k + 1], f[..., 0]) for k in range(len(stops) - 1)])
        rows = np.take_along_axis(arr, i[None, :, :, 0], axis=0)[0]  # (h, 3): one per row
        img = np.broadcast_to(rows[:, None, :], (h, w, 3))
        return Plate.single(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)))

    rng = np.random.default_rng(seed)
    top, horizon_c = cols[0], cols[1]
    horizon = 0.6
    sky_t = np.clip(y / horizon, 0, 1) ** np.float32(0.8)
    sky_rows = _mix(top, horizon_c, sky_t).astype(np.float32)  # (h, 1, 3): one colour a row
    # a hint of haze over everything near the horizon line (every layer gets it)
    hz = (np.exp(-(((y - horizon) / 0.12) ** 2)) * haze * 0.35).astype(np.float32)

    # Every layer is a per-row colour plus a per-row colour times a per-pixel weight (the
    # sun's glow, a ridge's shading), so the mixing is done once a row and each pixel costs
    # one multiply-add a channel.
    hazy = _mix(sky_rows, horizon_c, hz)[:, 0]  # (h, 3): the hazy sky, one colour a row
    # the sun, with a soft glow (only the rows it reaches are touched)
    sx, sy = sun if sun is not None else (float(rng.uniform(0.25, 0.75)), 0.42)
    reach = 0.45  # the glow is negligible beyond this distance (frame heights)
    r0, r1 = max(0, int((sy - reach) * h)), min(h, int((sy + reach) * h) + 1)
    r1 = max(r0, r1)
    sky_px = np.empty((h, w, 3), dtype=np.uint8)
    plain = np.clip(hazy, 0, 255).astype(np.uint8)[:, None, :]
    sky_px[:r0], sky_px[r1:] = plain[:r0], plain[r1:]
    if r1 > r0:
        sun_c = np.minimum(horizon_c * 1.15 + 40, 255).astype(np.float32)
        dx = np.linspace(0.0, w / h, w, dtype=np.float32) - np.float32(sx * w / h)
        dy = y[r0:r1, 0, 0] - np.float32(sy)
        # exp(-(d / 0.18)^2) of the distance d is the product of its x and y factors
        glow = np.outer(np.exp(-((dy / 0.18) ** 2)) * np.float32(0.45), np.exp(-((dx / 0.18) ** 2)))
        # the disc, where glow is capped at 1: only its bounding box is looked at
        rad = np.float32(0.045)
        ys, xs = np.flatnonzero(np.abs(dy) < rad), np.flatnonzero(np.abs(dx) < rad)
        if len(ys) and len(xs):
            box = np.s_[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
            disc = dy[box[0], None] ** 2 + dx[None, box[1]] ** 2 < rad**2
            glow[box] = np.minimum(glow[box] + disc * np.float32(0.9), 1.0)
        toward = (sun_c - sky_rows[r0:r1, 0]) * (1.0 - hz[r0:r1, 0])  # (rows, 3)
        # between the sky's colour and the sun's: in 0..255 with no clipping
        kernels.mix(sky_px[r0:r1], glow, toward, hazy[r0:r1])
    sky = Image.fromarray(sky_px)
    layers = [PlateLayer(sky, SKY_PARALLAX)]

    # ridges from far to near: higher and hazier far away, darker and lower near
    ridge_cols = cols[2:] if len(cols) > 2 else []
    dark = top * 0.35 + horizon_c * 0.1
    for r in range(ridges):
        f = (r + 1) / ridges  # 0 far .. 1 near
        base = horizon - 0.08 + 0.18 * f
        amp = 0.16 * (1.0 - 0.5 * f)
        profile = base - amp * _noise1d(rng, w, octaves=5, base=2 + r)
        c = ridge_cols[r % len(ridge_cols)] if ridge_cols else _mix(horizon_c * 0.8, dark, f)
        c = _mix(c, horizon_c, haze * (1.0 - f)).astype(np.float32)
        top_px = (profile * h).astype(np.float32)[None, :]
        # rows above the highest crest are transparent: only the rows below are computed
        r0 = min(h, max(0, int(np.floor(top_px.min())) - 1))
        # the ridge colour, darkened a quarter by depth below the crest (2 / h a row, to at
        # most 1), then hazed; alpha: coverage of each pixel row [r, r + 1) by the ridge
        # below its crest, smooth edges. Between flat and 3/4 of it: in 0..255.5 with no
        # clipping (the cast truncates).
        keep = 1.0 - hz[r0:, 0]
        flat = c * keep + horizon_c * hz[r0:, 0] + 0.5  # (rows, 3); + 0.5 rounds
        dim = (0.25 * c) * keep
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        kernels.ridge(rgba[r0:], r0, top_px, flat, dim, np.float32(2.0 / h))
        ridge = Image.fromarray(rgba, "RGBA")
        layers.append(PlateLayer(ridge, ridge_parallax(r, ridges)))
    return Plate(tuple(layers))


def plate_from_image(path: Path, size: tuple[int, int]) -> Image.Image:
    """Cover-fit a picture to the plate size (scaled to fill, centred, cropped)."""
    with open_image(path) as src:
        im = to_rgb(src)
        w, h = size
        k = max(w / im.width, h / im.height)
        rw, rh = max(w, round(im.width * k)), max(h, round(im.height * k))
        im = im.resize((rw, rh), Image.Resampling.LANCZOS)
        left, top = (rw - w) // 2, (rh - h) // 2
        return im.crop((left, top, left + w, top + h))


def _shape(d: ImageDraw.ImageDraw, shape: str, w: int, h: int, pad: int, **style: object) -> None:
    """Draw one of the stand-in shapes filling (w, h) less `pad`; style: fill, outline, width."""
    box = (pad, pad, w - pad, h - pad)
    if shape == "circle":
        d.ellipse(box, **style)  # type: ignore[arg-type]
    elif shape == "box":
        d.rounded_rectangle(box, radius=w // 10, **style)  # type: ignore[arg-type]
    elif shape == "capsule":
        d.rounded_rectangle(box, radius=(w - 2 * pad) // 2, **style)  # type: ignore[arg-type]
    elif shape == "triangle":
        d.polygon([(w / 2, pad), (w - pad, h - pad), (pad, h - pad)], **style)  # type: ignore[arg-type]
    elif shape == "star":
        cx, cy, r1 = w / 2, h / 2, min(w, h) / 2 - pad
        pts = []
        for k in range(10):
            r = r1 if k % 2 == 0 else r1 * 0.45
            a = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
        d.polygon(pts, **style)  # type: ignore[arg-type]
    else:  # blob: two overlapping ellipses
        d.ellipse((pad, h * 0.25, w * 0.7, h - pad), **style)  # type: ignore[arg-type]
        d.ellipse((w * 0.3, pad, w - pad, h * 0.8), **style)  # type: ignore[arg-type]


def sprite(shape: str, color: Color, height: int, aspect: float) -> Image.Image:
    """An RGBA stand-in character: lit shape, dark rim, an eye on the right (it faces right)."""
    h = max(8, height)
    w = max(4, round(h * aspect))
    ss = 4 if h <= 256 else 2  # supersample for smooth edges; large sprites need less
    W, H = w * ss, h * ss
    pad = ss
    mask = Image.new("L", (W, H), 0)
    _shape(ImageDraw.Draw(mask), shape, W, H, pad, fill=255)
    # light from the upper left
    yy = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    light = 1.15 - 0.45 * yy - 0.15 * xx
    rgb = np.clip(np.array(color, dtype=np.float32) * light[..., None], 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb).convert("RGBA")
    # a darker rim: the shape less the same shape drawn smaller (an erosion, cheaply)
    inner = Image.new("L", (W, H), 0)
    _shape(ImageDraw.Draw(inner), shape, W, H, pad + ss * max(1, h // 40), fill=255)
    rim = ImageChops.subtract(mask, inner)
    dark = Image.fromarray((rgb.astype(np.float32) * 0.55).astype(np.uint8)).convert("RGBA")
    img.paste(dark, (0, 0), rim)
    img.putalpha(mask)
    # an eye near the front (right) edge, so facing and mirroring can be seen
    ed = ImageDraw.Draw(img)
    er = max(2.0, min(W, H) * 0.06)
    ex, ey = (W * 0.6, H * 0.42) if shape == "star" else (W * 0.72, H * 0.3)  # inside the shape
    ed.ellipse((ex - er, ey - er, ex + er, ey + er), fill=(250, 250, 245, 255))
    ed.ellipse((ex - er * 0.2, ey - er * 0.5, ex + er * 0.8, ey + er * 0.5), fill=(20, 20, 25, 255))
    return premultiplied_resize(img, (w, h))


def sprite_from_image(path: Path, height: int) -> Image.Image:
    with open_image(path) as src:
        im = to_rgba(src)
        w = max(1, round(im.width * height / im.height))
        return premultiplied_resize(im, (w, height))


def premultiplied_resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize RGBA without dark fringes: filter in premultiplied alpha."""
    if img.size == size:
        return img
    return img.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")


def shadow(width: int) -> Image.Image:
    """A soft contact shadow: an L-mode blurred ellipse to use as an alpha mask."""
    w = max(4, width)
    h = max(2, w // 5)
    pad = max(2, h // 2)
    m = Image.new("L", (w + 2 * pad, h + 2 * pad), 0)
    ImageDraw.Draw(m).ellipse((pad, pad, pad + w, pad + h), fill=255)
    return m.filter(ImageFilter.GaussianBlur(pad / 2))
