"""Golden digests of procedural plates and sprites: a pixel change without a DRAW_VERSION bump
fails here. Cached layers are keyed by DRAW_VERSION, so drawing code that changes pixels
under the same version would serve stale cache entries beside new ones.

When a change to the drawing is meant: bump DRAW_VERSION in draw/procedural.py and record
the digests this test prints for the new version.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.draw import procedural
from shotcraft.layout.planner import KeyPosition, SubjectLayout
from shotcraft.spec.model import Background, Subject

BACKGROUNDS = {
    "landscape": Background(colors=((29, 43, 58), (242, 166, 90)), seed=7),
    "ridges-5": Background(colors=((10, 20, 30), (200, 220, 240)), ridges=5, haze=0.1, seed=3),
}
SUBJECTS = {
    shape: Subject(id=f"s-{shape}", shape=shape, color=(200, 85, 61))
    for shape in ("circle", "box", "capsule", "star")
}

# DRAW_VERSION -> case -> sha256 of the premultiplied RGBA pixels (first 16 hex digits)
GOLDEN: dict[int, dict[str, str]] = {
    3: {
        "plate:landscape": "696d58a97b646b47",
        "plate:ridges-5": "0ec11b9252b4273e",
        "sprite:circle": "271cdc7477e57d80",
        "sprite:box": "f4f523efe3c88348",
        "sprite:capsule": "32691ffadf3e1072",
        "sprite:star": "66c9c98d1c2c042f",
    },
    4: {  # the plate mixed once a row (the same look, a level of rounding apart)
        "plate:landscape": "696d58a97b646b47",
        "plate:ridges-5": "375950bef2399442",
        "sprite:circle": "271cdc7477e57d80",
        "sprite:box": "f4f523efe3c88348",
        "sprite:capsule": "32691ffadf3e1072",
        "sprite:star": "66c9c98d1c2c042f",
    },
}


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def _cases() -> dict[str, str]:
    backend = ProceduralBackend()
    out = {}
    for name, bg in BACKGROUNDS.items():
        plate = backend.plate(bg, (320, 180))
        # premultiplied: what is drawn (colour under zero alpha is never seen)
        layers = [np.asarray(layer.image.convert("RGBA").convert("RGBa")) for layer in plate.layers]
        out[f"plate:{name}"] = _digest(np.concatenate([a.reshape(-1) for a in layers]))
    for shape, subject in SUBJECTS.items():
        sl = SubjectLayout(
            id=subject.id,
            shape=shape,
            aspect=0.6,
            height=0.3,
            width=0.2,
            depth=0.5,
            on_ground=True,
            shadow=True,
            placed_by="keys",
            keys=(KeyPosition(0.0, 0.5, 0.8),),
        )
        sprite = backend.sprite(subject, sl, 96).convert("RGBA").convert("RGBa")
        out[f"sprite:{shape}"] = _digest(np.asarray(sprite))
    return out


def test_drawn_pixels_match_the_digests_of_this_draw_version(kernel_path: str) -> None:
    # the native kernels and the numpy code they stand in for draw the very same bytes
    version = procedural.DRAW_VERSION
    got = _cases()
    if version not in GOLDEN or not GOLDEN[version]:
        pytest.fail(f"no golden digests for DRAW_VERSION {version}; record: {got}")
    changed = {k: v for k, v in got.items() if GOLDEN[version].get(k) != v}
    assert not changed, (
        f"procedural pixels changed under DRAW_VERSION {version} ({sorted(changed)}): bump "
        f"DRAW_VERSION in draw/procedural.py and record the new digests: {got}"
    )


@pytest.mark.parametrize("style", ["landscape", "gradient"])
def test_a_plate_just_made_is_the_plate_the_cache_hands_back(style: str) -> None:
    """A render that makes a plate uses it as made (`as_stored`), one that finds it in the
    cache decodes its PNG: both must draw the same pixels, mode and parallax included."""
    from shotcraft.draw.plate import Plate

    made = procedural.plate((320, 180), ((30, 60, 90), (240, 170, 90)), style, 5, ridges=3)
    parallax = procedural.plate_parallax(style, 2, 3)
    stored, decoded = made.as_stored(parallax), Plate.from_png(made.to_png(), parallax)
    assert len(stored.layers) == len(decoded.layers) == (4 if style == "landscape" else 1)
    for a, b in zip(stored.layers, decoded.layers, strict=True):
        assert a.image.mode == b.image.mode and a.parallax == b.parallax
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
