"""sketch -> refine -> render on real files, checked on decoded pixels and written artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shotcraft.media.probe import frames, probe


def green_centroid_x(frame: np.ndarray) -> float:
    f = frame.astype(int)
    mask = (f[..., 1] - np.maximum(f[..., 0], f[..., 2])) > 50
    assert mask.sum() > 20, "subject not found in the frame"
    return float(np.nonzero(mask)[1].mean()) + 0.5  # pixel centres


def test_subject_is_where_its_keys_say_in_first_and_last_frames(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path
) -> None:
    shot = simple_shot(0.2, 0.8)
    r = cli("render", shot)
    assert r.exit_code == 0, r.output
    clip = project / "dot" / "clip.mp4"
    info = probe(clip)
    assert info.frames == 12 and info.size == (160, 96)
    decoded = list(frames(clip))
    assert len(decoded) == 12
    w = 160
    # keys: x=0.2 at t=0 and x=0.8 at t=1.0; the last frame (t=11/12) is 11/12 of the way
    assert green_centroid_x(decoded[0]) == pytest.approx(0.2 * w, abs=2)
    assert green_centroid_x(decoded[-1]) == pytest.approx((0.2 + 0.6 * 11 / 12) * w, abs=2)


def test_subject_reaches_its_last_key_on_the_last_frame(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    from tests.conftest import SIMPLE_SHOT

    text = SIMPLE_SHOT.format(x0=0.2, x1=0.8).replace("t = 1.0, at", "t = 0.9166666667, at")
    r = cli("render", write_shot(text, "dot.toml"))
    assert r.exit_code == 0, r.output
    decoded = list(frames(project / "dot" / "clip.mp4"))
    assert green_centroid_x(decoded[0]) == pytest.approx(0.2 * 160, abs=2)
    assert green_centroid_x(decoded[-1]) == pytest.approx(0.8 * 160, abs=2)


def test_stages_write_their_artifacts(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path
) -> None:
    shot = simple_shot()
    assert cli("sketch", shot).exit_code == 0
    folder = project / "dot"
    layout = json.loads((folder / "layout.json").read_text())
    assert layout["schema"] == "shotcraft.layout/1"
    assert layout["subjects"][0]["keys"][0] == {"t": 0.0, "x": 0.2, "y": 0.65}
    assert layout["estimate"]["frames"] == 12
    assert (folder / "storyboard.png").stat().st_size > 1000
    assert not (folder / "motion.json").exists()  # sketch does only sketch

    assert cli("refine", shot).exit_code == 0
    motion = json.loads((folder / "motion.json").read_text())
    assert motion["schema"] == "shotcraft.motion/1" and motion["frames"] == 12
    assert len(motion["subjects"][0]["frames"]) == 12
    assert probe(folder / "animatic.mp4").frames == 12

    assert cli("render", shot).exit_code == 0
    report = json.loads((folder / "render.json").read_text())
    assert report["frames"] == 12 and report["estimate_seconds"] > 0
    assert report["cache"]["plate"]["hit"] is False
    dep = (folder / "clip.d").read_text()
    assert str(shot.resolve()) in dep and "preview.toml" in dep
    assert not list(folder.glob(".*part*"))  # no temporary files left behind


def test_second_render_does_nothing_and_says_so(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path
) -> None:
    shot = simple_shot()
    assert cli("render", shot).exit_code == 0
    clip = project / "dot" / "clip.mp4"
    before = clip.stat().st_mtime_ns
    r = cli("render", shot)
    assert r.exit_code == 0
    assert "up to date" in r.output
    assert clip.stat().st_mtime_ns == before


def test_upstream_runs_when_stale_and_force_redoes(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path
) -> None:
    shot = simple_shot()
    cli("render", shot)
    (project / "dot" / "motion.json").unlink()
    r = cli("render", shot)
    assert (project / "dot" / "motion.json").exists()  # refine ran again
    assert "up to date" in r.output  # the clip's inputs did not change
    r = cli("render", "--force", shot)
    assert "render done" in r.output


def test_changing_keys_rerenders_with_cached_layers(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path
) -> None:
    cli("render", simple_shot(0.2, 0.8))
    r = cli("render", "--json", simple_shot(0.3, 0.7))
    assert r.exit_code == 0
    summary = json.loads(r.output)
    assert summary["ran"] is True
    report = json.loads((project / "dot" / "render.json").read_text())
    assert report["cache"]["plate"]["hit"] is True
    assert all(s["hit"] for s in report["cache"]["sprites"].values())
    assert "plate" in report["reused"]


def test_two_shots_share_one_plate(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path, cache_dir: Path
) -> None:
    a, b = simple_shot(0.2, 0.8, "a.toml"), simple_shot(0.7, 0.3, "b.toml")
    assert cli("render", a, b).exit_code == 0
    ra = json.loads((project / "a" / "render.json").read_text())
    rb = json.loads((project / "b" / "render.json").read_text())
    assert ra["cache"]["plate"]["key"] == rb["cache"]["plate"]["key"]
    assert rb["cache"]["plate"]["hit"] is True
    r = cli("cache", "ls", "--json")
    kinds = [e["kind"] for e in json.loads(r.output)]
    assert kinds.count("plate") == 1


def test_budget_below_estimate_exits_6_having_made_nothing(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path, cache_dir: Path
) -> None:
    r = cli("render", "--budget", "0.001", simple_shot())
    assert r.exit_code == 6
    assert "over the budget" in r.output
    assert not (project / "dot").exists()
    assert not (cache_dir / "objects").exists()


def test_interrupted_render_leaves_nothing_half_written(
    simple_shot: Callable[..., Path], tmp_path: Path, cache_dir: Path
) -> None:
    long_shot = simple_shot().read_text().replace("duration = 1.0", "duration = 60.0")
    long_shot = long_shot.replace("size = [160, 96]", "size = [640, 360]")
    shot = tmp_path / "long.toml"
    shot.write_text(long_shot.replace("t = 1.0", "t = 60.0"))
    project = tmp_path / "p"
    cmd = [
        sys.executable,
        "-m",
        "shotcraft",
        "render",
        str(shot),
        "--project",
        str(project),
        "--cache",
        str(cache_dir),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until frames are being encoded
        if "long: render:" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    folder = project / "long"
    assert not (folder / "clip.mp4").exists()
    assert not list(folder.glob(".*part*"))
    from shotcraft.cache import Cache

    assert Cache(cache_dir).verify().corrupt == ()
    # and a killed process: no final file either; the next run completes
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "long: render:" in line:
            break
    proc.kill()
    proc.wait()
    assert not (folder / "clip.mp4").exists()
    short = shot.read_text().replace("duration = 60.0", "duration = 2.0")
    shot.write_text(short.replace("t = 60.0", "t = 2.0"))
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert probe(folder / "clip.mp4").frames == 24
    assert Cache(cache_dir).verify().corrupt == ()
    assert time.time() - t0 < 60


def test_asset_deleted_since_sketch_is_a_missing_input(
    cli: Callable[..., object], write_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    from PIL import Image

    sprite = tmp_path / "shots" / "lantern.png"
    sprite.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (10, 20), (255, 200, 0, 255)).save(sprite)
    shot = write_shot("version = 1\n[[subjects]]\nid = 'l'\nimage = 'lantern.png'\n", "l.toml")
    assert cli("sketch", shot).exit_code == 0
    sprite.unlink()
    r = cli("render", shot)
    assert r.exit_code == 7
    assert "lantern.png" in r.output and "was there when 'l' was sketched" in r.output
    # never sketched: the same file is simply invalid
    other = write_shot("version = 1\n[[subjects]]\nid = 'l'\nimage = 'lantern.png'\n", "m.toml")
    assert cli("render", other).exit_code == 3
    assert (project / "l" / "layout.json").is_file()  # earlier results intact
