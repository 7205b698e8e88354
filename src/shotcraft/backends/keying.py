"""Sprite alpha from a painted key colour (numpy only): the key is taken from the sprite's
border, only key-coloured pixels connected to the border become transparent (green inside the
subject stays), edges are soft and despilled, and a coverage check says when the model did not
paint a plain background.

Pixels are compared with the key by hue direction (the angle between RGB vectors), not by
distance, so a shadow on the key colour (the same direction, darker) keys out like the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

BORDER_KEYED_MIN = 0.6  # fraction of the border that must match the key to trust it
COVERAGE_MAX = 0.9  # a subject over this fraction of the frame probably ignored the key
COVERAGE_MIN = 0.01  # under this, keying left (almost) nothing
SOFTNESS_DEG = 6.0  # the ramp from key to subject, in degrees of hue angle
FILL_SIDE = 384  # the connected fill runs at most at this size, then is refined


@dataclass(frozen=True, slots=True)
class Keyed:
    image: Image.Image  # RGBA, the size of the input
    key: tuple[int, int, int]  # the key colour found on the border
    border_keyed: float  # fraction of the border that matched it
    coverage: float  # fraction of the frame the subject covers (alpha >= 0.5)
    warnings: tuple[str, ...]


def key_out(img: Image.Image) -> Keyed:
    """The sprite with its key-colour background made transparent (see the module doc)."""
    rgb = np.asarray(img.convert("RGB")).astype(np.float32)
    h, w = rgb.shape[:2]
    ring = _ring(h, w, max(1, round(min(h, w) * 0.02)))
    key = np.median(rgb[ring], axis=0)
    key_t = (int(key[0]), int(key[1]), int(key[2]))
    if float(key.max()) < 24.0:
        # a black border has no hue to key on
        return _opaque(rgb, key_t, 0.0, "the sprite's border is black, not the key colour")
    angle = _angle_deg(rgb, key)
    tol = float(np.clip(np.percentile(angle[ring], 90) + 2.0, 4.0, 12.0))
    # the same noise turns a dark pixel's hue further: shadows get a wider tolerance
    darker = float(np.linalg.norm(key)) / (np.linalg.norm(rgb, axis=-1) + 1e-6)
    tol_px = tol * np.clip(darker, 1.0, 3.0)
    keyness = np.clip((tol_px + SOFTNESS_DEG - angle) / SOFTNESS_DEG, 0.0, 1.0)
    keyness[rgb.max(axis=-1) < 24.0] = 0.0  # near black: no reliable hue, treat as subject
    border_keyed = float((keyness[ring] > 0.5).mean())
    if border_keyed < BORDER_KEYED_MIN:
        return _opaque(
            rgb,
            key_t,
            border_keyed,
            f"the sprite's border is not a flat key colour (only {border_keyed:.0%} of it "
            "matched): the model painted no plain background, so the sprite stays opaque",
        )
    background = keyness * _connected_to_border(keyness > 0.0)
    alpha = _box3(1.0 - background)
    out = _despill(rgb, alpha, key)
    coverage = float((alpha >= 0.5).mean())
    warnings = []
    if coverage > COVERAGE_MAX:
        warnings.append(
            f"the subject fills {coverage:.0%} of the sprite: the model may have ignored "
            "the plain background"
        )
    elif coverage < COVERAGE_MIN:
        warnings.append("keying left almost nothing of the sprite (is it all key colour?)")
    rgba = np.dstack([out, alpha * 255.0]).round().clip(0, 255).astype(np.uint8)
    return Keyed(Image.fromarray(rgba, "RGBA"), key_t, border_keyed, coverage, tuple(warnings))


def _opaque(rgb: np.ndarray, key: tuple[int, int, int], border: float, why: str) -> Keyed:
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255.0, np.float32)]).astype(np.uint8)
    return Keyed(Image.fromarray(rgba, "RGBA"), key, border, 1.0, (why,))


def _ring(h: int, w: int, b: int) -> np.ndarray:
    ring = np.zeros((h, w), bool)
    ring[:b], ring[-b:], ring[:, :b], ring[:, -b:] = True, True, True, True
    return ring


def _angle_deg(rgb: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Angle between each pixel's RGB vector and the key's: 0 for the key and its shadows."""
    norm = np.linalg.norm(rgb, axis=-1) * float(np.linalg.norm(key)) + 1e-6
    cos = (rgb @ key.astype(np.float32)) / norm
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _connected_to_border(mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` reachable from the border through `mask` (4-connected).

    The fill runs on blocks (a block counts only if all of it is in `mask`, so the subject's
    outline never thins and an enclosed region cannot leak), then grows into the edge blocks
    at full resolution."""
    h, w = mask.shape
    f = max(1, math.ceil(max(h, w) / FILL_SIDE))
    if f == 1:
        return _flood(mask, _border_seed(mask))
    bh, bw = -(-h // f), -(-w // f)
    padded = np.ones((bh * f, bw * f), bool)
    padded[:h, :w] = mask
    small = np.asarray(padded.reshape(bh, f, bw, f).all(axis=(1, 3)), bool)
    reach = _flood(small, _border_seed(small))
    seed = np.repeat(np.repeat(reach, f, axis=0), f, axis=1)[:h, :w] & mask
    return _flood(mask, seed | _border_seed(mask), max_steps=3 * f)


def _border_seed(mask: np.ndarray) -> np.ndarray:
    return mask & _ring(mask.shape[0], mask.shape[1], 1)


def _flood(mask: np.ndarray, seed: np.ndarray, max_steps: int | None = None) -> np.ndarray:
    reach = seed.copy()
    steps = 0
    while max_steps is None or steps < max_steps:
        before = int(reach.sum())
        for _ in range(8 if max_steps is None else 1):
            grown = reach.copy()
            grown[1:] |= reach[:-1]
            grown[:-1] |= reach[1:]
            grown[:, 1:] |= reach[:, :-1]
            grown[:, :-1] |= reach[:, 1:]
            reach = grown & mask
        steps += 1
        if int(reach.sum()) == before:
            break
    return reach


def _box3(a: np.ndarray) -> np.ndarray:
    """A 3x3 mean (edges replicated): one pixel of softness on every cut edge."""
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    acc = np.zeros_like(a)
    for dy in range(3):
        for dx in range(3):
            acc += p[dy : dy + h, dx : dx + w]
    return acc / 9.0


def _despill(rgb: np.ndarray, alpha: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Edge colours without the key's tint: partly transparent pixels are unmixed from the key
    (at its local brightness), and the key's dominant channel is capped at the others' maximum
    in a band along the edge."""
    out = rgb.copy()
    kk = float(key @ key) + 1e-6
    local = np.clip((rgb @ key) / kk, 0.0, 1.2)[..., None] * key  # the key as shaded here
    a = alpha[..., None]
    partial = (alpha > 0.05) & (alpha < 0.999)
    unmixed = (rgb - (1.0 - a) * local) / np.maximum(a, 0.05)
    out[partial] = np.clip(unmixed[partial], 0.0, 255.0)
    i = int(np.argmax(key))
    others = [c for c in range(3) if c != i]
    if key[i] > 1.15 * max(float(key[others[0]]), float(key[others[1]])):
        band = _box3((alpha < 0.999).astype(np.float32)) > 0.0
        cap = np.maximum(out[..., others[0]], out[..., others[1]])
        out[..., i] = np.where(band, np.minimum(out[..., i], cap), out[..., i])
    return out
