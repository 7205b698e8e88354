"""shotcraft's command line: parse, call the library, map errors to exit codes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from shotcraft import __version__
from shotcraft.cli import cache_cmd
from shotcraft.cli.options import (
    AddressOpt,
    CacheOpt,
    ExecutorOpt,
    ForceOpt,
    JobsOpt,
    JsonOpt,
    PresetOpt,
    ProjectOpt,
    QuietOpt,
    ShotsArg,
)
from shotcraft.cli.output import Output, user_errors


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


app = typer.Typer(
    name="shotcraft",
    help=(
        "Staged, cost-aware video generation from TOML shot files.\n\n"
        "sketch (layout, ms) -> refine (motion, s) -> render (frames, the expensive stage) "
        "-> compose (a reel). Each stage writes to the project folder (default ./build), "
        "skips itself when its inputs are unchanged, and runs the stages before it when "
        "they are stale.\n\n"
        "Exit codes: 0 ok, 2 usage, 3 invalid shot or reel file, 4 backend unavailable, "
        "5 render failed, 6 over budget, 7 an input is missing, 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(cache_cmd.app, name="cache")


def _settings(project: Path, cache: Path | None, output: Output, **kw: Any) -> Any:
    from shotcraft.stages.common import Settings

    return Settings(project=project, cache_dir=cache, reporter=output, **kw)


def _run_each(shots: list[Path], settings: Any, output: Output, step: Any) -> None:
    """Each shot in order through the stage runner: `step(pipeline)` runs the stage asked."""
    from shotcraft.stages.common import load_context
    from shotcraft.stages.pipeline import Pipeline

    results = []
    for shot_file in shots:
        ctx = load_context(shot_file, settings)
        result = step(Pipeline(ctx, settings))
        results.append(result)
        if result.ran:
            outs = ", ".join(result.outputs)
            output.result(f"{result.shot}: {result.stage} done in {result.seconds:.2f}s -> {outs}")
        else:
            output.result(f"{result.shot}: {result.stage} is up to date (nothing to do)")
    data = [r.to_json() for r in results]
    output.emit_json(data if len(data) != 1 else data[0])


@app.command()
@user_errors
def sketch(
    shots: ShotsArg,
    variants: Annotated[
        int,
        typer.Option(
            "--variants", "-n", min=0, max=32, help="Also make N alternative layouts in variants/."
        ),
    ] = 0,
    preset: PresetOpt = None,
    project: ProjectOpt = Path("build"),
    cache: CacheOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Plan the layout: layout.json, storyboard.png and the render estimate (milliseconds)."""
    out = Output(quiet, json_)
    settings = _settings(project, cache, out, force=force, preset=preset)

    def step(pipeline: Any) -> Any:
        r = pipeline.sketch(variants=variants)
        if r.ran and "estimate" in r.details:
            e = r.details["estimate"]
            out.result(
                f"{r.shot}: render estimate {e['seconds']:.1f}s "
                f"({e['frames']} frames, {e['layers_to_make']} layers to make, "
                f"{e['layers_cached']} cached"
                + (f", {e['denoiser_calls']} denoiser calls" if e.get("denoiser_calls") else "")
                + ")"
                + (f"; {e['note']}" if e.get("note") else "")
            )
        return r

    _run_each(shots, settings, out, step)


@app.command()
@user_errors
def refine(
    shots: ShotsArg,
    pick: Annotated[
        int | None,
        typer.Option(
            "--pick",
            "-k",
            min=0,
            help="Commit to variant K from `sketch --variants` (0 = the base layout); "
            "remembered for later stages.",
        ),
    ] = None,
    controls: Annotated[
        bool,
        typer.Option(
            "--controls", help="Also write per-frame depth maps and instance masks to controls/."
        ),
    ] = False,
    preset: PresetOpt = None,
    project: ProjectOpt = Path("build"),
    cache: CacheOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Plan the motion: motion.json (every frame's transforms) and a quarter-size animatic.mp4."""
    out = Output(quiet, json_)
    settings = _settings(project, cache, out, force=force, preset=preset)
    _run_each(shots, settings, out, lambda p: p.refine(pick=pick, controls=controls))


@app.command()
@user_errors
def render(
    shots: ShotsArg,
    preset: PresetOpt = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            min=0.0,
            help="Refuse (exit 6) before any work if the estimate is over this many seconds.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Paint with this diffusers "
            "model (hub id or local folder) instead of the shot's model table.",
        ),
    ] = None,
    device: Annotated[
        Device, typer.Option("--device", help="Where the diffusers backend runs.")
    ] = Device.auto,
    previews: Annotated[
        bool | None,
        typer.Option(
            "--previews/--no-previews",
            help="Also make the storyboard and the animatic (default: the preset's `previews`).",
            show_default=False,
        ),
    ] = None,
    jobs: JobsOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    project: ProjectOpt = Path("build"),
    cache: CacheOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Render the clip (clip.mp4, render.json, clip.d); plans the layout and motion first if
    they are stale (previews only with --previews)."""
    out = Output(quiet, json_)
    settings = _settings(
        project, cache, out, force=force, preset=preset, model=model, device=device.value
    )
    spec = _executor(jobs, executor, address)
    if not spec.parallel:
        _run_each(shots, settings, out, lambda p: p.render(budget=budget, previews=previews))
        return
    from shotcraft.executors.run import render_shots

    results = render_shots(shots, settings, spec, budget, previews)
    _report(results, out)


def _executor(jobs: str | None, executor: str, address: str | None) -> Any:
    from shotcraft.errors import UsageError
    from shotcraft.executors.run import ExecutorSpec, parse_jobs

    if executor not in ("local", "ray"):
        raise UsageError(f"--executor: '{executor}' is not one of local, ray")
    if address is not None and executor != "ray":
        raise UsageError("--address is for --executor ray")
    if jobs is None:  # one process here; on Ray, whatever the cluster has
        return ExecutorSpec(executor, 1 if executor == "local" else None, address)
    return ExecutorSpec(executor, parse_jobs(jobs), address)


def _report(results: list[Any], output: Output) -> None:
    for result in results:
        if result.ran:
            outs = ", ".join(result.outputs)
            output.result(f"{result.shot}: {result.stage} done in {result.seconds:.2f}s -> {outs}")
        else:
            output.result(f"{result.shot}: {result.stage} is up to date (nothing to do)")
    data = [r.to_json() for r in results]
    output.emit_json(data if len(data) != 1 else data[0])


@app.command()
@user_errors
def compose(
    reel: Annotated[Path, typer.Argument(help="Reel file (TOML).", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output video: .mp4 (H.264), .mov (ProRes 422) or "
            ".webm (VP9) (default: <project>/<reel id>.mp4)",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="mp4 | mov | webm (default: from the -o extension)"),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Refuse clips of another size or frame rate instead of conforming them.",
        ),
    ] = False,
    render_missing: Annotated[
        bool, typer.Option("--render-missing", help="Render clips that are not rendered yet.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say what was copied and what re-encoded.")
    ] = False,
    jobs: JobsOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    project: ProjectOpt = Path("build"),
    cache: CacheOpt = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Join rendered clips with cuts and transitions; cuts are copied without re-encoding."""
    from shotcraft.stages.compose import compose as run

    out = Output(quiet, json_)
    settings = _settings(project, cache, out)
    spec = _executor(jobs, executor, address)
    r = run(reel, settings, output, fmt, strict, render_missing, verbose, spec)
    d = r.details
    out.result(
        f"{r.shot}: {d['frames']} frames ({d['frames_copied']} copied, "
        f"{d['frames_reencoded']} encoded) in {r.seconds:.2f}s -> {r.outputs[0]}"
    )
    out.emit_json(r.to_json())


@app.command()
@user_errors
def status(
    shots: ShotsArg,
    project: ProjectOpt = Path("build"),
    cache: CacheOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show each shot's stages (up to date, stale and why, missing) and the render estimate."""
    from shotcraft.stages.status import shot_status

    out = Output(False, json_)
    settings = _settings(project, cache, out)
    rows = [shot_status(s, settings) for s in shots]
    if json_:
        data = [r.to_json() for r in rows]
        out.emit_json(data if len(data) != 1 else data[0])
        return
    from rich import box
    from rich.table import Column, Table

    stages = ("sketch", "refine", "render")
    table = Table(
        Column("shot", no_wrap=True),
        *(Column(stage, no_wrap=True) for stage in stages),
        Column("estimate", justify="right", no_wrap=True),
        Column("layers", justify="right", no_wrap=True),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    reasons = []
    for r in rows:
        # each cell says what; below the table, why: the first stale stage's reason (the
        # stages after it are stale because of it)
        first = next((r.stages[s] for s in stages if r.stages[s].reason), None)
        if first is not None and first.changed:
            more = f" and {len(first.changed) - 3} more" if len(first.changed) > 3 else ""
            reasons.append(f"{r.shot}: {', '.join(first.changed[:3])}{more} changed")
        elif first is not None:
            reasons.append(f"{r.shot}: {first.reason}")
        table.add_row(
            r.shot,
            *(r.stages[s].state for s in stages),
            f"{r.estimate.seconds:.1f}s",
            f"{r.layers_cached}/{r.layers} cached",
        )
    out.out.print(table)
    for line in reasons:
        out.out.print(line, highlight=False, markup=False)


@app.command()
@user_errors
def calibrate(
    model: Annotated[
        str | None,
        typer.Option("--model", help="Also time this diffusers model's denoiser steps."),
    ] = None,
    device: Annotated[
        Device, typer.Option("--device", help="Where the diffusers model runs.")
    ] = Device.auto,
    cache: CacheOpt = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Measure this device's rates for the cost model (kept in the cache folder)."""
    from shotcraft import cost
    from shotcraft.cache import default_cache_dir

    out = Output(quiet, json_)
    root = default_cache_dir(cache)
    data = cost.calibrate(root, ("ultrafast", "veryfast", "medium"), out)
    for name, rates in data["presets"].items():
        fps_720 = 1.0 / (rates["pipeline_s_per_mpix"] * 0.9216)
        out.result(f"encoder preset {name}: about {fps_720:.0f} frames/s at 1280x720")
    if model is not None:
        from shotcraft.backends import get_backend
        from shotcraft.backends.base import ModelBackend
        from shotcraft.spec.model import ModelSpec

        backend = get_backend(ModelSpec(id=model), device.value)
        if not isinstance(backend, ModelBackend):
            raise AssertionError("a model id always gives a model backend")
        rates = cost.model_rates(root, backend, out, again=True)
        at512 = cost.denoise_seconds(rates, 1, (512, 512))
        out.result(f"model {model}: {at512:.3f}s per denoiser step at 512x512")
        data = cost.load_calibration(root)
    out.result(f"saved to {cost.calibration_path(root)}")
    out.emit_json(data)


def _version(value: bool) -> None:
    if value:
        from shotcraft.draw import kernels

        drawing = "native kernels" if kernels.NATIVE else "Pillow/numpy kernels (slower)"
        typer.echo(f"shotcraft {__version__} ({drawing})")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    pass


def main() -> None:
    app()
