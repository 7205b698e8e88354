"""`--watch`: a real watch session in a subprocess, driven by saving the shot file."""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SIMPLE_SHOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child: POSIX")

WAIT_S = 20.0


class Session:
    """A `shotcraft ... --watch` process whose output lines are read as they come."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shotcraft", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: dict[str, queue.Queue[str]] = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen: dict[str, list[str]] = {"out": [], "err": []}
        for name, pipe in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._read, args=(name, pipe), daemon=True).start()

    def _read(self, name: str, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            self.lines[name].put(line.rstrip("\n"))

    def wait_for(self, stream: str, text: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines[stream].get(timeout=1.0 if self.proc.poll() is not None else 0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break  # and its last lines are read
                continue
            self.seen[stream].append(line)
            if text in line:
                return line
        self.stop()
        raise AssertionError(f"no {stream} line with {text!r}; saw {self.seen}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def wait_opened(log: Path, path: Path, count: int) -> None:
    """Until the stand-in viewer has been asked to show `path` `count` times (it runs on its
    own, just after the watch prints its line)."""
    deadline = time.monotonic() + 10
    seen = 0
    while time.monotonic() < deadline:
        seen = log.read_text().split().count(str(path)) if log.exists() else 0
        if seen >= count:
            break
        time.sleep(0.05)
    assert seen == count, f"{path} shown {seen} times, not {count}"


def save(path: Path, text: str) -> None:
    """As an editor does: a new file renamed over the old one."""
    tmp = path.with_name(f".{path.name}.swp~")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def watch_env(tmp_path: Path, cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ, SHOTCRAFT_CACHE=str(cache_dir))
    env.pop("SHOTCRAFT_PROJECT", None)
    bin_dir = tmp_path / "bin"  # a stand-in system viewer that says what it was asked to show
    bin_dir.mkdir()
    for name in ("xdg-open", "open"):
        viewer = bin_dir / name
        viewer.write_text(f'#!/bin/sh\necho "$1" >> {tmp_path / "opened.txt"}\n')
        viewer.chmod(viewer.stat().st_mode | stat.S_IEXEC)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def test_watch_resketches_after_each_save_survives_a_broken_one_and_ends_on_sigint(
    tmp_path: Path, write_shot: Callable[..., Path], watch_env: dict[str, str]
) -> None:
    shot = write_shot(SIMPLE_SHOT.format(x0=0.2, x1=0.8), "dot.toml")
    project = tmp_path / "build"
    layout = project / "dot" / "layout.json"
    board, opened = project.resolve() / "dot" / "storyboard.png", tmp_path / "opened.txt"
    s = Session(
        ["sketch", "--watch", "--open", str(shot), "--project", str(project)], tmp_path, watch_env
    )
    try:
        first = s.wait_for("out", "dot: sketch done")
        assert "render estimate" in first and "(12 frames" in first
        s.wait_for("err", "watching 1 shot(s)")
        assert json.loads(layout.read_text())["subjects"][0]["keys"][1]["x"] == 0.8
        wait_opened(opened, board, 1)
        time.sleep(0.5)  # the watcher is set up just after it says so

        # an edit: a new layout on disk, and the line shows the new estimate and what changed
        save(shot, SIMPLE_SHOT.format(x0=0.2, x1=0.5).replace("fps = 12", "fps = 24"))
        line = s.wait_for("out", "dot: sketch done")
        assert "(24 frames" in line
        assert "changed" in line and "fps" in line
        data = json.loads(layout.read_text())
        assert data["frames"] == 24 and data["subjects"][0]["keys"][1]["x"] == 0.5
        wait_opened(opened, board, 2)

        # a broken save: its error, and the watch waits
        save(shot, "version = 1\n[shot\nfps = 12\n")
        err = s.wait_for("err", "error:")
        assert str(shot) in err and "TOML syntax error" in err
        s.wait_for("err", "waiting for the next save")
        assert json.loads(layout.read_text())["frames"] == 24  # the last good layout stays

        # the next good save recovers
        save(shot, SIMPLE_SHOT.format(x0=0.2, x1=0.5).replace("fps = 12", "fps = 6"))
        line = s.wait_for("out", "dot: sketch done")
        assert "(6 frames" in line
        assert json.loads(layout.read_text())["frames"] == 6

        wait_opened(opened, board, 3)  # once a run, none for the broken save
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(10) == 130
        s.wait_for("err", "interrupted")
        assert "Traceback" not in "\n".join(s.seen["err"])
    finally:
        s.stop()


def test_render_watch_says_the_cost_first_and_honours_the_budget(
    tmp_path: Path, write_shot: Callable[..., Path], watch_env: dict[str, str]
) -> None:
    shot = write_shot(SIMPLE_SHOT.format(x0=0.2, x1=0.8), "dot.toml")
    project = tmp_path / "build"
    s = Session(
        ["render", "--watch", str(shot), "--project", str(project), "--budget", "30"],
        tmp_path,
        watch_env,
    )
    try:
        cost = s.wait_for("out", "re-rendering, estimated")
        assert "within the budget of 30s" in cost
        s.wait_for("out", "dot: render done")
        assert (project / "dot" / "clip.mp4").is_file()
        s.wait_for("err", "watching 1 shot(s)")
        time.sleep(0.5)
        # ten times the frames at a far larger size: over the budget, refused before work
        big = SIMPLE_SHOT.format(x0=0.2, x1=0.5).replace("duration = 1.0", "duration = 600.0")
        save(shot, big.replace("size = [160, 96]", "size = [3840, 2160]"))
        cost = s.wait_for("out", "re-rendering, estimated")
        assert "over the budget of 30s" in cost
        err = s.wait_for("err", "error:")
        assert "over the budget" in err
        s.wait_for("err", "waiting for the next save")
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(10) == 130
    finally:
        s.stop()


def test_commands_that_do_not_watch_or_serve_never_import_watchfiles_or_mcp() -> None:
    code = (
        "import sys; from shotcraft.cli.app import app; "
        "print(sorted(m for m in ('watchfiles', 'mcp', 'anyio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_mcp_without_its_extra_exits_4_with_the_pip_command(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")] or ["mcp"]:
        monkeypatch.setitem(sys.modules, name, None)  # import mcp... -> ImportError
    monkeypatch.delitem(sys.modules, "shotcraft.cli.mcp_server", raising=False)
    r = cli("mcp", "--root", tmp_path)
    assert r.exit_code == 4  # type: ignore[attr-defined]
    assert "pip install 'shotcraft[mcp]'" in r.output  # type: ignore[attr-defined]
    assert "Traceback" not in r.output  # type: ignore[attr-defined]
    assert cli("mcp", "--help").exit_code == 0  # type: ignore[attr-defined]


def test_open_without_watch_shows_the_artifact_once(
    cli: Callable[..., object],
    simple_shot: Callable[..., Path],
    watch_env: dict[str, str],
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", watch_env["PATH"])
    assert cli("refine", "--open", simple_shot()).exit_code == 0  # type: ignore[attr-defined]
    wait_opened(tmp_path / "opened.txt", project / "dot" / "animatic.mp4", 1)
