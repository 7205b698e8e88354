"""Fuzzing the files users write: valid shot, reel and preset files, mutated (keys dropped, types
swapped, extreme and non-finite numbers, random strings, random bytes). Whatever comes in, the
exit code is one from the table, there is no traceback, and an error writes nothing.

`make test` runs a few examples of each (the "ci" profile); `make fuzz` runs many
(SHOTCRAFT_FUZZ=1 selects the "fuzz" profile).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples on every run: a red build is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("SHOTCRAFT_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = "fuzz" if os.environ.get("SHOTCRAFT_FUZZ") else "ci"

EXIT_CODES = {0, 2, 3, 4, 5, 6, 7, 8}  # the table in `shotcraft --help`

SHOT: dict[str, Any] = {
    "version": 1,
    "shot": {"duration": 1.0, "fps": 8, "size": [64, 48], "seed": 3, "preset": "draft"},
    "background": {"style": "landscape", "colors": ["#203040", "#e0a070"], "extent": 1.2},
    "camera": {"keys": [{"t": 0.0, "zoom": 1.0}, {"t": 1.0, "pan": [0.1, 0.0], "zoom": 1.1}]},
    "subjects": [
        {
            "id": "fox",
            "shape": "star",
            "color": "#c8553d",
            "place": "left third, ground",
            "height": 0.3,
            "motion": "run",
            "keys": [{"t": 0.0}, {"t": 1.0, "at": [0.8, 0.8], "ease": "in-out", "path": "arc"}],
        }
    ],
}
REEL: dict[str, Any] = {
    "version": 1,
    "reel": {"size": [64, 48], "fps": 8},
    "clips": [
        {"shot": "shot.toml", "trim": [0.0, 0.5]},
        {"title": {"text": "end", "duration": 0.5, "color": "#101010"}},
        {"shot": "shot.toml", "transition": {"kind": "crossfade", "duration": 0.25}},
    ],
}
PRESET: dict[str, Any] = {
    "version": 1,
    "scale": 0.5,
    "samples": 1,
    "shutter": 0.5,
    "crf": 30,
    "encoder_preset": "ultrafast",
    "gop_seconds": 1.0,
    "animatic_scale": 0.25,
    "harmonize": False,
    "storyboard_steps": 0,
}


# --- a small TOML writer (inline tables: enough for any nesting) --------------------------
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {_value(v)}\n" for k, v in doc.items())


# --- mutations ----------------------------------------------------------------------------
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan]),
    st.text(max_size=30),
    st.sampled_from(["", " ", "../../etc/passwd", "#zzzzzz", "none", "left", "é" * 70]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _apply(doc: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    doc = json.loads(json.dumps(doc))  # a deep copy
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if op == "drop":
        del parent[last]
    elif op == "swap":
        parent[last] = value
    elif op == "wrap":  # a value where a table or list was, or the other way round
        parent[last] = [parent[last]] if not isinstance(parent[last], list) else {"x": value}
    elif op == "add" and isinstance(parent[last], dict):
        parent[last][str(value)[:12] or "k"] = value
    return doc


@st.composite
def mutated_text(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A file: the base document with one to three structural mutations, or its text with
    random bytes written over, inserted or cut."""
    if draw(st.integers(0, 4)) == 0:
        raw = bytearray(to_toml(base).encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(raw)))
            kind = draw(st.sampled_from(["flip", "insert", "cut"]))
            chunk = draw(st.binary(min_size=1, max_size=8))
            if kind == "flip":
                raw[at : at + len(chunk)] = chunk
            elif kind == "insert":
                raw[at:at] = chunk
            else:
                del raw[at : at + len(chunk)]
        return bytes(raw)
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "swap", "swap", "wrap", "add"]))
        doc = _apply(doc, path, op, draw(VALUES))
    return to_toml(doc).encode()


def _check(r: Any, project: Path) -> None:
    out: str = r.output
    assert r.exit_code in EXIT_CODES, out
    assert "Traceback" not in out and "unexpected error" not in out, out
    if r.exit_code != 0:
        lines = [line for line in out.splitlines() if line.strip()]
        assert lines and all(
            line.startswith(("error:", "warning:", "Usage:", "Try ", "╭", "│", "╰"))
            for line in lines
        ), out
        assert not project.exists() or not any(project.rglob("*")), "wrote something"


@pytest.fixture
def fuzz_dir(tmp_path: Path) -> Path:
    d = tmp_path / "fuzz"
    d.mkdir()
    return d


def _fresh(folder: Path) -> Path:
    project = folder / "build"
    shutil.rmtree(project, ignore_errors=True)
    return project


@settings(settings.get_profile(PROFILE))
@given(data=mutated_text(SHOT))
def test_mutated_shot_files(cli: Callable[..., Any], fuzz_dir: Path, data: bytes) -> None:
    shot = fuzz_dir / "shot.toml"
    shot.write_bytes(data)
    project = _fresh(fuzz_dir)
    _check(cli("status", shot, "--project", project), project)


@settings(settings.get_profile(PROFILE))
@given(data=mutated_text(REEL))
def test_mutated_reel_files(cli: Callable[..., Any], fuzz_dir: Path, data: bytes) -> None:
    (fuzz_dir / "shot.toml").write_text(to_toml(SHOT))
    reel = fuzz_dir / "reel.toml"
    reel.write_bytes(data)
    project = _fresh(fuzz_dir)
    r = cli("compose", reel, "--project", project)
    _check(r, project)
    assert r.exit_code != 0 or (project / "reel.mp4").is_file()


@settings(settings.get_profile(PROFILE))
@given(data=mutated_text(PRESET))
def test_mutated_preset_files(cli: Callable[..., Any], fuzz_dir: Path, data: bytes) -> None:
    (fuzz_dir / "presets").mkdir(exist_ok=True)
    (fuzz_dir / "presets" / "fz.toml").write_bytes(data)
    shot = fuzz_dir / "shot.toml"
    shot.write_text(to_toml({**SHOT, "shot": {**SHOT["shot"], "preset": "./presets/fz.toml"}}))
    project = _fresh(fuzz_dir)
    _check(cli("status", shot, "--project", project), project)
