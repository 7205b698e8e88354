"""The diffusers backend: plates and sprites by text-to-image, frames harmonized by
image-to-image, each model family called the way it expects (`backends.families`). torch and
diffusers are imported here and nowhere else.

Sizes: everything is painted at the family's native area at the target's aspect, then
resampled to the size it is shown at (see `families.paint_size`). Sprites are painted on a
flat green key colour (the prompt gets SPRITE_SUFFIX) and keyed from their border
(`backends.keying`), or cut out by the image-segmentation model `model.matting` names.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from shotcraft import __version__
from shotcraft.backends import families
from shotcraft.backends.base import ModelBackend, PaintKind
from shotcraft.backends.families import PLAIN, ModelInfo
from shotcraft.backends.keying import key_out
from shotcraft.backends.procedural import ProceduralBackend, background_seed
from shotcraft.backends.quiet import library_output, quiet_environment
from shotcraft.draw.plate import Plate
from shotcraft.draw.procedural import premultiplied_resize
from shotcraft.errors import BackendUnavailable, RenderFailed
from shotcraft.layout.planner import SubjectLayout, stable_hash
from shotcraft.spec.model import Background, ModelSpec, Subject

SPRITE_SUFFIX = ", full body, centered, isolated on a plain flat pure green background"

log = logging.getLogger("shotcraft")

# what loading a pipeline imports, in order, before its pipeline class (the logging modules
# import each library's utilities); the class is imported last (`pipeline_classes`)
LIBRARIES = ("torch", "transformers.utils.logging", "diffusers.utils.logging")
AUTO_PIPELINES = ("AutoPipelineForText2Image", "AutoPipelineForImage2Image")


def pipeline_classes(info: ModelInfo | None) -> tuple[str, str]:
    """The diffusers classes for text-to-image and image-to-image: the family's own where its
    config files name a known one (importing one family's pipelines takes about half as long
    as the auto pipelines, which import every pipeline they map to), else the auto pipelines,
    which pick them from the loaded model."""
    own = info.pipeline_classes if info is not None else None
    return own or AUTO_PIPELINES


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("--device cuda: no CUDA device is available here")
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def model_identity(model_id: str) -> str:
    """What identifies the weights in a cache key: the hub id, or for a local folder a digest
    of its layout and the head of each weight file (not its path, which may move)."""
    folder = Path(model_id).expanduser()
    if not folder.is_dir():
        return model_id
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(str(p.stat().st_size).encode())
            with open(p, "rb") as f:
                h.update(f.read(1 << 20))
    return "local:" + h.hexdigest()


def key_out_green(img: Image.Image) -> Image.Image:
    """Green screen to alpha (see `backends.keying.key_out`)."""
    return key_out(img).image


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unloadable(what: str, e: Exception) -> BackendUnavailable:
    return BackendUnavailable(
        f"{what} could not be loaded ({_first_line(e)}); name a local folder, or download the "
        "hub id first (shotcraft render --download, or huggingface-cli download ID); "
        "safetensors weights are required"
    )


def _is_oom(e: BaseException) -> bool:
    return "out of memory" in str(e).lower() or type(e).__name__ == "OutOfMemoryError"


def _fallback_info() -> ModelInfo:
    """What is assumed of a model whose config files are not on this machine yet."""
    return ModelInfo(PLAIN, "", "", None, 512, 8, PLAIN.default_steps, PLAIN.default_guidance, None)


class DiffusersBackend(ModelBackend):
    """Text-to-image of any family in `backends.families` (its own pipeline class, or
    AutoPipelineForText2Image for one not known), with image-to-image and AnimateDiff
    video-to-video sharing its loaded components (`from_pipe`)."""

    name = "diffusers"

    def __init__(
        self, model: ModelSpec, device: str = "auto", download: bool = False, verbose: bool = False
    ) -> None:
        from importlib.metadata import version

        super().__init__()
        self.model = model
        self.version = f"{__version__}+diffusers-{version('diffusers')}"
        self.device_request = device
        self.download = download
        self.verbose = verbose
        self.identity = model_identity(model.id)
        self._info = families.describe(model.id, model.revision)
        self._device: str | None = None
        self._t2i: Any = None
        self._i2i: Any = None
        self._v2v: Any = None
        self._matting: Any = None
        self._pipeline_class: Any = None  # the text-to-image class, once imported
        self.placement = ""  # "whole", "model" or "sequential" once loaded
        self._procedural = ProceduralBackend()
        self._lender: DiffusersBackend | None = None  # whose loaded pipeline this one uses
        self._told_negative = False

    def borrow(self, other: ModelBackend) -> None:
        if isinstance(other, DiffusersBackend):
            self._lender = other

    # --- what the model is -------------------------------------------------------------
    @property
    def info(self) -> ModelInfo:
        return self._info or _fallback_info()

    @property
    def device_class(self) -> str:
        """ "cuda", "mps" or "cpu", without torch (it goes into cache keys)."""
        if self._device is not None:
            return self._device.split(":")[0]
        return families.device_class(self.device_request)

    @property
    def dtype_name(self) -> str:
        """The dtype the weights run in: "bfloat16", "float16" or "float32"."""
        cls = self.device_class
        bf16 = families.cuda_bf16(self.device_request) if cls == "cuda" else False
        return families.choose_dtype(cls, self.info.family, bf16)

    # --- loading -----------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            self.timed_import("torch")
            self._device = resolve_device(self.device_request)
        return self._device

    @property
    def loaded(self) -> bool:
        # a borrower of loaded components loads nothing
        return self._t2i is not None or (self._lender is not None and self._lender.loaded)

    def load(self) -> None:
        self.pipe  # noqa: B018 (the property loads)

    def _hook(self) -> Callable[..., None]:
        """A denoiser forward hook that counts steps; it holds the backend weakly, so the
        pipeline does not keep the backend (and through it an old pipeline) alive."""
        ref = weakref.ref(self)

        def count(*_: Any) -> None:
            backend = ref()
            if backend is not None:
                backend.count_step()

        return count

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        with library_output(self.verbose):
            yield

    @property
    def pipe(self) -> Any:
        if self._t2i is None and self._lender is not None:
            self._t2i = self._lender.pipe  # its denoiser hook counts the lender's steps
            self._device = self._lender.device
            self._info = self._info or self._lender._info
            self.placement = self._lender.placement
        if self._t2i is None:
            self._import_libraries()
            t0 = time.perf_counter()
            with self._quiet():
                self._t2i = self._load()
            self.load_seconds += time.perf_counter() - t0
        return self._t2i

    def _import_libraries(self) -> None:
        """torch, transformers, diffusers and the pipeline class, each timed apart (`imports`)
        where this process imports it now: seconds a fresh process pays before loading any
        weights (most of a small model's load), which a process that has imported them does
        not pay again."""
        if not self.verbose:
            quiet_environment()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for module in LIBRARIES:
                self.timed_import(module)
            t2i, _ = pipeline_classes(self._info)
            self._pipeline_class = self.timed_import("diffusers", t2i)

    def _load(self) -> Any:
        import torch

        m = self.model
        local = Path(m.id).expanduser().is_dir()
        dtype = getattr(torch, self.dtype_name)
        if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            dtype = torch.float16
        kwargs: dict[str, Any] = {
            "revision": m.revision,
            "dtype": dtype,
            "use_safetensors": True,
            "local_files_only": not self.download,
        }
        if dtype != torch.float32 and self._info and families.has_fp16_variant(self._info):
            kwargs["variant"] = "fp16"  # half the bytes to read
        try:
            pipe = self._pipeline_class.from_pretrained(m.id, **kwargs)
        except (OSError, ValueError) as e:
            if not local and families.is_hub_id(m.id) and not self.download:
                raise BackendUnavailable(
                    f"model '{m.id}' is not downloaded; fetch it once with "
                    f"`shotcraft render --download SHOT` (or `huggingface-cli download {m.id}`)"
                ) from None
            raise _unloadable(f"model '{m.id}'", e) from None
        except RuntimeError as e:
            if _is_oom(e):
                raise self._oom("loading") from None
            raise
        if self._info is None:  # a hub id just downloaded: its config files are here now
            self._info = families.describe(m.id, m.revision)
        self._place(pipe)
        if not self.verbose:
            pipe.set_progress_bar_config(disable=True)
        denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        if denoiser is None:
            raise BackendUnavailable(f"model '{m.id}' has no unet or transformer")
        denoiser.register_forward_hook(self._hook())
        return pipe

    def _place(self, pipe: Any) -> None:
        """Whole on the device, or offloaded, as `families.choose_placement` decides."""
        import torch

        dev = self.device
        free = 0
        if dev.startswith("cuda"):
            free = cuda_free_bytes(dev)
        bytes_per = 4 if self.dtype_name == "float32" else 2
        choice = families.choose_placement(self.model.offload, dev, free, self.info, bytes_per)
        try:
            self._apply_placement(pipe, choice)
        except torch.OutOfMemoryError:
            raise self._oom("loading") from None
        self.placement = choice
        if choice != "whole":
            vae = getattr(pipe, "vae", None)
            if vae is not None and hasattr(vae, "enable_tiling"):
                vae.enable_slicing()
                vae.enable_tiling()  # a decode at 1 MP needs more than the denoiser

    def _apply_placement(self, pipe: Any, choice: str) -> None:
        if choice == "whole":
            pipe.to(self.device)
        elif choice == "model":
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.enable_sequential_cpu_offload(device=self.device)

    def _derived(self, pipe: Any) -> Any:
        """A pipeline made `from_pipe` (shared weights) placed like the first one."""
        if self.placement and self.placement != "whole":
            self._apply_placement(pipe, self.placement)
        if not self.verbose:
            pipe.set_progress_bar_config(disable=True)
        return pipe

    def _oom(self, doing: str) -> RenderFailed:
        with_ = {"whole": '"model"', "model": '"sequential"'}.get(self.placement, '"model"')
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        return RenderFailed(
            f"model '{self.model.id}' ran out of GPU memory {doing} "
            f"(placed: {self.placement or 'loading'}); set model.offload = {with_} in the shot "
            "(or a smaller preset scale)"
        )

    @property
    def img2img(self) -> Any:
        if self._i2i is None:
            with self._quiet():
                import diffusers

                t2i, i2i = pipeline_classes(self._info)
                if type(self.pipe).__name__ != t2i:
                    i2i = AUTO_PIPELINES[1]  # loaded by the auto pipeline: it picks again
                self._i2i = self._derived(getattr(diffusers, i2i).from_pipe(self.pipe))
        return self._i2i

    @property
    def video_pipe(self) -> Any:
        """AnimateDiff video-to-video, sharing the loaded components, with the motion adapter."""
        if self._v2v is None:
            with self._quiet():
                from diffusers import AnimateDiffVideoToVideoPipeline, MotionAdapter

                try:
                    adapter = MotionAdapter.from_pretrained(
                        self.model.motion_adapter,
                        use_safetensors=True,
                        local_files_only=not self.download,
                    )
                except (OSError, ValueError) as e:
                    raise _unloadable(f"motion adapter '{self.model.motion_adapter}'", e) from None
                pipe = AnimateDiffVideoToVideoPipeline.from_pipe(self.pipe, motion_adapter=adapter)
                # from_pipe builds the motion UNet with `from_config` (UNetMotionModel.from_unet2d),
                # which leaves it in training mode: put it in eval mode like every loaded model,
                # so that no training-only layer can draw on the process's global RNG
                pipe.unet.eval()
                if self.placement == "whole":
                    pipe.to(self.device)
                pipe = self._derived(pipe)
                pipe.unet.register_forward_hook(self._hook())
                self._v2v = pipe
        return self._v2v

    # --- sizes and steps ---------------------------------------------------------------
    def size_multiple(self) -> int:
        return self.info.multiple

    def native_size(self) -> int:
        """The side of the square the model was trained at (its native area)."""
        return self.info.native

    def paint_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return families.paint_size(self.info.native, self.info.multiple, size)

    def _t2i_steps(self, steps: int | None) -> int:
        return steps or self.info.steps(self.model.steps)

    def _i2i_steps(self, steps: int | None, strength: float) -> int:
        if steps:
            return steps
        if self.model.steps is not None:
            return self.model.steps
        return self.info.i2i_default_steps(strength)

    def guidance(self) -> float:
        return float(self.info.guidance(self.model.guidance))

    def steps(
        self, kind: PaintKind, steps: int | None = None, strength: float | None = None
    ) -> int:
        if kind == "t2i":
            return self._t2i_steps(steps)
        s = strength if strength is not None else self.model.strength
        return self.info.i2i_steps(self._i2i_steps(steps, s), s)

    def _call_args(self, steps: int) -> dict[str, Any]:
        """The arguments this family takes: guidance its way, a negative prompt only where it
        takes effect, the T5 sequence length it was trained with."""
        info, m = self.info, self.model
        guidance = info.guidance(m.guidance)
        args: dict[str, Any] = {"num_inference_steps": steps, "guidance_scale": guidance}
        if m.negative and info.family.negative and guidance > 1.0:
            args["negative_prompt"] = m.negative
        elif m.negative and not info.family.negative and not self._told_negative:
            self._told_negative = True  # a shot file says so at load; `--model` gets here
            log.warning(f"{info.label} takes no negative prompt: model.negative is ignored")
        if info.max_sequence_length:
            args["max_sequence_length"] = info.max_sequence_length
        return args

    def _call(self, pipe: Any, what: str, size: tuple[int, int], **args: Any) -> Any:
        """One pipeline call: quiet, out-of-memory and safety-checker hits as user errors.
        Arguments the pipeline does not take (SD image-to-image has no height) are dropped."""
        takes = inspect.signature(pipe.__call__).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in takes.values()):
            args = {k: v for k, v in args.items() if k in takes}
        try:
            with self._quiet():
                out = pipe(**args)
        except RuntimeError as e:
            if _is_oom(e):
                raise self._oom(f"painting {size[0]}x{size[1]}") from None
            raise RenderFailed(
                f"model '{self.model.id}' failed to {what}: {_first_line(e)}"
            ) from None
        except ValueError as e:
            raise RenderFailed(
                f"model '{self.model.id}' failed to {what}: {_first_line(e)}"
            ) from None
        flagged = getattr(out, "nsfw_content_detected", None)
        if flagged and any(flagged):
            # the checker returns a black image: never let that into the cache
            raise RenderFailed(
                f"model '{self.model.id}': the safety checker blanked the image it painted "
                f"for '{args.get('prompt', '')[:60]}'; change the prompt or the seed"
            )
        return out

    def _generator(self, seed: int) -> Any:
        import torch

        return torch.Generator(device="cpu").manual_seed(seed)

    def precision(self, device: str) -> str:
        return self.dtype_name

    def time_vae(self, kind: Literal["decode", "encode"], size: tuple[int, int]) -> float | None:
        """The pipeline's own VAE on a latent (or image) of the right shape, synchronised."""
        import torch

        vae = getattr(self.pipe, "vae", None)
        if vae is None:
            return None
        f = 2 ** (len(vae.config.block_out_channels) - 1)
        w, h = size
        with torch.no_grad():
            if kind == "decode":
                x = torch.zeros(1, vae.config.latent_channels, h // f, w // f)
            else:
                x = torch.zeros(1, vae.config.in_channels, h, w)
            x = x.to(device=vae.device, dtype=vae.dtype)
            t0 = time.perf_counter()
            out = vae.decode(x).sample if kind == "decode" else vae.encode(x).latent_dist.mean
            out.float().sum().item()  # waits for the device
            return time.perf_counter() - t0

    # --- the video pass ----------------------------------------------------------------
    @property
    def has_video_pass(self) -> bool:
        return bool(self.model.motion_adapter)

    def video_spec(self, chunk_digest: str, size: tuple[int, int], seed: int) -> dict[str, Any]:
        return self._spec(
            "chunk",
            chunk=chunk_digest,
            strength=self.model.strength,
            seed=seed,
            size=list(size),
            motion_adapter=self.model.motion_adapter,
        )

    def video_to_video(
        self, frames: list[Image.Image], prompt: str, seed: int
    ) -> list[Image.Image]:
        """One chunk of frames through AnimateDiff at the model's strength, same noise each time."""
        size = frames[0].size
        gw, gh = self.paint_size(size)
        strength = self.model.strength
        out = self._call(
            self.video_pipe,
            "run the video pass",
            (gw, gh),
            video=[f.resize((gw, gh), Image.Resampling.LANCZOS) for f in frames],
            prompt=prompt or "a film",
            height=gh,
            width=gw,
            strength=strength,
            generator=self._generator(seed),
            **self._call_args(self._i2i_steps(None, strength)),
        )
        return [f.convert("RGB").resize(size, Image.Resampling.LANCZOS) for f in out.frames[0]]

    # --- painting ----------------------------------------------------------------------
    def text_to_image(
        self, prompt: str, size: tuple[int, int], seed: int, steps: int | None = None
    ) -> Image.Image:
        out = self._call(
            self.pipe,
            "paint",
            size,
            prompt=prompt,
            height=size[1],
            width=size[0],
            generator=self._generator(seed),
            **self._call_args(self._t2i_steps(steps)),
        )
        return out.images[0].convert("RGB")

    def image_to_image(
        self,
        image: Image.Image,
        prompt: str,
        seed: int,
        steps: int | None = None,
        strength: float | None = None,
    ) -> Image.Image:
        s = strength if strength is not None else self.model.strength
        n = self._i2i_steps(steps, s)
        why = families.i2i_problem(self.info.family.i2i, n, s)
        if why:
            allowed = families.i2i_allowed(self.info.family.i2i, n, s)
            raise RenderFailed(
                f"model '{self.model.id}' ({self.info.label}): image-to-image at strength "
                f"{s:g} with {n} steps would {why}; use {allowed}"
            )
        out = self._call(
            self.img2img,
            "harmonize",
            image.size,
            prompt=prompt or "a film still",
            image=image,
            strength=s,
            height=image.size[1],
            width=image.size[0],
            generator=self._generator(seed),
            **self._call_args(n),
        )
        return out.images[0].convert("RGB")

    def _spec(self, kind: str, **extra: Any) -> dict[str, Any]:
        m = self.model
        return {
            "kind": kind,
            "backend": self.name,
            "backend_version": self.version,
            "model": self.identity,
            "revision": m.revision,
            "steps": self._t2i_steps(None),
            "guidance": self.info.guidance(m.guidance),
            "negative": m.negative,
            "scheduler": "default",
            # fp16 on a GPU and fp32 on a CPU paint different pixels from the same seed
            "device": self.device_class,
            "dtype": self.dtype_name,
            **extra,
        }

    # --- plates ------------------------------------------------------------------------
    def plate_spec(self, background: Background, size: tuple[int, int]) -> dict[str, Any]:
        if background.image is not None:
            return self._procedural.plate_spec(background, size)
        return self._spec(
            "plate",
            prompt=background.prompt or "a landscape",
            seed=background_seed(background),
            size=list(size),
            paint=list(self.paint_size(size)),
        )

    def plate(self, background: Background, size: tuple[int, int]) -> Plate:
        if background.image is not None:
            return self._procedural.plate(background, size)
        prompt = background.prompt or "a landscape"
        img = self.text_to_image(prompt, self.paint_size(size), background_seed(background))
        return Plate.single(img.resize(size, Image.Resampling.LANCZOS))

    # --- sprites -----------------------------------------------------------------------
    def sprite_spec(self, subject: Subject, sl: SubjectLayout, height: int) -> dict[str, Any]:
        if subject.image is not None:
            return self._procedural.sprite_spec(subject, sl, height)
        w = max(4, round(height * sl.aspect))
        return self._spec(
            "sprite",
            prompt=(subject.prompt or subject.id) + SPRITE_SUFFIX,
            seed=stable_hash(subject.id) % 2**32,
            height=height,
            aspect=round(sl.aspect, 4),
            paint=list(self.paint_size((w, height))),
            matting=self.model.matting,
            keying=2,  # the keying method's version
        )

    def sprite(self, subject: Subject, sl: SubjectLayout, height: int) -> Image.Image:
        if subject.image is not None:
            return self._procedural.sprite(subject, sl, height)
        w = max(4, round(height * sl.aspect))
        img = self.text_to_image(
            (subject.prompt or subject.id) + SPRITE_SUFFIX,
            self.paint_size((w, height)),
            stable_hash(subject.id) % 2**32,
        )
        if self.model.matting:
            cut = self._matte(img)
        else:
            keyed = key_out(img)
            for warning in keyed.warnings:
                log.warning(f"sprite '{subject.id}': {warning}")
            cut = keyed.image
        return premultiplied_resize(cut, (w, height))

    def _matte(self, img: Image.Image) -> Image.Image:
        """Alpha from the image-segmentation model `model.matting`: every mask it returns
        that is not labelled background, united."""
        if self._matting is None:
            with self._quiet():
                from transformers import pipeline

                try:
                    self._matting = pipeline(
                        "image-segmentation",
                        model=self.model.matting,
                        device=self.device,
                        local_files_only=not self.download,
                    )
                except (OSError, ValueError) as e:
                    raise _unloadable(f"matting model '{self.model.matting}'", e) from None
        with self._quiet():
            segments = self._matting(img)
        alpha = np.zeros((img.size[1], img.size[0]), np.float32)
        for seg in segments:
            if "background" in str(seg.get("label", "")).lower():
                continue
            mask = seg["mask"].convert("L").resize(img.size, Image.Resampling.BILINEAR)
            alpha = np.maximum(alpha, np.asarray(mask, np.float32))
        if not (alpha >= 128).any():
            log.warning(f"matting model '{self.model.matting}' found no subject in a sprite")
        rgba = np.dstack([np.asarray(img.convert("RGB")), alpha.astype(np.uint8)])
        return Image.fromarray(rgba, "RGBA")

    # --- harmonize ---------------------------------------------------------------------
    def harmonize_spec(
        self, composite_digest: str, size: tuple[int, int], seed: int
    ) -> dict[str, Any]:
        return self._spec(
            "frame",
            composite=composite_digest,
            strength=self.model.strength,
            i2i_steps=self.steps("i2i"),
            seed=seed,
            size=list(size),
        )


def cuda_free_bytes(device: str) -> int:
    """Bytes this process may still allocate on `device`: the driver's free memory, capped by
    `torch.cuda.set_per_process_memory_fraction` where one was set."""
    import torch

    free, total = torch.cuda.mem_get_info(device)
    try:
        fraction = torch.cuda.get_per_process_memory_fraction(device)
    except (AttributeError, RuntimeError):
        fraction = 1.0
    cap = int(fraction * total) - torch.cuda.memory_reserved(device)
    return max(0, min(free, cap))
