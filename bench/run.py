"""Benchmark harness (`make bench`): workloads side by side, medians, ratios -> results.json.

Timings are whole-process where a user would feel them (a fresh `shotcraft ...` process), and
each comparison runs its two sides alternately in one session, so the ratio is fair on a
shared, noisy machine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
PY = sys.executable
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def shot_toml(
    seconds: float,
    size: tuple[int, int],
    fps: int,
    subjects: int,
    x_end: float = 0.85,
    zoom: float = 1.0,
) -> str:
    subs = []
    for i in range(subjects):
        subs.append(
            textwrap.dedent(f"""
            [[subjects]]
            id = "s{i}"
            shape = "{["capsule", "circle", "star", "box", "blob"][i % 5]}"
            place = "{["left", "center", "right", "left third", "right third"][i % 5]}, ground"
            depth = {0.2 + 0.15 * i:.2f}
            motion = "{["run", "walk", "hop", "sway", "walk"][i % 5]}"
            keys = [ {{ t = 0.0 }}, {{ t = {seconds}, at = [{x_end - 0.1 * i:.2f}, 0.85] }} ]
            """)
        )
    return textwrap.dedent(f"""
        version = 1
        [shot]
        duration = {seconds}
        fps = {fps}
        size = [{size[0]}, {size[1]}]
        seed = 1
        preset = "preview"
        [background]
        colors = ["#27405e", "#f4b26b", "#8a6a73", "#4b4a5e"]
        extent = 1.3
        [camera]
        keys = [ {{ t = 0.0 }}, {{ t = {seconds}, pan = [0.1, 0.0], zoom = {zoom} }} ]
        """) + "".join(subs)


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})})
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"benchmark command failed ({p.returncode}): {' '.join(args)}\n{p.stderr}")
    return dt, p.stdout


def sc(*args: str | Path) -> list[str]:
    return [PY, "-m", "shotcraft", *map(str, args), "--cache", str(WORK / "cache"), "--quiet"]


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 4)


def estimated(render_json: Path) -> dict[str, float]:
    """A render's estimate (made before it) against its actual time, from its render.json."""
    report = json.loads(render_json.read_text())
    est, actual = float(report["estimate_seconds"]), float(report["actual_seconds"])
    return {
        "estimate_seconds": est,
        "actual_seconds": actual,
        "estimate_error": round(est / actual - 1, 3),
    }


PURE_ENCODE = """
import sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from shotcraft.stages.common import Settings, load_context, render_size
from shotcraft.stages.render import encoder_settings
from shotcraft.stages.layers import fetch_layers, plan_layers
from shotcraft.layout.io import read_layout
from shotcraft.motion.io import read_motion
from shotcraft.backends import get_backend
from shotcraft.draw.compositor import Compositor
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.media.encode import VideoWriter
# The very frames the render made, composited into memory beforehand; then only the encode
# (same size, rate and encoder settings) is timed.
settings = Settings(project=Path({project!r}), cache_dir=Path({cache!r}))
ctx = load_context(Path({shot!r}), settings)
layout, motion = read_layout(ctx.paths.layout), read_motion(ctx.paths.motion)
size = render_size(ctx.shot, ctx.preset)
backend = get_backend(None)
lp = plan_layers(backend, ctx.shot, layout, motion, ctx.preset.scale, size[1])
layers = fetch_layers(settings.cache, backend, ctx.shot, layout, lp)
comp = Compositor(layers.plate, size, layers.sprites)
if {yuv!r}:  # in the encoder's own format: the baseline pays for no pixel conversion
    frames = [YuvCompositor(comp).frame_at(motion, i) for i in range(motion.frames)]
else:  # RGB pictures, as a user's own frames would be: the encoder converts them
    frames = [comp.frame_array(motion, i) for i in range(motion.frames)]
t0 = time.perf_counter()
with VideoWriter(Path({out!r}), size, ctx.shot.fps, encoder_settings(ctx)) as writer:
    for f in frames:
        writer.write(f)
print(time.perf_counter() - t0)
"""


def render_against_encode(name: str, zoom: float) -> tuple[Path, Path, dict[str, Any]]:
    """Cold render, refine and `render --force` (layers cached) against a PyAV encode of the
    very same frames with the same settings, side by side, at least five rounds."""
    shot = WORK / "shots" / f"{name}.toml"
    shot.write_text(shot_toml(10.0, (1280, 720), 30, 3, zoom=zoom))
    project = WORK / f"p-{name}"
    code = {
        yuv: PURE_ENCODE.format(
            src=str(HERE.parent / "src"),
            project=str(project),
            cache=str(WORK / "cache"),
            shot=str(shot),
            out=str(WORK / "pure.mp4"),
            yuv=yuv,
        )
        for yuv in (False, True)
    }
    # Every ratio compares runs made side by side: each round runs all five once, so a slow
    # spell of the machine lands on both sides of a ratio (the cold runs all made first
    # measured a cold ratio 0.15 apart between two bench runs of the same code).
    cold, refine_t, render_t, encode_t, yuv_t = [], [], [], [], []
    report: dict[str, Any] = {}
    for _ in range(max(RUNS, 5)):
        # cold: nothing made yet (sketch, refine, plate, sprites, frames), whole process
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(WORK / "cache" / "objects", ignore_errors=True)
        cold.append(run(sc("render", shot, "--project", project))[0])
        report = json.loads((project / name / "render.json").read_text())
        # refine alone on a fresh project: motion.json and the quarter-size animatic
        shutil.rmtree(WORK / f"p-{name}-refine", ignore_errors=True)
        refine_t.append(run(sc("refine", shot, "--project", WORK / f"p-{name}-refine"))[0])
        # warm: `render --force` with the layers cached
        render_t.append(run(sc("render", shot, "--project", project, "--force"))[0])
        encode_t.append(float(run([PY, "-c", code[False]])[1].strip()))
        yuv_t.append(float(run([PY, "-c", code[True]])[1].strip()))
    estimate_error = abs(report["estimate_seconds"] / report["actual_seconds"] - 1)
    last = json.loads((project / name / "render.json").read_text())
    loop, stage = last["seconds"]["frames"], last["actual_seconds"]
    return (
        shot,
        project,
        {
            "cold_render_seconds": median(cold),
            # a new shot, calibration done, empty layer cache: whole process against the encode
            "cold_ratio": round(median(cold) / median(encode_t), 3),
            "refine_seconds": median(refine_t),
            "refine_over_cold_render": round(median(refine_t) / median(cold), 3),
            "refine_over_render": round(median(refine_t) / median(render_t), 3),
            "frame_loop_seconds": loop,
            "frame_loop_ratio": round(loop / median(encode_t), 3),
            # the render stage's own work, timed in-process like the encode (render.json)
            "stage_seconds": stage,
            "stage_ratio": round(stage / median(encode_t), 3),
            "render_seconds": median(render_t),
            "pure_encode_seconds": median(encode_t),
            "ratio": round(median(render_t) / median(encode_t), 3),
            # stricter: against encoding frames already in yuv420p (no conversion at all)
            "pure_encode_yuv_seconds": median(yuv_t),
            "frame_loop_ratio_vs_yuv": round(loop / median(yuv_t), 3),
            "stage_ratio_vs_yuv": round(stage / median(yuv_t), 3),
            "ratio_vs_yuv": round(median(render_t) / median(yuv_t), 3),
            "estimate_seconds": report["estimate_seconds"],
            "actual_seconds": report["actual_seconds"],
            "estimate_error": round(estimate_error, 3),
            "target_estimate_error": 0.25,
        },
    )


def bench_render(results: dict[str, Any]) -> None:
    # the workload: a pan (every layer shifts by a sub-pixel amount each frame)
    shot, project, row = render_against_encode("pan", 1.0)
    results["render_10s_720p30"] = {
        **row,
        "target_ratio": 1.2,
        "target_cold_ratio": 1.3,
        "target_refine_over_cold_render": 0.25,
    }
    # unchanged re-render: whole process
    again = [run(sc("render", shot, "--project", project))[0] for _ in range(RUNS)]
    results["rerender_unchanged"] = {"seconds": median(again), "target_seconds": 1.0}
    # one subject's keys changed: plate and sprites come from the cache
    shot.write_text(shot.read_text().replace("at = [0.85, 0.85]", "at = [0.7, 0.8]"))
    dt, _ = run(sc("render", shot, "--project", project))
    report = json.loads((project / "pan" / "render.json").read_text())
    results["rerender_keys_changed"] = {
        "seconds": round(dt, 4),
        "plate_from_cache": report["cache"]["plate"]["hit"],
        "sprites_from_cache": all(s["hit"] for s in report["cache"]["sprites"].values()),
        **estimated(project / "pan" / "render.json"),
    }
    # the same with a slow zoom on top (every pixel resampled at a new scale): for reference
    _, _, row = render_against_encode("pan-zoom", 1.1)
    results["render_10s_720p30_pan_zoom"] = row
    # one 720p frame of a 4-layer plate, no sprites: the drawing alone, per camera move
    code = BACKGROUND.format(src=str(HERE.parent / "src"))
    results["draw_background_720p"] = json.loads(run([PY, "-c", code])[1])


BACKGROUND = """
import json, sys, time
sys.path.insert(0, {src!r})
from shotcraft.draw import kernels, procedural as draw
from shotcraft.draw.compositor import Compositor
from shotcraft.motion.sample import CameraState, FrameState
from shotcraft.draw.yuv import YuvCompositor
plate = draw.plate((1664, 936), ((30, 60, 90), (240, 170, 90)), "landscape", 5, ridges=3)
yuv = YuvCompositor(Compositor(plate, (1280, 720), {{}}))
row = {{"kernels": "native" if kernels.NATIVE else "python", "layers": len(plate.layers)}}
cams = {{
    "pan": (0.013, 0.0, 1.0, 0.0),
    "zoom": (0.01, 0.0, 1.07, 0.0),
    "roll": (0.01, 0.0, 1.05, 3.0),
}}
for name, cam in cams.items():
    state = FrameState(CameraState(*cam), ())
    yuv.frame(state)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(10):
            yuv.frame(state)
        best = min(best, (time.perf_counter() - t0) / 10)
    row[name + "_ms_per_frame"] = round(best * 1000, 2)
print(json.dumps(row))
"""


PEAK = """
import resource, sys, subprocess
p = subprocess.run(sys.argv[1:], capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(p.returncode)
"""


def bench_memory(results: dict[str, Any]) -> None:
    out = {}
    # warm the cache first (same background and sprites): both runs then do the same kind of
    # work, and only the shot's length differs
    warm = WORK / "shots" / "mem-warm.toml"
    warm.write_text(shot_toml(2.0, (1920, 1080), 30, 3))
    run(sc("render", warm, "--project", WORK / "p-mem-warm", "--force"))
    for seconds in (10, 60):
        shot = WORK / "shots" / f"mem{seconds}.toml"
        shot.write_text(shot_toml(float(seconds), (1920, 1080), 30, 3))
        project = WORK / "p-mem"
        shutil.rmtree(project, ignore_errors=True)
        t0 = time.perf_counter()
        _, stdout = run([PY, "-c", PEAK, *sc("render", shot, "--project", project)])
        out[f"{seconds}s_peak_mib"] = round(int(stdout.strip()) / 1024, 1)
        out[f"{seconds}s_seconds"] = round(time.perf_counter() - t0, 2)
        rep = json.loads((project / shot.stem / "render.json").read_text())
        out[f"{seconds}s_estimate_seconds"] = rep["estimate_seconds"]
        out[f"{seconds}s_actual_seconds"] = rep["actual_seconds"]
        out[f"{seconds}s_estimate_error"] = round(
            rep["estimate_seconds"] / rep["actual_seconds"] - 1, 3
        )
    out["ratio_60_to_10"] = round(out["60s_peak_mib"] / out["10s_peak_mib"], 3)
    out["target_ratio"] = 1.2
    out["note"] = "1920x1080 at 30 fps, preview preset (full-size frames)"
    results["peak_memory_1080p"] = out


def bench_plan(results: dict[str, Any]) -> None:
    shot = WORK / "shots" / "plan.toml"
    shot.write_text(shot_toml(10.0, (1280, 720), 24, 5))
    project = WORK / "p-plan"
    check = (
        "import sys, runpy; sys.argv = ['shotcraft'] + sys.argv[1:]; "
        "import shotcraft.cli.app as a\n"
        "try:\n    a.app()\nexcept SystemExit as e:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    sk, rf = [], []
    for _ in range(RUNS):
        shutil.rmtree(project, ignore_errors=True)
        sk.append(
            run(
                [
                    PY,
                    "-c",
                    check,
                    "sketch",
                    str(shot),
                    "--project",
                    str(project),
                    "--cache",
                    str(WORK / "cache"),
                    "--quiet",
                ]
            )[0]
        )
        rf.append(run(sc("refine", shot, "--project", project))[0])
    results["sketch_10s_720p_5_subjects"] = {
        "seconds": median(sk),
        "target_seconds": 0.5,
        "torch_imported": False,
    }
    results["refine_with_animatic"] = {"seconds": median(rf), "target_seconds": 2.0}


def bench_compose(results: dict[str, Any]) -> None:
    shots = WORK / "shots"
    project = WORK / "p-compose"
    names = []
    for i in range(3):
        p = shots / f"c{i}.toml"
        p.write_text(shot_toml(5.0, (1280, 720), 24, 2, x_end=0.5 + 0.1 * i))
        names.append(p)
        run(sc("render", p, "--project", project))
        rep = json.loads((project / p.stem / "render.json").read_text())
        results.setdefault("compose_clip_renders", {})[p.stem] = {
            "estimate_seconds": rep["estimate_seconds"],
            "actual_seconds": rep["actual_seconds"],
            "estimate_error": round(rep["estimate_seconds"] / rep["actual_seconds"] - 1, 3),
        }
    cut = WORK / "cut.toml"
    cut.write_text(
        "version = 1\n[reel]\nsize = [1280, 720]\nfps = 24\n"
        + "".join(f"[[clips]]\nshot = '{p}'\n" for p in names)
    )
    fade = WORK / "fade.toml"
    fade.write_text(
        "version = 1\n[reel]\nsize = [1280, 720]\nfps = 24\n"
        + f"[[clips]]\nshot = '{names[0]}'\n"
        + "".join(
            f"[[clips]]\nshot = '{p}'\ntransition = {{ kind = 'crossfade', duration = 0.5 }}\n"
            for p in names[1:]
        )
    )
    ct, ft = [], []
    for _ in range(RUNS):
        ct.append(run(sc("compose", cut, "--project", project, "-o", WORK / "cut.mp4"))[0])
        ft.append(run(sc("compose", fade, "--project", project, "-o", WORK / "fade.mp4"))[0])
    frames = 3 * 120 - 2 * 12
    results["compose_cuts_3x5s_720p"] = {"seconds": median(ct), "target_seconds": 0.3}
    results["compose_crossfades_3x5s_720p"] = {
        "seconds": median(ft),
        "frames": frames,
        "frames_per_second": round(frames / median(ft), 1),
        "target_frames_per_second": 200,
    }


DIFFUSERS_SHOT = """
version = 1
[shot]
duration = 4.0
fps = 24
size = [128, 96]
seed = 3
preset = "final"
[model]
id = "{model}"
steps = 4
strength = 0.5
every = {every}
[background]
prompt = "misty pine forest at dawn"
[camera]
keys = [ {{ t = 0.0 }}, {{ t = 4.0, pan = [0.1, 0.0] }} ]
[[subjects]]
id = "fox"
prompt = "a red fox"
place = "left, ground"
keys = [ {{ t = 0.0 }}, {{ t = 4.0, at = [0.8, 0.9] }} ]
"""

NAIVE = """
import sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from PIL import Image
from shotcraft.stages.common import Settings, load_context, render_size
from shotcraft.stages.layers import fetch_layers, plan_layers
from shotcraft.layout.io import read_layout
from shotcraft.motion.io import read_motion
from shotcraft.backends import get_backend
from shotcraft.draw.compositor import Compositor
# Naive: image-to-image on every composited frame, same model, steps and strength, no reuse.
settings = Settings(project=Path({project!r}), cache_dir=Path({cache!r}))
ctx = load_context(Path({shot!r}), settings)
layout, motion = read_layout(ctx.paths.layout), read_motion(ctx.paths.motion)
size = render_size(ctx.shot, ctx.preset)
backend = get_backend(ctx.shot.model)
lp = plan_layers(backend, ctx.shot, layout, motion, ctx.preset.scale, size[1])
layers = fetch_layers(settings.cache, backend, ctx.shot, layout, lp)
comp = Compositor(layers.plate, size, layers.sprites)
before = backend.denoiser_calls
t0 = time.perf_counter()
for i in range(motion.frames):
    backend.harmonize(Image.fromarray(comp.frame_array(motion, i)), "a forest", 1)
print(backend.denoiser_calls - before, time.perf_counter() - t0)
"""


def bench_diffusers(results: dict[str, Any]) -> None:
    sys.path.insert(0, str(HERE.parent))
    try:
        from tests.tiny_model import build_tiny_pipeline
    except ImportError:
        results["diffusers"] = {"skipped": "the diffusion extra is not installed"}
        return
    model = build_tiny_pipeline(WORK / "models")
    out: dict[str, Any] = {"model": "tiny random SD (tests/tiny_model.py)", "seconds": 4.0}
    for every in ("auto", 4, 12, 24):  # "auto", the default, first
        shot = WORK / "shots" / f"paint{every}.toml"
        value = f'"{every}"' if isinstance(every, str) else every
        shot.write_text(DIFFUSERS_SHOT.format(model=model, every=value))
        project, cache = WORK / f"p-paint{every}", WORK / f"cache-paint{every}"
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        env = {"HF_HUB_OFFLINE": "1"}
        run(
            [
                PY,
                "-m",
                "shotcraft",
                "calibrate",
                "--model",
                str(model),
                "--cache",
                str(cache),
                "--quiet",
            ],
            env,
        )
        run(
            [
                PY,
                "-m",
                "shotcraft",
                "render",
                str(shot),
                "--project",
                str(project),
                "--cache",
                str(cache),
                "--quiet",
            ],
            env,
        )
        rep = json.loads((project / shot.stem / "render.json").read_text())
        models = json.loads((cache / "calibration.json").read_text())["models"]
        out[f"every_{every}"] = {
            "calibration_seconds": round(sum(m["calibration_s"] for m in models.values()), 3),
            "denoiser_calls": rep["denoiser_calls"],
            "calls_per_output_second": round(rep["denoiser_calls"] / 4.0, 2),
            "estimate_seconds": rep["estimate_seconds"],
            "actual_seconds": rep["actual_seconds"],
            "estimate_error": round(abs(rep["estimate_seconds"] / rep["actual_seconds"] - 1), 3),
            "key_frames": rep["harmonize"]["key_frames"],
            "coherence": rep["coherence"],
        }
        if every == "auto":
            code = NAIVE.format(
                src=str(HERE.parent / "src"), project=str(project), cache=str(cache), shot=str(shot)
            )
            _, stdout = run([PY, "-c", code], env)
            calls, seconds = stdout.split()
            out["naive_per_frame_img2img"] = {
                "denoiser_calls": int(calls),
                "calls_per_output_second": round(int(calls) / 4.0, 2),
                "seconds": round(float(seconds), 3),
            }
    naive = out["naive_per_frame_img2img"]["denoiser_calls"]
    for every in ("auto", 4, 12, 24):
        out[f"every_{every}"]["fewer_calls_than_naive"] = round(
            naive / max(1, out[f"every_{every}"]["denoiser_calls"]), 2
        )
    out["target_fewer_calls"] = 10
    try:
        import torch

        out["cuda"] = (
            torch.cuda.get_device_name(0)
            if torch.cuda.is_available()
            else ("no CUDA device on this machine: the GPU row was not measured")
        )
    except ImportError:
        out["cuda"] = "torch not installed"
    results["diffusers"] = out


VIDEO_SHOT = """\
version = 1
[shot]
duration = 3.5
fps = 16
size = [64, 64]
seed = 5
[video]
model = "{model}"
steps = {steps}
guidance = 1.0
chunk = 21
overlap = 5
regenerate = ["fox", "owl"]
cache = "{cache}"
[background]
colors = ["#203040", "#608090"]
[[subjects]]
id = "fox"
shape = "box"
height = 0.3
keys = [ {{ t = 0.0, at = [0.12, 0.9] }}, {{ t = 3.5, at = [0.4, 0.9], ease = "linear" }} ]
[[subjects]]
id = "owl"
shape = "circle"
height = 0.3
keys = [ {{ t = 0.0, at = [0.8, 0.5], opacity = 0.0 }},
         {{ t = 3.25, at = [0.8, 0.5], opacity = 0.0 }},
         {{ t = 3.3, at = [0.8, 0.5], opacity = 1.0 }},
         {{ t = 3.5, at = [{owl_x}, 0.45], ease = "linear" }} ]
"""


# what every model render row reports beside its own figures: the estimate made before it
ESTIMATED = ("estimate_seconds", "actual_seconds", "estimate_error", "estimate_source")


def bench_video(results: dict[str, Any]) -> None:
    """A 4-chunk Wan VACE shot (tiny random model): denoiser calls of an edit to one subject
    late in the shot against regenerating the whole shot; a step cache on against off."""
    sys.path.insert(0, str(HERE.parent))
    try:
        from tests.tiny_video_models import build_tiny_wan_vace
    except ImportError:
        results["video"] = {"skipped": "the diffusion extra is not installed"}
        return
    model = build_tiny_wan_vace(WORK / "video-models")
    env = {"HF_HUB_OFFLINE": "1"}

    def render(
        name: str, steps: int, cache: str, owl_x: float, fresh: bool, evict: bool = False
    ) -> dict[str, Any]:
        """`fresh`: a new project and cache; `evict`: a new project, the cache's entries
        evicted (its rates, learned from the chunks painted before, kept)."""
        shot = WORK / "shots" / f"{name}.toml"
        shot.write_text(VIDEO_SHOT.format(model=model, steps=steps, cache=cache, owl_x=owl_x))
        project, store = WORK / f"p-{name}", WORK / f"cache-{name}"
        if fresh or evict:
            shutil.rmtree(project, ignore_errors=True)
        if fresh:
            shutil.rmtree(store, ignore_errors=True)
        elif evict:
            gc = ["cache", "gc", "--max-size", "0", "--cache", store]
            run([PY, "-m", "shotcraft", *map(str, gc)], env)
        args = ["render", shot, "--project", project, "--cache", store, "--quiet"]
        run([PY, "-m", "shotcraft", *map(str, args)], env)
        rep = json.loads((project / name / "render.json").read_text())
        return rep["video_pass"] | {
            "actual_seconds": rep["actual_seconds"],
            "estimate_seconds": rep["estimate_seconds"],
            "estimate_source": rep["estimate"]["source"],
            "estimate_error": round(rep["estimate_seconds"] / rep["actual_seconds"] - 1, 3),
        }

    full = render("video-edit", 4, "none", 0.85, fresh=True)  # estimated from its files
    learned = render("video-edit", 4, "none", 0.85, fresh=False, evict=True)  # from its chunks
    edit = render("video-edit", 4, "none", 0.95, fresh=False)  # the owl's last key only
    out: dict[str, Any] = {
        "model": "tiny random Wan VACE (tests/tiny_video_models.py), 56 frames, 4 chunks",
        "whole_shot": {k: full[k] for k in ("chunks", "denoiser_calls", "seam_ratio", *ESTIMATED)},
        "whole_shot_again": {k: learned[k] for k in ("chunks", "repainted", *ESTIMATED)},
        "edit_late_subject": {
            k: edit[k] for k in ("chunks_reused", "repainted", "denoiser_calls", *ESTIMATED)
        },
        "fewer_calls_than_whole_shot": round(
            full["denoiser_calls"] / max(1, edit["denoiser_calls"]), 2
        ),
        "target_fewer_calls": 2,
    }
    for cache in ("none", "first-block", "taylorseer"):
        seconds, calls = [], 0
        for i in range(RUNS):  # the first run's estimate is rough, the others learned
            rep = render(f"video-cache-{cache}", 8, cache, 0.85, fresh=i == 0, evict=i > 0)
            seconds.append(rep["paint_seconds"])  # the model's calls, not start-up
            calls = rep["denoiser_calls"]
        out[f"step_cache_{cache}"] = {
            "denoiser_calls": calls,
            "forwards": rep["denoiser_forwards"],
            "paint_seconds": median(seconds),
            **{k: rep[k] for k in ESTIMATED},  # the last run's
        }
    results["video"] = out


ESTIMATE_SHOT = """
version = 1
[shot]
duration = 1.0
fps = 12
size = [{w}, {h}]
seed = 2
[model]
id = "{model}"
steps = {steps}
strength = 0.5
[background]
prompt = "a meadow"
[camera]
keys = [ {{ t = 0.0 }}, {{ t = 1.0, pan = [0.05, 0.0] }} ]
[[subjects]]
id = "hare"
prompt = "a hare"
place = "left, ground"
keys = [ {{ t = 0.0 }}, {{ t = 1.0, at = [0.6, 0.9] }} ]
"""


def bench_estimates(results: dict[str, Any]) -> None:
    """Estimate against actual for tiny models of three architectures at 256, 640 and 1024 px
    (tests/tiny_cost_models.py), each in a fresh process with a fresh cache: the rough
    estimate from config files first (sketch), then the render (which calibrates at its own
    sizes; calibration counted apart), then the same shot again from the cache-free estimate."""
    sys.path.insert(0, str(HERE.parent))
    try:
        from tests.tiny_cost_models import ARCHITECTURES, build_cost_model
    except ImportError:
        results["estimates"] = {"skipped": "the diffusion extra is not installed"}
        return
    env = {"HF_HUB_OFFLINE": "1"}
    out: dict[str, Any] = {}
    for arch in ARCHITECTURES:
        model = build_cost_model(WORK / "cost-models", arch)
        cache = WORK / f"cache-est-{arch}"
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(WORK / "cache", cache, ignore=shutil.ignore_patterns("objects"))
        for long_side in (256, 640, 1024):
            name = f"{arch}-{long_side}"
            shot = WORK / "shots" / f"est-{name}.toml"
            # as many steps as make the painting a second or more at every size (2 steps at
            # 256 px painted 0.07 s: the row measured the machine's noise, not the estimate)
            steps = max(2, round(40 * (256 / long_side) ** 2))
            shot.write_text(
                ESTIMATE_SHOT.format(w=long_side, h=long_side * 9 // 16, model=model, steps=steps)
            )
            project = WORK / f"p-est-{name}"
            shutil.rmtree(project, ignore_errors=True)
            base = ["--project", str(project), "--cache", str(cache)]
            _, sk = run([PY, "-m", "shotcraft", "sketch", str(shot), *base, "--json"], env)
            rough = json.loads(sk)["estimate"]
            before = json.loads((cache / "calibration.json").read_text()).get("models", {})
            spent_before = sum(m.get("calibration_s", 0) for m in before.values())
            run([PY, "-m", "shotcraft", "render", str(shot), *base, "--quiet"], env)
            rep = json.loads((project / shot.stem / "render.json").read_text())
            models = json.loads((cache / "calibration.json").read_text())["models"]
            spent = sum(m.get("calibration_s", 0) for m in models.values()) - spent_before
            out[name] = {
                "sketch_estimate": rough["seconds"],
                "sketch_source": rough["source"],
                "estimate_seconds": rep["estimate_seconds"],
                "low": rep["estimate"]["low"],
                "high": rep["estimate"]["high"],
                "actual_seconds": rep["actual_seconds"],
                "estimate_error": round(rep["estimate_seconds"] / rep["actual_seconds"] - 1, 3),
                "calibration_seconds": round(spent, 3),
            }
    out["target_estimate_error"] = 0.25
    results["estimates"] = out


SEGMENTS = """
import json, os, sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from shotcraft.executors.run import ExecutorSpec, render_shots
from shotcraft.stages.common import Settings

def main():
    # one core a worker: the encoders' thread count is fixed (the same bytes everywhere), so
    # the workers are held to their cores here, and their drawing to one thread
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:{jobs}]))
    settings = Settings(project=Path({project!r}), cache_dir=Path({cache!r}), force=True)
    t0 = time.perf_counter()
    render_shots([Path({shot!r})], settings, ExecutorSpec("local", {jobs}, threads=1))
    wall = time.perf_counter() - t0
    report = json.loads((Path({project!r}) / {name!r} / "render.json").read_text())
    seg = [s["seconds"] for s in report["segments"]]
    cpu = {{}}
    for s in report["segments"]:
        cpu[s["worker"]] = cpu.get(s["worker"], 0.0) + s["cpu_seconds"]
    secs = report["seconds"]
    print(json.dumps({{"wall": wall, "segments": len(seg), "segment_seconds": sum(seg),
                      "cpu_seconds": sum(cpu.values()), "busiest_worker_cpu": max(cpu.values()),
                      "splice": secs["splice"], "layers": secs["layers"]}}))

if __name__ == "__main__":
    main()
"""


def bench_scale(results: dict[str, Any]) -> None:
    """Segments of a 60 s 1080p30 shot drawn and encoded by one worker process and by two,
    each on one thread (drawing and encoder), alternately; then `render --jobs 2` of four
    shots against one job, whole process."""
    name = "long-1080p"
    shot = WORK / "shots" / f"{name}.toml"
    shot.write_text(shot_toml(60.0, (1920, 1080), 30, 3))
    project = WORK / "p-scale"
    run(sc("render", shot, "--project", project))  # layers into the cache, outside the timing
    first_render = estimated(project / name / "render.json")  # a 60 s 1080p render, priced
    code = {
        jobs: SEGMENTS.format(
            src=str(HERE.parent / "src"),
            project=str(project),
            cache=str(WORK / "cache"),
            shot=str(shot),
            name=name,
            jobs=jobs,
        )
        for jobs in (1, 2)
    }
    timed: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for _ in range(RUNS):
        for jobs in (1, 2):
            timed[jobs].append(json.loads(run([PY, "-c", code[jobs]])[1]))
    one = median([t["wall"] for t in timed[1]])
    two = median([t["wall"] for t in timed[2]])
    results["segments_60s_1080p30"] = {
        "segments": timed[1][0]["segments"],
        "one_worker_seconds": one,
        "two_workers_seconds": two,
        "speedup": round(one / two, 3),
        "target_speedup": 1.8,
        # where the time goes: the segments' own seconds (summed over workers) and the join
        "segment_seconds_sum_one": median([t["segment_seconds"] for t in timed[1]]),
        "segment_seconds_sum_two": median([t["segment_seconds"] for t in timed[2]]),
        "splice_seconds": median([t["splice"] for t in timed[2]]),
        # CPU time is what the work costs whatever else runs on the machine: the speed-up two
        # free cores would give is the whole work over the busier worker's share
        "cpu_seconds_one": median([t["cpu_seconds"] for t in timed[1]]),
        "busiest_worker_cpu_two": median([t["busiest_worker_cpu"] for t in timed[2]]),
        "cpu_speedup": round(
            median([t["cpu_seconds"] for t in timed[1]])
            / median([t["busiest_worker_cpu"] for t in timed[2]]),
            3,
        ),
        "load_average": round(os.getloadavg()[0], 2),
        "whole_render": first_render,
    }
    shots = []
    for i in range(4):
        p = WORK / "shots" / f"jobs{i}.toml"
        p.write_text(shot_toml(5.0, (1280, 720), 30, 2, x_end=0.85 - 0.05 * i))
        shots.append(p)
    base = sc("render", *shots, "--project", WORK / "p-jobs", "--force")
    run(base)
    serial, parallel = [], []
    for _ in range(RUNS):
        serial.append(run(base)[0])
        parallel.append(run([*base, "--jobs", "2"])[0])
    results["render_4_shots_jobs2"] = {
        "one_job_seconds": median(serial),
        "jobs2_seconds": median(parallel),
        "speedup": round(median(serial) / median(parallel), 3),
        "cpu_count": os.cpu_count(),
        # the command against the estimates its shots' render.json keep (the last --jobs 2
        # run's): one job renders them in turn, the serial estimates; two jobs spread every
        # shot's segments over the same two workers, each shot's parallel estimate in turn.
        # (A shot's own actual_seconds counts its wait for the others' segments.)
        **_command_estimates(
            [WORK / "p-jobs" / p.stem / "render.json" for p in shots],
            median(serial),
            median(parallel),
        ),
    }


def _command_estimates(reports: list[Path], one_job: float, jobs2: float) -> dict[str, float]:
    data = [json.loads(p.read_text()) for p in reports]
    serial = sum(float(d["estimate_seconds"]) for d in data)
    spread = sum(float((d.get("estimate_parallel") or {}).get("seconds", 0.0)) for d in data)
    return {
        "one_job_estimate_seconds": round(serial, 3),
        "one_job_estimate_error": round(serial / one_job - 1, 3),
        "jobs2_estimate_seconds": round(spread, 3),
        "jobs2_estimate_error": round(spread / jobs2 - 1, 3),
    }


def main() -> None:
    (WORK / "shots").mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "runs": RUNS,
    }
    only = set(sys.argv[1:])
    out = HERE / "results.json"
    # Byte-compiled sources, as any install leaves them (pip compiles what it installs; an
    # editable install's sources are compiled on first import unless PYTHONDONTWRITEBYTECODE
    # says otherwise): start-up then measures imports, not the compiler.
    subprocess.run([PY, "-m", "compileall", "-q", str(HERE.parent / "src")], check=True)
    run(sc("calibrate"))  # rates measured once, outside every timing
    for name, fn in [
        ("plan", bench_plan),
        ("render", bench_render),
        ("compose", bench_compose),
        ("memory", bench_memory),
        ("diffusers", bench_diffusers),
        ("video", bench_video),
        ("estimates", bench_estimates),
        ("scale", bench_scale),
    ]:
        if only and name not in only:
            continue
        print(f"bench: {name} ...", flush=True)
        fn(results)
        # after every row: a row that fails later does not take the earlier ones with it
        out.write_text(json.dumps(results, indent=2) + "\n")
    for key, row in results.items():
        if isinstance(row, dict) and key not in ("machine",):
            print(f"{key:32s} " + ", ".join(f"{k}={v}" for k, v in row.items()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
