"""layout.json (schema shotcraft.layout/1): the resolved layout, readable by people and tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotcraft.fsutil import read_artifact
from shotcraft.layout.planner import KeyPosition, Layout, SubjectLayout
from shotcraft.spec.model import Shot

LAYOUT_SCHEMA = "shotcraft.layout/1"


def _r(v: float) -> float:
    return round(float(v), 6)


def layout_to_json(
    layout: Layout, shot: Shot, estimate: dict[str, Any], warnings: list[str]
) -> dict[str, Any]:
    return {
        "schema": LAYOUT_SCHEMA,
        "shot": shot.id,
        "variant": layout.variant,
        "seed": layout.seed,
        "size": list(layout.size),
        "fps": shot.fps,
        "duration": shot.duration,
        "frames": shot.frames,
        "plate": {"size": list(layout.plate_size), "extent": shot.background.extent},
        "camera": {
            "keys": [
                {"t": k.t, "pan": list(k.pan), "zoom": k.zoom, "roll": k.roll, "ease": k.ease}
                for k in shot.camera.keys
            ],
            "shake": shot.camera.shake,
        },
        "subjects": [
            {
                "id": s.id,
                "shape": s.shape,
                "aspect": _r(s.aspect),
                "height": _r(s.height),
                "width": _r(s.width),
                "depth": s.depth,
                "on_ground": s.on_ground,
                "shadow": s.shadow,
                "placed_by": s.placed_by,
                "keys": [{"t": k.t, "x": _r(k.x), "y": _r(k.y)} for k in s.keys],
            }
            for s in layout.subjects
        ],
        "estimate": estimate,
        "warnings": warnings,
    }


def read_layout(path: Path) -> Layout:
    return layout_from_json(read_artifact(path, LAYOUT_SCHEMA, "sketch"))


def layout_from_json(d: dict[str, Any]) -> Layout:
    """The layout as layout.json holds it (the runner hands this value forward, so a stage
    sees the same numbers whether it got them in memory or from the file)."""
    subjects = tuple(
        SubjectLayout(
            id=s["id"],
            shape=s["shape"],
            aspect=s["aspect"],
            height=s["height"],
            width=s["width"],
            depth=s["depth"],
            on_ground=s["on_ground"],
            shadow=s["shadow"],
            placed_by=s["placed_by"],
            keys=tuple(KeyPosition(k["t"], k["x"], k["y"]) for k in s["keys"]),
        )
        for s in d["subjects"]
    )
    return Layout(
        shot_id=d["shot"],
        variant=d["variant"],
        seed=d["seed"],
        size=tuple(d["size"]),
        plate_size=tuple(d["plate"]["size"]),
        subjects=subjects,
    )
