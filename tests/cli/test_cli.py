"""The command line as users meet it: help, exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from shotcraft.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[list[str]]:
    """Every command the app really registers, groups included (`cache ls`, ...)."""
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(group: Any, prefix: list[str]) -> None:
        for name, cmd in sorted(group.commands.items()):
            out.append([*prefix, name])
            if hasattr(cmd, "commands"):  # a group (click's interface, read through typer)
                walk(cmd, [*prefix, name])

    walk(root, [])
    return out


def test_the_command_list_is_the_real_one() -> None:
    names = [" ".join(c) for c in _commands()]
    # the commands a user reads about in --help, at the very least
    for expected in ("sketch", "refine", "render", "compose", "status", "calibrate", "cache ls"):
        assert expected in names
    assert len(names) >= 11


@pytest.mark.parametrize(
    ("argv", "built"),
    [
        (["shotcraft", "refine", "x.toml"], ["refine"]),
        (["shotcraft", "cache", "ls"], ["cache"]),
        (["shotcraft", "--version"], None),  # an option first: the whole app
        (["shotcraft", "rendr"], None),  # no such command: the whole app, to say so
        (["shotcraft"], None),
    ],
)
def test_a_command_line_builds_only_the_command_it_names(
    argv: list[str], built: list[str] | None
) -> None:
    from shotcraft.cli.app import _only_the_command_named

    every = [" ".join(c) for c in _commands() if len(c) == 1]
    with _only_the_command_named(argv):
        names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert names == (built or every)
    assert [" ".join(c) for c in _commands() if len(c) == 1] == every  # all back afterwards


def test_the_command_line_runs_the_command_it_names() -> None:
    # through main(), as the installed `shotcraft` runs: help of one command, an unknown one
    run = [sys.executable, "-m", "shotcraft"]
    r = subprocess.run([*run, "render", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--fit-budget" in r.stdout
    r = subprocess.run([*run, "rendr"], capture_output=True, text=True)
    assert r.returncode == 2 and "Did you mean 'render'?" in r.stderr


@pytest.mark.parametrize("args", [[], *_commands()], ids=lambda a: " ".join(a) or "shotcraft")
def test_every_command_has_help(cli: Callable[..., object], args: list[str]) -> None:
    r = cli(*args, "--help")
    assert r.exit_code == 0
    assert "Usage:" in r.output
    assert len(r.output.strip().splitlines()) > 3


def test_every_command_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [
        " ".join(c) for c in _commands() if not re.search(rf"shotcraft {' '.join(c)}\b", text)
    ]
    assert not missing, f"not in README.md: {missing}"


def test_invalid_shot_exits_3_with_one_line_per_problem_and_writes_nothing(
    cli: Callable[..., object], write_shot: Callable[..., Path], project: Path
) -> None:
    bad = write_shot("version = 1\n[shot]\nfps = 0\n[[subjects]]\nid = 'a'\nmotion = 'fly'\n")
    for stage in ("sketch", "refine", "render"):
        r = cli(stage, bad)
        assert r.exit_code == 3
        lines = r.output.strip().splitlines()
        assert len(lines) == 2
        assert all(line.startswith(f"error: {bad}:") for line in lines)
        assert "Traceback" not in r.output
    assert not project.exists()


def test_missing_shot_file_exits_3(cli: Callable[..., object], tmp_path: Path) -> None:
    r = cli("sketch", tmp_path / "nope.toml")
    assert r.exit_code == 3
    assert "file not found" in r.output


def test_usage_errors_exit_2(cli: Callable[..., object], simple_shot: Callable[..., Path]) -> None:
    assert cli("render", "--device", "tpu", simple_shot()).exit_code == 2
    assert cli("sketch").exit_code == 2
    assert cli("cache", "gc").exit_code == 2


def test_json_summary_is_machine_readable(
    cli: Callable[..., object], simple_shot: Callable[..., Path]
) -> None:
    r = cli("sketch", "--json", simple_shot())
    data = json.loads(r.output)
    assert data["stage"] == "sketch" and data["ran"] is True
    assert data["estimate"]["frames"] == 12


def test_missing_diffusion_extra_exits_4_with_pip_hint(
    cli: Callable[..., object], write_shot: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError
    shot = write_shot("version = 1\n[model]\nid = 'stabilityai/sd-turbo'\n")
    r = cli("render", shot)
    assert r.exit_code == 4
    assert "pip install 'shotcraft[diffusion]'" in r.output


def test_status_table_and_json(
    cli: Callable[..., object], simple_shot: Callable[..., Path]
) -> None:
    shot = simple_shot()
    data = json.loads(cli("status", "--json", shot).output)
    assert data["stages"] == {"sketch": "missing", "refine": "missing", "render": "missing"}
    cli("render", shot)
    data = json.loads(cli("status", "--json", shot).output)
    assert set(data["stages"].values()) == {"up to date"}
    assert data["layers_cached"] == data["layers"] == 2
    # a stale stage names what changed, as far up as the shot file
    shot.write_text(shot.read_text().replace("seed = 3", "seed = 4"))
    data = json.loads(cli("status", "--json", shot).output)
    assert set(data["stages"].values()) == {"stale (changed: seed)"}
    text = cli("status", shot).output
    assert "sketch" in text and "dot: seed changed" in text
    cli("render", shot)
    shot.write_text(shot.read_text().replace('id = "dot"', 'id = "dot"\ndepth = 0.4'))
    data = json.loads(cli("status", "--json", shot).output)
    assert data["stages"]["render"] == "stale (changed: subjects.dot)"
    shot.write_text(shot.read_text().replace("seed = 4", 'seed = 4\npreset = "draft"'))
    data = json.loads(cli("status", "--json", shot).output)
    assert data["stages"]["render"] == "stale (changed: preset, subjects.dot)"


def test_cache_commands(
    cli: Callable[..., object], simple_shot: Callable[..., Path], cache_dir: Path
) -> None:
    cli("render", simple_shot())
    entries = json.loads(cli("cache", "ls", "--json").output)
    assert {e["kind"] for e in entries} == {"plate", "sprite"}
    for e in entries:
        assert {"key", "kind", "size", "created", "producer"} <= set(e)
    stats = json.loads(cli("cache", "stats", "--json").output)
    assert {k["kind"] for k in stats["kinds"]} == {"plate", "sprite"}
    assert cli("cache", "verify").exit_code == 0
    key = entries[0]["key"]
    (cache_dir / "objects" / key[:2] / key[2:]).write_bytes(b"garbage")
    r = cli("cache", "verify")
    assert r.exit_code == 1 and "corrupt" in r.output
    assert cli("cache", "verify").exit_code == 0  # the corrupt entry was dropped
    r = cli("cache", "gc", "--max-size", "0", "--json")
    assert len(json.loads(r.output)["evicted"]) == len(entries) - 1
    assert json.loads(cli("cache", "ls", "--json").output) == []


def test_cli_import_does_not_load_torch() -> None:
    code = (
        "import sys, shotcraft.cli.app; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_and_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shotcraft", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("shotcraft ")


@pytest.mark.parametrize(
    ("code", "rc", "err"), [("3", 3, ""), ("None", 0, ""), ("'bad input'", 1, "bad input")]
)
def test_the_quick_exit_runs_the_atexit_hooks_and_keeps_the_status(
    code: str, rc: int, err: str
) -> None:
    """The CLI skips the interpreter's module teardown at exit; what an exit must do stays."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('hook ran'))\n"
        "print('buffered', end='')\n"
        "from shotcraft.cli import _exit_now\n"
        f"_exit_now(SystemExit({code}))\n"
        "sys.exit(99)  # not reached\n"
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr.strip()) == (rc, "bufferedhook ran\n", err)


def test_the_quick_exit_waits_for_a_thread_python_would_wait_for() -> None:
    script = (
        "import threading, time\n"
        "from shotcraft.cli import _exit_now\n"
        "t = threading.Thread(target=lambda: (time.sleep(0.3), print('thread done')))\n"
        "t.start()\n"
        "_exit_now(SystemExit(0))\n"
        "raise SystemExit(4)  # the ordinary exit, which joins the thread\n"
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (p.returncode, p.stdout) == (4, "thread done\n")
