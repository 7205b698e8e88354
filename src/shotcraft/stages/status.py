"""status: which stages of a shot are up to date, which are stale and why (structured: the CLI
formats it)."""

from __future__ import annotations

from pathlib import Path

from shotcraft.stages.common import Settings, load_context
from shotcraft.stages.pipeline import Pipeline, ShotStatus


def shot_status(shot_file: Path, settings: Settings) -> ShotStatus:
    return Pipeline(load_context(shot_file, settings), settings).status()
