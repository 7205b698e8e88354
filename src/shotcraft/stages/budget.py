"""`render --fit-budget S`: the settings that fit a time budget, least visible loss first.

What may change, in this order, each only as far as the budget needs:
1. harmonize key frames: fewer of them (a key every 1.5, 2, 3, then 4 seconds); the frames
   between carry the corrections along the known motion, so this costs least to the eye;
2. denoiser steps: fewer, down to what the model family allows (`fewest_steps`);
3. the render scale: 85, 70, 60 then 50 percent of the preset's.
Settings fit when the estimate's high end is within the budget (an estimate's error bar is
part of what is promised). Nothing fitting is an OverBudget error, like `--budget`.

This is a pure function of the shot context and a pricing function: the runner supplies the
pricing (an estimate from known rates, nothing loaded) and renders the context chosen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shotcraft.cost import RenderEstimate
from shotcraft.errors import OverBudget
from shotcraft.project import shot_digest
from shotcraft.stages.common import ShotContext

KEY_SECONDS = (1.5, 2.0, 3.0, 4.0)  # a harmonize key every this many seconds
SCALES = (0.85, 0.7, 0.6, 0.5)  # of the preset's render scale
STEP_CUT = 0.85  # each candidate step count: at most this share of the one before


@dataclass(frozen=True, slots=True)
class Change:
    setting: str  # "harmonize.every", "model.steps", "preset.scale"
    before: Any
    after: Any
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting, "from": self.before, "to": self.after, "why": self.why}


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    budget: float
    ctx: ShotContext  # the context to render
    changes: tuple[Change, ...]
    plain: RenderEstimate  # the estimate with the shot's own settings
    chosen: RenderEstimate

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_seconds": self.budget,
            "plain_estimate": self.plain.to_json(),
            "chosen_estimate_seconds": round(self.chosen.seconds, 3),
            "chosen_estimate_high": round(self.chosen.high, 3),
            "changes": [c.to_json() for c in self.changes],
        }

    def describe(self) -> str:
        sid = self.ctx.shot.id
        head = (
            f"{sid}: --fit-budget {self.budget:g}s: the shot's own settings are estimated at "
            f"{self.plain.describe()}"
        )
        if not self.changes:
            return f"{head}; they fit, nothing changed"
        what = "; ".join(f"{c.setting} {c.before} -> {c.after} ({c.why})" for c in self.changes)
        return f"{head}; changed {what}: estimated at {self.chosen.describe()}"


def _with(ctx: ShotContext, **change: Any) -> ShotContext:
    shot, preset = ctx.shot, ctx.preset
    if "every" in change or "steps" in change:
        assert shot.model is not None
        model = dataclasses.replace(
            shot.model,
            every=change.get("every", shot.model.every),
            steps=change.get("steps", shot.model.steps),
        )
        shot = dataclasses.replace(shot, model=model)
    if "scale" in change:
        preset = dataclasses.replace(preset, scale=change["scale"])
    return ShotContext(shot, preset, ctx.paths, shot_digest(shot))


def _candidates(
    ctx: ShotContext, fewest_steps: int, steps_now: int | None
) -> Iterator[tuple[str, list[Any], str]]:
    """(setting, values mildest first, why) for each thing that may change, in order."""
    shot, preset, model = ctx.shot, ctx.preset, ctx.shot.model
    if model is not None and preset.harmonize:
        now = model.every or shot.fps  # "auto" keys at least once a second
        every = [round(s * shot.fps) for s in KEY_SECONDS if round(s * shot.fps) > now]
        yield "harmonize.every", every, "fewer key frames, corrections carried further"
    if model is not None:
        # the shot's steps, or the family's default it paints with when the shot names none
        steps, n = [], model.steps or steps_now or fewest_steps
        while n > fewest_steps:
            n = max(fewest_steps, min(n - 1, int(n * STEP_CUT)))
            steps.append(n)
        yield "model.steps", steps, f"fewer denoiser steps (this model allows {fewest_steps})"
    scales = [round(preset.scale * s, 4) for s in SCALES]
    yield "preset.scale", scales, "a lower render resolution, the most visible change"


def fit_budget(
    ctx: ShotContext,
    budget: float,
    plain: RenderEstimate,
    price: Callable[[ShotContext], RenderEstimate],
    fewest_steps: int = 1,
    steps_now: int | None = None,
) -> BudgetPlan:
    """The mildest settings whose estimate (its high end) fits `budget`; OverBudget if even
    the cheapest do not."""
    if plain.high <= budget:
        return BudgetPlan(budget, ctx, (), plain, plain)
    current, estimate, changes = ctx, plain, []
    names = {"harmonize.every": "every", "model.steps": "steps", "preset.scale": "scale"}
    for setting, values, why in _candidates(ctx, fewest_steps, steps_now):
        if not values:
            continue
        before = _value(current, setting)
        for v in values:
            trial = _with(current, **{names[setting]: v})
            estimate = price(trial)
            if estimate.high <= budget or v == values[-1]:
                current = trial
                changes.append(Change(setting, before, v, why))
                break
        if estimate.high <= budget:
            return BudgetPlan(budget, current, tuple(changes), plain, estimate)
    done = ", ".join(f"{c.setting} {c.after}" for c in changes) or "the shot's own settings"
    raise OverBudget(
        f"{ctx.shot.id}: nothing fits --fit-budget {budget:g}s: even with {done} the render "
        f"is estimated at {estimate.describe()}; raise the budget or shorten the shot"
    )


def _value(ctx: ShotContext, setting: str) -> Any:
    if setting == "preset.scale":
        return ctx.preset.scale
    assert ctx.shot.model is not None
    if setting == "model.steps":
        return ctx.shot.model.steps
    return ctx.shot.model.every or "auto"
