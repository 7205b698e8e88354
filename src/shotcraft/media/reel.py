"""Reel assembly that copies what it can and encodes only what it must.

Rendered clips are closed 1-second GOPs without B-frames (see media/encode.py), so whole GOPs
can be stream-copied from clip to reel. Only frames that change (transitions, trims that fall
inside a GOP, clips that must be conformed) are decoded, blended and encoded, with the clips'
own encoder settings, so the fresh GOPs splice between copied ones. When splicing is not
possible (another codec, other parameters, a container other than mp4), every frame is
re-encoded instead, and the report says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av

from shotcraft.fsutil import publish, temp_beside, writing
from shotcraft.media.audio import AudioTrack, encode_audio
from shotcraft.media.encode import EncoderSettings, VideoWriter, container_format
from shotcraft.media.probe import VideoInfo, probe
from shotcraft.progress import _ignore
from shotcraft.spec.model import Transition

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class ReelPart:
    clip: Path
    trim: tuple[float, float] | None
    transition: Transition  # how this part comes in from the one before
    encoder: EncoderSettings | None = None  # what the clip was encoded with, when known


# ------------------------------------------------------------------------------ the plan
@dataclass(frozen=True, slots=True)
class Frames:
    """Source frames [start, end) of part `part`, decoded and conformed."""

    part: int
    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Blend:
    """A transition: frames of part `a` blended into frames of part `b`."""

    a: Frames
    b: Frames
    transition: Transition

    @property
    def count(self) -> int:
        return self.b.count


@dataclass(frozen=True, slots=True)
class Copy:
    """Whole GOPs [start, end) of part `part`, stream-copied."""

    part: int
    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start


Op = Frames | Blend | Copy


@dataclass
class AssemblyReport:
    frames: int = 0
    frames_copied: int = 0
    frames_reencoded: int = 0
    mode: str = "remux"  # remux | mixed | reencode
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _frame_range(part: ReelPart, info: VideoInfo, fps: int) -> tuple[int, int]:
    """Source frame range of a part; with a different rate, in reel frames."""
    rate = float(info.fps) if _same_rate(info.fps, fps) else float(fps)
    total = info.frames if _same_rate(info.fps, fps) else round(info.frames / float(info.fps) * fps)
    if part.trim is None:
        return 0, total
    start = min(round(part.trim[0] * rate), total)
    end = min(round(part.trim[1] * rate), total)
    return start, max(start, end)


def transition_overlaps(parts: list[ReelPart], fps: int) -> list[int]:
    """Frames each part shares with the one before it (0 for the first part and for cuts)."""
    return [0] + [
        round(p.transition.duration * fps) if p.transition.kind != "cut" else 0 for p in parts[1:]
    ]


def _same_rate(a: Fraction, fps: int) -> bool:
    return abs(float(a) - fps) < 1e-3


def plan(
    parts: list[ReelPart],
    infos: list[VideoInfo],
    size: tuple[int, int],
    fps: int,
    allow_copy: bool,
) -> tuple[list[Op], list[bool]]:
    ranges = [_frame_range(p, i, fps) for p, i in zip(parts, infos, strict=True)]
    reference = (
        next((i.extradata for i in infos if _copyable(i, size, fps, None)), None)
        if allow_copy
        else None
    )
    copyable = [allow_copy and _copyable(i, size, fps, reference) for i in infos]
    overlaps = transition_overlaps(parts, fps)
    ops: list[Op] = []
    for n, part in enumerate(parts):
        fa, fb = ranges[n]
        o_in = overlaps[n]
        o_out = overlaps[n + 1] if n + 1 < len(parts) else 0
        if o_in:
            pb = ranges[n - 1][1]
            ops.append(
                Blend(Frames(n - 1, pb - o_in, pb), Frames(n, fa, fa + o_in), part.transition)
            )
        body = (fa + o_in, fb - o_out)
        if body[1] <= body[0]:
            continue
        if not copyable[n]:
            ops.append(Frames(n, *body))
            continue
        keys = [k for k in infos[n].keyframes if body[0] <= k < body[1]]
        ends = [*infos[n].keyframes[1:], infos[n].frames]
        gop_end = dict(zip(infos[n].keyframes, ends, strict=True))
        whole = [k for k in keys if gop_end[k] <= body[1]]
        if not whole:
            ops.append(Frames(n, *body))
            continue
        k1, k2 = whole[0], gop_end[whole[-1]]
        if body[0] < k1:
            ops.append(Frames(n, body[0], k1))
        ops.append(Copy(n, k1, k2))
        if k2 < body[1]:
            ops.append(Frames(n, k2, body[1]))
    return ops, copyable


def _copyable(info: VideoInfo, size: tuple[int, int], fps: int, reference: bytes | None) -> bool:
    return (
        info.codec == "h264"
        and info.pix_fmt == "yuv420p"
        and info.size == size
        and _same_rate(info.fps, fps)
        and not info.b_frames
        and (reference is None or info.extradata == reference)
    )


# ------------------------------------------------------------------------------ frames
def _decode_range(
    path: Path, start: int, end: int, size: tuple[int, int], fps: int, warnings: list[str]
) -> Iterator[np.ndarray]:
    """Frames [start, end) of a clip in reel frames: seek, decode, resample, scale."""
    import numpy as np

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        src_fps = float(s.average_rate or fps)
        same = abs(src_fps - fps) < 1e-3
        cc = s.codec_context
        if (cc.width, cc.height) != size:
            _warn(warnings, f"{path}: {cc.width}x{cc.height} scaled to {size[0]}x{size[1]}")
        if not same:
            _warn(warnings, f"{path}: {src_fps:g} fps resampled to {fps} fps")

        def want(j: int) -> int:  # the source frame shown at reel frame j
            return int(np.floor(j / fps * src_fps + 1e-6))

        if want(start) > 0 and s.time_base:
            c.seek(int(want(start) / src_fps / s.time_base), stream=s, backward=True)
        j = start
        for frame in c.decode(s):
            if frame.pts is None or s.time_base is None:
                continue
            src_i = round(float(frame.pts * s.time_base) * src_fps)
            while j < end and want(j) <= src_i:
                yield _conform(frame.to_ndarray(format="rgb24"), size)
                j += 1
            if j >= end:
                return


def _warn(warnings: list[str], text: str) -> None:
    if text not in warnings:
        warnings.append(text)


def _conform(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import numpy as np
    from PIL import Image

    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def blend(a: np.ndarray, b: np.ndarray, k: float, tr: Transition) -> np.ndarray:
    """Frame k (0..1) of a transition from a to b."""
    import numpy as np

    if tr.kind == "dip":
        color = np.array(tr.color, dtype=np.float32)
        if k < 0.5:
            out = a * (1 - 2 * k) + color * (2 * k)
        else:
            out = color * (2 - 2 * k) + b * (2 * k - 1)
        return (out + 0.5).astype(np.uint8)
    if tr.kind == "wipe":
        h, w = a.shape[:2]
        out = a.copy()
        if tr.direction in ("left", "right"):
            edge = round(k * w)
            sl = np.s_[:, w - edge :] if tr.direction == "left" else np.s_[:, :edge]
        else:
            edge = round(k * h)
            sl = np.s_[h - edge :, :] if tr.direction == "up" else np.s_[:edge, :]
        out[sl] = b[sl]
        return out
    mixed = a.astype(np.float32) * (1 - k) + b.astype(np.float32) * k
    return (mixed + 0.5).astype(np.uint8)


def _op_frames(
    op: Frames | Blend,
    parts: list[ReelPart],
    size: tuple[int, int],
    fps: int,
    warnings: list[str],
) -> Iterator[np.ndarray]:
    if isinstance(op, Frames):
        yield from _decode_range(parts[op.part].clip, op.start, op.end, size, fps, warnings)
        return
    a = _decode_range(parts[op.a.part].clip, op.a.start, op.a.end, size, fps, warnings)
    b = _decode_range(parts[op.b.part].clip, op.b.start, op.b.end, size, fps, warnings)
    n = op.count
    for k, (fa, fb) in enumerate(zip(a, b, strict=False)):
        yield blend(fa, fb, (k + 1) / (n + 1), op.transition)


# ------------------------------------------------------------------------------ assembly
def assemble(
    parts: list[ReelPart],
    out: Path,
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    audio: AudioTrack | None = None,
    advance: Callable[[int], None] | None = None,
    allow_copy: bool = True,
    infos: list[VideoInfo] | None = None,
) -> AssemblyReport:
    """Write the reel to `out` (atomically). Copies whole GOPs where it can."""
    step = advance or _ignore
    infos = infos or [probe(p.clip) for p in parts]
    mp4 = container_format(out) == "mp4" and settings.codec == "libx264"
    ops, _ = plan(parts, infos, size, fps, allow_copy and mp4)
    report = AssemblyReport()
    report.frames = sum(op.count for op in ops)
    duration = report.frames / fps
    if not any(isinstance(op, Copy) for op in ops):
        report.mode = "reencode"
        if allow_copy and not mp4:
            report.notes.append(f"{out.suffix} output: every frame is encoded ({settings.codec})")
        _encode_all(ops, parts, out, size, fps, settings, audio, duration, report, step)
        return report
    try:
        _splice(ops, parts, infos, out, size, fps, audio, duration, report, step)
    except _CannotSplice as e:
        report.notes.append(f"cannot splice ({e}); encoding every frame instead")
        report.frames_copied = report.frames_reencoded = 0
        report.mode = "reencode"
        ops, _ = plan(parts, infos, size, fps, allow_copy=False)
        _encode_all(ops, parts, out, size, fps, settings, audio, duration, report, step)
    return report


class _CannotSplice(Exception):
    pass


SCRATCH_PREFIX = "shotcraft-reel-"


@contextlib.contextmanager
def scratch_dir() -> Iterator[str]:
    """A scratch folder in the temp dir named by this process's pid, so that the next compose
    can remove the ones killed runs left (see remove_orphan_scratch)."""
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as d:
        yield d


def remove_orphan_scratch(tmpdir: Path | None = None) -> list[Path]:
    """Remove shotcraft-reel-PID-* folders whose process is gone."""
    from shotcraft.fsutil import pid_alive

    base = Path(tmpdir or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for p in base.glob(f"{SCRATCH_PREFIX}*"):
            pid = p.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
            if p.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _encode_all(
    ops: list[Op],
    parts: list[ReelPart],
    out: Path,
    size: tuple[int, int],
    fps: int,
    settings: EncoderSettings,
    audio: AudioTrack | None,
    duration: float,
    report: AssemblyReport,
    step: Callable[[int], None],
) -> None:
    with VideoWriter(out, size, fps, settings, audio=audio, audio_duration=duration) as writer:
        for op in ops:
            assert not isinstance(op, Copy)
            for frame in _op_frames(op, parts, size, fps, report.warnings):
                writer.write(frame)
                report.frames_reencoded += 1
                step(1)


def _splice(
    ops: list[Op],
    parts: list[ReelPart],
    infos: list[VideoInfo],
    out: Path,
    size: tuple[int, int],
    fps: int,
    audio: AudioTrack | None,
    duration: float,
    report: AssemblyReport,
    step: Callable[[int], None],
) -> None:
    first_copy = next(op for op in ops if isinstance(op, Copy))
    reference = infos[first_copy.part].extradata
    clip_settings = parts[first_copy.part].encoder or EncoderSettings(gop=fps)
    report.mode = "remux" if all(isinstance(op, Copy) for op in ops) else "mixed"
    # group consecutive non-copy ops: each group becomes one freshly encoded run of GOPs
    groups: list[list[Op]] = []
    for op in ops:
        if isinstance(op, Copy):
            groups.append([op])
        elif groups and not isinstance(groups[-1][0], Copy):
            groups[-1].append(op)
        else:
            groups.append([op])
    tmp = temp_beside(out, ".part.mp4")
    with scratch_dir() as scratch, writing(out):
        try:
            with av.open(str(parts[first_copy.part].clip)) as ref:
                container = av.open(str(tmp), "w", format="mp4")
                ostream = container.add_stream_from_template(ref.streams.video[0])
                ostream.time_base = Fraction(1, fps * 512)
            audio_packets = encode_audio(container, audio, duration) if audio else None
            written = 0
            for g, group in enumerate(groups):
                if isinstance(group[0], Copy):
                    op = group[0]
                    source = parts[op.part].clip
                    rng = (op.start, op.end)
                    report.frames_copied += op.count
                else:
                    source = Path(scratch) / f"run{g}.mp4"
                    with VideoWriter(source, size, fps, clip_settings, threaded=True) as w:
                        for op in group:
                            assert not isinstance(op, Copy)
                            for frame in _op_frames(op, parts, size, fps, report.warnings):
                                w.write(frame)
                    n = sum(op.count for op in group)
                    rng = (0, n)
                    report.frames_reencoded += n
                    if probe(source).extradata != reference:
                        raise _CannotSplice("the clips were encoded with other settings")
                for packet in _packets(source, *rng):
                    packet.stream = ostream
                    packet.pts = packet.dts = round(written / fps / ostream.time_base)
                    packet.duration = round(1 / fps / ostream.time_base)
                    packet.time_base = ostream.time_base
                    container.mux(packet)
                    written += 1
                    step(1)
                    if audio_packets is not None:
                        audio_packets.mux_until(written / fps)
            if audio_packets is not None:
                audio_packets.mux_until(float("inf"))
            container.close()
            publish(tmp, out)
        except BaseException:
            with contextlib.suppress(Exception):
                container.close()
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise


def _packets(path: Path, start: int, end: int) -> Iterator[av.Packet]:
    """Packets of frames [start, end): without B-frames, decode order is display order."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = 0
        for p in c.demux(s):
            if p.size == 0:
                continue
            if n >= end:
                return
            if n >= start:
                yield p
            n += 1
