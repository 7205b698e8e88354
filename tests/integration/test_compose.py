"""compose: decoded reels have the frames, sizes and blends the reel file implies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.media.probe import frames, probe


def _flat_clip(path: Path, color: tuple[int, int, int], n: int, size=(64, 48), fps=12) -> None:
    with VideoWriter(path, size, fps, EncoderSettings(crf=0, preset="ultrafast", gop=fps)) as w:
        for _ in range(n):
            w.write(np.full((size[1], size[0], 3), color, dtype=np.uint8))


def _reel(
    tmp_path: Path, project: Path, body: str, clips: dict[str, tuple[tuple[int, int, int], int]]
) -> Path:
    for name, (color, n) in clips.items():
        (tmp_path / f"{name}.toml").write_text(f"version = 1\n[shot]\nid = '{name}'\n")
        _flat_clip(project / name / "clip.mp4", color, n)
    reel = tmp_path / "reel.toml"
    reel.write_text("version = 1\n[reel]\nsize = [64, 48]\nfps = 12\n" + body)
    return reel


def test_crossfade_reel_has_the_right_frames_and_blend(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'b.toml'\n"
        "transition = { kind = 'crossfade', duration = 0.25 }\n",  # 3 frames at 12 fps
        {"a": ((200, 40, 40), 12), "b": ((40, 40, 200), 12)},
    )
    r = cli("compose", reel, "--json")
    assert r.exit_code == 0, r.output
    out = project / "reel.mp4"
    assert json.loads(r.output)["frames"] == 21
    info = probe(out)
    assert info.frames == 12 + 12 - 3 and info.size == (64, 48)
    decoded = list(frames(out))
    mid = decoded[12 - 3 + 1].astype(float).mean(axis=(0, 1))  # the middle of the 3 blended
    assert mid == pytest.approx([120, 40, 120], abs=6)
    assert decoded[0].astype(float).mean(axis=(0, 1)) == pytest.approx([200, 40, 40], abs=6)
    assert decoded[-1].astype(float).mean(axis=(0, 1)) == pytest.approx([40, 40, 200], abs=6)


def test_cuts_trims_and_conforming(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\ntrim = [0.5, 1.0]\n[[clips]]\nshot = 'b.toml'\n",
        {"a": ((200, 40, 40), 12), "b": ((40, 200, 40), 12)},
    )
    # clip b at another size: scaled to the reel's size, with a warning
    _flat_clip(project / "b" / "clip.mp4", (40, 200, 40), 12, size=(32, 24))
    r = cli("compose", reel, "-o", tmp_path / "out.mp4")
    assert r.exit_code == 0, r.output
    assert "scaled" in r.output
    info = probe(tmp_path / "out.mp4")
    assert info.frames == 6 + 12 and info.size == (64, 48)


def test_missing_clip_exits_7_and_names_the_command(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'c.toml'\n",
        {"a": ((1, 2, 3), 4)},
    )
    (tmp_path / "c.toml").write_text("version = 1\n")
    r = cli("compose", reel)
    assert r.exit_code == 7
    assert "clip 'c' is not rendered yet" in r.output and "shotcraft render" in r.output
    assert not (project / "reel.mp4").exists()


def test_transition_longer_than_a_clip_is_refused(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'b.toml'\n"
        "transition = { kind = 'dip', duration = 2.0 }\n",
        {"a": ((1, 2, 3), 6), "b": ((1, 2, 3), 6)},
    )
    r = cli("compose", reel)
    assert r.exit_code == 3 and "clips[1].transition.duration" in r.output
