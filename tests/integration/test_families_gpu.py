"""On a CUDA machine only: each tiny family loads in its preferred dtype and paints, and the
placement follows the memory this process may use (skipped without a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotcraft.spec.model import Background, ModelSpec

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.diffusion,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def gpu_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.tiny_model import (
        build_tiny_flux,
        build_tiny_pipeline,
        build_tiny_sd3,
        build_tiny_sdxl,
    )

    root = tmp_path_factory.mktemp("gpu-families")
    return {
        "sd": build_tiny_pipeline(root),
        "sdxl": build_tiny_sdxl(root),
        "sd3": build_tiny_sd3(root),
        "flux": build_tiny_flux(root),
    }


@pytest.mark.parametrize(
    ("family", "dtype"),
    [("sd", "float16"), ("sdxl", "float16"), ("sd3", "bfloat16"), ("flux", "bfloat16")],
)
def test_each_family_paints_on_the_gpu_in_its_dtype(
    family: str, dtype: str, gpu_models: dict[str, Path]
) -> None:
    from shotcraft.backends.diffusers_t2i import DiffusersBackend

    b = DiffusersBackend(ModelSpec(id=str(gpu_models[family]), steps=2, strength=0.5), "cuda")
    want = dtype if torch.cuda.is_bf16_supported() else "float16"
    assert b.dtype_name == want
    plate = b.plate(Background(prompt="misty pine forest"), (320, 180))
    assert plate.size == (320, 180)
    assert str(b.pipe.dtype) == f"torch.{want}"
    assert b.placement == "whole" and b.denoiser_calls == 2


def test_placement_follows_a_capped_memory_budget(gpu_models: dict[str, Path]) -> None:
    from shotcraft.backends import families
    from shotcraft.backends.diffusers_t2i import cuda_free_bytes

    info = families.describe(str(gpu_models["sd3"]))
    assert info is not None
    free = cuda_free_bytes("cuda")
    assert families.choose_placement("auto", "cuda", free, info, 2) == "whole"
    total = torch.cuda.get_device_properties(0).total_memory
    try:
        # leave room for the working estimate but not for every weight at once
        room = families.working_bytes(info) + info.largest_component * 2 + 1024
        torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_reserved() + room) / total)
        capped = cuda_free_bytes("cuda")
        assert capped < free
        assert families.choose_placement("auto", "cuda", capped, info, 2) == "model"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
