"""Per-frame compositing: a crop of the plate through the camera, then sprites over it.

Sprites are resampled in premultiplied alpha with bilinear filtering at sub-pixel positions,
so slow motion glides instead of stepping from pixel to pixel.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import numpy as np
from PIL import Image

from shotcraft.draw.kernels import Affine, through
from shotcraft.draw.plate import Plate
from shotcraft.draw.procedural import shadow as shadow_mask
from shotcraft.motion.sample import CameraState, FrameState, SubjectState, frame_state
from shotcraft.motion.track import MotionTrack

BILINEAR = Image.Resampling.BILINEAR
AFFINE = Image.Transform.AFFINE


class SpriteMips:
    """A sprite and its mirror image at halving sizes, so strong downscaling stays smooth."""

    def __init__(self, sprite: Image.Image) -> None:
        levels = [sprite.convert("RGBa")]
        while min(levels[-1].size) > 8:
            w, h = levels[-1].size
            levels.append(levels[-1].resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BOX))
        self.levels = levels
        self.mirrored = [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in levels]

    def pick(self, target_height: float, mirror: bool) -> Image.Image:
        """The smallest level still at least as tall as the target (the largest if none)."""
        ims = self.mirrored if mirror else self.levels
        best = ims[0]
        for im in ims:
            if im.height < target_height:
                break
            best = im
        return best


def layer_affine(
    cam: CameraState,
    size: tuple[int, int],
    plate_size: tuple[int, int],
    parallax: float = 1.0,
    scale: int = 1,
) -> Affine:
    """Output pixel -> plate pixel (Pillow's AFFINE coefficients) for a layer that moves
    `parallax` times as far as the camera pans; `scale` 2 maps half-size (chroma) planes."""
    w, h = size[0] / scale, size[1] / scale
    cx = (plate_size[0] / 2 + parallax * cam.pan_x * size[0]) / scale
    cy = (plate_size[1] / 2 + parallax * cam.pan_y * size[1]) / scale
    # output (u, v) -> plate: centre + R(roll) * ((u, v) - frame centre) / zoom
    r = math.radians(cam.roll)
    z = cam.zoom
    cos, sin = math.cos(r) / z, math.sin(r) / z
    if abs(cam.roll) < 1e-6:
        cos, sin = 1.0 / z, 0.0
    a, b, d, e = cos, -sin, sin, cos
    return (a, b, cx - a * w / 2 - b * h / 2, d, e, cy - d * w / 2 - e * h / 2)


class Compositor:
    def __init__(
        self,
        plate: Plate | Image.Image,
        out_size: tuple[int, int],
        sprites: dict[str, Image.Image],
    ) -> None:
        self.layers = plate if isinstance(plate, Plate) else Plate.single(plate)
        self.size = out_size
        self.sprites = {k: SpriteMips(v) for k, v in sprites.items()}
        self._shadow_cache: dict[int, Image.Image] = {}
        self._local = (
            threading.local()
        )  # the last view, per thread: frames may be drawn in parallel

    @cached_property
    def plate(self) -> Image.Image:
        """The plate as seen by a camera at rest: for what needs one picture."""
        return self.layers.flat()

    @cached_property
    def _over(self) -> list[tuple[Image.Image, float]]:
        # premultiplied, so resampling does not bleed the colour of transparent pixels
        return [(ly.image.convert("RGBa"), ly.parallax) for ly in self.layers.layers[1:]]

    def background(self, cam: CameraState) -> Image.Image:
        """The plate seen through the camera; a still camera reuses the last view."""
        last = getattr(self._local, "view", None)
        if last is not None and last[0] == cam:
            return last[1].copy()
        view = self._view(cam)
        self._local.view = (cam, view.copy())
        return view

    def _view(self, cam: CameraState) -> Image.Image:
        """Each layer through the camera with its own parallax, far to near; black beyond
        the plate's edge (sketch warns when the camera looks past it)."""
        sky = self.layers.layers[0]
        view = through(
            sky.image, self.size, layer_affine(cam, self.size, sky.image.size, sky.parallax)
        )
        for image, parallax in self._over:
            m = layer_affine(cam, self.size, image.size, parallax)
            piece = through(image, self.size, m).convert("RGBA")
            view.paste(piece, (0, 0), piece)
        return view

    def _shadow(self, width: int) -> Image.Image:
        bucket = max(4, int(width) // 4 * 4)
        mask = self._shadow_cache.get(bucket)
        if mask is None:  # two threads may both make it: same result, no harm
            mask = self._shadow_cache[bucket] = shadow_mask(bucket)
        return mask

    def sprite_map(
        self, s: SubjectState
    ) -> tuple[Image.Image, Affine, tuple[int, int, int, int]] | None:
        """Where the subject's sprite lands: the mip level (premultiplied RGBa) to sample, the
        map from frame pixels (relative to the box) to sprite pixels, and the frame box."""
        w, h = self.size
        mips = self.sprites.get(s.id)
        if mips is None or s.opacity <= 0.0 or s.height <= 0:
            return None
        target_h = s.height * h
        sprite = mips.pick(target_h, s.mirror)
        sw, sh = sprite.size
        k = target_h / sh
        fx, fy = s.sx * w, s.sy * h
        # anchor: the middle of the feet (bottom centre); rotation about it
        ax, ay = sw / 2, sh
        r = math.radians(s.rotation)
        cos, sin = math.cos(r), math.sin(r)
        xs, ys = [], []
        for px, py in ((0, 0), (sw, 0), (0, sh), (sw, sh)):
            dx, dy = (px - ax) * k, (py - ay) * k
            xs.append(fx + dx * cos - dy * sin)
            ys.append(fy + dx * sin + dy * cos)
        x0, y0 = max(math.floor(min(xs)), 0), max(math.floor(min(ys)), 0)
        x1, y1 = min(math.ceil(max(xs)), w), min(math.ceil(max(ys)), h)
        if x1 <= x0 or y1 <= y0:
            return None
        # frame -> sprite: anchor + R(-rotation) * (p - feet) / k
        a, b = cos / k, sin / k
        d, e = -sin / k, cos / k
        c = ax + a * (x0 - fx) + b * (y0 - fy)
        f = ay + d * (x0 - fx) + e * (y0 - fy)
        return sprite, (a, b, c, d, e, f), (x0, y0, x1, y1)

    def place_sprite(self, s: SubjectState) -> tuple[Image.Image, tuple[int, int]] | None:
        """The subject's sprite resampled into frame space: an RGBA piece and where it goes."""
        placed = self.sprite_map(s)
        if placed is None:
            return None
        sprite, m, (x0, y0, x1, y1) = placed
        piece = sprite.transform((x1 - x0, y1 - y0), AFFINE, m, BILINEAR)
        return piece.convert("RGBA"), (x0, y0)

    def place_shadow(self, s: SubjectState) -> tuple[Image.Image, tuple[int, int], float] | None:
        """The soft contact shadow under a subject: its mask, where it goes, how dark."""
        mips = self.sprites.get(s.id)
        if mips is None or not s.shadow:
            return None
        w, h = self.size
        strength = 0.45 * s.opacity * max(0.0, 1.0 - 2.5 * s.lift)  # fades as it hops
        if strength <= 0.01:
            return None
        sprite = mips.levels[0]
        m = self._shadow(int(sprite.width * s.height * h / sprite.height * 0.9))
        return m, (round(s.gx * w - m.width / 2), round(s.gy * h - m.height / 2)), strength

    def draw_shadow(self, frame: Image.Image, s: SubjectState) -> None:
        placed = self.place_shadow(s)
        if placed is None:
            return
        m, (x0, y0), strength = placed
        mask = m.point(lambda v: int(v * strength))
        frame.paste((0, 0, 0), (x0, y0, x0 + m.width, y0 + m.height), mask)

    def draw_subject(self, frame: Image.Image, s: SubjectState) -> None:
        self.draw_shadow(frame, s)
        placed = self.place_sprite(s)
        if placed is None:
            return
        piece, at = placed
        alpha = piece.getchannel("A")
        if s.opacity < 0.999:
            alpha = alpha.point(lambda v: int(v * s.opacity + 0.5))
        frame.paste(piece.convert("RGB"), at, alpha)

    def frame(self, state: FrameState) -> Image.Image:
        frame = self.background(state.camera)
        for s in state.subjects:
            self.draw_subject(frame, s)
        return frame

    def frame_array(self, motion: MotionTrack, i: int, samples: int = 1, shutter: float = 0.5):
        """Frame `i` as an RGB array; with samples > 1, averaged over the open shutter."""
        if samples <= 1:
            return np.asarray(self.frame(frame_state(motion, i)))
        acc = np.zeros((self.size[1], self.size[0], 3), dtype=np.float32)
        for k in range(samples):
            offset = (k / (samples - 1) - 0.5) * shutter if samples > 1 else 0.0
            acc += np.asarray(self.frame(frame_state(motion, i + offset)), dtype=np.float32)
        return (acc / samples + 0.5).astype(np.uint8)


def frames_in_order(
    draw: Callable[[int], np.ndarray], count: int, workers: int = 2, ahead: int = 4
) -> Iterator[np.ndarray]:
    """draw(0) .. draw(count - 1) on `workers` threads (Pillow releases the GIL while it
    resamples), yielded in order with at most `ahead` frames in flight: memory stays flat."""
    if workers <= 1:
        for i in range(count):
            yield draw(i)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="shotcraft-draw") as pool:
        pending: deque = deque()
        for i in range(count):
            pending.append(pool.submit(draw, i))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
