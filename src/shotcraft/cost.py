"""The cost model: work units times rates measured once on this device.

Rates live in `<cache>/calibration.json`. When an estimate needs a rate that is not there,
a short calibration (about two seconds, once per device and encoder preset) measures it with
the real render loop.
"""

from __future__ import annotations

import json
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from shotcraft import __version__
from shotcraft.fsutil import write_json
from shotcraft.progress import Reporter, SilentReporter

if TYPE_CHECKING:
    from shotcraft.backends.base import ModelBackend

CALIBRATION_FILE = "calibration.json"
CAL_SCHEMA = 1
CAL_SIZE = (1280, 720)
CAL_FRAMES = 72
CAL_SHORT = 24  # a second, shorter run: the encoder's start-up cost
CAL_REPEATS = 3  # each run is timed this many times, and the median kept
FIXED_OVERHEAD = 0.08  # opening files, starting the encoder, writing reports (seconds)


@dataclass(frozen=True, slots=True)
class RenderEstimate:
    seconds: float
    frames: int
    megapixels: float  # per frame
    layers_to_make: int
    layers_cached: int
    breakdown: dict[str, float]
    denoiser_calls: int = 0  # evaluations the render is expected to make
    note: str = ""  # what the estimate leaves out, if anything

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "frames": self.frames,
            "megapixels_per_frame": round(self.megapixels, 4),
            "layers_to_make": self.layers_to_make,
            "layers_cached": self.layers_cached,
            "denoiser_calls": self.denoiser_calls,
            **({"note": self.note} if self.note else {}),
            "breakdown": {k: round(v, 3) for k, v in self.breakdown.items()},
        }


@dataclass(frozen=True, slots=True)
class ModelCall:
    """Model calls of one kind a render will make: `calls` calls of `steps` denoiser steps at
    paint size `size`, each step over `frames` frames (video)."""

    what: str  # "plate", "sprite:fox", "harmonize", "video"
    kind: str  # "t2i", "i2i", "v2v"
    size: tuple[int, int]
    steps: int
    calls: int = 1
    frames: int = 1

    @property
    def evaluations(self) -> int:
        return self.steps * self.calls


def with_model(
    base: RenderEstimate,
    mrates: dict[str, float] | None,
    calls: tuple[ModelCall, ...],
    model_id: str,
    loaded: bool,
) -> RenderEstimate:
    """The procedural estimate plus the model's calls priced at its rates (or, with no rates
    yet, the calls counted and the time left out, said in the note)."""
    evaluations = sum(c.evaluations for c in calls)
    if mrates is None:
        return replace(
            base,
            denoiser_calls=evaluations,
            note=f"the model's time is not included: run `shotcraft calibrate --model {model_id}`",
        )
    parts = {"painting": 0.0, "harmonize": 0.0, "video": 0.0}
    for c in calls:
        if c.kind == "v2v":
            seconds = c.calls * c.steps * c.frames * denoise_seconds(mrates, 1, c.size)
        else:
            seconds = c.calls * denoise_seconds(mrates, c.steps, c.size, c.kind)
        parts["painting" if c.kind == "t2i" else "harmonize" if c.kind == "i2i" else "video"] += (
            seconds
        )
    # loading (importing torch and diffusers, reading weights) only when this process must
    load = 0.0 if loaded else float(mrates.get("load_s", 0.0))
    if parts["painting"]:
        load += float(mrates.get("warmup_t2i_s", 0.0))
    if parts["harmonize"]:
        load += float(mrates.get("warmup_i2i_s", 0.0))
    return replace(
        base,
        seconds=base.seconds + load + sum(parts.values()),
        denoiser_calls=evaluations,
        breakdown={**base.breakdown, "model_load": load, **parts},
    )


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
    from shotcraft.layout.planner import plan, plate_size
    from shotcraft.media.encode import EncoderSettings
    from shotcraft.motion.track import compute_motion
    from shotcraft.stages.frames import drawn_frames, encode

    shot = _synthetic_shot()
    backend = ProceduralBackend()
    layout = plan(shot)
    motion = compute_motion(shot, layout)
    psize = plate_size(shot)
    t0 = time.perf_counter()
    plate = backend.plate(shot.background, psize)
    plate.to_png()  # a new plate is also written to the cache: part of its cost
    plate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sprites = {s.id: backend.sprite(s, layout.subject(s.id), 160) for s in shot.subjects}
    sprite_s = (time.perf_counter() - t0) / len(sprites)
    comp = Compositor(plate, CAL_SIZE, sprites)
    mpix = CAL_SIZE[0] * CAL_SIZE[1] / 1e6
    n = 12
    t0 = time.perf_counter()
    for i in range(n):
        comp.frame_array(motion, i)
    composite = (time.perf_counter() - t0) / n / mpix

    def pipeline(frames: int) -> float:
        """Seconds to draw and encode the shot's first `frames` frames: the median of a few
        tries (a render meets the machine as it usually is, not at its quietest)."""
        times = []
        for _ in range(CAL_REPEATS):
            with tempfile.TemporaryDirectory() as tmp:
                settings = EncoderSettings(preset=encoder_preset, gop=24)
                t0 = time.perf_counter()
                encode(
                    drawn_frames(comp, motion, frames),
                    Path(tmp) / "c.mp4",
                    CAL_SIZE,
                    shot.fps,
                    settings,
                )
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    # two lengths: the slope is the cost of a frame, what is left the encoder's start and end
    short, full = pipeline(CAL_SHORT), pipeline(CAL_FRAMES)
    per_frame = max(full - short, 1e-6) / (CAL_FRAMES - CAL_SHORT)
    return {
        "plate_s_per_mpix": plate_s / (psize[0] * psize[1] / 1e6),
        "sprite_s": sprite_s,
        "composite_s_per_mpix": composite,
        "pipeline_s_per_mpix": per_frame / mpix,
        "encoder_start_s": max(0.0, short - per_frame * CAL_SHORT),
    }


def calibration_path(cache_root: Path) -> Path:
    return Path(cache_root) / CALIBRATION_FILE


def load_calibration(cache_root: Path) -> dict[str, Any]:
    try:
        data = json.loads(calibration_path(cache_root).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if data.get("schema") == CAL_SCHEMA else {}


def calibrate(
    cache_root: Path, encoder_presets: tuple[str, ...], reporter: Reporter | None = None
) -> dict[str, Any]:
    """Measure the rates for these encoder presets and store them with the others."""
    reporter = reporter or SilentReporter()
    cache_root = Path(cache_root)
    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root / "calibration.lock")):
        data = load_calibration(cache_root) or {
            "schema": CAL_SCHEMA,
            "device": f"{platform.machine()} {platform.processor() or platform.node()}",
            "presets": {},
        }
        if data.get("renderer") != renderer_id():  # rates of other drawing code are stale
            data["presets"] = {}
            data["renderer"] = renderer_id()
        for p in encoder_presets:
            reporter.info(f"calibrating this device for encoder preset '{p}' (once)")
            data["presets"][p] = _measure(p)
        data["created"] = time.time()
        write_json(calibration_path(cache_root), data)
    return data


def renderer_id() -> str:
    """What the frame rates were measured with: new drawing code means new rates."""
    from shotcraft.draw import kernels
    from shotcraft.draw.procedural import DRAW_VERSION

    return f"{__version__} draw {DRAW_VERSION} {'native' if kernels.NATIVE else 'python'}"


def rates_for(
    cache_root: Path, encoder_preset: str, reporter: Reporter | None = None
) -> dict[str, float]:
    data = load_calibration(cache_root)
    if data.get("renderer") != renderer_id() or encoder_preset not in data.get("presets", {}):
        data = calibrate(cache_root, (encoder_preset,), reporter)
    return dict(data["presets"][encoder_preset])


def estimate(
    rates: dict[str, float],
    frames: int,
    size: tuple[int, int],
    samples: int,
    plate_size: tuple[int, int] | None,
    sprites_to_make: int,
    layers_cached: int,
) -> RenderEstimate:
    mpix = size[0] * size[1] / 1e6
    pipeline = rates.get("encoder_start_s", 0.0) + frames * mpix * rates["pipeline_s_per_mpix"]
    blur = frames * mpix * (samples - 1) * rates["composite_s_per_mpix"]
    plate = 0.0
    if plate_size is not None:
        plate = plate_size[0] * plate_size[1] / 1e6 * rates["plate_s_per_mpix"]
    sprites = sprites_to_make * rates["sprite_s"]
    total = FIXED_OVERHEAD + pipeline + blur + plate + sprites
    return RenderEstimate(
        seconds=total,
        frames=frames,
        megapixels=mpix,
        layers_to_make=int(plate_size is not None) + sprites_to_make,
        layers_cached=layers_cached,
        breakdown={
            "frames": pipeline + blur,
            "plate": plate,
            "sprites": sprites,
            "overhead": FIXED_OVERHEAD,
        },
    )


def _measure_model(backend: ModelBackend) -> dict[str, float]:
    """Seconds per call and per denoiser step against image size, text-to-image and
    image-to-image, from a few short paints at two sizes (through `time_call`, the calls a
    render makes)."""
    backend.load()  # timed as load_seconds
    m = backend.size_multiple()
    a, b = (m * 2, m * 2), (m * 4, m * 4)
    mpix_a, mpix_b = a[0] * a[1] / 1e6, b[0] * b[1] / 1e6
    warm_t2i = backend.time_call("t2i", a, 1)
    t1 = backend.time_call("t2i", a, 1)
    t3 = backend.time_call("t2i", a, 3)
    step_a = max(1e-6, (t3 - t1) / 2)
    call_t2i = max(0.0, t1 - step_a)
    tb = backend.time_call("t2i", b, 3)
    step_b = max(step_a, (tb - call_t2i) / 3)
    slope = (step_b - step_a) / (mpix_b - mpix_a)
    warm_i2i = backend.time_call("i2i", a, 4, strength=0.5)
    ti = backend.time_call("i2i", a, 4, strength=0.5)
    return {
        "step_s": max(0.0, step_a - slope * mpix_a),
        "step_s_per_mpix": slope,
        "call_t2i_s": call_t2i,
        "call_i2i_s": max(0.0, ti - backend.steps("i2i", 4, 0.5) * step_a),
        "load_s": backend.load_seconds,
        # a process's first call of each pipeline costs extra (lazy initialisation)
        "warmup_t2i_s": max(0.0, warm_t2i - t1),
        "warmup_i2i_s": max(0.0, warm_i2i - ti),
        "multiple": m,
    }


def known_model_rates(cache_root: Path, backend: ModelBackend) -> dict[str, float] | None:
    """The model's rates if this device has measured them, without loading anything."""
    key = f"{backend.identity}@{backend.device_request}"
    rates = load_calibration(cache_root).get("models", {}).get(key)
    return dict(rates) if rates else None


def model_rates(
    cache_root: Path, backend: ModelBackend, reporter: Reporter | None = None, again: bool = False
) -> dict[str, float]:
    """The denoiser rates of this model on this device, measured once and kept."""
    reporter = reporter or SilentReporter()
    key = f"{backend.identity}@{backend.device_request}"
    data = load_calibration(cache_root)
    if key in data.get("models", {}) and not again:
        return dict(data["models"][key])
    reporter.info(f"calibrating model '{backend.model.id}' on this device (once)")
    rates = _measure_model(backend)
    Path(cache_root).mkdir(parents=True, exist_ok=True)
    with FileLock(str(Path(cache_root) / "calibration.lock")):
        data = load_calibration(cache_root) or {"schema": CAL_SCHEMA, "presets": {}}
        data.setdefault("models", {})[key] = rates
        write_json(calibration_path(cache_root), data)
    return rates


def denoise_seconds(
    rates: dict[str, float], steps: int, size: tuple[int, int], call: str = ""
) -> float:
    """Seconds for one pipeline call of `steps` denoiser steps at `size`; `call` ("t2i" or
    "i2i") adds that pipeline's fixed cost per call (text encoding, VAE)."""
    per_step = rates["step_s"] + rates["step_s_per_mpix"] * size[0] * size[1] / 1e6
    fixed = rates.get(f"call_{call}_s", 0.0) if call else 0.0
    return fixed + steps * per_step
