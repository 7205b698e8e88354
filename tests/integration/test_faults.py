"""Faults from outside: a full disk, read-only folders, stdout on /dev/full, SIGKILL and Ctrl-C
at random moments, two runs of one shot at once. Nothing half-written under a final name,
earlier results intact, the next run completes, no leftovers after it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shotcraft.media.probe import probe

Run = Callable[..., object]
ROOT = Path(__file__).resolve().parents[2]

SHOT = """\
version = 1
[shot]
duration = {duration}
fps = 12
size = [{w}, {h}]
[background]
colors = ["#203040", "#e0a070"]
[[subjects]]
id = "fox"
shape = "star"
motion = "run"
keys = [ {{ t = 0.0, at = [0.2, 0.8] }}, {{ t = {duration}, at = [0.8, 0.8] }} ]
"""


def _shot(folder: Path, name: str = "fox.toml", duration: float = 1.0, w=160, h=96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(SHOT.format(duration=duration, w=w, h=h))
    return p


def _one_line_error(r: object, code: int, *words: str) -> None:
    out: str = r.output  # type: ignore[attr-defined]
    assert r.exit_code == code, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and "a bug" not in out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    for w in words:
        assert w in errors[0], out


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".part" in p.name]


# --- a small real filesystem, where the test may mount one --------------------------------
@contextlib.contextmanager
def _tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path, leave: int) -> None:
    """Fill the filesystem of `folder` until only about `leave` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave))


def _remount_ro(where: Path) -> None:
    r = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot remount read-only here ({r.stderr.decode().strip()})")


def test_full_disk_under_the_project_is_one_line_and_keeps_earlier_results(
    cli: Run, tmp_path: Path
) -> None:
    shot = _shot(tmp_path / "shots")
    with _tmpfs(tmp_path / "disk") as disk:
        project = disk / "build"
        r = cli("render", shot, "--project", project)
        assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
        clip = project / "fox" / "clip.mp4"
        before = {p: p.read_bytes() for p in (project / "fox").iterdir() if p.is_file()}
        _fill(disk, leave=4096)
        r = cli("render", shot, "--project", project, "--force")
        _one_line_error(r, 8, "cannot write", str(project / "fox"), "no space left on device")
        for p, old in before.items():  # each file the old one or a whole new one
            now = p.read_bytes()
            assert now == old or (p.suffix != ".mp4" and json.loads(now))
        assert not _temp_files(project)
        (disk / "filler").unlink()
        r = cli("render", shot, "--project", project, "--force")
        assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
        assert probe(clip).frames == 12


def test_full_disk_under_the_cache_is_one_line(cli: Run, tmp_path: Path) -> None:
    shot = _shot(tmp_path / "shots")
    with _tmpfs(tmp_path / "disk") as disk:
        _fill(disk, leave=0)
        r = cli("render", shot, "--cache", disk / "cache", "--project", tmp_path / "build")
        _one_line_error(r, 8, "cannot write", str(disk / "cache"), "no space left on device")
        assert not (tmp_path / "build" / "fox" / "clip.mp4").exists()


def test_compose_into_a_full_or_read_only_folder_is_one_line(
    cli: Run, tmp_path: Path, project: Path
) -> None:
    shot = _shot(tmp_path / "shots")
    assert cli("render", shot).exit_code == 0  # type: ignore[attr-defined]
    reel = tmp_path / "reel.toml"
    reel.write_text(
        f"version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n[[clips]]\nshot = '{shot}'\n"
    )
    with _tmpfs(tmp_path / "disk") as disk:
        (disk / "reel.mp4").write_bytes(b"an earlier reel")
        _fill(disk, leave=0)
        r = cli("compose", reel, "-o", disk / "reel.mp4")
        _one_line_error(r, 8, f"cannot write {disk / 'reel.mp4'}", "no space left on device")
        assert (disk / "reel.mp4").read_bytes() == b"an earlier reel"
        assert not _temp_files(disk)
    # (a fresh mount: FFmpeg keeps the deleted temp file of an output whose header could not
    # be written open until the process ends, so the full one cannot be remounted)
    with _tmpfs(tmp_path / "ro") as ro:
        _remount_ro(ro)
        r = cli("compose", reel, "-o", ro / "reel.mp4")
        _one_line_error(r, 8, f"cannot write {ro / 'reel.mp4'}", "read-only file system")


def test_read_only_project_and_cache_parents_are_one_line(cli: Run, tmp_path: Path) -> None:
    shot = _shot(tmp_path / "shots")
    with _tmpfs(tmp_path / "ro") as ro:
        _remount_ro(ro)
        r = cli("sketch", shot, "--project", ro / "build")
        _one_line_error(r, 8, f"cannot write {ro / 'build'}", "read-only file system")
        r = cli("render", shot, "--cache", ro / "cache", "--project", tmp_path / "build")
        _one_line_error(r, 8, f"cannot write {ro / 'cache'}", "read-only file system")


def test_injected_disk_full_at_the_write_calls(
    cli: Run, tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no filesystem can be mounted, the same fault injected at the writes."""
    shot = _shot(tmp_path / "shots")
    assert cli("sketch", shot).exit_code == 0  # type: ignore[attr-defined]
    layout = (project / "fox" / "layout.json").read_bytes()
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    r = cli("sketch", shot, "--force")
    _one_line_error(r, 8, "cannot write", "no space left on device")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert (project / "fox" / "layout.json").read_bytes() == layout
    assert not _temp_files(project)


# --- subprocesses: what a real terminal or make does --------------------------------------
def _env(tmp_path: Path, cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SHOTCRAFT_CACHE=str(cache_dir), SHOTCRAFT_PROJECT=str(tmp_path / "build"))
    return env


def _shotcraft(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "shotcraft", *map(str, args)]


def test_stdout_on_dev_full_is_one_line(tmp_path: Path, cache_dir: Path) -> None:
    shot = _shot(tmp_path / "shots")
    for extra in (["--json"], []):
        with open("/dev/full", "w") as full:
            r = subprocess.run(
                _shotcraft("sketch", shot, *extra),
                stdout=full,
                stderr=subprocess.PIPE,
                env=_env(tmp_path, cache_dir),
                text=True,
                timeout=120,
            )
        assert r.returncode == 8, r.stderr
        assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
        assert "cannot write standard output: no space left on device" in r.stderr


def _importing_the_app(pid: int) -> bool:
    """True once the process has loaded an extension module only the app's imports load
    (Typer and rich pull in _json, _datetime, ...): the signal then lands during them."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return True
    return any(f"/{m}." in maps for m in ("_json", "_datetime", "_lzma", "_bz2", "_uuid"))


def test_ctrl_c_at_any_moment_exits_130_without_a_traceback(
    tmp_path: Path, cache_dir: Path
) -> None:
    shot = _shot(tmp_path / "shots", duration=4.0, w=320, h=192)
    rng = random.Random(12)
    # None: as soon as the app's imports begin (typer, rich); then during sketch .. render
    for delay in (None, None, *(rng.uniform(0.3, 1.5) for _ in range(2))):
        p = subprocess.Popen(
            _shotcraft("render", shot),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(tmp_path, cache_dir),
            text=True,
        )
        if delay is None:
            deadline = time.monotonic() + 20
            while not _importing_the_app(p.pid) and time.monotonic() < deadline:
                time.sleep(0.001)
        else:
            time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        if p.returncode == 0:
            continue  # it finished first
        assert p.returncode == 130, (delay, err)
        assert "Traceback" not in err, (delay, err)
        assert "interrupted" in err
        if (tmp_path / "build").exists():
            assert not _temp_files(tmp_path / "build")


def _kill_at_random(cmd: list[str], env: dict[str, str], delay: float) -> int:
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(delay)
    p.kill()
    return p.wait(timeout=60)


def _scratch_of_dead_runs() -> list[Path]:
    from shotcraft.fsutil import pid_alive

    out = []
    for d in Path(tempfile.gettempdir()).glob("shotcraft-reel-*"):
        pid = d.name.split("-")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            out.append(d)
    return out


def test_sigkill_at_random_points_of_render_and_compose(tmp_path: Path, cache_dir: Path) -> None:
    env = _env(tmp_path, cache_dir)
    shots = [_shot(tmp_path / "shots", f"s{i}.toml", duration=2.0, w=320, h=192) for i in (1, 2)]
    reel = tmp_path / "reel.toml"
    reel.write_text(
        "version = 1\n[reel]\nsize = [320, 192]\nfps = 12\n"
        + "".join(f"[[clips]]\nshot = '{s}'\n" for s in shots)
        + "transition = { kind = 'crossfade', duration = 0.5 }\n"
    )
    build = tmp_path / "build"
    out = build / "reel.mp4"
    subprocess.run(_shotcraft("render", shots[0]), env=env, check=True, capture_output=True)
    earlier = (build / "s1" / "clip.mp4").read_bytes()
    rng = random.Random(1212)
    for _ in range(3):  # render of a new shot, and a forced redo of a finished one
        _kill_at_random(_shotcraft("render", shots[1]), env, rng.uniform(0.3, 2.0))
        _kill_at_random(_shotcraft("render", shots[0], "--force"), env, rng.uniform(0.3, 2.0))
        for s in ("s1", "s2"):
            clip = build / s / "clip.mp4"
            if clip.exists():  # never half a clip under its final name
                assert probe(clip).frames == 24
        s1 = (build / "s1" / "clip.mp4").read_bytes()
        assert s1 == earlier or probe(build / "s1" / "clip.mp4").frames == 24
    r = subprocess.run(
        _shotcraft("render", *shots), env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert not _temp_files(build)
    for _ in range(3):
        _kill_at_random(_shotcraft("compose", reel), env, rng.uniform(0.3, 1.5))
        if out.exists():
            assert probe(out).frames == 24 + 24 - 6
    r = subprocess.run(_shotcraft("compose", reel), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert probe(out).frames == 42
    assert not _temp_files(build)
    assert not _scratch_of_dead_runs()
    r = subprocess.run(
        _shotcraft("cache", "verify"), env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_two_renders_of_one_shot_at_once_render_it_once(tmp_path: Path, cache_dir: Path) -> None:
    env = _env(tmp_path, cache_dir)
    shot = _shot(tmp_path / "shots", duration=2.0, w=320, h=192)
    procs = [
        subprocess.Popen(
            _shotcraft("render", shot, "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["ran"] for r in results) == [False, True]
    assert probe(tmp_path / "build" / "fox" / "clip.mp4").frames == 24
