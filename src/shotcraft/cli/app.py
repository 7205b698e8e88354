"""shotcraft's command line: parse, call the library, map errors to exit codes."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
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

WatchOpt = Annotated[
    bool,
    typer.Option(
        "--watch",
        "-w",
        help="Run again each time a shot file, one of its assets or its preset is saved "
        "(Ctrl-C to stop).",
    ),
]
OpenOpt = Annotated[
    bool,
    typer.Option(
        "--open", help="Show the result (storyboard, animatic, clip) in the system viewer."
    ),
]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


DownloadOpt = Annotated[
    bool,
    typer.Option(
        "--download", help="Let the model be fetched from the hub (default: local files only)."
    ),
]
VerboseModelOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Let the model libraries' own output through."),
]

app = typer.Typer(
    name="shotcraft",
    help=(
        "Staged, cost-aware video generation from TOML shot files.\n\n"
        "sketch (layout, ms) -> refine (motion, s) -> render (frames, the expensive stage) "
        "-> compose (a reel). Each stage writes to the project folder (default ./build), "
        "skips itself when its inputs are unchanged, and runs the stages before it when "
        "they are stale.\n\n"
        "Exit codes: 0 ok, 2 usage, 3 invalid shot or reel file, 4 backend unavailable, "
        "5 render failed, 6 over budget, 7 an input is missing, 8 cannot write (a full disk, "
        "a read-only or unwritable folder), 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(cache_cmd.app, name="cache")


def budget_seconds(value: str | float) -> float:
    """--budget: a finite number of seconds (nan and inf would silently disable the check)."""
    try:
        seconds = float(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise typer.BadParameter(f"must be a finite number of seconds >= 0, got '{value}'")
    return seconds


def _settings(project: Path, cache: Path | None, output: Output, **kw: Any) -> Any:
    from shotcraft.stages.common import Settings

    return Settings(project=project, cache_dir=cache, reporter=output, **kw)


def _run_each(shots: list[Path], settings: Any, output: Output, step: Any) -> None:
    """Each shot in order through the stage runner: `step(pipeline)` runs the stage asked."""
    from shotcraft.project import shot_lock
    from shotcraft.stages.common import load_context
    from shotcraft.stages.pipeline import Pipeline

    results = []
    for shot_file in shots:
        ctx = load_context(shot_file, settings)
        with shot_lock(ctx.paths):  # a second run of this shot waits, then finds it done
            result = step(Pipeline(ctx, settings))
        results.append(result)
        if result.ran:
            outs = ", ".join(result.outputs)
            output.result(f"{result.shot}: {result.stage} done in {result.seconds:.2f}s -> {outs}")
        else:
            output.result(f"{result.shot}: {result.stage} is up to date (nothing to do)")
    data = [r.to_json() for r in results]
    output.emit_json(data if len(data) != 1 else data[0])


def _api() -> Any:
    from shotcraft import api

    return api


def _watch(
    stage: str,
    shots: list[Path],
    settings: Any,
    out: Output,
    open_: bool,
    call: Any,
    budget: float | None = None,
) -> None:
    from shotcraft.cli.watch import watch

    watch(stage, shots, settings, out, call, open_viewer=open_, budget=budget)


def _open(stage: str, shots: list[Path], settings: Any, out: Output, variants: int = 0) -> None:
    from shotcraft.cli.watch import open_artifacts

    open_artifacts(stage, shots, settings, out, variants)


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
    watch: WatchOpt = False,
    open_: OpenOpt = False,
) -> None:
    """Plan the layout: layout.json, storyboard.png and the render estimate (milliseconds)."""
    out = Output(quiet, json_)
    settings = _settings(project, cache, out, force=force, preset=preset)
    if watch:
        _watch("sketch", shots, settings, out, open_, lambda f, s: _api().sketch(f, s, variants))

    def step(pipeline: Any) -> Any:
        r = pipeline.sketch(variants=variants)
        if r.ran and "estimate" in r.details:
            e = r.details["estimate"]
            out.result(
                f"{r.shot}: render estimate {e['seconds']:.1f}s ({e['low']:.1f}-{e['high']:.1f}s"
                + (", rough" if e.get("rough") else "")
                + f"; {e['frames']} frames, {e['layers_to_make']} layers to make, "
                f"{e['layers_cached']} cached"
                + (f", {e['denoiser_calls']} denoiser calls" if e.get("denoiser_calls") else "")
                + ")"
                + (f"; {e['note']}" if e.get("note") else "")
            )
        return r

    _run_each(shots, settings, out, step)
    if open_:
        _open("sketch", shots, settings, out, variants)


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
            max=32,  # sketch makes at most 32 variants
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
    watch: WatchOpt = False,
    open_: OpenOpt = False,
) -> None:
    """Plan the motion: motion.json (every frame's transforms) and a quarter-size animatic.mp4."""
    out = Output(quiet, json_)
    settings = _settings(project, cache, out, force=force, preset=preset)
    if watch:
        _watch(
            "refine", shots, settings, out, open_, lambda f, s: _api().refine(f, s, pick, controls)
        )
    _run_each(shots, settings, out, lambda p: p.refine(pick=pick, controls=controls))
    if open_:
        _open("refine", shots, settings, out)


@app.command()
@user_errors
def render(
    shots: ShotsArg,
    preset: PresetOpt = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            parser=budget_seconds,
            help="Refuse (exit 6) before any work if the estimate is over this many seconds.",
        ),
    ] = None,
    fit_budget: Annotated[
        float | None,
        typer.Option(
            "--fit-budget",
            min=0.0,
            help="Render with settings that fit this many seconds: fewer harmonize key "
            "frames, then fewer steps, then a lower scale (least visible first); says what "
            "it changed; exit 6 if nothing fits.",
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
    download: DownloadOpt = False,
    verbose: VerboseModelOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    watch: WatchOpt = False,
    open_: OpenOpt = False,
) -> None:
    """Render the clip (clip.mp4, render.json, clip.d); plans the layout and motion first if
    they are stale (previews only with --previews)."""
    from shotcraft.backends import BackendPool

    out = Output(quiet, json_)
    settings = _settings(
        project,
        cache,
        out,
        force=force,
        preset=preset,
        model=model,
        device=device.value,
        backends=BackendPool(download=download, verbose=verbose),
    )
    if budget is not None and fit_budget is not None:
        from shotcraft.errors import UsageError

        raise UsageError("give --budget (refuses) or --fit-budget (fits), not both")
    spec = _executor(jobs, executor, address)
    if watch:
        # each re-render says what it will cost first; --budget refuses it (and waits)
        _watch(
            "render",
            shots,
            settings,
            out,
            open_,
            lambda f, s: _api().render(f, s, budget, previews),
            budget,
        )
    if not spec.parallel:
        _run_each(
            shots,
            settings,
            out,
            lambda p: p.render(budget=budget, previews=previews, fit_budget=fit_budget),
        )
    else:
        from shotcraft.executors.run import render_shots

        results = render_shots(shots, settings, spec, budget, previews, fit_budget)
        _report(results, out)
    if open_:
        _open("render", shots, settings, out)


def _executor(jobs: str | None, executor: str, address: str | None) -> Any:
    from shotcraft.errors import UsageError
    from shotcraft.executors.spec import ExecutorSpec, parse_jobs

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
            f"{r.estimate.seconds:.1f}s" + ("~" if r.estimate.source == "rough" else ""),
            f"{r.layers_cached}/{r.layers} cached",
        )
    out.out.print(table)
    for line in reasons:
        out.out.print(line, highlight=False, markup=False)


@app.command()
@user_errors
def mcp(
    root: Annotated[
        Path,
        typer.Option(
            "--root",
            help="Project root: the server reads and writes only under it, and relative paths "
            "in tool calls are relative to it.",
            show_default=False,
        ),
    ],
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-p",
            help="Project folder for artifacts (default: ROOT/build).",
            show_default=False,
        ),
    ] = None,
    cache: CacheOpt = None,
    device: Annotated[
        Device, typer.Option("--device", help="Where the diffusers backend runs.")
    ] = Device.auto,
) -> None:
    """Serve the stages as Model Context Protocol tools over stdio, for AI agents."""
    try:
        from shotcraft.cli.mcp_server import serve
    except ImportError as e:
        from shotcraft.errors import BackendUnavailable

        raise BackendUnavailable(
            f"shotcraft mcp needs the mcp extra ({e.name or 'mcp'} is missing); install it "
            "with: pip install 'shotcraft[mcp]'"
        ) from None
    serve(root, project, cache, device.value)


@app.command()
@user_errors
def calibrate(
    model: Annotated[
        str | None,
        typer.Option("--model", help="Also time this diffusers model (at several sizes)."),
    ] = None,
    device: Annotated[
        Device, typer.Option("--device", help="Where the diffusers model runs.")
    ] = Device.auto,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help="Paint sizes to time the model at, e.g. 512x512,1024x576 (default: 256x256, "
            "512x512 and 1024x576; a render times its own sizes when it needs them).",
        ),
    ] = None,
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="Print the rates kept (per machine and model), where they come from and "
            "their recent error; measures nothing.",
        ),
    ] = False,
    cache: CacheOpt = None,
    download: DownloadOpt = False,
    verbose: VerboseModelOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Measure this machine's rates for the cost model (kept in the cache folder)."""
    from shotcraft import cost
    from shotcraft.cache import default_cache_dir

    out = Output(quiet, json_)
    root = default_cache_dir(cache)
    if show:
        data = cost.load_calibration(root)
        for line in cost.describe(data):
            out.result(line)
        out.emit_json(data)
        return
    entry = cost.calibrate(root, ("ultrafast", "veryfast", "medium"), out)
    for name, rates in entry["presets"].items():
        fps_720 = 1.0 / (rates["pipeline_s_per_mpix"] * 0.9216)
        out.result(f"encoder preset {name}: about {fps_720:.0f} frames/s at 1280x720")
    if model is not None and _video_family(model):
        _calibrate_video(root, model, device.value, _sizes(sizes), out)
    elif model is not None:
        from shotcraft.backends import get_backend
        from shotcraft.backends.base import ModelBackend
        from shotcraft.spec.model import ModelSpec

        backend = get_backend(ModelSpec(id=model), device.value, download=download, verbose=verbose)
        if not isinstance(backend, ModelBackend):
            raise AssertionError("a model id always gives a model backend")
        m = backend.size_multiple()  # the sizes asked for are paint sizes: only rounded
        calls = tuple(
            cost.ModelCall(
                "calibration", kind, (max(m, round(w / m) * m), max(m, round(h / m) * m)), 1
            )
            for w, h in _sizes(sizes)
            for kind in ("t2i", "i2i")
        )
        rates = cost.model_rates(root, backend, out, calls, again=True)
        size = max((c.size for c in calls), key=lambda s: s[0] * s[1], default=None)
        size = size or backend.paint_size((1024, 576))
        step = cost.denoise_seconds(rates, 1, size)
        out.result(
            f"model {model}: {step:.3f}s per denoiser step at {size[0]}x{size[1]} "
            f"(calibration took {rates['calibration_s']:.1f}s)"
        )
    out.result(f"saved to {cost.calibration_path(root)}")
    out.emit_json(cost.load_calibration(root))


def _video_family(model: str) -> bool:
    """Whether `model` (a folder or a downloaded hub id) is a [video] model family."""
    from shotcraft.backends.video_base import family_of
    from shotcraft.errors import BackendUnavailable

    try:
        family_of(model)
    except BackendUnavailable:
        return False
    return True


def _calibrate_video(
    root: Path, model: str, device: str, sizes: list[tuple[int, int]], out: Output
) -> None:
    """Time a video model's chunk at each work size (default: its native size at 16:9), its
    default chunk length, with the plate and one subject as references."""
    from shotcraft import cost, cost_video
    from shotcraft.backends.video_base import video_backend
    from shotcraft.spec.model import VideoSpec

    spec = VideoSpec(model=model)
    vb = video_backend(spec, device)
    vs = vb.settings(spec, 24, "a film")
    m = vb.rules.size_multiple
    shapes = [(max(m, round(w / m) * m), max(m, round(h / m) * m)) for w, h in sizes]
    shapes = shapes or [vb.rules.work_size((1280, 720))]
    refs = vb.references(vs, 1)
    calls = [
        cost.ModelCall("calibration", "video-model", s, vb.calls_per_chunk(vs), 1, vs.chunk, refs)
        for s in shapes
    ]
    rates = cost_video.rates(root, vb, vs, calls, out, again=True)
    for c in calls:
        out.result(
            f"video model {model}: {cost_video.chunk_seconds(rates, c):.2f}s per chunk of "
            f"{c.frames} frames at {c.size[0]}x{c.size[1]} with {vs.steps} steps "
            f"(calibration took {float(rates.get('calibration_s', 0.0)):.1f}s)"
        )


def _sizes(text: str | None) -> list[tuple[int, int]]:
    if text is None:
        return []
    try:
        out = [(int(w), int(h)) for w, h in (t.strip().lower().split("x") for t in text.split(","))]
    except ValueError:
        out = []
    if not out or min(min(s) for s in out) < 8:
        from shotcraft.errors import UsageError

        raise UsageError(f"--sizes {text!r}: give sizes as WxH[,WxH...], e.g. 512x512,1024x576")
    return out


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


@contextlib.contextmanager
def _only_the_command_named(argv: list[str]) -> Iterator[None]:
    """Typer builds every command's Click parameters before it parses anything: 9 ms of a
    70 ms-cheap command for shotcraft's, where the command asked for takes 1.3 ms. A
    command line that starts with a command's name builds that one only, while it runs.
    Anything else (no command, an option first, a name no command has, shell completion)
    sees the whole app, with its listing and its "no such command" message."""
    name = argv[1] if len(argv) > 1 else ""
    completing = any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)
    commands = [
        c
        for c in app.registered_commands
        if c.callback is not None
        and (c.name or typer.main.get_command_name(c.callback.__name__)) == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if completing or len(commands) + len(groups) != 1:
        yield
        return
    every = app.registered_commands[:], app.registered_groups[:]
    app.registered_commands[:], app.registered_groups[:] = commands, groups
    try:
        yield
    finally:
        app.registered_commands[:], app.registered_groups[:] = every


def main() -> None:
    import sys

    try:
        with _only_the_command_named(sys.argv):
            app()
    except SystemExit as e:
        code = e.code
    else:  # pragma: no cover - Typer always exits
        code = 0
    # What the command printed may still sit in stdout's buffer; flushed at exit, a full disk
    # (stdout on /dev/full) would be a traceback after the command had already "succeeded".
    try:
        sys.stdout.flush()
    except OSError as e:
        from shotcraft.errors import CannotWrite, is_write_fault

        if isinstance(e, BrokenPipeError) or not is_write_fault(e):
            code = code or 1
        else:
            error = CannotWrite.from_os(e, "standard output")
            print(f"error: {error}", file=sys.stderr)
            code = CannotWrite.exit_code
        # the interpreter's own flush at exit would fail the same way: drop the buffer
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)
