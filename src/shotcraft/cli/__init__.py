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
    except SystemExit as done:
        # The command is done and has said so. A Ctrl-C now, while Python shuts down (joining
        # worker threads, running atexit hooks), must not turn a finished run into a death by
        # signal (exit -2) with a traceback from the interpreter's own shutdown code.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _exit_now(done)
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


def _exit_now(done: SystemExit) -> None:
    """Exit with `done`'s status without tearing the interpreter down module by module,
    which took 30 to 40 ms after a render (numpy, PyAV, Typer and shotcraft's own modules):
    a tenth of a `refine`. Everything an exit must do is still done: the atexit hooks run
    (logging's flush, finalizers, Ray's shutdown) and both streams are flushed. Returns, for
    the ordinary exit, where a thread that Python would wait for is still running or the
    interpreter offers no way to run the hooks."""
    import atexit
    import sys
    import threading

    run_hooks = getattr(atexit, "_run_exitfuncs", None)  # CPython's own
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if run_hooks is None or any(not t.daemon for t in others):
        return
    code = done.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"), as Python does
        sys.stderr.write(f"{code}\n")
        code = 1
    try:
        run_hooks()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BaseException:  # a closed pipe, a full disk: Python's own exit reports those
        return
    os._exit(code or 0)


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
