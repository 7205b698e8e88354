"""`--jobs N`: the render's units in worker processes on this machine, over the one cache
folder (its lock per key makes a layer once however many workers need it)."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from shotcraft.errors import RenderFailed
from shotcraft.executors import work

if TYPE_CHECKING:
    from shotcraft.executors.spec import ExecutorSpec
    from shotcraft.stages.common import Settings
    from shotcraft.stages.pipeline import Pipeline, RenderWork

# what a worker imports before its first unit (the fork server loads them once)
_PRELOAD = ["shotcraft.executors.work", "shotcraft.stages.frames", "shotcraft.backends"]


def _worker_start(progress: Any) -> None:
    # terminate() (the driver interrupted) ends a worker through Python, so its temporary
    # files are removed on the way out like on any exception
    signal.signal(signal.SIGTERM, _exit)
    work.set_progress(progress)


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _done(value: Any) -> Future[Any]:
    f: Future[Any] = Future()
    f.set_result(value)
    return f


class LocalRunner:
    """Units in a pool of worker processes. Model work (a model's layers, harmonize key
    frames, a video-model shot) runs in this process instead: one model load, one GPU. A
    video model's chunks on the CPU go to the workers, each keeping the model loaded for
    the chunks it gets (on a GPU they stay here: one process, one copy of the weights)."""

    name = "local"
    passes_handles = False
    frame_progress = True  # workers report frames as they go (see progress())

    def __init__(
        self,
        pool: ProcessPoolExecutor,
        jobs: int,
        threads: int,
        settings: Settings,
        progress: Any,
    ) -> None:
        self.pool = pool
        self.jobs = jobs
        self.threads = threads
        self.settings = settings
        self._progress = progress

    @classmethod
    @contextlib.contextmanager
    def open(cls, spec: ExecutorSpec, settings: Settings) -> Iterator[LocalRunner]:
        jobs = spec.jobs or os.cpu_count() or 1
        # a fork server: workers start from a clean process (no driver threads copied, no
        # rich console), quickly, with shotcraft imported once
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        progress = ctx.SimpleQueue()
        pool = ProcessPoolExecutor(
            max_workers=jobs, mp_context=ctx, initializer=_worker_start, initargs=(progress,)
        )
        try:
            yield cls(pool, jobs, spec.threads, settings, progress)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            for p in list((getattr(pool, "_processes", None) or {}).values()):  # mid-unit
                p.terminate()
            raise
        pool.shutdown(wait=True)

    def workers(self) -> int:
        return self.jobs

    def layers(self, job: work.LayersJob) -> Future[work.LayerBytes]:
        return self.pool.submit(work.procedural_layers, job)

    def model_layers(self, job: work.LayersJob, pipeline: Pipeline) -> Future[work.LayerBytes]:
        return _done(work.make_layers(job, pipeline.backend))

    def key(
        self, job: work.KeyJob, layers: work.LayerBytes, pipeline: Pipeline
    ) -> Future[work.KeyDone]:
        return _done(work.paint_key(job, layers, pipeline.backend))

    def chunk(self, task: work.ChunkTask, backend: Any) -> Future[work.ChunkDone]:
        """A video chunk: in a worker when `backend` (this process's copy of the model, not
        loaded yet unless it painted here) runs on the CPU; else painted here by it."""
        if work.chunks_in_workers(backend.device):
            threads = self.threads or max(1, (os.cpu_count() or 1) // self.jobs)
            return self.pool.submit(
                work.paint_chunk_here, dataclasses.replace(task, threads=threads)
            )
        return _done(work.paint_video_chunk(task, backend))

    def chunks_coming(self, painter: Any) -> None:
        pass  # the pool's processes live for the command, each keeping what it loaded

    def chunks_handed(self, painter: Any) -> None:
        pass

    def segment(self, job: work.SegmentJob, layers: work.LayerBytes) -> Future[work.SegmentDone]:
        return self.pool.submit(work.render_segment, job, layers)

    def whole(self, pipeline: Pipeline, render: RenderWork) -> Future[Any]:
        from shotcraft.executors.run import whole_render

        return _done(whole_render(pipeline, render, self.settings))

    def wait(self, handles: list[Any]) -> tuple[list[Any], list[Any]]:
        # a short timeout: the bar moves with the frames, not only when a segment is done
        done, pending = wait(handles, timeout=0.2, return_when=FIRST_COMPLETED)
        return list(done), list(pending)

    def progress(self) -> int:
        """Frames drawn by the workers since the last call."""
        n = 0
        while not self._progress.empty():
            n += int(self._progress.get())
        return n

    def result(self, handle: Future[Any]) -> Any:
        try:
            return handle.result()
        except BrokenProcessPool:
            raise RenderFailed(
                "a worker process died (killed, or out of memory); nothing was written. "
                "Run again, or with --executor ray, which retries a unit whose worker died"
            ) from None

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            h.cancel()
