"""compose: decoded reels have the frames, sizes and blends the reel file implies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shotcraft.media.encode import EncoderSettings, VideoWriter
from shotcraft.media.probe import frames, probe


def _flat_clip(path: Path, color: tuple[int, int, int], n: int, size=(64, 48), fps=12) -> None:
    with VideoWriter(path, size, fps, EncoderSettings(crf=0, preset="ultrafast", gop=fps)) as w:
        for _ in range(n):
            w.write(np.full((size[1], size[0], 3), color, dtype=np.uint8))


def _reel(
    tmp_path: Path, project: Path, body: str, clips: dict[str, tuple[tuple[int, int, int], int]]
) -> Path:
    for name, (color, n) in clips.items():
        (tmp_path / f"{name}.toml").write_text(f"version = 1\n[shot]\nid = '{name}'\n")
        _flat_clip(project / name / "clip.mp4", color, n)
    reel = tmp_path / "reel.toml"
    reel.write_text("version = 1\n[reel]\nsize = [64, 48]\nfps = 12\n" + body)
    return reel


def test_crossfade_reel_has_the_right_frames_and_blend(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'b.toml'\n"
        "transition = { kind = 'crossfade', duration = 0.25 }\n",  # 3 frames at 12 fps
        {"a": ((200, 40, 40), 12), "b": ((40, 40, 200), 12)},
    )
    r = cli("compose", reel, "--json")
    assert r.exit_code == 0, r.output
    out = project / "reel.mp4"
    assert json.loads(r.output)["frames"] == 21
    info = probe(out)
    assert info.frames == 12 + 12 - 3 and info.size == (64, 48)
    decoded = list(frames(out))
    mid = decoded[12 - 3 + 1].astype(float).mean(axis=(0, 1))  # the middle of the 3 blended
    assert mid == pytest.approx([120, 40, 120], abs=6)
    assert decoded[0].astype(float).mean(axis=(0, 1)) == pytest.approx([200, 40, 40], abs=6)
    assert decoded[-1].astype(float).mean(axis=(0, 1)) == pytest.approx([40, 40, 200], abs=6)


def test_cuts_trims_and_conforming(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\ntrim = [0.5, 1.0]\n[[clips]]\nshot = 'b.toml'\n",
        {"a": ((200, 40, 40), 12), "b": ((40, 200, 40), 12)},
    )
    # clip b at another size: scaled to the reel's size, with a warning
    _flat_clip(project / "b" / "clip.mp4", (40, 200, 40), 12, size=(32, 24))
    r = cli("compose", reel, "-o", tmp_path / "out.mp4")
    assert r.exit_code == 0, r.output
    assert "scaled" in r.output
    info = probe(tmp_path / "out.mp4")
    assert info.frames == 6 + 12 and info.size == (64, 48)


def test_missing_clip_exits_7_and_names_the_command(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'c.toml'\n",
        {"a": ((1, 2, 3), 4)},
    )
    (tmp_path / "c.toml").write_text("version = 1\n")
    r = cli("compose", reel)
    assert r.exit_code == 7
    assert "clip 'c' is not rendered yet" in r.output and "shotcraft render" in r.output
    assert not (project / "reel.mp4").exists()


def test_transition_longer_than_a_clip_is_refused(
    cli: Callable[..., object], tmp_path: Path, project: Path
) -> None:
    reel = _reel(
        tmp_path,
        project,
        "[[clips]]\nshot = 'a.toml'\n[[clips]]\nshot = 'b.toml'\n"
        "transition = { kind = 'dip', duration = 2.0 }\n",
        {"a": ((1, 2, 3), 6), "b": ((1, 2, 3), 6)},
    )
    r = cli("compose", reel)
    assert r.exit_code == 3 and "clips[1].transition.duration" in r.output


def _render_three(cli: Callable[..., object], simple_shot: Callable[..., Path]) -> list[Path]:
    shots = [simple_shot(0.2 + 0.2 * i, 0.8 - 0.2 * i, f"s{i}.toml") for i in range(3)]
    for s in shots:
        s.write_text(
            s.read_text().replace("duration = 1.0", "duration = 2.0").replace("t = 1.0", "t = 2.0")
        )
    assert cli("render", *shots).exit_code == 0
    return shots


def _reel_of(tmp_path: Path, shots: list[Path], extra: list[str], tail: str = "") -> Path:
    body = "version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n"
    for s, e in zip(shots, extra, strict=True):
        body += f"[[clips]]\nshot = '{s}'\n{e}"
    reel = tmp_path / "r.toml"
    reel.write_text(body + tail)
    return reel


def test_cut_only_reel_is_remuxed_and_decodes_every_frame(
    cli: Callable[..., object], simple_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    shots = _render_three(cli, simple_shot)
    r = cli("compose", _reel_of(tmp_path, shots, ["", "", ""]), "--json")
    data = json.loads(r.output)
    assert data["mode"] == "remux"
    assert data["frames_copied"] == 72 and data["frames_reencoded"] == 0
    out = project / "r.mp4"
    assert len(list(frames(out))) == 72 == probe(out).frames
    # the copied frames are the clips' frames, bit for bit after decoding
    clip = list(frames(project / "s1" / "clip.mp4"))
    reel = list(frames(out))
    assert np.array_equal(reel[24 + 5], clip[5])


def test_crossfade_between_rendered_clips_copies_the_rest(
    cli: Callable[..., object], simple_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    shots = _render_three(cli, simple_shot)
    fade = "transition = { kind = 'crossfade', duration = 0.5 }\n"
    r = cli(
        "compose",
        _reel_of(tmp_path, shots, ["", fade, "trim = [0.5, 2.0]\n"]),
        "--json",
        "--verbose",
    )
    data = json.loads(r.output[r.output.index("{") :])
    assert data["mode"] == "mixed"
    assert data["frames"] == 24 + 24 + 18 - 6
    assert data["frames_copied"] > 0 and data["frames_reencoded"] < data["frames"]
    out = project / "r.mp4"
    decoded = list(frames(out))
    assert len(decoded) == 60
    a = list(frames(project / "s0" / "clip.mp4"))
    b = list(frames(project / "s1" / "clip.mp4"))
    k = 2  # the 3rd of 6 blended frames: weight 3/7 on b
    mid = decoded[18 + k].astype(float)
    want = a[18 + k].astype(float) * (1 - 3 / 7) + b[k].astype(float) * 3 / 7
    assert np.abs(mid - want).mean() < 3.0


def test_reel_audio_has_the_reel_duration(
    cli: Callable[..., object], simple_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    import av

    shots = _render_three(cli, simple_shot)
    tone = tmp_path / "tone.wav"
    with av.open(str(tone), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.codec_context.layout = "mono"
        samples = (np.sin(np.arange(8000 * 10) / 8000 * 2 * np.pi * 440) * 8000).astype(np.int16)
        fr = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        fr.sample_rate = 8000
        for p in s.encode(fr):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    audio = f"[audio]\nfile = '{tone}'\nfade_out = 0.5\n"
    for extra in (["", "", ""], ["", "transition = { kind = 'dip', duration = 0.5 }\n", ""]):
        r = cli("compose", _reel_of(tmp_path, shots, extra, audio))
        assert r.exit_code == 0, r.output
        with av.open(str(project / "r.mp4")) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert a.codec_context.name == "aac" and a.codec_context.sample_rate == 48000
            n_video = sum(1 for p in c.demux(v) if p.size)
        with av.open(str(project / "r.mp4")) as c:
            samples = sum(f.samples for f in c.decode(audio=0))
        assert abs(samples / 48000 - n_video / 12) < 0.05


@pytest.mark.parametrize(("ext", "codec"), [("mov", "prores"), ("webm", "vp9")])
def test_editor_formats(
    cli: Callable[..., object],
    simple_shot: Callable[..., Path],
    tmp_path: Path,
    ext: str,
    codec: str,
) -> None:
    shots = _render_three(cli, simple_shot)
    out = tmp_path / f"reel.{ext}"
    assert cli("compose", _reel_of(tmp_path, shots, ["", "", ""]), "-o", out).exit_code == 0
    info = probe(out)
    assert info.codec == codec and info.frames == 72 and info.size == (160, 96)


def test_strict_refuses_and_render_missing_renders(
    cli: Callable[..., object], simple_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    shots = [simple_shot(0.2, 0.8, "m0.toml"), simple_shot(0.5, 0.5, "m1.toml")]
    reel = _reel_of(tmp_path, shots, ["", ""])
    assert cli("compose", reel).exit_code == 7
    r = cli("compose", reel, "--render-missing")
    assert r.exit_code == 0, r.output
    assert probe(project / "r.mp4").frames == 24
    reel.write_text(reel.read_text().replace("size = [160, 96]", "size = [320, 192]"))
    r = cli("compose", reel, "--strict")
    assert r.exit_code == 3 and "--strict" in r.output
    r = cli("compose", reel, "-o", tmp_path / "x.avi")
    assert r.exit_code == 2 and ".avi" in r.output


def test_title_card_clip(
    cli: Callable[..., object], simple_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    shots = _render_three(cli, simple_shot)
    reel = tmp_path / "t.toml"
    reel.write_text(
        "version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n"
        "[[clips]]\ntitle = { text = 'THE END', duration = 1.0, color = '#102030' }\n"
        f"[[clips]]\nshot = '{shots[0]}'\ntransition = {{ kind = 'crossfade', duration = 0.25 }}\n"
    )
    r = cli("compose", reel, "--json")
    assert r.exit_code == 0, r.output
    decoded = list(frames(project / "t.mp4"))
    assert len(decoded) == 12 + 24 - 3
    first = decoded[0].astype(int)
    assert np.abs(first[5, 5] - [0x10, 0x20, 0x30]).max() < 8  # the card's colour
    assert (first.max(axis=2) > 200).sum() > 20  # light text on it
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[[clips]]\ntitle = { duration = 1.0 }\n")
    r = cli("compose", bad)
    assert r.exit_code == 3 and "clips[0].title.text: is required" in r.output
