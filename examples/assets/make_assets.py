"""Draws the example film's small assets (committed as PNGs; run again to remake them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).parent


def dusk(size: tuple[int, int] = (640, 360)) -> Image.Image:
    """A night sky over a lake: gradient, stars, a moon, dark shore."""
    w, h = size
    y = np.linspace(0, 1, h)[:, None, None]
    top, low = np.array([12, 16, 40]), np.array([70, 60, 110])
    img = np.broadcast_to(top + (low - top) * y**1.5, (h, w, 3)).copy()
    rng = np.random.default_rng(7)
    for _ in range(160):
        x, yy = rng.integers(0, w), rng.integers(0, int(h * 0.55))
        img[yy, x] = 200 + rng.integers(0, 55)
    pic = Image.fromarray(img.astype(np.uint8))
    d = ImageDraw.Draw(pic)
    d.ellipse((w * 0.72, h * 0.12, w * 0.72 + 40, h * 0.12 + 40), fill=(240, 236, 210))
    glow = pic.filter(ImageFilter.GaussianBlur(6))
    pic = Image.blend(pic, glow, 0.35)
    d = ImageDraw.Draw(pic)
    shore = [(0, h * 0.7)] + [(x, h * (0.66 + 0.03 * np.sin(x / 37))) for x in range(0, w + 8, 8)]
    d.polygon([*shore, (w, h), (0, h)], fill=(18, 22, 30))
    return pic


def lantern(height: int = 96) -> Image.Image:
    """A paper lantern with a warm glow: an RGBA sprite."""
    w = int(height * 0.7)
    im = Image.new("RGBA", (w, height), (0, 0, 0, 0))
    glow = Image.new("L", (w, height), 0)
    ImageDraw.Draw(glow).ellipse((2, 8, w - 2, height - 2), fill=150)
    glow = glow.filter(ImageFilter.GaussianBlur(6))
    im.paste((255, 190, 90, 255), (0, 0), glow)
    d = ImageDraw.Draw(im)
    d.rectangle((w * 0.4, 0, w * 0.6, 10), fill=(60, 40, 30, 255))
    d.ellipse((w * 0.18, 10, w * 0.82, height - 10), fill=(250, 150, 60, 255),
              outline=(150, 70, 30, 255), width=2)
    for k in range(1, 4):
        yy = 10 + k * (height - 20) / 4
        d.line((w * 0.22, yy, w * 0.78, yy), fill=(200, 100, 40, 255), width=1)
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
