"""Rates of a `[video]` model (Wan VACE, LTX, CogVideoX): what its chunks cost on this machine.

A chunk call is timed where the render will run it: at the render's own work size, frame
count and number of reference images, through the very `run` a render makes
(`VideoModelBackend.time_chunk`, on grey frames). Calls of few and of more steps, run short,
long, short (`cost._interleaved_step`), split a chunk into a fixed cost (text encoding, the
VAE encoding the control video and decoding the result) and a cost per denoiser evaluation.
Both are fitted against thousands of latent tokens (latent frames, reference frames included,
times latent tokens a frame) with a fixed, a linear and a quadratic term, so a shape never
timed is priced from the ones that were. The records sit in calibration.json beside the image
models', under the weights, step cache, resolved device and its name, dtype and library
versions. Every render's painted chunks correct the rates of their size bucket (`learn`); a
model never timed here gets a rough figure from its config files (`cost_config`).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotcraft import cost
from shotcraft.cost import ModelCall, RenderEstimate
from shotcraft.progress import Reporter, SilentReporter

if TYPE_CHECKING:
    from shotcraft.backends.video_base import VideoModelBackend, VideoSettings

KIND = "video"
PARTS = ("chunk_step", "chunk_call")
CAL_STEPS = 3  # steps of a timed chunk: each evaluation is timed by its own timestamps
OBSERVED = 5  # chunks of one shape whose timings are kept (their median is the rate)


def record_key(backend: VideoModelBackend, settings: VideoSettings, device: str) -> str:
    """What a video model's rates belong to: the weights and step cache, the resolved device
    and its name, the dtype, the library versions, whether guidance runs."""
    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    cache = f"{settings.cache}:{settings.cache_threshold}" if settings.cache != "none" else "none"
    cfg = " | cfg" if settings.guidance > 1.0 else ""
    return (
        f"video {backend.family} {settings.identity} | cache {cache} | {device} | "
        f"{cost.device_name(device)} | {dtype} | {cost.library_versions()}{cfg}"
    )


def tokens(record: dict[str, Any], c: ModelCall) -> float:
    """Thousands of latent tokens one chunk call works on: its latent frames (and reference
    frames) times the latent tokens of a frame."""
    factor = max(1, int(record.get("frame_factor", 1)))
    latent_frames = (max(1, c.frames) - 1) // factor + 1 + c.references
    return c.size[0] * c.size[1] / float(record.get("token_pixels", 256)) * latent_frames / 1e3


def _part(record: dict[str, Any], part: str, x: float) -> float:
    points = record.get("points", {}).get(part, [])
    at = [float(p[1]) for p in points if cost._near(float(p[0]), x)]
    if at:
        return at[0]
    a, b, c = cost.fit(points)
    return a + b * x + c * x * x


def chunk_seconds(record: dict[str, Any], c: ModelCall) -> float:
    """Seconds of the chunk calls `c` (`c.steps` evaluations each), at the fitted rates,
    corrected by what renders of this size bucket measured."""
    x = tokens(record, c)
    each = _part(record, "chunk_call", x) + c.steps * _part(record, "chunk_step", x)
    factor = record.get("corrections", {}).get(cost.bucket(c.size), {}).get("factor", 1.0)
    return c.calls * each * float(factor)


def _covered(record: dict[str, Any], c: ModelCall) -> bool:
    """Measured at this shape, or within the span of at least cost.MIN_SIZES shapes."""
    xs = [float(p[0]) for p in record.get("points", {}).get("chunk_step", [])]
    x = tokens(record, c)
    if any(cost._near(x, v) for v in xs):
        return True
    return len(xs) >= cost.MIN_SIZES and min(xs) <= x <= max(xs)


def _shapes(calls: Sequence[ModelCall]) -> list[ModelCall]:
    out: dict[tuple[int, int, int, int], ModelCall] = {}
    for c in calls:
        out.setdefault((*c.size, c.frames, c.references), c)
    return list(out.values())


def known_rates(
    cache_root: Path, backend: VideoModelBackend, settings: VideoSettings
) -> dict[str, Any] | None:
    """The model's rates if this machine has timed them, without loading or importing torch
    (the device is then the one `auto` resolves to)."""
    request = backend.device_request
    device = backend.device if "torch" in sys.modules else cost.guess_device(request)
    rec = (
        cost.load_calibration(cache_root)
        .get("models", {})
        .get(record_key(backend, settings, device))
    )
    return dict(rec) if rec else None


def rates(
    cache_root: Path,
    backend: VideoModelBackend,
    settings: VideoSettings,
    calls: Sequence[ModelCall],
    reporter: Reporter | None = None,
    again: bool = False,
) -> dict[str, Any]:
    """The model's rates on this machine, timed at the chunk shapes of `calls` that the rates
    kept do not cover yet (`again`: all of them). This loads the model (`shotcraft calibrate
    --model`; a render is timed by its own chunks instead, see `learn`)."""
    reporter = reporter or SilentReporter()
    device = backend.device
    key = record_key(backend, settings, device)
    record = cost.load_calibration(cache_root).get("models", {}).get(key)
    todo = [c for c in _shapes(calls) if again or record is None or not _covered(record, c)]
    if record is not None and not todo:
        return dict(record)
    shapes = ", ".join(f"{c.size[0]}x{c.size[1]}x{c.frames}" for c in todo)
    reporter.info(
        f"calibrating video model '{backend.model}' on {device} ({cost.device_name(device)}) "
        f"at {shapes} (width x height x frames; once per shape)"
    )
    new = _measure(backend, settings, todo, reporter)
    reporter.info(f"calibration took {new['calibration_s']:.1f}s")

    def change(data: dict[str, Any]) -> None:
        rec = data["models"].get(key) or {
            **_identity(backend, settings, device),
            "source": "calibrated",
        }
        cost._merge(rec, new)
        data["models"][key] = rec

    return dict(cost._update(cache_root, change)["models"][key])


def _measure(
    backend: VideoModelBackend,
    settings: VideoSettings,
    shapes: Sequence[ModelCall],
    reporter: Reporter,
) -> dict[str, Any]:
    """Time a chunk call at each shape (the median of up to cost.MODEL_REPEATS, one where a
    call is slow): its seconds per evaluation, from the evaluations' own timestamps, and the
    rest of the call."""
    if not backend.loaded:
        reporter.info(f"loading video model '{backend.model}'")
    backend.pipe(settings)
    t0 = time.perf_counter()
    m = backend.rules.size_multiple
    out: dict[str, Any] = {
        "points": {p: [] for p in PARTS},
        "token_pixels": m * m,
        "frame_factor": backend.rules.frame_factor,
    }
    load_s, imports = backend.take_startup()
    out["startup"] = (load_s, imports, list(imports) if load_s is not None else [])
    for i, c in enumerate(shapes):
        reporter.info(
            f"  timing {c.size[0]}x{c.size[1]}, {c.frames} frames: chunks of {CAL_STEPS} steps"
        )

        def call(c: ModelCall = c) -> tuple[float, int, float]:
            return backend.time_chunk(settings, c.size, c.frames, c.references, CAL_STEPS)

        if i == 0 and backend.runs == 0:
            first = call()[0]  # a pipeline's first call costs extra
        runs = [call()]
        while len(runs) < cost.MODEL_REPEATS and runs[0][0] <= cost.SLOW_CALL_S:
            runs.append(call())
        per = statistics.median(r[2] for r in runs)
        rest = statistics.median(max(1e-6, r[0] - r[1] * per) for r in runs)
        x = tokens(out, c)
        out["points"]["chunk_step"].append([x, per])
        out["points"]["chunk_call"].append([x, rest])
        if i == 0 and load_s is not None:
            out["warmup_t2i_s"] = max(0.0, first - statistics.median(r[0] for r in runs))
    out["calibration_s"] = time.perf_counter() - t0
    return out


def with_video(
    base: RenderEstimate,
    record: dict[str, Any] | None,
    calls: Sequence[ModelCall],
    model: str,
    loaded: bool,
) -> RenderEstimate:
    """The estimate plus the video model's chunks priced at its rates (measured, or rough ones
    from its config files), its load where this process must load it, the range widened by
    its error bar. With no rates at all the calls are counted, their time left out, and the
    note says so."""
    calls = [c for c in calls if c.kind == "video-model"]
    if not calls:
        return base
    if record is None:
        n = sum(c.evaluations for c in calls)
        note = f"the video model's time ({n} calls) is not included: its files are not here"
        return replace(base, note="; ".join(x for x in (base.note, note) if x))
    painting = sum(chunk_seconds(record, c) for c in calls)
    biggest = max(calls, key=lambda c: chunk_seconds(record, c))
    imports = cost.pending_imports(record)
    load = 0.0
    if not loaded:
        load = float(record.get("load_s", 0.0)) + float(record.get("warmup_t2i_s", 0.0))
        load += sum(imports.values())
    worker = float(record.get("load_s", 0.0)) + float(record.get("warmup_t2i_s", 0.0))
    worker += sum(cost._imports(record).values())
    total = painting + load
    rough = record.get("source") == "rough"
    if rough:
        low, high = total / cost.ROUGH_FACTOR, total * cost.ROUGH_FACTOR
        note = (
            "rough: the video model's time comes from its config files (never timed on this "
            "machine); the first render times it"
        )
    else:
        s = cost.spread(record)
        low, high, note = total * (1 - s), total * (1 + s), ""
    source = "rough" if rough or base.source == "rough" else "calibrated"
    breakdown = dict(base.breakdown)
    breakdown["video"] = breakdown.get("video", 0.0) + painting
    breakdown["model_load"] = breakdown.get("model_load", 0.0) + load
    return replace(
        base,
        seconds=base.seconds + total,
        breakdown=breakdown,
        low=base.low + low,
        high=base.high + high,
        source=source,
        note="; ".join(x for x in (base.note, note) if x),
        worker_startup=base.worker_startup + worker,
        video_seconds=painting,
        video_load=load,
        video_source="rough" if rough else "calibrated",
        video_bucket=cost.bucket(biggest.size),
    )


def learn(
    cache_root: Path,
    backend: VideoModelBackend,
    settings: VideoSettings,
    estimate: RenderEstimate,
    report: dict[str, Any],
) -> None:
    """A render's painted chunks time the model where it ran: each chunk's seconds per
    denoiser evaluation (from the evaluations' own timestamps) and the rest of its call
    (text encoding, the VAE both ways) become the rates at its shape, the median of the last
    OBSERVED chunks of that shape; the first render of a model makes its record. The load the
    render measured joins the recent ones; the render joins the record of recent errors.
    `report`: render.json's video_pass. Chunks read from the cache teach nothing."""
    device = backend.device
    key = record_key(backend, settings, device)
    load_s, imports = backend.take_startup()
    timings = [t for t in report.get("chunk_timings", []) if float(t.get("seconds", 0)) > 0]
    size = tuple(report.get("size", (0, 0)))
    if not timings and load_s is None:
        return
    m = backend.rules.size_multiple

    def change(data: dict[str, Any]) -> None:
        rec = data["models"].get(key) or {
            **_identity(backend, settings, device),
            "source": "measured in renders",
            "token_pixels": m * m,
            "frame_factor": backend.rules.frame_factor,
            "points": {p: [] for p in PARTS},
        }
        data["models"][key] = rec
        if load_s is not None:
            cost.observe_startup(rec, load_s, imports, list(imports))
        observed: dict[str, list[list[float]]] = rec.setdefault("observed", {})
        # a process's first chunk warms the pipeline up: its excess over the chunks of its
        # shape is the warm-up (counted with the load); it teaches the rates only alone
        firsts = []
        for t in timings:
            c = ModelCall(
                "video",
                "video-model",
                (int(size[0]), int(size[1])),
                1,
                1,
                int(t["frames"]),
                int(t.get("references", 0)),
            )
            n, total = int(t.get("evaluations", 0)), float(t["seconds"])
            per = float(t.get("evaluation_seconds", 0.0))
            if per <= 0 and n > 0:  # one evaluation: the chunk in proportion, as a guess
                per = total / (n + 1)
            x = round(tokens(rec, c), 6)
            rest = max(1e-6, total - n * per)
            if t.get("first"):
                firsts.append((x, per, rest))
                continue
            _observe(rec, observed, x, per, rest)
        for x, per, rest in firsts:
            runs = observed.get(f"{x:g}")
            if not runs:  # alone at its shape: less the warm-up measured before, if any
                warm = float(rec.get("warmup_t2i_s", 0.0))
                _observe(rec, observed, x, per, max(1e-6, rest - warm))
                continue
            base = statistics.median(r[1] for r in runs)
            warmups = rec.setdefault("warmup_runs", [])
            warmups.append(round(max(0.0, rest - base), 4))
            del warmups[: -cost.STARTUP_KEPT]
            rec["warmup_t2i_s"] = round(statistics.median(warmups), 4)
        painted = estimate.video_seconds
        actual = sum(float(t["seconds"]) for t in timings)  # less the warm-up (in the load)
        actual -= float(rec.get("warmup_t2i_s", 0.0)) if firsts else 0.0
        if painted > 0 and actual > 0:
            renders = rec.setdefault("renders", [])
            renders.append(
                {
                    "at": round(time.time()),
                    "bucket": estimate.video_bucket,
                    "estimate_s": round(painted, 3),
                    "actual_s": round(actual, 3),
                    "error": round(painted / actual - 1, 4),
                    "source": estimate.video_source,
                }
            )
            del renders[: -cost.HISTORY]

    cost._update(cache_root, change)


def _observe(
    rec: dict[str, Any], observed: dict[str, list[list[float]]], x: float, per: float, rest: float
) -> None:
    """One chunk's seconds per evaluation and rest at `x` thousand tokens join the last
    OBSERVED of its shape; their medians become the rates there."""
    runs = observed.setdefault(f"{x:g}", [])
    runs.append([round(per, 6), round(rest, 6)])
    del runs[:-OBSERVED]
    for i, part in enumerate(PARTS):
        pts = [p for p in rec["points"].setdefault(part, []) if not cost._near(float(p[0]), x)]
        pts.append([x, round(statistics.median(r[i] for r in runs), 6)])
        rec["points"][part] = sorted(pts)


def _identity(backend: VideoModelBackend, settings: VideoSettings, device: str) -> dict[str, Any]:
    return {
        "kind": KIND,
        "model": backend.model,
        "family": backend.family,
        "identity": settings.identity,
        "device": device,
        "device_name": cost.device_name(device),
        "dtype": "bfloat16" if device.startswith("cuda") else "float32",
        "versions": cost.library_versions(),
    }


def describe(rec: dict[str, Any]) -> list[str]:
    """`calibrate --show` lines for one video model record."""
    lines = [
        f"video model {rec.get('model', '?')} ({rec.get('family', '?')})",
        f"  on {rec.get('device')} ({rec.get('device_name')}), {rec.get('dtype')}",
        f"  {rec.get('versions')}",
    ]
    xs = [p[0] for p in rec.get("points", {}).get("chunk_step", [])]
    listed = ", ".join(f"{x:.3g}k" for x in xs)
    shapes = f"{len(xs)} chunk shape{'s' if len(xs) != 1 else ''} ({listed} latent tokens)"
    if rec.get("calibration_s"):
        shapes += f", calibration {float(rec['calibration_s']):.1f}s"
    chunks = sum(len(r) for r in rec.get("observed", {}).values())
    painted = f"; the last {chunks} chunks painted in renders" if chunks else ""
    lines.append(f"  source: {rec.get('source', 'calibrated')}: {shapes}{painted}")
    if rec.get("warmup_t2i_s"):
        lines.append(f"  first chunk of a process: +{float(rec['warmup_t2i_s']):.2f}s (warm-up)")
    lines.extend(cost._startup_lines(rec))
    for part, what in (("chunk_step", "a denoiser evaluation"), ("chunk_call", "a chunk's rest")):
        a, b, c = cost.fit(rec.get("points", {}).get(part, []))
        lines.append(f"  {what}: {a:.4g} + {b:.4g}·k + {c:.4g}·k² s (k: 1000 latent tokens)")
    lines.extend(cost._recent_lines(rec))
    return lines
