"""Where a shot's artifacts live, and state.json: which stage outputs are up to date."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shotcraft import __version__
from shotcraft.fsutil import canonical_json, file_digest, write_json
from shotcraft.spec.model import Shot

STATE_SCHEMA = 1
log = logging.getLogger("shotcraft")


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


def _size(path: Path) -> int | None:
    """A file's size; None for a folder (variants/, controls/) or nothing there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _state_problem(data: Any) -> str | None:
    """What is wrong with the shape of state.json's content, or None when it can be used."""
    if isinstance(data, Exception):
        return "not valid JSON" if isinstance(data, ValueError) else str(data)
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("schema") != STATE_SCHEMA:
        return f"schema {data.get('schema')!r} is not {STATE_SCHEMA}"
    stages = data.get("stages")
    if not isinstance(stages, dict):
        return "`stages` is not an object"
    for name, st in stages.items():
        if not isinstance(st, dict):
            return f"stage {name!r} is not an object"
        if not isinstance(st.get("inputs", ""), str):
            return f"stage {name!r} has no input digest"
        outputs = st.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            return f"stage {name!r}: `outputs` is not a list of names"
        if any(Path(o).is_absolute() or ".." in Path(o).parts for o in outputs):
            return f"stage {name!r}: an output lies outside the shot's folder"
        parts, sizes = st.get("parts", {}), st.get("sizes", {})
        if not isinstance(parts, dict) or not isinstance(sizes, dict):
            return f"stage {name!r}: `parts` or `sizes` is not an object"
    return None


@contextlib.contextmanager
def shot_lock(paths: ShotPaths) -> Iterator[None]:
    """One run at a time per shot in a project: a second `render` of the same shot waits here,
    then finds the first one's result up to date instead of doing the work again."""
    import tempfile

    from filelock import FileLock  # only when a stage runs

    from shotcraft.fsutil import remove_orphans, writing

    # The lock lives in the temp folder, named by the shot folder's real path: taking it
    # writes nothing into the project (a stage that refuses leaves no trace there).
    folder = Path(tempfile.gettempdir()) / "shotcraft-locks"
    name = hashlib.sha256(str(paths.root.resolve()).encode()).hexdigest()[:32]
    with writing(folder):
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                folder.chmod(0o1777)  # shared by every user, like /tmp itself
        lock = FileLock(str(folder / f"{name}.lock"), mode=0o666)
        lock.acquire()
    try:
        # the shot is ours now: temp files here are leftovers of a killed run of it
        remove_orphans(paths.root)
        yield
    finally:
        lock.release()


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
            data: Any = json.loads(self.paths.state.read_bytes())
        except FileNotFoundError:
            return {"schema": STATE_SCHEMA, "stages": {}}
        except (OSError, ValueError) as e:  # not JSON, not UTF-8, unreadable
            data = e
        problem = _state_problem(data)
        if problem is not None:
            # a damaged record only costs a redo: say so, and start afresh
            log.warning(
                "%s is damaged (%s); removed it, its stages will be redone",
                self.paths.state,
                problem,
            )
            with contextlib.suppress(OSError):
                self.paths.state.unlink()  # once: later reads start afresh without a word
            return {"schema": STATE_SCHEMA, "stages": {}}
        assert isinstance(data, dict)
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
            old, new = st.get("parts"), inputs.parts if isinstance(inputs, Inputs) else None
            changed = changed_parts(old, new) if old and new else []
            if not changed:
                return Staleness("inputs changed")
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            return Staleness("changed: " + ", ".join(changed[:3]) + more, tuple(changed))
        missing = [p for p in st.get("outputs", []) if not (self.paths.root / p).exists()]
        if missing:
            return Staleness(f"{missing[0]} is missing")
        sizes = st.get("sizes") or {}
        for p, size in sizes.items():
            if _size(self.paths.root / p) != size:
                return Staleness(f"{p} is not the file this stage wrote (its size changed)")
        return None

    def record(self, name: str, inputs: str, outputs: list[Path], **extra: Any) -> None:
        rel = [str(Path(p).relative_to(self.paths.root)) for p in outputs]
        data = self.data
        parts = inputs.parts if isinstance(inputs, Inputs) else None
        data["stages"][name] = {
            "inputs": str(inputs),
            "outputs": rel,
            # each file's size as written: a file cut short later (a copy that failed, a
            # disk that filled) is not mistaken for the finished one
            "sizes": {r: _size(self.paths.root / r) for r in rel},
            **({"parts": parts} if parts else {}),
            **extra,
        }
        write_json(self.paths.state, data)

    @property
    def pick(self) -> int:
        pick = self.data.get("pick", 0)
        return pick if isinstance(pick, int) and not isinstance(pick, bool) and pick >= 0 else 0

    def set_pick(self, k: int) -> None:
        data = self.data
        data["pick"] = k
        write_json(self.paths.state, data)
