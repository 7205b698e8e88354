"""The stage runner: one object per shot that decides what is stale for the artifact asked for,
computes each value once (layout, motion, layer plan, estimate) and hands it to the stages.

Stages never call their upstream. `Pipeline.render()` takes the cheapest route: it writes what
rendering depends on (layout.json, motion.json) and no previews (storyboard, animatic) unless
asked; `sketch()` and `refine()` make their own previews. Every artifact has its own record in
state.json (`sketch` and `storyboard`, `refine` and `animatic`, `variants`, `controls`,
`render`), so a preview skipped once is missing, not stale, and is made alone later.

A value comes from its file when the stage that wrote it is current, and is computed in
memory otherwise; either way it is the value as the file holds it (rounded the same), so a
render sees the same numbers cold or warm.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any

from shotcraft import cost
from shotcraft.backends.base import Backend, ModelBackend
from shotcraft.cost import RenderEstimate
from shotcraft.errors import OverBudget, UsageError
from shotcraft.fsutil import write_json
from shotcraft.layout.io import layout_from_json, layout_to_json, read_layout
from shotcraft.layout.planner import Layout, plan
from shotcraft.motion.io import motion_from_json, motion_to_json, read_motion
from shotcraft.motion.track import MotionTrack, compute_motion
from shotcraft.project import Inputs, digest
from shotcraft.stages import refine as refine_stage
from shotcraft.stages import sketch as sketch_stage
from shotcraft.stages.budget import BudgetPlan
from shotcraft.stages.budget import fit_budget as fit_to_budget
from shotcraft.stages.common import (
    Settings,
    ShotContext,
    StageResult,
    refine_inputs,
    render_size,
    sketch_inputs,
    variants_inputs,
)
from shotcraft.stages.estimate import WorkUnits, render_estimate, work_units
from shotcraft.stages.layers import LayerPlan, plan_layers
from shotcraft.stages.render import render_clip, render_inputs, write_depfile

MAX_VARIANTS = 32


@dataclass(frozen=True, slots=True)
class StageStatus:
    """Where one stage stands: `state` is "up to date", "stale" or "missing"."""

    state: str
    reason: str | None = None  # why it is stale ("changed: seed", "layout.json is missing")
    changed: tuple[str, ...] = ()  # the input parts that changed, when known

    @property
    def text(self) -> str:
        return self.state if self.reason is None else f"{self.state} ({self.reason})"


@dataclass(frozen=True, slots=True)
class ShotStatus:
    shot: str
    folder: str
    pick: int
    stages: dict[str, StageStatus]
    previews: dict[str, StageStatus]
    estimate: RenderEstimate
    layers: int
    layers_cached: int

    def to_json(self) -> dict[str, Any]:
        return {
            "shot": self.shot,
            "folder": self.folder,
            "pick": self.pick,
            "stages": {k: s.text for k, s in self.stages.items()},
            "previews": {k: s.text for k, s in self.previews.items()},
            "changed": sorted({c for s in self.stages.values() for c in s.changed}),
            "estimate_seconds": round(self.estimate.seconds, 3),
            "estimate": self.estimate.to_json(),
            "layers": self.layers,
            "layers_cached": self.layers_cached,
        }


@dataclass(frozen=True, slots=True)
class RenderWork:
    """A render that is to run: what `Pipeline.plan_render` decided, for `finish_render`."""

    pick: int
    backend: Backend
    inputs: Inputs
    estimate: RenderEstimate
    t_backend: float
    t_upstream: float
    started: float  # perf_counter when the render's own work began
    fitted: BudgetPlan | None = None  # what --fit-budget chose, if it ran
    # the Pipeline that renders it, when --fit-budget changed the settings (None: the one
    # that planned it)
    pipeline: Pipeline | None = None


@dataclass(slots=True)
class _Memo:
    layouts: dict[int, Layout] = field(default_factory=dict)
    motions: dict[int, MotionTrack] = field(default_factory=dict)
    motion_json: dict[int, dict[str, Any]] = field(default_factory=dict)  # as computed
    plans: dict[int, LayerPlan] = field(default_factory=dict)
    estimates: dict[tuple[int, bool], RenderEstimate] = field(default_factory=dict)


class Pipeline:
    """The runner for one shot. Values are computed at most once per Pipeline."""

    def __init__(self, ctx: ShotContext, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self._memo = _Memo()
        self._forced: set[str] = set()  # records to ignore: --force on the stage asked for

    # --- what is current -------------------------------------------------------------
    def _current(self, record: str, inputs: str) -> bool:
        return record not in self._forced and self.ctx.state.is_current(record, inputs)

    def _variants_current(self, count: int) -> bool:
        """Whether variants 1..count exist for the shot as it is now."""
        if count == 0:
            return True
        if "variants" in self._forced:
            return False
        rec = self.ctx.state.stage("variants")
        have = int(rec.get("count", 0))
        return (
            have >= count
            and rec.get("inputs") == variants_inputs(self.ctx, have)
            and all((self.ctx.paths.root / p).exists() for p in rec.get("outputs", []))
        )

    def _layout_current(self, k: int) -> bool:
        if k == 0:
            return self._current("sketch", sketch_inputs(self.ctx))
        return self._variants_current(k)

    # --- values, each computed once --------------------------------------------------
    def layout(self, k: int) -> Layout:
        if k not in self._memo.layouts:
            if self._layout_current(k):
                layout = read_layout(refine_stage.layout_path(self.ctx, k))
            else:
                planned = plan(self.ctx.shot, k)
                layout = layout_from_json(layout_to_json(planned, self.ctx.shot, {}, []))
            self._memo.layouts[k] = layout
        return self._memo.layouts[k]

    def motion(self, k: int) -> MotionTrack:
        if k not in self._memo.motions:
            if self._current("refine", refine_inputs(self.ctx, k)):
                motion = read_motion(self.ctx.paths.motion)
            else:
                data = self._motion_json_of(self.layout(k))
                self._memo.motion_json[k] = data  # written as is by refine
                motion = motion_from_json(data)
            self._memo.motions[k] = motion
        return self._memo.motions[k]

    @property
    def backend(self) -> Backend:
        return self.settings.backends.get(self.ctx.shot.model, self.settings.device)

    def layer_plan(self, k: int) -> LayerPlan:
        if k not in self._memo.plans:
            ctx = self.ctx
            self._memo.plans[k] = plan_layers(
                self.backend,
                ctx.shot,
                self.layout(k),
                self.motion(k),
                ctx.preset.scale,
                render_size(ctx.shot, ctx.preset)[1],
            )
        return self._memo.plans[k]

    def units(self, k: int) -> WorkUnits:
        return work_units(
            self.ctx, self.backend, self.layer_plan(k), self.motion(k), self.settings.cache
        )

    def estimate(self, k: int | None = None, measure_model: bool = False) -> RenderEstimate:
        """The render estimate for layout `k` (the picked one by default). Without
        `measure_model` a model not yet timed is not loaded (see render_estimate)."""
        k = self.ctx.state.pick if k is None else k
        key = (k, measure_model)
        if key not in self._memo.estimates:
            self._memo.estimates[key] = render_estimate(
                self.ctx,
                self.settings,
                self.backend,
                self.layer_plan(k),
                self.motion(k),
                measure_model,
                self._chunk_keys(k),
            )
        return self._memo.estimates[key]

    def _chunk_keys(self, k: int) -> list[str]:
        """The video pass's chunk keys from render.json where the last render had these very
        inputs (a `render --force`, a `status` after a render): which chunks the cache holds."""
        ctx = self.ctx
        if ctx.shot.video is None or not ctx.paths.render_json.is_file():
            return []
        inputs = render_inputs(ctx, self.backend, k, self.settings.segment_gops)
        if ctx.state.stage("render").get("inputs") != inputs:
            return []
        try:
            vp = json.loads(ctx.paths.render_json.read_text()).get("video_pass") or {}
        except (OSError, ValueError, AttributeError):
            return []
        keys = vp.get("chunk_keys") if isinstance(vp, dict) else None
        return [str(x) for x in keys] if isinstance(keys, list) else []

    # --- writing the planning artifacts ------------------------------------------------
    def _write_layout(self, estimate: RenderEstimate) -> list[str]:
        """layout.json of the base layout, if stale; returns the framing warnings."""
        ctx = self.ctx
        inputs = sketch_inputs(ctx)
        if self._current("sketch", inputs):
            return []
        path, warnings = sketch_stage.write_layout(
            ctx, self.layout(0), self.motion(0), ctx.paths.root, estimate.to_json()
        )
        ctx.state.record("sketch", inputs, [path])
        self._written.append(str(path))
        for w in warnings:
            self.settings.reporter.warn(f"{ctx.shot.id}: {w}")
        return warnings

    def _write_storyboard(self) -> None:
        ctx = self.ctx
        inputs = sketch_inputs(ctx)
        if self._current("storyboard", inputs):
            return
        path, _ = sketch_stage.write_storyboard(
            ctx, self.layout(0), self.motion(0), ctx.paths.root, ctx.shot.id, self.settings
        )
        ctx.state.record("storyboard", inputs, [path])
        self._written.append(str(path))

    def _write_variants(self, count: int, estimate: RenderEstimate) -> None:
        ctx = self.ctx
        if count == 0 or self._variants_current(count):
            return
        if count > MAX_VARIANTS:
            raise UsageError(f"at most {MAX_VARIANTS} variants can be sketched, not {count}")
        boards, outputs = [], []
        for k in range(1, count + 1):
            layout = layout_from_json(layout_to_json(plan(ctx.shot, k), ctx.shot, {}, []))
            self._memo.layouts[k] = layout
            motion = self.motion(k) if k in self._memo.motions else self._motion_of(layout)
            folder = ctx.paths.variant(k)
            path, _ = sketch_stage.write_layout(ctx, layout, motion, folder, estimate.to_json())
            board_path, board = sketch_stage.write_storyboard(
                ctx, layout, motion, folder, f"{ctx.shot.id} variant {k}", self.settings
            )
            boards.append(board)
            outputs += [path, board_path]
        outputs.append(sketch_stage.write_contact_sheet(boards, ctx.paths.variants / "sheet.png"))
        ctx.state.record("variants", variants_inputs(ctx, count), outputs, count=count)
        self._written += [str(p) for p in outputs]

    def _motion_json_of(self, layout: Layout) -> dict[str, Any]:
        return motion_to_json(compute_motion(self.ctx.shot, layout))

    def _motion_of(self, layout: Layout) -> MotionTrack:
        return motion_from_json(self._motion_json_of(layout))

    def _write_motion(self, k: int) -> None:
        ctx = self.ctx
        inputs = refine_inputs(ctx, k)
        if self._current("refine", inputs):
            return
        motion = self.motion(k)
        path = refine_stage.write_motion(ctx, self._memo.motion_json.get(k) or motion)
        ctx.state.record("refine", inputs, [path], pick=k)
        self._written.append(str(path))

    def _write_animatic(self, k: int) -> None:
        ctx = self.ctx
        inputs = refine_inputs(ctx, k)
        if self._current("animatic", inputs):
            return
        path = refine_stage.write_animatic(ctx, self.motion(k), self.layout(k), self.settings)
        ctx.state.record("animatic", inputs, [path], pick=k)
        self._written.append(str(path))

    def _controls_current(self, k: int) -> bool:
        inputs = digest({"controls": refine_inputs(self.ctx, k)})
        recorded = self.ctx.state.stage("controls").get("inputs")
        return "controls" not in self._forced and recorded == inputs

    def _write_controls(self, k: int) -> None:
        ctx = self.ctx
        if self._controls_current(k):
            return
        inputs = digest({"controls": refine_inputs(ctx, k)})
        written = refine_stage.write_controls(ctx, self.motion(k), self.layout(k), self.settings)
        ctx.state.record("controls", inputs, [ctx.paths.controls])
        self._written.append(str(ctx.paths.controls))
        self.settings.reporter.info(f"{ctx.shot.id}: wrote {written} control frames")

    def _pick(self, pick: int | None) -> int:
        """The layout to use: `pick` when given (and remembered), else the one picked before.
        Variants up to it are sketched first when they are not there."""
        state = self.ctx.state
        if pick is not None and pick < 0:
            raise UsageError(f"--pick must be 0 (the base layout) or a variant number, got {pick}")
        if pick is not None and pick > MAX_VARIANTS:
            raise UsageError(
                f"--pick {pick}: there are at most {MAX_VARIANTS} variants (sketch --variants N)"
            )
        k = state.pick if pick is None else pick
        if k > 0 and not self._variants_current(k):
            have = int(state.stage("variants").get("count", 0))
            self._write_variants(max(have, k), self.estimate(0))
        if pick is not None and pick != state.pick:
            state.set_pick(pick)
        return k

    def _begin(self, stage: str, force: bool, *also: str) -> None:
        self._written: list[str] = []
        self._forced = {stage, *also} if force else set()

    # --- the stages ----------------------------------------------------------------------
    def sketch(self, variants: int = 0) -> StageResult:
        """layout.json, storyboard.png, and with `variants` that many alternatives."""
        t0 = time.perf_counter()
        ctx = self.ctx
        force = self.settings.force
        self._begin("sketch", force, "storyboard", *(["variants"] if variants else []))
        inputs = sketch_inputs(ctx)
        if (
            self._current("sketch", inputs)
            and self._current("storyboard", inputs)
            and self._variants_current(variants)
        ):
            return StageResult("sketch", ctx.shot.id, False, (str(ctx.paths.layout),), _since(t0))
        if force:  # planning again, not reading the files that are being redone
            self._memo = _Memo()
        estimate = self.estimate()
        warnings = self._write_layout(estimate)
        self._write_storyboard()
        self._write_variants(variants, estimate)
        return StageResult(
            "sketch",
            ctx.shot.id,
            True,
            tuple(self._written),
            _since(t0),
            {"estimate": estimate.to_json(), "warnings": warnings, "variants": variants},
        )

    def refine(self, pick: int | None = None, controls: bool = False) -> StageResult:
        """motion.json and the animatic (and the storyboard, if missing), with `controls`
        depth maps and masks; `pick` commits to a variant."""
        t0 = time.perf_counter()
        ctx = self.ctx
        self._begin("refine", self.settings.force, "animatic", *(["controls"] if controls else []))
        k = self._pick(pick)
        inputs = refine_inputs(ctx, k)
        controls_current = not controls or self._controls_current(k)
        s_inputs = sketch_inputs(ctx)
        if (
            self._current("refine", inputs)
            and self._current("animatic", inputs)
            and controls_current
            and self._current("sketch", s_inputs)
            and self._current("storyboard", s_inputs)
        ):
            return StageResult(
                "refine", ctx.shot.id, False, (str(ctx.paths.motion),), _since(t0), {"pick": k}
            )
        if self.settings.force:
            self._memo.motions.clear()
            self._memo.motion_json.clear()
        self._write_layout(self.estimate(k))
        self._write_storyboard()
        self._write_motion(k)
        self._write_animatic(k)
        if controls:
            self._write_controls(k)
        return StageResult(
            "refine",
            ctx.shot.id,
            True,
            tuple(self._written),
            _since(t0),
            {"pick": k, "frames": self.motion(k).frames},
        )

    def render(
        self,
        budget: float | None = None,
        previews: bool | None = None,
        fit_budget: float | None = None,
        fitted: BudgetPlan | None = None,
    ) -> StageResult:
        """clip.mp4, render.json and clip.d. Refuses (OverBudget) before any work when the
        estimate is over `budget`; with `fit_budget`, renders with the settings that fit it
        (stages/budget.py; `fitted` is that choice, recorded in render.json). Previews
        (storyboard, animatic) only when asked, by the argument or the preset."""
        work = self.plan_render(budget, previews, fit_budget, fitted)
        if isinstance(work, StageResult):
            return work
        k = work.pick
        report = render_clip(
            self.ctx,
            self.settings,
            work.backend,
            self.layout(k),
            self.motion(k),
            self.layer_plan(k),
            self.units(k),
            work.estimate,
        )
        return self.finish_render(work, report)

    def plan_render(
        self,
        budget: float | None = None,
        previews: bool | None = None,
        fit_budget: float | None = None,
        fitted: BudgetPlan | None = None,
        render_here: bool = True,
    ) -> StageResult | RenderWork:
        """Everything of a render before its frames: the up-to-date check (a StageResult when
        there is nothing to do), the budget, the files rendering reads. An executor runs the
        frames of the RenderWork elsewhere and hands the report to `finish_render`. A
        `fit_budget` that changes settings renders with them here, in this process; with
        `render_here` False it is planned instead, the RenderWork naming the refitted
        Pipeline that is to render it (`pipeline`)."""
        t0 = time.perf_counter()
        ctx, settings = self.ctx, self.settings
        shot, paths = ctx.shot, ctx.paths
        self._begin("render", settings.force)
        want_previews = ctx.preset.previews if previews is None else previews
        # 1. Check inputs: the backend must be usable before anything else happens.
        backend = self.backend
        t_backend = time.perf_counter() - t0
        k = self._pick(None)
        inputs = render_inputs(ctx, backend, k, settings.segment_gops)
        if self._current("render", inputs):
            self._write_upstream(k, want_previews)  # an upstream file may have been deleted
            return StageResult("render", shot.id, False, (str(paths.clip),), _since(t0))

        # 2. Estimate, and refuse before any work when over budget.
        estimate = self.estimate(k, measure_model=True)
        if fit_budget is not None and fitted is None:
            plan = self._fit(fit_budget, estimate)
            settings.reporter.info(plan.describe())
            if plan.changes:
                refit = Pipeline(plan.ctx, settings)
                if render_here:
                    return refit.render(fit_budget, previews, fitted=plan)
                work = refit.plan_render(fit_budget, previews, fitted=plan, render_here=False)
                if isinstance(work, RenderWork):
                    work = dataclasses.replace(work, pipeline=refit)
                return work
            fitted = plan
        if budget is not None and estimate.seconds > budget:
            raise OverBudget(
                f"{shot.id}: the render is estimated at {estimate.seconds:.1f}s, over the budget "
                f"of {budget:g}s ({estimate.frames} frames at {estimate.megapixels:.2f} MP, "
                f"{estimate.layers_to_make} layers to make); raise --budget or use a cheaper preset"
            )

        # 3. What rendering reads (and previews, if asked).
        t_up = time.perf_counter()
        self._write_upstream(k, want_previews)
        t_up = time.perf_counter() - t_up
        return RenderWork(
            k, backend, inputs, estimate, t_backend, t_up, time.perf_counter(), fitted
        )

    def finish_render(self, work: RenderWork, report: dict[str, Any]) -> StageResult:
        """Reports of a render whose clip is written: render.json, the make depfile, state."""
        ctx, paths, settings = self.ctx, self.ctx.paths, self.settings
        backend, estimate, fitted = work.backend, work.estimate, work.fitted
        # what the estimate covers: the backend's start-up and this stage's own work
        actual = work.t_backend + time.perf_counter() - work.started
        report["actual_seconds"] = round(actual, 3)
        report["seconds"] = {
            "backend": round(work.t_backend, 3),
            "upstream": round(work.t_upstream, 3),
            **report["seconds"],
        }
        if fitted is not None:
            report["fit_budget"] = fitted.to_json()
        write_json(paths.render_json, report)
        # the actual time refines the models' rates: the video model's from its chunks, the
        # image model's from the rest
        video_actual = self._learn_video(estimate, report.get("video_pass"))
        if isinstance(backend, ModelBackend):
            cost.learn(settings.cache.root, backend, estimate, actual, video_actual)
        elif ctx.shot.video is None and report.get("executor") == "local":
            # a drawn render in this process: its frames refine the drawing rates
            cost.learn_drawing(
                settings.cache.root,
                ctx.preset.encoder_preset,
                float(estimate.breakdown.get("frames", 0.0)),
                float(report["seconds"].get("frames", 0.0)),
            )
        write_depfile(ctx, paths.depfile)
        ctx.state.record("render", work.inputs, [paths.clip, paths.render_json])
        return StageResult(
            "render",
            ctx.shot.id,
            True,
            (str(paths.clip), str(paths.render_json)),
            actual,
            {
                "frames": report["frames"],
                "reused": report["reused"],
                "estimate_seconds": report["estimate_seconds"],
                "estimate": report["estimate"],
                "actual_seconds": report["actual_seconds"],
                **({"fit_budget": report["fit_budget"]} if fitted is not None else {}),
            },
        )

    def _learn_video(self, estimate: RenderEstimate, video: dict[str, Any] | None) -> float | None:
        """A [video] model's painted chunks refine its rates; returns what its chunks and
        load took (None: the shot has no [video] model priced)."""
        shot = self.ctx.shot
        if shot.video is None or not isinstance(video, dict):
            return None
        from shotcraft import cost_video
        from shotcraft.backends.video_base import video_backend
        from shotcraft.stages.video_pass import video_prompt

        vb = video_backend(shot.video, self.settings.device)
        vs = vb.settings(shot.video, shot.fps, video_prompt(shot))
        cost_video.learn(self.settings.cache.root, vb, vs, estimate, video)
        # the load where the render paid it (not where the estimate's calibration had)
        load = float(video.get("load_seconds", 0.0)) if estimate.video_load else 0.0
        return float(video.get("paint_seconds", 0.0)) + load

    def _fit(self, budget: float, plain: RenderEstimate) -> BudgetPlan:
        """The settings that fit `budget`, each candidate priced from the rates known now."""
        backend = self.backend
        model = backend if isinstance(backend, ModelBackend) else None
        return fit_to_budget(
            self.ctx,
            budget,
            plain,
            lambda c: Pipeline(c, self.settings).estimate(measure_model=False),
            model.fewest_steps() if model is not None else 1,
            model.steps("t2i") if model is not None else None,
        )

    def _write_upstream(self, k: int, previews: bool) -> None:
        estimate = self._memo.estimates.get((k, True)) or self.estimate(k)
        self._write_layout(estimate)
        self._write_motion(k)
        if previews:
            self._write_storyboard()
            self._write_animatic(k)

    # --- status ------------------------------------------------------------------------
    def status(self) -> ShotStatus:
        ctx = self.ctx
        state = ctx.state
        k = state.pick
        checks = {
            "sketch": ("sketch", sketch_inputs(ctx)),
            "refine": ("refine", refine_inputs(ctx, k)),
            "render": ("render", render_inputs(ctx, self.backend, k, self.settings.segment_gops)),
        }
        previews = {
            "storyboard": ("storyboard", sketch_inputs(ctx)),
            "animatic": ("animatic", refine_inputs(ctx, k)),
        }

        def check(record: str, inputs: Any) -> StageStatus:
            st = state.staleness(record, inputs)
            if st is None:
                return StageStatus("up to date")
            if st.never_run:
                return StageStatus("missing")
            return StageStatus("stale", st.reason, st.changed)

        est = self.estimate(k)
        lp = self.layer_plan(k)
        return ShotStatus(
            shot=ctx.shot.id,
            folder=str(ctx.paths.root),
            pick=k,
            stages={name: check(*c) for name, c in checks.items()},
            previews={name: check(*c) for name, c in previews.items()},
            estimate=est,
            layers=1 + len(lp.sprite_specs),
            layers_cached=est.layers_cached,
        )


def _since(t0: float) -> float:
    return time.perf_counter() - t0
