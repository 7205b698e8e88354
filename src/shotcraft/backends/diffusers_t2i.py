"""The diffusers backend: plates and sprites by text-to-image, frames harmonized by
image-to-image. torch and diffusers are imported here and nowhere else.

Sprites are painted on a flat green key colour (the prompt gets SPRITE_SUFFIX) and the green
is keyed out to alpha. Keying works for subjects that are not themselves saturated green;
give such a subject an RGBA `image` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from shotcraft import __version__
from shotcraft.backends.base import ModelBackend, PaintKind
from shotcraft.backends.procedural import ProceduralBackend, background_seed
from shotcraft.draw.plate import Plate
from shotcraft.draw.procedural import premultiplied_resize
from shotcraft.errors import BackendUnavailable, RenderFailed
from shotcraft.layout.planner import SubjectLayout, stable_hash
from shotcraft.spec.model import Background, ModelSpec, Subject

SPRITE_SUFFIX = ", full body, centered, isolated on a plain flat pure green background"
MAX_SIDE = 1024  # plates are painted at most this big on the long side, then scaled

log = logging.getLogger("shotcraft")


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        if device == "cuda" and not torch.cuda.is_available():
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


def vae_scale_factor(model_id: str) -> int:
    """How many pixels one latent covers, from vae/config.json where the folder has one (8,
    the common value, otherwise)."""
    config = Path(model_id).expanduser() / "vae" / "config.json"
    try:
        channels = json.loads(config.read_text()).get("block_out_channels", [0, 0, 0, 0])
        return 2 ** (len(channels) - 1)
    except (OSError, ValueError, AttributeError, TypeError):
        return 8


def key_out_green(img: Image.Image) -> Image.Image:
    """Green screen to alpha: greener than its red and blue means transparent; despill edges."""
    rgb = np.asarray(img.convert("RGB")).astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    green = g - np.maximum(r, b)
    alpha = 1.0 - np.clip((green - 40.0) / 60.0, 0.0, 1.0)
    rgb[..., 1] = np.where(alpha < 1.0, np.minimum(g, np.maximum(r, b)), g)  # despill
    out = np.dstack([rgb, alpha * 255.0]).clip(0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGBA")


def _unloadable(what: str, e: Exception) -> BackendUnavailable:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return BackendUnavailable(
        f"{what} could not be loaded ({first}); name a local folder, or download the hub id "
        "first (huggingface-cli download ID); safetensors weights are required"
    )


class DiffusersBackend(ModelBackend):
    """Any diffusers text-to-image pipeline (AutoPipelineForText2Image), with image-to-image
    and AnimateDiff video-to-video sharing its loaded components (`from_pipe`)."""

    name = "diffusers"

    def __init__(self, model: ModelSpec, device: str = "auto") -> None:
        from importlib.metadata import version

        super().__init__()
        for noisy in ("diffusers", "transformers"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.model = model
        self.version = f"{__version__}+diffusers-{version('diffusers')}"
        self.device_request = device
        self.identity = model_identity(model.id)
        self._device: str | None = None
        self._t2i: Any = None
        self._i2i: Any = None
        self._v2v: Any = None
        self._procedural = ProceduralBackend()
        self._multiple: int | None = None
        self._lender: DiffusersBackend | None = None  # whose loaded pipeline this one uses

    def borrow(self, other: ModelBackend) -> None:
        if isinstance(other, DiffusersBackend):
            self._lender = other

    # --- loading -----------------------------------------------------------------------
    def _count(self, *_: Any) -> None:
        self.count_step()

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.device_request)
        return self._device

    @property
    def loaded(self) -> bool:
        # a borrower of loaded components loads nothing
        return self._t2i is not None or (self._lender is not None and self._lender.loaded)

    def load(self) -> None:
        self.pipe  # noqa: B018 (the property loads)

    @property
    def pipe(self) -> Any:
        if self._t2i is None and self._lender is not None:
            self._t2i = self._lender.pipe  # its denoiser hook counts the lender's steps
            self._device = self._lender.device
        if self._t2i is None:
            import time

            t0 = time.perf_counter()  # diffusers imports its pipelines lazily: count them too
            import torch
            from diffusers import AutoPipelineForText2Image

            self.import_seconds += time.perf_counter() - t0

            dtype = torch.float16 if self.device in ("cuda", "mps") else torch.float32
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(
                    self.model.id,
                    revision=self.model.revision,
                    torch_dtype=dtype,
                    use_safetensors=True,
                )
            except (OSError, ValueError) as e:
                raise _unloadable(f"model '{self.model.id}'", e) from None
            pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
            if denoiser is None:
                raise BackendUnavailable(f"model '{self.model.id}' has no unet or transformer")
            denoiser.register_forward_hook(self._count)
            self._t2i = pipe
            self.load_seconds += time.perf_counter() - t0
        return self._t2i

    @property
    def img2img(self) -> Any:
        if self._i2i is None:
            from diffusers import AutoPipelineForImage2Image

            self._i2i = AutoPipelineForImage2Image.from_pipe(self.pipe)
            self._i2i.set_progress_bar_config(disable=True)
        return self._i2i

    @property
    def video_pipe(self) -> Any:
        """AnimateDiff video-to-video, sharing the loaded components, with the motion adapter."""
        if self._v2v is None:
            from diffusers import AnimateDiffVideoToVideoPipeline, MotionAdapter

            try:
                adapter = MotionAdapter.from_pretrained(
                    self.model.motion_adapter, use_safetensors=True
                )
            except (OSError, ValueError) as e:
                raise _unloadable(f"motion adapter '{self.model.motion_adapter}'", e) from None
            pipe = AnimateDiffVideoToVideoPipeline.from_pipe(self.pipe, motion_adapter=adapter)
            pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            pipe.unet.register_forward_hook(self._count)
            self._v2v = pipe
        return self._v2v

    # --- sizes and steps ---------------------------------------------------------------
    def size_multiple(self) -> int:
        """From the VAE's config file (no torch, nothing loaded): its downscaling factor times
        8, which every denoiser's down blocks divide again."""
        if self._multiple is None:
            self._multiple = vae_scale_factor(self.model.id) * 8
        return self._multiple

    def paint_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self.gen_size(size)

    def gen_size(self, size: tuple[int, int], multiple: int | None = None) -> tuple[int, int]:
        """The size to paint at: within MAX_SIDE, rounded to what the model accepts."""
        w, h = size
        k = min(1.0, MAX_SIDE / max(w, h))
        m = multiple or self.size_multiple()
        return (max(m, round(w * k / m) * m), max(m, round(h * k / m) * m))

    def steps(
        self, kind: PaintKind, steps: int | None = None, strength: float | None = None
    ) -> int:
        n = steps or self.model.steps
        if kind == "t2i":
            return n
        return max(1, int(n * (strength or self.model.strength)))

    def time_vae(self, kind: Literal["decode", "encode"], size: tuple[int, int]) -> float | None:
        """The pipeline's own VAE on a latent (or image) of the right shape, synchronised."""
        import time

        import torch

        vae = getattr(self.pipe, "vae", None)
        if vae is None:
            return None
        f = vae_scale_factor(self.model.id)
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
        import torch

        size = frames[0].size
        gw, gh = self.gen_size(size)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        try:
            out = self.video_pipe(
                video=[f.resize((gw, gh), Image.Resampling.LANCZOS) for f in frames],
                prompt=prompt or "a film",
                negative_prompt=self.model.negative or None,
                height=gh,
                width=gw,
                num_inference_steps=self.model.steps,
                strength=self.model.strength,
                guidance_scale=self.model.guidance,
                generator=generator,
            )
        except (RuntimeError, ValueError) as e:
            raise RenderFailed(f"model '{self.model.id}' failed the video pass: {e}") from None
        return [f.convert("RGB").resize(size, Image.Resampling.LANCZOS) for f in out.frames[0]]

    # --- painting ----------------------------------------------------------------------
    def text_to_image(
        self, prompt: str, size: tuple[int, int], seed: int, steps: int | None = None
    ) -> Image.Image:
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)
        try:
            out = self.pipe(
                prompt,
                negative_prompt=self.model.negative or None,
                num_inference_steps=steps or self.model.steps,
                guidance_scale=self.model.guidance,
                height=size[1],
                width=size[0],
                generator=generator,
            )
        except (RuntimeError, ValueError) as e:
            raise RenderFailed(f"model '{self.model.id}' failed to paint: {e}") from None
        return out.images[0].convert("RGB")

    def image_to_image(
        self,
        image: Image.Image,
        prompt: str,
        seed: int,
        steps: int | None = None,
        strength: float | None = None,
    ) -> Image.Image:
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)
        try:
            out = self.img2img(
                prompt or "a film still",
                image=image,
                strength=strength or self.model.strength,
                num_inference_steps=steps or self.model.steps,
                guidance_scale=self.model.guidance,
                negative_prompt=self.model.negative or None,
                generator=generator,
            )
        except (RuntimeError, ValueError) as e:
            raise RenderFailed(f"model '{self.model.id}' failed to harmonize: {e}") from None
        return out.images[0].convert("RGB")

    def _spec(self, kind: str, **extra: Any) -> dict[str, Any]:
        m = self.model
        return {
            "kind": kind,
            "backend": self.name,
            "backend_version": self.version,
            "model": self.identity,
            "revision": m.revision,
            "steps": m.steps,
            "guidance": m.guidance,
            "negative": m.negative,
            "scheduler": "default",
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
        return self._spec(
            "sprite",
            prompt=(subject.prompt or subject.id) + SPRITE_SUFFIX,
            seed=stable_hash(subject.id) % 2**32,
            height=height,
            aspect=round(sl.aspect, 4),
        )

    def sprite(self, subject: Subject, sl: SubjectLayout, height: int) -> Image.Image:
        if subject.image is not None:
            return self._procedural.sprite(subject, sl, height)
        w = max(4, round(height * sl.aspect))
        size = (max(w, 64), max(height, 64))
        img = self.text_to_image(
            (subject.prompt or subject.id) + SPRITE_SUFFIX,
            self.paint_size(size),
            stable_hash(subject.id) % 2**32,
        )
        return premultiplied_resize(key_out_green(img), (w, height))

    # --- harmonize ---------------------------------------------------------------------
    def harmonize_spec(
        self, composite_digest: str, size: tuple[int, int], seed: int
    ) -> dict[str, Any]:
        return self._spec(
            "frame",
            composite=composite_digest,
            strength=self.model.strength,
            seed=seed,
            size=list(size),
        )
