"""Placement planner: subjects' place hints and keys into positions at every key.

Coordinates are fractions of the frame as seen by the camera at rest (pan 0, zoom 1):
x from the left edge, y from the top edge, and a subject's anchor is the middle of its
feet (bottom centre), so subjects standing on the ground share a ground line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from shotcraft.geometry import even_size
from shotcraft.spec.model import SHAPES, Shot, Subject, SubjectKey
from shotcraft.spec.place import SIZES

SHAPE_ASPECT = {
    "circle": 1.0,
    "box": 0.9,
    "capsule": 0.55,
    "star": 1.0,
    "triangle": 0.9,
    "blob": 1.2,
}
GROUND_NEAR = 0.92  # ground line at depth 0 ...
GROUND_FAR = 0.62  # ... rising towards the horizon at depth 1
HORIZON = 0.6
HEADROOM = 0.05
GAP = 0.02  # space kept between subjects placed side by side (frame widths)
SLOTS = (1 / 3, 2 / 3, 0.5, 0.2, 0.8)  # rule of thirds first


@dataclass(frozen=True, slots=True)
class KeyPosition:
    t: float
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class SubjectLayout:
    id: str
    shape: str
    aspect: float  # sprite width / height
    height: float  # fraction of frame height at scale 1
    width: float  # fraction of frame width at scale 1
    depth: float
    on_ground: bool
    shadow: bool
    placed_by: str  # "keys" or "hint"
    keys: tuple[KeyPosition, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    shot_id: str
    variant: int  # 0 = the base layout; 1..N = sketch --variants
    seed: int
    size: tuple[int, int]
    plate_size: tuple[int, int]
    subjects: tuple[SubjectLayout, ...]

    def subject(self, sid: str) -> SubjectLayout:
        return next(s for s in self.subjects if s.id == sid)


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def shape_of(subject: Subject) -> str:
    return subject.shape or SHAPES[stable_hash(subject.id) % len(SHAPES)]


def aspect_of(subject: Subject) -> float:
    if subject.image is not None:
        from PIL import Image

        with Image.open(subject.image) as im:
            return im.width / max(1, im.height)
    return SHAPE_ASPECT[shape_of(subject)]


def plate_size(shot: Shot) -> tuple[int, int]:
    return even_size(shot.size, shot.background.extent, minimum=0)


def ground_y(depth: float) -> float:
    return GROUND_NEAR + (GROUND_FAR - GROUND_NEAR) * depth


def plan(shot: Shot, variant: int = 0) -> Layout:
    """Resolve every subject's position at every key. Deterministic for (shot, variant)."""
    w, h = shot.size
    frame_aspect = h / w
    rng = np.random.default_rng([shot.seed, variant])
    jitter = variant > 0
    free_slots = list(SLOTS)
    if jitter:
        rng.shuffle(free_slots)

    drafts = []
    for subject in shot.subjects:
        hint = subject.hint
        aspect = aspect_of(subject)
        if subject.height is not None:
            height = subject.height
        else:
            base = hint.size if hint.size is not None else SIZES["medium"]
            height = base * (1.0 - 0.55 * subject.depth)  # farther is smaller
            if jitter:
                height *= float(rng.uniform(0.85, 1.15))
        width = height * aspect * frame_aspect

        if hint.x is None:
            x = free_slots.pop(0) if free_slots else float(rng.uniform(0.15, 0.85))
        elif hint.x < 0:  # "edge"
            x = 0.08 if rng.random() < 0.5 else 0.92
        else:
            x = hint.x
        if jitter:
            x += float(rng.uniform(-0.08, 0.08))

        vertical = hint.vertical or "ground"
        if vertical == "ground":
            y = ground_y(subject.depth)
        elif vertical == "horizon":
            y = HORIZON
        elif vertical == "middle":
            y = 0.5 + height / 2
        else:  # sky: farther subjects sit higher
            y = HEADROOM + height + 0.1 * (1.0 - subject.depth)
            if jitter:
                y += float(rng.uniform(-0.04, 0.04))
        y = max(y, HEADROOM + height)  # keep headroom
        x = float(np.clip(x, width / 2 + GAP, 1 - width / 2 - GAP)) if width < 0.96 else 0.5
        explicit = bool(subject.keys) and subject.keys[0].at is not None
        drafts.append(_Draft(subject, x, y, width, height, aspect, vertical, explicit))

    _separate(drafts)

    subjects = []
    for d in drafts:
        subject, x, y, width, height, aspect = d.subject, d.x, d.y, d.width, d.height, d.aspect
        vertical, explicit = d.vertical, d.explicit
        on_ground = vertical == "ground"
        shadow = (
            subject.shadow
            if subject.shadow is not None
            else (on_ground and subject.motion != "float")
        )
        subjects.append(
            SubjectLayout(
                id=subject.id,
                shape=shape_of(subject),
                aspect=aspect,
                height=height,
                width=width,
                depth=subject.depth,
                on_ground=on_ground,
                shadow=shadow,
                placed_by="keys" if explicit else "hint",
                keys=_key_positions(subject.keys, x, y),
            )
        )
    return Layout(shot.id, variant, shot.seed, shot.size, plate_size(shot), tuple(subjects))


def _key_positions(keys: tuple[SubjectKey, ...], x: float, y: float) -> tuple[KeyPosition, ...]:
    if not keys:
        return (KeyPosition(0.0, x, y),)
    out = []
    px, py = x, y
    for k in keys:
        if k.at is not None:
            px, py = k.at
        out.append(KeyPosition(k.t, px, py))  # a key without `at` holds the last position
    return tuple(out)


@dataclass(slots=True)
class _Draft:
    subject: Subject
    x: float
    y: float  # feet
    width: float
    height: float
    aspect: float
    vertical: str
    explicit: bool  # placed by keys: the planner leaves it where the user put it

    def overlaps(self, o: _Draft) -> bool:
        side_by_side = abs(self.x - o.x) >= (self.width + o.width) / 2 + GAP - 1e-9
        stacked = self.y - self.height >= o.y or o.y - o.height >= self.y
        return not side_by_side and not stacked

    def clamp(self) -> None:
        self.x = min(max(self.x, self.width / 2 + GAP), 1 - self.width / 2 - GAP)


def _separate(drafts: list[_Draft]) -> None:
    """Move hint-placed subjects apart sideways; subjects placed by keys stay put."""
    movable = [d for d in drafts if not d.explicit]
    if len(movable) < 2:
        return
    for _ in range(100):
        moved = False
        for i, a in enumerate(movable):
            for b in movable[i + 1 :]:
                if not a.overlaps(b):
                    continue
                need = (a.width + b.width) / 2 + GAP - abs(a.x - b.x)
                sign = 1.0 if a.x <= b.x else -1.0
                a.x -= sign * need / 2
                b.x += sign * need / 2
                a.clamp()
                b.clamp()
                moved = True
        if not moved:
            return
    # Relaxation got stuck against the frame edges: pack left to right if they fit at all.
    total = sum(d.width for d in movable) + GAP * (len(movable) + 1)
    if total > 1.0:
        return
    movable.sort(key=lambda d: d.x)
    cursor = (1.0 - total) / 2 + GAP
    for d in movable:
        d.x = cursor + d.width / 2
        cursor += d.width + GAP
