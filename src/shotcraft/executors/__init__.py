"""Running the render's pieces elsewhere: worker processes on this machine (`--jobs N`) or Ray
tasks and actors on a cluster (`--executor ray`). Ray is imported only by `executors.ray`."""
