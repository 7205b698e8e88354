"""Shared fixtures: a project folder, a cache with calibrated rates, shot files, the CLI."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Calibrate once per test session; every test's cache starts with a copy."""
    from shotcraft import cost

    root = tmp_path_factory.mktemp("calibration")
    cost.calibrate(root, ("veryfast", "ultrafast", "medium"))
    return root / cost.CALIBRATION_FILE


@pytest.fixture
def cache_dir(tmp_path: Path, calibration: Path) -> Path:
    d = tmp_path / "cache"
    d.mkdir()
    shutil.copy(calibration, d / calibration.name)
    return d


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path / "build"


@pytest.fixture
def write_shot(tmp_path: Path) -> Callable[..., Path]:
    """Write a shot file from TOML text (dedented) and return its path."""

    def write(text: str, name: str = "shot.toml") -> Path:
        p = tmp_path / "shots" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
        return p

    return write


@pytest.fixture
def cli(project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run `shotcraft ARGS` in-process with this test's project and cache."""
    from shotcraft.cli.app import app

    runner = CliRunner()
    monkeypatch.setenv("SHOTCRAFT_CACHE", str(cache_dir))
    monkeypatch.setenv("SHOTCRAFT_PROJECT", str(project))

    def run(*args: str | Path) -> object:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


SIMPLE_SHOT = """\
version = 1
[shot]
duration = 1.0
fps = 12
size = [160, 96]
seed = 3

[background]
style = "solid"
colors = ["#202020"]

[[subjects]]
id = "dot"
shape = "box"
color = "#00c000"
place = "middle"
height = 0.3
keys = [ {{ t = 0.0, at = [{x0}, 0.65] }}, {{ t = 1.0, at = [{x1}, 0.65], ease = "linear" }} ]
"""


@pytest.fixture
def simple_shot(write_shot: Callable[..., Path]) -> Callable[..., Path]:
    def make(x0: float = 0.2, x1: float = 0.8, name: str = "dot.toml") -> Path:
        return write_shot(SIMPLE_SHOT.format(x0=x0, x1=x1), name)

    return make


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random diffusers pipeline on disk (built once per session, no network)."""
    pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # cores are shared: more threads only contend
    from tests.tiny_model import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    from tests.tiny_model import build_tiny_motion_adapter

    return build_tiny_motion_adapter(tmp_path_factory.mktemp("adapters"))


@pytest.fixture(scope="session")
def video_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny pipelines on disk, built once per session (under 1 MB each)."""
    pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from tests.tiny_video_models import (
        build_tiny_cogvideox_v2v,
        build_tiny_ltx_condition,
        build_tiny_wan_vace,
    )

    folder = tmp_path_factory.mktemp("video-models")
    return {
        "wan": build_tiny_wan_vace(folder),
        "ltx": build_tiny_ltx_condition(folder),
        "cog": build_tiny_cogvideox_v2v(folder),
    }


@pytest.fixture(params=["native", "numpy"])
def kernel_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the native kernels (skipped where they are not built), then with
    the numpy code they stand in for."""
    from shotcraft.draw import kernels

    if request.param == "native" and not kernels.NATIVE:
        pytest.skip("the native kernels are not built")
    if request.param == "numpy":
        monkeypatch.setattr(kernels, "_native", None)
    return str(request.param)
