"""The interfaces backends offer the stages: `Backend` (plates and sprites, every backend) and
`ModelBackend` (what a painting model adds: text-to-image, image-to-image, its step counts and
sizes, a timing call for calibration, a step callback).

Stages and the cost model talk to a model only through `ModelBackend`; whether a backend is
one is an `isinstance` check, never a probe for attributes.
"""

from __future__ import annotations

import importlib
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal, Protocol

from PIL import Image

from shotcraft.draw.plate import Plate
from shotcraft.layout.planner import SubjectLayout
from shotcraft.spec.model import Background, ModelSpec, Subject

PaintKind = Literal["t2i", "i2i"]


class Backend(Protocol):
    name: str
    version: str
    threads: int  # layers it may make at once (a model on one device: 1)

    @property
    def denoiser_calls(self) -> int:
        """Denoiser evaluations made so far (0 for drawing backends)."""
        ...

    def plate_spec(self, background: Background, size: tuple[int, int]) -> dict[str, Any]:
        """The cache key spec of a plate: everything that changes its pixels."""
        ...

    def plate(self, background: Background, size: tuple[int, int]) -> Plate:
        """The plate's layers, far to near, each with its parallax."""
        ...

    def sprite_spec(self, subject: Subject, sl: SubjectLayout, height: int) -> dict[str, Any]: ...

    def sprite(self, subject: Subject, sl: SubjectLayout, height: int) -> Image.Image:
        """An RGBA sprite `height` pixels tall, facing right."""
        ...


class ModelBackend(ABC):
    """A backend that paints with a model. Loading is lazy (the first paint, or `load()`), and
    happens at most once per object; the process keeps one object per model (see
    `backends.get_backend`)."""

    name: str
    version: str
    threads = 1  # one model on one device paints one layer at a time
    model: ModelSpec
    identity: str  # what identifies the weights in cache keys and calibration
    device_request: str  # "auto", "cpu", "cuda", ...

    def __init__(self) -> None:
        self.denoiser_calls = 0
        self.load_seconds = 0.0  # time spent loading (reading weights, placing them)
        # seconds this process spent importing the libraries the model needs, by the module
        # whose presence in sys.modules says it is done: a process that has imported it
        # does not pay it again (see cost.with_model); not part of `load_seconds`
        self.imports: dict[str, float] = {}
        # every module key the model's loading goes through, imported here or found imported
        # (what a record of import times should hold: see cost.observe_startup)
        self.import_keys: list[str] = []
        self.startup_reported = False  # whether the cost model has taken this load's times
        self.on_step: Callable[[], None] | None = None

    def timed_import(self, module: str, name: str | None = None) -> Any:
        """Import `module` (or its attribute `name`: a class of a lazy package such as
        diffusers, which imports the module defining it) and return it; the seconds go to
        `imports` when this process imports it now, keyed by the module that ends up in
        sys.modules (for `name`, the one that defines it).

        The seconds are the import's CPU time where that is less than its wall time: an import
        is CPU work on files the page cache holds, and its wall time adds whatever else the
        machine did in those seconds (on this 2-core test machine, the same imports took 6.4
        to 14 s of wall time and 4.7 to 6 s of CPU time)."""
        if name is None and module in sys.modules:
            if module not in self.import_keys:
                self.import_keys.append(module)
            return sys.modules[module]
        before = set(sys.modules) if name is not None else set()
        wall, cpu = time.perf_counter(), time.process_time()
        obj: Any = importlib.import_module(module)
        if name is not None:
            obj = getattr(obj, name)
        took = min(time.perf_counter() - wall, time.process_time() - cpu)
        key = str(getattr(obj, "__module__", module)) if name is not None else module
        if key not in sys.modules:  # a class defined elsewhere than it says: the package
            key = module
        if key not in self.import_keys:
            self.import_keys.append(key)
        if key not in before or name is None:
            self.imports[key] = self.imports.get(key, 0.0) + took
        return obj

    def take_startup(self) -> tuple[float | None, dict[str, float]]:
        """This process's load time (None if it has not loaded) and import times, once: the
        cost model learns each load from whichever comes first, calibration or the render's
        report, and never twice; nothing before a load."""
        if self.startup_reported or not self.loaded or self.load_seconds <= 0:
            return None, {}  # (a borrower of another's loaded pipeline loaded nothing)
        self.startup_reported = True
        return self.load_seconds, dict(self.imports)

    def count_step(self) -> None:
        """Called by the model's denoiser hook once per evaluation."""
        self.denoiser_calls += 1
        if self.on_step is not None:
            self.on_step()

    # --- loading ---------------------------------------------------------------------
    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether the model is in memory (a paint would not load it)."""

    @abstractmethod
    def load(self) -> None:
        """Load the model now (a no-op when loaded); the time goes to `load_seconds`, the
        libraries' imports to `imports`."""

    @property
    @abstractmethod
    def device(self) -> str:
        """The resolved device ("cpu", "cuda", ...); loads nothing, imports torch."""

    def same_weights(self, other: ModelBackend) -> bool:
        """Whether `other` paints with the very weights this one would load."""
        return (
            type(self) is type(other)
            and self.identity == other.identity
            and self.model.revision == other.model.revision
            and self.device_request == other.device_request
        )

    def borrow(self, other: ModelBackend) -> None:
        """Use `other`'s loaded components instead of loading them again (see BackendPool);
        a backend that cannot share loads its own."""
        return None

    # --- sizes and steps ---------------------------------------------------------------
    @abstractmethod
    def size_multiple(self) -> int:
        """Sides of a painted image are multiples of this."""

    @abstractmethod
    def paint_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size a layer or frame shown at `size` is painted at."""

    @abstractmethod
    def steps(
        self, kind: PaintKind, steps: int | None = None, strength: float | None = None
    ) -> int:
        """Denoiser evaluations one call of `kind` makes (image-to-image runs only the part of
        the schedule that `strength` asks for)."""

    # --- painting ----------------------------------------------------------------------
    @abstractmethod
    def text_to_image(
        self, prompt: str, size: tuple[int, int], seed: int, steps: int | None = None
    ) -> Image.Image:
        """Paint `prompt` at exactly `size` (sides multiples of `size_multiple()`; callers pick
        it with `paint_size`)."""

    @abstractmethod
    def image_to_image(
        self,
        image: Image.Image,
        prompt: str,
        seed: int,
        steps: int | None = None,
        strength: float | None = None,
    ) -> Image.Image:
        """Repaint `image` at `strength`, at exactly its own size (see `text_to_image`)."""

    @abstractmethod
    def harmonize_spec(
        self, composite_digest: str, size: tuple[int, int], seed: int
    ) -> dict[str, Any]:
        """The cache key spec of one harmonized frame."""

    def harmonize(self, composite: Image.Image, prompt: str, seed: int) -> Image.Image:
        """One key frame repainted at the model's strength, with the same noise (seed) for every
        frame: painted at `paint_size`, returned at the composite's size."""
        size = composite.size
        painted = self.image_to_image(
            composite.resize(self.paint_size(size), Image.Resampling.LANCZOS), prompt, seed
        )
        return painted.convert("RGB").resize(size, Image.Resampling.LANCZOS)

    def guidance(self) -> float:
        """The guidance this model paints with (the shot's, else the family's default)."""
        return float(self.model.guidance or 0.0)

    def fewest_steps(self) -> int:
        """The fewest text-to-image steps this model still paints well with (what
        `--fit-budget` may go down to); families that know better say so."""
        return max(1, self.steps("t2i") // 2)

    def harmonize_steps(self) -> int:
        """Denoiser evaluations one harmonized frame costs."""
        return self.steps("i2i", strength=self.model.strength)

    # --- the video pass ----------------------------------------------------------------
    @property
    def has_video_pass(self) -> bool:
        """Whether `video_to_video` is available for this model."""
        return False

    def video_spec(self, chunk_digest: str, size: tuple[int, int], seed: int) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} has no video pass")

    def video_to_video(
        self, frames: list[Image.Image], prompt: str, seed: int
    ) -> list[Image.Image]:
        raise NotImplementedError(f"{type(self).__name__} has no video pass")

    # --- calibration -------------------------------------------------------------------
    def precision(self, device: str) -> str:
        """The dtype the model runs in on `device` (no torch import): part of its rates' key."""
        return "float16" if device.startswith(("cuda", "mps")) else "float32"

    def time_vae(self, kind: Literal["decode", "encode"], size: tuple[int, int]) -> float | None:
        """Seconds the VAE alone takes to decode (or encode) one image at paint size `size`;
        None where a backend cannot isolate it (calibration then counts it in each call's
        own cost)."""
        return None

    def time_call(
        self, kind: PaintKind, size: tuple[int, int], steps: int, strength: float = 0.5
    ) -> float:
        """Seconds one call of `kind` takes at paint size `size` with `steps` steps: the very
        calls a render makes (calibration must not drift from what it predicts)."""
        t0 = time.perf_counter()
        if kind == "t2i":
            self.text_to_image("calibration", size, 0, steps=steps)
        else:
            image = Image.new("RGB", size, (128, 128, 128))
            self.image_to_image(image, "calibration", 0, steps=steps, strength=strength)
        return time.perf_counter() - t0
