"""Every documented value of every enumerated key is drawn at least once, and its pixels or
frames checked: a documented value that crashes (gradient did) cannot ship."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shotcraft.media.probe import frames, probe
from shotcraft.spec.model import (
    BACKGROUND_STYLES,
    EASINGS,
    FACINGS,
    GAITS,
    PATHS,
    SHAPES,
    TRANSITIONS,
)
from shotcraft.stages.compose import FORMATS

Run = Callable[..., object]


def _ok(r: object) -> None:
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("style", BACKGROUND_STYLES)
def test_every_background_style_draws(
    cli: Run, write_shot: Callable[..., Path], project: Path, style: str
) -> None:
    shot = write_shot(
        "version = 1\n[shot]\nduration = 0.25\nfps = 8\nsize = [64, 48]\n"
        f'[background]\nstyle = "{style}"\ncolors = ["#103060", "#f0a040"]\n',
        f"{style}.toml",
    )
    _ok(cli("render", shot))
    clip = project / style / "clip.mp4"
    assert probe(clip).frames == 2
    img = next(frames(clip)).astype(float)
    top, low = img[:3].mean(axis=(0, 1)), img[18:22].mean(axis=(0, 1))
    if style == "solid":
        assert img.mean(axis=(0, 1)) == pytest.approx([0x10, 0x30, 0x60], abs=5)
        assert img.std(axis=(0, 1)).max() < 3
    else:  # darker at the top, towards orange lower down (the sky, above any ridge)
        assert low[0] > top[0] + 30, (top, low)
        if style == "gradient":  # rows of one colour each
            assert top[2] > top[0] + 20
            assert img.std(axis=1).max() < 3
        else:  # sun, haze and ridges: not a plain gradient
            assert img.std(axis=1).max() > 10


def _subjects() -> tuple[str, list[tuple[int, int, int]]]:
    """Six subjects: every shape and every gait once; eases, paths and facings cycle through
    all their values (the ease list gains a cubic-bezier)."""
    colours = [(230, 30, 30), (30, 220, 30), (40, 40, 240), (230, 230, 30), (230, 30, 230)]
    colours.append((30, 230, 230))
    eases = [*EASINGS, "cubic-bezier(0.2, 0.0, 0.3, 1.0)"]
    assert len(SHAPES) == len(GAITS) == len(colours) >= max(len(eases), len(PATHS), len(FACINGS))
    text = ""
    for i, (shape, gait, colour) in enumerate(zip(SHAPES, GAITS, colours, strict=True)):
        x = 0.09 + i * 0.165
        text += (
            f'[[subjects]]\nid = "s{i}"\nshape = "{shape}"\nmotion = "{gait}"\n'
            f'color = "#{colour[0]:02x}{colour[1]:02x}{colour[2]:02x}"\nheight = 0.3\n'
            "shadow = false\n"
            f"keys = [ {{ t = 0.0, at = [{x:.3f}, 0.6] }}, "
            f'{{ t = 0.5, at = [{x + 0.02:.3f}, 0.62], ease = "{eases[i % len(eases)]}", '
            f'path = "{PATHS[i % len(PATHS)]}", face = "{FACINGS[i % len(FACINGS)]}" }} ]\n'
        )
    return text, colours


def test_every_shape_gait_ease_path_and_facing_draws(
    cli: Run, write_shot: Callable[..., Path], project: Path
) -> None:
    subjects, colours = _subjects()
    shot = write_shot(
        "version = 1\n[shot]\nduration = 0.5\nfps = 8\nsize = [384, 96]\n"
        '[background]\nstyle = "solid"\ncolors = ["#000000"]\n' + subjects,
        "cast.toml",
    )
    _ok(cli("render", shot))
    clip = project / "cast" / "clip.mp4"
    assert probe(clip).frames == 4
    for img in (list(frames(clip))[i].astype(int) for i in (0, -1)):
        for i, colour in enumerate(colours):
            strip = img[:, round(384 * (0.005 + i * 0.165)) : round(384 * (0.175 + i * 0.165))]
            on = np.array(colour) > 128
            match = np.all((strip > 90) == on, axis=2) & (strip.max(axis=2) > 120)
            assert match.sum() > 40, (SHAPES[i], GAITS[i], int(match.sum()))


def _transitions() -> list[tuple[str, str]]:
    out = [(kind, "left") for kind in TRANSITIONS if kind != "wipe"]
    return out + [("wipe", d) for d in ("left", "right", "up", "down")]


def test_every_transition_blends_as_documented(cli: Run, tmp_path: Path, project: Path) -> None:
    from tests.integration.test_compose import _reel

    kinds = _transitions()
    names = [f"c{i}" for i in range(len(kinds) + 1)]
    # 18 frames a clip: the 6 frames of the transition in and the 6 of the one out leave 6
    colours = {n: ((200, 40, 40) if i % 2 == 0 else (40, 40, 200), 18) for i, n in enumerate(names)}
    body = "[[clips]]\nshot = 'c0.toml'\n"
    for n, (kind, direction) in zip(names[1:], kinds, strict=True):
        dur = 0.0 if kind == "cut" else 0.5
        tr = f"{{ kind = '{kind}', duration = {dur}, direction = '{direction}' }}"
        body += f"[[clips]]\nshot = '{n}.toml'\ntransition = {tr}\n"
    reel = _reel(tmp_path, project, body, colours)
    _ok(cli("compose", reel))
    decoded = [f.astype(float) for f in frames(project / "reel.mp4")]
    overlap = [0 if k == "cut" else 6 for k, _ in kinds]
    assert len(decoded) == 18 * len(names) - sum(overlap)
    start, previous = 0, 0
    for i, ((kind, direction), n) in enumerate(zip(kinds, overlap, strict=True)):
        start += 18 - n - previous  # first frame of transition i (frames before it: clip ends)
        mid = decoded[start + n // 2] if n else decoded[start]
        before, after = colours[names[i]][0], colours[names[i + 1]][0]
        h, w = mid.shape[:2]
        if kind == "cut":
            assert mid.mean(axis=(0, 1)) == pytest.approx(after, abs=8)
            assert decoded[start - 1].mean(axis=(0, 1)) == pytest.approx(before, abs=8)
        elif kind == "crossfade":
            assert mid.mean(axis=(0, 1)) == pytest.approx(np.add(before, after) / 2, abs=25)
        elif kind == "dip":
            assert mid.mean() < 0.6 * min(np.mean(before), np.mean(after))
        else:  # wipe: one side already the next clip, the other still the last
            a, b = (
                (mid[:, : w // 5], mid[:, -w // 5 :])
                if direction in ("left", "right")
                else (mid[: h // 5], mid[-h // 5 :])
            )
            ca, cb = a.mean(axis=(0, 1)), b.mean(axis=(0, 1))
            assert abs(ca[0] - cb[0]) > 100, (direction, ca, cb)
        start += n
        previous = n


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_output_format_holds_every_frame(
    cli: Run, tmp_path: Path, project: Path, fmt: str
) -> None:
    from tests.integration.test_compose import _reel

    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'b.toml'\n"
        "transition = { kind = 'crossfade', duration = 0.25 }\n",
        {"a": ((200, 40, 40), 12), "b": ((40, 40, 200), 12)},
    )
    out = tmp_path / f"reel.{fmt}"
    _ok(cli("compose", reel, "-o", out))
    info = probe(out)
    assert info.frames == 21 and info.size == (64, 48)
    decoded = list(frames(out))
    assert decoded[0].astype(float).mean(axis=(0, 1)) == pytest.approx([200, 40, 40], abs=10)
    assert decoded[-1].astype(float).mean(axis=(0, 1)) == pytest.approx([40, 40, 200], abs=10)
