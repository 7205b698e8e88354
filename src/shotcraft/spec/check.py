"""Small validation toolkit: read typed values out of parsed TOML and collect every problem."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shotcraft.errors import Problem

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
COLOR_RE = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
MISSING: Any = object()


def _line_index(text: str) -> dict[str, int]:
    """Map key paths ("shot.fps", "subjects[1].keys") to the line that sets them.

    Good enough for the files people write: table headers and `key = value` lines.
    """
    index: dict[str, int] = {}
    prefix = ""
    counts: dict[str, int] = {}
    header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
    assign = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
    for n, line in enumerate(text.splitlines(), start=1):
        m = header.match(line)
        if m:
            name = m.group(2)
            if m.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                prefix = f"{name}[{counts[name]}]"
            else:
                prefix = name
            index.setdefault(prefix, n)
            continue
        m = assign.match(line)
        if m:
            key = f"{prefix}.{m.group(1)}" if prefix else m.group(1)
            index.setdefault(key, n)
    return index


class Checker:
    """Reads values by key path and records a Problem for each bad one instead of raising."""

    def __init__(self, text: str, base_dir: Path) -> None:
        self.problems: list[Problem] = []
        self.base_dir = base_dir
        self._lines = _line_index(text)

    def line_of(self, path: str) -> int | None:
        p = path
        while p:
            if p in self._lines:
                return self._lines[p]
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""
        return None

    @staticmethod
    def suggest(word: str, allowed: list[str]) -> str:
        close = _close(word, allowed)
        return f"; did you mean '{close[0]}'?" if close else ""

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, self.line_of(path)))

    # --- structure -------------------------------------------------------------------
    def table(self, value: Any, path: str, allowed: Iterable[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"must be a table, got {_kind(value)}")
            return None
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                hint = self.suggest(key, allowed)
                where = f"{path}.{key}" if path else key
                self.fail(where, f"unknown key{hint} (allowed: {', '.join(allowed)})")
        return value

    def array(self, value: Any, path: str, max_len: int, min_len: int = 0) -> list[Any] | None:
        if not isinstance(value, list):
            self.fail(path, f"must be an array, got {_kind(value)}")
            return None
        if len(value) > max_len:
            self.fail(path, f"has {len(value)} entries; at most {max_len} are allowed")
            return None
        if len(value) < min_len:
            self.fail(path, f"needs at least {min_len} entries, got {len(value)}")
            return None
        return value

    # --- scalars ---------------------------------------------------------------------
    def number(
        self,
        tbl: dict[str, Any],
        key: str,
        path: str,
        lo: float,
        hi: float,
        default: Any = MISSING,
        integer: bool = False,
        lo_open: bool = False,
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in tbl:
            if default is MISSING:
                self.fail(where, "is required")
                return None
            return default
        return self.number_value(tbl[key], where, lo, hi, integer, lo_open)

    def number_value(
        self, v: Any, where: str, lo: float, hi: float, integer: bool = False, lo_open: bool = False
    ) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            want = "an integer" if integer else "a number"
            self.fail(where, f"must be {want}, got {_kind(v)}")
            return None
        if integer and not isinstance(v, int):
            self.fail(where, f"must be an integer, got {v!r}")
            return None
        if not math.isfinite(v):
            self.fail(where, f"must be a finite number, got {v!r}")
            return None
        low_bad = v <= lo if lo_open else v < lo
        if low_bad or v > hi:
            lo_s = f"more than {_fmt(lo)}" if lo_open else f"at least {_fmt(lo)}"
            self.fail(where, f"must be {lo_s} and at most {_fmt(hi)}, got {_fmt(v)}")
            return None
        return int(v) if integer else float(v)

    def string(
        self,
        tbl: dict[str, Any],
        key: str,
        path: str,
        default: Any = MISSING,
        max_len: int = 2000,
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in tbl:
            if default is MISSING:
                self.fail(where, "is required")
                return None
            return default
        v = tbl[key]
        if not isinstance(v, str):
            self.fail(where, f"must be a string, got {_kind(v)}")
            return None
        if len(v) > max_len:
            self.fail(where, f"is {len(v)} characters long; at most {max_len} are allowed")
            return None
        return v

    def boolean(self, tbl: dict[str, Any], key: str, path: str, default: Any) -> Any:
        if key not in tbl:
            return default
        v = tbl[key]
        if not isinstance(v, bool):
            self.fail(_join(path, key), f"must be true or false, got {_kind(v)}")
            return None
        return v

    def choice(
        self,
        tbl: dict[str, Any],
        key: str,
        path: str,
        allowed: Iterable[str],
        default: Any = MISSING,
        extra: Callable[[str], bool] | None = None,
        extra_doc: str = "",
    ) -> Any:
        v = self.string(tbl, key, path, default)
        if v is None or v is default:
            return v
        allowed = list(allowed)
        if v in allowed or (extra is not None and extra(v)):
            return v
        hint = self.suggest(v, allowed)
        options = ", ".join(allowed) + (f", {extra_doc}" if extra_doc else "")
        self.fail(_join(path, key), f"'{v}' is not allowed{hint} (allowed: {options})")
        return None

    def ident(self, tbl: dict[str, Any], key: str, path: str, default: Any = MISSING) -> Any:
        v = self.string(tbl, key, path, default, max_len=64)
        if isinstance(v, str) and v is not default and not ID_RE.match(v):
            self.fail(
                _join(path, key),
                f"'{v}' is not a safe id (use letters, digits, '-' and '_', starting with a "
                "letter or digit, at most 64 characters)",
            )
            return None
        return v

    def color(self, v: Any, where: str) -> tuple[int, int, int] | None:
        if not isinstance(v, str) or not COLOR_RE.match(v):
            self.fail(where, f'must be a colour like "#c8553d" or "#fa0", got {v!r}')
            return None
        h = v[1:]
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))

    def vec2(
        self, v: Any, where: str, lo: float, hi: float, integer: bool = False
    ) -> tuple[Any, Any] | None:
        if not isinstance(v, list) or len(v) != 2:
            self.fail(where, f"must be a pair like [0.5, 0.5], got {v!r}")
            return None
        a = self.number_value(v[0], f"{where}[0]", lo, hi, integer)
        b = self.number_value(v[1], f"{where}[1]", lo, hi, integer)
        if a is None or b is None:
            return None
        return (a, b)

    def asset(self, tbl: dict[str, Any], key: str, path: str, kinds: str = "") -> Path | None:
        v = self.string(tbl, key, path, default=None)
        if v is None:
            return None
        where = _join(path, key)
        p = Path(v).expanduser()
        full = p if p.is_absolute() else (self.base_dir / p)
        if not full.is_file():
            message = f"file not found: {full} (paths are relative to the spec file)"
            self.problems.append(Problem(where, message, self.line_of(where), missing_file=True))
            return None
        return full.resolve()


def _join(path: str, key: str) -> str:
    """A key path: "shot.fps", or just "crf" at the top of a file (no leading dot)."""
    return f"{path}.{key}" if path else key


def _close(word: str, allowed: list[str]) -> list[str]:
    import difflib  # only when something is misspelt

    return difflib.get_close_matches(word, allowed, n=1)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
