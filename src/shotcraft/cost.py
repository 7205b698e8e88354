"""The cost model: work units times rates measured on this machine.

Rates live in `<cache>/calibration.json`, kept per machine so that one cache on shared storage
serves many: the drawing and encoding rates under the CPU that measured them, a model's rates
under the model, the resolved device, its name (GPU or CPU model), the dtype and the library
versions.

- Drawing and encoding: a short calibration (about two seconds, once per machine and encoder
  preset) times the real render loop.
- A model: timed at the paint sizes a render uses, and at no fewer than three sizes spanning
  them (`model_rates`). Each part is fitted against size: a denoiser step as a fixed term plus
  linear and quadratic terms in latent tokens (self-attention grows with their square), the
  VAE decode and encode against pixels, a call's own cost (text encoding, pre- and
  post-processing) against pixels; every point is the median of several runs. The load time
  is measured apart and counted only when the process has to load, and each library's import
  (torch, transformers, diffusers, the pipeline class: seconds, most of a small model's load)
  only where the process has yet to import it.
- Every render's actual time refines a model's rates: a correction per size bucket (`learn`);
  every process that loads the model adds its load and import times to the few recent ones
  kept, whose medians the estimates use (`observe_startup`).
- A model never timed gets a rough estimate from its config files (`cost_config`), marked
  rough, with its error bar.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from shotcraft import __version__
from shotcraft.fsutil import write_json
from shotcraft.progress import Reporter, SilentReporter

if TYPE_CHECKING:
    from shotcraft.backends.base import ModelBackend

CALIBRATION_FILE = "calibration.json"
CAL_SCHEMA = 2  # 2: rates per machine, models fitted against size
CAL_SIZE = (1280, 720)
CAL_FRAMES = 72
CAL_REPEATS = 3  # each run is timed this many times, and the median kept
FIXED_OVERHEAD = 0.08  # opening files, starting the encoder, writing reports (seconds)
PAINTED_S_PER_MPIX = 0.4  # storing a painted layer (resize, PNG) where no rate says better
KEY_S_PER_MPIX = 0.25  # keying a painted sprite (at its paint size), where no rate says better

# model calibration
MODEL_REPEATS = 3  # medians of this many runs...
SLOW_CALL_S = 4.0  # ...or of one, at a size where a single call takes longer than this...
MODEL_TIMED_S = 1.0  # ...or of more, up to MODEL_MAX_REPEATS, until the runs add up to this
MODEL_MAX_REPEATS = 7  # (a short call meets the machine's noise: more runs settle its median)
CAL_STEPS = (1, 6)  # a step is the difference of these two step counts, over their gap (a
# gap of 2 left tens of milliseconds of noise in a few-ms step: 16-step paints came out 30 % over)
CAL_I2I = (4, 0.5)  # steps and strength of the image-to-image timing
MIN_SIZES = 3  # a fit over fewer sizes than this is completed with sizes spanning them
NEAR = 0.1  # a size within this fraction (in pixels) of a measured one counts as measured

# error bars: the drawing rates hold to a few percent; a model's until renders say otherwise
PROCEDURAL_SPREAD = 0.1
MODEL_SPREAD = 0.25
ROUGH_FACTOR = 3.0  # a config-file estimate: within a factor of this, either way
LEARN_WEIGHT = 0.5  # how far one render moves a correction toward what it measured
LEARN_SHARE = 0.25  # a render teaches the model's rates only where the model is this share
HISTORY = 20  # renders remembered per model and machine
STARTUP_KEPT = 5  # loads and imports remembered (their median is the estimate's)
IMPORTS_VERSION = 2  # 2: a known family's own pipeline class (1: diffusers' auto pipelines,
# whose import a render of a known family no longer pays: a record of 1 is timed afresh)


@dataclass(frozen=True, slots=True)
class RenderEstimate:
    seconds: float
    frames: int
    megapixels: float  # per frame
    layers_to_make: int
    layers_cached: int
    breakdown: dict[str, float]
    denoiser_calls: int = 0  # evaluations the render is expected to make
    note: str = ""  # what the estimate leaves out or how rough it is, if anything
    low: float = 0.0  # the range the actual time is expected in
    high: float = 0.0
    source: str = "calibrated"  # calibrated | rough (from config files) | procedural
    model_seconds: float = 0.0  # the model's share of `seconds` (loading included)
    bucket: str = ""  # the size bucket of the model's largest share (see `learn`)
    # what `model_load` in the breakdown is made of: "load_s", "warmup_s" and each import
    # counted (module -> seconds), so that a render can tell its painting from its start-up
    startup: dict[str, float] = field(default_factory=dict)
    # what a fresh worker process pays before its first model call: the model's load and
    # warm-up and every library import the record timed (imported here or not)
    worker_startup: float = 0.0
    # a [video] model's share (see cost_video): its chunks' painting, its load where this
    # process must load it, where its rates come from, the size bucket its chunks learn in
    video_seconds: float = 0.0
    video_load: float = 0.0
    video_source: str = ""
    video_bucket: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "low": round(self.low or self.seconds, 3),
            "high": round(self.high or self.seconds, 3),
            "source": self.source,
            "rough": self.source == "rough",
            "frames": self.frames,
            "megapixels_per_frame": round(self.megapixels, 4),
            "layers_to_make": self.layers_to_make,
            "layers_cached": self.layers_cached,
            "denoiser_calls": self.denoiser_calls,
            **({"note": self.note} if self.note else {}),
            "breakdown": {k: round(v, 3) for k, v in self.breakdown.items()},
        }

    def describe(self) -> str:
        """`12.3s (10.1-15.2s)`, and `rough` where it comes from config files."""
        rough = ", rough" if self.source == "rough" else ""
        return f"{self.seconds:.1f}s ({self.low:.1f}-{self.high:.1f}s{rough})"


@dataclass(frozen=True, slots=True)
class ModelCall:
    """Model calls of one kind a render will make: `calls` calls of `steps` denoiser steps at
    paint size `size`, each step over `frames` frames (video)."""

    what: str  # "plate", "sprite:fox", "harmonize", "video"
    kind: str  # "t2i", "i2i", "v2v" (image model), "video-model" (a [video] model's chunks)
    size: tuple[int, int]
    steps: int
    calls: int = 1
    frames: int = 1
    references: int = 0  # reference images each call is given (a video model's)

    @property
    def evaluations(self) -> int:
        return self.steps * self.calls


# --- the machine ---------------------------------------------------------------------------
def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def gpu_name() -> str:
    """The GPU model: from the NVIDIA driver's /proc files (no torch), else from torch where a
    model has already imported it."""
    try:
        for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return str(torch.cuda.get_device_name(0))
        except (RuntimeError, AssertionError):
            pass
    return "unknown GPU"


def guess_device(request: str) -> str:
    """Where `auto` will run, without importing torch (sketch and status): what
    `resolve_device` would say on nearly every machine."""
    if request != "auto":
        return request
    try:
        if any(Path("/proc/driver/nvidia/gpus").iterdir()):
            return "cuda"
    except OSError:
        pass
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return gpu_name()
    if device == "mps":
        return f"Apple {platform.machine()} GPU"
    return cpu_name()


def library_versions() -> str:
    """torch and diffusers versions, read from their metadata (nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("torch", "diffusers"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} -")
    return ", ".join(out)


def machine_key() -> str:
    """What the drawing and encoding rates belong to: this CPU and the renderer's code."""
    return f"{cpu_name()} | {platform.machine()} | {renderer_id()}"


def model_key(backend: ModelBackend, device: str) -> str:
    """What a model's rates belong to: the weights, the resolved device and its name, the
    dtype and the library versions (and whether guidance doubles every step's batch)."""
    cfg = " | cfg" if backend.guidance() > 1.0 else ""
    return (
        f"{backend.identity} | {device} | {device_name(device)} | {backend.precision(device)}"
        f" | {library_versions()}{cfg}"
    )


# --- the file ------------------------------------------------------------------------------
def calibration_path(cache_root: Path) -> Path:
    return Path(cache_root) / CALIBRATION_FILE


def load_calibration(cache_root: Path) -> dict[str, Any]:
    """calibration.json, or {} when there is none or it is not one of ours (damaged, or of
    another schema): the rates are then measured again."""
    try:
        data = json.loads(calibration_path(cache_root).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    ok = isinstance(data, dict) and data.get("schema") == CAL_SCHEMA
    ok = ok and all(isinstance(data.get(k, {}), dict) for k in ("machines", "models"))
    return data if ok else {}


def _update(cache_root: Path, change: Any) -> dict[str, Any]:
    """Read, change and write calibration.json under its lock (other processes share it)."""
    root = Path(cache_root)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / "calibration.lock")):
        data = load_calibration(root) or {"schema": CAL_SCHEMA, "machines": {}, "models": {}}
        data.setdefault("machines", {})
        data.setdefault("models", {})
        change(data)
        write_json(calibration_path(root), data)
    return data


def _synthetic_shot() -> Any:
    from shotcraft.spec.model import Background, Camera, CameraKey, Shot, Subject, SubjectKey

    return Shot(
        id="calibration",
        source=Path("calibration.toml"),
        duration=CAL_FRAMES / 24,
        fps=24,
        size=CAL_SIZE,
        seed=1,
        preset="preview",
        background=Background(colors=((30, 50, 80), (240, 170, 100))),
        # a pan, then a zoom on top: shifted layers (the fast case) and rescaled ones
        camera=Camera(
            (
                CameraKey(0.0),
                CameraKey(CAL_FRAMES / 48, pan=(0.05, 0.0)),
                CameraKey(CAL_FRAMES / 24, pan=(0.1, 0.0), zoom=1.1),
            )
        ),
        subjects=tuple(
            Subject(
                id=f"s{i}",
                shape="capsule",
                color=(200, 90, 60),
                motion="walk",
                depth=0.3 * i,
                keys=(SubjectKey(0.0, at=(0.2, 0.85)), SubjectKey(CAL_FRAMES / 24, at=(0.8, 0.85))),
            )
            for i in range(3)
        ),
    )


def _measure(encoder_preset: str) -> dict[str, float]:
    from shotcraft.backends.procedural import ProceduralBackend
    from shotcraft.draw.compositor import Compositor
    from shotcraft.executors.segments import SEGMENT_GOPS, plan_segments
    from shotcraft.layout.planner import plan, plate_size
    from shotcraft.media.encode import EncoderSettings
    from shotcraft.motion.track import compute_motion
    from shotcraft.stages.frames import MAX_SEGMENT_WORKERS, cores, draw_segments, drawer

    shot = _synthetic_shot()
    backend = ProceduralBackend()
    layout = plan(shot)
    motion = compute_motion(shot, layout)
    psize = plate_size(shot)
    plate_times = []
    for _ in range(CAL_REPEATS):  # the median: the first draw also meets cold caches
        t0 = time.perf_counter()
        plate = backend.plate(shot.background, psize)
        plate.to_png()  # a new plate is also written to the cache: part of its cost
        plate_times.append(time.perf_counter() - t0)
    plate_s = statistics.median(plate_times)
    t0 = time.perf_counter()
    sprites = {s.id: backend.sprite(s, layout.subject(s.id), 160) for s in shot.subjects}
    sprite_s = (time.perf_counter() - t0) / len(sprites)
    comp = Compositor(plate, CAL_SIZE, sprites)
    mpix = CAL_SIZE[0] * CAL_SIZE[1] / 1e6
    painted_s = _painted_seconds(psize) / (psize[0] * psize[1] / 1e6)
    n = 12
    t0 = time.perf_counter()
    for i in range(n):
        comp.frame_array(motion, i)
    composite = (time.perf_counter() - t0) / n / mpix

    # The render's own loop: one-GOP segments side by side, one per core. Whole rounds of
    # segments (one, then three), so the slope is the throughput of the cores together.
    workers = min(cores(), MAX_SEGMENT_WORKERS)
    draw = drawer(comp, motion)
    gop = shot.fps // 2  # half-second segments: the calibration stays short

    def pipeline(frames: int) -> float:
        """Seconds to draw and encode `frames` frames of the shot (round and round): the
        median of a few tries (a render meets the machine as it usually is, not at its
        quietest)."""
        times = []
        for _ in range(CAL_REPEATS):
            with tempfile.TemporaryDirectory() as tmp:
                settings = EncoderSettings(preset=encoder_preset, gop=gop)
                t0 = time.perf_counter()
                draw_segments(
                    lambda i: draw(i % motion.frames),
                    Path(tmp) / "c.mp4",
                    plan_segments(frames, gop, SEGMENT_GOPS),
                    CAL_SIZE,
                    shot.fps,
                    settings,
                    workers=workers,
                )
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    # two lengths: the slope is the cost of a frame, what is left the encoders' start and end
    n_short, n_full = gop * workers, 3 * gop * workers
    short, full = pipeline(n_short), pipeline(n_full)
    per_frame = max(full - short, 1e-6) / (n_full - n_short)
    return {
        "plate_s_per_mpix": plate_s / (psize[0] * psize[1] / 1e6),
        "sprite_s": sprite_s,
        "composite_s_per_mpix": composite,
        "pipeline_s_per_mpix": per_frame / mpix,
        "encoder_start_s": max(0.0, short - per_frame * n_short),
        "painted_s_per_mpix": painted_s,
        "layer_store_s": _layer_store_seconds(),
        "key_s_per_mpix": _keying_seconds(),
    }


def _painted_seconds(size: tuple[int, int]) -> float:
    """Storing a layer a model painted: resized from its paint size and written as PNG, the
    way `backends` and `stages.layers` do it (a random model's pictures are noise: the worst
    case for PNG)."""
    import numpy as np
    from PIL import Image

    from shotcraft.draw.plate import Plate

    rng = np.random.default_rng(0)
    paint = (size[0] * 3 // 4, size[1] * 3 // 4)
    img = Image.fromarray(rng.integers(0, 256, (paint[1], paint[0], 3), dtype=np.uint8))
    times = []
    for _ in range(CAL_REPEATS):
        t0 = time.perf_counter()
        Plate.single(img.resize(size, Image.Resampling.LANCZOS)).to_png()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _keying_seconds() -> float:
    """Seconds per megapixel of keying a sprite a model painted on the key colour
    (`backends.keying`), on a subject over a noisy green: the whole path, connected fill
    included (a picture with no plain border stops early, in about half the time)."""
    import numpy as np
    from PIL import Image

    from shotcraft.backends.keying import key_out

    w, h = 256, 448
    rng = np.random.default_rng(0)
    rgb = np.empty((h, w, 3), np.int16)
    rgb[...] = (30, 190, 40)
    rgb[h // 5 : h * 4 // 5, w // 4 : w * 3 // 4] = (170, 100, 70)
    rgb += rng.integers(-6, 7, rgb.shape, dtype=np.int16)
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    times = []
    for _ in range(CAL_REPEATS):
        t0 = time.perf_counter()
        key_out(img)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / (w * h / 1e6)


def _layer_store_seconds() -> float:
    """A layer's fixed cost through the cache, whatever its size: hashing its spec, the lock,
    the atomic writes of the entry and its meta, and reading it back."""
    from shotcraft.cache import Cache

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp))
        for i in range(CAL_REPEATS * 2):
            t0 = time.perf_counter()
            cache.get_or_make({"kind": "calibration", "i": i}, lambda: b"x" * 4096, "calibration")
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calibrate(
    cache_root: Path, encoder_presets: tuple[str, ...], reporter: Reporter | None = None
) -> dict[str, Any]:
    """Measure this machine's drawing and encoding rates for these encoder presets and keep
    them with the others; returns this machine's entry (`presets`: name -> rates)."""
    reporter = reporter or SilentReporter()
    measured = {}
    for p in encoder_presets:
        reporter.info(f"calibrating this machine for encoder preset '{p}' (once, about 2s)")
        measured[p] = _measure(p)
    key = machine_key()

    def change(data: dict[str, Any]) -> None:
        entry = data["machines"].setdefault(
            key, {"cpu": cpu_name(), "renderer": renderer_id(), "presets": {}}
        )
        entry["presets"].update(measured)
        entry["created"] = time.time()

    return dict(_update(cache_root, change)["machines"][key])


LEARN_MIN_SECONDS = 0.3  # frames estimated shorter teach nothing: the start-up's noise
LEARN_WEIGHT = 0.5  # how far one render moves the factor toward what it measured
RECENT_RENDERS = 8  # estimate/actual errors kept for `calibrate --show`


def learn_drawing(
    cache_root: Path, encoder_preset: str, estimated: float, actual: float
) -> float | None:
    """A drawn render's frames (drawing and encoding, in this process) against their
    estimate: the calibration's synthetic shot is not the user's, and a shot's content
    changes what the encoder spends a frame (the 10 s bench pan took 0.85x the calibrated
    rate). The factor moves halfway (in ratio) toward what would have made this render
    exact, within 0.5..2x. Returns the new factor (None: nothing to learn from)."""
    if estimated < LEARN_MIN_SECONDS or actual <= 0:
        return None
    key = machine_key()
    new: list[float] = []

    def change(data: dict[str, Any]) -> None:
        rates = data["machines"].get(key, {}).get("presets", {}).get(encoder_preset)
        if rates is None:  # recalibrated meanwhile (another version): nothing to refine
            return
        old = float(rates.get("frames_factor", 1.0))
        exact = old * actual / estimated
        factor = min(2.0, max(0.5, old ** (1 - LEARN_WEIGHT) * exact**LEARN_WEIGHT))
        rates["frames_factor"] = round(factor, 4)
        rates["frames_renders"] = int(rates.get("frames_renders", 0)) + 1
        recent = list(rates.get("frames_errors", []))[-(RECENT_RENDERS - 1) :]
        rates["frames_errors"] = [*recent, round(estimated / actual - 1, 4)]
        new.append(factor)

    _update(cache_root, change)
    return new[0] if new else None


def renderer_id() -> str:
    """What the frame rates were measured with: new drawing code, a new render loop or
    another number of cores to run it on means new rates."""
    from shotcraft.draw import kernels
    from shotcraft.draw.procedural import DRAW_VERSION
    from shotcraft.stages.frames import LOOP_VERSION, MAX_SEGMENT_WORKERS, cores

    native = "native" if kernels.NATIVE else "python"
    workers = min(cores(), MAX_SEGMENT_WORKERS)
    return f"{__version__} draw {DRAW_VERSION} {native} loop {LOOP_VERSION} x{workers}"


def rates_for(
    cache_root: Path, encoder_preset: str, reporter: Reporter | None = None
) -> dict[str, float]:
    """This machine's drawing and encoding rates for `encoder_preset`, measured if missing."""
    entry = load_calibration(cache_root).get("machines", {}).get(machine_key(), {})
    if encoder_preset not in entry.get("presets", {}):
        entry = calibrate(cache_root, (encoder_preset,), reporter)
    return dict(entry["presets"][encoder_preset])


def estimate(
    rates: dict[str, float],
    frames: int,
    size: tuple[int, int],
    samples: int,
    plate_size: tuple[int, int] | None,
    sprites_to_make: int,
    layers_cached: int,
    painted: Sequence[tuple[int, int]] = (),
    keyed: Sequence[tuple[int, int]] = (),
) -> RenderEstimate:
    """The drawing and encoding of a render, with its range; `painted` are the sizes of the
    layers a model paints (their painting is priced by `with_model`; here, storing them),
    `keyed` the paint sizes of the sprites among them keyed out of their key colour."""
    mpix = size[0] * size[1] / 1e6
    # the encoder's start and end (buffers, lookahead, the pipeline filling) grow with the
    # frame: measured at CAL_SIZE, scaled by area (a 256 px clip starts in a few ms)
    start = rates.get("encoder_start_s", 0.0) * mpix / (CAL_SIZE[0] * CAL_SIZE[1] / 1e6)
    # what this machine's renders took against their estimates (`learn_drawing`)
    factor = float(rates.get("frames_factor", 1.0))
    pipeline = (start + frames * mpix * rates["pipeline_s_per_mpix"]) * factor
    blur = frames * mpix * (samples - 1) * rates["composite_s_per_mpix"] * factor
    plate = 0.0
    if plate_size is not None:
        plate = plate_size[0] * plate_size[1] / 1e6 * rates["plate_s_per_mpix"]
    sprites = sprites_to_make * rates["sprite_s"]
    png = rates.get("painted_s_per_mpix", PAINTED_S_PER_MPIX)
    stored = sum(w * h for w, h in painted) / 1e6 * png + len(painted) * rates.get(
        "layer_store_s", 0.0
    )
    stored += sum(w * h for w, h in keyed) / 1e6 * rates.get("key_s_per_mpix", KEY_S_PER_MPIX)
    total = FIXED_OVERHEAD + pipeline + blur + plate + sprites + stored
    return RenderEstimate(
        seconds=total,
        frames=frames,
        megapixels=mpix,
        layers_to_make=int(plate_size is not None) + sprites_to_make + len(painted),
        layers_cached=layers_cached,
        breakdown={
            "frames": pipeline + blur,
            "plate": plate,
            "sprites": sprites,
            **({"painted_layers": stored} if painted else {}),
            "overhead": FIXED_OVERHEAD,
        },
        low=total * (1 - PROCEDURAL_SPREAD),
        high=total * (1 + PROCEDURAL_SPREAD),
        source="procedural",
    )


# --- a model's rates -----------------------------------------------------------------------
PARTS = ("step", "call_t2i", "call_i2i", "vae_decode", "vae_encode")
# subsets of the terms (0: fixed, 1: linear, 2: quadratic) a fit may use, in order of
# preference when two fit equally well: one size gives a rate proportional to size, two a line
_TERMS = ((0, 1, 2), (0, 1), (1, 2), (0, 2), (1,), (0,), (2,))


def fit(points: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """(a, b, c) of y = a + b·x + c·x² through the (x, y) points: least squares on the relative
    error, every term non-negative (no part of a model gets cheaper with size), the best of
    the fits over the subsets of terms that the points determine."""
    import numpy as np

    pts = [(float(x), float(y)) for x, y in points if y > 0]
    if not pts:
        return (0.0, 0.0, 0.0)
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    distinct = len({round(x, 9) for x in xs})
    best: tuple[float, list[float]] | None = None
    for terms in _TERMS:
        if len(terms) > distinct:
            continue
        a = np.stack([xs**t for t in terms], axis=1) / ys[:, None]
        coef = np.linalg.lstsq(a, np.ones_like(ys), rcond=None)[0]
        if (coef < 0).any():
            continue
        resid = float(np.sum((a @ coef - 1.0) ** 2))
        if best is None or resid < best[0] - 1e-12:
            full = [0.0, 0.0, 0.0]
            for t, c in zip(terms, coef, strict=True):
                full[t] = float(c)
            best = (resid, full)
    assert best is not None  # the fixed term alone always fits non-negative times
    return (best[1][0], best[1][1], best[1][2])


def _x(record: dict[str, Any], part: str, size: tuple[int, int]) -> float:
    """The fit's variable: thousands of latent tokens for a denoiser step, megapixels else."""
    pixels = size[0] * size[1]
    if part == "step":
        return pixels / float(record.get("token_pixels", 64)) / 1e3
    return pixels / 1e6


def part_seconds(record: dict[str, Any], part: str, size: tuple[int, int]) -> float:
    """Seconds of one part at `size`: the median measured there, where it was; the fit
    elsewhere."""
    points = record.get("points", {}).get(part, [])
    x = _x(record, part, size)
    at = [float(p[1]) for p in points if _near(float(p[0]), x)]
    if at:
        return at[0]
    a, b, c = fit(points)
    return a + b * x + c * x * x


def bucket(size: tuple[int, int]) -> str:
    """Sizes learned from together: the long side to the nearest power of two."""
    return f"{2 ** round(math.log2(max(1, *size)))}px"


def call_seconds(record: dict[str, Any], c: ModelCall) -> float:
    """Seconds for the model calls `c`, at the fitted rates, corrected by what renders of this
    size bucket measured."""
    step = part_seconds(record, "step", c.size)
    decode = part_seconds(record, "vae_decode", c.size)
    encode = part_seconds(record, "vae_encode", c.size)
    if c.kind == "t2i":
        each = part_seconds(record, "call_t2i", c.size) + c.steps * step + decode
    elif c.kind == "i2i":
        each = part_seconds(record, "call_i2i", c.size) + c.steps * step + encode + decode
    else:  # a video chunk: every frame in each step, every frame through the VAE both ways
        each = (
            part_seconds(record, "call_t2i", c.size)
            + c.steps * c.frames * step
            + c.frames * (encode + decode)
        )
    factor = record.get("corrections", {}).get(bucket(c.size), {}).get("factor", 1.0)
    return c.calls * each * float(factor)


def spread(record: dict[str, Any]) -> float:
    """The model share's error bar: the worst of the last few renders' errors, once there are
    a few; MODEL_SPREAD until then."""
    renders = [r for r in record.get("renders", []) if r.get("source") != "rough"]
    errors = [abs(float(r["error"])) for r in renders[-5:]]
    if len(errors) < 3:
        return MODEL_SPREAD
    return min(0.9, max(PROCEDURAL_SPREAD, max(errors)))


def with_model(
    base: RenderEstimate,
    record: dict[str, Any] | None,
    calls: tuple[ModelCall, ...],
    model_id: str | None,
    loaded: bool,
) -> RenderEstimate:
    """The drawing estimate plus the model's calls priced at its rates (measured, or rough
    ones from its config files), with the range widened by the model's error bar. With no
    rates at all (a hub id not downloaded), the calls are counted, the time left out, and the
    note says so."""
    evaluations = sum(c.evaluations for c in calls)
    # a [video] model's chunks are counted here and priced by its own rates (cost_video)
    calls = tuple(c for c in calls if c.kind != "video-model")
    if record is None and model_id is None:  # drawn layers
        return replace(base, denoiser_calls=evaluations)
    if record is None:
        return replace(
            base,
            denoiser_calls=evaluations,
            note=f"the model's time is not included: run `shotcraft calibrate --model {model_id}`",
        )
    parts = {"painting": 0.0, "harmonize": 0.0, "video": 0.0}
    biggest, biggest_s = "", -1.0
    for c in calls:
        seconds = call_seconds(record, c)
        parts["painting" if c.kind == "t2i" else "harmonize" if c.kind == "i2i" else "video"] += (
            seconds
        )
        if seconds > biggest_s:
            biggest, biggest_s = bucket(c.size), seconds
    # loading (reading weights, each pipeline's first call) only when this process must,
    # with each library's import that this process has yet to pay; a fresh worker pays
    # all of them (the parallel estimate's critical path)
    startup = _startup(record, parts, pending_imports(record)) if calls and not loaded else {}
    load = sum(startup.values())
    worker_startup = sum(_startup(record, parts, _imports(record)).values()) if calls else 0.0
    model_s = load + sum(parts.values())
    rough = record.get("source") == "rough"
    if rough:
        low, high = model_s / ROUGH_FACTOR, model_s * ROUGH_FACTOR
        note = (
            "rough: the model's time comes from its config files (never timed on this machine); "
            f"`shotcraft calibrate --model {model_id}` times it"
        )
    else:
        s = spread(record)
        low, high, note = model_s * (1 - s), model_s * (1 + s), base.note
    return replace(
        base,
        seconds=base.seconds + model_s,
        denoiser_calls=evaluations,
        breakdown={**base.breakdown, "model_load": load, **parts},
        low=base.low + low,
        high=base.high + high,
        source="rough" if rough else "calibrated",
        model_seconds=model_s,
        bucket=biggest,
        note=note,
        startup=startup,
        worker_startup=worker_startup,
    )


def _startup(
    record: dict[str, Any], parts: dict[str, float], imports: dict[str, float]
) -> dict[str, float]:
    """What loading the model costs a process that has yet to make `imports`: the weights
    read, each pipeline's first call (text-to-image for painting and video, image-to-image
    for harmonize), the imports."""
    warmup = 0.0
    if parts["painting"] or parts["video"]:
        warmup += float(record.get("warmup_t2i_s", 0.0))
    if parts["harmonize"]:
        warmup += float(record.get("warmup_i2i_s", 0.0))
    return {"load_s": float(record.get("load_s", 0.0)), "warmup_s": warmup, **imports}


def _imports(record: dict[str, Any]) -> dict[str, float]:
    return {m: float(t) for m, t in record.get("imports", {}).items()}


def pending_imports(record: dict[str, Any]) -> dict[str, float]:
    """The imports this process has yet to pay for the model (module -> seconds): each one
    the record has timed (`imports`, the median of recent loads) not imported here yet."""
    return {m: t for m, t in _imports(record).items() if m not in sys.modules}


def imports_seconds(record: dict[str, Any]) -> float:
    """Seconds this process has yet to spend importing the libraries the model needs."""
    return sum(pending_imports(record).values())


def observe_startup(
    record: dict[str, Any],
    load_s: float | None,
    imports: dict[str, float],
    keys: Sequence[str] = (),
) -> None:
    """One process's load time and import times join the record's recent ones (STARTUP_KEPT
    of each), and their medians become the record's `load_s` and `imports`: on a busy
    machine the same imports vary by a quarter between fresh processes, and one unlucky
    timing must not set every later estimate. `keys` are all the modules that process's
    load went through (imported or found imported): an import kept for a module not among
    them is one the code no longer makes, and is dropped."""
    if load_s is not None:
        runs = record.setdefault("load_runs", [])
        runs.append(round(load_s, 4))
        del runs[:-STARTUP_KEPT]
        record["load_s"] = round(statistics.median(runs), 4)
    kept: dict[str, list[float]] = record.setdefault("import_runs", {})
    if keys:
        for m in [m for m in kept if m not in keys]:
            del kept[m]
    for m, t in imports.items():
        runs = kept.setdefault(m, [])
        runs.append(round(t, 4))
        del runs[:-STARTUP_KEPT]
    record["imports"] = {m: round(statistics.median(r), 4) for m, r in kept.items() if r}
    record["imports_version"] = IMPORTS_VERSION


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= NEAR * max(a, b)


def _distinct(sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(sizes, key=_area, reverse=True):
        if not any(_near(_area(s), _area(o)) for o in out):
            out.append(s)
    return sorted(out, key=_area)


def calibration_sizes(
    backend: ModelBackend, sizes: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The sizes to time: the render's own, completed to MIN_SIZES sizes spanning them by
    halving the largest one's sides (paint sizes the model accepts)."""
    out = _distinct(sizes)
    big = max(out, key=_area) if out else backend.paint_size((512, 512))
    k = 2
    while len(out) < MIN_SIZES and k <= 64:
        out = _distinct([*out, backend.paint_size((max(1, big[0] // k), max(1, big[1] // k)))])
        k *= 2
    return out


def _covered(record: dict[str, Any], part: str, size: tuple[int, int]) -> bool:
    """Whether the fit of `part` holds at `size`: measured there, or within the span of at
    least MIN_SIZES measured sizes."""
    xs = [float(p[0]) for p in record.get("points", {}).get(part, [])]
    x = _x(record, part, size)
    if any(_near(x, v) for v in xs):
        return True
    return len(xs) >= MIN_SIZES and min(xs) <= x <= max(xs)


def _median_of(time_it: Any) -> float | None:
    """The median of MODEL_REPEATS runs (one where a single run is slow, up to
    MODEL_MAX_REPEATS where they are short); None where the backend cannot time this part
    alone."""
    first = time_it()
    if first is None or first > SLOW_CALL_S:
        return first
    times = [first]
    while len(times) < MODEL_REPEATS or (
        len(times) < MODEL_MAX_REPEATS and sum(times) < MODEL_TIMED_S
    ):
        times.append(time_it())
    return statistics.median(times)


def _interleaved_step(
    backend: ModelBackend, size: tuple[int, int], lo: int, hi: int
) -> tuple[float, float]:
    """One denoiser step and the `lo`-step call at `size`, from calls of `lo` and `hi` steps
    run short, long, short: each long call is set against the mean of the two short calls
    beside it, so a slow spell of the machine lands on both sides of the difference instead
    of on one median. The median of MODEL_REPEATS such triples (up to MODEL_MAX_REPEATS
    while they are short; one where a long call is slow)."""
    shorts = [backend.time_call("t2i", size, lo)]
    steps: list[float] = []
    while True:
        t0 = time.perf_counter()
        long = backend.time_call("t2i", size, hi)
        shorts.append(backend.time_call("t2i", size, lo))
        steps.append((long - (shorts[-1] + shorts[-2]) / 2) / (hi - lo))
        spent = time.perf_counter() - t0
        if long > SLOW_CALL_S:
            break
        if len(steps) >= MODEL_REPEATS and (
            len(steps) >= MODEL_MAX_REPEATS or spent * len(steps) >= MODEL_TIMED_S
        ):
            break
    return max(1e-6, statistics.median(steps)), statistics.median(shorts)


def _measure_model(
    backend: ModelBackend,
    t2i_sizes: Sequence[tuple[int, int]],
    i2i_sizes: Sequence[tuple[int, int]],
    reporter: Reporter,
) -> dict[str, Any]:
    """Time the model at these sizes through the calls a render makes (`time_call`), the VAE
    alone (`time_vae`); returns the points measured, the load time and first-call costs."""
    fresh = not backend.loaded
    if fresh:
        reporter.info(f"loading model '{backend.model.id}'")
    backend.load()
    t0 = time.perf_counter()
    m = backend.size_multiple()
    out: dict[str, Any] = {
        "points": {p: [] for p in PARTS},
        "token_pixels": max(1, m // 8) ** 2,  # pixels per latent token (the VAE's factor²)
    }
    # the load and each library's import, where this process paid them and has not told
    # the record yet (torch's may have been paid before the load, resolving the device)
    load_s, imports = backend.take_startup()
    out["startup"] = (load_s, imports, list(backend.import_keys))
    sizes = _distinct([*t2i_sizes, *i2i_sizes])  # steps and decode are needed at i2i sizes
    lo, hi = CAL_STEPS
    warm = backend.time_call("t2i", sizes[0], lo)  # a pipeline's first call costs extra
    measured: dict[tuple[int, int], tuple[float, float]] = {}
    for s in sizes:
        reporter.info(f"  timing {s[0]}x{s[1]}: denoiser steps, VAE decode")
        step, t_lo = _interleaved_step(backend, s, lo, hi)
        decode = _median_of(lambda s=s: backend.time_vae("decode", s))
        fixed = max(1e-6, t_lo - lo * step - (decode or 0.0))
        measured[s] = (step, decode or 0.0)
        rec = {"token_pixels": out["token_pixels"]}
        out["points"]["step"].append([_x(rec, "step", s), step])
        out["points"]["call_t2i"].append([_x(rec, "call_t2i", s), fixed])
        if decode is not None:
            out["points"]["vae_decode"].append([_x(rec, "vae_decode", s), decode])
        if s == sizes[0] and fresh:
            out["warmup_t2i_s"] = max(0.0, warm - t_lo)
    steps, strength = CAL_I2I
    evaluations = backend.steps("i2i", steps, strength)
    warm_i2i = None
    for s in _distinct(i2i_sizes):
        reporter.info(f"  timing {s[0]}x{s[1]}: image-to-image, VAE encode")
        if warm_i2i is None:
            warm_i2i = backend.time_call("i2i", s, steps, strength)
        t = _median_of(lambda s=s: backend.time_call("i2i", s, steps, strength)) or 0.0
        encode = _median_of(lambda s=s: backend.time_vae("encode", s))
        # the steps and decode of this size, or of the one it was merged with (_distinct
        # keeps one of two sizes of nearly the same area)
        near = min(measured, key=lambda m: abs(_area(m) - _area(s)))
        step, decode = measured[near]
        fixed = max(1e-6, t - evaluations * step - decode - (encode or 0.0))
        out["points"]["call_i2i"].append([_x(out, "call_i2i", s), fixed])
        if encode is not None:
            out["points"]["vae_encode"].append([_x(out, "vae_encode", s), encode])
        if fresh and "warmup_i2i_s" not in out:
            out["warmup_i2i_s"] = max(0.0, warm_i2i - t)
    out["calibration_s"] = time.perf_counter() - t0
    return out


def _merge(record: dict[str, Any], new: dict[str, Any]) -> None:
    """New points replace old ones at the same size; corrections learned against the old
    fit are dropped."""
    points = record.setdefault("points", {p: [] for p in PARTS})
    for part, pts in new.get("points", {}).items():
        old = points.setdefault(part, [])
        for x, y in pts:
            old[:] = [p for p in old if not _near(float(p[0]), x)]
            old.append([round(x, 6), round(y, 6)])
        old.sort()
    for k in ("token_pixels", "frame_factor", "warmup_t2i_s", "warmup_i2i_s"):
        if k in new:
            record[k] = round(new[k], 4) if isinstance(new[k], float) else new[k]
    if "startup" in new:
        observe_startup(record, *new["startup"])
    record["calibration_s"] = round(
        float(record.get("calibration_s", 0.0)) + new["calibration_s"], 3
    )
    record["calibrated_at"] = time.time()
    record["corrections"] = {}


def _model_sizes(
    backend: ModelBackend, calls: Sequence[ModelCall]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    t2i = [c.size for c in calls if c.kind in ("t2i", "v2v")]
    i2i = [c.size for c in calls if c.kind == "i2i"]
    if not calls:  # `shotcraft calibrate --model`: sizes a render commonly paints at
        t2i = [backend.paint_size(s) for s in ((256, 256), (512, 512), (1024, 576))]
        i2i = [t2i[1]]
    return t2i, i2i


def known_model_rates(cache_root: Path, backend: ModelBackend) -> dict[str, Any] | None:
    """The model's rates if this machine has measured them, without loading anything (and
    without importing torch where it is not imported yet: the device is then the one `auto`
    would resolve to)."""
    device = backend.device if "torch" in sys.modules else guess_device(backend.device_request)
    record = load_calibration(cache_root).get("models", {}).get(model_key(backend, device))
    return dict(record) if record else None


def model_rates(
    cache_root: Path,
    backend: ModelBackend,
    reporter: Reporter | None = None,
    calls: Sequence[ModelCall] = (),
    again: bool = False,
) -> dict[str, Any]:
    """The model's rates on this machine, timed at the sizes of `calls` where the rates kept
    do not cover them yet (or, with `again`, timed afresh)."""
    reporter = reporter or SilentReporter()
    device = backend.device
    key = model_key(backend, device)
    record = None if again else load_calibration(cache_root).get("models", {}).get(key)
    if record is not None and record.get("imports_version") != IMPORTS_VERSION:
        # timed before the libraries' imports were timed apart from the load (its load time
        # leaves part of them out), or with imports this code no longer makes (diffusers'
        # auto pipelines): timed afresh
        record, again = None, True
    t2i, i2i = _model_sizes(backend, calls)
    if record is not None:
        t2i = [s for s in t2i if not _covered(record, "step", s)]
        i2i = [s for s in i2i if not _covered(record, "call_i2i", s)]
        if not t2i and not i2i:
            return dict(record)
    enough = record is not None and len(record.get("points", {}).get("step", [])) >= MIN_SIZES
    if not enough:
        t2i = calibration_sizes(backend, [*t2i, *i2i])
    sizes = _distinct([*t2i, *i2i])
    reporter.info(
        f"calibrating model '{backend.model.id}' on {device} ({device_name(device)}) at "
        + ", ".join(f"{w}x{h}" for w, h in sizes)
        + " (once per size)"
    )
    new = _measure_model(backend, t2i, i2i, reporter)
    reporter.info(f"calibration took {new['calibration_s']:.1f}s")

    def change(data: dict[str, Any]) -> None:
        rec = data["models"].get(key) if not again else None
        rec = rec or {
            "model": backend.model.id,
            "identity": backend.identity,
            "device": device,
            "device_name": device_name(device),
            "dtype": backend.precision(device),
            "versions": library_versions(),
            "source": "calibrated",
        }
        _merge(rec, new)
        data["models"][key] = rec

    return dict(_update(cache_root, change)["models"][key])


def learn(
    cache_root: Path,
    backend: ModelBackend,
    estimate: RenderEstimate,
    actual: float,
    video_actual: float | None = None,
) -> None:
    """A render's actual time refines the model's rates on this machine: the load and import
    times it measured (where it loaded the model) join the recent ones (`observe_startup`),
    and its painting, the actual time less the drawing and the start-up, refines the rates
    of its size bucket (where the painting is a fair share of the render: else the drawing's
    noise would teach it). The render joins the record of recent errors. `video_actual`: what
    a [video] model's chunks took, measured apart (its estimate is then not the drawing's)."""
    if estimate.model_seconds <= 0 or actual <= 0:
        return
    if estimate.source == "rough" and estimate.video_source != "rough":
        return  # the image model's rates are rough (a video model's share is measured apart)
    if video_actual is not None:
        actual -= video_actual - estimate.video_seconds - estimate.video_load
    key = model_key(backend, backend.device)
    load_s, imports = backend.take_startup()
    keys = list(backend.import_keys)
    # the start-up this render paid after its estimate, as measured where it was
    startup = dict(estimate.startup)
    if load_s is not None and startup:
        startup["load_s"] = load_s
        startup.update({m: t for m, t in imports.items() if m in startup})
    painting_est = estimate.model_seconds - sum(estimate.startup.values())
    painting = actual - (estimate.seconds - estimate.model_seconds) - sum(startup.values())

    def change(data: dict[str, Any]) -> None:
        rec = data["models"].get(key)
        if rec is None:
            return
        if load_s is not None:
            observe_startup(rec, load_s, imports, keys)
        renders = rec.setdefault("renders", [])
        renders.append(
            {
                "at": round(time.time()),
                "bucket": estimate.bucket,
                "estimate_s": round(estimate.seconds, 3),
                "actual_s": round(actual, 3),
                "error": round(estimate.seconds / actual - 1, 4),
            }
        )
        del renders[:-HISTORY]
        if painting_est > 0 and painting_est >= LEARN_SHARE * estimate.seconds:
            ratio = min(4.0, max(0.25, painting / painting_est))
            c = rec.setdefault("corrections", {}).setdefault(
                estimate.bucket, {"factor": 1.0, "renders": 0}
            )
            c["factor"] = round(float(c["factor"]) * ratio**LEARN_WEIGHT, 4)
            c["renders"] += 1

    _update(cache_root, change)


def denoise_seconds(
    record: dict[str, Any], steps: int, size: tuple[int, int], call: str = ""
) -> float:
    """Seconds for one call of `steps` denoiser steps at `size` ("t2i" or "i2i" adds that
    pipeline's own cost and the VAE's; no call kind: the steps alone)."""
    if not call:
        return steps * part_seconds(record, "step", size)
    return call_seconds(record, ModelCall("timing", call, size, steps))


def _runs(runs: Sequence[float]) -> str:
    return ", ".join(f"{float(t):.2f}" for t in runs)


def _startup_lines(rec: dict[str, Any]) -> list[str]:
    """The load and import times a fresh process is estimated to pay, each the median of the
    recent ones measured (calibration and renders that loaded the model)."""
    runs = rec.get("load_runs", [])
    lines = [
        f"  loading: {float(rec.get('load_s', 0)):.2f}s, the median of the last {len(runs)} "
        f"loads ({_runs(runs)}s)"
    ]
    for module, runs in rec.get("import_runs", {}).items():
        t = float(rec.get("imports", {}).get(module, 0.0))
        lines.append(
            f"  import {module}: {t:.2f}s, the median of the last {len(runs)} ({_runs(runs)}s)"
        )
    return lines


def describe(data: dict[str, Any]) -> list[str]:
    """What `calibrate --show` prints: every machine's and model's rates, where they come
    from, and how the recent estimates did."""
    lines = []
    for key, entry in sorted(data.get("machines", {}).items()):
        lines.append(f"machine {key}")
        for name, rates in sorted(entry.get("presets", {}).items()):
            factor = float(rates.get("frames_factor", 1.0))
            fps = 1.0 / max(1e-9, rates["pipeline_s_per_mpix"] * 0.9216 * factor)
            line = f"  encoder preset {name}: about {fps:.0f} frames/s at 1280x720"
            if rates.get("frames_renders"):
                errors = ", ".join(f"{e:+.0%}" for e in rates.get("frames_errors", []))
                line += (
                    f" (calibrated, then x{factor:.2f} learned from {rates['frames_renders']}"
                    f" renders; recent estimate errors {errors})"
                )
            lines.append(line)
    for key, rec in sorted(data.get("models", {}).items()):
        if rec.get("kind") == "video":
            from shotcraft import cost_video

            lines.extend(cost_video.describe(rec))
            continue
        lines.append(f"model {rec.get('model', '?')}")
        lines.append(f"  on {rec.get('device')} ({rec.get('device_name')}), {rec.get('dtype')}")
        lines.append(f"  {rec.get('versions')}; key {key.split(' | ')[0][:22]}...")
        sizes = [p[0] for p in rec.get("points", {}).get("step", [])]
        lines.append(
            f"  source: {rec.get('source', 'calibrated')}, timed at {len(sizes)} sizes "
            f"({', '.join(f'{x:.3g}k' for x in sizes)} latent tokens) in "
            f"{float(rec.get('calibration_s', 0)):.1f}s"
        )
        lines.extend(_startup_lines(rec))
        a, b, c = fit(rec.get("points", {}).get("step", []))
        lines.append(f"  denoiser step: {a:.4g} + {b:.4g}·k + {c:.4g}·k² s (k: 1000 tokens)")
        for part in ("vae_decode", "vae_encode", "call_t2i", "call_i2i"):
            if rec.get("points", {}).get(part):
                at = [part_seconds(rec, part, s) for s in ((512, 512), (1024, 1024))]
                lines.append(f"  {part}: {at[0]:.3f}s at 512x512, {at[1]:.3f}s at 1024x1024")
        lines.extend(_recent_lines(rec))
    return lines or ["nothing calibrated yet"]


def _recent_lines(rec: dict[str, Any]) -> list[str]:
    """How the recent estimates did, and what the renders taught, per size bucket."""
    lines = []
    renders = [r for r in rec.get("renders", []) if r.get("source") != "rough"]
    if renders:
        errs = [abs(float(r["error"])) for r in renders[-10:]]
        lines.append(
            f"  recent error: median {statistics.median(errs):.0%}, worst {max(errs):.0%} "
            f"over the last {len(errs)} renders"
        )
    else:
        lines.append("  recent error: no render yet")
    for b_, corr in sorted(rec.get("corrections", {}).items()):
        lines.append(
            f"  learned at {b_}: x{float(corr['factor']):.3f} from {corr['renders']} renders"
        )
    return lines
