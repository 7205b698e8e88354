"""`--executor ray`: the render's units as Ray tasks, model work in Ray actors.

Ray schedules, places, retries and cancels; shotcraft only says what each unit needs. A
shot's layers are made on the driver's node (its assets and its cache are there) and travel
to the segment tasks through Ray's object store, so workers need no shared folder; segments
are spread over the nodes. A task whose worker dies is run again (`max_retries`): units are
pure (values in, bytes out), so a retry makes the same bytes. Model work goes to one actor per
model, which keeps the pipeline loaded for every shot of the command (`num_gpus=1` when the
model runs on a GPU).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotcraft.errors import BackendUnavailable, RenderFailed
from shotcraft.executors import RAY_HINT, work

if TYPE_CHECKING:
    from shotcraft.backends import BackendPool
    from shotcraft.executors.run import WholeDone
    from shotcraft.executors.spec import ExecutorSpec
    from shotcraft.spec.model import ModelSpec, Preset, Shot
    from shotcraft.stages.common import Settings
    from shotcraft.stages.pipeline import Pipeline, RenderWork

ray: Any
try:
    import ray
except ImportError:  # the message is tested through open()
    ray = None

RETRIES = 3  # a unit whose worker dies (a node lost, a process killed) runs again


def _layers(job: work.LayersJob) -> work.LayerBytes:
    return work.procedural_layers(job)


def _segment(job: work.SegmentJob, layers: work.LayerBytes) -> work.SegmentDone:
    return work.render_segment(job, layers)


class ModelWorker:
    """A Ray actor that keeps models loaded: one backend object per model for its lifetime."""

    def __init__(self, cache_root: str, segment_gops: int) -> None:
        from shotcraft.backends import BackendPool

        self.cache_root = cache_root
        self.segment_gops = segment_gops
        self.pool: BackendPool = BackendPool()

    def layers(self, job: work.LayersJob, model: ModelSpec, device: str) -> work.LayerBytes:
        return work.make_layers(job, self.pool.get(model, device))

    def key(
        self, job: work.KeyJob, layers: work.LayerBytes, model: ModelSpec, device: str
    ) -> work.KeyDone:
        """One harmonize key frame painted here (into this node's cache, and returned)."""
        return work.paint_key(job, layers, self.pool.get(model, device))

    def chunk(self, task: work.ChunkTask) -> work.ChunkDone:
        """One video chunk painted here (into this node's cache, and returned)."""
        return work.paint_video_chunk(task, work.chunk_backend(task, self.pool))

    def whole(self, shot: Shot, preset: Preset, pick: int, estimate: Any, device: str) -> WholeDone:
        """A shot rendered here as one unit (harmonize, a video model): its clip's bytes."""
        from shotcraft.executors.run import WholeDone
        from shotcraft.project import ShotPaths, shot_digest
        from shotcraft.stages.common import Settings, ShotContext
        from shotcraft.stages.pipeline import Pipeline
        from shotcraft.stages.render import render_clip

        with tempfile.TemporaryDirectory(prefix="shotcraft-whole-") as tmp:
            settings = Settings(
                project=Path(tmp),
                cache_dir=Path(self.cache_root),
                device=device,
                segment_gops=self.segment_gops,
                backends=self.pool,
            )
            ctx = ShotContext(shot, preset, ShotPaths.of(Path(tmp), shot.id), shot_digest(shot))
            p = Pipeline(ctx, settings)
            report = render_clip(
                ctx,
                settings,
                p.backend,
                p.layout(pick),
                p.motion(pick),
                p.layer_plan(pick),
                p.units(pick),
                estimate,
            )
            clip = ctx.paths.clip.read_bytes()
        return WholeDone(shot.id, clip, report, work.worker_name())


class RayRunner:
    name = "ray"
    passes_handles = True  # a segment task takes its layers' ref: it starts where they land
    threads = 1  # a task holds one CPU: it draws and encodes on one thread
    frame_progress = False  # a segment reports when it is done

    def __init__(self, settings: Settings, started_seconds: float) -> None:
        assert ray is not None
        self.settings = settings
        self.startup_seconds = started_seconds  # 0 when a running cluster was joined
        self.owns_runtime = started_seconds > 0.0
        self._driver_node = ray.get_runtime_context().get_node_id()
        self._actors: dict[tuple[Any, str, int], Any] = {}
        # Segments go round the nodes, a slot per CPU. (SPREAD alone leaves short tasks on
        # the first worker leased: it is free again before a second lease is granted.)
        self._slots = [
            n["NodeID"]
            for n in sorted(ray.nodes(), key=lambda n: n["NodeID"])
            if n.get("Alive")
            for _ in range(int(n.get("Resources", {}).get("CPU", 0)))
        ]
        self._placed = 0
        self._keys = 0  # key frames handed out (round the model actors)
        self._chunk_actors: dict[Any, list[Any]] = {}  # a video model -> its chunk actors
        self._chunk_refs: dict[Any, Any] = {}  # a chunk in flight -> its model
        self._chunks = 0  # chunks handed out (round the chunk actors)
        self._chunk_shots: dict[Any, int] = {}  # a video model -> shots still handing out
        self._layers = ray.remote(num_cpus=1, max_retries=RETRIES)(_layers)
        self._segment = ray.remote(num_cpus=1, max_retries=RETRIES)(_segment)

    @classmethod
    @contextlib.contextmanager
    def open(cls, spec: ExecutorSpec, settings: Settings) -> Iterator[RayRunner]:
        if ray is None:
            raise BackendUnavailable(
                f"--executor ray needs Ray, which is not installed; install it with: {RAY_HINT}"
            )
        started = False
        t0 = time.perf_counter()
        if not ray.is_initialized():
            address = spec.address or os.environ.get("RAY_ADDRESS")
            kw: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
            try:
                if address:
                    ray.init(address=address, **kw)
                else:  # a Ray of our own for this command, never one found lying around
                    ray.init(address="local", num_cpus=spec.jobs, include_dashboard=False, **kw)
                    started = True
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = address or "a local Ray"
                raise BackendUnavailable(
                    f"--executor ray: cannot start or join {where}: {e}"
                ) from None
        try:
            yield cls(settings, time.perf_counter() - t0 if started else 0.0)
        finally:
            if started:
                ray.shutdown()

    def workers(self) -> int:
        assert ray is not None
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def layers(self, job: work.LayersJob) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # on the driver's node, where the shot's assets and the cache it estimated from are;
        # elsewhere when that node is busy (an actor may hold its only CPU)
        near = NodeAffinitySchedulingStrategy(
            self._driver_node, soft=True, _spill_on_unavailable=True
        )
        return self._layers.options(scheduling_strategy=near).remote(job)

    def _actor(self, model: Any, device: str, slot: int = 0) -> Any:
        """The actor that keeps `model` loaded; with `slot`, one of several: a model on GPUs
        gets an actor per GPU of the cluster for its key frames (on CPU, one: an actor
        holds a CPU the segments would otherwise use)."""
        assert ray is not None
        gpus = int(ray.cluster_resources().get("GPU", 0))
        wants_gpu = device == "cuda" or (device == "auto" and gpus > 0)
        slot %= max(1, gpus) if wants_gpu else 1
        key = (model, device, slot)
        if key not in self._actors:
            actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)(ModelWorker)
            self._actors[key] = actor.options(num_cpus=1, num_gpus=1 if wants_gpu else 0).remote(
                str(self.settings.cache.root), self.settings.segment_gops
            )
        return self._actors[key]

    def key(self, job: work.KeyJob, layers: Any, pipeline: Pipeline) -> Any:
        """A key frame on a model actor, round the actors (`layers`: a ref or the value)."""
        model, device = pipeline.ctx.shot.model, self.settings.device
        self._keys += 1
        return self._actor(model, device, self._keys).key.remote(job, layers, model, device)

    def chunk(self, task: work.ChunkTask, backend: Any) -> Any:
        """A video chunk on one of its model's chunk actors, in turn (`backend`: the
        driver's copy of the model, unused here: the actors load their own)."""
        assert ray is not None
        device = self.settings.device
        model = task.painter
        actors = self._chunk_actors.get(model)
        if actors is None:
            resources = ray.cluster_resources()
            gpus = int(resources.get("GPU", 0))
            wants_gpu = device == "cuda" or (device == "auto" and gpus > 0)
            # on the CPU, one per CPU that the other actors leave (a chunk actor waiting for
            # a CPU an actor holds for the command would never start)
            free = int(resources.get("CPU", 1)) - len(self._actors)
            n = gpus if wants_gpu else max(1, free)
            actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)(ModelWorker)
            actors = self._chunk_actors[model] = [
                actor.options(num_cpus=1, num_gpus=1 if wants_gpu else 0).remote(
                    str(self.settings.cache.root), self.settings.segment_gops
                )
                for _ in range(max(1, n))
            ]
        self._chunks += 1
        ref = actors[self._chunks % len(actors)].chunk.remote(task)
        self._chunk_refs[ref] = model
        return ref

    def chunks_coming(self, painter: Any) -> None:
        self._chunk_shots[painter] = self._chunk_shots.get(painter, 0) + 1

    def chunks_handed(self, painter: Any) -> None:
        self._chunk_shots[painter] = self._chunk_shots.get(painter, 0) - 1
        self._end_chunk_actors(painter)

    def _chunk_landed(self, ref: Any) -> None:
        """A chunk is in: its model's actors end when it was their last one."""
        model = self._chunk_refs.pop(ref, None)
        if model is not None:
            self._end_chunk_actors(model)

    def _end_chunk_actors(self, model: Any) -> None:
        """A model's chunk actors end (their CPUs go back to the segments) once no chunk of
        it is in flight and no shot has more to hand out: one load per actor, not per shot."""
        assert ray is not None
        if model in self._chunk_refs.values() or self._chunk_shots.get(model, 0) > 0:
            return
        for actor in self._chunk_actors.pop(model, []):
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)

    def model_layers(self, job: work.LayersJob, pipeline: Pipeline) -> Any:
        device = self.settings.device
        return self._actor(pipeline.ctx.shot.model, device).layers.remote(
            job, pipeline.ctx.shot.model, device
        )

    def segment(self, job: work.SegmentJob, layers: Any) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        strategy: Any = "SPREAD"
        if self._slots:
            # soft, spilling: a node that is gone or busy hands the task on (a plain soft
            # affinity waits for a busy node forever, as for one whose CPU an actor holds)
            node = self._slots[self._placed % len(self._slots)]
            strategy = NodeAffinitySchedulingStrategy(node, soft=True, _spill_on_unavailable=True)
            self._placed += 1
        return self._segment.options(scheduling_strategy=strategy).remote(job, layers)

    def whole(self, pipeline: Pipeline, render: RenderWork) -> Any:
        ctx, device = pipeline.ctx, self.settings.device
        actor = self._actor(ctx.shot.model, device)
        return actor.whole.remote(ctx.shot, ctx.preset, render.pick, render.estimate, device)

    def wait(self, handles: list[Any]) -> tuple[list[Any], list[Any]]:
        assert ray is not None
        done, pending = ray.wait(handles, num_returns=1)
        return list(done), list(pending)

    def progress(self) -> int:
        return 0  # the bar moves a segment at a time

    def result(self, handle: Any) -> Any:
        assert ray is not None
        try:
            value = ray.get(handle)
            self._chunk_landed(handle)
            return value
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.ActorDiedError) as e:
            raise RenderFailed(f"a Ray worker died {RETRIES + 1} times on one unit: {e}") from None

    def cancel(self, handles: list[Any]) -> None:
        """Stop every unit. A runtime this command started is about to be shut down, which
        ends its tasks and actors (segment tasks keep nothing on disk, so nothing is left).
        Cancelling there as well once made the pinned Ray abort the driver (exit 1,
        task_manager.cc "Tried to complete task that was not pending"), likely a race with
        tasks that a terminal's Ctrl-C had already stopped. On a joined cluster the tasks are
        cancelled (a KeyboardInterrupt in each); a running actor task is not interrupted
        (Ray keeps actors' state whole) and ends with the job."""
        assert ray is not None
        if self.owns_runtime:
            return
        for h in handles:
            with contextlib.suppress(Exception):
                ray.cancel(h)
