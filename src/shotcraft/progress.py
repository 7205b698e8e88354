"""How the library reports progress: a small protocol the CLI implements (rich or plain)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def task(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]: ...


class SilentReporter:
    """The default for library callers: reports nothing."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Advance]:
        yield _ignore


def _ignore(n: int = 1) -> None:
    pass
