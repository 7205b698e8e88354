"""The video pass's plan without a model: frame rules, work sizes, chunks and their
cross-fade weights, the `[video]` table's checks, and the estimate's chunk and call counts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shotcraft.backends.video_base import FrameRules
from shotcraft.errors import SpecError
from shotcraft.spec.load import load_shot
from shotcraft.stages.video_pass import plan_chunks


def test_frame_rules_round_up_to_what_the_model_accepts() -> None:
    wan = FrameRules(frame_factor=4, size_multiple=16, native_fps=16, native_area=832 * 480)
    assert [wan.frames_for(n) for n in (1, 2, 5, 17, 18)] == [1, 5, 5, 17, 21]
    ltx = FrameRules(frame_factor=8, size_multiple=32, native_fps=25, native_area=704 * 480)
    assert [ltx.frames_for(n) for n in (9, 10, 30)] == [9, 17, 33]
    # CogVideoX 1.5: latent frames (k + 1) a multiple of its temporal patch of 2
    cog15 = FrameRules(4, 16, 16, 720 * 480, latent_frame_multiple=2)
    assert [cog15.frames_for(n) for n in (5, 9, 13)] == [5, 13, 13]
    w, h = wan.work_size((1280, 720))
    assert w % 16 == 0 and h % 16 == 0 and (w, h) == (848, 480)
    assert wan.work_size((72, 40)) == (64, 32)  # never above the shot's own area, on 16s


def _settings(chunk: int, overlap: int, fps: float) -> object:
    from shotcraft.backends.video_base import VideoSettings

    return VideoSettings(
        "wan-vace", "m", "m", None, "", "", "composite", (), 4, 2, 1.0, 1.0, 1.0, 4, 1.0,
        chunk, overlap, "crossfade", fps, "none", None, "auto",
    )  # fmt: skip


def test_chunks_start_on_the_time_grid_and_cross_fade_weights_sum_to_one() -> None:
    rules = FrameRules(4, 16, 16, 1 << 30)
    plan = plan_chunks(30, 16, _settings(9, 1, 16), rules)  # type: ignore[arg-type]
    assert [(c.start, c.length, c.padded) for c in plan.chunks] == [
        (0, 9, 9),
        (8, 9, 9),
        (16, 9, 9),
        (24, 6, 9),  # the last one ends on the last frame, padded to the frame rule
    ]
    for n in (30, 31, 57):
        plan = plan_chunks(n, 16, _settings(13, 5, 16), rules)  # type: ignore[arg-type]
        total = np.zeros(plan.model_frames)
        for c, ch in enumerate(plan.chunks):
            w = plan.weights(c)
            total[ch.start : ch.start + ch.length] += w
            assert w.min() > 0 and ch.start % 4 == 0
        np.testing.assert_allclose(total, 1.0)
    # an overlap that leaves the next start off the grid grows: 9 - 2 = 7 -> a step of 4
    plan = plan_chunks(17, 16, _settings(9, 2, 16), rules)  # type: ignore[arg-type]
    assert [c.start for c in plan.chunks] == [0, 4, 8]
    # a short shot is one chunk padded up to the frame rule
    plan = plan_chunks(7, 16, _settings(81, 8, 16), rules)  # type: ignore[arg-type]
    assert [(c.length, c.padded) for c in plan.chunks] == [(7, 9)]


def test_a_shot_rate_other_than_the_models_is_resampled_both_ways() -> None:
    rules = FrameRules(4, 16, 16, 1 << 30)
    plan = plan_chunks(48, 24, _settings(81, 8, 16), rules)  # type: ignore[arg-type]
    assert plan.model_frames == 33  # 2 s at 16 fps, the last shot frame inside
    assert plan.source(32) == 47 and plan.source(0) == 0
    assert plan.time(47) == pytest.approx(47 * 16 / 24) and plan.time(47) <= 32


SHOT = """\
version = 1
[shot]
duration = 2.0
fps = 16
size = [128, 64]
[video]
model = "{model}"
{video}
[[subjects]]
id = "fox"
"""


def test_the_video_table_is_checked_with_key_paths(write_shot: Callable[..., Path]) -> None:
    bad = 'regenerate = ["fxo"]\nfeed = "normals"\ncache = "mag"\nchunk = 9\noverlap = 9'
    with pytest.raises(SpecError) as e:
        load_shot(write_shot(SHOT.format(model="m", video=bad)))
    msg = str(e.value)
    assert "video.regenerate[0]: must name a subject, got 'fxo'" in msg and "fox" in msg
    assert "video.feed: 'normals' is not allowed" in msg
    assert "video.cache: 'mag' is not allowed (allowed: none, first-block, taylorseer)" in msg
    assert "video.overlap: must be less than video.chunk (9), got 9" in msg
    both = 'regenerate = ["fox"]\nfeed = "depth"'
    with pytest.raises(SpecError, match=r"video\.regenerate: keeps the composite"):
        load_shot(write_shot(SHOT.format(model="m", video=both)))


def test_the_estimate_knows_chunks_and_calls_from_json_alone(
    write_shot: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "wan"
    (folder / "vae").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanVACEPipeline"}))
    (folder / "vae" / "config.json").write_text(json.dumps({"temperal_downsample": [0, 1, 1]}))
    shot = write_shot(SHOT.format(model=folder, video="steps = 3\nguidance = 5.0\nchunk = 17"))
    code = (
        "import sys; from shotcraft.spec.load import load_shot;"
        "from shotcraft.stages.video_pass import video_work;"
        f"w = video_work(load_shot({str(shot)!r}), 32);"
        "print(w.family, w.chunks, w.denoiser_calls, w.sizes[0], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # 32 frames in chunks of 17 sharing 8: starts 0, 9, 15; 3 steps, cond and uncond each
    assert out.stdout.split(maxsplit=3)[:3] == ["wan-vace", "3", "18"]
    assert out.stdout.strip().endswith("(128, 64, 17) False")  # and torch never imported
