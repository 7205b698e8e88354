"""compose: several rendered clips into one video; cuts are copied, only transitions encoded."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import av

from shotcraft.errors import MissingInput, Problem, SpecError, UsageError
from shotcraft.media.audio import AudioTrack
from shotcraft.media.encode import EncoderSettings
from shotcraft.media.probe import VideoInfo, probe
from shotcraft.media.reel import ReelPart, assemble, transition_overlaps
from shotcraft.project import ShotPaths, State
from shotcraft.spec import load_reel, load_shot
from shotcraft.spec.model import Reel
from shotcraft.stages.common import Settings, StageResult

FORMATS = {
    "mp4": EncoderSettings(codec="libx264", crf=20, preset="veryfast"),
    "mov": EncoderSettings(codec="prores_ks", pix_fmt="yuv422p10le"),
    "webm": EncoderSettings(codec="libvpx-vp9", crf=24),
}


def default_output(reel: Reel, settings: Settings, fmt: str = "mp4") -> Path:
    return Path(settings.project) / f"{reel.id}.{fmt}"


def _relative(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _clip_encoder(paths: ShotPaths) -> EncoderSettings | None:
    """The settings a clip was rendered with (render.json), so fresh GOPs match it."""
    try:
        return EncoderSettings.from_json(json.loads(paths.render_json.read_text())["encoder"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _render_command(shot_file: Path, settings: Settings, force: bool) -> str:
    """The command that (re)makes a clip, quoted so it can be pasted into a shell."""
    words = ["shotcraft", "render", _relative(shot_file), "--project", str(settings.project)]
    return " ".join(shlex.quote(w) for w in words) + (" --force" if force else "")


def _checked_clip(clip: Path, name: str, shot_file: Path | None, settings: Settings) -> VideoInfo:
    """Probe a clip and check it is the whole clip its render recorded (size and frames): a
    clip cut short after it was rendered is named with the command that remakes it."""
    redo = (
        f"run: {_render_command(Path(str(shot_file)), settings, force=True)}"
        if shot_file is not None
        else "run compose again (title cards are remade)"
    )
    try:
        info = probe(clip)
    except (OSError, ValueError, IndexError, av.error.FFmpegError) as e:
        raise MissingInput(f"{clip}: clip '{name}' cannot be read ({e}); {redo}") from None
    if shot_file is None:
        return info
    paths = ShotPaths(clip.parent)
    recorded = State(paths).stage("render")
    size = (recorded.get("sizes") or {}).get(clip.name)
    try:
        frames = json.loads(paths.render_json.read_text())["frames"]
    except (OSError, ValueError, KeyError, TypeError):
        frames = None
    actual = clip.stat().st_size
    if (isinstance(size, int) and size != actual) or (
        isinstance(frames, int) and frames != info.frames
    ):
        raise MissingInput(
            f"{clip}: clip '{name}' is not the clip that was rendered ({info.frames} frames, "
            f"{actual} bytes; rendered: {frames} frames, {size} bytes); {redo}"
        )
    return info


def _remove_leftovers(settings: Settings, out: Path) -> None:
    """What killed runs left: temp files beside the reel and title cards, scratch folders."""
    from shotcraft.fsutil import remove_orphans
    from shotcraft.media.reel import remove_orphan_scratch

    remove_orphans(Path(settings.project), recursive=False)
    remove_orphans(Path(settings.project) / "titles", recursive=False)
    remove_orphans(out.parent, recursive=False)
    remove_orphan_scratch()


def output_format(output: Path | None, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}")
        return fmt
    if output is not None:
        ext = output.suffix.lower().lstrip(".")
        if ext not in FORMATS:
            raise UsageError(
                f"{output}: unknown video format '.{ext}' (use .mp4, .mov or .webm, or --format)"
            )
        return ext
    return "mp4"


def compose(
    reel_file: Path,
    settings: Settings,
    output: Path | None = None,
    fmt: str | None = None,
    strict: bool = False,
    render_missing: bool = False,
    verbose: bool = False,
    executor: Any = None,
) -> StageResult:
    t0 = time.perf_counter()
    # 1. Check inputs: the reel, its shots, and a rendered clip for each.
    reel = load_reel(reel_file)
    kind = output_format(output, fmt)
    out = Path(output) if output else default_output(reel, settings, kind)
    shots = {i: load_shot(c.shot) for i, c in enumerate(reel.clips) if c.shot is not None}
    missing = [
        (s, reel.clips[i].shot)
        for i, s in shots.items()
        if not ShotPaths.of(settings.project, s.id).clip.is_file()
    ]
    _remove_leftovers(settings, out)
    if missing and render_missing:
        if executor is not None and executor.parallel:  # an ExecutorSpec: --jobs, --executor
            from shotcraft.executors.run import render_shots

            render_shots([Path(str(src)) for _, src in missing], settings, executor)
        else:
            from shotcraft.project import shot_lock
            from shotcraft.stages.common import load_context
            from shotcraft.stages.pipeline import Pipeline

            for _, src in missing:
                ctx = load_context(Path(str(src)), settings)
                with shot_lock(ctx.paths):
                    Pipeline(ctx, settings).render()
        missing = []
    if missing:
        sid, src = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingInput(
            f"{reel_file}: clip '{sid.id}' is not rendered yet{more}; run: "
            f"{_render_command(Path(str(src)), settings, force=False)} "
            "(or compose --render-missing)"
        )
    parts, durations, problems = [], [], []
    infos_or_title: list[VideoInfo | None] = []
    for i, clip in enumerate(reel.clips):
        encoder: EncoderSettings | None
        info: VideoInfo | None = None
        if clip.title is not None:
            # drawn only once the whole reel is known to be good: a refused reel writes nothing
            clip_path, name, encoder = Path(), "title", EncoderSettings(gop=reel.fps)
            length = max(1, round(clip.title.duration * reel.fps)) / reel.fps
        else:
            paths = ShotPaths.of(settings.project, shots[i].id)
            clip_path, name, encoder = paths.clip, shots[i].id, _clip_encoder(paths)
            info = _checked_clip(clip_path, name, reel.clips[i].shot, settings)
            length = info.frames / float(info.fps)
        infos_or_title.append(info)
        if (
            strict
            and info is not None
            and (info.size != reel.size or abs(float(info.fps) - reel.fps) > 1e-3)
        ):
            problems.append(
                Problem(
                    f"clips[{i}]",
                    f"clip '{name}' is {info.size[0]}x{info.size[1]} at "
                    f"{float(info.fps):g} fps; "
                    f"the reel is {reel.size[0]}x{reel.size[1]} at {reel.fps} fps (--strict)",
                )
            )
        if clip.trim is not None:
            if clip.trim[0] >= length:
                problems.append(
                    Problem(
                        f"clips[{i}].trim",
                        f"starts at {clip.trim[0]:g}s but the clip '{name}' is {length:.2f}s long",
                    )
                )
            length = min(clip.trim[1], length) - clip.trim[0]
        durations.append(length)
        parts.append(ReelPart(clip_path, clip.trim, clip.transition, encoder))

    def overlap(k: int) -> float:  # how much of its neighbours clip k's transition covers
        tr = parts[k].transition if 0 < k < len(parts) else None
        return tr.duration if tr is not None and tr.kind != "cut" else 0.0

    for i in range(1, len(parts)):
        tr = parts[i].transition
        shortest = min(durations[i - 1], durations[i])
        if tr.kind != "cut" and tr.duration > shortest + 1e-9:
            problems.append(
                Problem(
                    f"clips[{i}].transition.duration",
                    f"{tr.duration:g}s is longer than a clip it joins ({shortest:.2f}s)",
                )
            )
    for i in range(1, len(parts) - 1):
        # the transitions into and out of a clip both eat into it: together they must
        # leave it a frame of its own, or frames would be blended twice (replayed)
        both = overlap(i) + overlap(i + 1)
        if overlap(i) and overlap(i + 1) and both > durations[i] - 1.0 / reel.fps + 1e-9:
            problems.append(
                Problem(
                    f"clips[{i + 1}].transition.duration",
                    f"the transitions into and out of clips[{i}] ({overlap(i):g}s + "
                    f"{overlap(i + 1):g}s) overlap more than its {durations[i]:.2f}s",
                )
            )
    if problems:
        raise SpecError(reel_file, problems)
    for i, clip in enumerate(reel.clips):
        if clip.title is not None:
            from shotcraft.stages.title import title_clip  # drawing: only when there is a card

            path = title_clip(clip.title, reel.size, reel.fps, settings.project)
            parts[i] = ReelPart(path, clip.trim, clip.transition, parts[i].encoder)
            infos_or_title[i] = _checked_clip(path, "title", None, settings)
    infos = [info for info in infos_or_title if info is not None]

    # 2. Assemble: copy whole GOPs, decode and encode only what changes.
    audio = None
    if reel.audio is not None:
        a = reel.audio
        audio = AudioTrack(a.file, a.volume, a.fade_in, a.fade_out)
    overlaps = sum(transition_overlaps(parts, reel.fps))
    total = sum(round(d * reel.fps) for d in durations) - overlaps
    reel_encoder = FORMATS[kind]
    if kind == "mp4":
        reel_encoder = EncoderSettings(
            crf=reel_encoder.crf, preset=reel_encoder.preset, gop=reel.fps
        )
    with settings.reporter.task(f"{reel.id}: compose", total) as advance:
        report = assemble(
            parts, out, reel.size, reel.fps, reel_encoder, audio, advance, infos=infos
        )
    for w in report.warnings:
        settings.reporter.warn(w)
    if verbose:
        for note in report.notes:
            settings.reporter.info(f"{reel.id}: {note}")
        settings.reporter.info(
            f"{reel.id}: {report.mode}: {report.frames_copied} frames copied, "
            f"{report.frames_reencoded} re-encoded"
        )
    return StageResult(
        "compose",
        reel.id,
        True,
        (str(out),),
        time.perf_counter() - t0,
        {
            "frames": report.frames,
            "frames_copied": report.frames_copied,
            "frames_reencoded": report.frames_reencoded,
            "mode": report.mode,
            "clips": len(parts),
            "size": list(reel.size),
            "fps": reel.fps,
            "format": kind,
            "audio": audio is not None,
            "notes": report.notes,
        },
    )
