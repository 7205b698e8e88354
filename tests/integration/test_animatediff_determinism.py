"""AnimateDiff frames depend on a chunk's inputs alone, not on what the process did before."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shotcraft.media.probe import frames
from shotcraft.stages.common import Settings, load_context
from shotcraft.stages.pipeline import Pipeline

pytestmark = pytest.mark.diffusion


def _shot_text(model: Path, adapter: Path) -> str:
    """The AnimateDiff shot the executor tests render (24 frames in two chunks)."""
    from tests.integration.test_executors import MODEL_SHOT

    text = MODEL_SHOT.format(model=model, sid="ad")
    return text.replace("strength = 0.5", f"strength = 0.5\nmotion_adapter = '{adapter}'")


def _objects(cache: Path) -> dict[str, bytes]:
    """Every cached object (plate, sprite, chunk strips) by key, without its metadata."""
    return {
        p.name: p.read_bytes()
        for p in (cache / "objects").rglob("*")
        if p.is_file() and p.suffix == ""
    }


def test_two_renders_in_one_process_from_fresh_caches_paint_the_same_frames(
    write_shot: Callable[..., Path],
    tiny_model: Path,
    tiny_adapter: Path,
    tmp_path: Path,
    calibration: Path,
) -> None:
    shot = write_shot(_shot_text(tiny_model, tiny_adapter), "ad.toml")
    seen = []
    for n in range(2):
        cache = tmp_path / f"cache{n}"
        cache.mkdir()
        shutil.copy(calibration, cache / calibration.name)
        s = Settings(project=tmp_path / f"p{n}", cache_dir=cache, device="cpu")
        Pipeline(load_context(shot, s), s).render()
        clip = [
            hashlib.sha256(f.tobytes()).hexdigest() for f in frames(s.project / "ad" / "clip.mp4")
        ]
        seen.append((_objects(cache), clip))
    (first, clip1), (second, clip2) = seen
    assert len(clip1) == 24
    # the same cache keys, the same bytes under each: layers and chunks alike
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert clip1 == clip2


def test_the_motion_unet_runs_in_eval_mode(tiny_model: Path, tiny_adapter: Path) -> None:
    """diffusers builds AnimateDiff's UNet from a config (training mode); it is put in eval
    mode, like the image model's, so no training-only layer draws on the global RNG."""
    from shotcraft.backends.diffusers_t2i import DiffusersBackend
    from shotcraft.spec.model import ModelSpec

    spec = ModelSpec(id=str(tiny_model), steps=2, strength=0.5, motion_adapter=str(tiny_adapter))
    unet = DiffusersBackend(spec, "cpu").video_pipe.unet
    assert not any(m.training for m in unet.modules())
