"""Sprite keying: the key colour from the border, a connected fill, soft despilled edges, and a
warning when the model painted no plain background."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shotcraft.backends.keying import key_out

W, H = 160, 240


def _sprite(
    bg: tuple[int, int, int], shadow: bool = False, noise: float = 3.0
) -> tuple[Image.Image, np.ndarray, np.ndarray, np.ndarray]:
    """A brown body on `bg`, a patch of the key colour inside it (enclosed: must stay) and,
    optionally, a contact shadow on the ground (key colour at 35% brightness)."""
    img = np.zeros((H, W, 3), np.float32)
    img[:] = bg
    yy, xx = np.mgrid[0:H, 0:W]
    under = ((xx - W / 2) / (W * 0.42)) ** 2 + ((yy - H * 0.9) / (H * 0.05)) ** 2 < 1
    if shadow:
        img[under] = np.array(bg) * 0.35
    body = ((xx - W / 2) / (W * 0.3)) ** 2 + ((yy - H * 0.5) / (H * 0.35)) ** 2 < 1
    img[body] = (180, 70, 40)
    inner = ((xx - W / 2) / (W * 0.08)) ** 2 + ((yy - H * 0.5) / (H * 0.08)) ** 2 < 1
    img[inner] = np.array(bg) * 0.9
    img += np.random.default_rng(0).normal(0, noise, img.shape)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8)), body, inner, under & ~body


def _erode(mask: np.ndarray, n: int = 2) -> np.ndarray:
    out = mask.copy()
    for _ in range(n):
        out[1:-1, 1:-1] &= out[:-2, 1:-1] & out[2:, 1:-1] & out[1:-1, :-2] & out[1:-1, 2:]
    return out


@pytest.mark.parametrize(
    "bg",
    [(50, 205, 50), (152, 251, 152), (0, 255, 0), (40, 170, 70)],
    ids=["lime", "pale", "pure", "studio"],
)
@pytest.mark.parametrize("shadow", [False, True], ids=["flat", "shadowed"])
def test_the_background_keys_out_and_green_inside_the_subject_stays(
    bg: tuple[int, int, int], shadow: bool
) -> None:
    img, body, inner, under = _sprite(bg, shadow)
    keyed = key_out(img)
    alpha = np.asarray(keyed.image)[..., 3] / 255.0
    outside = _erode(~body)
    assert alpha[outside].mean() < 0.01 and alpha[outside].max() < 0.2  # no haze box
    assert alpha[_erode(body)].min() > 0.99
    assert alpha[inner].min() > 0.99  # enclosed green is part of the subject
    if shadow:
        assert alpha[_erode(under)].max() < 0.2  # a contact shadow is keyed out too
    assert keyed.warnings == ()
    assert abs(keyed.coverage - body.mean()) < 0.02
    assert np.allclose(keyed.key, bg, atol=8)


def test_edges_are_soft_and_despilled() -> None:
    img, body, _, _ = _sprite((50, 205, 50), noise=0.0)
    # a blend of subject and key along the edge, as a painted edge has
    rgb = np.asarray(img).astype(np.float32)
    edge = body & ~_erode(body, 2)
    rgb[edge] = 0.5 * rgb[edge] + 0.5 * np.array((50, 205, 50))
    out = np.asarray(key_out(Image.fromarray(rgb.astype(np.uint8))).image).astype(np.float32)
    a = out[..., 3]
    assert ((a > 10) & (a < 245)).sum() > 0  # partial alpha along the edge
    seen = edge & (a > 10)
    r, g, b = out[seen, 0], out[seen, 1], out[seen, 2]
    assert (g <= np.maximum(r, b) + 1).all()  # no green fringe where the subject is visible


def test_a_sprite_that_ignored_the_plain_background_warns_and_stays_opaque() -> None:
    rng = np.random.default_rng(1)
    scene = (rng.random((H, W, 3)) * 255).astype(np.uint8)  # a busy picture to the edges
    keyed = key_out(Image.fromarray(scene))
    assert np.asarray(keyed.image)[..., 3].min() == 255
    (warning,) = keyed.warnings
    assert "not a flat key colour" in warning


def test_a_subject_that_fills_the_frame_warns() -> None:
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = (50, 205, 50)
    img[3:-3, 3:-3] = (180, 70, 40)  # an opaque rectangle inside a thin green rim
    keyed = key_out(Image.fromarray(img))
    (warning,) = keyed.warnings
    assert "fills" in warning and keyed.coverage > 0.9
