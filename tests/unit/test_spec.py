"""The loader: valid files become dataclasses; every kind of bad file is refused clearly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from shotcraft.errors import SpecError
from shotcraft.spec import load_preset, load_reel, load_shot

GOOD = """\
version = 1
[shot]
duration = 2.0
fps = 24
size = [320, 180]
[background]
colors = ["#1d2b3a", "#f2a65a"]
[camera]
keys = [
  { t = 0.0 },
  { t = 2.0, pan = [0.1, 0.0], zoom = 1.2, ease = "cubic-bezier(0.2, 0, 0.2, 1)" },
]
[[subjects]]
id = "fox"
place = "left third, ground"
motion = "run"
keys = [ { t = 0.0 }, { t = 2.0, at = [0.8, 0.85] } ]
"""


def _write(tmp_path: Path, text: str, name: str = "shot.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_shot_loads_with_defaults(tmp_path: Path) -> None:
    shot = load_shot(_write(tmp_path, GOOD, "fox-run.toml"))
    assert shot.id == "fox-run"  # from the file name
    assert shot.frames == 48
    assert shot.preset == "preview"
    assert shot.background.colors == ((0x1D, 0x2B, 0x3A), (0xF2, 0xA6, 0x5A))
    assert shot.subjects[0].keys[1].at == (0.8, 0.85)
    assert shot.camera.keys[1].ease.startswith("cubic-bezier")


BAD = [
    # (file text, expected key path, expected words in the message)
    ("", "", "empty"),
    ("version = 1\n[shot\nfps = 3", "", "TOML syntax error"),
    ("[shot]\nfps = 24\n", "version", "required"),
    ("version = 2\n", "version", "must be 1"),
    ("version = 1\n[shot]\nfps = 'fast'\n", "shot.fps", "must be an integer"),
    ("version = 1\n[shot]\nfps = 24.5\n", "shot.fps", "must be an integer"),
    ("version = 1\n[shot]\nfps = 0\n", "shot.fps", "at least 1"),
    ("version = 1\n[shot]\nduration = nan\n", "shot.duration", "finite"),
    ("version = 1\n[shot]\nduration = inf\n", "shot.duration", "finite"),
    ("version = 1\n[shot]\nduration = -1.0\n", "shot.duration", "more than 0"),
    ("version = 1\n[shot]\nduration = 100000.0\n", "shot.duration", "at most 600"),
    ("version = 1\n[shot]\nsize = [1281, 720]\n", "shot.size", "even"),
    ("version = 1\n[shot]\nsize = [1280]\n", "shot.size", "pair"),
    ("version = 1\n[shot]\nsize = [99999, 720]\n", "shot.size[0]", "at most"),
    ("version = 1\n[shot]\nfsp = 24\n", "shot.fsp", "did you mean 'fps'"),
    ("version = 1\n[shot]\nid = '../etc'\n", "shot.id", "not a safe id"),
    ("version = 1\n[shoot]\n", "shoot", "unknown key"),
    ("version = 1\nsubjects = 3\n", "subjects", "must be an array"),
    ("version = 1\n[background]\ncolors = ['red']\n", "background.colors[0]", "colour"),
    ("version = 1\n[background]\nimage = 'nope.png'\n", "background.image", "file not found"),
    ("version = 1\n[background]\nstyle = 'landscap'\n", "background.style", "did you mean"),
    ("version = 1\n[background]\nextent = 0.5\n", "background.extent", "at least 1"),
    ("version = 1\n[[subjects]]\nshape = 'circle'\n", "subjects[0].id", "required"),
    ("version = 1\n[[subjects]]\nid = 'a b'\n", "subjects[0].id", "not a safe id"),
    (
        "version = 1\n[[subjects]]\nid = 'a'\n[[subjects]]\nid = 'a'\n",
        "subjects[1].id",
        "already used",
    ),
    ("version = 1\n[[subjects]]\nid = 'a'\nmotion = 'fly'\n", "subjects[0].motion", "allowed"),
    ("version = 1\n[[subjects]]\nid = 'a'\nplace = 'upstairs'\n", "subjects[0].place", "upstairs"),
    ("version = 1\n[[subjects]]\nid = 'a'\ndepth = 2\n", "subjects[0].depth", "at most 1"),
    ("version = 1\n[[subjects]]\nid = 'a'\ncolor = '#12345'\n", "subjects[0].color", "colour"),
    (
        "version = 1\n[shot]\nduration = 2.0\n[[subjects]]\nid = 'a'\nkeys = [{t = 3.0}]\n",
        "subjects[0].keys[0].t",
        "within 0..2",
    ),
    (
        "version = 1\n[[subjects]]\nid = 'a'\nkeys = [{t = 1.0}, {t = 0.5}]\n",
        "subjects[0].keys[1].t",
        "must increase",
    ),
    (
        "version = 1\n[[subjects]]\nid = 'a'\nkeys = [{t = 0.0, ease = 'bouncy'}]\n",
        "subjects[0].keys[0].ease",
        "cubic-bezier",
    ),
    (
        "version = 1\n[[subjects]]\nid = 'a'\nkeys = [{t = 0.0, at = [0.5]}]\n",
        "subjects[0].keys[0].at",
        "pair",
    ),
    (
        "version = 1\n[[subjects]]\nid = 'a'\nkeys = [{t = 0.0, speed = 2}]\n",
        "subjects[0].keys[0].speed",
        "unknown key",
    ),
    ("version = 1\n[camera]\nkeys = [{t = 0.0, zoom = 0}]\n", "camera.keys[0].zoom", "at least"),
    ("version = 1\n[model]\nsteps = 4\n", "model.id", "required"),
    ("version = 1\n[model]\nid = 'm'\nevery = 'often'\n", "model.every", '"auto" or a whole'),
    ("version = 1\n[model]\nid = 'm'\nevery = 0\n", "model.every", "1..1000"),
    ("version = 1\n" + "[[subjects]]\nid = 's'\n" * 1, "", None),  # valid: control row
]


@pytest.mark.parametrize(("text", "path", "words"), BAD)
def test_bad_shot_is_refused_with_key_path(
    tmp_path: Path, text: str, path: str, words: str | None
) -> None:
    p = _write(tmp_path, text)
    if words is None:
        load_shot(p)
        return
    with pytest.raises(SpecError) as err:
        load_shot(p)
    e = err.value
    assert e.exit_code == 3
    lines = e.lines()
    assert any((f": {path}: " in line if path else True) and words in line for line in lines), lines
    assert all(line.startswith(str(p)) for line in lines)
    assert "Traceback" not in "\n".join(lines)


def test_every_problem_is_reported_at_once_with_lines(tmp_path: Path) -> None:
    text = "version = 1\n[shot]\nfps = 0\nsize = [3, 3]\n[[subjects]]\nid = 'x y'\ndepth = 9\n"
    with pytest.raises(SpecError) as err:
        load_shot(_write(tmp_path, text))
    lines = err.value.lines()
    assert len(lines) >= 4
    fps_line = next(line for line in lines if "shot.fps" in line)
    assert fps_line.startswith(f"{tmp_path / 'shot.toml'}:3:")  # line of `fps = 0`


def test_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_shot(_write(tmp_path, "version = 1\n[shot]\nfps = = 3\n"))
    (line,) = err.value.lines()
    assert ":3:" in line and "column" in line


def test_unsafe_file_stem_needs_an_id(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_shot(_write(tmp_path, "version = 1\n", "my shot.toml"))
    assert "set shot.id" in err.value.lines()[0]
    assert (
        load_shot(_write(tmp_path, "version = 1\n[shot]\nid = 'ok'\n", "my shot.toml")).id == "ok"
    )


def test_asset_paths_are_relative_to_the_shot_file(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "assets").mkdir()
    Image.new("RGBA", (10, 20), (255, 0, 0, 255)).save(tmp_path / "assets" / "a.png")
    (tmp_path / "shots").mkdir()
    p = _write(
        tmp_path / "shots", "version = 1\n[[subjects]]\nid = 'a'\nimage = '../assets/a.png'\n"
    )
    shot = load_shot(p)
    assert shot.subjects[0].image == (tmp_path / "assets" / "a.png").resolve()


def test_reel_loads_and_validates(tmp_path: Path) -> None:
    _write(tmp_path, "version = 1\n", "a.toml")
    _write(tmp_path, "version = 1\n", "b.toml")
    reel = load_reel(
        _write(
            tmp_path,
            "version = 1\n[reel]\nsize = [320, 180]\nfps = 24\n[[clips]]\nshot = 'a.toml'\n"
            "[[clips]]\nshot = 'b.toml'\ntrim = [0.0, 1.5]\n"
            "transition = { kind = 'crossfade', duration = 0.5 }\n",
            "reel.toml",
        )
    )
    assert [c.shot.name for c in reel.clips] == ["a.toml", "b.toml"]
    assert reel.clips[1].transition.kind == "crossfade"
    assert math.isclose(reel.clips[1].transition.duration, 0.5)


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ("[[clips]]\nshot = 'missing.toml'\n", "clips[0].shot", "file not found"),
        ("clips = []\n", "clips", "at least 1"),
        ("[[clips]]\nshot = 'a.toml'\ntrim = [2.0, 1.0]\n", "clips[0].trim", "after start"),
        (
            "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'a.toml'\n"
            "transition = { kind = 'spin' }\n",
            "clips[1].transition.kind",
            "allowed",
        ),
        (
            "[[clips]]\nshot = 'a.toml'\ntransition = { kind = 'crossfade' }\n",
            "clips[0].transition",
            "nothing to transition from",
        ),
        ("[reel]\nfps = -3\n[[clips]]\nshot = 'a.toml'\n", "reel.fps", "at least 1"),
    ],
)
def test_bad_reel_is_refused(tmp_path: Path, body: str, path: str, words: str) -> None:
    _write(tmp_path, "version = 1\n", "a.toml")
    with pytest.raises(SpecError) as err:
        load_reel(_write(tmp_path, "version = 1\n" + body, "reel.toml"))
    assert any(f": {path}: " in line and words in line for line in err.value.lines()), (
        err.value.lines()
    )


def test_builtin_presets_load() -> None:
    assert load_preset("draft").scale == 0.5
    assert load_preset("final").samples > 1
    with pytest.raises(SpecError) as err:
        load_preset("nonexistent")
    assert "known: draft, final, preview" in err.value.lines()[0]


def test_place_typos_get_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_shot(_write(tmp_path, "version = 1\n[[subjects]]\nid = 'a'\nplace = 'left thrid'\n"))
    assert "did you mean 'third'?" in err.value.lines()[0]


@pytest.mark.parametrize(
    ("line", "every"), [("", None), ("every = 'auto'\n", None), ("every = 6\n", 6)]
)
def test_model_every_is_auto_unless_a_number_is_given(
    tmp_path: Path, line: str, every: int | None
) -> None:
    shot = load_shot(_write(tmp_path, "version = 1\n[model]\nid = 'm'\n" + line))
    assert shot.model is not None and shot.model.every == every
