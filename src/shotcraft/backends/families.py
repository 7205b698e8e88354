"""What each image model family expects, read from the model folder's config files (JSON, never
torch): its native area and size multiple, its dtype, the arguments it takes, its default steps
and guidance, and how image-to-image turns `strength` and `steps` into real denoising steps.

The spec loader calls `check_model` (exit 3 before any work), the estimate calls `describe`
before anything loads, and the diffusers backend paints with what `describe` returns. Also
here, as pure functions so they can be tested without a GPU: the paint size policy
(`paint_size`), the dtype (`choose_dtype`) and where the weights go (`choose_placement`).
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

I2IRule = Literal["truncate", "flow"]
Placement = Literal["whole", "model", "sequential"]
GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class Family:
    """One family of text-to-image pipelines and the way it wants to be called."""

    name: str  # "sd", "sdxl", "sd3", "flux", "plain"
    label: str  # for messages
    pipelines: tuple[str, ...]  # model_index.json `_class_name`s it covers
    native_latent: int  # native side in latent pixels when the config does not say
    min_multiple: int  # the pipeline's own check on sides (SD and SDXL: 8)
    patch: int  # latent pixels per token: sides are multiples of vae_scale * patch
    dtype: str  # preferred 16-bit dtype on a GPU: "bfloat16" or "float16"
    negative: bool  # whether a negative prompt takes effect (with guidance above 1)
    guidance_embedded: bool  # FLUX: guidance is an input of the model, not CFG
    max_sequence_length: int | None  # T5 tokens (SD3, FLUX)
    default_steps: int
    default_guidance: float
    i2i: I2IRule  # see `i2i_steps`
    work_gib_per_mpix: float  # activations while painting, for the placement estimate
    # its image-to-image class (diffusers' AUTO_IMAGE2IMAGE_PIPELINES_MAPPING entry for it),
    # or "" where it has none of its own: it is then loaded through the auto pipelines
    i2i_pipeline: str = ""


SD = Family("sd", "Stable Diffusion 1.x/2.x", ("StableDiffusionPipeline",), 64, 8, 1,
            "float16", True, False, None, 25, 7.5, "truncate", 4.0,
            "StableDiffusionImg2ImgPipeline")  # fmt: skip
SDXL = Family("sdxl", "Stable Diffusion XL", ("StableDiffusionXLPipeline",), 128, 8, 1,
              "float16", True, False, None, 30, 5.0, "truncate", 3.0,
              "StableDiffusionXLImg2ImgPipeline")  # fmt: skip
SD3 = Family("sd3", "Stable Diffusion 3", ("StableDiffusion3Pipeline",), 128, 1, 2,
             "bfloat16", True, False, 256, 28, 7.0, "flow", 3.0,
             "StableDiffusion3Img2ImgPipeline")  # fmt: skip
FLUX = Family("flux", "FLUX.1", ("FluxPipeline",), 128, 1, 2,
              "bfloat16", False, True, 512, 28, 3.5, "flow", 4.0,
              "FluxImg2ImgPipeline")  # fmt: skip
PLAIN = Family("plain", "diffusers text-to-image", (), 64, 8, 1,
               "float16", True, False, None, 25, 5.0, "truncate", 4.0)  # fmt: skip
FAMILIES = (SD, SDXL, SD3, FLUX)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model as its config files describe it, with the family's settings resolved for it
    (a distilled variant such as sd-turbo or FLUX.1-schnell changes defaults and sizes)."""

    family: Family
    variant: str  # "", "turbo", "lightning", "schnell", "dev"
    pipeline: str  # model_index.json `_class_name`
    folder: Path | None  # where the config files are (None: not on this machine)
    native: int  # native side in pixels: the native area is native x native
    multiple: int  # sides of a painted image are multiples of this
    default_steps: int
    default_guidance: float
    max_sequence_length: int | None
    weights: tuple[tuple[str, int], ...] = ()  # (component, parameters) from safetensors

    @property
    def label(self) -> str:
        return f"{self.family.label} {self.variant}".strip()

    @property
    def parameters(self) -> int:
        return sum(n for _, n in self.weights)

    @property
    def largest_component(self) -> int:
        return max((n for _, n in self.weights), default=0)

    @property
    def pipeline_classes(self) -> tuple[str, str] | None:
        """The diffusers classes that load this model for text-to-image and image-to-image:
        its family's own, or None where the family is not known (the auto pipelines then
        pick them, at the cost of importing every pipeline they map to: about 1.5 s on a
        CPU against 0.8 s for one family's)."""
        if self.pipeline in self.family.pipelines and self.family.i2i_pipeline:
            return self.pipeline, self.family.i2i_pipeline
        return None

    def steps(self, given: int | None) -> int:
        return given if given is not None else self.default_steps

    def guidance(self, given: float | None) -> float:
        return given if given is not None else self.default_guidance

    def i2i_steps(self, steps: int, strength: float) -> int:
        return i2i_steps(self.family.i2i, steps, strength)

    def i2i_default_steps(self, strength: float) -> int:
        """Steps for image-to-image when the shot gives none: the default, raised until
        `strength` denoises at least one step without starting from pure noise."""
        n = self.default_steps
        while n < 200 and i2i_problem(self.family.i2i, n, strength):
            n += 1
        return n


# --- image-to-image steps ----------------------------------------------------------------
def i2i_steps(rule: I2IRule, steps: int, strength: float) -> int:
    """Real denoising steps of one image-to-image call, the way diffusers 0.42 counts them.

    "truncate" (SD, SDXL `get_timesteps`): int(steps x strength) steps.
    "flow" (SD3, FLUX): the schedule's last steps - int(steps - steps x strength) steps."""
    if rule == "truncate":
        return min(int(steps * strength), steps)
    t_start = int(max(steps - min(steps * strength, steps), 0))
    return steps - t_start


def i2i_problem(rule: I2IRule, steps: int, strength: float) -> str | None:
    """Why `steps` at `strength` cannot repaint an image, or None when it can."""
    real = i2i_steps(rule, steps, strength)
    if real < 1:
        return "denoise 0 steps"
    if rule == "flow" and real >= steps:
        # the schedule starts at sigma 1: the image is replaced by noise, nothing of it is kept
        return "start from pure noise (the image is thrown away)"
    return None


def i2i_allowed(rule: I2IRule, steps: int, strength: float) -> str:
    """The values that work, said for the user: steps at this strength, strength at these
    steps (searched with the same arithmetic as `i2i_steps`, so the advice is exact)."""
    ok_steps = next((n for n in range(1, 201) if not i2i_problem(rule, n, strength)), None)
    grid = [round(s / 100, 2) for s in range(1, 101)]
    ok_strength = [s for s in grid if not i2i_problem(rule, steps, s)]
    parts = []
    if ok_steps is not None and strength > 0.0:
        parts.append(f"steps >= {ok_steps} at strength {strength:g}")
    if ok_strength:
        lo, hi = ok_strength[0], ok_strength[-1]
        parts.append(f"strength {lo:g}..{hi:g} at {steps} steps")
    return " or ".join(parts) if parts else "more steps"


# --- recognising a model -----------------------------------------------------------------
def is_hub_id(model_id: str) -> bool:
    """Whether `model_id` reads as a hub id ("org/name"), not as a path to a folder."""
    return model_id.count("/") == 1 and not model_id.startswith((".", "/", "~"))


def model_folder(model_id: str, revision: str | None = None) -> Path | None:
    """The folder holding the model's config files: a local folder, or the hub cache's
    snapshot when the hub id was downloaded before (nothing is fetched)."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return folder
    if not is_hub_id(model_id):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        got = try_to_load_from_cache(model_id, "model_index.json", revision=revision)
    except Exception:  # a malformed id or cache: the model is simply not recognised here
        return None
    return Path(got).parent if isinstance(got, str) else None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(model_id: str, revision: str | None = None) -> ModelInfo | None:
    """The model's family and settings from its config files, or None when its folder is not
    on this machine (or is not a diffusers pipeline)."""
    folder = model_folder(model_id, revision)
    if folder is None:
        return None
    index = _json(folder / "model_index.json")
    cls = index.get("_class_name")
    if not isinstance(cls, str):
        return None
    family = next((f for f in FAMILIES if cls in f.pipelines), PLAIN)
    denoiser = _json(folder / "unet" / "config.json") or _json(
        folder / "transformer" / "config.json"
    )
    vae = _json(folder / "vae" / "config.json")
    blocks = vae.get("block_out_channels") or [0, 0, 0, 0]
    vae_scale = 2 ** (len(blocks) - 1)
    name = f"{model_id} {folder.name}".lower()
    scheduler = _json(folder / "scheduler" / "scheduler_config.json")
    variant = ""
    native_latent = denoiser.get("sample_size") or family.native_latent
    if isinstance(native_latent, list):
        native_latent = max(native_latent)
    steps, guidance, seq = family.default_steps, family.default_guidance, family.max_sequence_length
    if family is FLUX:
        native_latent = 128  # FluxPipeline.default_sample_size: about 1 MP
        if denoiser.get("guidance_embeds", True) is False or "schnell" in name:
            variant, steps, guidance, seq = "schnell", 4, 0.0, 256
        else:
            variant = "dev"
    elif family in (SD, SDXL):
        if "turbo" in name:
            # sd-turbo and sdxl-turbo are distilled at 512 px, one to four steps, no CFG
            variant, steps, guidance, native_latent = "turbo", 2, 0.0, 512 // 8
        elif "lightning" in name or scheduler.get("timestep_spacing") == "trailing":
            variant, steps, guidance = "lightning", 4, 0.0
    elif family is SD3 and "turbo" in name:
        variant, steps, guidance = "turbo", 4, 0.0
    patch = int(denoiser.get("patch_size") or family.patch) if family is SD3 else family.patch
    multiple = max(family.min_multiple, vae_scale * patch)
    native = int(native_latent) * vae_scale
    return ModelInfo(
        family=family,
        variant=variant,
        pipeline=cls,
        folder=folder,
        native=max(native, multiple),
        multiple=multiple,
        default_steps=steps,
        default_guidance=guidance,
        max_sequence_length=seq,
        weights=tuple(_parameters(folder, index)),
    )


def _parameters(folder: Path, index: dict[str, Any]) -> list[tuple[str, int]]:
    """Parameters per component, counted from the safetensors headers (no weights read)."""
    out = []
    for component, value in index.items():
        if component.startswith("_") or not isinstance(value, list):
            continue
        files = sorted((folder / component).glob("*.safetensors"))
        plain = [f for f in files if not f.name.endswith(".fp16.safetensors")]
        n = sum(_safetensors_parameters(f) for f in (plain or files))
        if n:
            out.append((component, n))
    return out


def _safetensors_parameters(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100 << 20:
                return 0
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error):
        return 0
    return sum(
        math.prod(t.get("shape", []))
        for k, t in header.items()
        if k != "__metadata__" and isinstance(t, dict)
    )


def has_fp16_variant(info: ModelInfo) -> bool:
    """Whether the folder holds `*.fp16.safetensors` files (the half-size download)."""
    return info.folder is not None and any(info.folder.glob("*/*.fp16.safetensors"))


# --- checks at shot load -----------------------------------------------------------------
def check_model(
    model_id: str,
    revision: str | None,
    steps: int | None,
    strength: float,
    negative: str,
) -> list[tuple[str, str]]:
    """Problems with a shot's `[model]` settings for the family its folder shows, as
    (key path, message); none when the model is not on this machine to read."""
    info = describe(model_id, revision)
    if info is None:
        return []
    problems = []
    rule = info.family.i2i
    n = info.steps(steps) if steps is not None else info.i2i_default_steps(strength)
    why = i2i_problem(rule, n, strength)
    if why:
        problems.append(
            (
                "model.strength",
                f"{info.label} image-to-image (harmonize, video pass) at strength {strength:g} "
                f"with {n} steps would {why}; use {i2i_allowed(rule, n, strength)}",
            )
        )
    if negative and not info.family.negative:
        problems.append(
            (
                "model.negative",
                f"{info.label} takes no negative prompt (it is guidance-distilled: "
                "without true CFG, at twice the cost, it is ignored); remove it",
            )
        )
    return problems


# --- sizes -------------------------------------------------------------------------------
def paint_size(native: int, multiple: int, size: tuple[int, int]) -> tuple[int, int]:
    """The size an image shown at `size` is painted at: the native area (native x native) at
    `size`'s aspect, sides multiples of `multiple`; the result is resampled to `size`.

    A small sprite is painted big and scaled down, a large plate is painted at the native
    area and enlarged: a model paints well only near the area it was trained at. Of the
    candidate sizes around the ideal one, the one closest in aspect (then in area) wins."""
    w, h = size
    aspect = w / h
    area = native * native
    ideal_h = math.sqrt(area / aspect)
    best: tuple[float, tuple[int, int]] | None = None
    base = round(ideal_h / multiple)
    for k in range(max(1, base - 3), base + 4):
        ph = k * multiple
        pw = max(multiple, round(ph * aspect / multiple) * multiple)
        err = abs(pw / ph / aspect - 1.0) + 0.25 * abs(pw * ph / area - 1.0)
        if best is None or err < best[0]:
            best = (err, (pw, ph))
    assert best is not None
    return best[1]


# --- dtype and placement -----------------------------------------------------------------
def choose_dtype(device: str, family: Family, bf16_supported: bool) -> str:
    """bfloat16 where the family prefers it and the GPU has it (T5 overflows in float16),
    float16 on other GPUs, float32 on the CPU (16-bit there is slow or unsupported)."""
    if device in ("cpu",) or device.startswith("cpu"):
        return "float32"
    if family.dtype == "bfloat16" and bf16_supported:
        return "bfloat16"
    return "float16"


def working_bytes(info: ModelInfo) -> int:
    """Memory a paint needs besides the weights (activations, VAE decode), a rough figure."""
    mpix = info.native * info.native / 1e6
    return int((0.25 + info.family.work_gib_per_mpix * mpix) * GIB)


def choose_placement(
    request: str, device: str, free_bytes: int, info: ModelInfo, bytes_per_param: int
) -> Placement:
    """Where the weights go: whole on the GPU when they fit with room to paint, else each
    component moved onto the GPU while it runs (model offload), else layer by layer
    (sequential offload: slow, but it fits nearly anything). `request` overrides "auto"."""
    if request == "none" or not device.startswith("cuda"):
        return "whole"
    if request in ("model", "sequential"):
        return request  # type: ignore[return-value]
    need = working_bytes(info)
    if info.parameters * bytes_per_param + need <= free_bytes:
        return "whole"
    if info.largest_component * bytes_per_param + need <= free_bytes:
        return "model"
    return "sequential"


# --- the device, without torch -----------------------------------------------------------
def device_class(request: str) -> str:
    """ "cuda", "mps" or "cpu": where `request` ("auto", "cpu", "cuda", "cuda:1" ...) will run,
    found without importing torch (cache keys need it in sketch and status)."""
    if request != "auto":
        return request.split(":")[0]
    if _cuda_capability() is not None:
        return "cuda"
    if sys.platform == "darwin" and os.uname().machine == "arm64":
        return "mps"
    return "cpu"


def cuda_bf16(request: str) -> bool:
    """Whether the GPU does bfloat16 (compute capability 8 and up), without torch."""
    cap = _cuda_capability() if device_class(request) == "cuda" else None
    return cap is not None and cap >= 8


_CAPABILITY: list[int | None] = []


def _cuda_capability() -> int | None:
    """The first CUDA device's compute capability (major), from the driver library; None when
    there is no usable GPU or torch is a CPU-only build."""
    if _CAPABILITY:
        return _CAPABILITY[0]
    _CAPABILITY.append(_probe_cuda())
    return _CAPABILITY[0]


def _probe_cuda() -> int | None:
    try:
        from importlib.metadata import version

        if "+cpu" in version("torch"):
            return None
    except Exception:  # no torch at all: the model cannot run anyway
        return None
    import ctypes

    # NVML, not the CUDA driver: initialising CUDA here would break worker processes forked
    # later (and NVML answers without creating a context)
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    count, major, minor = ctypes.c_uint(0), ctypes.c_int(0), ctypes.c_int(0)
    handle = ctypes.c_void_p()
    try:
        if nvml.nvmlInit_v2() != 0:
            return None
        try:
            if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0 or not count.value:
                return None
            if nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(handle)) != 0:
                return None
            got = nvml.nvmlDeviceGetCudaComputeCapability(
                handle, ctypes.byref(major), ctypes.byref(minor)
            )
            return int(major.value) if got == 0 else None
        finally:
            nvml.nvmlShutdown()
    except AttributeError:  # an NVML too old for these calls
        return None
