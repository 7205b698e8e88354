"""motion.json (schema shotcraft.motion/1): every frame's camera and subject transforms."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.fsutil import artifact_fields, finite, pair, read_artifact
from shotcraft.motion.track import MOTION_SCHEMA, CameraTrack, MotionTrack, SubjectTrack


def _r(v: float) -> float:
    return round(float(v), 6)


def motion_to_json(m: MotionTrack) -> dict[str, Any]:
    """Per-frame records, grouped by camera and by subject (in drawing order, far to near)."""
    cam = m.camera
    n = m.frames
    return {
        "schema": MOTION_SCHEMA,
        "shot": m.shot_id,
        "fps": m.fps,
        "size": list(m.size),
        "frames": n,
        "camera": [
            {
                "frame": i,
                "t": round(i / m.fps, 6),
                "pan": [round(float(cam.pan_x[i]), 6), round(float(cam.pan_y[i]), 6)],
                "zoom": round(float(cam.zoom[i]), 6),
                "roll": round(float(cam.roll[i]), 4),
            }
            for i in range(n)
        ],
        "subjects": [
            {
                "id": s.id,
                "z": z,
                "depth": s.depth,
                "shadow": s.shadow,
                "frames": [
                    {
                        "at": [round(float(s.x[i]), 6), round(float(s.y[i]), 6)],
                        "screen": [round(float(s.sx[i]), 6), round(float(s.sy[i]), 6)],
                        "ground": [
                            round(float(s.ground_sx[i]), 6),
                            round(float(s.ground_sy[i]), 6),
                        ],
                        "height": round(float(s.height[i]), 6),
                        "scale": round(float(s.scale[i]), 6),
                        "rotation": round(float(s.rotation[i]), 4),
                        "mirror": bool(s.mirror[i]),
                        "opacity": round(float(s.opacity[i]), 4),
                        "lift": round(float(s.bob[i]), 6),
                    }
                    for i in range(n)
                ],
            }
            for z, s in enumerate(m.subjects)
        ],
    }


def read_motion(path: Path) -> MotionTrack:
    d = read_artifact(path, MOTION_SCHEMA, "refine")
    with artifact_fields(path, "refine"):
        return motion_from_json(d)


_NUMBER_TYPES = {int, float}


def _numbers(values: list[Any]) -> np.ndarray:
    """Finite JSON numbers as floats (a bool, a string or a NaN is refused, as `finite`
    refuses it), checked in bulk: thousands of values a shot."""
    if set(map(type, values)) <= _NUMBER_TYPES:
        with contextlib.suppress(OverflowError):  # an integer too large: refused below
            arr = np.array(values, dtype=np.float64)
            if np.isfinite(arr).all():
                return arr
    return np.array([finite(v) for v in values], dtype=np.float64)  # raises on the bad one


def motion_from_json(d: dict[str, Any]) -> MotionTrack:
    """The track as motion.json holds it (rounded as written: see layout_from_json); raises
    KeyError, TypeError or ValueError on a damaged one."""
    n = int(d["frames"])
    cams = d["camera"]
    if not isinstance(cams, list) or len(cams) != n:
        # a file cut short (or edited) would silently render a shorter clip
        raise ValueError(f"{len(cams)} camera frames, not the {n} it says")
    camera = CameraTrack(
        pan_x=_numbers([c["pan"][0] for c in cams]),
        pan_y=_numbers([c["pan"][1] for c in cams]),
        zoom=_numbers([c["zoom"] for c in cams]),
        roll=_numbers([c["roll"] for c in cams]),
    )
    subjects = []
    for s in sorted(d["subjects"], key=lambda s: finite(s["z"])):
        fr = s["frames"]
        if not isinstance(fr, list) or len(fr) != n:
            raise ValueError(f"subject {s['id']!r} has {len(fr)} frames, not {n}")

        def col(key: str, idx: int | None = None, frames: list[dict[str, Any]] = fr) -> np.ndarray:
            if idx is None:
                return _numbers([f[key] for f in frames])
            return _numbers([f[key][idx] for f in frames])

        subjects.append(
            SubjectTrack(
                id=str(s["id"]),
                depth=finite(s["depth"]),
                shadow=bool(s["shadow"]),
                x=col("at", 0),
                y=col("at", 1),
                sx=col("screen", 0),
                sy=col("screen", 1),
                ground_sx=col("ground", 0),
                ground_sy=col("ground", 1),
                height=col("height"),
                scale=col("scale"),
                rotation=col("rotation"),
                mirror=np.array([bool(f["mirror"]) for f in fr], dtype=bool),
                opacity=col("opacity"),
                bob=col("lift"),
            )
        )
    fps = d["fps"]
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps {fps!r} is not a whole number of frames a second")
    return MotionTrack(str(d["shot"]), fps, pair(d["size"], int), camera, tuple(subjects))
