"""Video model families: the contract the video pass drives (`VideoModelBackend`), their frame
and size rules, and the registry that recognises a family from `model_index.json`.

Each family lives in its own module (`video_wan_vace`, `video_ltx`, `video_cogvideox`,
`video_animatediff`). Rules and settings are read from the model folder's JSON files, so the
estimate knows a family's chunks and denoiser calls without importing torch; torch and
diffusers are imported only when a pipeline is loaded.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from shotcraft import __version__
from shotcraft.errors import BackendUnavailable, RenderFailed
from shotcraft.spec.model import VideoSpec

log = logging.getLogger("shotcraft")
IMPORTED = ("torch", "transformers", "diffusers")  # what loading a pipeline imports, in order


@dataclass(frozen=True, slots=True)
class FrameRules:
    """What a family's pipeline accepts: frame counts `frame_factor * k + 1` (1: any count),
    sides multiples of `size_multiple`, and what it was trained at."""

    frame_factor: int
    size_multiple: int
    native_fps: int | None  # None: the shot's own rate (AnimateDiff)
    native_area: int  # pixels; the work size never exceeds the shot's own area either
    latent_frame_multiple: int = 1  # CogVideoX 1.5: latent frames a multiple of patch_size_t

    def frames_for(self, n: int) -> int:
        """The smallest count >= n that the pipeline accepts."""
        n = max(1, n)
        f = self.frame_factor
        if f <= 1:
            return n
        k = -(-(n - 1) // f)
        while (k + 1) % self.latent_frame_multiple:
            k += 1
        return k * f + 1

    def work_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size frames are painted at: the shot's aspect, at most the native area (and
        at most the shot's own area), sides rounded to the size multiple."""
        w, h = size
        k = min(1.0, (self.native_area / (w * h)) ** 0.5)
        m = self.size_multiple
        return (max(m, round(w * k / m) * m), max(m, round(h * k / m) * m))


@dataclass(frozen=True, slots=True)
class VideoSettings:
    """A `[video]` table with the family's defaults filled in: what a chunk's cache key holds."""

    family: str
    model: str
    identity: str
    revision: str | None
    prompt: str
    negative: str
    feed: str
    regenerate: tuple[str, ...]
    dilate: int
    steps: int
    guidance: float
    strength: float
    control_scale: float
    key_every: int
    key_strength: float
    chunk: int  # model frames per chunk, already on the frame rule
    overlap: int
    join: str  # crossfade | condition
    fps: float  # the rate the model works at
    cache: str
    cache_threshold: float | None
    offload: str

    def key(self) -> dict[str, Any]:
        """The fields that change pixels (not offload: placement does not)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d.pop("offload")
        d.pop("model")  # the identity stands for the weights, not where they are
        d["regenerate"] = list(self.regenerate)
        return d


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """One chunk's inputs, at the work size, `frames` long on the family's frame rule."""

    frames: tuple[np.ndarray, ...]  # the composite (RGB uint8)
    control: tuple[np.ndarray, ...]  # what VACE sees: the composite or the depth maps
    masks: tuple[np.ndarray, ...] | None  # bool, True = the model may paint; None = everywhere
    references: tuple[Image.Image, ...]  # the plate and the sprites (RGB)
    key_frames: tuple[int, ...]  # chunk-local indices of the LTX key frames
    prompt: str
    negative: str
    seed: int
    fps: float
    start: int = 0  # the chunk's first frame on the model's timeline (for aligned noise)

    @property
    def size(self) -> tuple[int, int]:
        return (self.frames[0].shape[1], self.frames[0].shape[0])


# ---------------------------------------------------------------------------- reading configs
def model_folder(model: str, revision: str | None = None) -> Path | None:
    """A local folder, or the hub cache's snapshot of `model` (no download), or None."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    got = try_to_load_from_cache(model, "model_index.json", revision=revision)
    return Path(got).parent if isinstance(got, str) else None


def read_json(folder: Path, name: str) -> dict[str, Any]:
    p = folder / name
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pipeline_class(model: str, revision: str | None = None) -> tuple[str, Path]:
    folder = model_folder(model, revision)
    if folder is None:
        raise BackendUnavailable(
            f"video model '{model}' is neither a local folder nor in the hub cache; download "
            f"it first (huggingface-cli download {model})"
        )
    name = read_json(folder, "model_index.json").get("_class_name")
    if not isinstance(name, str):
        raise BackendUnavailable(
            f"video model '{model}' has no model_index.json with a _class_name"
        )
    return name, folder


def families() -> dict[str, type[VideoModelBackend]]:
    """Pipeline class name -> the family that drives it."""
    from shotcraft.backends.video_cogvideox import CogVideoXBackend
    from shotcraft.backends.video_ltx import LTX2Backend, LTXBackend
    from shotcraft.backends.video_wan_vace import WanVACEBackend

    out: dict[str, type[VideoModelBackend]] = {}
    for cls in (WanVACEBackend, LTXBackend, LTX2Backend, CogVideoXBackend):
        for name in cls.pipeline_classes:
            out[name] = cls
    return out


def family_of(model: str, revision: str | None = None) -> tuple[type[VideoModelBackend], Path]:
    name, folder = pipeline_class(model, revision)
    fam = families().get(name)
    if fam is None:
        known = ", ".join(sorted(families()))
        raise BackendUnavailable(
            f"video model '{model}' is a {name}, which shotcraft cannot drive as a video "
            f"pass (it knows: {known}; AnimateDiff comes from [model] motion_adapter)"
        )
    return fam, folder


def model_identity(model: str, folder: Path | None) -> str:
    """What identifies the weights in a cache key (the hub id, or a digest of a folder)."""
    from shotcraft.backends.diffusers_t2i import model_identity as identity

    return identity(str(folder)) if folder is not None and Path(model).is_dir() else model


# ------------------------------------------------------------------------------ the contract
class VideoModelBackend(ABC):
    """One video model family. `rules` and `settings` come from JSON files (no torch); `run`
    loads the pipeline (once per object; `video_backend` keeps one object per model) and
    paints one chunk, counting the denoiser evaluations it actually runs."""

    family: ClassVar[str]
    pipeline_classes: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[dict[str, Any]] = {}  # steps, guidance, strength, chunk, overlap, ...
    uses: ClassVar[frozenset[str]] = frozenset()  # "masks", "references", "key_frames"
    shares_counter: ClassVar[bool] = False  # its calls are counted by an image backend too

    def __init__(
        self, model: str, revision: str | None, folder: Path | None, device: str = "auto"
    ) -> None:
        self.model, self.revision = model, revision
        self.folder, self.device_request = folder, device
        self.rules = self.read_rules(folder)
        self.denoiser_calls = 0  # evaluations whose last transformer block actually ran
        self.forwards = 0  # transformer calls, step caches' skipped ones included
        self.eval_stamps: list[float] = []  # when each evaluation ended (see `eval_seconds`)
        self.runs = 0  # chunk calls since the pipeline was loaded (the first one warms it up)
        self.load_seconds = 0.0
        self.placement = ""
        self._pipe: Any = None
        self._device: str | None = None
        # the first load's time and each library it imported (module -> seconds), until
        # `take_startup` hands them to the rates (see cost_video)
        self._startup: tuple[float, dict[str, float]] | None = None

    # --- rules and settings (no torch) ------------------------------------------------
    @classmethod
    @abstractmethod
    def read_rules(cls, folder: Path | None) -> FrameRules:
        """The family's frame and size rules, from the folder's component configs."""

    def settings(self, s: VideoSpec, shot_fps: int, prompt: str) -> VideoSettings:
        d = self.defaults
        fps = float(s.fps or self.rules.native_fps or shot_fps)
        chunk = self.rules.frames_for(s.chunk or int(d["chunk"]))
        overlap = s.overlap if s.overlap is not None else int(d["overlap"])
        overlap = min(overlap, chunk - 1)
        return VideoSettings(
            family=self.family,
            model=s.model,
            identity=model_identity(s.model, self.folder),
            revision=s.revision,
            prompt=s.prompt or prompt,
            negative=s.negative,
            feed=s.feed,
            regenerate=s.regenerate,
            dilate=s.dilate,
            steps=s.steps or int(d["steps"]),
            guidance=float(s.guidance if s.guidance is not None else d["guidance"]),
            strength=float(s.strength if s.strength is not None else d.get("strength", 1.0)),
            control_scale=s.control_scale,
            key_every=s.key_every or int(d.get("key_every", self.rules.frame_factor)),
            key_strength=s.key_strength,
            chunk=chunk,
            overlap=overlap,
            join=s.join or str(d.get("join", "crossfade")),
            fps=fps,
            cache=s.cache,
            cache_threshold=s.cache_threshold,
            offload=s.offload,
        )

    def default_spec(self) -> VideoSpec:
        """The spec when the shot has no `[video]` table (AnimateDiff reads `[model]`)."""
        raise NotImplementedError(f"{type(self).__name__} needs a [video] table")

    @abstractmethod
    def calls_per_chunk(self, settings: VideoSettings) -> int:
        """Denoiser evaluations one chunk costs without a step cache (for the estimate)."""

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"{__version__}+diffusers-{version('diffusers')}"

    # --- loading ----------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            from shotcraft.backends.diffusers_t2i import resolve_device

            self._device = resolve_device(self.device_request)
        return self._device

    def dtype(self) -> Any:
        import torch

        return torch.bfloat16 if self.device == "cuda" else torch.float32

    def extra_components(self) -> dict[str, Any]:
        """Components loaded apart from the pipeline (Wan's VAE in float32)."""
        return {}

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def take_startup(self) -> tuple[float | None, dict[str, float]]:
        """The load this object made (seconds, libraries left out) and the imports it paid,
        once: (None, {}) where it has not loaded or has handed them over already."""
        got, self._startup = self._startup, None
        return (None, {}) if got is None else got

    def pipe(self, settings: VideoSettings) -> Any:
        if self._pipe is None:
            t0 = time.perf_counter()
            imports: dict[str, float] = {}
            for name in IMPORTED:
                if name not in sys.modules:
                    t = time.perf_counter()
                    importlib.import_module(name)
                    imports[name] = time.perf_counter() - t
            import diffusers

            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            for noisy in ("diffusers", "transformers"):
                logging.getLogger(noisy).setLevel(logging.ERROR)
            name, _ = pipeline_class(self.model, self.revision)
            cls = getattr(diffusers, name, None)
            if cls is None:
                raise BackendUnavailable(
                    f"video model '{self.model}' needs {name}, which diffusers "
                    f"{diffusers.__version__} does not have; upgrade diffusers"
                )
            try:
                pipe = cls.from_pretrained(
                    str(self.folder) if self.folder is not None else self.model,
                    revision=self.revision,
                    torch_dtype=self.dtype(),
                    use_safetensors=True,
                    **self.extra_components(),
                )
            except (OSError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise BackendUnavailable(
                    f"video model '{self.model}' could not be loaded ({first})"
                ) from None
            pipe.set_progress_bar_config(disable=True)
            self.placement = place(pipe, self.device, settings.offload)
            # Wan 2.2's two experts: the second paints the low-noise steps
            for name in ("transformer", "transformer_2"):
                denoiser = getattr(pipe, name, None)
                if denoiser is not None:
                    self._count_on(denoiser)
                    apply_step_cache(denoiser, settings)
            self._pipe = pipe
            spent = time.perf_counter() - t0
            self.load_seconds += spent
            self._startup = (max(0.0, spent - sum(imports.values())), imports)
        return self._pipe

    def _count_on(self, transformer: Any) -> None:
        """Count an evaluation when the last block's attention runs: step caches skip whole
        blocks (first-block) or attention (TaylorSeer), so a skipped step is not counted."""

        def forward(*_: Any) -> None:
            self.forwards += 1

        def evaluated(*_: Any) -> None:
            self.denoiser_calls += 1
            self.eval_stamps.append(time.perf_counter())

        transformer.register_forward_hook(forward)
        probe = last_block_probe(transformer)
        (probe or transformer).register_forward_hook(evaluated)

    # --- painting ---------------------------------------------------------------------
    def run(self, job: ChunkJob, settings: VideoSettings) -> list[np.ndarray]:
        """Paint one chunk: exactly len(job.frames) RGB uint8 frames at the job's size."""
        import torch

        pipe = self.pipe(settings)
        self.runs += 1
        generator = torch.Generator(device="cpu").manual_seed(job.seed)
        try:
            with torch.inference_mode():
                out = self.call(pipe, job, settings, generator)
        except (RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RenderFailed(f"video model '{self.model}' failed on a chunk: {first}") from None
        frames = np.asarray(out.frames[0])
        if frames.ndim != 4 or len(frames) < len(job.frames):
            raise RenderFailed(
                f"video model '{self.model}' returned {len(frames)} frames for a chunk "
                f"of {len(job.frames)}"
            )
        frames = frames[: len(job.frames)]
        if frames.dtype != np.uint8:
            frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        w, h = job.size
        if frames.shape[1:3] != (h, w):
            frames = np.stack(
                [
                    np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.LANCZOS))
                    for f in frames
                ]
            )
        return list(frames)

    @abstractmethod
    def call(self, pipe: Any, job: ChunkJob, settings: VideoSettings, generator: Any) -> Any:
        """The pipeline call for one chunk (output_type "np")."""

    # --- timing (calibration) ---------------------------------------------------------
    def references(self, settings: VideoSettings, subjects: int) -> int:
        """Reference images a chunk is given when `subjects` are on screen (the estimate
        counts each: a reference may cost the model a latent frame)."""
        return 0

    def used_references(self, job: ChunkJob) -> int:
        """Reference images of `job` that the pipeline is given."""
        return len(job.references)

    def eval_seconds(self) -> float:
        """Seconds of one denoiser evaluation (a step with its scheduler's work) in the calls
        since `eval_stamps` was last cleared: from the first evaluation's end to the last's,
        over the evaluations between (0 where fewer than two ran); clears the stamps."""
        stamps, self.eval_stamps = self.eval_stamps, []
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) >= 2 else 0.0

    def timing_job(
        self, settings: VideoSettings, size: tuple[int, int], frames: int, references: int
    ) -> ChunkJob:
        """A chunk of grey frames shaped as a render's: `frames` at `size`, masks where the
        family takes them, `references` reference images, key frames on the settings' rule."""
        w, h = size
        grey = np.full((h, w, 3), 128, dtype=np.uint8)
        shown = tuple(grey for _ in range(frames))
        masks = None
        if settings.regenerate and "masks" in self.uses:
            masks = tuple(np.ones((h, w), dtype=bool) for _ in range(frames))
        keys: tuple[int, ...] = ()
        if "key_frames" in self.uses:
            keys = tuple(sorted({*range(0, frames, max(1, settings.key_every)), frames - 1}))
        refs = tuple(Image.new("RGB", size, (128, 128, 128)) for _ in range(references))
        return ChunkJob(
            shown, shown, masks, refs, keys, settings.prompt, settings.negative, 0, settings.fps
        )

    def time_chunk(
        self,
        settings: VideoSettings,
        size: tuple[int, int],
        frames: int,
        references: int,
        steps: int,
    ) -> tuple[float, int, float]:
        """Seconds, denoiser evaluations and seconds per evaluation (`eval_seconds`) of one
        chunk call of `steps` steps, shaped as `timing_job` says, through the very `run` a
        render makes (loading not timed)."""
        from dataclasses import replace

        st = replace(settings, steps=steps)
        job = self.timing_job(st, size, frames, references)
        self.pipe(settings)
        before = self.denoiser_calls
        self.eval_stamps.clear()
        t0 = time.perf_counter()
        self.run(job, st)
        seconds = time.perf_counter() - t0
        return seconds, self.denoiser_calls - before, self.eval_seconds()


def frame_noise(seed: int, frame: int, shape: tuple[int, ...]) -> Any:
    """The starting noise of one latent frame, by its frame on the shot's model timeline:
    two overlapping chunks start the frames they share from the same noise, so their
    cross-fade joins two paintings that mostly agree."""
    import torch

    g = torch.Generator(device="cpu").manual_seed((seed * 1_000_003 + frame) % 2**63)
    return torch.randn(shape, generator=g, dtype=torch.float32)


# ------------------------------------------------------------------------ memory and caches
def place(pipe: Any, device: str, offload: str) -> str:
    """Put the pipeline where it fits, as the image families do: whole on the device when
    free memory holds its weights with room to spare, else model offload, else sequential;
    VAE tiling for video VAEs on a GPU (decoding a chunk is the peak). Returns what it did."""
    import torch

    mode = offload
    if mode == "auto":
        mode = "none"
        if device == "cuda":
            free, _ = torch.cuda.mem_get_info()
            sizes = [
                sum(p.numel() * p.element_size() for p in m.parameters())
                for m in pipe.components.values()
                if isinstance(m, torch.nn.Module)
            ]
            if sum(sizes) * 1.3 > free:
                mode = "model" if max(sizes, default=0) * 1.5 < free else "sequential"
    if device == "cpu":
        mode = "none"  # offloading to the CPU from the CPU saves nothing
    if mode == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif mode == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    vae: Any = getattr(pipe, "vae", None)
    tiled = device != "cpu" and hasattr(vae, "enable_tiling")
    if tiled:
        vae.enable_tiling()
    return f"{device}:{'whole' if mode == 'none' else mode + ' offload'}" + (
        ", vae tiling" if tiled else ""
    )


def apply_step_cache(transformer: Any, settings: VideoSettings) -> None:
    """diffusers' step caches, where the installed version offers them for this transformer."""
    if settings.cache == "none":
        return
    import diffusers

    if not hasattr(transformer, "enable_cache"):
        raise BackendUnavailable(
            f"video.cache = '{settings.cache}': {type(transformer).__name__} takes no step "
            'cache in this diffusers; set cache = "none"'
        )
    if settings.cache == "first-block":
        cfg_cls = getattr(diffusers, "FirstBlockCacheConfig", None)
        config = None if cfg_cls is None else cfg_cls(threshold=settings.cache_threshold or 0.05)
    else:  # taylorseer: a full evaluation every `cache_threshold` steps (default 3)
        cfg_cls = getattr(diffusers, "TaylorSeerCacheConfig", None)
        config = (
            None
            if cfg_cls is None
            else cfg_cls(
                cache_interval=max(1, int(settings.cache_threshold or 3)),
                disable_cache_before_step=1,
                taylor_factors_dtype=next(transformer.parameters()).dtype,
                # diffusers' default patterns end in "attn", missing Wan's, LTX's and
                # CogVideoX's attn1 and attn2: name the blocks' attention modules instead
                cache_identifiers=[r"(blocks|transformer_blocks)\.\d+\.attn\d*"],
            )
        )
    if config is None:
        raise BackendUnavailable(
            f"video.cache = '{settings.cache}' needs a newer diffusers than "
            f'{diffusers.__version__}; upgrade it or set cache = "none"'
        )
    transformer.enable_cache(config)


def last_block_probe(transformer: Any) -> Any:
    """The last transformer block's first attention projection: it runs only when the block
    computes (a module inside the block, so a hook on it misses the steps a cache skips)."""
    blocks = None
    for name in ("blocks", "transformer_blocks"):
        blocks = getattr(transformer, name, None)
        if blocks is not None and len(blocks):
            break
    if not blocks:
        return None
    last = blocks[-1]
    for name in ("attn1.to_q", "attn1", "attn"):
        mod = last
        try:
            for part in name.split("."):
                mod = getattr(mod, part)
        except AttributeError:
            continue
        return mod
    return None


_LOADED: dict[tuple[str, str, str, str], VideoModelBackend] = {}


def video_backend(spec: VideoSpec, device: str = "auto") -> VideoModelBackend:
    """The family backend for `spec.model`: one object per model, device and step cache in a
    process, so a model is loaded at most once (the step cache is applied when it loads)."""
    missing = [n for n in ("torch", "diffusers", "transformers") if not _installed(n)]
    if missing:
        from shotcraft.backends import DIFFUSION_HINT

        raise BackendUnavailable(
            f"video model '{spec.model}' needs the diffusion extra, which is not installed "
            f"({missing[0]} is missing); install it with: {DIFFUSION_HINT}"
        )
    key = (spec.model, spec.revision or "", device, f"{spec.cache}:{spec.cache_threshold}")
    backend = _LOADED.get(key)
    if backend is None:
        fam, folder = family_of(spec.model, spec.revision)
        backend = _LOADED[key] = fam(spec.model, spec.revision, folder, device)
    return backend


def _installed(name: str) -> bool:
    from shotcraft.backends import _installed as installed

    return installed(name)
