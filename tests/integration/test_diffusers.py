"""The diffusers backend with a tiny random model: the real loading and pipeline code,
counted in denoiser calls (what render.json reports, from a hook on the denoiser)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shotcraft.media.probe import probe

pytestmark = pytest.mark.diffusion

SHOT = """\
version = 1
[shot]
duration = 2.0
fps = 12
size = [96, 64]
seed = 4
preset = "{preset}"
[model]
id = "{model}"
steps = 4
strength = 0.5
every = {every}
[background]
prompt = "misty pine forest at dawn"
[[subjects]]
id = "fox"
prompt = "a red fox"
place = "left, ground"
keys = [ {{ t = 0.0, at = [0.2, 0.9] }}, {{ t = 1.0, at = [0.5, 0.9], ease = "linear" }},
         {{ t = 2.0, at = [{x_end}, 0.9], ease = "linear" }} ]
"""


@pytest.fixture
def model_shot(write_shot: Callable[..., Path], tiny_model: Path) -> Callable[..., Path]:
    def make(
        name: str = "fox.toml",
        preset: str = "preview",
        every: int | str = 4,
        x_end: float = 0.8,
    ) -> Path:
        return write_shot(
            SHOT.format(model=tiny_model, preset=preset, every=every, x_end=x_end), name
        )

    return make


def _report(project: Path, sid: str) -> dict:
    return json.loads((project / sid / "render.json").read_text())


def test_paints_plate_and_sprite_once_and_reuses_them(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path
) -> None:
    r = cli("render", model_shot("a.toml"))
    assert r.exit_code == 0, r.output
    first = _report(project, "a")
    assert first["backend"]["name"] == "diffusers"
    assert first["denoiser_calls"] == 4 + 4  # plate and one sprite, 4 steps each
    assert first["cache"]["plate"]["hit"] is False
    info = probe(project / "a" / "clip.mp4")
    assert info.frames == 24 and info.size == (96, 64)

    # a second shot with the same background makes no plate (and here, no sprite either)
    assert cli("render", model_shot("b.toml")).exit_code == 0
    second = _report(project, "b")
    assert second["cache"]["plate"]["hit"] is True
    assert second["denoiser_calls"] == 0

    # an unchanged re-render makes none
    r = cli("render", model_shot("a.toml"))
    assert "up to date" in r.output
    assert cli("render", "--force", model_shot("a.toml")).exit_code == 0
    assert _report(project, "a")["denoiser_calls"] == 0


def test_harmonize_every_4th_frame_costs_a_quarter(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path, tmp_path: Path
) -> None:
    calls = {}
    for every in (1, 4):
        shot = model_shot(f"h{every}.toml", preset="final", every=every)
        cache = tmp_path / f"cache-{every}"
        r = cli("render", shot, "--cache", cache)
        assert r.exit_code == 0, r.output
        rep = _report(project, f"h{every}")
        calls[every] = rep["denoiser_calls"] - 8  # less the plate and sprite
        assert rep["harmonize"]["key_frames"] == 24 // every
        assert probe(project / f"h{every}" / "clip.mp4").frames == 24
        assert 0.0 <= rep["coherence"]["temporal_flicker"] <= 1.0
        assert rep["coherence"]["warping_error"] >= 0.0
    assert calls[1] == 24 * 2  # 4 steps at strength 0.5: 2 evaluations a frame
    assert calls[4] * 4 == calls[1]


def test_auto_key_frames_repaint_once_a_second_and_the_estimate_knows(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path
) -> None:
    # the default: the fox walks at an even pace, no camera move, no fades: a key a second
    shot = model_shot("auto.toml", preset="final", every='"auto"')
    r = cli("render", shot)
    assert r.exit_code == 0, r.output
    rep = _report(project, "auto")
    assert rep["harmonize"]["every"] == "auto"
    assert rep["harmonize"]["repainted"] == [0, 12]  # 2 s at 12 fps
    assert rep["denoiser_calls"] == 8 + 2 * 2  # plate and sprite, then 2 keys of 2 steps
    assert rep["estimate"]["denoiser_calls"] == rep["denoiser_calls"]
    assert probe(project / "auto" / "clip.mp4").frames == 24


def test_changing_the_second_half_repaints_only_the_second_half(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path
) -> None:
    shot = model_shot("half.toml", preset="final", every=4, x_end=0.8)
    assert cli("render", shot).exit_code == 0
    assert len(_report(project, "half")["harmonize"]["repainted"]) == 6
    shot.write_text(shot.read_text().replace("at = [0.8, 0.9]", "at = [0.7, 0.6]"))
    assert cli("render", shot).exit_code == 0
    rep = _report(project, "half")
    repainted = rep["harmonize"]["repainted"]
    assert repainted and all(i >= 12 for i in repainted)  # t >= 1.0 s: the changed half
    assert rep["harmonize"]["from_cache"] >= 3
    assert rep["denoiser_calls"] == len(repainted) * 2


def test_budget_below_the_estimate_exits_6_having_made_nothing(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path, cache_dir: Path
) -> None:
    shot = model_shot("b6.toml", preset="final", every=1)
    data = json.loads(cli("sketch", "--json", shot).stdout)
    est = data["estimate"]
    assert est["denoiser_calls"] == 8 + 24 * 2
    r = cli("render", "--budget", str(est["seconds"] / 10), shot)
    assert r.exit_code == 6 and "over the budget" in r.output
    assert not (project / "b6" / "clip.mp4").exists()
    assert not (cache_dir / "objects").exists()


def test_estimate_and_actual_are_side_by_side(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path
) -> None:
    assert cli("render", model_shot("e.toml", preset="final")).exit_code == 0
    rep = _report(project, "e")
    assert rep["estimate_seconds"] > 0 and rep["actual_seconds"] > 0
    assert rep["estimate"]["denoiser_calls"] == rep["denoiser_calls"]


def test_a_model_that_cannot_be_loaded_exits_4(
    cli: Callable[..., object], write_shot: Callable[..., Path], tmp_path: Path
) -> None:
    shot = write_shot(f"version = 1\n[model]\nid = '{tmp_path / 'no-such-model'}'\n", "m.toml")
    r = cli("render", shot)
    assert r.exit_code == 4
    assert "could not be loaded" in r.output and "Traceback" not in r.output


def test_video_pass_runs_animatediff_over_cached_chunks(
    cli: Callable[..., object], model_shot: Callable[..., Path], project: Path, tiny_adapter: Path
) -> None:
    shot = model_shot("v.toml")
    shot.write_text(
        shot.read_text().replace("every = 4", f"every = 4\nmotion_adapter = '{tiny_adapter}'")
    )
    r = cli("render", shot)
    assert r.exit_code == 0, r.output
    rep = _report(project, "v")
    vp = rep["video_pass"]
    # 24 frames in chunks of 16 sharing 8 (the last chunk ends on the last frame)
    assert (vp["family"], vp["chunks"], vp["repainted"]) == ("animatediff", 2, 2)
    assert rep["denoiser_calls"] == 8 + 2 * 2  # layers, then 2 chunks x 2 steps
    assert vp["denoiser_calls"] == 2 * 2  # counted once, by the image model's hook
    assert rep["estimate"]["denoiser_calls"] == 8 + 2 * 2
    assert probe(project / "v" / "clip.mp4").frames == 24
    assert cli("render", "--force", shot).exit_code == 0
    rep = _report(project, "v")
    assert rep["denoiser_calls"] == 0 and rep["video_pass"]["repainted"] == 0
    assert rep["video_pass"]["chunks_reused"] == 2


def test_storyboard_stills_painted_when_the_preset_asks(
    cli: Callable[..., object],
    model_shot: Callable[..., Path],
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "sketchy.toml").write_text("version = 1\nstoryboard_steps = 1\n")
    shot = model_shot("sb.toml", preset="sketchy")
    r = cli("sketch", shot)
    assert r.exit_code == 0, r.output
    assert (project / "sb" / "storyboard.png").is_file()
    entries = json.loads(cli("cache", "ls", "--json").stdout)
    painted = [e for e in entries if e["kind"] == "plate" and "diffusers" in e["producer"]]
    assert len(painted) == 1  # a small plate painted with 1 step, kept in the cache


def test_calibrate_measures_the_model(cli: Callable[..., object], tiny_model: Path) -> None:
    r = cli("calibrate", "--model", tiny_model, "--device", "cpu", "--sizes", "64x64,96x64,128x96")
    assert "calibration took" in r.output
    r = cli("calibrate", "--show", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    (rates,) = [v for k, v in data["models"].items() if k.startswith("local:")]
    # timed at three sizes, each part against size; the machine and libraries in the key
    assert len(rates["points"]["step"]) == 3 and all(y > 0 for _, y in rates["points"]["step"])
    assert rates["device"] == "cpu" and rates["dtype"] == "float32" and rates["calibration_s"] > 0


def test_sketch_and_status_of_a_model_shot_never_import_torch(
    model_shot: Callable[..., Path], tmp_path: Path
) -> None:
    import subprocess
    import sys

    shot = model_shot("nt.toml", preset="final")
    code = (
        "import sys\n"
        "from shotcraft.cli.app import app\n"
        "for args in (['sketch'], ['status']):\n"
        "    try:\n"
        f"        app(args + [{str(shot)!r}, '--project', {str(tmp_path / 'p')!r},"
        f" '--cache', {str(tmp_path / 'c')!r}])\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        "print('torch' in sys.modules, 'diffusers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False False"
    assert "calibrate --model" in out.stdout  # the estimate says what it leaves out


LOAD = """
import json, sys
from shotcraft.backends.diffusers_t2i import DiffusersBackend
from shotcraft.spec.model import ModelSpec
b = DiffusersBackend(ModelSpec(id=sys.argv[1]), device="cpu")
b.load()
i2i = type(b.img2img).__name__
print(json.dumps({
    "imports": b.imports,
    "not_imported": [k for k in b.import_keys if k not in sys.modules],
    "auto": "diffusers.pipelines.auto_pipeline" in sys.modules,
    "t2i": type(b.pipe).__name__,
    "i2i": i2i,
}))
"""


def test_a_known_family_loads_with_its_own_classes_and_times_what_it_imports(
    tiny_model: Path,
) -> None:
    # a fresh process: what a user's render imports, not what this test run already has
    r = subprocess.run(
        [sys.executable, "-c", LOAD, str(tiny_model)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert (got["t2i"], got["i2i"]) == ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")
    assert got["auto"] is False  # diffusers' auto pipelines (every pipeline class) never imported
    # every import timed is one a process that has made it finds in sys.modules
    assert got["not_imported"] == []
    assert {"torch", "diffusers.utils.logging"} <= set(got["imports"])
    assert any(k.endswith("pipeline_stable_diffusion") for k in got["imports"]), got["imports"]
