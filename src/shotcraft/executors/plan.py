"""What running a render's units in parallel will cost: the critical path, not the sum.

The estimate (stages/estimate.py, cost.py) prices one process's work; `critical_path` spreads
its frame work over the segments and workers, adds what starting workers costs (and Ray, when
a runtime has to be started for the command), and says when that will not pay for itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shotcraft.cost import RenderEstimate

# Measured on the development machine (2 cores): a fork-server worker's first unit waits this
# long for its process and imports; `ray.init` of a local runtime took 10 to 20 s (the machine
# shared, load 13): the lower figure is kept.
WORKER_START_S = 0.4
RAY_START_S = 10.0
SPLICE_S_PER_FRAME = 7e-5  # joining segments: a remux, about 20 ms for 300 720p frames


@dataclass(frozen=True, slots=True)
class ParallelEstimate:
    seconds: float  # the critical path, start-up included
    serial_seconds: float  # the same render in one process
    workers: int
    segments: int
    startup: float
    note: str = ""  # set when parallelism will not pay
    worker_load: float = 0.0  # each worker's model load and imports, in `startup`

    @property
    def pays(self) -> bool:
        return not self.note

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "serial_seconds": round(self.serial_seconds, 3),
            "workers": self.workers,
            "segments": self.segments,
            "startup_seconds": round(self.startup, 3),
            "worker_load_seconds": round(self.worker_load, 3),
            **({"note": self.note} if self.note else {}),
        }


def critical_path(
    estimate: RenderEstimate,
    segments: int,
    workers: int,
    start_ray: bool = False,
    spread: tuple[str, ...] = ("frames",),
    model_units: bool = False,
) -> ParallelEstimate:
    """The estimate of one shot whose `segments` are spread over `workers`: the layers first
    (one unit), then the segments in waves of `workers`, then the splice. `spread`: the
    parts of the estimate the units share (a video model's chunks: "video"; the frames
    are then drawn and encoded in one place). `model_units`: the units call the model in
    worker processes, each of which loads it (and pays its imports) before its first unit;
    the workers load side by side, so one load is on the critical path, and the one-process
    load the estimate counts (`model_load`, in the driver) is not paid there."""
    frames_s = sum(estimate.breakdown.get(k, 0.0) for k in spread)
    rest = max(0.0, estimate.seconds - frames_s)
    segments, workers = max(1, segments), max(1, workers)
    waves = math.ceil(segments / workers)
    parallel = workers > 1 or start_ray
    worker_load = estimate.worker_startup if model_units and parallel else 0.0
    if worker_load:  # the driver's own load (and imports) moves to the workers
        rest = max(0.0, rest - estimate.breakdown.get("model_load", 0.0))
    startup = (
        (RAY_START_S if start_ray else 0.0) + (WORKER_START_S if workers > 1 else 0.0) + worker_load
    )
    used = min(workers, segments)
    seconds = rest + frames_s / segments * waves + estimate.frames * SPLICE_S_PER_FRAME + startup
    note = ""
    if seconds >= estimate.seconds:
        unit = "segment" if spread == ("frames",) else "chunk"
        if segments == 1:
            why = f"the shot is one {unit}"
        elif worker_load:
            why = f"start-up is {startup:.1f}s, {worker_load:.1f}s of it loading the model"
        else:
            why = f"start-up is {startup:.1f}s"
        note = (
            f"parallelism will not pay: about {seconds:.1f}s on {used} workers against "
            f"{estimate.seconds:.1f}s in one process ({why}); render it without --jobs"
        )
    return ParallelEstimate(seconds, estimate.seconds, used, segments, startup, note, worker_load)
