"""The command line: a thin Typer layer over shotcraft.stages."""

import os
from collections.abc import Callable
from typing import Any

# numpy's OpenBLAS starts a thread per core at its first matrix call, and those threads spin
# for a while after each one. shotcraft only ever solves 3x3 matrices with it; its parallel
# work is its own drawing threads and the encoder's, which the spinning would take CPU from.
# Set before anything imports numpy; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    """The console entry point. It imports the app itself, so a Ctrl-C while Typer, rich or
    numpy are still importing exits 130 with one line, like one during the work does."""
    import signal
    import sys

    sys.unraisablehook = _ctrl_c_again(sys.unraisablehook)
    try:
        from shotcraft.cli.app import main as run

        run()
    except SystemExit:
        # The command is done and has said so. A Ctrl-C now, while Python shuts down (joining
        # worker threads, running atexit hooks), must not turn a finished run into a death by
        # signal (exit -2) with a traceback from the interpreter's own shutdown code.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise
    except KeyboardInterrupt:
        try:
            sys.stderr.write("interrupted: finished work is kept; partial files were removed\n")
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        except BaseException:  # a second Ctrl-C, a closed pipe: still exit 130, quietly
            pass
        # not sys.exit: a Ctrl-C during the interpreter's own shutdown would be a traceback
        os._exit(130)


def _ctrl_c_again(default: Callable[[Any], object]) -> Callable[[Any], None]:
    """An unraisable-exception hook that does not lose a Ctrl-C: one that lands while Python
    runs a finalizer or a weakref callback is printed and dropped there, and the command
    would go on to the end. This sends it again, a moment later, to the main thread's
    ordinary code."""
    import signal
    import threading

    def hook(u: Any) -> None:
        if isinstance(getattr(u, "exc_value", None), KeyboardInterrupt):
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
            return
        default(u)

    return hook
