"""Draws the example film's small assets (committed as PNGs; run again to remake them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).parent


def _smooth_polygon(size: tuple[int, int], points: list[tuple[float, float]]) -> Image.Image:
    """An anti-aliased polygon mask: drawn at four times the size, then reduced."""
    k = 4
    big = Image.new("L", (size[0] * k, size[1] * k), 0)
    ImageDraw.Draw(big).polygon([(x * k, y * k) for x, y in points], fill=255)
    return big.reduce(k)


def dusk(size: tuple[int, int] = (1536, 864)) -> Image.Image:
    """A lake at night: a deep gradient sky with stars, the moon in its halo, far hills, the
    moon's path on the water and a dark near shore. Sized for a 720p shot with extent 1.2."""
    w, h = size
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, h)[:, None, None]
    top, low = np.array([8, 12, 34]), np.array([62, 52, 104])
    sky = top + (low - top) * np.clip(y / 0.62, 0, 1) ** 1.4
    img = np.broadcast_to(sky, (h, w, 3)).copy()
    # stars: soft points, more of them high up, a few bright ones
    stars = np.zeros((h, w), dtype=np.float64)
    for _ in range(420):
        sx, sy = rng.integers(0, w), int(h * 0.6 * rng.random() ** 1.6)
        stars[sy, sx] = rng.uniform(0.35, 1.0) ** 2 * (3.0 if rng.random() < 0.06 else 1.0)
    stars = np.asarray(
        Image.fromarray(np.clip(stars * 255, 0, 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(0.8)
        ),
        dtype=np.float64,
    )
    img += (stars * 2.2)[..., None] * np.array([0.9, 0.92, 1.0])
    # the moon and its halo
    mx, my, r = w * 0.74, h * 0.18, h * 0.055
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(xx - mx, yy - my)
    img += (np.exp(-((dist / (r * 4.0)) ** 2)) * 70)[..., None] * np.array([0.8, 0.8, 0.9])
    disc = np.clip(r + 0.5 - dist, 0, 1)[..., None]
    img = img * (1 - disc) + disc * np.array([242, 238, 214])
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    # far hills across the lake
    hills = [(0.0, h * 0.62)] + [
        (x, h * (0.585 + 0.025 * np.sin(x / 97 + 1) + 0.012 * np.sin(x / 31)))
        for x in np.linspace(0, w, 200)
    ]
    pic.paste((30, 30, 58), (0, 0), _smooth_polygon(size, [*hills, (w, h * 0.62)]))
    # the lake: darker than the sky above it, the moon's path broken into ripples
    lake = np.asarray(pic, dtype=np.float64).copy()
    top_row, shore_row = int(h * 0.62), int(h * 0.8)
    ly = np.linspace(0, 1, shore_row - top_row)[:, None, None]
    lake[top_row:shore_row] = np.array([36, 34, 72]) + (np.array([16, 18, 36]) - [36, 34, 72]) * ly
    rows = np.arange(top_row, shore_row)
    width = r * (0.8 + 2.5 * (rows - top_row) / (shore_row - top_row))
    ripple = 0.5 + 0.5 * np.sin(rows * 1.7) * np.sin(rows * 0.23 + 1)
    path = np.exp(-(((xx[top_row:shore_row] - mx) / width[:, None]) ** 2)) * ripple[:, None]
    lake[top_row:shore_row] += (path * 120)[..., None] * np.array([0.95, 0.92, 0.8])
    pic = Image.fromarray(np.clip(lake, 0, 255).astype(np.uint8))
    # the near shore, where the subjects stand
    shore = [(0.0, h * 0.8)] + [
        (x, h * (0.775 + 0.018 * np.sin(x / 83) + 0.008 * np.sin(x / 23 + 2)))
        for x in np.linspace(0, w, 240)
    ]
    pic.paste((16, 18, 26), (0, 0), _smooth_polygon(size, [*shore, (w, h), (0, h)]))
    return pic


def lantern(height: int = 288) -> Image.Image:
    """A paper lantern with a warm glow that fades out well inside the sprite: RGBA."""
    w = int(height * 0.75)
    pad = height * 0.14  # room for the glow to fade to nothing before the edge
    body = (pad + w * 0.06, pad + height * 0.06, w - pad - w * 0.06, height - pad)
    glow = Image.new("L", (w, height), 0)
    ImageDraw.Draw(glow).ellipse(body, fill=170)
    glow = glow.filter(ImageFilter.GaussianBlur(height * 0.045))
    im = Image.new("RGBA", (w, height), (0, 0, 0, 0))
    im.paste((255, 186, 90, 255), (0, 0), glow)
    # the paper: warm in the middle, deeper at the sides (drawn at 4x, reduced)
    k = 4
    big = Image.new("RGBA", (w * k, height * k), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)
    x0, y0, x1, y1 = (v * k for v in body)
    cx = (x0 + x1) / 2
    for step in range(24, 0, -1):  # concentric fills: a soft radial gradient
        f = step / 24
        col = (int(255 - 40 * f), int(200 - 85 * f), int(110 - 60 * f), 255)
        d.ellipse(
            (
                cx - (cx - x0) * f,
                y0 + (y1 - y0) * (1 - f) / 2,
                cx + (cx - x0) * f,
                y1 - (y1 - y0) * (1 - f) / 2,
            ),
            fill=col,
        )
    d.ellipse((x0, y0, x1, y1), outline=(140, 64, 28, 255), width=2 * k)
    for n in range(1, 5):  # the ribs
        yy = y0 + n * (y1 - y0) / 5
        half = (x1 - x0) / 2 * np.sqrt(1 - (2 * (yy - y0) / (y1 - y0) - 1) ** 2) * 0.96
        d.line((cx - half, yy, cx + half, yy), fill=(190, 96, 40, 255), width=k)
    cap = height * 0.05 * k
    d.rectangle(
        (cx - (x1 - x0) * 0.18, y0 - cap, cx + (x1 - x0) * 0.18, y0 + cap * 0.3),
        fill=(58, 38, 28, 255),
    )
    d.rectangle(
        (cx - (x1 - x0) * 0.12, y1 - cap * 0.3, cx + (x1 - x0) * 0.12, y1 + cap * 0.6),
        fill=(58, 38, 28, 255),
    )
    im.alpha_composite(big.resize((w, height), Image.Resampling.LANCZOS))
    return im


def music(path: Path, seconds: float = 10.0, rate: int = 48000) -> None:
    """A quiet pad of slow chords (sine tones), encoded as AAC in .m4a."""
    import av

    t = np.arange(int(seconds * rate)) / rate
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]
    wave = np.zeros_like(t)
    for k, chord in enumerate(chords * 2):
        start, length = k * seconds / 6, seconds / 6 + 0.4
        env = np.clip((t - start) / 0.4, 0, 1) * np.clip((start + length - t) / 0.4, 0, 1)
        for f in chord:
            wave += env * np.sin(2 * np.pi * f * t) / 6
    stereo = np.stack([wave, np.roll(wave, 240)]).astype(np.float32) * 0.5
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=rate)
        s.codec_context.layout = "stereo"
        s.codec_context.bit_rate = 48_000
        for i in range(0, stereo.shape[1], 1024):
            fr = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, i : i + 1024]), format="fltp", layout="stereo"
            )
            fr.sample_rate, fr.pts = rate, i
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


if __name__ == "__main__":
    music(HERE / "music.m4a")
    dusk().save(HERE / "dusk.png", optimize=True)
    lantern().save(HERE / "lantern.png", optimize=True)
    print("wrote", HERE / "dusk.png", HERE / "lantern.png")
