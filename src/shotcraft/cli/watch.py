"""`--watch`: re-run a stage each time a shot file, one of its assets or its preset is saved.

File events come from watchfiles (inotify, FSEvents, ReadDirectoryChangesW), imported only
here, so commands that do not watch never pay for it. Every stage call goes through
`shotcraft.api`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from shotcraft import api
from shotcraft.errors import ShotcraftError, UsageError

if TYPE_CHECKING:
    from shotcraft.cli.output import Output
    from shotcraft.stages.common import Settings

StageCall = Callable[[Path, "Settings"], dict[str, Any]]

# A save is usually several events (write, rename, chmod); wait this long for quiet before
# running, so one save is one run.
STEP_MS = 80


def artifact_of(stage: str, summary: dict[str, Any], arts: api.ShotArtifacts) -> Path:
    """What a person wants to look at after the stage ran."""
    if stage == "sketch":
        return arts.contact_sheet if summary.get("variants") else arts.storyboard
    return arts.animatic if stage == "refine" else arts.clip


def open_in_viewer(path: Path) -> bool:
    """Open `path` in the system viewer, without waiting for it; False where there is none."""
    if sys.platform == "win32":  # pragma: no cover - not run on the test machines
        os.startfile(path)  # type: ignore[attr-defined]
        return True
    tool = "open" if sys.platform == "darwin" else "xdg-open"
    exe = shutil.which(tool)
    if exe is None:
        return False
    subprocess.Popen(
        [exe, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # a viewer's chatter is not ours to print
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the watch ends the watch, not the viewer
    )
    return True


class _Viewer:
    def __init__(self, output: Output) -> None:
        self.output = output
        self.missing_said = False

    def show(self, path: Path) -> None:
        if path.exists() and not open_in_viewer(path) and not self.missing_said:
            self.missing_said = True
            self.output.info("--open: no system viewer (xdg-open or open) here; not opening")


def open_artifacts(
    stage: str, shots: list[Path], settings: Settings, output: Output, variants: int = 0
) -> None:
    """`--open` without `--watch`: show each shot's artifact once, after the run."""
    viewer = _Viewer(output)
    for shot in shots:
        arts = api.artifacts(shot, settings)
        viewer.show(artifact_of(stage, {"variants": variants}, arts))


def describe(stage: str, summary: dict[str, Any], est: dict[str, Any] | None) -> str:
    """The one line a run prints: what ran, what the render will cost."""
    shot = summary["shot"]
    if not summary["ran"]:
        return f"{shot}: {stage} is up to date (nothing to do)"
    names = ", ".join(Path(p).name for p in summary["outputs"][:3])
    more = f" and {len(summary['outputs']) - 3} more" if len(summary["outputs"]) > 3 else ""
    line = f"{shot}: {stage} done in {summary['seconds']:.2f}s -> {names}{more}"
    if stage == "render":
        return line + f" (estimated {summary.get('estimate_seconds', 0.0):.1f}s)"
    if est is not None:
        e = est["estimate"]
        line += (
            f"; render estimate {e['seconds']:.1f}s ({e['frames']} frames, "
            f"{e['layers_to_make']} layers to make, {e['layers_cached']} cached)"
        )
        if e.get("note"):
            line += f"; {e['note']}"
    return line


def cost_line(shot: str, est: dict[str, Any], budget: float | None) -> str:
    """What a re-render will cost, said before it starts."""
    e, (lo, hi) = est["estimate"], est["range_seconds"]
    span = f"{lo:.1f}..{hi:.1f}s" if hi is not None else f"at least {lo:.1f}s"
    line = f"{shot}: re-rendering, estimated {e['seconds']:.1f}s ({span}, {e['frames']} frames)"
    if budget is not None:
        over = e["seconds"] > budget
        line += f"; {'over' if over else 'within'} the budget of {budget:g}s"
    return line


class Watch:
    """The shots being watched, what each of them reads, and one run of the stage."""

    def __init__(
        self,
        stage: str,
        shots: list[Path],
        settings: Settings,
        output: Output,
        call: StageCall,
        open_viewer: bool = False,
        budget: float | None = None,
    ) -> None:
        self.stage, self.settings, self.output, self.call = stage, settings, output, call
        self.budget = budget
        self.shots = [Path(s).resolve() for s in shots]
        for s in self.shots:
            if not s.parent.is_dir():
                raise UsageError(f"{s}: its folder does not exist, so it cannot be watched")
        self.files: dict[Path, set[Path]] = {s: {s} for s in self.shots}
        self.viewer = _Viewer(output) if open_viewer else None

    def say(self, line: str) -> None:
        if self.output.as_json:
            return
        self.output.result(line)
        sys.stdout.flush()  # a watch is read as it goes, from a pipe too

    def run(self, shot: Path, changed: list[str] | None = None) -> None:
        """One run for one shot; a user error is printed and the watch goes on."""
        try:
            why = api.why_stale(shot, self.settings, self.stage)
            est = None
            if self.stage == "render":
                if why is not None or self.settings.force:
                    est = api.estimate(shot, self.settings)
                    self.say(cost_line(est["shot"], est, self.budget))
                summary = self.call(shot, self.settings)
            else:
                summary = self.call(shot, self.settings)
                if "estimate" in summary:  # sketch's own
                    est = {"estimate": summary["estimate"]}
                elif summary["ran"]:
                    est = api.estimate(shot, self.settings)
            line = describe(self.stage, summary, est)
            if summary["ran"] and why:
                line += f"; {why}" if why == "never run" else f"; {why.removeprefix('changed: ')}"
                if why.startswith("changed: "):
                    line += " changed"
            elif summary["ran"] and changed:
                line += f"; saved: {', '.join(changed)}"
            self.say(line)
            if self.output.as_json:
                sys.stdout.write(json.dumps(summary) + "\n")  # one summary a line
                sys.stdout.flush()
            if self.viewer is not None and summary["ran"]:
                self.viewer.show(
                    artifact_of(self.stage, summary, api.artifacts(shot, self.settings))
                )
            self.files[shot] = {shot, *api.watched_files(shot, self.settings)}
        except ShotcraftError as e:
            for line in e.lines():
                self.output.err.print(f"error: {line}", markup=False, style="red")
            self.output.err.print(f"{shot.name}: waiting for the next save", markup=False)
            self.files[shot].add(shot)

    def watched(self) -> set[Path]:
        return set().union(*self.files.values())

    def folders(self) -> set[Path]:
        return {f.parent for f in self.watched() if f.parent.is_dir()}

    def loop(self) -> NoReturn:
        import watchfiles

        for shot in self.shots:
            self.run(shot)
        while True:
            folders, files = self.folders(), self.watched()
            self.output.info(
                f"watching {len(self.shots)} shot(s), {len(files)} file(s); Ctrl-C to stop"
            )

            def ours(_change: Any, path: str, files: set[Path] = files) -> bool:
                return Path(path) in files

            for changes in watchfiles.watch(
                *sorted(folders),
                watch_filter=ours,
                step=STEP_MS,
                recursive=False,  # the folders of the files, not the project under them
            ):
                touched = {Path(p) for _, p in changes}
                for shot in self.shots:
                    hit = touched & self.files[shot]
                    if hit:
                        self.run(shot, sorted(p.name for p in hit))
                if self.folders() != folders or self.watched() != files:
                    break  # an asset or preset was added or dropped: watch the new set


def watch(
    stage: str,
    shots: list[Path],
    settings: Settings,
    output: Output,
    call: StageCall,
    open_viewer: bool = False,
    budget: float | None = None,
) -> NoReturn:
    """Run `stage` for every shot, then again after each save, until Ctrl-C (exit 130)."""
    Watch(stage, shots, settings, output, call, open_viewer, budget).loop()
