"""Video model families (Wan VACE, LTX condition, CogVideoX video-to-video) with tiny random
pipelines: the real loading and pipeline code, a spy on each pipeline call for what it is
given, and the clip, render.json and counted denoiser calls for what a user gets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from shotcraft.media.probe import probe

pytestmark = pytest.mark.diffusion


# Two subjects far apart on a still camera: the fox crosses the left half all shot long;
# the owl (right) fades in late, so an edit of its last key touches only the last chunk.
SHOT = """\
version = 1
[shot]
duration = {duration}
fps = {fps}
size = [{w}, {h}]
seed = 5
[video]
model = "{model}"
steps = {steps}
guidance = 1.0
{video}
[background]
style = "landscape"
colors = ["#203040", "#608090"]
[[subjects]]
id = "fox"
shape = "box"
color = "#c8553d"
height = 0.3
keys = [ {{ t = 0.0, at = [0.12, 0.9] }}, {{ t = {duration}, at = [0.4, 0.9], ease = "linear" }} ]
[[subjects]]
id = "owl"
shape = "circle"
color = "#e0e020"
height = 0.3
keys = [ {{ t = 0.0, at = [0.8, 0.5], opacity = 0.0 }},
         {{ t = {owl_in}, at = [0.8, 0.5], opacity = 0.0 }},
         {{ t = {owl_on}, at = [0.8, 0.5], opacity = 1.0 }},
         {{ t = {duration}, at = [{owl_x}, 0.45], ease = "linear" }} ]
"""


def shot_text(model: Path, **kw: Any) -> str:
    values = {
        "duration": 1.0625,  # 17 frames at 16 fps
        "fps": 16,
        "w": 64,
        "h": 64,
        "steps": 2,
        "video": "",
        "owl_in": 0.6,
        "owl_on": 0.7,
        "owl_x": 0.85,
        **kw,
    }
    return SHOT.format(model=model, **values)


@dataclass
class Scene:
    """A shot taken apart as render does it: procedural layers, the compositor, composites."""

    shot: Any
    motion: Any
    comp: Any
    sprites: dict[str, Image.Image]
    plate_size: tuple[int, int]
    composites: list[np.ndarray]
    cache: Any

    def video_pass(self) -> Any:
        from shotcraft.stages.video_pass import build_video_pass

        return build_video_pass(
            self.shot, self.motion, self.comp, self.sprites, self.plate_size, self.cache, "cpu"
        )


@pytest.fixture
def scene(write_shot: Callable[..., Path], cache_dir: Path) -> Callable[..., Scene]:
    from shotcraft.backends.procedural import ProceduralBackend
    from shotcraft.cache import Cache
    from shotcraft.draw.compositor import Compositor
    from shotcraft.layout.planner import plan
    from shotcraft.motion.track import compute_motion
    from shotcraft.spec.load import load_shot
    from shotcraft.stages.layers import fetch_layers, plan_layers

    def make(text: str) -> Scene:
        shot = load_shot(write_shot(text, "scene.toml"))
        layout = plan(shot, 0)
        motion = compute_motion(shot, layout)
        backend = ProceduralBackend()
        cache = Cache(cache_dir)
        lp = plan_layers(backend, shot, layout, motion, 1.0, shot.size[1])
        layers = fetch_layers(cache, backend, shot, layout, lp)
        comp = Compositor(layers.plate, shot.size, layers.sprites)
        frames = [comp.frame_array(motion, i) for i in range(motion.frames)]
        return Scene(shot, motion, comp, layers.sprites, lp.plate_size, frames, cache)

    return make


class Spy:
    """Stands in for a loaded pipeline: records each call's arguments, then runs the real one."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []
        self.results: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        out = self.pipe(**kwargs)
        self.results.append(out)
        return out


@contextmanager
def spying(vp: Any) -> Iterator[Spy]:
    backend = vp.backend
    spy = Spy(backend.pipe(vp.settings))
    backend._pipe = spy
    try:
        yield spy
    finally:
        backend._pipe = spy.pipe


def _silhouette(scene: Scene, sid: str, i: int) -> np.ndarray:
    from shotcraft.motion.sample import frame_state

    w, h = scene.comp.size
    out = Image.new("L", (w, h), 0)
    for s in frame_state(scene.motion, i).subjects:
        placed = scene.comp.place_sprite(s) if s.id == sid else None
        if placed is not None:
            piece, at = placed
            out.paste(255, at, piece.getchannel("A").point(lambda v: 255 if v >= 128 else 0))
    return np.asarray(out) >= 128


def _on_white(sprite: Image.Image) -> np.ndarray:
    white = Image.new("RGB", sprite.size, (255, 255, 255))
    white.paste(sprite, (0, 0), sprite)
    return np.asarray(white)


# ------------------------------------------------------------------------ what each gets
def test_vace_gets_the_composite_the_named_masks_and_the_cached_layers(
    video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    sc = scene(shot_text(video_models["wan"], video='regenerate = ["fox"]\ndilate = 2'))
    vp = sc.video_pass()
    assert vp.work == (64, 64) and len(vp.plan.chunks) == 1  # 17 frames fit 4k+1 at 16 fps
    with spying(vp) as spy:
        out = list(vp.frames(iter(sc.composites)))
    (call,) = spy.calls
    assert call["num_frames"] == 17 and (call["width"], call["height"]) == (64, 64)
    for got, comp in zip(call["video"], sc.composites, strict=True):
        np.testing.assert_array_equal(np.asarray(got), comp)
    for i, m in enumerate(call["mask"]):
        mask = np.asarray(m) >= 128
        fox = _silhouette(sc, "fox", i)
        grown = np.asarray(Image.fromarray(fox).convert("L").filter(ImageFilter.MaxFilter(5)))
        assert fox.any() and mask[fox].all()  # all of the fox
        assert not mask[~(grown >= 128)].any()  # nothing beyond it grown by 2 px
        assert not mask[_silhouette(sc, "owl", i)].any()  # not the owl
    plate, *sprites = call["reference_images"]
    np.testing.assert_array_equal(np.asarray(plate), np.asarray(sc.comp.plate.convert("RGB")))
    assert len(sprites) == 1  # the fox only: the owl is not regenerated
    np.testing.assert_array_equal(np.asarray(sprites[0]), _on_white(sc.sprites["fox"]))
    # outside the masks every pixel is the composite's
    assert len(out) == 17
    for i, (frame, comp) in enumerate(zip(out, sc.composites, strict=True)):
        keep = ~vp.inputs.mask(i)
        np.testing.assert_array_equal(frame[keep], comp[keep])
    assert not np.array_equal(out[0], sc.composites[0])  # and inside, the model painted


def test_vace_depth_feed_and_all_references(
    video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    sc = scene(shot_text(video_models["wan"], video='feed = "depth"'))
    vp = sc.video_pass()
    with spying(vp) as spy:
        list(vp.frames(iter(sc.composites)))
    (call,) = spy.calls
    depth = np.asarray(call["video"][-1])
    assert set(np.unique(depth)) == {0, round(255 * 0.5)}  # the plate far, subjects at 0.5
    shapes = _silhouette(sc, "fox", 16) | _silhouette(sc, "owl", 16)
    np.testing.assert_array_equal(depth[..., 0] > 0, shapes)
    assert all(np.asarray(m).min() == 255 for m in call["mask"])  # paint everywhere
    assert len(call["reference_images"]) == 3  # plate, fox, owl (visible by the end)


def test_vace_can_keep_the_frames_a_chunk_shares_with_the_last_one(
    video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    sc = scene(shot_text(video_models["wan"], video='chunk = 9\noverlap = 1\njoin = "condition"'))
    vp = sc.video_pass()
    assert [(c.start, c.length) for c in vp.plan.chunks] == [(0, 9), (8, 9)]
    with spying(vp) as spy:
        out = list(vp.frames(iter(sc.composites)))
    first, second = spy.calls
    assert all(np.asarray(m).min() == 255 for m in first["mask"])
    # frame 8 is painted by the first chunk, then given to the second as it was, to keep
    painted = (np.clip(spy.results[0].frames[0][8], 0, 1) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(second["video"][0]), painted)
    assert np.asarray(second["mask"][0]).max() == 0
    assert all(np.asarray(m).min() == 255 for m in second["mask"][1:])
    np.testing.assert_array_equal(np.asarray(second["video"][1]), sc.composites[9])
    assert len(out) == 17 and vp.report()["join"] == "condition"


def test_ltx_gets_key_frames_at_their_indices(
    video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    text = shot_text(
        video_models["ltx"],
        fps=25,
        duration=0.68,
        owl_in=0.3,
        owl_on=0.4,
        video="key_strength = 0.8",
    )
    sc = scene(text)  # 17 frames at 25 fps: the tiny VAE compresses time by 4
    vp = sc.video_pass()
    with spying(vp) as spy:
        out = list(vp.frames(iter(sc.composites)))
    (call,) = spy.calls
    conds = call["conditions"]
    assert [c.frame_index for c in conds] == [0, 4, 8, 12, 16]  # every 4 (its factor), last
    assert {c.strength for c in conds} == {0.8}
    for c in conds:
        np.testing.assert_array_equal(np.asarray(c.image), sc.composites[c.frame_index])
    assert call["num_frames"] == 17 and call["frame_rate"] == 25
    assert len(out) == 17 and out[0].shape == (64, 64, 3)


def test_cogvideox_gets_the_composite_and_strength(
    video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    sc = scene(shot_text(video_models["cog"], fps=8, duration=1.125, video="strength = 0.5"))
    vp = sc.video_pass()  # 9 frames at 8 fps, CogVideoX's native rate
    with spying(vp) as spy:
        out = list(vp.frames(iter(sc.composites)))
    (call,) = spy.calls
    assert call["strength"] == 0.5 and len(call["video"]) == 9
    for got, comp in zip(call["video"], sc.composites, strict=True):
        np.testing.assert_array_equal(np.asarray(got), comp)
    assert vp.denoiser_calls == 1  # 2 steps at strength 0.5
    assert len(out) == 9


@pytest.mark.parametrize("family", ["wan", "ltx", "cog"])
def test_frames_size_and_count_come_back_as_the_shot_asks(
    family: str, video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    # 19 frames at 12 fps, 72x40: no family's frame rule, size multiple or rate fits
    sc = scene(shot_text(video_models[family], fps=12, duration=1.5833, w=72, h=40))
    vp = sc.video_pass()
    out = list(vp.frames(iter(sc.composites)))
    assert len(out) == 19 and all(f.shape == (40, 72, 3) and f.dtype == np.uint8 for f in out)
    rules = vp.backend.rules
    assert all(ch.padded % rules.frame_factor == 1 for ch in vp.plan.chunks)
    assert all(side % rules.size_multiple == 0 for side in vp.work)
    assert vp.plan.work_fps == rules.native_fps != 12


# ------------------------------------------------------------------ render, chunks, cache
def _report(project: Path, sid: str) -> dict:
    return json.loads((project / sid / "render.json").read_text())


# 33 frames in chunks of 13 sharing 5: they start at 0, 8, 16 and 24
FOUR_CHUNKS = 'chunk = 13\noverlap = 5\nregenerate = ["fox", "owl"]'


def test_an_edit_late_in_the_shot_repaints_only_its_chunks(
    cli: Callable[..., Any],
    write_shot: Callable[..., Path],
    project: Path,
    video_models: dict[str, Path],
) -> None:
    # the owl comes in after frame 28, where the third chunk ends: only in the last chunk
    kw = {"duration": 2.0625, "video": FOUR_CHUNKS, "owl_in": 1.8125, "owl_on": 1.875}
    shot = write_shot(shot_text(video_models["wan"], **kw), "long.toml")
    r = cli("render", shot)
    assert r.exit_code == 0, r.output
    first = _report(project, "long")
    vp = first["video_pass"]
    assert (vp["chunks"], vp["repainted"], vp["chunks_reused"]) == (4, 4, 0)
    assert vp["frames_repainted"] == 3 * 13 + 9 and vp["model_frames"] == 33
    assert first["denoiser_calls"] == 4 * 2 == first["estimate"]["denoiser_calls"]
    info = probe(project / "long" / "clip.mp4")
    assert info.frames == 33 and info.size == (64, 64) and info.fps == 16
    # the chunks cross-fade: the seam is no worse than the frames inside a chunk
    assert vp["seam_ratio"] is not None and vp["seam_ratio"] <= 1.5, vp

    shot.write_text(shot_text(video_models["wan"], owl_x=0.95, **kw))  # the owl's last key
    assert cli("render", shot).exit_code == 0
    edit = _report(project, "long")["video_pass"]
    assert (edit["chunks_reused"], edit["repainted"]) == (3, 1)
    assert edit["denoiser_calls"] == 2  # one chunk's two steps, against eight for the shot


def test_a_step_cache_skips_evaluations_and_says_so(
    video_models: dict[str, Path], scene: Callable[..., Scene]
) -> None:
    for cache, threshold, expect in (("first-block", 50, 1), ("taylorseer", 3, 2)):
        video = f'cache = "{cache}"\ncache_threshold = {threshold}'
        sc = scene(shot_text(video_models["wan"], steps=4, video=video))
        vp = sc.video_pass()
        list(vp.frames(iter(sc.composites)))
        rep = vp.report()
        assert rep["denoiser_forwards"] == 4, cache  # one transformer call a step
        assert rep["denoiser_calls"] == expect, (cache, rep)  # evaluations actually run


def test_a_model_that_is_no_video_family_is_refused_in_one_line(
    cli: Callable[..., Any], write_shot: Callable[..., Path], tiny_model: Path
) -> None:
    shot = write_shot(shot_text(tiny_model), "sd.toml")
    r = cli("render", shot)
    assert r.exit_code == 4
    assert "StableDiffusionPipeline, which shotcraft cannot drive" in r.output
    assert "Traceback" not in r.output


# ------------------------------------------------------------------------ what it costs
def test_a_video_model_is_priced_from_its_files_then_from_the_chunks_it_painted(
    cli: Callable[..., Any],
    write_shot: Callable[..., Path],
    project: Path,
    cache_dir: Path,
    video_models: dict[str, Path],
) -> None:
    shot = write_shot(shot_text(video_models["wan"], duration=2.0625, video=FOUR_CHUNKS), "c.toml")
    # never timed here: a rough figure from the model's files, its chunks' time in it
    before = json.loads(cli("sketch", "--json", shot).output)["estimate"]
    assert before["source"] == "rough" and before["breakdown"]["video"] > 0, before
    assert before["low"] < before["seconds"] < before["high"]
    assert "not included" not in before.get("note", "")

    assert cli("render", shot).exit_code == 0
    first = _report(project, "c")
    timings = first["video_pass"]["chunk_timings"]
    # every chunk painted is timed: its evaluations (two steps each) and their own seconds
    assert [t["frames"] for t in timings] == [13, 13, 13, 9]
    assert all(
        t["evaluations"] == 2 and 0 < t["evaluation_seconds"] < t["seconds"] for t in timings
    )
    # only a process's first chunk warms the pipeline up (this process may have loaded it)
    assert not any(t.get("first") for t in timings[1:])
    shown = cli("calibrate", "--show").output
    assert "video model" in shown and "measured in renders" in shown, shown

    # the same inputs again: the cache holds every chunk, so none is priced or painted
    assert cli("render", "--force", shot).exit_code == 0
    again = _report(project, "c")
    assert again["video_pass"]["chunks_reused"] == 4 and again["denoiser_calls"] == 0
    assert (
        again["estimate"]["denoiser_calls"] == 0 and "video" not in again["estimate"]["breakdown"]
    )

    # chunks evicted: all four priced again, now at the rates the first render measured
    assert cli("cache", "gc", "--max-size", "0").exit_code == 0
    assert cli("render", "--force", shot).exit_code == 0
    third = _report(project, "c")
    est, vp = third["estimate"], third["video_pass"]
    assert est["source"] == "calibrated" and est["denoiser_calls"] == 8 and vp["repainted"] == 4
    painted = sum(t["seconds"] for t in vp["chunk_timings"])  # the pipeline is warm in-process
    assert 0.5 < est["breakdown"]["video"] / painted < 2.0, (est, painted)


def test_calibrate_times_a_video_model_at_the_size_asked(
    cli: Callable[..., Any], cache_dir: Path, video_models: dict[str, Path]
) -> None:
    r = cli("calibrate", "--model", video_models["wan"], "--sizes", "30x34")
    assert r.exit_code == 0, r.output
    # the size rounded to the family's multiple of 16; a chunk of its default 81 frames
    assert "per chunk of 81 frames at 32x32 with 30 steps" in r.stdout, r.output
    models = json.loads((cache_dir / "calibration.json").read_text())["models"]
    records = [m for m in models.values() if m.get("kind") == "video"]
    assert len(records) == 1 and records[0]["source"] == "calibrated"
    (x, per), (_, rest) = (
        records[0]["points"]["chunk_step"][0],
        records[0]["points"]["chunk_call"][0],
    )
    assert x == pytest.approx(32 * 32 / 256 * (80 // 4 + 1 + 2) / 1e3) and per > 0 and rest > 0
