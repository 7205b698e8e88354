"""Title cards: text over a colour or a shot's plate, rendered once into a clip compose uses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shotcraft.draw.storyboard import font
from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.project import digest
from shotcraft.spec.model import TitleCard


def title_image(card: TitleCard, size: tuple[int, int]) -> Image.Image:
    w, h = size
    if card.plate is not None:
        from shotcraft.backends.procedural import ProceduralBackend
        from shotcraft.spec import load_shot

        shot = load_shot(card.plate)
        plate = ProceduralBackend().plate(shot.background, size).flat()
        img = Image.blend(plate, Image.new("RGB", size, card.color), 0.35)
    else:
        img = Image.new("RGB", size, card.color)
    d = ImageDraw.Draw(img)
    f = font(max(8, round(card.size * h)))
    d.multiline_text(
        (w / 2, h / 2),
        card.text,
        fill=card.text_color,
        font=f,
        anchor="mm",
        align="center",
        spacing=round(card.size * h * 0.3),
    )
    return img


def title_clip(card: TitleCard, size: tuple[int, int], fps: int, project: Path) -> Path:
    """The card as a clip in <project>/titles/, named by its content: made once, then reused."""
    spec = dataclasses.asdict(card)
    spec["plate"] = str(card.plate) if card.plate else None
    key = digest({"title": spec, "size": list(size), "fps": fps})[:16]
    path = Path(project) / "titles" / f"{key}.mp4"
    if path.is_file():
        return path
    frame = np.asarray(title_image(card, size))
    with VideoWriter(path, size, fps, EncoderSettings(gop=fps)) as writer:
        for _ in range(max(1, round(card.duration * fps))):
            writer.write(frame)
    return path
