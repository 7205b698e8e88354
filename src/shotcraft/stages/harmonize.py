"""Harmonize and coherence: corrections painted on key frames, carried along known motion.

The model repaints every K-th composite (image-to-image, low strength, the same noise every
time). The correction it made (harmonized minus composite) is carried to the frames between
two key frames along the camera's known motion (we know where every plate pixel moved, so no
optical flow is estimated) and cross-faded between the two keys. Each harmonized key frame is
cached by the digest of its composite: change half a shot and only that half is repainted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from shotcraft.backends.base import ModelBackend
from shotcraft.cache import Cache
from shotcraft.draw.carry import carry, plate_part
from shotcraft.draw.compositor import Compositor
from shotcraft.motion.sample import frame_state
from shotcraft.motion.track import MotionTrack
from shotcraft.stages.layers import from_png, to_png

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
        backend: ModelBackend,
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
