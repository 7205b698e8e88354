"""Title cards: text over a colour or a shot's plate, rendered once into a clip compose uses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from shotcraft.draw.procedural import DRAW_VERSION
from shotcraft.draw.storyboard import font
from shotcraft.fsutil import file_digest
from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.project import digest
from shotcraft.spec.model import Background, TitleCard

# Part of the key of every title clip: bump it when title drawing changes its pixels.
TITLE_VERSION = 2


def title_image(card: TitleCard, size: tuple[int, int]) -> Image.Image:
    w, h = size
    if card.plate is not None:
        from shotcraft.backends.procedural import ProceduralBackend

        plate = ProceduralBackend().plate(_plate_background(card), size).flat()
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


def _plate_background(card: TitleCard) -> Background:
    from shotcraft.spec import load_shot

    assert card.plate is not None
    return load_shot(card.plate).background


def title_spec(card: TitleCard, size: tuple[int, int], fps: int) -> dict[str, Any]:
    """What the card draws: its text and colours, the plate's content (the background the shot
    describes and the bytes of its picture), and the drawing code's version. Never the plate
    shot's path: an edit to that shot's background makes a new card."""
    spec: dict[str, Any] = dataclasses.asdict(card)
    spec["plate"] = None
    if card.plate is not None:
        bg = _plate_background(card)
        plate = dataclasses.asdict(bg)
        plate["image"] = file_digest(bg.image) if bg.image is not None else None
        spec["plate"] = plate
    return {
        "title": spec,
        "size": list(size),
        "fps": fps,
        "title_version": TITLE_VERSION,
        "draw_version": DRAW_VERSION,
    }


def title_clip(card: TitleCard, size: tuple[int, int], fps: int, project: Path) -> Path:
    """The card as a clip in <project>/titles/, named by its content: made once, then reused
    while it holds all its frames (a card cut short is made again)."""
    key = digest(title_spec(card, size, fps))[:16]
    path = Path(project) / "titles" / f"{key}.mp4"
    frames = max(1, round(card.duration * fps))
    if path.is_file() and _whole(path, frames):
        return path
    frame = np.asarray(title_image(card, size))
    with VideoWriter(path, size, fps, EncoderSettings(gop=fps)) as writer:
        for _ in range(frames):
            writer.write(frame)
    return path


def _whole(path: Path, frames: int) -> bool:
    import av

    from shotcraft.media.probe import probe

    try:
        return probe(path).frames == frames
    except (OSError, ValueError, IndexError, av.error.FFmpegError):
        return False
