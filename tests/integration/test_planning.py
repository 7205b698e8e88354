"""sketch and refine as planning stages: variants, picks, controls, framing checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from shotcraft.media.probe import probe

THREE = """\
version = 1
[shot]
duration = 1.0
fps = 12
size = [320, 180]
seed = 9
[background]
colors = ["#203040", "#d09060"]
[[subjects]]
id = "a"
place = "left, ground"
[[subjects]]
id = "b"
place = "center, ground, small"
motion = "walk"
keys = [ { t = 0.0 }, { t = 1.0, at = [0.3, 0.85] } ]
[[subjects]]
id = "c"
place = "right, sky"
"""


def test_variants_pick_and_staleness(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    shot = write_shot(THREE, "three.toml")
    r = cli("sketch", "--variants", "3", shot)
    assert r.exit_code == 0, r.output
    folder = project / "three"
    layouts = [
        json.loads((folder / "variants" / str(k) / "layout.json").read_text()) for k in (1, 2, 3)
    ]
    assert [lay["variant"] for lay in layouts] == [1, 2, 3]
    xs = {tuple(s["keys"][0]["x"] for s in lay["subjects"]) for lay in layouts}
    assert len(xs) == 3  # the variants differ
    sheet = Image.open(folder / "variants" / "sheet.png")
    assert sheet.height > sheet.width / 2  # three storyboards stacked

    assert cli("render", shot).exit_code == 0
    base_motion = json.loads((folder / "motion.json").read_text())
    r = cli("refine", "--pick", "2", shot)
    assert r.exit_code == 0 and "refine done" in r.output
    state = json.loads((folder / "state.json").read_text())
    assert state["pick"] == 2
    motion = json.loads((folder / "motion.json").read_text())
    a_x = motion["subjects"][[s["id"] for s in motion["subjects"]].index("a")]["frames"][0]["at"][0]
    want = next(s for s in layouts[1]["subjects"] if s["id"] == "a")["keys"][0]["x"]
    assert abs(a_x - want) < 1e-5
    assert motion != base_motion
    status = json.loads(cli("status", "--json", shot).output)
    assert status["stages"]["render"] == "stale (changed: pick)"
    r = cli("render", shot)
    assert "render done" in r.output  # uses the pick without being told again


def test_storyboard_stand_ins_wear_the_subjects_colours(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    shot = write_shot(THREE.replace('id = "a"\n', 'id = "a"\ncolor = "#00ff00"\n'), "col.toml")
    assert cli("sketch", shot).exit_code == 0
    board = np.asarray(Image.open(project / "col" / "storyboard.png").convert("RGB")).astype(int)
    green = (board[..., 1] > 240) & (board[..., 0] < 20) & (board[..., 2] < 20)
    assert green.sum() > 50  # the outline of a's stand-in, in a's own colour


def test_same_seed_gives_byte_identical_layout_and_motion(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    shot = write_shot(THREE, "three.toml")
    cli("refine", shot)
    folder = project / "three"
    first = (folder / "layout.json").read_bytes(), (folder / "motion.json").read_bytes()
    cli("refine", "--force", shot)
    cli("sketch", "--force", shot)
    assert ((folder / "layout.json").read_bytes(), (folder / "motion.json").read_bytes()) == first


def test_controls_are_depth_and_masks_of_the_subjects(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    shot = write_shot(THREE, "three.toml")
    assert cli("refine", "--controls", shot).exit_code == 0
    folder = project / "three" / "controls"
    depth = np.asarray(Image.open(folder / "depth" / "00000.png"))
    mask = np.asarray(Image.open(folder / "mask" / "00000.png"))
    assert depth.dtype == np.uint16 and depth.shape == (90, 160)
    assert sorted(np.unique(mask)) == [0, 1, 2, 3]  # background and three subjects
    assert (depth[mask == 0] == 65535).all()
    assert (depth[mask > 0] < 65535).all()
    assert len(list((folder / "mask").glob("*.png"))) == 12


def test_animatic_is_quarter_size_full_rate(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    cli("refine", write_shot(THREE, "three.toml"))
    info = probe(project / "three" / "animatic.mp4")
    assert info.size == (80, 46) or info.size == (80, 44)
    assert info.frames == 12


def test_framing_problems_are_reported_with_time_and_fix(
    cli: Callable[..., object], write_shot: Callable[..., Path]
) -> None:
    text = THREE + "[camera]\nkeys = [ { t = 0.0 }, { t = 1.0, pan = [0.4, 0.0] } ]\n"
    r = cli("sketch", write_shot(text, "pan.toml"))
    assert r.exit_code == 0
    assert "camera leaves the plate at t=" in r.output
    assert "set background.extent to at least" in r.output
    escape = THREE.replace("at = [0.3, 0.85] }", "at = [0.3, 0.85], path = 'arc', arc = 1.0 }")
    r = cli("sketch", write_shot(escape, "arc.toml"))
    assert "subject 'b' leaves the frame at t=" in r.output
