"""Harmonize and coherence: corrections painted on key frames, carried along known motion.

The model repaints every K-th composite (image-to-image, low strength, the same noise every
time). The correction it made (harmonized minus composite) is carried to the frames between
two key frames along the camera's known motion (we know where every plate pixel moved, so no
optical flow is estimated) and cross-faded between the two keys. Each harmonized key frame is
cached by the digest of its composite: change half a shot and only that half is repainted.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterator, Sequence
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


def keys_for(keys: Sequence[int], start: int, end: int) -> list[int]:
    """The key frames that frames [start, end) are made from: the last key at or before
    `start` through the first key after `end - 1` (a frame between two keys needs both)."""
    first = bisect.bisect_right(keys, start) - 1
    last = bisect.bisect_right(keys, end - 1) - 1
    if last + 1 < len(keys) and keys[last] != end - 1:
        last += 1
    return list(keys[max(0, first) : last + 1])


# A key frame's harmonized image, given its index and its composite: the model through the
# cache (Harmonizer.harmonized), or one painted elsewhere and handed in (a segment worker's).
Painted = Callable[[int, np.ndarray], np.ndarray]


class Harmonizer:
    def __init__(
        self,
        backend: ModelBackend | None,
        cache: Cache | None,
        comp: Compositor,
        motion: MotionTrack,
        plate: tuple[int, int],
        every: int | None,
        prompt: str,
        seed: int,
        samples: int = 1,
        shutter: float = 0.5,
    ) -> None:
        """`backend` and `cache` may be None where every key frame is handed in (frames'
        `painted`): a worker that only carries corrections needs no model."""
        self.backend, self.cache, self.comp, self.motion = backend, cache, comp, motion
        self.plate, self.every, self.prompt, self.seed = plate, every, prompt, seed
        self.samples, self.shutter = samples, shutter
        self.size = comp.size
        self.hits = 0
        self.misses = 0
        self.repainted: list[int] = []

    def keys(self) -> list[int]:
        return key_frames(self.motion, self.every)

    def composite(self, i: int) -> np.ndarray:
        return self.comp.frame_array(self.motion, i, self.samples, self.shutter)

    def paint(self, i: int, composite: np.ndarray) -> tuple[bytes, bool, dict[str, Any]]:
        """Key frame i harmonized, through the cache: (PNG bytes, a cache hit, the key spec).
        One model call on a miss; a unit of work of its own (executors run them as tasks)."""
        assert self.backend is not None and self.cache is not None
        backend = self.backend
        digest = hashlib.sha256(composite.tobytes()).hexdigest()
        spec = backend.harmonize_spec(digest, self.size, self.seed)
        spec["prompt"] = self.prompt
        got = self.cache.get_or_make(
            spec,
            lambda: to_png(backend.harmonize(Image.fromarray(composite), self.prompt, self.seed)),
            f"{backend.name} {backend.version}",
        )
        if got.hit:
            self.hits += 1
        else:
            self.misses += 1
            self.repainted.append(i)
        return got.data, got.hit, spec

    def harmonized(self, i: int, composite: np.ndarray) -> np.ndarray:
        return decode_key(self.paint(i, composite)[0])

    def frames(
        self, start: int = 0, end: int | None = None, painted: Painted | None = None
    ) -> Iterator[np.ndarray]:
        """Frames [start, end) (the whole shot by default), each key frame's correction from
        `painted` (default: the model through the cache) and carried to the frames around it.
        Any range gives the very frames the whole shot has there: a segment needs only the
        key frames `keys_for` names."""
        n = self.motion.frames
        end = n if end is None else end
        keys = self.keys()
        get = self.harmonized if painted is None else painted
        made: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

        def key(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if k not in made:
                comp_k = self.composite(k)
                corr_k = get(k, comp_k).astype(np.float32) - comp_k
                plate_k = plate_part(self.comp, self.motion, corr_k, k)  # once per key
                made[k] = (comp_k, corr_k, plate_k)
            return made[k]

        def carried(k: int, t: int) -> np.ndarray:
            _, corr, plate_corr = key(k)
            return carry(self.comp, self.motion, self.plate, corr, k, t, plate_corr)

        j = bisect.bisect_right(keys, start) - 1  # keys[j]: the last key at or before t
        for t in range(start, end):
            while j + 1 < len(keys) and keys[j + 1] <= t:
                j += 1
            for old in [k for k in made if k < keys[j]]:
                del made[old]
            a = keys[j]
            if t == a:
                comp_a, corr_a, _ = key(a)
                yield np.clip(comp_a + corr_a + 0.5, 0, 255).astype(np.uint8)
                continue
            if j + 1 < len(keys):  # between two keys: both corrections, cross-faded
                b = keys[j + 1]
                key(b)  # the later key is painted before the frames that lead up to it
                w = (t - a) / (b - a)
                corr = (1 - w) * carried(a, t) + w * carried(b, t)
            else:  # after the last key: its correction, carried along
                corr = carried(a, t)
            yield np.clip(self.composite(t) + corr + 0.5, 0, 255).astype(np.uint8)


def decode_key(png: bytes) -> np.ndarray:
    """A harmonized key frame as the cache holds it, as RGB."""
    return np.asarray(from_png(png).convert("RGB"))
