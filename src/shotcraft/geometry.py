"""Sizes in pixels. Video in 4:2:0 needs even sides, so every scaled size rounds to even."""

from __future__ import annotations


def even_size(size: tuple[int, int], scale: float = 1.0, minimum: int = 2) -> tuple[int, int]:
    """`size` times `scale`, each side rounded to the nearest even number, at least `minimum`."""
    w, h = size
    return (max(minimum, round(w * scale / 2) * 2), max(minimum, round(h * scale / 2) * 2))
