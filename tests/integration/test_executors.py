"""Rendering on several workers: --jobs N (processes here) and --executor ray (a two-node
test cluster, one CPU a node, started once per session). A split render must decode to the
very frames of a single-process render; a worker killed mid-segment is retried by Ray."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shotcraft.executors.run import ExecutorSpec, render_shots
from shotcraft.executors.segments import plan_segments
from shotcraft.executors.work import FAULT_DIR_ENV
from shotcraft.media.probe import frames, probe
from shotcraft.stages.common import Settings, load_context
from shotcraft.stages.pipeline import Pipeline

# 6 s at 12 fps, 1 s GOPs, 2 GOPs a segment: three segments
LONG_SHOT = """\
version = 1
[shot]
duration = 6.0
fps = 12
size = [160, 96]
seed = 5
[background]
colors = ["#27405e", "#f4b26b", "#8a6a73"]
extent = 1.3
[camera]
keys = [ {{ t = 0.0 }}, {{ t = 6.0, pan = [0.1, 0.0], zoom = 1.1 }} ]
[[subjects]]
id = "{sid}"
shape = "star"
color = "{color}"
place = "left third, ground"
motion = "hop"
keys = [ {{ t = 0.0 }}, {{ t = 6.0, at = [0.8, 0.85] }} ]
"""


def decoded(path: Path) -> str:
    """A digest of every decoded frame: what a viewer sees, not how it was packed."""
    h = hashlib.sha256()
    for f in frames(path):
        h.update(f.tobytes())
    return h.hexdigest()


@pytest.fixture
def long_shot(write_shot: Callable[..., Path]) -> Callable[..., Path]:
    def make(sid: str = "walker", color: str = "#c8553d", size: tuple = (160, 96)) -> Path:
        text = LONG_SHOT.format(sid=sid, color=color)
        return write_shot(text.replace("[160, 96]", f"[{size[0]}, {size[1]}]"), f"{sid}.toml")

    return make


def single_process(shot: Path, tmp: Path, cache: Path, segment_gops: int = 2) -> Path:
    s = Settings(project=tmp / "single", cache_dir=cache, segment_gops=segment_gops)
    Pipeline(load_context(shot, s), s).render()
    return tmp / "single" / load_context(shot, s).shot.id / "clip.mp4"


@pytest.fixture(scope="session")
def fault_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def ray_cluster(fault_dir: Path) -> Iterator[object]:
    """Two Ray nodes on this machine, one CPU each; the session's one Ray runtime."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    mp = pytest.MonkeyPatch()
    mp.setenv(FAULT_DIR_ENV, str(fault_dir))  # the workers inherit it from the raylets
    mp.setenv("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    # a task on each node first: both have a worker up and their CPUs known to the scheduler,
    # so the first render's placement sees two available nodes
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ping = ray.remote(num_cpus=1)(_node_id)
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    on = [NodeAffinitySchedulingStrategy(n, soft=False) for n in nodes]
    assert sorted(ray.get([ping.options(scheduling_strategy=s).remote() for s in on])) == sorted(
        nodes
    )
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    mp.undo()


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def test_segments_are_fixed_gops_of_the_shot() -> None:
    segs = plan_segments(72, 12, 2)
    assert [(s.start, s.end) for s in segs] == [(0, 24), (24, 48), (48, 72)]
    assert [(s.start, s.end) for s in plan_segments(70, 12, 5)] == [(0, 60), (60, 70)]


def test_ray_split_across_two_nodes_matches_single_process(
    ray_cluster: object, long_shot: Callable[..., Path], tmp_path: Path, cache_dir: Path
) -> None:
    # frames big enough that a segment keeps its node's one CPU busy while the next is placed
    shot = long_shot(size=(640, 384))
    settings = Settings(project=tmp_path / "ray", cache_dir=cache_dir, segment_gops=2)
    (result,) = render_shots([shot], settings, ExecutorSpec("ray"))
    assert result.ran
    clip = tmp_path / "ray" / "walker" / "clip.mp4"
    report = json.loads((clip.parent / "render.json").read_text())
    assert report["executor"] == "ray"
    nodes = {s["worker"].split(":")[0] for s in report["segments"]}
    assert len(report["segments"]) == 3 and len(nodes) == 2, report["segments"]
    info = probe(clip)
    assert info.frames == 72 and info.keyframes == tuple(range(0, 72, 12))
    assert decoded(clip) == decoded(single_process(shot, tmp_path, cache_dir))


def test_ray_retries_a_worker_killed_mid_segment(
    ray_cluster: object,
    long_shot: Callable[..., Path],
    tmp_path: Path,
    cache_dir: Path,
    fault_dir: Path,
) -> None:
    shot = long_shot("victim", "#3d7fc8")
    armed = fault_dir / "kill-victim-1"
    armed.touch()
    settings = Settings(project=tmp_path / "ray", cache_dir=cache_dir, segment_gops=2)
    (result,) = render_shots([shot], settings, ExecutorSpec("ray"))
    assert result.ran
    assert not armed.exists() and armed.with_suffix(".fired").exists()  # it did die once
    clip = tmp_path / "ray" / "victim" / "clip.mp4"
    assert probe(clip).frames == 72
    assert decoded(clip) == decoded(single_process(shot, tmp_path, cache_dir))
    leftovers = [p.name for p in clip.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no scratch folder, no half file


def test_jobs_2_over_four_shots_sharing_a_background_makes_the_plate_once(
    cli: Callable[..., object],
    long_shot: Callable[..., Path],
    project: Path,
    cache_dir: Path,
    tmp_path: Path,
) -> None:
    shots = [long_shot(f"s{i}", c) for i, c in enumerate(["#c8553d", "#3dc855", "#553dc8", "#eee"])]
    r = cli("render", *shots, "--jobs", "2", "--json")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    reports = [json.loads((project / f"s{i}" / "render.json").read_text()) for i in range(4)]
    made = [rep["shot"] for rep in reports if not rep["cache"]["plate"]["hit"]]
    assert len(made) == 1, made
    assert json.loads((cache_dir / "stats.json").read_text())["plate"]["misses"] == 1
    assert {rep["executor"] for rep in reports} == {"local"}
    assert len({w for rep in reports for w in rep["workers"]}) >= 2  # two processes drew
    # the default segment length (one 1 s GOP): six segments, spliced like a one-process render
    assert [s["frames"] for s in reports[0]["segments"]] == [[i, i + 12] for i in range(0, 72, 12)]
    one = single_process(shots[0], tmp_path, cache_dir, segment_gops=1)
    assert decoded(project / "s0" / "clip.mp4") == decoded(one)
    again = cli("render", *shots, "--jobs", "2")
    assert again.output.count("up to date") == 4  # type: ignore[attr-defined]


def test_executor_ray_without_ray_exits_4_with_the_pip_command(
    cli: Callable[..., object], simple_shot: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shotcraft.executors.cluster as cluster

    monkeypatch.setattr(cluster, "ray", None)
    r = cli("render", simple_shot(), "--executor", "ray")
    assert r.exit_code == 4  # type: ignore[attr-defined]
    assert "pip install 'shotcraft[ray]'" in r.output  # type: ignore[attr-defined]


def test_bad_jobs_is_a_usage_error(
    cli: Callable[..., object], simple_shot: Callable[..., Path]
) -> None:
    r = cli("render", simple_shot(), "--jobs", "0")
    assert r.exit_code == 2 and "--jobs" in r.output  # type: ignore[attr-defined]


def test_the_estimate_says_when_parallelism_will_not_pay(
    cli: Callable[..., object], simple_shot: Callable[..., Path], project: Path
) -> None:
    r = cli("render", simple_shot(), "--jobs", "2")
    assert r.exit_code == 0  # type: ignore[attr-defined]
    assert "parallelism will not pay" in r.output  # type: ignore[attr-defined]
    report = json.loads((project / "dot" / "render.json").read_text())
    assert report["estimate_parallel"]["segments"] == 1
    assert "not pay" in report["estimate_parallel"]["note"]


MODEL_SHOT = """\
version = 1
[shot]
duration = 2.0
fps = 12
size = [96, 64]
seed = 4
preset = "preview"
[model]
id = "{model}"
steps = 2
strength = 0.5
[background]
prompt = "misty pine forest at dawn"
[[subjects]]
id = "{sid}"
prompt = "a red fox {sid}"
place = "left, ground"
keys = [ {{ t = 0.0, at = [0.2, 0.9] }}, {{ t = 2.0, at = [0.8, 0.9], ease = "linear" }} ]
"""


@pytest.mark.diffusion
def test_ray_model_layers_in_one_actor_that_keeps_the_model(
    ray_cluster: object,
    write_shot: Callable[..., Path],
    tiny_model: Path,
    tmp_path: Path,
    cache_dir: Path,
) -> None:
    shots = [write_shot(MODEL_SHOT.format(model=tiny_model, sid=s), f"{s}.toml") for s in "ab"]
    settings = Settings(project=tmp_path / "ray", cache_dir=cache_dir, segment_gops=1)
    results = render_shots(shots, settings, ExecutorSpec("ray"))
    assert [r.ran for r in results] == [True, True]
    reports = [json.loads((tmp_path / "ray" / s / "render.json").read_text()) for s in "ab"]
    # both shots painted by one actor (one process, one model load), each its own sprite
    assert reports[0]["layers_worker"] == reports[1]["layers_worker"]
    assert reports[0]["denoiser_calls"] == 2 + 2 and reports[1]["denoiser_calls"] == 2
    assert len(reports[0]["segments"]) == 2
    clip = tmp_path / "ray" / "a" / "clip.mp4"
    # one process from the same cache: the same layers, the same frames
    assert decoded(clip) == decoded(single_process(shots[0], tmp_path, cache_dir, 1))


HARMONIZED_SHOT = MODEL_SHOT.replace('preset = "preview"', 'preset = "final"').replace(
    "strength = 0.5", "strength = 0.5\nevery = 4"
)


def _harmonized_split(
    shot: Path, tmp_path: Path, cache_dir: Path, spec: ExecutorSpec, name: str
) -> dict:
    """Render a harmonized shot (24 frames, a key every 4th) in two segments on `spec`'s
    workers; check its frames against a one-process render from a cache of its own, and
    that a whole-shot pass over the split render's cache paints no key frame again."""
    settings = Settings(project=tmp_path / name, cache_dir=cache_dir, segment_gops=1)
    (result,) = render_shots([shot], settings, spec)
    assert result.ran
    clip = tmp_path / name / "h" / "clip.mp4"
    report = json.loads((clip.parent / "render.json").read_text())
    assert [s["frames"] for s in report["segments"]] == [[0, 12], [12, 24]]
    assert report["harmonize"]["repainted"] == list(range(0, 24, 4))
    assert report["denoiser_calls"] == 2 + 2 + 6  # plate, sprite (2 steps), 6 keys (1 each)
    assert report["coherence"]["pairs_sampled"] >= 4
    # the key frames are in the split render's cache: a one-process pass paints none
    whole = _same_as_one_process(shot, clip, name, tmp_path, cache_dir)
    assert whole["harmonize"]["from_cache"] == 6 and whole["denoiser_calls"] == 0
    return report


def _same_as_one_process(
    shot: Path, clip: Path, name: str, tmp_path: Path, cache_dir: Path
) -> dict:
    """The split `clip` decodes to a one-process render's frames from a fresh cache (with the
    same rates: the same plan); a one-process render over the split's cache gives them too.
    Returns that last render's report."""
    fresh = tmp_path / f"{name}-fresh-cache"
    fresh.mkdir()
    for f in cache_dir.glob("calibration*.json"):
        shutil.copy(f, fresh / f.name)
    one = single_process(shot, tmp_path / f"{name}-one", fresh, segment_gops=1)
    assert decoded(clip) == decoded(one)
    again = Settings(project=tmp_path / f"{name}-again", cache_dir=cache_dir, segment_gops=1)
    Pipeline(load_context(shot, again), again).render()
    out = tmp_path / f"{name}-again" / clip.parent.name
    assert decoded(out / "clip.mp4") == decoded(one)
    return json.loads((out / "render.json").read_text())


@pytest.mark.diffusion
def test_jobs_2_paints_key_frames_first_and_splits_a_harmonized_shot(
    write_shot: Callable[..., Path], tiny_model: Path, tmp_path: Path, cache_dir: Path
) -> None:
    shot = write_shot(HARMONIZED_SHOT.format(model=tiny_model, sid="h"), "h.toml")
    report = _harmonized_split(shot, tmp_path, cache_dir, ExecutorSpec("local", 2), "jobs")
    assert report["executor"] == "local"


@pytest.mark.diffusion
def test_ray_paints_key_frames_on_the_model_actor_and_splits_a_harmonized_shot(
    ray_cluster: object,
    write_shot: Callable[..., Path],
    tiny_model: Path,
    tmp_path: Path,
    cache_dir: Path,
) -> None:
    shot = write_shot(HARMONIZED_SHOT.format(model=tiny_model, sid="h"), "h.toml")
    report = _harmonized_split(shot, tmp_path, cache_dir, ExecutorSpec("ray"), "ray")
    assert report["executor"] == "ray"
    # the key frames were painted by the actor that painted the layers, not by a segment
    assert report["harmonize"]["workers"] == [report["layers_worker"]]
    assert report["layers_worker"] not in {s["worker"] for s in report["segments"]}


def test_ctrl_c_cancels_the_workers_and_exits_130(
    write_shot: Callable[..., Path], tmp_path: Path, cache_dir: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    text = LONG_SHOT.format(sid="long", color="#c8553d").replace(
        "duration = 6.0", "duration = 40.0"
    )
    text = text.replace("t = 6.0", "t = 40.0").replace("size = [160, 96]", "size = [640, 384]")
    shot = write_shot(text.replace("fps = 12", "fps = 24"), "long.toml")  # 20 s of work here
    project = tmp_path / "build"
    args = [sys.executable, "-m", "shotcraft", "render", str(shot), "--jobs", "2"]
    args += ["--project", str(project), "--cache", str(cache_dir)]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    folder = project / "long"
    deadline = time.monotonic() + 60
    while not (folder / "motion.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the workers are drawing
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert not (folder / "clip.mp4").exists()
    assert [n for n in os.listdir(folder) if n.startswith(".")] == []


def test_fit_budget_with_jobs_fits_in_the_driver_then_splits(
    cli: Callable[..., object], long_shot: Callable[..., Path], project: Path
) -> None:
    shot = long_shot(size=(640, 384))
    plain = json.loads(cli("sketch", "--json", shot).stdout)["estimate"]  # type: ignore[attr-defined]
    budget = plain["high"] * 0.7  # --fit-budget fits the estimate's high end
    r = cli("render", shot, "--jobs", "2", "--fit-budget", f"{budget:.3f}")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "changed" in r.output  # type: ignore[attr-defined]
    rep = json.loads((project / "walker" / "render.json").read_text())
    assert rep["executor"] == "local" and rep["fit_budget"]["changes"]
    assert len(rep["segments"]) == 6  # one a GOP: fitted here, drawn in the workers
    assert rep["estimate"]["high"] <= budget
    assert probe(project / "walker" / "clip.mp4").size[0] < 640  # a lower scale: fitted
    again = cli("render", shot, "--jobs", "2", "--fit-budget", f"{budget:.3f}")
    assert "up to date" in again.output  # type: ignore[attr-defined]


def test_compose_render_missing_with_jobs(
    cli: Callable[..., object], long_shot: Callable[..., Path], tmp_path: Path, project: Path
) -> None:
    shots = [long_shot("c0", "#c8553d"), long_shot("c1", "#3dc855")]
    reel = tmp_path / "reel.toml"
    clips = "".join(f'[[clips]]\nshot = "{s}"\n' for s in shots)
    reel.write_text(f"version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n{clips}")
    r = cli("compose", reel, "--render-missing", "--jobs", "2")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert probe(project / "reel.mp4").frames == 144
    for s in ("c0", "c1"):
        assert json.loads((project / s / "render.json").read_text())["executor"] == "local"


def test_critical_path_halves_a_long_shot_on_two_workers() -> None:
    from shotcraft.cost import RenderEstimate
    from shotcraft.executors.plan import critical_path

    est = RenderEstimate(60.0, 1800, 2.07, 0, 4, {"frames": 58.0, "overhead": 2.0})
    two = critical_path(est, segments=12, workers=2)
    assert two.pays and 30.0 < two.seconds < 32.0 and two.workers == 2
    assert critical_path(est, segments=12, workers=24).workers == 12  # one segment each at most
    ray = critical_path(est, segments=12, workers=2, start_ray=True)
    assert ray.seconds > two.seconds + 5  # a Ray runtime started for the command costs
    short = RenderEstimate(0.5, 12, 0.02, 0, 2, {"frames": 0.4, "overhead": 0.1})
    assert not critical_path(short, segments=1, workers=2).pays


def test_critical_path_counts_each_workers_model_load() -> None:
    from shotcraft.cost import RenderEstimate
    from shotcraft.executors.plan import critical_path

    # a video model: 4 chunks of 2 s, the driver's own load 3 s, a fresh worker's 9 s
    est = RenderEstimate(11.0, 48, 0.1, 0, 0, {"video": 8.0, "model_load": 3.0}, worker_startup=9.0)
    plain = critical_path(est, segments=4, workers=2, spread=("video",))
    loaded = critical_path(est, segments=4, workers=2, spread=("video",), model_units=True)
    # the workers load side by side: one worker load on the path, the driver's load off it
    assert loaded.worker_load == 9.0 and loaded.to_json()["worker_load_seconds"] == 9.0
    assert loaded.seconds - plain.seconds == pytest.approx(9.0 - 3.0)
    assert plain.pays and not loaded.pays
    assert "9.0s of it loading the model" in loaded.note and "without --jobs" in loaded.note
    # one process pays no worker load
    assert critical_path(est, 4, 1, spread=("video",), model_units=True).worker_load == 0.0


def _marked_processes(mark: str) -> list[str]:
    """Live processes whose environment holds `mark` (a command's own Ray inherits it)."""
    import os

    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
            if mark.encode() not in env:
                continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # a zombie holds nothing
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {cmd}")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_ctrl_c_with_executor_ray_cancels_its_tasks_and_exits_130(
    write_shot: Callable[..., Path], tmp_path: Path, cache_dir: Path
) -> None:
    """Ctrl-C at a terminal reaches the whole process group: the command, the Ray it started
    for itself and that Ray's workers. Exit 130; the clip of an earlier render is untouched;
    no half file, no scratch folder, no Ray process left behind."""
    pytest.importorskip("ray")
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    import uuid

    project = tmp_path / "build"
    shot = write_shot(LONG_SHOT.format(sid="ctl", color="#c8553d"), "ctl.toml")
    s = Settings(project=project, cache_dir=cache_dir)
    Pipeline(load_context(shot, s), s).render()  # the earlier render, in this process
    folder = project / "ctl"
    before = {n: (folder / n).read_bytes() for n in ("clip.mp4", "render.json")}
    # the shot changed: 40 s at 640x384, 24 fps, well over 10 s of work for two tasks here
    text = LONG_SHOT.format(sid="ctl", color="#c8553d").replace("6.0", "40.0")
    write_shot(text.replace("[160, 96]", "[640, 384]").replace("fps = 12", "fps = 24"), "ctl.toml")

    faults = tmp_path / "faults"
    faults.mkdir()
    scratch = tempfile.mkdtemp(prefix="sc-", dir="/tmp")  # short: Ray's sockets live in it
    mark = f"shotcraft-test-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({FAULT_DIR_ENV: str(faults), "TMPDIR": scratch, "SHOTCRAFT_TEST_MARK": mark})
    env["RAY_AUTH_MODE"] = "disabled"
    args = [sys.executable, "-m", "shotcraft", "render", str(shot), "--executor", "ray"]
    args += ["--jobs", "2", "--project", str(project), "--cache", str(cache_dir)]
    cwd = tmp_path / "cwd"  # where the command and its Ray's workers run: nothing lands here
    cwd.mkdir()
    p = subprocess.Popen(
        args, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True, cwd=cwd
    )
    try:
        deadline = time.monotonic() + 120
        while not list(faults.glob("drawing-ctl-*")) and time.monotonic() < deadline:
            assert p.poll() is None, p.communicate()[1]
            time.sleep(0.1)
        assert list(faults.glob("drawing-ctl-*")), "no segment started in 120 s"
        time.sleep(1.0)  # mid-segment
        os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = p.communicate(timeout=60)
        assert p.returncode == 130, err
        assert "interrupted" in err
        assert {n: (folder / n).read_bytes() for n in before} == before
        assert [n for n in os.listdir(folder) if n.startswith(".")] == []
        assert [str(f) for f in project.rglob("*.part*")] == []
        left = [str(f) for f in Path(scratch).rglob("shotcraft-*")]
        assert left == []  # the segment tasks cleaned up as they stopped
        assert [str(f) for f in Path(scratch).rglob("*.part*")] == []
        assert list(cwd.iterdir()) == []
        deadline = time.monotonic() + 15
        while _marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _marked_processes(mark) == []
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for line in _marked_processes(mark):  # never leave a stray runtime to the next test
            with contextlib.suppress(OSError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------------ video chunks as units
class _Bar:
    """A reporter that keeps each bar's total and how far it moved."""

    def __init__(self) -> None:
        self.bars: list[list] = []

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        bar = [label, total, 0]
        self.bars.append(bar)

        def advance(n: int = 1) -> None:
            bar[2] += n

        yield advance


def _video_shot(write_shot: Callable[..., Path], model: Path, video: str) -> Path:
    from tests.integration.test_video_models import shot_text

    # 33 frames at 16 fps, 64x64: chunks of 13 sharing 5 start at 0, 8, 16 and 24
    return write_shot(shot_text(model, duration=2.0625, video=video), "v.toml")


CROSSFADED = 'chunk = 13\noverlap = 5\nregenerate = ["fox", "owl"]'


def _chunked_split(
    shot: Path, tmp_path: Path, cache_dir: Path, spec: ExecutorSpec, name: str
) -> dict:
    """Render a four-chunk video shot on `spec`'s workers; check what the user gets against
    a one-process render from a cache of its own, and that a one-process render over the
    split render's cache reads every chunk from it (the same cache keys)."""
    bar = _Bar()
    settings = Settings(
        project=tmp_path / name, cache_dir=cache_dir, segment_gops=1, device="cpu", reporter=bar
    )
    (result,) = render_shots([shot], settings, spec)
    assert result.ran
    clip = tmp_path / name / "v" / "clip.mp4"
    report = json.loads((clip.parent / "render.json").read_text())
    vp = report["video_pass"]
    assert (vp["chunks"], vp["repainted"], vp["chunks_reused"]) == (4, 4, 0)
    assert vp["frames_repainted"] == 3 * 13 + 9
    assert report["denoiser_calls"] == 4 * 2 == report["estimate"]["denoiser_calls"]
    assert [c["model_frames"] for c in report["chunks"]] == [[0, 13], [8, 21], [16, 29], [24, 33]]
    assert all(c["seconds"] > 0 and not c["from_cache"] for c in report["chunks"])
    assert [s["frames"] for s in report["segments"]] == [[0, 16], [16, 32], [32, 33]]
    assert report["estimate_parallel"]["segments"] == 4  # the units: its chunks
    (render_bar,) = [b for b in bar.bars if b[0].startswith("render:")]
    assert render_bar[1:] == [33, 33], bar.bars  # the one bar counts every frame once
    info = probe(clip)
    assert info.frames == 33 and info.size == (64, 64) and info.fps == 16
    whole = _same_as_one_process(shot, clip, name, tmp_path, cache_dir)
    assert whole["video_pass"]["chunks_reused"] == 4 and whole["denoiser_calls"] == 0
    return report


@pytest.mark.diffusion
def test_jobs_2_paints_video_chunks_in_two_workers_and_joins_them_here(
    write_shot: Callable[..., Path], video_models: dict[str, Path], tmp_path: Path, cache_dir: Path
) -> None:
    shot = _video_shot(write_shot, video_models["wan"], CROSSFADED)
    report = _chunked_split(shot, tmp_path, cache_dir, ExecutorSpec("local", 2), "jobs")
    assert report["executor"] == "local"
    painters = {c["worker"] for c in report["chunks"]}
    assert len(painters) == 2, report["chunks"]  # two worker processes, each its model loaded
    # each worker loaded the model once, for its first chunk, and says so beside the estimate
    by_worker = report["chunk_workers"]
    assert set(by_worker) == painters and sum(w["chunks"] for w in by_worker.values()) == 4
    assert all(w["load_seconds"] > 0 and w["paint_seconds"] > 0 for w in by_worker.values())
    for who in painters:
        loads = [c["load_seconds"] for c in report["chunks"] if c["worker"] == who]
        assert loads[0] > 0 and all(x == 0 for x in loads[1:]), report["chunks"]
    assert report["video_pass"]["placement"] == "cpu:whole"  # as the workers loaded it
    assert painters.isdisjoint(s["worker"] for s in report["segments"])  # joined here


@pytest.mark.diffusion
def test_ray_paints_video_chunks_on_model_actors_on_both_nodes(
    ray_cluster: object,
    write_shot: Callable[..., Path],
    video_models: dict[str, Path],
    tmp_path: Path,
    cache_dir: Path,
) -> None:
    shot = _video_shot(write_shot, video_models["wan"], CROSSFADED)
    report = _chunked_split(shot, tmp_path, cache_dir, ExecutorSpec("ray"), "ray")
    assert report["executor"] == "ray"
    painters = [c["worker"] for c in report["chunks"]]
    nodes = {w.split(":")[0] for w in painters}
    assert len(nodes) == 2 and len(set(painters)) == 2, painters  # an actor on each node
    assert report["video_pass"]["load_seconds"] > 0  # loaded in the actors, not here


@pytest.mark.diffusion
def test_chunks_conditioned_on_the_last_one_stay_one_unit_in_order(
    write_shot: Callable[..., Path], video_models: dict[str, Path], tmp_path: Path, cache_dir: Path
) -> None:
    shot = _video_shot(write_shot, video_models["wan"], f'{CROSSFADED}\njoin = "condition"')
    settings = Settings(project=tmp_path / "jobs", cache_dir=cache_dir, segment_gops=1)
    (result,) = render_shots([shot], settings, ExecutorSpec("local", 2))
    assert result.ran
    report = json.loads((tmp_path / "jobs" / "v" / "render.json").read_text())
    assert report["video_pass"]["join"] == "condition" and report["video_pass"]["repainted"] == 4
    assert "chunks" not in report and len(report["workers"]) == 1  # one unit, in order
    assert report["estimate_parallel"]["segments"] == 1


@pytest.mark.diffusion
def test_jobs_2_paints_animatediff_chunks_in_the_workers(
    write_shot: Callable[..., Path],
    tiny_model: Path,
    tiny_adapter: Path,
    tmp_path: Path,
    cache_dir: Path,
) -> None:
    text = MODEL_SHOT.format(model=tiny_model, sid="ad")
    text = text.replace("strength = 0.5", f"strength = 0.5\nmotion_adapter = '{tiny_adapter}'")
    shot = write_shot(text, "ad.toml")
    settings = Settings(project=tmp_path / "jobs", cache_dir=cache_dir, device="cpu")
    (result,) = render_shots([shot], settings, ExecutorSpec("local", 2))
    assert result.ran
    clip = tmp_path / "jobs" / "ad" / "clip.mp4"
    report = json.loads((clip.parent / "render.json").read_text())
    # 24 frames in chunks of 16 sharing 4, painted in the workers (the layers here)
    assert [c["model_frames"] for c in report["chunks"]] == [[0, 16], [12, 24]]
    assert report["layers_worker"] not in {c["worker"] for c in report["chunks"]}
    assert report["video_pass"]["family"] == "animatediff"
    assert report["denoiser_calls"] == report["estimate"]["denoiser_calls"]
    assert probe(clip).frames == 24
    # the same cache keys and the same join as a one-process render: it paints nothing
    again = Settings(project=tmp_path / "again", cache_dir=cache_dir)
    Pipeline(load_context(shot, again), again).render()
    whole = json.loads((tmp_path / "again" / "ad" / "render.json").read_text())
    assert whole["video_pass"]["chunks_reused"] == 2 and whole["denoiser_calls"] == 0
    assert decoded(tmp_path / "again" / "ad" / "clip.mp4") == decoded(clip)


@pytest.mark.diffusion
def test_render_jobs_2_json_on_a_video_model_from_the_command_line(
    cli: Callable[..., object],
    write_shot: Callable[..., Path],
    video_models: dict[str, Path],
    project: Path,
) -> None:
    """What a script gets from `shotcraft render --jobs 2 --json` of a video-model shot: the
    result with its estimate and range on stdout, the clip, and render.json saying who
    painted what and what each worker paid to load the model."""
    shot = _video_shot(write_shot, video_models["wan"], CROSSFADED)
    r = cli("render", shot, "--jobs", "2", "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    data = json.loads(r.stdout)  # type: ignore[attr-defined]
    assert data["stage"] == "render" and data["ran"] and data["shot"] == "v"
    assert any(o.endswith("clip.mp4") for o in data["outputs"])
    est = data["estimate"]
    assert est["low"] <= data["estimate_seconds"] <= est["high"]
    assert data["estimate"]["denoiser_calls"] == 4 * 2
    report = json.loads((project / "v" / "render.json").read_text())
    assert report["executor"] == "local" and len(report["chunk_workers"]) == 2
    assert report["estimate_parallel"]["workers"] == 2
    assert probe(project / "v" / "clip.mp4").frames == 33
