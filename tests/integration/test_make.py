"""Batch renders from make: parallel jobs share one plate; clip.d drives rebuilds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shotcraft.cache import Cache
from shotcraft.media.probe import probe

MAKEFILE = """\
SHOTCRAFT ?= shotcraft
BUILD ?= build
SHOTS := $(wildcard shots/*.toml)
CLIPS := $(patsubst shots/%.toml,$(BUILD)/%/clip.mp4,$(SHOTS))
all: $(CLIPS)
$(BUILD)/%/clip.mp4: shots/%.toml
\t$(SHOTCRAFT) render $< --project $(BUILD)
-include $(CLIPS:.mp4=.d)
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_j4_makes_the_shared_plate_once_and_rebuilds_only_what_changed(
    simple_shot: Callable[..., Path], tmp_path: Path, cache_dir: Path
) -> None:
    for i in range(4):
        simple_shot(0.2 + 0.1 * i, 0.8 - 0.1 * i, f"s{i}.toml")
    (tmp_path / "Makefile").write_text(MAKEFILE)
    shotcraft = f"{sys.executable} -m shotcraft"
    env = {**os.environ, "SHOTCRAFT_CACHE": str(cache_dir)}
    make = ["make", "-j4", f"SHOTCRAFT={shotcraft}", "BUILD=build"]
    done = subprocess.run(make, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    plates = [e for e in Cache(cache_dir).entries() if e.kind == "plate"]
    assert len(plates) == 1  # one entry, made by one process: the others waited and reused it
    assert Cache(cache_dir).counters()["plate"] == {"hits": 3, "misses": 1}
    for i in range(4):
        assert probe(tmp_path / "build" / f"s{i}" / "clip.mp4").frames == 12
        report = json.loads((tmp_path / "build" / f"s{i}" / "render.json").read_text())
        assert report["cache"]["plate"]["key"] == plates[0].key

    # nothing changed: make has nothing to do
    again = subprocess.run(make, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout or again.stdout.strip() == ""
    # touch one shot: only that clip is rebuilt
    time.sleep(1.1)
    shot = tmp_path / "shots" / "s2.toml"
    shot.write_text(shot.read_text().replace("seed = 3", "seed = 5"))
    before = {i: (tmp_path / "build" / f"s{i}" / "clip.mp4").stat().st_mtime_ns for i in range(4)}
    again = subprocess.run(make, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    after = {i: (tmp_path / "build" / f"s{i}" / "clip.mp4").stat().st_mtime_ns for i in range(4)}
    assert [i for i in range(4) if after[i] != before[i]] == [2]
