"""The compositing kernels: native and fallback agree, layers move with their own parallax."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from shotcraft.draw import kernels
from shotcraft.draw import procedural as draw
from shotcraft.draw.compositor import Compositor
from shotcraft.draw.plate import Plate, PlateLayer
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.motion.sample import CameraState, FrameState, SubjectState

SIZE = (320, 180)


def test_the_native_kernels_are_built_where_the_makefile_installs() -> None:
    # `make test` sets this: a compiler is at hand there, so a missing build is a bug
    if os.environ.get("SHOTCRAFT_EXPECT_NATIVE") == "1":
        assert kernels.NATIVE, "shotcraft.draw._kernels was not built"


def _state(pan: float, zoom: float = 1.0, roll: float = 0.0) -> FrameState:
    subject = SubjectState(
        id="a",
        sx=0.4 + pan,
        sy=0.8,
        gx=0.4 + pan,
        gy=0.8,
        height=0.5,
        rotation=7.0,
        mirror=False,
        opacity=0.8,
        lift=0.0,
        shadow=True,
    )
    return FrameState(CameraState(pan, 0.01, zoom, roll), (subject,))


def _yuv_compositor() -> YuvCompositor:
    plate = draw.plate((416, 234), ((30, 60, 90), (240, 170, 90)), "landscape", 5, ridges=3)
    sprite = draw.sprite("star", (220, 60, 40), 96, 0.8)
    return YuvCompositor(Compositor(plate, SIZE, {"a": sprite}))


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
@pytest.mark.parametrize(
    "state", [_state(0.0), _state(0.0371), _state(0.05, zoom=1.1), _state(0.02, 1.05, 4.0)]
)
def test_native_and_fallback_kernels_draw_the_same_frame(
    state: FrameState, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = _yuv_compositor()
    native = comp.frame(state).astype(int)
    monkeypatch.setattr(kernels, "_native", None)
    fallback = comp.frame(state).astype(int)
    h = SIZE[1]
    diff = np.abs(native - fallback)
    assert diff[:h].mean() < 0.5 and diff[:h].max() <= 6
    assert diff[h:].mean() < 0.5


def _axis(n: int, scale: float, offset: float, size: int) -> tuple[np.ndarray, ...]:
    """Where each output index reads along one axis, as the kernels define it."""
    x = scale * (np.arange(n) + 0.5) + offset - 0.5
    outside = (x < -0.5) | (x > size - 0.5)
    i = np.floor(x).astype(int)
    w = np.floor((x - i) * 256 + 0.5).astype(int)
    i, w = np.where(w == 256, i + 1, i), np.where(w == 256, 0, w)
    w, i = np.where(i < 0, 0, w), np.maximum(i, 0)
    w, i = np.where(i >= size - 1, 0, w), np.minimum(i, size - 1)
    return i, w, outside


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
@pytest.mark.parametrize("scale", [0.45, 0.93, 1.0, 1.7, 3.2])
def test_native_scaled_sampling_is_exact_bilinear(scale: float) -> None:
    # the zoom path gathers eight columns at a time where it can (and column by column
    # where a block reaches too far): every pixel must be the bilinear sample, to the level
    rng = np.random.default_rng(11)
    src = rng.integers(0, 256, (60, 150), dtype=np.uint8)
    w, h, fill = 203, 40, 16
    m = (scale, 0.0, -9.7, 0.0, scale * 0.8, -3.3)  # starts left of and above the source
    got = np.zeros((h, w), dtype=np.uint8)
    kernels.sample(got, src, m, fill, (0, h))
    xi, xw, xout = _axis(w, m[0], m[2], src.shape[1])
    yi, yw, yout = _axis(h, m[4], m[5], src.shape[0])
    s = src.astype(int)
    rows = (s[yi] * (256 - yw[:, None]) + s[np.minimum(yi + 1, 59)] * yw[:, None] + 128) >> 8
    want = (rows[:, xi] * (256 - xw) + rows[:, np.minimum(xi + 1, 149)] * xw + 128) >> 8
    want[:, xout] = fill
    want[yout, :] = fill
    assert xout.any() and not xout.all()  # some columns fall outside the source
    assert np.array_equal(got, want)


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
@pytest.mark.parametrize(("c", "f"), [(7.3, 4.6), (7.3, 4.0), (7.0, 4.0), (0.52, 9.99)])
def test_native_pan_sampling_and_over_are_exact(c: float, f: float) -> None:
    # a pan (scale 1, no roll) takes the fused path: sixteen columns at a time, a scalar tail
    # (203 = 12 * 16 + 11), the vertical lerp skipped on whole-pixel rows, "over" blocks
    # skipped where all alphas are 0 and copied where all are 255: every byte as the formula
    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, (60, 260), dtype=np.uint8)
    w, h = 203, 40
    m = (1.0, 0.0, c, 0.0, 1.0, f)

    def bilinear(plane: np.ndarray) -> np.ndarray:
        xi, xw, _ = _axis(w, 1.0, c, plane.shape[1])
        yi, yw, _ = _axis(h, 1.0, f, plane.shape[0])
        s = plane.astype(int)
        rows = (s[yi] * (256 - yw[:, None]) + s[yi + 1] * yw[:, None] + 128) >> 8
        return (rows[:, xi] * (256 - xw) + rows[:, xi + 1] * xw + 128) >> 8

    got = np.zeros((h, w), dtype=np.uint8)
    kernels.sample(got, src, m, 16, (0, h))
    assert np.array_equal(got, bilinear(src))
    alpha = rng.integers(0, 256, src.shape, dtype=np.uint8)
    alpha[:, :70] = 0  # whole blocks transparent
    alpha[:, 100:160] = 255  # whole blocks opaque
    alpha[20:22, 40:50] = 255  # and blocks of each kind broken by a few pixels
    alpha[30:33, 120:125] = 17
    layer = (alpha.astype(np.uint16) * src // 255).astype(np.uint8)
    dst = rng.integers(0, 256, (h, w), dtype=np.uint8)
    want_p, want_a = bilinear(layer), bilinear(alpha)
    x = dst.astype(np.int64) * (255 - want_a) + 128
    want = np.minimum(want_p + ((x + (x >> 8)) >> 8), 255)
    kernels.over(dst, layer, alpha, m, (0, h))
    assert np.array_equal(dst, want)


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
def test_blend_all_is_each_piece_cut_to_the_frame_and_blended_in_turn() -> None:
    # one native call for a frame's labels: the same bytes as blending each piece, cut to
    # the frame, one after another (pieces overlap, run off every edge, or miss the frame)
    rng = np.random.default_rng(9)
    W, H = 64, 36
    pieces = []
    for x, y in [(5, 3), (9, 4), (-7, 10), (58, -5), (30, 31), (-20, -20), (70, 5), (1, 1)]:
        alpha = rng.integers(0, 256, (11, 13, 1), dtype=np.uint8)
        rgb = (rng.integers(0, 256, (11, 13, 3)) * alpha // 255).astype(np.uint8)
        pieces.append((np.ascontiguousarray(np.concatenate([rgb, alpha], axis=2)), x, y))
    frame = rng.integers(0, 256, (H * 3 // 2, W), dtype=np.uint8)
    want = frame.copy()
    for piece, x, y in pieces:
        cx0, cy0 = max(0, -x), max(0, -y)
        cx1, cy1 = min(piece.shape[1], W - x), min(piece.shape[0], H - y)
        if cx1 > cx0 and cy1 > cy0:
            kernels.blend(want, piece[cy0:cy1, cx0:cx1], x + cx0, y + cy0)
    kernels.blend_all(frame, pieces)
    assert np.array_equal(frame, want)
    for bad in (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 4), np.int8)):
        with pytest.raises(ValueError, match="uint8 arrays"):
            kernels.blend_all(frame, [(bad, 0, 0)])
    kernels.blend_all(want, [[pieces[0][0], 5, 3]])  # any sequence of three will do
    kernels.blend(frame, pieces[0][0], 5, 3)
    assert np.array_equal(frame, want)


# sha256 (first 16 hex digits) of _yuv_compositor's frames at the four states above, made by
# the kernels' plain C loops before any of them had SIMD paths: every path a machine may take
# (AVX2, SSE4.1 or none) must give these very bytes
PINNED = ["0b8e3d6e1c5064b8", "d2db6b6edef91305", "a74cc8fa5d96ed16", "cae9e3d902d6090a"]


def _pinned_digests() -> list[str]:
    comp = _yuv_compositor()
    states = [_state(0.0), _state(0.0371), _state(0.05, zoom=1.1), _state(0.02, 1.05, 4.0)]
    return [hashlib.sha256(comp.frame(s).tobytes()).hexdigest()[:16] for s in states]


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
@pytest.mark.parametrize("plain", [False, True], ids=["simd", "plain-c"])
def test_native_frames_are_the_same_bytes_on_every_path(plain: bool) -> None:
    if not plain:  # the SIMD paths this CPU has
        assert _pinned_digests() == PINNED
        return
    # the plain C loops, as on a CPU without SSE4.1 or AVX2: chosen when the module loads,
    # so in a process of their own
    code = "from tests.unit.test_kernels import _pinned_digests; print(_pinned_digests())"
    env = {**os.environ, "SHOTCRAFT_KERNELS_PLAIN": "1"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(PINNED)


def _llround(v: float) -> int:
    return int(np.sign(v) * np.floor(abs(v) + 0.5))


def _rolled(src: np.ndarray, m: tuple[float, ...], size: tuple[int, int], fill: int) -> np.ndarray:
    """The kernels' bilinear sample through any affine map: a 16.16 fixed-point walk along
    each row, neighbours clamped at the source's edge, rows lerped and rounded first."""
    a, b, c, d, e, f = m
    w, h = size
    sh, sw = src.shape
    u = np.arange(w, dtype=np.int64)
    out = np.empty((h, w), dtype=np.int64)
    s = src.astype(np.int64)
    for v in range(h):
        xs = _llround((a * 0.5 + b * (v + 0.5) + c - 0.5) * 65536) + u * _llround(a * 65536)
        ys = _llround((d * 0.5 + e * (v + 0.5) + f - 0.5) * 65536) + u * _llround(d * 65536)
        far = (xs < -32768) | (ys < -32768) | (xs > sw * 65536 - 32768) | (ys > sh * 65536 - 32768)
        x0, y0 = xs >> 16, ys >> 16
        fx, fy = ((xs & 0xFFFF) + 128) >> 8, ((ys & 0xFFFF) + 128) >> 8
        x1, y1 = np.clip(x0 + 1, 0, sw - 1), np.clip(y0 + 1, 0, sh - 1)
        x0, y0 = np.clip(x0, 0, sw - 1), np.clip(y0, 0, sh - 1)
        top = (s[y0, x0] * (256 - fx) + s[y0, x1] * fx + 128) >> 8
        bot = (s[y1, x0] * (256 - fx) + s[y1, x1] * fx + 128) >> 8
        out[v] = np.where(far, fill, (top * (256 - fy) + bot * fy + 128) >> 8)
    return out


ROLLED = [
    (3.0, 1.05),  # a gentle roll: eight pixels at a time, some blocks across a row boundary
    (-7.0, 0.8),  # the other way, magnified
    (25.0, 1.6),  # steep: blocks reach over three rows, pixel by pixel
    (170.0, 1.0),  # nearly upside down: columns walk backwards
]


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
@pytest.mark.parametrize(("degrees", "scale"), ROLLED)
def test_native_rolled_sampling_and_over_are_exact(degrees: float, scale: float) -> None:
    rng = np.random.default_rng(5)
    src = rng.integers(0, 256, (70, 130), dtype=np.uint8)
    t = np.radians(degrees)
    ca, sa = scale * np.cos(t), scale * np.sin(t)
    m = (ca, -sa, 40.3, sa, ca, 12.7)  # the frame reaches past the source on every side
    w, h = 101, 57
    got = np.zeros((h, w), dtype=np.uint8)
    kernels.sample(got, src, m, 16, (0, h))
    assert np.array_equal(got, _rolled(src, m, (w, h), 16))
    # "over": a premultiplied layer (colour never above alpha), a third of it transparent
    alpha = rng.integers(0, 256, src.shape, dtype=np.uint8)
    alpha[:, : src.shape[1] // 3] = 0
    layer = (alpha.astype(np.uint16) * src // 255).astype(np.uint8)
    dst = rng.integers(0, 256, (h, w), dtype=np.uint8)
    want_p, want_a = _rolled(layer, m, (w, h), 0), _rolled(alpha, m, (w, h), 0)
    x = dst.astype(np.int64) * (255 - want_a) + 128
    want = np.minimum(want_p + ((x + (x >> 8)) >> 8), 255)
    kernels.over(dst, layer, alpha, m, (0, h))
    assert np.array_equal(dst, want)


def _stripes(x: int, mode: str, color: tuple[int, ...]) -> Image.Image:
    """A plate-sized layer with a one-pixel stripe at column x (bottom half only for RGBA)."""
    w, h = 480, 200
    im = Image.new(mode, (w, h), (255, 255, 255) if mode == "RGB" else (0, 0, 0, 0))
    top = 0 if mode == "RGB" else h // 2
    im.paste(color, (0, top, w, h) if mode == "RGBA" else (0, 0, 0, 0))
    im.paste((0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0), (x, top, x + 2, h))
    return im


def _stripe_x(row: np.ndarray) -> float:
    """Sub-pixel column of the dark stripe in a row of luma (centre of mass of darkness)."""
    dark = np.clip(row.max() - row.astype(float), 0, None)
    return float((dark * np.arange(len(row))).sum() / dark.sum())


def test_each_plate_layer_moves_with_its_own_parallax(kernel_path: str) -> None:
    sky = PlateLayer(_stripes(239, "RGB", (255, 255, 255)), 0.5)
    ground = PlateLayer(_stripes(239, "RGBA", (200, 200, 200, 255)), 1.0)
    comp = Compositor(Plate((sky, ground)), SIZE, {})
    yuv = YuvCompositor(comp)
    w, h = SIZE
    pan = 0.05  # of the frame width: 16 px for the camera
    rest = FrameState(CameraState(0.0, 0.0, 1.0, 0.0), ())
    moved = FrameState(CameraState(pan, 0.0, 1.0, 0.0), ())
    for draw_frame in (
        lambda st: yuv.frame(st)[:h],
        lambda st: np.asarray(comp.frame(st).convert("L")),
    ):
        a, b = draw_frame(rest), draw_frame(moved)
        sky_shift = _stripe_x(a[20]) - _stripe_x(b[20])
        ground_shift = _stripe_x(a[h - 20]) - _stripe_x(b[h - 20])
        assert sky_shift == pytest.approx(0.5 * pan * w, abs=0.1)  # 8 px
        assert ground_shift == pytest.approx(1.0 * pan * w, abs=0.1)  # 16 px
    # sub-pixel steps glide: a pan of a quarter pixel moves the stripe a quarter pixel
    quarter = FrameState(CameraState(0.25 / w, 0.0, 1.0, 0.0), ())
    shift = _stripe_x(yuv.frame(rest)[h - 20]) - _stripe_x(yuv.frame(quarter)[h - 20])
    assert shift == pytest.approx(0.25, abs=0.03)


def test_a_layered_plate_survives_the_cache_format() -> None:
    plate = draw.plate((64, 36), ((30, 60, 90), (240, 170, 90)), "landscape", 5, ridges=2)
    assert plate.parallax == draw.plate_parallax("landscape", 2, 2)
    data = plate.to_png()
    with Image.open(io.BytesIO(data)) as strip:  # ridges are stored from their crests down
        assert 36 < strip.height < 3 * 36
    back = Plate.from_png(data, plate.parallax)
    assert back.parallax == plate.parallax
    assert [ly.image.mode for ly in back.layers] == ["RGB", "RGBA", "RGBA"]
    for ours, theirs in zip(plate.layers, back.layers, strict=True):
        # what shows: premultiplied (colour under no alpha at all is not kept)
        ours_shown, theirs_shown = (np.asarray(ly.image.convert("RGBa")) for ly in (ours, theirs))
        assert np.array_equal(ours_shown, theirs_shown)
    assert np.array_equal(np.asarray(back.flat()), np.asarray(plate.flat()))


def test_ridges_have_soft_edges_and_near_ridges_sit_lower() -> None:
    plate = draw.plate((200, 120), ((30, 60, 90), (240, 170, 90)), "landscape", 5, ridges=3)
    alphas = [np.asarray(ly.image.getchannel("A")) for ly in plate.layers[1:]]
    for a in alphas:
        assert ((a > 0) & (a < 255)).any()  # anti-aliased crest, not a hard step
    crests = [float(np.argmax(a > 127, axis=0).mean()) for a in alphas]
    assert crests == sorted(crests)  # far ridges higher up the frame than near ones


@pytest.mark.skipif(not kernels.NATIVE, reason="the native kernels are not built")
def test_native_kernels_refuse_buffers_that_are_too_small() -> None:
    dst = np.zeros((10, 10), np.uint8)
    small = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="source"):
        kernels._native.sample(dst, 10, 10, small, 10, 10, (1, 0, 0, 0, 1, 0), 0, 0, 10)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="even"):
        kernels._native.blend(dst, 9, 9, small, 1, 1, 0, 0, 1.0)  # type: ignore[union-attr]
