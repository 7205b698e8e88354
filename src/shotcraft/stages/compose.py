"""compose: several rendered clips into one video, with cuts and transitions."""

from __future__ import annotations

import time
from pathlib import Path

from shotcraft.errors import MissingInput, Problem, SpecError
from shotcraft.media.encode import EncoderSettings
from shotcraft.media.probe import probe
from shotcraft.media.reel import ReelPart, assemble
from shotcraft.project import ShotPaths
from shotcraft.spec import load_reel, load_shot
from shotcraft.spec.model import Reel
from shotcraft.stages.common import Settings, StageResult


def default_output(reel: Reel, settings: Settings) -> Path:
    return Path(settings.project) / f"{reel.id}.mp4"


def _relative(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def compose(reel_file: Path, settings: Settings, output: Path | None = None) -> StageResult:
    t0 = time.perf_counter()
    # 1. Check inputs: the reel, its shots, and a rendered clip for each.
    reel = load_reel(reel_file)
    out = Path(output) if output else default_output(reel, settings)
    parts, missing, problems = [], [], []
    durations = []
    for i, clip in enumerate(reel.clips):
        shot = load_shot(clip.shot)
        clip_path = ShotPaths.of(settings.project, shot.id).clip
        if not clip_path.is_file():
            missing.append((shot.id, clip.shot))
            continue
        info = probe(clip_path)
        length = info.duration
        if clip.trim is not None:
            if clip.trim[0] >= length:
                problems.append(
                    Problem(
                        f"clips[{i}].trim",
                        f"starts at {clip.trim[0]:g}s but "
                        f"the clip '{shot.id}' is {length:.2f}s long",
                    )
                )
            length = min(clip.trim[1], length) - clip.trim[0]
        durations.append(length)
        parts.append(ReelPart(clip_path, clip.trim, clip.transition))
    if missing:
        sid, src = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingInput(
            f"{reel_file}: clip '{sid}' is not rendered yet{more}; "
            f"run: shotcraft render {_relative(src)} --project {settings.project}"
        )
    for i in range(1, len(parts)):
        tr = parts[i].transition
        if tr.kind != "cut" and tr.duration > min(durations[i - 1], durations[i]) + 1e-9:
            problems.append(
                Problem(
                    f"clips[{i}].transition.duration",
                    f"{tr.duration:g}s is longer than a clip it joins "
                    f"({min(durations[i - 1], durations[i]):.2f}s)",
                )
            )
    if problems:
        raise SpecError(reel_file, problems)

    # 2. Assemble: decode, blend the overlaps, encode.
    total = sum(round(d * reel.fps) for d in durations)
    with settings.reporter.task(f"{reel.id}: compose", total) as advance:
        frames, warnings = assemble(
            parts,
            out,
            reel.size,
            reel.fps,
            EncoderSettings(crf=20, preset="veryfast", gop=reel.fps),
            advance,
        )
    for w in warnings:
        settings.reporter.warn(w)
    return StageResult(
        "compose",
        reel.id,
        True,
        (str(out),),
        time.perf_counter() - t0,
        {
            "frames": frames,
            "frames_reencoded": frames,
            "frames_copied": 0,
            "clips": len(parts),
            "size": list(reel.size),
            "fps": reel.fps,
        },
    )
