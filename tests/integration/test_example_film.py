"""The example film renders, and its reel has the frames and size the reel file implies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shotcraft.media.probe import frames, probe
from shotcraft.spec import load_reel, load_shot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_reel_decodes_to_the_frames_the_reel_file_implies(
    cli: Callable[..., object], project: Path
) -> None:
    reel = load_reel(EXAMPLES / "reel.toml")
    for clip in reel.clips:
        if clip.shot is not None:
            r = cli("render", clip.shot, "--preset", "draft")
            assert r.exit_code == 0, r.output
    # draft renders at half size: compose conforms them to the reel's size, with a warning
    r = cli("compose", EXAMPLES / "reel.toml")
    assert r.exit_code == 0, r.output
    expected = 0
    for i, clip in enumerate(reel.clips):
        length = clip.title.duration if clip.title else load_shot(clip.shot).duration
        if clip.trim:
            length = min(clip.trim[1], length) - clip.trim[0]
        expected += round(length * reel.fps)
        if i and clip.transition.kind != "cut":
            expected -= round(clip.transition.duration * reel.fps)
    out = project / f"{reel.id}.mp4"
    info = probe(out)
    assert info.size == reel.size and info.frames == expected and info.has_audio
    assert sum(1 for _ in frames(out)) == expected
