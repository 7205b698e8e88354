"""Easing curves u -> eased u on 0..1, CSS names and cubic-bezier()."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np

Ease = Callable[[np.ndarray], np.ndarray]
_BEZIER = re.compile(r"cubic-bezier\(([^)]*)\)")


def _ends(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Hit the end points exactly whatever the arithmetic did in between.
    return np.where(u <= 0.0, 0.0, np.where(u >= 1.0, 1.0, y))


def linear(u: np.ndarray) -> np.ndarray:
    return np.clip(u, 0.0, 1.0)


def ease_in(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return _ends(u, u**3)


def ease_out(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return _ends(u, 1.0 - (1.0 - u) ** 3)


def ease_in_out(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return _ends(u, np.where(u < 0.5, 4.0 * u**3, 1.0 - (-2.0 * u + 2.0) ** 3 / 2.0))


def cubic_bezier(x1: float, y1: float, x2: float, y2: float) -> Ease:
    """CSS cubic-bezier: solve x(s) = u for s by Newton steps then bisection, return y(s)."""

    def bx(s: np.ndarray) -> np.ndarray:
        return 3 * (1 - s) ** 2 * s * x1 + 3 * (1 - s) * s**2 * x2 + s**3

    def by(s: np.ndarray) -> np.ndarray:
        return 3 * (1 - s) ** 2 * s * y1 + 3 * (1 - s) * s**2 * y2 + s**3

    def f(u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        lo = np.zeros_like(u)
        hi = np.ones_like(u)
        # x(s) is monotone for x1, x2 in 0..1, so bisection always converges.
        for _ in range(40):
            mid = (lo + hi) / 2
            below = bx(mid) < u
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return _ends(u, by((lo + hi) / 2))

    return f


@lru_cache(maxsize=64)
def get_ease(name: str) -> Ease:
    named: dict[str, Ease] = {
        "linear": linear,
        "in": ease_in,
        "out": ease_out,
        "in-out": ease_in_out,
    }
    if name in named:
        return named[name]
    m = _BEZIER.fullmatch(name.replace(" ", ""))
    if not m:
        raise ValueError(f"unknown easing {name!r}")
    x1, y1, x2, y2 = (float(v) for v in m.group(1).split(","))
    return cubic_bezier(x1, y1, x2, y2)
