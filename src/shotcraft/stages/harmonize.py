"""Harmonize and coherence: corrections painted on key frames, carried along known motion.

The model repaints every K-th composite (image-to-image, low strength, the same noise every
time). The correction it made (harmonized minus composite) is carried to the frames between
two key frames along the camera's known motion (we know where every plate pixel moved, so no
optical flow is estimated) and cross-faded between the two keys. Each harmonized key frame is
cached by the digest of its composite: change half a shot and only that half is repainted.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from shotcraft.cache import Cache
from shotcraft.draw.compositor import CameraState, Compositor, frame_state
from shotcraft.motion.track import MotionTrack
from shotcraft.stages.layers import from_png, to_png


def screen_to_plate(cam: CameraState, size: tuple[int, int], plate: tuple[int, int]) -> np.ndarray:
    """3x3 matrix: frame pixel -> plate pixel for this camera (the compositor's mapping)."""
    w, h = size
    pw, ph = plate
    r = math.radians(cam.roll)
    c, s = math.cos(r) / cam.zoom, math.sin(r) / cam.zoom
    cx, cy = pw / 2 + cam.pan_x * w, ph / 2 + cam.pan_y * h
    return np.array(
        [[c, -s, cx - c * w / 2 + s * h / 2], [s, c, cy - s * w / 2 - c * h / 2], [0.0, 0.0, 1.0]]
    )


def warp(image: np.ndarray, out_to_in: np.ndarray) -> np.ndarray:
    """Resample a float HxWxC array so output pixel p shows input pixel out_to_in @ p."""
    return _warp_into(image, out_to_in, (image.shape[1], image.shape[0]))


def motion_between(
    motion: MotionTrack, a: int, b: int, size: tuple[int, int], plate: tuple[int, int]
) -> np.ndarray:
    """Frame-b pixel -> frame-a pixel, following the plate (the camera)."""
    ma = screen_to_plate(frame_state(motion, a).camera, size, plate)
    mb = screen_to_plate(frame_state(motion, b).camera, size, plate)
    return np.linalg.inv(ma) @ mb


class Coherence:
    """Temporal figures on small copies of the output frames, over every STRIDE-th pair of
    consecutive frames (a sample keeps the render loop cheap; the figures are means).

    warping_error: mean absolute difference (0..255) between a frame and the one before it
    moved along the known camera motion. temporal_flicker: VBench-style score, 1 minus the
    mean absolute difference between consecutive frames over 255 (1 = perfectly steady).
    """

    SCALE = 8
    STRIDE = 4

    def __init__(self, motion: MotionTrack, size: tuple[int, int], plate: tuple[int, int]):
        self.motion, self.size, self.plate = motion, size, plate
        self.small = (max(1, size[0] // self.SCALE), max(1, size[1] // self.SCALE))
        self.prev: np.ndarray | None = None
        self.i = 0
        self.pairs = 0
        self.warp_sum = 0.0
        self.diff_sum = 0.0

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 2:  # I420 planes: the luma is enough for these figures
            frame = frame[: self.size[1]]
        img = Image.fromarray(frame)
        if img.width % self.SCALE == 0 and img.height % self.SCALE == 0:
            img = img.reduce(self.SCALE)  # box filter in C: far cheaper than resize
        else:
            img = img.resize(self.small, Image.Resampling.BOX)
        small = np.asarray(img, dtype=np.float32)
        return small[..., None] if small.ndim == 2 else small

    def add(self, frame: np.ndarray) -> None:
        i, self.i = self.i, self.i + 1
        phase = i % self.STRIDE
        if phase == self.STRIDE - 1:
            self.prev = self._shrink(frame)
        elif phase == 0 and self.prev is not None and i > 0:
            cur = self._shrink(frame)
            k = self.SCALE
            m = motion_between(self.motion, i - 1, i, self.size, self.plate)
            scale = np.diag([k, k, 1.0])
            moved = warp(self.prev, np.linalg.inv(scale) @ m @ scale)
            self.warp_sum += float(np.abs(cur - moved)[2:-2, 2:-2].mean())
            self.diff_sum += float(np.abs(cur - self.prev).mean())
            self.pairs += 1
            self.prev = None

    def report(self) -> dict[str, float]:
        pairs = max(1, self.pairs)
        return {
            "warping_error": round(self.warp_sum / pairs, 4),
            "temporal_flicker": round(1.0 - self.diff_sum / pairs / 255.0, 6),
            "pairs_sampled": self.pairs,
        }


def plate_part(comp: Compositor, motion: MotionTrack, corr: np.ndarray, a: int) -> np.ndarray:
    """The plate's own correction at key frame `a`: where subjects covered the plate it is
    unknown, so it is filled from the plate around them (a normalized blur)."""
    w, h = comp.size
    visible = np.ones((h, w, 1), dtype=np.float32)
    for sa in frame_state(motion, a).subjects:
        placed = comp.place_sprite(sa)
        if placed is not None:
            piece, (x0, y0) = placed
            alpha = np.asarray(piece.getchannel("A"), dtype=np.float32)[..., None] / 255.0
            visible[y0 : y0 + piece.height, x0 : x0 + piece.width] *= 1.0 - alpha
    if not (visible < 1.0).any():
        return corr
    fill = _smooth(corr * visible) / np.maximum(_smooth(visible), 1e-3)
    return corr * visible + fill * (1.0 - visible)


def carry(
    comp: Compositor,
    motion: MotionTrack,
    plate: tuple[int, int],
    corr: np.ndarray,
    a: int,
    t: int,
    plate_corr: np.ndarray | None = None,
) -> np.ndarray:
    """A correction made at frame `a`, moved to frame `t` along each layer's known motion:
    the plate's (the camera), then each subject's own (position, size, turn, facing) inside its
    silhouette at `t`, drawn far to near like the composite. `plate_corr` is
    plate_part(corr, a), passed in when one key's correction is carried to many frames."""
    size = comp.size
    at_a, at_t = frame_state(motion, a), frame_state(motion, t)
    if plate_corr is None:
        plate_corr = plate_part(comp, motion, corr, a)
    out = warp(plate_corr, motion_between(motion, a, t, size, plate))
    for sa, st in zip(at_a.subjects, at_t.subjects, strict=True):
        placed = comp.place_sprite(st)
        if placed is None or sa.height <= 0 or st.height <= 0:
            continue
        piece, (x0, y0) = placed
        ph, pw = piece.height, piece.width
        alpha = np.asarray(piece.getchannel("A"), dtype=np.float32)[..., None] / 255.0
        if not alpha.any():
            continue
        m = subject_motion(sa, st, size, (x0, y0))
        moved = _warp_into(corr, m, (pw, ph))
        region = out[y0 : y0 + ph, x0 : x0 + pw]
        out[y0 : y0 + ph, x0 : x0 + pw] = moved * alpha + region * (1.0 - alpha)
    return out


def _affine(a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def _turn(degrees: float) -> np.ndarray:
    r = math.radians(degrees)
    return _affine(math.cos(r), -math.sin(r), 0.0, math.sin(r), math.cos(r), 0.0)


def subject_motion(
    sa: Any, st: Any, size: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """3x3 matrix: a pixel of the subject at frame t (relative to `origin`) -> the same point
    of the subject at frame a. Follows its feet, size, rotation about the feet, and facing."""
    w, h = size
    k = sa.height / st.height
    flip = _affine(-1.0 if sa.mirror != st.mirror else 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    to_t = _affine(1.0, 0.0, origin[0] - st.sx * w, 0.0, 1.0, origin[1] - st.sy * h)
    to_a = _affine(1.0, 0.0, sa.sx * w, 0.0, 1.0, sa.sy * h)
    scale = _affine(k, 0.0, 0.0, 0.0, k, 0.0)
    return to_a @ _turn(sa.rotation) @ scale @ flip @ _turn(-st.rotation) @ to_t


def _smooth(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """A cheap wide blur: down by `factor` with a box filter, back up bilinearly."""
    h, w = image.shape[:2]
    small = (max(1, w // factor), max(1, h // factor))
    chans = []
    for c in range(image.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(image[..., c]), "F")
        im = im.resize(small, Image.Resampling.BOX).resize((w, h), Image.Resampling.BILINEAR)
        chans.append(np.asarray(im))
    return np.stack(chans, axis=-1)


def _warp_into(image: np.ndarray, out_to_in: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Like warp, into an output of another size (a region)."""
    coeffs = tuple(out_to_in[:2].ravel())
    chans = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c]), "F").transform(
                size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(chans, axis=-1)


# With `every = "auto"`, a new key frame comes when the scene has changed in a way carrying a
# correction along the known motion does not follow well, or after a second at the most.
AUTO_MAX_SECONDS = 1.0
AUTO_ZOOM = 1.15  # the camera zoomed in or out this much since the key
AUTO_ROLL = 10.0  # degrees of camera roll since the key
AUTO_REVEAL = 0.2  # this fraction of the frame newly in view (pan)
AUTO_SIZE = 1.25  # a subject grew or shrank this much (corrections get resampled)
AUTO_OPACITY = 0.25  # a subject faded this much
AUTO_ROTATION = 25.0  # degrees a subject turned since the key


def key_frames(motion: MotionTrack, every: int | None) -> list[int]:
    """The frames harmonize repaints: every K-th, or with None ("auto") where the scene has
    drifted from the last key (see the AUTO_ limits). Frames after the last key carry it."""
    n = motion.frames
    if every is not None:
        return list(range(0, n, every))
    most = max(1, round(AUTO_MAX_SECONDS * motion.fps))
    keys = [0]
    for t in range(1, n):
        if t - keys[-1] >= most or drifted(motion, keys[-1], t):
            keys.append(t)
    return keys


def drifted(motion: MotionTrack, a: int, b: int) -> bool:
    """Has the scene at frame b moved from frame a further than a carried correction holds?"""
    sa, sb = frame_state(motion, a), frame_state(motion, b)
    ca, cb = sa.camera, sb.camera
    if max(ca.zoom, cb.zoom) / max(min(ca.zoom, cb.zoom), 1e-6) > AUTO_ZOOM:
        return True
    if abs(ca.roll - cb.roll) > AUTO_ROLL:
        return True
    if (abs(ca.pan_x - cb.pan_x) + abs(ca.pan_y - cb.pan_y)) * cb.zoom > AUTO_REVEAL:
        return True
    for x, y in zip(sa.subjects, sb.subjects, strict=True):
        if abs(x.opacity - y.opacity) > AUTO_OPACITY:
            return True
        if (x.height > 0) != (y.height > 0) or _on_screen(x) != _on_screen(y):
            return True
        if x.height > 0 and max(x.height, y.height) / min(x.height, y.height) > AUTO_SIZE:
            return True
        if abs(x.rotation - y.rotation) > AUTO_ROTATION:
            return True
    return False


def _on_screen(s: Any) -> bool:
    return s.opacity > 0 and -0.1 <= s.sx <= 1.1 and 0.0 <= s.sy <= 1.0 + s.height


class Harmonizer:
    def __init__(
        self,
        backend: Any,
        cache: Cache,
        comp: Compositor,
        motion: MotionTrack,
        plate: tuple[int, int],
        every: int | None,
        prompt: str,
        seed: int,
        samples: int = 1,
        shutter: float = 0.5,
    ) -> None:
        self.backend, self.cache, self.comp, self.motion = backend, cache, comp, motion
        self.plate, self.every, self.prompt, self.seed = plate, every, prompt, seed
        self.samples, self.shutter = samples, shutter
        self.size = comp.size
        self.hits = 0
        self.misses = 0
        self.repainted: list[int] = []

    def _composite(self, i: int) -> np.ndarray:
        return self.comp.frame_array(self.motion, i, self.samples, self.shutter)

    def _harmonized(self, i: int, composite: np.ndarray) -> np.ndarray:
        digest = hashlib.sha256(composite.tobytes()).hexdigest()
        spec = self.backend.harmonize_spec(digest, self.size, self.seed)
        spec["prompt"] = self.prompt
        got = self.cache.get_or_make(
            spec,
            lambda: to_png(
                self.backend.harmonize(Image.fromarray(composite), self.prompt, self.seed)
            ),
            f"{self.backend.name} {self.backend.version}",
        )
        if got.hit:
            self.hits += 1
        else:
            self.misses += 1
            self.repainted.append(i)
        return np.asarray(from_png(got.data).convert("RGB"))

    def frames(self) -> Iterator[np.ndarray]:
        n = self.motion.frames
        prev_key, prev_corr, prev_plate = -1, None, None

        def carried(corr: np.ndarray, plate_corr: np.ndarray, key: int, t: int) -> np.ndarray:
            return carry(self.comp, self.motion, self.plate, corr, key, t, plate_corr)

        for k in key_frames(self.motion, self.every):
            comp_k = self._composite(k)
            corr_k = self._harmonized(k, comp_k).astype(np.float32) - comp_k
            plate_k = plate_part(self.comp, self.motion, corr_k, k)  # once per key, not per frame
            if prev_corr is not None and prev_plate is not None:
                for t in range(prev_key + 1, k):
                    w = (t - prev_key) / (k - prev_key)
                    corr = (1 - w) * carried(prev_corr, prev_plate, prev_key, t) + w * carried(
                        corr_k, plate_k, k, t
                    )
                    yield np.clip(self._composite(t) + corr + 0.5, 0, 255).astype(np.uint8)
            yield np.clip(comp_k + corr_k + 0.5, 0, 255).astype(np.uint8)
            prev_key, prev_corr, prev_plate = k, corr_k, plate_k
        for t in range(prev_key + 1, n):  # after the last key: its correction, carried along
            assert prev_corr is not None and prev_plate is not None
            corr = carried(prev_corr, prev_plate, prev_key, t)
            yield np.clip(self._composite(t) + corr + 0.5, 0, 255).astype(np.uint8)


VIDEO_CHUNK = 16  # frames AnimateDiff sees at once


class VideoPass:
    """AnimateDiff video-to-video over chunks of the frames, each chunk cached by its input."""

    def __init__(
        self, backend: Any, cache: Cache, prompt: str, seed: int, chunk: int = VIDEO_CHUNK
    ):
        self.backend, self.cache, self.prompt, self.seed, self.chunk = (
            backend,
            cache,
            prompt,
            seed,
            chunk,
        )
        self.chunks = 0
        self.repainted = 0

    def _run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        h = hashlib.sha256()
        for f in frames:
            h.update(f.tobytes())
        size = (frames[0].shape[1], frames[0].shape[0])
        spec = self.backend.video_spec(h.hexdigest(), size, self.seed)
        spec["prompt"] = self.prompt

        def make() -> bytes:
            self.repainted += 1
            out = self.backend.video_to_video(
                [Image.fromarray(f) for f in frames], self.prompt, self.seed
            )
            strip = np.concatenate([np.asarray(o) for o in out], axis=0)  # frames stacked
            return to_png(Image.fromarray(strip))

        got = self.cache.get_or_make(spec, make, f"{self.backend.name} {self.backend.version}")
        strip = np.asarray(from_png(got.data).convert("RGB"))
        self.chunks += 1
        return list(strip.reshape(len(frames), size[1], size[0], 3))

    def frames(self, source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        batch: list[np.ndarray] = []
        for f in source:
            batch.append(f)
            if len(batch) == self.chunk:
                yield from self._run(batch)
                batch = []
        if batch:
            yield from self._run(batch)
