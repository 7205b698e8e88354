"""Each image model family through the real loading code, with tiny random models: a spy on the
pipeline call records what every family receives (size, dtype, steps, guidance, negative
prompt, sequence length), and the denoiser hook counts what image-to-image really runs."""

from __future__ import annotations

import functools
import gc
import json
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shotcraft.spec.model import Background, ModelSpec

pytestmark = pytest.mark.diffusion


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict[str, Path]:
    """One tiny pipeline per family, saved with safetensors (built once per session)."""
    from tests.tiny_model import build_tiny_flux, build_tiny_sd3, build_tiny_sdxl

    root = tmp_path_factory.mktemp("families")
    return {
        "sd": tiny_model,
        "sdxl": build_tiny_sdxl(root),
        "sd3": build_tiny_sd3(root),
        "flux": build_tiny_flux(root),
    }


def _backend(path: Path, **model: Any) -> Any:
    from shotcraft.backends import get_backend

    return get_backend(ModelSpec(id=str(path), **model), "cpu")


Spy = Callable[[Any], list[dict[str, Any]]]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Record every call of a pipeline's class (keyword arguments and its dtype), then run it."""

    def install(pipe: Any, fake: Callable[[dict[str, Any]], Any] | None = None) -> list[dict]:
        calls: list[dict[str, Any]] = []
        original = type(pipe).__call__

        @functools.wraps(original)
        def record(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append({**kwargs, "_dtype": self.dtype})
            return fake(kwargs) if fake else original(self, *args, **kwargs)

        monkeypatch.setattr(type(pipe), "__call__", record)
        return calls

    return install


def _blank(kwargs: dict[str, Any]) -> Any:
    """What a pipeline returns, without running one."""
    from types import SimpleNamespace

    size = (kwargs.get("width") or 64, kwargs.get("height") or 64)
    return SimpleNamespace(images=[Image.new("RGB", size, (90, 90, 90))])


SEQUENCE = {"sd": None, "sdxl": None, "sd3": 256, "flux": 256}  # flux: schnell's length
FAMILIES = ["sd", "sdxl", "sd3", "flux"]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_painted_at_its_native_area_with_its_own_arguments(
    family: str, family_models: dict[str, Path], spy: Spy, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    b = _backend(family_models[family], steps=2, guidance=3.0, negative="blurry", strength=0.5)
    info = b.info
    assert info.family.name == family
    calls = spy(b.pipe)
    plate = b.plate(Background(prompt="misty pine forest"), (1920, 1080))
    assert plate.size == (1920, 1080)  # painted near native, then enlarged
    (call,) = calls
    w, h = call["width"], call["height"]
    assert w % info.multiple == 0 and h % info.multiple == 0
    assert abs(w * h / info.native**2 - 1) <= 0.1
    assert abs((w / h) / (1920 / 1080) - 1) <= 0.02
    assert call["_dtype"] == torch.float32  # on the CPU
    assert call["num_inference_steps"] == 2 and call["guidance_scale"] == 3.0
    # FLUX is guidance-distilled: a negative prompt would be ignored, so it is not passed
    assert ("negative_prompt" in call) == (family != "flux")
    assert ("takes no negative prompt" in caplog.text) == (family == "flux")
    assert call.get("max_sequence_length") == SEQUENCE[family]
    assert b.denoiser_calls == 2

    i2i = spy(b.img2img)
    before = b.denoiser_calls
    out = b.image_to_image(Image.new("RGB", (w, h), (120, 90, 60)), "a film still", 1)
    assert out.size == (w, h)
    (call,) = i2i
    assert call["strength"] == 0.5 and call["num_inference_steps"] == 2
    real = b.denoiser_calls - before
    assert real == b.steps("i2i") >= 1  # counted by the hook, as the estimate counts


@pytest.mark.parametrize(
    ("family", "steps", "guidance"),
    [("sd", 25, 7.5), ("sdxl", 30, 5.0), ("sd3", 28, 7.0), ("flux", 4, 0.0)],
)
def test_a_shot_without_steps_gets_the_familys_defaults(
    family: str, steps: int, guidance: float, family_models: dict[str, Path], spy: Spy
) -> None:
    b = _backend(family_models[family])
    calls = spy(b.pipe, fake=_blank)
    b.text_to_image("a red fox", b.paint_size((144, 288)), 3)
    (call,) = calls
    assert (call["num_inference_steps"], call["guidance_scale"]) == (steps, guidance)
    assert b.steps("t2i") == steps
    assert abs(call["width"] / call["height"] - 0.5) <= 0.01


def test_cache_keys_carry_the_device_class_and_dtype(family_models: dict[str, Path]) -> None:
    from shotcraft.backends import get_backend

    bg = Background(prompt="misty pine forest")
    model = ModelSpec(id=str(family_models["flux"]), steps=2)
    cpu = get_backend(model, "cpu").plate_spec(bg, (320, 180))  # type: ignore[union-attr]
    gpu = get_backend(model, "cuda").plate_spec(bg, (320, 180))  # type: ignore[union-attr]
    assert (cpu["device"], cpu["dtype"]) == ("cpu", "float32")
    assert gpu["device"] == "cuda" and gpu["dtype"] in ("bfloat16", "float16")
    assert {k: v for k, v in cpu.items() if k not in ("device", "dtype")} == {
        k: v for k, v in gpu.items() if k not in ("device", "dtype")
    }


def test_a_loaded_model_is_freed_with_its_backend(family_models: dict[str, Path]) -> None:
    b = _backend(family_models["sd"], steps=2)
    pipe = weakref.ref(b.pipe)
    b.img2img  # noqa: B018 (shares the components: from_pipe)
    assert b.img2img.unet is b.pipe.unet
    backend = weakref.ref(b)
    del b
    gc.collect()
    assert backend() is None and pipe() is None  # the step hook holds the backend weakly


def test_a_matting_model_cuts_sprites_out_instead_of_the_key(
    family_models: dict[str, Path], spy: Spy, tmp_path: Path
) -> None:
    import numpy as np
    from transformers import pipeline

    from shotcraft.layout.planner import SubjectLayout
    from shotcraft.spec.model import Subject
    from tests.tiny_model import build_tiny_segmenter

    segmenter = build_tiny_segmenter(tmp_path)
    b = _backend(family_models["sd"], steps=2, matting=str(segmenter))
    spy(b.pipe, fake=_blank)  # a flat grey "painting": the key would find no subject
    sl = SubjectLayout("fox", "box", 0.5, 0.3, 0.2, 0.5, True, False, "hint", ())
    sprite = b.sprite(Subject(id="fox", prompt="a red fox"), sl, 90)
    assert sprite.mode == "RGBA" and sprite.size == (45, 90)
    painted = Image.new("RGB", b.paint_size((45, 90)), (90, 90, 90))
    want = np.zeros(painted.size[::-1], np.uint8)
    for seg in pipeline("image-segmentation", model=str(segmenter))(painted):
        if seg["label"] != "background":
            want = np.maximum(want, np.asarray(seg["mask"].convert("L")))
    assert (np.asarray(b._matte(painted))[..., 3] == want).all()
    # masks labelled background are left out, the others united
    half = Image.fromarray(np.tile((np.arange(60) < 30).astype(np.uint8) * 255, (40, 1)))
    b._matting = lambda img: [
        {"label": "background", "mask": Image.new("L", (60, 40), 255)},
        {"label": "fox", "mask": half},
    ]
    alpha = np.asarray(b._matte(Image.new("RGB", (60, 40))))[..., 3]
    assert (alpha[:, :30] == 255).all() and (alpha[:, 30:] == 0).all()


MODEL_SHOT = """\
version = 1
[shot]
duration = 0.5
fps = 8
size = [96, 64]
[model]
id = "{model}"
steps = 2
strength = 0.5
[background]
prompt = "misty pine forest"
"""


@pytest.fixture
def sd_shot(write_shot: Callable[..., Path], family_models: dict[str, Path]) -> Path:
    return write_shot(MODEL_SHOT.format(model=family_models["sd"]), "sd.toml")


def test_a_safety_checker_hit_is_reported_and_not_cached(
    cli: Callable[..., Any], sd_shot: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from diffusers import StableDiffusionPipeline

    def flagged(self: Any, **kwargs: Any) -> Any:
        black = Image.new("RGB", (kwargs["width"], kwargs["height"]))
        return SimpleNamespace(images=[black], nsfw_content_detected=[True])

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", flagged)
    r = cli("render", sd_shot)
    assert r.exit_code == 5 and "safety checker" in r.output, r.output
    objects = cache_dir / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_out_of_memory_is_one_line_naming_the_setting(
    cli: Callable[..., Any], sd_shot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    def oom(self: Any, **kwargs: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", oom)
    r = cli("render", sd_shot)
    assert r.exit_code == 5, r.output
    assert "ran out of GPU memory" in r.output and 'model.offload = "model"' in r.output
    assert "Traceback" not in r.output


def test_a_hub_id_not_downloaded_says_how_to_fetch_it(
    cli: Callable[..., Any], write_shot: Callable[..., Path]
) -> None:
    shot = write_shot(MODEL_SHOT.format(model="nobody-here/no-such-model"), "hub.toml")
    r = cli("render", shot)
    assert r.exit_code == 4, r.output
    assert "not downloaded" in r.output and "--download" in r.output


def test_a_render_with_a_model_shows_no_library_output(
    sd_shot: Path, project: Path, cache_dir: Path
) -> None:
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for noisy in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS"):
        env.pop(noisy, None)  # the test runner's settings must not hide what a user would see
    args = ["render", str(sd_shot), "--project", str(project), "--cache", str(cache_dir)]
    out = subprocess.run(
        [sys.executable, "-m", "shotcraft", *args, "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    report = json.loads((project / "sd" / "render.json").read_text())
    assert report["denoiser_calls"] > 0  # the model did paint
