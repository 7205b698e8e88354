"""Model families from config files alone (no torch): recognition, sizes, steps, the checks a
shot gets at load, dtype and placement decisions."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from shotcraft.backends import families as fam
from shotcraft.backends.families import FLUX, SD, SD3, SDXL

GIB = 1 << 30


def write_model(
    root: Path,
    name: str,
    cls: str,
    denoiser: dict | None = None,
    vae_blocks: int = 4,
    scheduler: dict | None = None,
    tensors: dict[str, dict[str, list[int]]] | None = None,
) -> Path:
    """A model folder with only the config files (and optional safetensors headers)."""
    folder = root / name
    kind = "transformer" if cls in ("StableDiffusion3Pipeline", "FluxPipeline") else "unet"
    index = {"_class_name": cls, kind: ["diffusers", "X"], "vae": ["diffusers", "AutoencoderKL"]}
    for sub, cfg in (
        (kind, denoiser or {}),
        ("vae", {"block_out_channels": [8] * vae_blocks}),
    ):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "config.json").write_text(json.dumps(cfg))
    if scheduler is not None:
        (folder / "scheduler").mkdir()
        (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    for sub, shapes in (tensors or {}).items():
        index[sub] = ["transformers", "X"]
        (folder / sub).mkdir(exist_ok=True)
        header = json.dumps(
            {k: {"dtype": "F32", "shape": s, "data_offsets": [0, 0]} for k, s in shapes.items()}
        ).encode()
        (folder / sub / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture
def models(tmp_path: Path) -> Callable[..., Path]:
    return lambda *a, **k: write_model(tmp_path, *a, **k)


def test_each_family_is_recognised_with_its_native_size_and_defaults(
    models: Callable[..., Path],
) -> None:
    sd15 = fam.describe(str(models("sd15", "StableDiffusionPipeline", {"sample_size": 64})))
    assert sd15 and sd15.family is SD and (sd15.native, sd15.multiple) == (512, 8)
    assert (sd15.default_steps, sd15.default_guidance) == (25, 7.5)
    turbo = fam.describe(str(models("sd-turbo", "StableDiffusionPipeline", {"sample_size": 96})))
    assert turbo and turbo.variant == "turbo" and turbo.native == 512
    assert (turbo.default_steps, turbo.default_guidance) == (2, 0.0)
    xl = fam.describe(str(models("xl", "StableDiffusionXLPipeline", {"sample_size": 128})))
    assert xl and xl.family is SDXL and xl.native == 1024 and xl.variant == ""
    lightning = fam.describe(
        str(
            models(
                "xl-4step",
                "StableDiffusionXLPipeline",
                {"sample_size": 128},
                scheduler={"timestep_spacing": "trailing"},
            )
        )
    )
    assert lightning and lightning.variant == "lightning" and lightning.default_guidance == 0.0
    sd3 = fam.describe(
        str(models("sd35", "StableDiffusion3Pipeline", {"sample_size": 128, "patch_size": 2}))
    )
    assert sd3 and sd3.family is SD3 and (sd3.native, sd3.multiple) == (1024, 16)
    assert sd3.max_sequence_length == 256 and sd3.family.dtype == "bfloat16"
    dev = fam.describe(str(models("fx", "FluxPipeline", {"guidance_embeds": True})))
    assert dev and dev.family is FLUX and dev.variant == "dev"
    assert (dev.native, dev.multiple, dev.max_sequence_length) == (1024, 16, 512)
    assert (dev.default_steps, dev.default_guidance) == (28, 3.5)
    schnell = fam.describe(str(models("fs", "FluxPipeline", {"guidance_embeds": False})))
    assert schnell and schnell.variant == "schnell"
    assert (schnell.default_steps, schnell.default_guidance) == (4, 0.0)
    assert schnell.max_sequence_length == 256
    other = fam.describe(str(models("pixart", "PixArtSigmaPipeline", {"sample_size": 128})))
    assert other and other.family.name == "plain" and other.native == 1024
    assert fam.describe("not-an-org/not-downloaded") is None


def test_weights_are_counted_from_safetensors_headers(models: Callable[..., Path]) -> None:
    folder = models(
        "sized",
        "StableDiffusionPipeline",
        tensors={"text_encoder": {"a": [10, 20], "b": [5]}, "big": {"w": [1000, 3]}},
    )
    info = fam.describe(str(folder))
    assert info is not None
    assert info.parameters == 10 * 20 + 5 + 3000 and info.largest_component == 3000


@pytest.mark.parametrize(
    ("rule", "steps", "strength", "real"),
    [
        ("truncate", 2, 0.3, 0),  # SD, SDXL: int(2 x 0.3)
        ("truncate", 4, 0.5, 2),
        ("truncate", 10, 0.3, 3),
        ("flow", 4, 0.3, 2),  # SD3, FLUX: 4 - int(4 - 1.2)
        ("flow", 1, 0.3, 1),  # runs the whole (one-step) schedule: pure noise
        ("flow", 4, 0.0, 0),
    ],
)
def test_image_to_image_steps_follow_each_familys_arithmetic(
    rule: fam.I2IRule, steps: int, strength: float, real: int
) -> None:
    assert fam.i2i_steps(rule, steps, strength) == real


def test_problems_name_the_values_that_work() -> None:
    assert fam.i2i_problem("truncate", 2, 0.3) == "denoise 0 steps"
    assert fam.i2i_allowed("truncate", 2, 0.3) == (
        "steps >= 4 at strength 0.3 or strength 0.5..1 at 2 steps"
    )
    assert "pure noise" in (fam.i2i_problem("flow", 1, 0.3) or "")
    assert fam.i2i_allowed("flow", 4, 0.9) == (
        "steps >= 10 at strength 0.9 or strength 0.01..0.75 at 4 steps"
    )
    assert fam.i2i_problem("flow", 4, 0.5) is None


@pytest.mark.parametrize(
    ("native", "multiple", "size"),
    [
        (512, 8, (144, 288)),  # a sprite, aspect 0.5
        (512, 8, (64, 160)),  # aspect 0.4: rounding each side to 64 made it 0.5
        (1024, 16, (1920, 1080)),  # a 1080p plate is painted at 1 MP and enlarged
        (1024, 8, (2496, 1404)),  # a plate with room for camera moves
        (1024, 16, (90, 300)),
        (128, 2, (144, 288)),
    ],
)
def test_paint_size_is_the_native_area_at_the_targets_aspect(
    native: int, multiple: int, size: tuple[int, int]
) -> None:
    pw, ph = fam.paint_size(native, multiple, size)
    assert pw % multiple == 0 and ph % multiple == 0
    assert abs((pw / ph) / (size[0] / size[1]) - 1) <= 0.02
    assert abs(pw * ph / native**2 - 1) <= 0.1


def test_dtype_by_device_and_family() -> None:
    assert fam.choose_dtype("cpu", FLUX, True) == "float32"
    assert fam.choose_dtype("cuda", FLUX, True) == "bfloat16"
    assert fam.choose_dtype("cuda", FLUX, False) == "float16"  # a GPU without bf16
    assert fam.choose_dtype("cuda", SDXL, True) == "float16"
    assert fam.choose_dtype("mps", SD3, False) == "float16"


def test_placement_follows_free_memory(models: Callable[..., Path]) -> None:
    folder = models(
        "flux-like",
        "FluxPipeline",
        {"guidance_embeds": False},
        tensors={"transformer": {"w": [6 * GIB]}, "text_encoder_2": {"w": [2 * GIB]}},
    )
    info = fam.describe(str(folder))
    assert info is not None and info.parameters == 8 * GIB
    work = fam.working_bytes(info)
    assert 3 * GIB < work < 6 * GIB  # about 1 MP of activations for FLUX

    def place(free_gib: float, request: str = "auto", device: str = "cuda") -> str:
        return fam.choose_placement(request, device, int(free_gib * GIB), info, 2)

    assert place(80) == "whole"  # 16 GiB of weights and room to paint
    assert place(20) == "model"  # the transformer (12 GiB) fits alone
    assert place(10) == "sequential"
    assert place(80, "sequential") == "sequential"  # model.offload overrides
    assert place(10, "none") == "whole"
    assert place(4, device="cpu") == "whole"


def test_device_class_needs_no_torch() -> None:
    assert fam.device_class("cpu") == "cpu"
    assert fam.device_class("cuda:1") == "cuda"
    assert fam.device_class("auto") in ("cpu", "cuda", "mps")


# --- checks at shot load ------------------------------------------------------------------
def _shot(model_dir: Path, extra: str) -> str:
    return (
        "version = 1\n[shot]\nduration = 1.0\nfps = 12\nsize = [96, 64]\n"
        f"[model]\nid = '{model_dir}'\n{extra}\n"
    )


def test_a_shot_that_would_denoise_zero_steps_exits_3_with_the_values_that_work(
    cli: Callable[..., object], write_shot: Callable[..., Path], models: Callable[..., Path]
) -> None:
    model_dir = models("sd-like", "StableDiffusionPipeline", {"sample_size": 64})
    shot = write_shot(_shot(model_dir, "steps = 2\nstrength = 0.3"), "zero.toml")
    r = cli("sketch", shot)
    assert r.exit_code == 3, r.output  # type: ignore[attr-defined]
    out = r.output  # type: ignore[attr-defined]
    assert "model.strength" in out and "denoise 0 steps" in out
    assert "steps >= 4 at strength 0.3 or strength 0.5..1 at 2 steps" in out
    assert "Traceback" not in out


def test_flux_refuses_pure_noise_and_negative_prompts(
    cli: Callable[..., object], write_shot: Callable[..., Path], models: Callable[..., Path]
) -> None:
    model_dir = models("flux-s", "FluxPipeline", {"guidance_embeds": False})
    shot = write_shot(_shot(model_dir, "steps = 1\nnegative = 'blurry'"), "noise.toml")
    r = cli("sketch", shot)
    out = r.output  # type: ignore[attr-defined]
    assert r.exit_code == 3, out  # type: ignore[attr-defined]
    assert "start from pure noise" in out and "steps >= 2 at strength 0.3" in out
    assert "model.negative" in out and "FLUX.1 schnell takes no negative prompt" in out


def test_defaults_are_raised_until_image_to_image_works(
    cli: Callable[..., object], write_shot: Callable[..., Path], models: Callable[..., Path]
) -> None:
    # sd-turbo's default of 2 steps at the default strength 0.3 would denoise nothing
    model_dir = models("sd-turbo", "StableDiffusionPipeline", {"sample_size": 96})
    info = fam.describe(str(model_dir))
    assert info is not None and info.i2i_default_steps(0.3) == 4
    shot = write_shot(_shot(model_dir, ""), "turbo.toml")
    r = cli("sketch", shot)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]


def test_known_families_load_with_their_own_classes_unknown_ones_through_auto(
    models: Callable[..., Path],
) -> None:
    from shotcraft.backends.diffusers_t2i import AUTO_PIPELINES, pipeline_classes

    for cls in ("StableDiffusionPipeline", "StableDiffusionXLPipeline", "FluxPipeline"):
        info = fam.describe(str(models(cls, cls)))
        assert info is not None and pipeline_classes(info) == (cls, info.family.i2i_pipeline)
    other = fam.describe(str(models("kandinsky", "KandinskyV22CombinedPipeline")))
    assert other is not None and pipeline_classes(other) == AUTO_PIPELINES
    assert pipeline_classes(None) == AUTO_PIPELINES  # a hub id not downloaded yet


def test_each_familys_classes_are_the_ones_diffusers_auto_pipelines_map_to() -> None:
    auto = pytest.importorskip("diffusers.pipelines.auto_pipeline")
    t2i = {c.__name__ for c in auto.AUTO_TEXT2IMAGE_PIPELINES_MAPPING.values()}
    i2i = {c.__name__: k for k, c in auto.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING.items()}
    for family in (SD, SDXL, SD3, FLUX):
        assert set(family.pipelines) <= t2i, family.name
        assert family.i2i_pipeline in i2i, family.name
