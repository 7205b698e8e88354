"""Pictures in every mode Pillow opens come out as the 8-bit RGB(A) they show."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcraft.draw.images import (
    BadImage,
    check_image,
    open_image,
    png_bytes,
    to_rgb,
    to_rgba,
)


def _modes() -> list[tuple[str, Image.Image]]:
    grey16 = Image.fromarray(np.full((4, 6), 0x8080, dtype=np.uint16))
    grey32 = Image.fromarray(np.full((4, 6), 0x8080, dtype=np.int32), "I")
    floats = Image.fromarray(np.full((4, 6), 128 / 255, dtype=np.float32), "F")
    rgb = Image.new("RGB", (6, 4), (128, 128, 128))
    return [
        ("I;16", grey16),
        ("I", grey32),
        ("F", floats),
        ("L", rgb.convert("L")),
        ("LA", rgb.convert("LA")),
        ("P", rgb.convert("P")),
        ("RGBA", rgb.convert("RGBA")),
        ("CMYK", rgb.convert("CMYK")),
        ("1", Image.new("1", (6, 4), 1)),
    ]


@pytest.mark.parametrize("mode, image", _modes(), ids=[m for m, _ in _modes()])
def test_every_mode_becomes_the_grey_it_shows(
    tmp_path: Path, mode: str, image: Image.Image
) -> None:
    want = 255 if mode == "1" else 128
    rgb, rgba = np.asarray(to_rgb(image)), np.asarray(to_rgba(image))
    assert rgb.shape == (4, 6, 3) and rgba.shape == (4, 6, 4)
    assert rgb.astype(int).mean() == pytest.approx(want, abs=2), mode
    assert rgba[..., :3].astype(int).mean() == pytest.approx(want, abs=2), mode
    if mode in ("I;16", "L", "RGBA", "P"):  # and through a file, as users give them
        image.save(tmp_path / "p.png")
        with open_image(tmp_path / "p.png") as im:
            assert np.asarray(to_rgb(im)).astype(int).mean() == pytest.approx(want, abs=2)


def test_bomb_limit_is_an_error_not_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (40, 30)).save(tmp_path / "big.png")
    assert check_image(tmp_path / "big.png") == (40, 30)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1200 pixels: over, not twice over
    with pytest.raises(BadImage, match="too large"):
        check_image(tmp_path / "big.png")


def test_png_bytes_round_trip_through_pillow() -> None:
    rng = np.random.default_rng(3)
    for shape, mode in (((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")):
        a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
        data = png_bytes([a, b[:2]], {"shotcraft-rows": '{"tops": [0, 3]}'})
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert im.mode == mode
            assert im.info["shotcraft-rows"] == '{"tops": [0, 3]}'
            assert np.array_equal(np.asarray(im), np.concatenate([a, b[:2]]))
    with pytest.raises(ValueError, match="cannot store"):
        png_bytes([np.zeros((2, 3, 3), np.uint8), np.zeros((2, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="cannot store"):
        png_bytes([np.zeros((2, 3, 2), np.uint8)])
