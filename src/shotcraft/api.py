"""The library API for tools built on shotcraft (watch mode, the MCP server, scripts).

Each stage call returns the same summary dict the CLI prints with `--json`, and raises a
`ShotcraftError` (with the CLI's exit code) for anything the user can act on. This module is
the one place those tools meet the stage library, so a change in how stages run is made here.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotcraft.errors import ShotcraftError, UsageError
from shotcraft.progress import Reporter, SilentReporter

if TYPE_CHECKING:
    from shotcraft.stages.common import Settings

__all__ = [
    "ShotArtifacts",
    "ShotcraftError",
    "animatic_sheet",
    "artifacts",
    "assets",
    "cache_stats",
    "compose",
    "estimate",
    "make_settings",
    "reel_inputs",
    "refine",
    "render",
    "sketch",
    "status",
    "watched_files",
    "why_stale",
]

# With no render to compare against yet, an estimate from measured rates is taken to be
# right within this factor either way (calibration keeps the median of three runs; a busy
# machine is slower, a quiet one a little faster).
DEFAULT_SPREAD = (0.8, 1.25)


def make_settings(
    project: Path | str = Path("build"),
    cache: Path | str | None = None,
    reporter: Reporter | None = None,
    *,
    force: bool = False,
    preset: str | None = None,
    model: str | None = None,
    device: str = "auto",
) -> Settings:
    """The options every call takes, as the CLI builds them from its flags."""
    from shotcraft.stages.common import Settings

    return Settings(
        project=Path(project),
        cache_dir=None if cache is None else Path(cache),
        force=force,
        preset=preset,
        model=model,
        device=device,
        reporter=reporter or SilentReporter(),
    )


def _run(shot_file: Path | str, settings: Settings, step: Any) -> dict[str, Any]:
    """One stage of one shot through the stage runner, holding the shot's lock (a second run
    of the same shot, from the CLI or another tool, waits and then finds it done)."""
    from shotcraft.project import shot_lock
    from shotcraft.stages.common import load_context
    from shotcraft.stages.pipeline import Pipeline

    ctx = load_context(Path(shot_file), settings)
    with shot_lock(ctx.paths):
        result: dict[str, Any] = step(Pipeline(ctx, settings)).to_json()
    return result


def sketch(shot_file: Path | str, settings: Settings, variants: int = 0) -> dict[str, Any]:
    """layout.json, storyboard.png (and `variants` alternatives) with the render estimate."""
    if not 0 <= variants <= 32:
        raise UsageError(f"variants must be within 0..32, got {variants}")
    return _run(shot_file, settings, lambda p: p.sketch(variants=variants))


def refine(
    shot_file: Path | str, settings: Settings, pick: int | None = None, controls: bool = False
) -> dict[str, Any]:
    """motion.json and animatic.mp4 for the picked layout (sketching first if stale)."""
    return _run(shot_file, settings, lambda p: p.refine(pick=pick, controls=controls))


def render(
    shot_file: Path | str,
    settings: Settings,
    budget: float | None = None,
    previews: bool | None = None,
) -> dict[str, Any]:
    """clip.mp4 and render.json; refuses (OverBudget, exit 6) before any work over `budget`.
    Previews (storyboard, animatic) only when asked, here or by the preset."""
    if budget is not None and not budget >= 0:  # NaN too
        raise UsageError(f"budget must be a number of seconds, at least 0, got {budget:g}")
    return _run(shot_file, settings, lambda p: p.render(budget=budget, previews=previews))


def compose(
    reel_file: Path | str,
    settings: Settings,
    output: Path | str | None = None,
    fmt: str | None = None,
    strict: bool = False,
    render_missing: bool = False,
    verbose: bool = False,
) -> dict[str, Any]:
    """The reel video from rendered clips (cuts copied, transitions encoded)."""
    from shotcraft.stages.compose import compose as run

    out = None if output is None else Path(output)
    return run(Path(reel_file), settings, out, fmt, strict, render_missing, verbose).to_json()


def status(shot_file: Path | str, settings: Settings) -> dict[str, Any]:
    """Each stage up to date, stale (and why) or missing, and the render estimate."""
    from shotcraft.stages.status import shot_status

    return shot_status(Path(shot_file), settings).to_json()


def estimate(
    shot_file: Path | str,
    settings: Settings,
    pick: int | None = None,
    measure_model: bool = False,
) -> dict[str, Any]:
    """What a render would cost, with a range, without rendering anything.

    With `measure_model` False a model this machine has not timed yet is not loaded, and the
    estimate says that its time is left out (the range then has no upper end).
    """
    from shotcraft.stages.common import load_context
    from shotcraft.stages.pipeline import Pipeline

    ctx = load_context(Path(shot_file), settings)
    est = Pipeline(ctx, settings).estimate(pick, measure_model=measure_model)
    ratios = _past_ratios(Path(settings.project))
    lo, hi = DEFAULT_SPREAD
    if ratios:
        lo, hi = min(lo, min(ratios)), max(hi, max(ratios))
    basis = (
        f"actual/estimate of {len(ratios)} render(s) in this project"
        if ratios
        else "no render in this project to compare with yet: the default spread"
    )
    return {
        "stage": "estimate",
        "shot": ctx.shot.id,
        "estimate": est.to_json(),
        "range_seconds": [
            round(est.seconds * lo, 3),
            None if est.note else round(est.seconds * hi, 3),
        ],
        "range_basis": basis,
    }


def _past_ratios(project: Path) -> list[float]:
    """actual/estimate of the renders this project has kept (render.json of each shot)."""
    ratios = []
    for report in sorted(project.glob("*/render.json")):
        try:
            data = json.loads(report.read_text())
            est, act = float(data["estimate_seconds"]), float(data["actual_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if est > 0 and act > 0:
            ratios.append(act / est)
    return ratios


def cache_stats(settings: Settings) -> dict[str, Any]:
    """Entries, sizes, hits and misses by kind, as `shotcraft cache stats --json`."""
    from shotcraft.cache import Cache, default_cache_dir

    c = Cache(default_cache_dir(settings.cache_dir))
    entries = c.entries()
    counters = c.counters()
    rows = []
    for kind in sorted({e.kind for e in entries} | set(counters)):
        es = [e for e in entries if e.kind == kind]
        hits = counters.get(kind, {}).get("hits", 0)
        misses = counters.get(kind, {}).get("misses", 0)
        rows.append(
            {
                "kind": kind,
                "entries": len(es),
                "size": sum(e.size for e in es),
                "hits": hits,
                "misses": misses,
                "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
            }
        )
    return {"root": str(c.root), "kinds": rows}


# What watch mode needs to know --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShotArtifacts:
    """Where a shot's artifacts are, for showing them (watch --open, the MCP server)."""

    shot: str
    storyboard: Path
    contact_sheet: Path  # variants/sheet.png
    animatic: Path
    clip: Path


def artifacts(shot_file: Path | str, settings: Settings) -> ShotArtifacts:
    from shotcraft.stages.common import load_context

    paths = load_context(Path(shot_file), settings).paths
    return ShotArtifacts(
        paths.root.name, paths.storyboard, paths.variants / "sheet.png", paths.animatic, paths.clip
    )


def assets(shot_file: Path | str, settings: Settings) -> list[Path]:
    """The pictures a shot names (background and subject images), as absolute paths."""
    from shotcraft.project import assets_of
    from shotcraft.stages.common import load_context

    return [p.resolve() for p in assets_of(load_context(Path(shot_file), settings).shot)]


def watched_files(shot_file: Path | str, settings: Settings) -> list[Path]:
    """The files a shot's stages read: the shot file, its assets and its preset file."""
    from shotcraft.spec.load import find_preset
    from shotcraft.stages.common import load_context

    preset = find_preset(load_context(Path(shot_file), settings).preset.name)
    return [Path(shot_file).resolve(), *assets(shot_file, settings), preset.resolve()]


def reel_inputs(reel_file: Path | str) -> list[Path]:
    """The files a reel reads: its shot files, title-card plates and audio, as absolute paths."""
    from shotcraft.spec import load_reel

    reel = load_reel(Path(reel_file))
    files = [c.shot for c in reel.clips if c.shot is not None]
    files += [c.title.plate for c in reel.clips if c.title is not None and c.title.plate]
    if reel.audio is not None:
        files.append(reel.audio.file)
    return [Path(f).resolve() for f in files]


def animatic_sheet(shot_file: Path | str, settings: Settings, count: int = 8) -> bytes:
    """A PNG of `count` animatic frames, evenly spaced, in rows of four, each numbered: the
    motion at a glance, for a reader who cannot play a video."""
    from PIL import Image, ImageDraw

    from shotcraft.media.probe import frames, probe

    path = artifacts(shot_file, settings).animatic
    total = probe(path).frames
    wanted = sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)})
    picked = [Image.fromarray(f) for i, f in enumerate(frames(path)) if i in wanted]
    w, h = picked[0].size
    cols, pad, head = min(4, len(picked)), 4, 14
    rows = -(-len(picked) // cols)
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + head + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for n, (i, im) in enumerate(zip(wanted, picked, strict=True)):
        x, y = pad + (n % cols) * (w + pad), pad + (n // cols) * (h + head + pad)
        draw.text((x, y), f"frame {i}", fill=(220, 220, 220))
        sheet.paste(im, (x, y + head))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def why_stale(shot_file: Path | str, settings: Settings, stage: str) -> str | None:
    """Why `stage` would run now ("changed: camera.keys, seed", "never run", ...), or None
    when it is up to date."""
    from shotcraft.stages.status import shot_status

    order = {"sketch": ("sketch",), "refine": ("sketch", "refine")}
    order["render"] = (*order["refine"], "render")
    if stage in order:
        stages = shot_status(Path(shot_file), settings).stages
        first = next((stages[s] for s in order[stage] if stages[s].state != "up to date"), None)
        if first is None:
            return None
        return "never run" if first.state == "missing" else first.reason
    raise UsageError(f"unknown stage '{stage}' (sketch, refine or render)")
