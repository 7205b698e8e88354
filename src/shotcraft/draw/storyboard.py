"""Cheap pictures for deciding: storyboards (key frames side by side) and animatic frames."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shotcraft.draw import kernels
from shotcraft.draw.compositor import Compositor
from shotcraft.draw.plate import Plate
from shotcraft.motion.sample import frame_state
from shotcraft.motion.track import MotionTrack

LABEL = (255, 255, 255)
INK = (20, 20, 24)


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


Colors = dict[str, tuple[int, int, int]]  # each subject's colour, as its sprite is drawn


def draw_stand_ins(
    img: Image.Image,
    motion: MotionTrack,
    i: float,
    aspects: dict[str, float],
    colors: Colors,
    arrows_to: float | None = None,
) -> None:
    """Subjects as labelled boxes at frame `i`; with `arrows_to`, arrows to where they go."""
    w, h = img.size
    d = ImageDraw.Draw(img, "RGBA")
    st = frame_state(motion, i)
    nxt = frame_state(motion, arrows_to) if arrows_to is not None else None
    f = font(max(9, h // 22))
    for k, s in enumerate(st.subjects):
        c = colors.get(s.id, LABEL)
        sh = s.height * h
        sw = sh * aspects.get(s.id, 1.0)
        x, y = s.sx * w, s.sy * h
        box = (x - sw / 2, y - sh, x + sw / 2, y)
        d.rectangle(box, fill=(*c, 90), outline=(*c, 255), width=max(1, h // 180))
        # a notch on the side the subject faces
        nx = box[0] if s.mirror else box[2]
        d.line((nx, y - sh * 0.7, nx, y - sh * 0.5), fill=INK, width=max(2, h // 90))
        d.text(
            (x, box[1] - 2), s.id, fill=LABEL, font=f, anchor="md", stroke_width=2, stroke_fill=INK
        )
        if nxt is not None:
            ns = nxt.subjects[k]
            ex, ey = ns.sx * w, ns.sy * h - ns.height * h / 2
            sx, sy = x, y - sh / 2
            if np.hypot(ex - sx, ey - sy) > 4:
                _arrow(d, (sx, sy), (ex, ey), (*c, 255), max(2, h // 120))


def _arrow(
    d: ImageDraw.ImageDraw,
    a: tuple[float, float],
    b: tuple[float, float],
    color: tuple[int, int, int, int],
    width: int,
) -> None:
    d.line((a, b), fill=color, width=width)
    ang = np.arctan2(b[1] - a[1], b[0] - a[0])
    size = width * 4
    p1 = (b[0] - size * np.cos(ang - 0.45), b[1] - size * np.sin(ang - 0.45))
    p2 = (b[0] - size * np.cos(ang + 0.45), b[1] - size * np.sin(ang + 0.45))
    d.polygon([b, p1, p2], fill=color)


def key_times(times: list[float], duration: float, most: int = 8) -> list[float]:
    ts = sorted({0.0, *times, duration})
    if len(ts) > most:
        idx = np.linspace(0, len(ts) - 1, most).round().astype(int)
        ts = [ts[i] for i in idx]
    return ts


def storyboard(
    plate: Plate | Image.Image,
    motion: MotionTrack,
    times: list[float],
    aspects: dict[str, float],
    colors: Colors,
    panel_width: int = 320,
    title: str = "",
) -> Image.Image:
    """Key frames side by side (wrapping every 4), each with stand-ins, arrows and the time."""
    w, h = motion.size
    pw = panel_width
    ph = round(pw * h / w)
    comp = Compositor(plate, (pw, ph), {})
    cols = min(4, len(times))
    rows = (len(times) + cols - 1) // cols
    pad, head = 8, 22 if title else 0
    sheet = Image.new("RGB", (cols * (pw + pad) + pad, rows * (ph + pad + 16) + pad + head), INK)
    d = ImageDraw.Draw(sheet)
    if title:
        d.text((pad, 4), title, fill=LABEL, font=font(14))
    fps = motion.fps
    last = motion.frames - 1
    for n, t in enumerate(times):
        i = min(t * fps, last)
        nxt = min(times[n + 1] * fps, last) if n + 1 < len(times) else None
        st = frame_state(motion, i)
        panel = comp.background(st.camera)
        draw_stand_ins(panel, motion, i, aspects, colors, arrows_to=nxt)
        r, c = divmod(n, cols)
        x0, y0 = pad + c * (pw + pad), head + pad + r * (ph + pad + 16)
        sheet.paste(panel, (x0, y0))
        d.text(
            (x0, y0 + ph + 2),
            f"key {n + 1}  t={t:.2f}s  frame {round(i)}",
            fill=LABEL,
            font=font(11),
        )
    return sheet


def animatic_frame(
    comp: Compositor, motion: MotionTrack, i: int, aspects: dict[str, float], colors: Colors
) -> np.ndarray:
    st = frame_state(motion, i)
    img = comp.background(st.camera)
    draw_stand_ins(img, motion, i, aspects, colors)
    d = ImageDraw.Draw(img)
    fps = motion.fps
    secs, ff = divmod(i, fps)
    mm, ss = divmod(secs, 60)
    text = f"{mm:02d}:{ss:02d}:{ff:02d}  #{i}"
    d.text(
        (4, img.height - 4),
        text,
        fill=LABEL,
        font=font(max(9, img.height // 14)),
        anchor="ld",
        stroke_width=2,
        stroke_fill=INK,
    )
    return np.asarray(img)


def contact_sheet(images: list[Image.Image], labels: list[str], width: int = 1280) -> Image.Image:
    """Variants' storyboards stacked, each numbered."""
    scaled = []
    for im in images:
        k = width / im.width
        scaled.append(im.resize((width, round(im.height * k)), Image.Resampling.LANCZOS))
    pad, head = 8, 30
    total_h = sum(im.height + head + pad for im in scaled) + pad
    sheet = Image.new("RGB", (width + 2 * pad, total_h), INK)
    d = ImageDraw.Draw(sheet)
    y = pad
    for im, label in zip(scaled, labels, strict=True):
        d.text((pad, y + 4), label, fill=LABEL, font=font(20))
        sheet.paste(im, (pad, y + head))
        y += im.height + head + pad
    return sheet


class Animatic:
    """Animatic frames drawn straight into I420 at preview size: the plate through the native
    compositor, each subject a stand-in sprite (a tinted box with a notch on the side it
    faces, turning with its gait), its name and the timecode blended on top. The pictures
    are those of `draw_stand_ins`, made once as sprites instead of drawn every frame."""

    GLYPHS = "0123456789:# "

    def __init__(
        self,
        plate: Plate | Image.Image,
        size: tuple[int, int],
        motion: MotionTrack,
        aspects: dict[str, float],
        colors: Colors,
    ) -> None:
        from dataclasses import replace

        from shotcraft.draw.yuv import YuvCompositor

        h = size[1]
        self.size = size
        # stand-ins cast no shadow; each is drawn at the tallest it gets on screen
        self.motion = replace(
            motion, subjects=tuple(replace(s, shadow=False) for s in motion.subjects)
        )
        sprites = {}
        for s in motion.subjects:
            tallest = float(s.height.max()) * h if len(s.height) else 8.0
            sh = max(8, min(4 * h, round(tallest)))
            sprites[s.id] = _stand_in(colors.get(s.id, LABEL), aspects.get(s.id, 1.0), sh, h)
        self.yuv = YuvCompositor(Compositor(plate, size, sprites))
        self.names = {s.id: _text_piece(s.id, max(9, h // 22)) for s in motion.subjects}
        self.glyphs = {c: _text_piece(c, max(9, h // 14)) for c in self.GLYPHS}
        # digits share one width, so the timecode does not jitter; the outline overlaps
        digit = max(self.glyphs[c].shape[1] for c in "0123456789")
        self.advance = {
            c: (digit if c.isdigit() else g.shape[1]) - 4 for c, g in self.glyphs.items()
        }

    def frame(self, i: int) -> np.ndarray:
        w, h = self.size
        st = frame_state(self.motion, i)
        out = self.yuv.frame(st)
        pieces = []  # the names, then the timecode's glyphs: blended in one call
        for s in st.subjects:
            if s.opacity <= 0 or s.height <= 0:
                continue
            piece = self.names[s.id]
            x = round(s.sx * w - piece.shape[1] / 2)
            pieces.append((piece, x, round(s.sy * h - s.height * h - 2) - piece.shape[0]))
        secs, ff = divmod(i, self.motion.fps)
        mm, ss = divmod(secs, 60)
        x = 4
        for c in f"{mm:02d}:{ss:02d}:{ff:02d}  #{i}":
            g = self.glyphs[c]
            pieces.append((g, x, h - 4 - g.shape[0]))
            x += self.advance[c]
        kernels.blend_all(out, pieces)
        return out


def _stand_in(
    color: tuple[int, int, int], aspect: float, height: int, frame_height: int
) -> Image.Image:
    """The stand-in box as an RGBA sprite facing right (the compositor mirrors it)."""
    width = max(2, round(height * aspect))
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    line = max(1, frame_height // 180)
    d.rectangle((0, 0, width - 1, height - 1), fill=(*color, 90), outline=(*color, 255), width=line)
    notch = max(2, frame_height // 90)
    d.line((width - 1, height * 0.3, width - 1, height * 0.5), fill=(*INK, 255), width=notch)
    return img


def _text_piece(text: str, size: int) -> np.ndarray:
    """`text` in the label style (white, dark outline) as a premultiplied RGBa array."""
    f = font(size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), text, font=f, stroke_width=2
    )
    img = Image.new("RGBA", (max(1, round(x1 - x0)), max(1, round(y1 - y0))), (0, 0, 0, 0))
    ImageDraw.Draw(img).text(
        (-x0, -y0), text, fill=(*LABEL, 255), font=f, stroke_width=2, stroke_fill=(*INK, 255)
    )
    return np.ascontiguousarray(np.asarray(img.convert("RGBa")))
