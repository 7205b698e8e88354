"""Misuse and damage as users meet them: one line, an exit code from the table, no traceback,
and nothing lost. Each test here was a traceback (or silently wrong) before issue 12."""

from __future__ import annotations

import json
import os
import re
import shlex
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcraft.media.probe import frames, probe

Run = Callable[..., object]


def _ok(r: object) -> None:
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]


def _user_error(r: object, code: int) -> str:
    out: str = r.output  # type: ignore[attr-defined]
    assert r.exit_code == code, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and "a bug" not in out, out
    return out


def _words(out: str) -> str:
    """Usage errors come in a box that wraps at 80 columns: its words on one line."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())


# --- options ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["render", "--budget", "nan"], "finite"),
        (["render", "--budget", "inf"], "finite"),
        (["refine", "--pick", "99"], "99"),
        (["sketch", "--preset", ""], "must name a preset"),
        (["sketch", "--project", ""], "must name a folder"),
    ],
)
def test_bad_option_values_are_usage_errors(
    cli: Run, simple_shot: Callable[..., Path], project: Path, args: list[str], words: str
) -> None:
    out = _words(_user_error(cli(*args, simple_shot()), 2))
    assert words in out
    assert not project.exists()


@pytest.mark.parametrize("option", ["--project", "--cache"])
def test_a_folder_option_naming_a_file_is_a_usage_error(
    cli: Run, simple_shot: Callable[..., Path], tmp_path: Path, option: str
) -> None:
    f = tmp_path / "a-file"
    f.write_text("x")
    out = _words(_user_error(cli("sketch", option, f, simple_shot()), 2))
    assert "is a file, not a folder" in out
    assert "is a file" in _words(_user_error(cli("sketch", option, f / "below", simple_shot()), 2))


def test_not_rendered_hint_is_shell_quoted(cli: Run, tmp_path: Path) -> None:
    shots = tmp_path / "my shots"
    shots.mkdir()
    (shots / "a b.toml").write_text("version = 1\n[shot]\nid = 'ab'\n")
    reel = tmp_path / "reel.toml"
    reel.write_text("version = 1\n[[clips]]\nshot = 'my shots/a b.toml'\n")
    project = tmp_path / "out dir"
    out = _user_error(cli("compose", reel, "--project", project), 7)
    line = out.split("run: ", 1)[1].split(" (or", 1)[0]
    words = shlex.split(line)
    assert words[:2] == ["shotcraft", "render"]
    assert Path(words[2]).name == "a b.toml" and words[3:] == ["--project", str(project)]


# --- spec files -------------------------------------------------------------------------
def test_a_byte_order_mark_is_accepted(
    cli: Run, write_shot: Callable[..., Path], project: Path
) -> None:
    shot = write_shot(
        "version = 1\n[shot]\nduration = 0.5\nsize = [64, 48]\n[background]\nimage = 'bg.png'\n",
        "bom.toml",
    )
    Image.new("RGB", (64, 48), (9, 9, 9)).save(shot.parent / "bg.png")
    shot.write_bytes(b"\xef\xbb\xbf" + shot.read_bytes())
    _ok(cli("sketch", shot))
    assert (project / "bom" / "layout.json").is_file()
    (shot.parent / "bg.png").unlink()  # deleted since sketch: a missing input, not a bad file
    assert "restore it" in _user_error(cli("sketch", shot), 7)


def test_preset_by_the_path_the_readme_shows(
    cli: Run, write_shot: Callable[..., Path], project: Path, tmp_path: Path
) -> None:
    shot = write_shot(
        'version = 1\n[shot]\nduration = 0.5\nsize = [64, 48]\npreset = "./presets/tiny.toml"\n',
        "p.toml",
    )
    (shot.parent / "presets").mkdir()
    (shot.parent / "presets" / "tiny.toml").write_text("version = 1\nscale = 0.5\ncrf = 40\n")
    r = cli("render", shot, "--json")
    _ok(r)
    assert probe(project / "p" / "clip.mp4").size == (32, 24)  # the preset's scale


def test_preset_errors_have_line_and_no_leading_dot(
    cli: Run, write_shot: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "bad.toml").write_text(
        'version = 1\ncrf = 23\nencoder_preset = "warp"\nharmonize = 3\n'
    )
    monkeypatch.chdir(tmp_path)
    shot = write_shot("version = 1\n[shot]\npreset = 'bad'\n")
    out = _user_error(cli("sketch", shot), 3)
    assert "bad.toml:3: encoder_preset: 'warp' is not allowed" in out
    assert "bad.toml:4: harmonize: must be true or false" in out
    assert ": ." not in out


def test_transitions_that_overlap_inside_a_clip_are_refused(
    cli: Run, tmp_path: Path, project: Path
) -> None:
    from tests.integration.test_compose import _reel

    body = "".join(
        f"[[clips]]\nshot = '{n}.toml'\n"
        + ("transition = { kind = 'crossfade', duration = 0.6 }\n" if n != "a" else "")
        for n in "abc"
    )
    reel = _reel(
        tmp_path, project, body, {n: ((40 * i, 90, 90), 12) for i, n in enumerate("abc")}
    )  # 1 s clips: 0.6 s in and 0.6 s out of b
    out = _user_error(cli("compose", reel), 3)
    assert "clips[2].transition.duration" in out and "overlap" in out
    assert not (project / "reel.mp4").exists()


def test_a_refused_reel_draws_no_title_card(cli: Run, tmp_path: Path, project: Path) -> None:
    from tests.integration.test_compose import _reel

    body = (
        "[[clips]]\ntitle = { text = 'Hi', duration = 0.5 }\n"
        "[[clips]]\nshot = 'a.toml'\ntrim = [2.0, 3.0]\n"  # the clip is 1 s long
    )
    reel = _reel(tmp_path, project, body, {"a": ((90, 90, 90), 12)})
    assert "clips[1].trim" in _user_error(cli("compose", reel), 3)
    assert not (project / "titles").exists()
    reel.write_text(reel.read_text().replace("trim = [2.0, 3.0]", "trim = [0.0, 0.5]"))
    _ok(cli("compose", reel))
    assert probe(project / "reel.mp4").frames == 12


# --- assets -----------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bad_pictures(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.png"
    Image.new("RGB", (40, 30), (10, 200, 10)).save(good)
    out = {}
    cut = folder / "cut.png"
    cut.write_bytes(good.read_bytes()[:60])
    out["cut short"] = cut
    (folder / "empty.png").write_bytes(b"")
    out["empty"] = folder / "empty.png"
    (folder / "text.png").write_text("not a picture\n")
    out["text"] = folder / "text.png"
    (folder / "vector.png").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    out["svg"] = folder / "vector.png"
    # a valid PNG header that claims 30000 x 30000 pixels: a decompression bomb
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    (folder / "bomb.png").write_bytes(bomb)
    out["bomb"] = folder / "bomb.png"
    return out


@pytest.mark.parametrize("kind", ["cut short", "empty", "text", "svg", "bomb"])
@pytest.mark.parametrize("where", ["background", "subject"])
def test_a_picture_that_is_not_one_is_a_bad_shot_before_any_work(
    cli: Run, write_shot: Callable[..., Path], project: Path, kind: str, where: str
) -> None:
    shot = write_shot("version = 1\n")
    pic = _bad_pictures(shot.parent / "assets")[kind]
    rel = f"assets/{pic.name}"
    body = (
        f'[background]\nimage = "{rel}"\n'
        if where == "background"
        else f'[[subjects]]\nid = "a"\nimage = "{rel}"\n'
    )
    shot.write_text("version = 1\n" + body)
    out = _user_error(cli("render", shot), 3)
    key = "background.image" if where == "background" else "subjects[0].image"
    assert f"{shot}:{3 if where == 'background' else 4}: {key}: {pic.name}" in out
    assert len(out.strip().splitlines()) == 1
    assert not project.exists()


def test_16_bit_grayscale_picture_is_grey_not_white(
    cli: Run, write_shot: Callable[..., Path], project: Path
) -> None:
    shot = write_shot(
        "version = 1\n[shot]\nduration = 0.25\nfps = 8\nsize = [64, 48]\n"
        "[background]\nimage = 'grey16.png'\nextent = 1.0\n",
        "g.toml",
    )
    grey = np.full((48, 64), 0x6060, dtype=np.uint16)  # 37.6 % grey
    Image.fromarray(grey).save(shot.parent / "grey16.png")
    assert Image.open(shot.parent / "grey16.png").mode == "I;16"
    _ok(cli("render", shot))
    first = next(frames(project / "g" / "clip.mp4")).astype(float)
    assert first.mean() == pytest.approx(0x60, abs=4)


def test_audio_that_is_not_audio_is_a_bad_reel(cli: Run, tmp_path: Path, project: Path) -> None:
    from tests.integration.test_compose import _flat_clip, _reel

    _flat_clip(tmp_path / "silent.mp4", (0, 0, 0), 4)
    (tmp_path / "noise.ogg").write_text("not sound")
    for name, says in [("noise.ogg", "is not an audio file"), ("silent.mp4", "has no audio track")]:
        reel = _reel(
            tmp_path,
            project,
            f"[[clips]]\nshot = 'a.toml'\n[audio]\nfile = '{name}'\n",
            {"a": ((90, 90, 90), 12)},
        )
        out = _user_error(cli("compose", reel), 3)
        assert f"audio.file: {name} {says}" in out
        assert not (project / "reel.mp4").exists()


# --- our own files, damaged ---------------------------------------------------------------
@pytest.mark.parametrize("content", ["[]", '{"stages": 5}', '{"schema": 1, "stages": []}', "\x00"])
def test_a_wrong_shaped_state_json_is_dropped_and_the_stages_redone(
    cli: Run, simple_shot: Callable[..., Path], project: Path, content: str
) -> None:
    shot = simple_shot()
    _ok(cli("sketch", shot))
    (project / "dot" / "state.json").write_text(content)
    r = cli("render", shot)
    out = _user_error(r, 0)
    assert "state.json is damaged" in out
    assert probe(project / "dot" / "clip.mp4").frames == 12
    _ok(cli("render", shot))
    assert "up to date" in cli("render", shot).output  # type: ignore[attr-defined]


def _meta_files(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "objects").glob("*/*.json"))


@pytest.mark.parametrize("content", ["[]", '{"sha256": 5}', '"x"', "{"])
def test_a_wrong_shaped_cache_meta_is_corrupt_and_verify_repairs_it(
    cli: Run, simple_shot: Callable[..., Path], cache_dir: Path, project: Path, content: str
) -> None:
    shot = simple_shot()
    _ok(cli("render", shot))
    metas = _meta_files(cache_dir)
    assert metas
    metas[0].write_text(content)
    _ok(cli("cache", "ls"))
    _ok(cli("render", shot, "--force"))  # remakes the entry (with a warning), no traceback
    metas[0].write_text(content)
    r = cli("cache", "verify")
    assert _user_error(r, 1).count("corrupt entry") == 1
    _ok(cli("cache", "verify"))


@pytest.mark.parametrize("content", ["[]", '{"plate": 3}', '{"plate": {"hits": "x"}}'])
def test_a_wrong_shaped_stats_json_counts_as_none(
    cli: Run, simple_shot: Callable[..., Path], cache_dir: Path, content: str
) -> None:
    (cache_dir / "stats.json").write_text(content)
    _ok(cli("render", simple_shot()))
    _ok(cli("cache", "stats"))
    stats = json.loads((cache_dir / "stats.json").read_text())
    assert sum(k["misses"] for k in stats.values()) >= 2  # counted afresh: plate and sprite


def test_an_object_whose_meta_was_deleted_is_still_collected(
    cli: Run, simple_shot: Callable[..., Path], cache_dir: Path
) -> None:
    _ok(cli("render", simple_shot()))
    metas = _meta_files(cache_dir)
    for m in metas:
        m.unlink()
    objects = [p for p in (cache_dir / "objects").glob("*/*") if p.suffix != ".json"]
    assert objects
    r = cli("cache", "gc", "--max-size", "0", "--json")
    _ok(r)
    assert len(json.loads(r.output)["evicted"]) == len(objects)  # type: ignore[attr-defined]
    assert not [p for p in (cache_dir / "objects").glob("*/*")]


@pytest.mark.parametrize(
    "artifact, damage, remade_by",
    [
        ("layout.json", lambda d: d["subjects"][0].pop("keys"), "sketch"),
        ("layout.json", lambda d: d.pop("plate"), "sketch"),
        ("motion.json", lambda d: d["camera"].pop(), "refine"),
        ("motion.json", lambda d: d["subjects"][0]["frames"][3].pop("at"), "refine"),
        # numbers checked in bulk: a string, or an integer too large for a float
        ("motion.json", lambda d: d["subjects"][0]["frames"][5].update(at=["0.5", 0.5]), "refine"),
        ("motion.json", lambda d: d["camera"][2].__setitem__("zoom", 10**400), "refine"),
    ],
)
def test_damaged_artifacts_name_the_command_that_remakes_them(
    cli: Run,
    simple_shot: Callable[..., Path],
    project: Path,
    artifact: str,
    damage: Callable[[dict], object],
    remade_by: str,
) -> None:
    from shotcraft.layout.io import read_layout
    from shotcraft.motion.io import read_motion

    shot = simple_shot()
    _ok(cli("refine", shot))
    path = project / "dot" / artifact
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    from shotcraft.errors import MissingInput

    with pytest.raises(MissingInput, match=rf"run `shotcraft {remade_by} --force`"):
        (read_layout if artifact == "layout.json" else read_motion)(path)
    # state.json knows the size it wrote: a damaged artifact is stale, and simply remade
    r = cli("render", shot)
    _ok(r)
    assert probe(project / "dot" / "clip.mp4").frames == 12
    # damage that keeps the size (here: the record updated to match) is named, exit 7
    path.write_text(json.dumps(data))
    state_p = project / "dot" / "state.json"
    state = json.loads(state_p.read_text())
    for st in state["stages"].values():
        if artifact in st.get("sizes", {}):
            st["sizes"][artifact] = path.stat().st_size
    state_p.write_text(json.dumps(state))
    out = _user_error(cli("render", shot, "--force"), 7)
    assert f"{path}: damaged" in out and f"shotcraft {remade_by} --force" in out
    _ok(cli(remade_by, shot, "--force"))
    _ok(cli("render", shot))


def test_a_truncated_clip_is_not_up_to_date_and_compose_names_the_fix(
    cli: Run, simple_shot: Callable[..., Path], project: Path, tmp_path: Path
) -> None:
    shot = simple_shot()
    _ok(cli("render", shot))
    clip = project / "dot" / "clip.mp4"
    whole = clip.read_bytes()
    reel = tmp_path / "reel.toml"
    reel.write_text(
        f"version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n[[clips]]\nshot = '{shot}'\n"
    )
    for cut in (len(whole) // 2, len(whole) - 200):
        clip.write_bytes(whole[:cut])
        out = _user_error(cli("compose", reel), 7)
        assert "shotcraft render" in out and "--force" in out
        assert not (project / "reel.mp4").exists()
    r = cli("render", shot)
    _ok(r)
    assert "up to date" not in r.output  # type: ignore[attr-defined]
    assert probe(clip).frames == 12
    _ok(cli("compose", reel))


def _title_reel(tmp_path: Path, plate_shot: Path) -> Path:
    reel = tmp_path / "titles.toml"
    reel.write_text(
        "version = 1\n[reel]\nsize = [64, 48]\nfps = 12\n"
        f"[[clips]]\ntitle = {{ text = 'Hi', duration = 1.0, plate = '{plate_shot}' }}\n"
    )
    return reel


def test_title_cards_follow_the_plate_content_and_a_cut_card_is_remade(
    cli: Run, write_shot: Callable[..., Path], project: Path, tmp_path: Path
) -> None:
    plate = write_shot("version = 1\n[background]\nstyle = 'solid'\ncolors = ['#ff0000']\n")
    reel = _title_reel(tmp_path, plate)
    _ok(cli("compose", reel))
    red = next(frames(project / "titles.mp4")).astype(float).mean(axis=(0, 1))
    plate.write_text("version = 1\n[background]\nstyle = 'solid'\ncolors = ['#0000ff']\n")
    _ok(cli("compose", reel))
    blue = next(frames(project / "titles.mp4")).astype(float).mean(axis=(0, 1))
    assert red[0] > red[2] + 50 and blue[2] > blue[0] + 50
    card = max((project / "titles").glob("*.mp4"), key=lambda p: p.stat().st_mtime_ns)
    card.write_bytes(card.read_bytes()[: card.stat().st_size // 2])
    _ok(cli("compose", reel))
    assert probe(card).frames == 12 and probe(project / "titles.mp4").frames == 12


# --- leftovers of killed runs -------------------------------------------------------------
def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(
    cli: Run, simple_shot: Callable[..., Path], project: Path, tmp_path: Path
) -> None:
    import tempfile

    shot = simple_shot()
    _ok(cli("render", shot))
    dead, live = _dead_pid(), os.getppid()
    folder = project / "dot"
    orphan = folder / f".clip.mp4.{dead}-abcd1234.part.mp4"
    kept = folder / f".clip.mp4.{live}-abcd1234.part.mp4"
    deep = folder / "variants" / f".layout.json.{dead}-zzzz9999.json.part"
    deep.parent.mkdir(exist_ok=True)
    for p in (orphan, kept, deep):
        p.write_bytes(b"half")
    scratch_dead = Path(tempfile.gettempdir()) / f"shotcraft-reel-{dead}-xyz"
    scratch_live = Path(tempfile.gettempdir()) / f"shotcraft-reel-{live}-xyz"
    for d in (scratch_dead, scratch_live):
        d.mkdir(exist_ok=True)
        (d / "run0.mp4").write_bytes(b"half")
    try:
        _ok(cli("render", shot))
        assert not orphan.exists() and not deep.exists()
        assert kept.exists()  # a live process's file is left alone
        reel = tmp_path / "reel.toml"
        reel.write_text(
            f"version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n[[clips]]\nshot = '{shot}'\n"
        )
        (project / f".reel.mp4.{dead}-qqqq1111.part.mp4").write_bytes(b"half")
        _ok(cli("compose", reel))
        assert not scratch_dead.exists() and scratch_live.exists()
        assert not list(project.glob(f".*{dead}-*"))
    finally:
        import shutil

        shutil.rmtree(scratch_live, ignore_errors=True)
        shutil.rmtree(scratch_dead, ignore_errors=True)


def test_a_ctrl_c_python_drops_in_a_weakref_callback_is_delivered_again() -> None:
    """Python prints and drops a KeyboardInterrupt raised in a weakref callback (where a
    Ctrl-C can land while threads are freed); the CLI's hook sends SIGINT again."""
    import subprocess
    import sys

    code = """
import sys, time, weakref
from shotcraft.cli import _ctrl_c_again
sys.unraisablehook = _ctrl_c_again(sys.unraisablehook)
class A: pass
a = A()
def cb(_): raise KeyboardInterrupt
r = weakref.ref(a, cb)
try:
    del a
    time.sleep(5)
    print("lost")
except KeyboardInterrupt:
    print("delivered")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "delivered", r.stderr
