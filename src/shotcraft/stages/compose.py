"""compose: several rendered clips into one video; cuts are copied, only transitions encoded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from shotcraft.errors import MissingInput, Problem, SpecError, UsageError
from shotcraft.media.audio import AudioTrack
from shotcraft.media.encode import EncoderSettings
from shotcraft.media.probe import probe
from shotcraft.media.reel import ReelPart, assemble
from shotcraft.project import ShotPaths
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
        enc = json.loads(paths.render_json.read_text())["encoder"]
        return EncoderSettings(
            codec=enc["codec"],
            crf=enc["crf"],
            preset=enc["preset"],
            gop=enc["gop"],
            pix_fmt=enc["pix_fmt"],
        )
    except (OSError, KeyError, ValueError, TypeError):
        return None


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
    if missing and render_missing:
        if executor is not None and executor.parallel:  # an ExecutorSpec: --jobs, --executor
            from shotcraft.executors.run import render_shots

            render_shots([Path(str(src)) for _, src in missing], settings, executor)
        else:
            from shotcraft.stages.common import load_context
            from shotcraft.stages.pipeline import Pipeline

            for _, src in missing:
                Pipeline(load_context(Path(str(src)), settings), settings).render()
        missing = []
    if missing:
        sid, src = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingInput(
            f"{reel_file}: clip '{sid.id}' is not rendered yet{more}; run: shotcraft render "
            f"{_relative(Path(str(src)))} --project {settings.project} "
            "(or compose --render-missing)"
        )
    parts, infos, durations, problems = [], [], [], []
    for i, clip in enumerate(reel.clips):
        encoder: EncoderSettings | None
        if clip.title is not None:
            from shotcraft.stages.title import title_clip  # drawing: only when there is a card

            clip_path = title_clip(clip.title, reel.size, reel.fps, settings.project)
            name, encoder = "title", EncoderSettings(gop=reel.fps)
        else:
            paths = ShotPaths.of(settings.project, shots[i].id)
            clip_path, name, encoder = paths.clip, shots[i].id, _clip_encoder(paths)
        info = probe(clip_path)
        infos.append(info)
        length = info.frames / float(info.fps)
        if strict and (info.size != reel.size or abs(float(info.fps) - reel.fps) > 1e-3):
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
    if problems:
        raise SpecError(reel_file, problems)

    # 2. Assemble: copy whole GOPs, decode and encode only what changes.
    audio = None
    if reel.audio is not None:
        a = reel.audio
        audio = AudioTrack(a.file, a.volume, a.fade_in, a.fade_out)
    overlaps = sum(
        round(p.transition.duration * reel.fps) for p in parts[1:] if p.transition.kind != "cut"
    )
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
