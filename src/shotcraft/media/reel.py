"""Reel assembly: clips in order, trimmed and conformed, joined by cuts or transitions."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.spec.model import Transition


@dataclass(frozen=True, slots=True)
class ReelPart:
    clip: Path
    trim: tuple[float, float] | None
    transition: Transition  # how this part comes in from the one before


def _clip_frames(
    part: ReelPart, size: tuple[int, int], fps: int, warnings: list[str]
) -> Iterator[np.ndarray]:
    """Decoded frames of one clip, trimmed, at the reel's size and frame rate."""
    with av.open(str(part.clip)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        src_fps = float(stream.average_rate or fps)
        src_size = (stream.codec_context.width, stream.codec_context.height)
        if src_size != size:
            warnings.append(
                f"{part.clip}: {src_size[0]}x{src_size[1]} scaled to {size[0]}x{size[1]}"
            )
        if abs(src_fps - fps) > 1e-3:
            warnings.append(f"{part.clip}: {src_fps:g} fps resampled to {fps} fps")
        decoded = (f.to_ndarray(format="rgb24") for f in c.decode(stream))
        start, end = part.trim if part.trim else (0.0, float("inf"))
        # output frame j shows the source frame at time start + j / fps
        j = 0
        src_i = -1
        current: np.ndarray | None = None
        for frame in decoded:
            src_i += 1
            current = frame
            while True:
                t = start + j / fps
                if t >= end - 1e-9:
                    return
                want = int(np.floor(t * src_fps + 1e-6))
                if want > src_i:
                    break
                yield _conform(current, size)
                j += 1


def _conform(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def blend(a: np.ndarray, b: np.ndarray, k: float, tr: Transition) -> np.ndarray:
    """Frame k (0..1) of a transition from a to b."""
    if tr.kind == "dip":
        color = np.array(tr.color, dtype=np.float32)
        if k < 0.5:
            out = a * (1 - 2 * k) + color * (2 * k)
        else:
            out = color * (2 - 2 * k) + b * (2 * k - 1)
        return out.astype(np.uint8)
    if tr.kind == "wipe":
        h, w = a.shape[:2]
        out = a.copy()
        if tr.direction in ("left", "right"):
            edge = round(k * w)
            sl = np.s_[:, w - edge :] if tr.direction == "left" else np.s_[:, :edge]
        else:
            edge = round(k * h)
            sl = np.s_[h - edge :, :] if tr.direction == "up" else np.s_[:edge, :]
        out[sl] = b[sl]
        return out
    mixed = a.astype(np.float32) * (1 - k) + b.astype(np.float32) * k
    return (mixed + 0.5).astype(np.uint8)


def assemble(
    parts: list[ReelPart],
    out: Path,
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    advance: object = None,
) -> tuple[int, list[str]]:
    """Decode, blend the overlaps and encode into `out`. Returns frames written and warnings."""
    warnings: list[str] = []
    written = 0
    with VideoWriter(out, size, fps, settings) as writer:

        def emit(frame: np.ndarray) -> None:
            nonlocal written
            writer.write(frame)
            written += 1
            if callable(advance):
                advance(1)

        tail: deque[np.ndarray] = deque()  # the previous clip's frames kept for this overlap
        for n, part in enumerate(parts):
            tr = part.transition
            overlap = min(round(tr.duration * fps), len(tail)) if tr.kind != "cut" else 0
            while len(tail) > overlap:
                emit(tail.popleft())
            nxt = parts[n + 1] if n + 1 < len(parts) else None
            keep = 0
            if nxt is not None and nxt.transition.kind != "cut":
                keep = round(nxt.transition.duration * fps)
            pending: deque[np.ndarray] = deque()
            for k, frame in enumerate(_clip_frames(part, size, fps, warnings)):
                if tail:
                    frame = blend(tail.popleft(), frame, (k + 1) / (overlap + 1), tr)
                pending.append(frame)
                if len(pending) > keep:
                    emit(pending.popleft())
            while tail:  # only if a clip is shorter than its transition (compose prevents it)
                emit(tail.popleft())
            tail = pending
        while tail:
            emit(tail.popleft())
    return written, warnings
