"""The video pass: a video-to-video model over chunks of the frames, each chunk cached by
the digest of its input frames."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
from PIL import Image

from shotcraft.backends.base import ModelBackend
from shotcraft.cache import Cache
from shotcraft.stages.layers import from_png, to_png

VIDEO_CHUNK = 16  # frames AnimateDiff sees at once


class VideoPass:
    """AnimateDiff video-to-video over chunks of the frames, each chunk cached by its input."""

    def __init__(
        self, backend: ModelBackend, cache: Cache, prompt: str, seed: int, chunk: int = VIDEO_CHUNK
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
