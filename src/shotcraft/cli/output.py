"""Terminal output: rich progress on a terminal, plain lines in logs, errors to stderr."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

from shotcraft.errors import CannotWrite, ShotcraftError, is_write_fault
from shotcraft.progress import Advance, _ignore

if TYPE_CHECKING:
    from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")


class Output:
    """Where a command's words go. Warnings and errors: stderr. Results: stdout."""

    def __init__(self, quiet: bool = False, as_json: bool = False) -> None:
        self.quiet = quiet
        self.as_json = as_json
        self.interactive = sys.stderr.isatty() and not quiet and not as_json

    # rich is imported only when something is printed: a quiet make job never pays for it
    @cached_property
    def err(self) -> Console:
        return _console(stderr=True)

    @cached_property
    def out(self) -> Console:
        return _console(stderr=False)

    # Reporter protocol ---------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet and not self.as_json:
            self._line(message, stderr=True)

    def warn(self, message: str) -> None:
        self._line(f"warning: {message}", stderr=True, style="yellow")

    def _line(self, message: str, stderr: bool, style: str | None = None) -> None:
        """One line, through rich on a terminal; as it is elsewhere (what rich would print
        there anyway, without importing it: 13 ms of every scripted command's start-up)."""
        stream = sys.stderr if stderr else sys.stdout
        if _plain(stream):
            print(message, file=stream, flush=True)
        else:
            (self.err if stderr else self.out).print(message, markup=False, style=style)

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Advance]:
        if self.quiet or self.as_json or total <= 0:
            yield _ignore
            return
        if self.interactive:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            cols = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*cols, console=self.err, transient=True) as progress:
                tid = progress.add_task(label, total=total)

                def advance_bar(n: int = 1) -> None:
                    progress.advance(tid, n)

                yield advance_bar
            return
        # Not a terminal (make, CI): a plain line every 25%, so logs stay short.
        done = 0
        marks = {max(1, round(total * q)) for q in (0.25, 0.5, 0.75, 1.0)}
        t0 = time.perf_counter()

        def advance(n: int = 1) -> None:
            nonlocal done
            for _ in range(n):
                done += 1
                if done in marks:
                    pct = round(100 * done / total)
                    secs = time.perf_counter() - t0
                    print(
                        f"{label}: {pct}% ({done}/{total}) {secs:.1f}s", file=sys.stderr, flush=True
                    )

        yield advance

    # results ---------------------------------------------------------------------
    def result(self, message: str) -> None:
        if not self.quiet and not self.as_json:
            with _to_stdout():
                self._line(message, stderr=False)

    def emit_json(self, obj: Any) -> None:
        if self.as_json:
            with _to_stdout():
                sys.stdout.write(json.dumps(obj, indent=2) + "\n")
                sys.stdout.flush()


@contextlib.contextmanager
def _to_stdout() -> Iterator[None]:
    """A write to stdout that fails (a full disk under a redirect, /dev/full) names stdout."""
    try:
        yield
    except OSError as e:
        if is_write_fault(e):
            raise CannotWrite.from_os(e, "standard output") from None
        raise


def _plain(stream: Any) -> bool:
    """Whether lines to `stream` go out as they are: not a terminal (a log, a pipe, a make
    job) and no FORCE_COLOR."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return not tty and not os.environ.get("FORCE_COLOR")


def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class _ToReporter(logging.Handler):
    def __init__(self, output: Output) -> None:
        super().__init__(logging.WARNING)
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        self.output.warn(record.getMessage())


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into one line each on stderr and the design's exit code.

    Done inside the command (not around the app) so CliRunner tests see the same codes.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        report = Output()  # its console (and rich) is made only if an error is printed
        log = logging.getLogger("shotcraft")
        handler = _ToReporter(Output())
        log.addHandler(handler)
        log.propagate = False
        try:
            return fn(*args, **kwargs)
        except ShotcraftError as e:
            _print_error(report, e)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            report.err.print(
                "interrupted: finished work is kept; partial files were removed", markup=False
            )
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as e:
            if not is_write_fault(e):
                _report_bug(report)
                raise typer.Exit(1) from None
            # a full disk or an unwritable place (stdout on /dev/full included): the user's
            # to fix, and the atomic writes mean nothing final was replaced
            _print_error(report, CannotWrite.from_os(e))
            raise typer.Exit(CannotWrite.exit_code) from None
        except Exception:
            _report_bug(report)
            raise typer.Exit(1) from None
        finally:
            log.removeHandler(handler)

    return wrapper


def _print_error(report: Output, e: ShotcraftError) -> None:
    for line in e.lines():
        report.err.print(f"error: {printable(line)}", markup=False, style="red")


def printable(text: str) -> str:
    """One line stays one line: control characters from a file (a key named "\x1e", a
    path with a newline) are shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _report_bug(report: Output) -> None:
    report.err.print(traceback.format_exc(), markup=False)
    report.err.print(
        "shotcraft hit an unexpected error (a bug): please report it with the "
        "traceback above and the command you ran.",
        markup=False,
        style="red",
    )
