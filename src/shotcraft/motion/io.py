"""motion.json (schema shotcraft.motion/1): every frame's camera and subject transforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.fsutil import read_artifact
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
    return motion_from_json(read_artifact(path, MOTION_SCHEMA, "refine"))


def motion_from_json(d: dict[str, Any]) -> MotionTrack:
    """The track as motion.json holds it (rounded as written: see layout_from_json)."""
    cams = d["camera"]
    camera = CameraTrack(
        pan_x=np.array([c["pan"][0] for c in cams]),
        pan_y=np.array([c["pan"][1] for c in cams]),
        zoom=np.array([c["zoom"] for c in cams]),
        roll=np.array([c["roll"] for c in cams]),
    )
    subjects = []
    for s in sorted(d["subjects"], key=lambda s: s["z"]):
        fr = s["frames"]

        def col(key: str, idx: int | None = None, frames: list[dict[str, Any]] = fr) -> np.ndarray:
            if idx is None:
                return np.array([f[key] for f in frames])
            return np.array([f[key][idx] for f in frames])

        subjects.append(
            SubjectTrack(
                id=s["id"],
                depth=s["depth"],
                shadow=s["shadow"],
                x=col("at", 0),
                y=col("at", 1),
                sx=col("screen", 0),
                sy=col("screen", 1),
                ground_sx=col("ground", 0),
                ground_sy=col("ground", 1),
                height=col("height"),
                scale=col("scale"),
                rotation=col("rotation"),
                mirror=col("mirror").astype(bool),
                opacity=col("opacity"),
                bob=col("lift"),
            )
        )
    return MotionTrack(d["shot"], d["fps"], tuple(d["size"]), camera, tuple(subjects))
