"""What every stage shares: settings, the loaded shot context, results, input digests."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotcraft.backends import BackendPool
from shotcraft.backends.base import ModelBackend
from shotcraft.errors import MissingInput, SpecError
from shotcraft.executors.segments import SEGMENT_GOPS
from shotcraft.geometry import even_size
from shotcraft.progress import Reporter, SilentReporter
from shotcraft.project import Inputs, ShotPaths, State, shot_digest
from shotcraft.spec import Preset, Shot, load_preset, load_shot
from shotcraft.spec.model import ModelSpec

if TYPE_CHECKING:
    from shotcraft.cache import Cache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True, slots=True)
class Settings:
    """Options that apply to every stage; passed explicitly, never global."""

    project: Path = Path("build")
    cache_dir: Path | None = None
    force: bool = False
    preset: str | None = None
    model: str | None = None
    device: str = "auto"
    reporter: Reporter = field(default_factory=SilentReporter)
    # GOPs per encoded segment (see executors.segments): part of what a clip's bytes depend on
    segment_gops: int = SEGMENT_GOPS
    # one backend object per model for everything these settings run (see BackendPool)
    backends: BackendPool = field(default_factory=BackendPool, compare=False)

    def upstream(self) -> Settings:
        """Settings for the stages a stage runs first: --force applies to the stage asked for."""
        return dataclasses.replace(self, force=False)

    @property
    def cache(self) -> Cache:
        from shotcraft.cache import Cache, default_cache_dir  # filelock: only when it is used

        return Cache(default_cache_dir(self.cache_dir))


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: str
    shot: str
    ran: bool  # False: inputs unchanged, nothing done
    outputs: tuple[str, ...]
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "shot": self.shot,
            "ran": self.ran,
            "outputs": list(self.outputs),
            "seconds": round(self.seconds, 4),
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class ShotContext:
    shot: Shot
    preset: Preset
    paths: ShotPaths
    shot_digest: Inputs

    @property
    def state(self) -> State:
        return State(self.paths)


def load_context(shot_file: Path, settings: Settings) -> ShotContext:
    try:
        shot = load_shot(shot_file)
    except SpecError as e:
        _missing_since_sketch(shot_file, e, settings)
        raise
    if settings.model:
        base = shot.model or ModelSpec(id=settings.model)
        shot = dataclasses.replace(shot, model=dataclasses.replace(base, id=settings.model))
    preset = load_preset(settings.preset or shot.preset)
    return ShotContext(shot, preset, ShotPaths.of(settings.project, shot.id), shot_digest(shot))


def sketch_inputs(ctx: ShotContext) -> Inputs:
    return Inputs(
        {
            "stage": "sketch",
            "shot": ctx.shot_digest,
            "preset": ctx.preset.name,
            "storyboard_steps": ctx.preset.storyboard_steps,
        }
    )


def variants_inputs(ctx: ShotContext, count: int) -> Inputs:
    return Inputs({"stage": "variants", "sketch": sketch_inputs(ctx), "count": count})


def refine_inputs(ctx: ShotContext, pick: int) -> Inputs:
    return Inputs(
        {
            "stage": "refine",
            "sketch": sketch_inputs(ctx),
            "pick": pick,
            "animatic_scale": ctx.preset.animatic_scale,
        }
    )


def render_size(shot: Shot, preset: Preset) -> tuple[int, int]:
    return even_size(shot.size, preset.scale, minimum=16)


def _missing_since_sketch(shot_file: Path, error: SpecError, settings: Settings) -> None:
    """An asset that was there when the shot was sketched and is gone now is a missing input
    (exit 7), not a bad shot file (exit 3)."""
    if not error.problems or not all(p.missing_file for p in error.problems):
        return
    try:
        data = tomllib.loads(Path(shot_file).read_text(encoding="utf-8-sig"))  # BOM: see load
        sid = str(data.get("shot", {}).get("id", Path(shot_file).stem))
    except (OSError, ValueError, AttributeError):
        return
    if ShotPaths.of(settings.project, sid).state.is_file():
        lines = "; ".join(error.lines())
        raise MissingInput(
            f"{lines}; it was there when '{sid}' was sketched: restore it or change the shot"
        ) from None


def has_video_pass(shot: Shot, painter: object) -> bool:
    """Whether the shot gets a video pass: a `[video]` table, or an image model with a
    motion adapter (AnimateDiff). Asked before the video pass's modules are imported, which
    a drawn shot never needs."""
    return shot.video is not None or (isinstance(painter, ModelBackend) and painter.has_video_pass)
