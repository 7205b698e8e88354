"""layout.json (schema shotcraft.layout/1): the resolved layout, readable by people and tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotcraft.fsutil import artifact_fields, finite, pair, read_artifact
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
    d = read_artifact(path, LAYOUT_SCHEMA, "sketch")
    with artifact_fields(path, "sketch"):
        return layout_from_json(d)


def layout_from_json(d: dict[str, Any]) -> Layout:
    """The layout as layout.json holds it (the runner hands this value forward, so a stage
    sees the same numbers whether it got them in memory or from the file); raises KeyError,
    TypeError or ValueError on a damaged one."""
    subjects = tuple(
        SubjectLayout(
            id=str(s["id"]),
            shape=str(s["shape"]),
            aspect=finite(s["aspect"]),
            height=finite(s["height"]),
            width=finite(s["width"]),
            depth=finite(s["depth"]),
            on_ground=bool(s["on_ground"]),
            shadow=bool(s["shadow"]),
            placed_by=str(s["placed_by"]),
            keys=tuple(
                KeyPosition(finite(k["t"]), finite(k["x"]), finite(k["y"])) for k in s["keys"]
            ),
        )
        for s in d["subjects"]
    )
    return Layout(
        shot_id=str(d["shot"]),
        variant=int(d["variant"]),
        seed=int(d["seed"]),
        size=pair(d["size"], int),
        plate_size=pair(d["plate"]["size"], int),
        subjects=subjects,
    )
