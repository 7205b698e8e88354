"""The video pass: a video model (Wan VACE, LTX condition, CogVideoX, AnimateDiff) over
overlapping chunks of the composite, each chunk cached by the digest of everything it reads.

The render stage calls `build_video_pass` once and pulls frames through `VideoPass.frames`;
the estimate calls `video_work`. Where chunks are cross-faded they are independent model calls:
the executors take their inputs from `VideoPass.chunk_jobs`, paint them elsewhere
(`paint_chunk`, through the cache) and join them here with `VideoPass.frames(known=...)`.

Frames are resampled to the model's rate and size, padded to its frame rule, painted chunk
by chunk, cross-faded over the overlaps, and given back at the shot's own rate, size and frame
count. With `regenerate`, pixels outside the subjects' masks are the composite's.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from shotcraft.backends.base import ModelBackend
from shotcraft.backends.video_base import (
    ChunkJob,
    FrameRules,
    VideoModelBackend,
    VideoSettings,
    family_of,
    video_backend,
)
from shotcraft.cache import Cache
from shotcraft.draw.carry import motion_between, warp
from shotcraft.draw.compositor import Compositor
from shotcraft.errors import BackendUnavailable
from shotcraft.motion.sample import frame_state
from shotcraft.motion.track import MotionTrack
from shotcraft.spec.model import Shot
from shotcraft.stages.common import has_video_pass
from shotcraft.stages.layers import from_png, to_png

VIDEO_CHUNK = 16  # frames AnimateDiff sees at once


# ------------------------------------------------------------------------------ the plan
@dataclass(frozen=True, slots=True)
class Chunk:
    start: int  # first model frame it covers
    length: int  # model frames it covers
    padded: int  # frames the model is given: `length` rounded up to the frame rule


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """Model frames on the model's own timeline (its rate), cut into overlapping chunks."""

    shot_frames: int
    shot_fps: float
    work_fps: float
    model_frames: int
    chunks: tuple[Chunk, ...]

    def source(self, j: int) -> int:
        """The shot frame that model frame j shows (the nearest in time)."""
        if self.work_fps == self.shot_fps:
            return min(j, self.shot_frames - 1)
        return min(self.shot_frames - 1, round(j * self.shot_fps / self.work_fps))

    def time(self, i: int) -> float:
        """Shot frame i on the model's timeline (fractional between model frames)."""
        if self.work_fps == self.shot_fps:
            return float(i)
        return min(i * self.work_fps / self.shot_fps, self.model_frames - 1.0)

    def weights(self, c: int) -> np.ndarray:
        """Chunk c's cross-fade weights over its frames: ramps over the shared frames."""
        ch = self.chunks[c]
        w = np.ones(ch.length, dtype=np.float32)
        if c > 0:
            prev = self.chunks[c - 1]
            ov = max(0, prev.start + prev.length - ch.start)
            w[:ov] = np.minimum(w[:ov], np.arange(1, ov + 1) / (ov + 1))
        if c + 1 < len(self.chunks):
            nxt = self.chunks[c + 1]
            ov = max(0, ch.start + ch.length - nxt.start)
            if ov:
                w[-ov:] = np.minimum(w[-ov:], np.arange(ov, 0, -1) / (ov + 1))
        return w

    def frames_completed(self, c: int) -> int:
        """Shot frames whose painting is whole once chunks 0..c are in (each frame counted
        under one chunk: the bar's share of chunk c)."""

        def before(end: float) -> int:
            return sum(1 for i in range(self.shot_frames) if self.time(i) < end)

        def end(k: int) -> float:
            return float(
                self.model_frames if k + 1 >= len(self.chunks) else self.chunks[k + 1].start
            )

        return before(end(c)) - (before(end(c - 1)) if c > 0 else 0)

    def boundaries(self) -> list[tuple[float, float]]:
        """Model-time spans where one chunk hands over to the next (the pair entering the
        cross-fade to the pair leaving it)."""
        out = []
        for a, b in zip(self.chunks, self.chunks[1:], strict=False):
            out.append((b.start - 1.0, float(a.start + a.length)))
        return out


def plan_chunks(
    shot_frames: int, shot_fps: float, settings: VideoSettings, rules: FrameRules
) -> ChunkPlan:
    """Chunks of `settings.chunk` model frames that share at least `settings.overlap`
    frames, starting on the frame rule's grid; the last one ends on the last frame."""
    work_fps = float(settings.fps)
    if work_fps == shot_fps:
        m = shot_frames
    else:
        m = math.ceil((shot_frames - 1) * work_fps / shot_fps - 1e-9) + 1
    n, ov, f = settings.chunk, settings.overlap, max(1, rules.frame_factor)
    # chunks start on the VAE's time grid (the overlap grows to fit), so the latent frames
    # of two chunks stand for the same frames and can share their noise
    step = max(f, (n - ov) // f * f)
    starts = [0]
    while starts[-1] + n < m:
        starts.append(starts[-1] + step)
    chunks = tuple(
        Chunk(s, min(n, m - s), rules.frames_for(min(n, m - s))) for s in starts
    )  # the last one may be shorter: padded to the frame rule
    return ChunkPlan(shot_frames, float(shot_fps), work_fps, m, chunks)


# ------------------------------------------------------------------ what the model is given
def _digest(arrays: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _resize(frame: np.ndarray, size: tuple[int, int], resample: Any) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return np.asarray(Image.fromarray(frame).resize(size, resample))


class FrameInputs:
    """What shotcraft knows about every frame beyond its pixels, from the compositor's
    placement (as `refine --controls` computes it): subject masks, depth, who is visible."""

    def __init__(
        self,
        motion: MotionTrack,
        comp: Compositor,
        sprites: dict[str, Image.Image],
        regenerate: tuple[str, ...],
        dilate: int,
    ) -> None:
        self.motion, self.comp, self.sprites = motion, comp, sprites
        self.regenerate, self.dilate = regenerate, dilate
        self.depths = {s.id: s.depth for s in motion.subjects}
        self._masks: dict[int, np.ndarray] = {}

    def mask(self, i: int) -> np.ndarray:
        """Where the model may paint in shot frame i: the named subjects' silhouettes grown
        by `dilate` pixels (bool, at the render size)."""
        got = self._masks.get(i)
        if got is not None:
            return got
        w, h = self.comp.size
        canvas = Image.new("L", (w, h), 0)
        for s in frame_state(self.motion, i).subjects:
            if s.id not in self.regenerate:
                continue
            placed = self.comp.place_sprite(s)
            if placed is None:
                continue
            piece, at = placed
            inside = piece.getchannel("A").point(lambda v: 255 if v >= 128 else 0)
            canvas.paste(255, at, inside)
        if self.dilate > 0:
            canvas = canvas.filter(ImageFilter.MaxFilter(2 * self.dilate + 1))
        got = np.asarray(canvas) >= 128
        if len(self._masks) >= 64:  # frames are asked for in order: drop the oldest
            del self._masks[min(self._masks)]
        self._masks[i] = got
        return got

    def depth(self, i: int) -> np.ndarray:
        """A depth map of shot frame i for VACE's depth control: near bright, the plate black
        (the convention of the depth estimators VACE was trained with)."""
        w, h = self.comp.size
        depth = np.zeros((h, w), dtype=np.uint8)
        for s in frame_state(self.motion, i).subjects:
            placed = self.comp.place_sprite(s)
            if placed is None:
                continue
            piece, (x0, y0) = placed
            inside = np.asarray(piece.getchannel("A")) >= 128
            ph, pw = inside.shape
            depth[y0 : y0 + ph, x0 : x0 + pw][inside] = round(255 * (1.0 - self.depths[s.id]))
        return np.repeat(depth[..., None], 3, axis=2)

    def visible(self, frames: list[int]) -> list[str]:
        """The subjects on screen in any of these shot frames, in the shot's order."""
        seen: set[str] = set()
        for i in frames:
            for s in frame_state(self.motion, i).subjects:
                if s.id not in seen and s.opacity > 0 and self.comp.sprite_map(s) is not None:
                    seen.add(s.id)
        return [s.id for s in self.motion.subjects if s.id in seen]

    def reference(self, sid: str | None) -> Image.Image:
        """The cached plate (None) or a subject's sprite on white, as VACE's references are."""
        if sid is None:
            return self.comp.plate.convert("RGB")
        sprite = self.sprites[sid].convert("RGBA")
        white = Image.new("RGB", sprite.size, (255, 255, 255))
        white.paste(sprite, (0, 0), sprite)
        return white


# ---------------------------------------------------------------------------- the seam
class SeamMeter:
    """How much what the model painted changes from frame to frame, across chunk hand-overs
    against inside chunks. It follows the residual (output minus composite), moved along the
    camera as `Coherence` moves frames, so that the scene's own changes (a subject fading in
    at a hand-over) do not count as a seam."""

    SCALE = 4

    def __init__(self, plan: ChunkPlan, motion: MotionTrack, size: tuple[int, int], plate):
        self.plan, self.motion, self.size, self.plate = plan, motion, size, plate
        self.spans = plan.boundaries()
        self.prev: np.ndarray | None = None
        self.seam: list[float] = []
        self.within: list[float] = []

    def _small(self, frame: np.ndarray) -> np.ndarray:
        k = self.SCALE
        small = (max(1, self.size[0] // k), max(1, self.size[1] // k))
        img = Image.fromarray(frame).resize(small, Image.Resampling.BOX)
        return np.asarray(img, dtype=np.float32)

    def add(self, i: int, frame: np.ndarray, composite: np.ndarray) -> None:
        cur = self._small(frame) - self._small(composite)
        if i > 0 and self.prev is not None:
            k = self.SCALE
            m = motion_between(self.motion, i - 1, i, self.size, self.plate)
            scale = np.diag([k, k, 1.0])
            moved = warp(self.prev, np.linalg.inv(scale) @ m @ scale)
            d = float(np.abs(cur - moved)[1:-1, 1:-1].mean())
            t0, t1 = self.plan.time(i - 1), self.plan.time(i)
            crosses = any(t1 >= a and t0 <= b for a, b in self.spans)
            (self.seam if crosses else self.within).append(d)
        self.prev = cur

    def report(self) -> dict[str, Any]:
        seam = float(np.mean(self.seam)) if self.seam else None
        within = float(np.mean(self.within)) if self.within else None
        ratio = None
        if seam is not None and within is not None:
            ratio = round(seam / max(within, 1e-6), 4)
        return {
            "seam_difference": None if seam is None else round(seam, 4),
            "within_difference": None if within is None else round(within, 4),
            "seam_ratio": ratio,
        }


# ---------------------------------------------------------------------- one chunk's call
@dataclass(frozen=True, slots=True)
class ChunkPainted:
    """One chunk as the cache holds it (its frames stacked in one PNG), and what it cost."""

    png: bytes
    hit: bool
    seconds: float  # the whole call, a cache read included
    paint_seconds: float  # in the model's calls, loading excluded (0 for a hit)
    load_seconds: float  # loading the pipeline, where this call loaded it
    denoiser_calls: int
    forwards: int
    key: str = ""  # its cache key
    # where it was painted: seconds of one denoiser evaluation (0: unknown), its references
    eval_seconds: float = 0.0
    references: int = 0
    first: bool = False  # the pipeline's first call in its process (it warms the pipeline up)


def paint_chunk(
    backend: VideoModelBackend,
    settings: VideoSettings,
    cache: Cache,
    ch: Chunk,
    job: ChunkJob | Callable[[], ChunkJob],
    spec: dict[str, Any],
) -> ChunkPainted:
    """Hash, look up, paint on a miss: one chunk through the cache. `job` may be a function
    that builds it, called only on a miss. The same call in this process and in a worker."""
    t0 = time.perf_counter()
    calls, forwards, load = backend.denoiser_calls, backend.forwards, backend.load_seconds
    painting, per_eval, refs, first = 0.0, 0.0, 0, False

    def make() -> bytes:
        nonlocal painting, per_eval, refs, first
        inputs = job() if callable(job) else job
        first = backend.runs == 0
        load0, t = backend.load_seconds, time.perf_counter()
        backend.eval_stamps.clear()
        out = backend.run(inputs, settings)[: ch.length]
        painting = time.perf_counter() - t - (backend.load_seconds - load0)
        per_eval, refs = backend.eval_seconds(), backend.used_references(inputs)
        return to_png(Image.fromarray(np.concatenate(out, axis=0)))  # frames stacked

    got = cache.get_or_make(spec, make, f"{backend.family} {backend.version}")
    return ChunkPainted(
        got.data,
        got.hit,
        time.perf_counter() - t0,
        painting,
        backend.load_seconds - load,
        backend.denoiser_calls - calls,
        backend.forwards - forwards,
        got.key,
        per_eval,
        refs,
        first,
    )


# ------------------------------------------------------------------------------ the pass
class VideoPass:
    """A video model over overlapping chunks of the frames, each chunk cached by its inputs."""

    def __init__(
        self,
        backend: VideoModelBackend,
        settings: VideoSettings,
        plan: ChunkPlan,
        cache: Cache,
        inputs: FrameInputs,
        size: tuple[int, int],
        plate_size: tuple[int, int],
        seed: int,
    ) -> None:
        self.backend, self.settings, self.plan, self.cache = backend, settings, plan, cache
        self.inputs, self.size, self.seed = inputs, size, seed
        self.work = backend.rules.work_size(size)
        self.seams = SeamMeter(plan, inputs.motion, size, plate_size)
        self.chunks = 0
        self.reused = 0
        self.repainted = 0
        self.frames_repainted = 0  # model frames painted (not read from the cache)
        self.paint_seconds = 0.0  # in the model's calls, loading excluded
        self._calls = 0  # summed over the chunks, wherever they were painted
        self._forwards = 0
        self._load_elsewhere = 0.0  # loading the pipeline in workers (chunks painted there)
        self.keys: dict[int, str] = {}  # chunk index -> its cache key (the next estimate's)
        self.timings: list[dict[str, Any]] = []  # each chunk painted: what it cost (cost_video)

    @property
    def denoiser_calls(self) -> int:
        """Evaluations this pass ran (its steps that a step cache skipped are not counted)."""
        return self._calls

    @property
    def own_denoiser_calls(self) -> int:
        """Calls the image backend has not counted already (AnimateDiff shares its counter)."""
        return 0 if self.backend.shares_counter else self.denoiser_calls

    # --- one chunk --------------------------------------------------------------------
    def job(
        self, ch: Chunk, comps: dict[int, np.ndarray], previous: tuple[Chunk, list] | None = None
    ) -> ChunkJob:
        plan, st, uses = self.plan, self.settings, self.backend.uses
        idx = [plan.source(j) for j in range(ch.start, ch.start + ch.length)]
        idx += [idx[-1]] * (ch.padded - ch.length)  # pad with the last frame
        lanczos, nearest = Image.Resampling.LANCZOS, Image.Resampling.NEAREST
        frames = tuple(_resize(comps[i], self.work, lanczos) for i in idx)
        control = frames
        if st.feed == "depth":
            control = tuple(_resize(self.inputs.depth(i), self.work, nearest) for i in idx)
        masks = None
        if st.regenerate and "masks" in uses:
            masks = tuple(
                _resize(self.inputs.mask(i).astype(np.uint8) * 255, self.work, nearest) >= 128
                for i in idx
            )
        if previous is not None and st.join == "condition" and "masks" in uses:
            # the frames shared with the last chunk are given as they were painted, and kept
            prev, painted = previous
            shared = max(0, prev.start + prev.length - ch.start)
            keep = np.zeros(self.work[::-1], dtype=bool)
            control = tuple(
                painted[ch.start - prev.start + k] if k < shared else f
                for k, f in enumerate(control)
            )
            paint = masks or tuple(np.ones(self.work[::-1], dtype=bool) for _ in frames)
            masks = tuple(keep if k < shared else m for k, m in enumerate(paint))
        refs: tuple[Image.Image, ...] = ()
        if "references" in uses:
            shown = self.inputs.visible(idx)
            if st.regenerate:
                shown = [s for s in shown if s in st.regenerate]
            refs = tuple(self.inputs.reference(sid) for sid in [None, *shown])
        keys: tuple[int, ...] = ()
        if "key_frames" in uses:
            keys = tuple(sorted({*range(0, ch.padded, st.key_every), ch.padded - 1}))
        return ChunkJob(
            frames=frames,
            control=control,
            masks=masks,
            references=refs,
            key_frames=keys,
            prompt=st.prompt,
            negative=st.negative,
            seed=self.seed,
            fps=plan.work_fps,
            start=ch.start,
        )

    def job_spec(self, ch: Chunk, job: ChunkJob) -> dict[str, Any]:
        """The chunk's cache key: model, settings and every input it reads."""
        return {
            "kind": "video-chunk",
            "backend": f"video:{self.backend.family}",
            "backend_version": self.backend.version,
            "settings": self.settings.key(),
            "size": list(self.work),
            "length": ch.length,
            "padded": ch.padded,
            "frames": _digest(job.frames),
            "control": None if job.control is job.frames else _digest(job.control),
            "masks": None if job.masks is None else _digest(job.masks),
            "references": [_digest([np.asarray(r)]) for r in job.references],
            "key_frames": list(job.key_frames),
            "seed": job.seed,
            "start": job.start,  # Wan's noise follows the chunk's place in the shot
            "noise": "aligned/1",
        }

    def chunk_jobs(
        self, source: Iterator[np.ndarray]
    ) -> Generator[tuple[int, Chunk, ChunkJob, dict], None, None]:
        """Every chunk's index, inputs and cache key, in order, to paint elsewhere (`paint_chunk`).
        Holds the composites of about one chunk. Only for chunks joined by cross-fading:
        with `join = "condition"` a chunk is given the frames the last one painted, so the
        chunks are painted in order, in one place (`frames`)."""
        if self.settings.join == "condition":
            raise ValueError("chunks conditioned on the last one's frames are painted in order")
        plan, src = self.plan, iter(source)
        comps: dict[int, np.ndarray] = {}
        pulled = 0
        for c, ch in enumerate(plan.chunks):
            while pulled <= max(plan.source(j) for j in range(ch.start, ch.start + ch.length)):
                comps[pulled] = np.asarray(next(src))
                pulled += 1
            job = self.job(ch, comps)
            yield c, ch, job, self.job_spec(ch, job)
            del job
            first = plan.source(plan.chunks[c + 1].start) if c + 1 < len(plan.chunks) else pulled
            for k in [k for k in comps if k < first]:
                del comps[k]
        for _ in src:  # exhausted by now; drained so that its drawing threads finish
            pass

    def tally(self, ch: Chunk, painted: ChunkPainted, elsewhere: bool = False) -> None:
        """Count one chunk in the report (`elsewhere`: painted by another process, whose
        pipeline load this backend did not see)."""
        self.chunks += 1
        self.keys[self.plan.chunks.index(ch)] = painted.key
        self.reused += int(painted.hit)
        if not painted.hit:
            self.repainted += 1
            self.frames_repainted += ch.length
            self.timings.append(
                {
                    "frames": ch.padded,
                    "references": painted.references,
                    "evaluations": painted.denoiser_calls,
                    "seconds": round(painted.paint_seconds, 4),
                    "evaluation_seconds": round(painted.eval_seconds, 5),
                    **({"first": True} if painted.first else {}),
                }
            )
        self.paint_seconds += painted.paint_seconds
        self._calls += painted.denoiser_calls
        self._forwards += painted.forwards
        if elsewhere:
            self._load_elsewhere += painted.load_seconds

    def _strip(self, ch: Chunk, png: bytes) -> list[np.ndarray]:
        strip = np.asarray(from_png(png).convert("RGB"))
        w, h = self.work
        return list(strip.reshape(ch.length, h, w, 3))

    def _run(
        self,
        c: int,
        comps: dict[int, np.ndarray],
        previous: tuple[Chunk, list] | None,
        known: Mapping[int, dict[str, Any]],
    ) -> list[np.ndarray]:
        ch = self.plan.chunks[c]
        spec = known.get(c)
        if spec is not None:
            # painted elsewhere and counted then: read from this cache (painted here again
            # only if the entry is gone or corrupt)
            got = paint_chunk(
                self.backend, self.settings, self.cache, ch, lambda: self.job(ch, comps), spec
            )
            if not got.hit:
                self.tally(ch, got)
            return self._strip(ch, got.png)
        job = self.job(ch, comps, previous)
        got = paint_chunk(self.backend, self.settings, self.cache, ch, job, self.job_spec(ch, job))
        self.tally(ch, got)
        return self._strip(ch, got.png)

    # --- the stream -------------------------------------------------------------------
    def frames(
        self, source: Iterator[np.ndarray], known: Mapping[int, dict[str, Any]] | None = None
    ) -> Iterator[np.ndarray]:
        """The shot's frames in order, painted: exactly as many as `source` gives, at the
        shot's size. Memory holds about one chunk of frames, not the shot. `known`: chunk
        index -> cache key of chunks already painted elsewhere (and counted with `tally`)."""
        known = known or {}
        plan = self.plan
        src = iter(source)
        comps: dict[int, np.ndarray] = {}
        pulled = 0
        acc: dict[int, tuple[np.ndarray, float]] = {}
        done: dict[int, np.ndarray] = {}
        emit = 0
        previous: tuple[Chunk, list] | None = None

        def need(i: int) -> None:
            nonlocal pulled
            while pulled <= i:
                frame = np.asarray(next(src))
                if frame.ndim != 3:
                    raise ValueError("the video pass needs RGB frames")
                comps[pulled] = frame
                pulled += 1

        for c, ch in enumerate(plan.chunks):
            need(max(plan.source(j) for j in range(ch.start, ch.start + ch.length)))
            out = self._run(c, comps, previous, known)
            previous = (ch, out)
            for k, (f, w) in enumerate(zip(out, plan.weights(c), strict=True)):
                j = ch.start + k
                s, tw = acc.get(j, (np.zeros(f.shape, np.float32), 0.0))
                acc[j] = (s + f.astype(np.float32) * w, tw + float(w))
            last = c + 1 == len(plan.chunks)
            final = plan.model_frames if last else plan.chunks[c + 1].start
            for j in sorted(k for k in acc if k < final):
                s, tw = acc.pop(j)
                done[j] = s / max(tw, 1e-6)
            while emit < plan.shot_frames and (last or math.ceil(plan.time(emit)) < final):
                need(emit)
                frame = self._emit(emit, done, comps[emit])
                self.seams.add(emit, frame, comps[emit])
                yield frame
                emit += 1
                keep_from = min(emit, plan.source(final)) if not last else emit
                for k in [k for k in comps if k < keep_from]:
                    del comps[k]
                floor = math.floor(plan.time(emit)) if emit < plan.shot_frames else final
                for j in [j for j in done if j < floor]:
                    del done[j]
        for _ in src:  # the source should be exhausted; drain it so its workers finish
            pass

    def _emit(self, i: int, done: dict[int, np.ndarray], comp: np.ndarray) -> np.ndarray:
        t = self.plan.time(i)
        j0 = math.floor(t)
        a = t - j0
        f = done[j0] if a < 1e-6 or j0 + 1 not in done else (1 - a) * done[j0] + a * done[j0 + 1]
        out = np.clip(f + 0.5, 0, 255).astype(np.uint8)
        out = _resize(out, self.size, Image.Resampling.LANCZOS)
        if self.settings.regenerate:
            out = np.where(self.inputs.mask(i)[..., None], out, comp)
        return np.ascontiguousarray(out)

    def report(self) -> dict[str, Any]:
        return {
            "family": self.backend.family,
            "model": self.settings.model,
            "size": list(self.work),
            "fps": self.plan.work_fps,
            "model_frames": self.plan.model_frames,
            "chunks": self.chunks,
            "chunks_reused": self.reused,
            "repainted": self.repainted,
            "frames_repainted": self.frames_repainted,
            "chunk_frames": self.settings.chunk,
            "overlap": self.settings.overlap,
            "join": self.settings.join,
            "denoiser_calls": self.denoiser_calls,
            "denoiser_forwards": self._forwards,
            "paint_seconds": round(self.paint_seconds, 3),
            "load_seconds": round(self.backend.load_seconds + self._load_elsewhere, 3),
            "step_cache": self.settings.cache,
            "placement": self.backend.placement,
            # each chunk's cache key, in order: a render of the same inputs reads them
            "chunk_keys": [self.keys.get(c, "") for c in range(len(self.plan.chunks))],
            "chunk_timings": self.timings,
            **self.seams.report(),
        }


# ---------------------------------------------------------------------- entry points
def video_prompt(shot: Shot) -> str:
    """What a whole frame shows: the background's and the subjects' prompts."""
    return ", ".join(p for p in [shot.background.prompt, *(s.prompt for s in shot.subjects)] if p)


def _backend_for(shot: Shot, painter: Any, device: str) -> VideoModelBackend | None:
    if shot.video is not None:
        return video_backend(shot.video, device)
    if has_video_pass(shot, painter):
        from shotcraft.backends.video_animatediff import AnimateDiffVideo

        return AnimateDiffVideo(painter)
    return None


def _spec_of(shot: Shot, backend: VideoModelBackend) -> Any:
    if shot.video is not None:
        return shot.video
    return backend.default_spec()  # AnimateDiff: from [model]


def build_video_pass(
    shot: Shot,
    motion: MotionTrack,
    comp: Compositor,
    sprites: dict[str, Image.Image],
    plate_size: tuple[int, int],
    cache: Cache,
    device: str = "auto",
    painter: Any = None,
    prompt: str | None = None,
) -> VideoPass | None:
    """The video pass a shot asks for (`[video]`, or AnimateDiff from `[model]
    motion_adapter`), or None. Frames are pulled through `VideoPass.frames`."""
    backend = _backend_for(shot, painter, device)
    if backend is None:
        return None
    spec = _spec_of(shot, backend)
    settings = backend.settings(spec, shot.fps, video_prompt(shot) if prompt is None else prompt)
    plan = plan_chunks(motion.frames, shot.fps, settings, backend.rules)
    inputs = FrameInputs(motion, comp, sprites, settings.regenerate, settings.dilate)
    return VideoPass(backend, settings, plan, cache, inputs, comp.size, plate_size, shot.seed)


@dataclass(frozen=True, slots=True)
class VideoWork:
    """What a video pass will cost, known from JSON files alone (no torch)."""

    family: str
    chunks: int
    denoiser_calls: int  # without a step cache, and as if no chunk were cached
    sizes: tuple[tuple[int, int, int], ...]  # (width, height, frames) of each chunk call
    join: str = "crossfade"  # crossfade: chunks are independent calls; condition: in order
    references: int = 0  # reference images a chunk is given (at most)


def video_work(
    shot: Shot,
    frames: int,
    size: tuple[int, int] | None = None,
    painter: Any = None,
    strict: bool = False,
) -> VideoWork | None:
    """Chunks, denoiser calls and call sizes of the shot's video pass (None: it has none, or
    its model cannot be read here and `strict` is False: sketch and status still work; the
    render says why when it builds the pass)."""
    size = size or shot.size
    if shot.video is not None:
        try:
            fam, folder = family_of(shot.video.model, shot.video.revision)
        except BackendUnavailable:
            if strict:
                raise
            return None
        backend: VideoModelBackend = fam(shot.video.model, shot.video.revision, folder)
        spec: Any = shot.video
    elif isinstance(painter, ModelBackend) and painter.has_video_pass:
        from shotcraft.backends.video_animatediff import AnimateDiffVideo

        backend = AnimateDiffVideo(painter)
        spec = backend.default_spec()
    else:
        return None
    settings = backend.settings(spec, shot.fps, "")
    plan = plan_chunks(frames, shot.fps, settings, backend.rules)
    w, h = backend.rules.work_size(size)
    per = backend.calls_per_chunk(settings)
    return VideoWork(
        backend.family,
        len(plan.chunks),
        per * len(plan.chunks),
        tuple((w, h, ch.padded) for ch in plan.chunks),
        settings.join,
        backend.references(settings, len(shot.subjects)),
    )
