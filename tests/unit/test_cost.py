"""The cost model's pieces that need no model: the fit, the keys, the budget planner."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shotcraft import cost
from shotcraft.errors import OverBudget
from shotcraft.project import ShotPaths, shot_digest
from shotcraft.spec.model import Background, Camera, ModelSpec, Preset, Shot
from shotcraft.stages.budget import fit_budget
from shotcraft.stages.common import ShotContext


def test_fit_recovers_fixed_linear_and_quadratic_terms() -> None:
    xs = [0.5, 1.0, 2.0, 4.0]
    a, b, c = cost.fit([[x, 0.2 + 0.1 * x + 0.05 * x * x] for x in xs])
    assert (a, b, c) == pytest.approx((0.2, 0.1, 0.05), rel=1e-6)
    # linear extrapolation from the two smallest sizes would miss the largest by a third
    rec = {"points": {"step": [[x, 0.2 + 0.1 * x + 0.05 * x * x] for x in xs[:3]]}}
    rec["token_pixels"] = 1000
    at = cost.part_seconds(rec, "step", (4000, 1000))  # 4000 tokens of 1000 pixels
    assert at == pytest.approx(0.2 + 0.4 + 0.8, rel=1e-6)


def test_fit_never_lets_a_cost_fall_with_size() -> None:
    a, b, c = cost.fit([[1.0, 1.0], [2.0, 1.9], [3.0, 2.0]])  # noisy, concave
    assert min(a, b, c) >= 0.0
    one = cost.fit([[2.0, 1.0]])  # one size: proportional to size
    assert one == pytest.approx((0.0, 0.5, 0.0))


class _Backend(SimpleNamespace):
    def precision(self, device: str) -> str:
        return "float16" if device == "cuda" else "float32"

    def guidance(self) -> float:
        return 0.0


def test_model_rates_are_kept_per_machine(tmp_path: Path, monkeypatch: Any) -> None:
    backend: Any = _Backend(
        identity="local:abc", model=ModelSpec(id="m"), device_request="cpu", device="cpu"
    )
    here = cost.model_key(backend, "cpu")
    assert cost.cpu_name() in here and "float32" in here and "torch" in here
    record = {"points": {"step": [[1.0, 0.1]]}, "source": "calibrated"}
    other = here.replace(cost.cpu_name(), "Another CPU")

    def put(data: dict[str, Any]) -> None:
        data["models"][other] = record

    cost._update(tmp_path, put)
    assert cost.known_model_rates(tmp_path, backend) is None  # another machine's rates
    cost._update(tmp_path, lambda d: d["models"].__setitem__(here, record))
    assert cost.known_model_rates(tmp_path, backend) == record


def _ctx(tmp_path: Path) -> ShotContext:
    shot = Shot(
        id="s",
        source=tmp_path / "s.toml",
        duration=4.0,
        fps=12,
        size=(640, 360),
        seed=1,
        preset="final",
        background=Background(),
        camera=Camera(),
        subjects=(),
        model=ModelSpec(id="m", steps=8, every=2),
    )
    preset = Preset(name="final", harmonize=True)
    return ShotContext(shot, preset, ShotPaths.of(tmp_path, "s"), shot_digest(shot))


def _estimate(seconds: float) -> cost.RenderEstimate:
    return cost.RenderEstimate(seconds, 48, 0.23, 1, 0, {}, low=seconds, high=seconds * 1.25)


def _price(ctx: ShotContext) -> cost.RenderEstimate:
    """A made-up cost: key frames, then steps, then pixels."""
    m = ctx.shot.model
    assert m is not None
    keys = 48 / (m.every or 12)
    return _estimate(keys * m.steps * 0.05 * ctx.preset.scale**2 + 1.0)


def test_fit_budget_changes_key_frames_first_then_steps_then_scale(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    plain = _price(ctx)  # 24 keys x 8 steps: 10.6 s
    plan = fit_budget(ctx, 4.0, plain, _price, fewest_steps=4)
    assert [c.setting for c in plan.changes] == ["harmonize.every"]
    assert plan.chosen.high <= 4.0 and plan.ctx.shot.model.every == 18  # 1.5 s at 12 fps
    plan = fit_budget(ctx, 1.7, plain, _price, fewest_steps=4)
    assert [c.setting for c in plan.changes] == ["harmonize.every", "model.steps"]
    assert plan.ctx.shot.model.every == 48 and plan.chosen.high <= 1.7
    assert "changed harmonize.every 2 -> 48" in plan.describe()
    # the shot's own settings untouched where they fit
    assert fit_budget(ctx, 100.0, plain, _price).changes == ()


def test_fit_budget_refuses_when_nothing_fits(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    with pytest.raises(OverBudget, match="nothing fits --fit-budget 1s"):
        fit_budget(ctx, 1.0, _price(ctx), _price, fewest_steps=4)
    assert dataclasses.replace(ctx.preset).scale == 1.0


def test_load_and_import_times_are_the_median_of_recent_loads() -> None:
    record: dict[str, Any] = {}
    keys = ["torch", "diffusers.x"]
    for load, imp in ((1.0, 2.0), (1.1, 2.1), (3.0, 6.0)):  # one unlucky process
        cost.observe_startup(record, load, {"torch": imp, "diffusers.x": 0.5}, keys)
    assert record["load_s"] == 1.1 and record["imports"] == {"torch": 2.1, "diffusers.x": 0.5}
    for _ in range(cost.STARTUP_KEPT):
        cost.observe_startup(record, 2.0, {"torch": 3.0}, keys)
    assert record["load_runs"] == [2.0] * cost.STARTUP_KEPT  # only the recent ones are kept
    assert record["imports"]["torch"] == 3.0
    # a module the load no longer goes through is dropped, not counted in every estimate
    cost.observe_startup(record, 2.0, {"diffusers.y": 0.4}, ["torch", "diffusers.y"])
    assert set(record["imports"]) == {"torch", "diffusers.y"}
    assert record["imports_version"] == cost.IMPORTS_VERSION


def test_a_record_timed_with_the_old_imports_is_timed_afresh(
    tmp_path: Path, monkeypatch: Any
) -> None:
    backend: Any = _Backend(
        identity="local:abc", model=ModelSpec(id="m"), device_request="cpu", device="cpu"
    )
    key = cost.model_key(backend, "cpu")
    old = {
        "points": {p: [[x, 0.1] for x in (1.0, 2.0, 4.0)] for p in cost.PARTS},
        "imports": {"diffusers.pipelines.auto_pipeline": 1.5},
        "source": "calibrated",
    }
    cost._update(tmp_path, lambda d: d["models"].__setitem__(key, old))
    timed: list[Any] = []

    def measure(*a: Any) -> dict[str, Any]:
        timed.append(a)
        return {"points": {}, "calibration_s": 1.0, "startup": (1.0, {"torch": 0.9}, ["torch"])}

    monkeypatch.setattr(cost, "_measure_model", measure)
    monkeypatch.setattr(cost, "calibration_sizes", lambda b, s: [(64, 64)])
    backend.model = SimpleNamespace(id="m")
    backend.paint_size = lambda s: s
    rec = cost.model_rates(tmp_path, backend)
    assert timed and rec["imports"] == {"torch": 0.9}
    assert "diffusers.pipelines.auto_pipeline" not in rec["imports"]


def test_a_render_teaches_its_start_up_and_its_painting_apart(tmp_path: Path) -> None:
    backend: Any = _Backend(
        identity="local:abc", model=ModelSpec(id="m"), device_request="cpu", device="cpu"
    )
    key = cost.model_key(backend, "cpu")
    rec = {"source": "calibrated", "load_s": 1.0, "load_runs": [1.0], "imports": {}}
    cost._update(tmp_path, lambda d: d["models"].__setitem__(key, rec))
    # estimated: 1 s drawing, 1 s load, 1 s import, 2 s painting; the render's load took
    # 3 s and its painting as estimated
    estimate = cost.RenderEstimate(
        5.0, 6, 0.1, 2, 0, {}, source="calibrated", model_seconds=4.0, bucket="256px",
        startup={"load_s": 1.0, "warmup_s": 0.0, "mod": 1.0},
    )  # fmt: skip
    backend.take_startup = lambda: (3.0, {"mod": 1.0})
    backend.import_keys = ["mod"]
    cost.learn(tmp_path, backend, estimate, 7.0)
    got = cost.load_calibration(tmp_path)["models"][key]
    assert got["load_runs"] == [1.0, 3.0] and got["load_s"] == 2.0
    assert got["corrections"]["256px"]["factor"] == 1.0  # the painting was right
    assert got["renders"][-1]["actual_s"] == 7.0


# --- a [video] model's chunks (cost_video) --------------------------------------------------
def _video_call(**kw: Any) -> cost.ModelCall:
    values: dict[str, Any] = {"size": (64, 64), "steps": 8, "calls": 3, "frames": 13}
    values.update(kw)
    return cost.ModelCall("video", "video-model", references=2, **values)


def test_video_chunks_are_priced_at_their_shape_and_the_load_only_where_it_is_paid() -> None:
    from shotcraft import cost_video

    rec: dict[str, Any] = {"kind": "video", "source": "calibrated", "token_pixels": 256}
    rec |= {"frame_factor": 4, "load_s": 5.0, "warmup_t2i_s": 1.0}
    c = _video_call()
    # 64x64 is 16 tokens a latent frame; 13 frames are 4 latent frames, plus 2 references
    assert cost_video.tokens(rec, c) == pytest.approx(16 * 6 / 1e3)
    rec["points"] = {"chunk_step": [[0.096, 0.1]], "chunk_call": [[0.096, 2.0]]}
    base = cost.RenderEstimate(1.0, 13, 0.004, 0, 2, {"frames": 1.0}, low=0.9, high=1.1)
    warm = cost_video.with_video(base, rec, [c], "m", loaded=True)
    assert warm.seconds == pytest.approx(1.0 + 3 * (2.0 + 8 * 0.1))
    assert warm.breakdown["video"] == pytest.approx(8.4) and warm.video_load == 0.0
    cold = cost_video.with_video(base, rec, [c], "m", loaded=False)
    assert cold.seconds == pytest.approx(warm.seconds + 5.0 + 1.0)
    assert cold.low < cold.seconds < cold.high and cold.source == "calibrated"
    # a shape twice as long, never painted: the fit through the one measured (proportional)
    longer = cost_video.with_video(base, rec, [_video_call(frames=29)], "m", loaded=True)
    assert longer.breakdown["video"] == pytest.approx(8.4 * 10 / 6)  # 8 latent frames + 2
    rough = cost_video.with_video(base, {**rec, "source": "rough"}, [c], "m", loaded=True)
    assert rough.source == "rough" and rough.high == pytest.approx(1.1 + 8.4 * cost.ROUGH_FACTOR)
    unknown = cost_video.with_video(base, None, [c], "m", loaded=True)
    assert unknown.seconds == 1.0 and "not included" in unknown.note


def test_painted_chunks_become_the_rates_and_the_first_one_the_warm_up(tmp_path: Path) -> None:
    from shotcraft import cost_video

    rules = SimpleNamespace(size_multiple=16, frame_factor=4)
    backend = SimpleNamespace(
        device="cpu",
        device_request="cpu",
        family="wan-vace",
        model="m",
        rules=rules,
        take_startup=lambda: (None, {}),
    )
    settings = SimpleNamespace(identity="m", cache="none", cache_threshold=None, guidance=1.0)

    def chunk(rest: float, first: bool = False) -> dict[str, Any]:
        t = {"frames": 13, "references": 2, "evaluations": 8, "evaluation_seconds": 0.1}
        return t | {"seconds": rest + 0.8} | ({"first": True} if first else {})

    report = {"size": [64, 64], "chunk_timings": [chunk(3.0, True), chunk(1.0), chunk(1.2)]}
    est = cost.RenderEstimate(10.0, 13, 0.004, 0, 2, {}, video_seconds=6.0, video_source="rough")
    cost_video.learn(tmp_path, backend, settings, est, report)
    rec = cost_video.known_rates(tmp_path, backend, settings)
    assert rec is not None and rec["source"] == "measured in renders"
    assert rec["points"]["chunk_step"] == [[0.096, 0.1]]
    assert rec["points"]["chunk_call"] == [[0.096, pytest.approx(1.1)]]  # the median rest
    assert rec["warmup_t2i_s"] == pytest.approx(3.0 - 1.1)
    # the rough estimate's error is kept, but does not widen the measured rates' error bar
    assert rec["renders"][-1]["source"] == "rough" and cost.spread(rec) == cost.MODEL_SPREAD


def test_drawn_renders_teach_the_frames_factor(tmp_path: Path) -> None:
    rates = {"pipeline_s_per_mpix": 0.005, "composite_s_per_mpix": 0.05, "plate_s_per_mpix": 0.1}
    rates |= {"sprite_s": 0.01}

    def put(data: dict[str, Any]) -> None:
        data["machines"][cost.machine_key()] = {"presets": {"veryfast": dict(rates)}}

    cost._update(tmp_path, put)
    before = cost.estimate(cost.rates_for(tmp_path, "veryfast"), 300, (1280, 720), 1, None, 0, 4)
    # a render that took 0.8 of its estimate moves the factor halfway (in ratio) toward 0.8
    assert cost.learn_drawing(tmp_path, "veryfast", 2.0, 1.6) == pytest.approx(0.8**0.5, 1e-3)
    after = cost.estimate(cost.rates_for(tmp_path, "veryfast"), 300, (1280, 720), 1, None, 0, 4)
    assert after.breakdown["frames"] == pytest.approx(before.breakdown["frames"] * 0.8**0.5, 1e-3)
    for _ in range(30):  # renders far slower than estimated: at most twice the calibration
        cost.learn_drawing(tmp_path, "veryfast", 1.0, 10.0)
    entry = cost.rates_for(tmp_path, "veryfast")
    assert entry["frames_factor"] == 2.0 and entry["frames_renders"] == 31
    assert len(entry["frames_errors"]) == cost.RECENT_RENDERS
    assert cost.learn_drawing(tmp_path, "veryfast", 0.1, 0.5) is None  # too short to teach
    assert cost.learn_drawing(tmp_path, "ultrafast", 2.0, 1.0) is None  # never calibrated
    shown = "\n".join(cost.describe(cost.load_calibration(tmp_path)))
    assert "x2.00 learned from 31 renders" in shown and "-90%" in shown
