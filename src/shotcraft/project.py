"""Where a shot's artifacts live, and state.json: which stage outputs are up to date."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shotcraft import __version__
from shotcraft.fsutil import canonical_json, file_digest, write_json
from shotcraft.spec.model import Shot

STATE_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class ShotPaths:
    root: Path

    @classmethod
    def of(cls, project: Path, shot_id: str) -> ShotPaths:
        return cls(Path(project) / shot_id)

    @property
    def layout(self) -> Path:
        return self.root / "layout.json"

    @property
    def storyboard(self) -> Path:
        return self.root / "storyboard.png"

    @property
    def variants(self) -> Path:
        return self.root / "variants"

    def variant(self, k: int) -> Path:
        return self.variants / str(k)

    @property
    def motion(self) -> Path:
        return self.root / "motion.json"

    @property
    def animatic(self) -> Path:
        return self.root / "animatic.mp4"

    @property
    def controls(self) -> Path:
        return self.root / "controls"

    @property
    def clip(self) -> Path:
        return self.root / "clip.mp4"

    @property
    def render_json(self) -> Path:
        return self.root / "render.json"

    @property
    def depfile(self) -> Path:
        return self.root / "clip.d"

    @property
    def state(self) -> Path:
        return self.root / "state.json"


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def assets_of(shot: Shot) -> list[Path]:
    paths = [shot.background.image] + [s.image for s in shot.subjects]
    return [p for p in paths if p is not None]


class Inputs(str):
    """The digest of a stage's inputs, which also knows the digests of their named parts
    (`seed`, `camera.keys`, `subjects.fox`, `preset.crf`, `asset lake.png`, ...), so that a
    stale stage can say which of them changed. It is the same string as digest(spec)."""

    parts: dict[str, str]

    def __new__(cls, spec: dict[str, Any], parts: dict[str, str] | None = None) -> Inputs:
        self = super().__new__(cls, digest(spec))
        self.parts = parts if parts is not None else part_digests(spec)
        return self


def part_digests(obj: dict[str, Any], prefix: str = "", depth: int = 2) -> dict[str, str]:
    """Short digests of `obj`'s parts, `depth` levels down; lists of tables with an `id`
    (subjects) are named by id. Each part's own parts are folded into its digest."""
    out: dict[str, str] = {}
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if k == "stage":
            continue
        if isinstance(v, Inputs):
            out.update(v.parts)  # an upstream stage: its parts are ours
        elif depth > 1 and isinstance(v, dict):
            out.update(part_digests(v, name + ".", depth - 1))
        elif (
            depth > 1
            and v
            and isinstance(v, list)
            and all(isinstance(x, dict) and "id" in x for x in v)
        ):
            out.update({f"{name}.{x['id']}": digest(x)[:16] for x in v})
        else:
            out[name] = digest(v)[:16]
    return out


def changed_parts(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The names of the parts that differ; a part's own parts are left out when it is there
    (a different preset: `preset`, not also each of its settings)."""
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return [k for k in changed if not any(k.startswith(p + ".") for p in changed)]


def shot_digest(shot: Shot) -> Inputs:
    """What the shot says, plus the content of every asset it names and the code version."""
    assets = {str(p): file_digest(p) for p in assets_of(shot)}
    fingerprint = shot.fingerprint()
    spec = {"shot": fingerprint, "assets": assets, "shotcraft": __version__}
    parts = part_digests(fingerprint, depth=2)
    parts.update({f"asset {Path(p).name}": d[:16] for p, d in assets.items()})
    parts["shotcraft version"] = __version__
    return Inputs(spec, parts)


@dataclass(frozen=True, slots=True)
class Staleness:
    reason: str  # "never run", "changed: seed, camera.keys", "clip.mp4 is missing", ...
    changed: tuple[str, ...] = ()  # the input parts that changed, all of them
    never_run: bool = False


class State:
    """state.json: per stage, the digest of its inputs and the files it wrote.

    Every read goes to the file, so stages run one after another (or by another process)
    never overwrite each other's records with a stale copy.
    """

    def __init__(self, paths: ShotPaths) -> None:
        self.paths = paths

    @property
    def data(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.paths.state.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}
        if data.get("schema") != STATE_SCHEMA:
            data = {"schema": STATE_SCHEMA, "stages": {}}
        return data

    def stage(self, name: str) -> dict[str, Any]:
        return dict(self.data["stages"].get(name, {}))

    def is_current(self, name: str, inputs: str) -> bool:
        return self.why_stale(name, inputs) is None

    def why_stale(self, name: str, inputs: str) -> str | None:
        st = self.staleness(name, inputs)
        return None if st is None else st.reason

    def staleness(self, name: str, inputs: str) -> Staleness | None:
        """Why stage `name` is not current for `inputs`, or None when it is."""
        st = self.data["stages"].get(name)
        if not st:
            return Staleness("never run", never_run=True)
        if st.get("inputs") != inputs:
            old, new = st.get("parts"), getattr(inputs, "parts", None)
            changed = changed_parts(old, new) if old and new else []
            if not changed:
                return Staleness("inputs changed")
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            return Staleness("changed: " + ", ".join(changed[:3]) + more, tuple(changed))
        missing = [p for p in st.get("outputs", []) if not (self.paths.root / p).exists()]
        if missing:
            return Staleness(f"{missing[0]} is missing")
        return None

    def record(self, name: str, inputs: str, outputs: list[Path], **extra: Any) -> None:
        rel = [str(Path(p).relative_to(self.paths.root)) for p in outputs]
        data = self.data
        parts = getattr(inputs, "parts", None)
        data["stages"][name] = {
            "inputs": str(inputs),
            "outputs": rel,
            **({"parts": parts} if parts else {}),
            **extra,
        }
        write_json(self.paths.state, data)

    @property
    def pick(self) -> int:
        return int(self.data.get("pick", 0))

    def set_pick(self, k: int) -> None:
        data = self.data
        data["pick"] = k
        write_json(self.paths.state, data)
