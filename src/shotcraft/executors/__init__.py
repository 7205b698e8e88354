"""Running the render's pieces elsewhere: worker processes on this machine (`--jobs N`) or Ray
tasks and actors on a cluster (`--executor ray`). Ray is imported only by `executors.ray`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shotcraft.executors.run import Runner
    from shotcraft.executors.spec import ExecutorSpec
    from shotcraft.stages.common import Settings

RAY_HINT = "pip install 'shotcraft[ray]'"


@contextlib.contextmanager
def open_runner(spec: ExecutorSpec, settings: Settings) -> Iterator[Runner]:
    """The runner `spec` asks for, open for the block: worker processes or a Ray connection
    (started for the command when there is no cluster to join)."""
    if spec.kind == "ray":
        from shotcraft.executors.cluster import RayRunner

        with RayRunner.open(spec, settings) as runner:
            yield runner
        return
    from shotcraft.executors.local import LocalRunner

    with LocalRunner.open(spec, settings) as local:
        yield local
