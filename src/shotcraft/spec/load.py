"""The one loader: TOML shot, reel and preset files into validated frozen dataclasses."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from shotcraft.errors import Problem, SpecError
from shotcraft.spec.check import Checker
from shotcraft.spec.model import (
    BACKGROUND_STYLES,
    EASINGS,
    FACINGS,
    GAITS,
    OFFLOADS,
    PATHS,
    SCHEMA_VERSION,
    SHAPES,
    TRANSITIONS,
    Audio,
    Background,
    Camera,
    CameraKey,
    ModelSpec,
    Preset,
    Reel,
    ReelClip,
    Shot,
    Subject,
    SubjectKey,
    TitleCard,
    Transition,
    VideoSpec,
)
from shotcraft.spec.place import WORDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_DURATION = 600.0
MAX_FPS = 120
MAX_SIDE = 7680
MAX_SUBJECTS = 32
MAX_KEYS = 256
MAX_CLIPS = 500
BEZIER_RE = re.compile(
    r"^cubic-bezier\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)$"
)
BEZIER_DOC = "cubic-bezier(x1, y1, x2, y2) with x1 and x2 in 0..1"


def is_bezier(text: str) -> bool:
    m = BEZIER_RE.match(text)
    if not m:
        return False
    x1, _, x2, _ = (float(g) for g in m.groups())
    return 0.0 <= x1 <= 1.0 and 0.0 <= x2 <= 1.0


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(path, [Problem("", "file not found")]) from None
    except OSError as e:
        raise SpecError(path, [Problem("", f"cannot be read: {e.strerror}")]) from None
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the TOML
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(path, [Problem("", "is not UTF-8 text")]) from None
    if not text.strip():
        raise SpecError(path, [Problem("", "is empty (a file starts with `version = 1`)")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib says "... (at line 3, column 7)"; keep its words, move the place to the front.
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else None
        if m:
            msg = msg[: m.start()].strip() + f" (column {m.group(2)})"
        raise SpecError(path, [Problem("", f"TOML syntax error: {msg}", line)]) from None
    return text, data


def _version(c: Checker, data: dict[str, Any]) -> None:
    if "version" not in data:
        c.fail("version", f"is required (this shotcraft reads version = {SCHEMA_VERSION})")
    elif data["version"] != SCHEMA_VERSION or isinstance(data["version"], bool):
        c.fail("version", f"must be {SCHEMA_VERSION}, got {data['version']!r}")


def load_shot(path: Path | str) -> Shot:
    """Read and validate a shot file; raises SpecError listing every problem found."""
    path = Path(path)
    text, data = _read_toml(path)
    c = Checker(text, path.parent)
    c.table(data, "", ("version", "shot", "model", "video", "background", "camera", "subjects"))
    _version(c, data)

    shot_t = c.table(data.get("shot", {}), "shot", _SHOT_KEYS) or {}
    sid = c.ident(shot_t, "id", "shot", default=path.stem)
    if sid is not None and sid == path.stem and not _safe_stem(path.stem):
        c.fail("shot.id", f"the file name '{path.stem}' is not a safe id; set shot.id")
        sid = None
    duration = c.number(shot_t, "duration", "shot", 0.0, MAX_DURATION, default=4.0, lo_open=True)
    fps = c.number(shot_t, "fps", "shot", 1, MAX_FPS, default=24, integer=True)
    size = _size(c, shot_t, "shot")
    seed = c.number(shot_t, "seed", "shot", 0, 2**32 - 1, default=0, integer=True)
    preset = _preset_ref(c, shot_t, path.parent)

    model = _model(c, data["model"]) if "model" in data else None
    background = _background(c, data.get("background", {}))
    dur = duration if duration is not None else MAX_DURATION
    camera = _camera(c, data.get("camera", {}), dur)
    subjects = _subjects(c, data.get("subjects", []), dur)
    video = _video(c, data["video"], subjects) if "video" in data else None

    if not c.problems:
        # decoded now, not after sketch has run: a picture that cannot be drawn is a bad shot
        _check_pictures(c, background.image, "background.image")
        for i, s in enumerate(subjects):
            _check_pictures(c, s.image, f"subjects[{i}].image")
    if c.problems:
        raise SpecError(path, c.problems)
    return Shot(
        id=sid,
        source=path.resolve(),
        duration=duration,
        fps=fps,
        size=size,
        seed=seed,
        preset=preset,
        background=background,
        camera=camera,
        subjects=subjects,
        model=model,
        video=video,
    )


_SHOT_KEYS = ("id", "duration", "fps", "size", "seed", "preset")


def _preset_ref(c: Checker, shot_t: dict[str, Any], base: Path) -> Any:
    """shot.preset: a name (draft, preview, final, one in ./presets/) or a path to a preset
    file ending in .toml, relative to the shot file (as the README shows:
    "./presets/NAME.toml"); a path is kept resolved, so it works from any folder."""
    v = shot_t.get("preset")
    if isinstance(v, str) and v.endswith(".toml"):
        full = preset_path(v, base)
        if full is None:
            c.fail("shot.preset", f"file not found: {base / v} (paths are relative to the shot)")
            return None
        return str(full)
    return c.ident(shot_t, "preset", "shot", default="preview")


def preset_path(ref: str, base: Path | None = None) -> Path | None:
    """A preset given as a path: relative to `base` (the shot's folder), else to the current
    folder; None when it is not there."""
    p = Path(ref).expanduser()
    for full in [p] if p.is_absolute() else [*([base / p] if base else []), Path.cwd() / p]:
        if full.is_file():
            return full.resolve()
    return None


def _check_pictures(c: Checker, image: Path | None, where: str) -> None:
    if image is None:
        return
    from shotcraft.draw.images import BadImage, check_image  # Pillow: only for shots with one

    try:
        check_image(image)
    except BadImage as e:
        c.fail(where, f"{image.name} {e}")


def _safe_stem(stem: str) -> bool:
    from shotcraft.spec.check import ID_RE

    return bool(ID_RE.match(stem))


def _size(c: Checker, tbl: dict[str, Any], path: str) -> Any:
    if "size" not in tbl:
        return (1280, 720)
    v = c.vec2(tbl["size"], f"{path}.size", 16, MAX_SIDE, integer=True)
    if v is None:
        return None
    if v[0] % 2 or v[1] % 2:
        c.fail(f"{path}.size", f"width and height must be even for H.264 video, got {list(v)}")
        return None
    return v


_MODEL_KEYS = (
    "id",
    "revision",
    "steps",
    "guidance",
    "negative",
    "strength",
    "every",
    "motion_adapter",
    "offload",
    "matting",
)


def _model(c: Checker, raw: Any) -> Any:
    t = c.table(raw, "model", _MODEL_KEYS)
    if t is None:
        return None
    mid = c.string(t, "id", "model")
    if isinstance(mid, str) and not mid.strip():
        c.fail("model.id", "must name a hub id or a local folder, got an empty string")
        mid = None
    spec = ModelSpec(
        id=mid,
        revision=c.string(t, "revision", "model", default=None),
        steps=c.number(t, "steps", "model", 1, 200, default=None, integer=True),
        guidance=c.number(t, "guidance", "model", 0.0, 30.0, default=None),
        negative=c.string(t, "negative", "model", default=""),
        strength=c.number(t, "strength", "model", 0.0, 1.0, default=0.3),
        every=_every(c, t),
        motion_adapter=c.string(t, "motion_adapter", "model", default=None),
        offload=c.choice(t, "offload", "model", OFFLOADS, default="auto"),
        matting=c.string(t, "matting", "model", default=None),
    )
    if isinstance(spec.id, str) and isinstance(spec.strength, float):
        # the family's own rules, where the model's config files are on this machine (no torch)
        from shotcraft.backends.families import check_model

        for where, message in check_model(
            spec.id, spec.revision, spec.steps, spec.strength, spec.negative or ""
        ):
            c.fail(where, message)
    return spec


_VIDEO_KEYS = tuple(f.name for f in dataclasses.fields(VideoSpec))


def _video(c: Checker, raw: Any, subjects: tuple[Subject, ...]) -> VideoSpec | None:
    """`[video]`: the video model and what shotcraft feeds it."""
    from shotcraft.spec.model import JOINS, OFFLOADS, STEP_CACHES, VIDEO_FEEDS

    t = c.table(raw, "video", _VIDEO_KEYS)
    if t is None:
        return None
    mid = c.string(t, "model", "video")
    if isinstance(mid, str) and not mid.strip():
        c.fail("video.model", "must name a hub id or a local folder, got an empty string")
        mid = None
    known = [s.id for s in subjects]
    regenerate: list[str] = []
    for i, sid in enumerate(
        c.array(t.get("regenerate", []), "video.regenerate", MAX_SUBJECTS) or []
    ):
        if not isinstance(sid, str) or sid not in known:
            hint = c.suggest(sid, known) if isinstance(sid, str) else ""
            c.fail(
                f"video.regenerate[{i}]",
                f"must name a subject, got {sid!r}{hint} (subjects: {', '.join(known) or 'none'})",
            )
        else:
            regenerate.append(sid)
    spec = VideoSpec(
        model=mid,
        revision=c.string(t, "revision", "video", default=None),
        prompt=c.string(t, "prompt", "video", default=""),
        negative=c.string(t, "negative", "video", default=""),
        feed=c.choice(t, "feed", "video", VIDEO_FEEDS, default="composite"),
        regenerate=tuple(regenerate),
        dilate=c.number(t, "dilate", "video", 0, 256, default=4, integer=True),
        steps=c.number(t, "steps", "video", 1, 200, default=None, integer=True),
        guidance=c.number(t, "guidance", "video", 0.0, 30.0, default=None),
        strength=c.number(t, "strength", "video", 0.0, 1.0, default=None, lo_open=True),
        control_scale=c.number(t, "control_scale", "video", 0.0, 4.0, default=1.0),
        key_every=c.number(t, "key_every", "video", 1, 1000, default=None, integer=True),
        key_strength=c.number(t, "key_strength", "video", 0.0, 1.0, default=1.0),
        chunk=c.number(t, "chunk", "video", 1, 1000, default=None, integer=True),
        overlap=c.number(t, "overlap", "video", 0, 500, default=None, integer=True),
        join=c.choice(t, "join", "video", JOINS, default=None),
        fps=c.number(t, "fps", "video", 1, MAX_FPS, default=None, integer=True),
        cache=c.choice(t, "cache", "video", STEP_CACHES, default="none"),
        cache_threshold=c.number(t, "cache_threshold", "video", 0.0, 100.0, default=None),
        offload=c.choice(t, "offload", "video", OFFLOADS, default="auto"),
    )
    if spec.chunk is not None and spec.overlap is not None and spec.overlap >= spec.chunk:
        c.fail("video.overlap", f"must be less than video.chunk ({spec.chunk}), got {spec.overlap}")
    if spec.regenerate and spec.feed == "depth":
        c.fail("video.regenerate", 'keeps the composite outside the masks: use feed = "composite"')
    return spec


def _every(c: Checker, t: dict[str, Any]) -> int | None:
    """model.every: "auto" (the default) or a whole number of frames between key frames."""
    v = t.get("every", "auto")
    if v == "auto":
        return None
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000:
        return v
    c.fail("model.every", f'must be "auto" or a whole number 1..1000, got {v!r}')
    return None


def _background(c: Checker, raw: Any) -> Background:
    keys = ("prompt", "colors", "image", "extent", "style", "ridges", "sun", "haze", "seed")
    t = c.table(raw, "background", keys) or {}
    colors = None
    if "colors" in t:
        arr = c.array(t["colors"], "background.colors", max_len=8, min_len=1)
        if arr is not None:
            parsed = [c.color(v, f"background.colors[{i}]") for i, v in enumerate(arr)]
            colors = tuple(p for p in parsed if p is not None)
    sun = None
    if "sun" in t:
        sun = c.vec2(t["sun"], "background.sun", 0.0, 1.0)
    return Background(
        prompt=c.string(t, "prompt", "background", default=""),
        colors=colors,
        image=c.asset(t, "image", "background"),
        extent=c.number(t, "extent", "background", 1.0, 4.0, default=1.3),
        style=c.choice(t, "style", "background", BACKGROUND_STYLES, default="landscape"),
        ridges=c.number(t, "ridges", "background", 0, 6, default=3, integer=True),
        sun=sun,
        haze=c.number(t, "haze", "background", 0.0, 1.0, default=0.35),
        seed=c.number(t, "seed", "background", 0, 2**32 - 1, default=None, integer=True),
    )


def _ease(c: Checker, t: dict[str, Any], path: str) -> Any:
    return c.choice(t, "ease", path, EASINGS, "in-out", extra=is_bezier, extra_doc=BEZIER_DOC)


def _key_times(c: Checker, raw_keys: list[Any], path: str, duration: float) -> list[Any]:
    times: list[Any] = []
    last = None
    for i, k in enumerate(raw_keys):
        kp = f"{path}[{i}]"
        if not isinstance(k, dict):
            c.fail(kp, f"must be a table like {{ t = 0.0 }}, got {k!r}")
            times.append(None)
            continue
        t = c.number(k, "t", kp, 0.0, 1e9)
        if t is not None and t > duration + 1e-9:
            c.fail(f"{kp}.t", f"must be within 0..{duration:g} (the shot's duration), got {t:g}")
            t = None
        if t is not None and last is not None and t <= last:
            c.fail(f"{kp}.t", f"key times must increase: {t:g} follows {last:g}")
        if t is not None:
            last = t
        times.append(t)
    return times


def _camera(c: Checker, raw: Any, duration: float) -> Camera:
    t = c.table(raw, "camera", ("keys", "shake")) or {}
    keys = []
    raw_keys = c.array(t.get("keys", []), "camera.keys", MAX_KEYS) or []
    times = _key_times(c, raw_keys, "camera.keys", duration)
    for i, (k, kt) in enumerate(zip(raw_keys, times, strict=True)):
        kp = f"camera.keys[{i}]"
        if not isinstance(k, dict):
            continue
        k = c.table(k, kp, ("t", "pan", "zoom", "roll", "ease")) or {}
        pan = c.vec2(k["pan"], f"{kp}.pan", -2.0, 2.0) if "pan" in k else (0.0, 0.0)
        zoom = c.number(k, "zoom", kp, 0.1, 10.0, default=1.0)
        roll = c.number(k, "roll", kp, -180.0, 180.0, default=0.0)
        ease = _ease(c, k, kp)
        if pan is not None and None not in (kt, zoom, roll, ease):
            keys.append(CameraKey(kt, pan, zoom, roll, ease))
    shake = c.number(t, "shake", "camera", 0.0, 0.2, default=0.0)
    return Camera(tuple(keys), shake)


_SUBJECT_KEYS = (
    "id",
    "prompt",
    "image",
    "shape",
    "color",
    "place",
    "height",
    "depth",
    "motion",
    "shadow",
    "keys",
)
_SKEY_KEYS = ("t", "at", "ease", "path", "arc", "scale", "rotate", "opacity", "face")


def _subjects(c: Checker, raw: Any, duration: float) -> tuple[Subject, ...]:
    arr = c.array(raw, "subjects", MAX_SUBJECTS)
    if arr is None:
        return ()
    out = []
    seen: dict[str, int] = {}
    for i, s in enumerate(arr):
        sp = f"subjects[{i}]"
        t = c.table(s, sp, _SUBJECT_KEYS)
        if t is None:
            continue
        sid = c.ident(t, "id", sp)
        if isinstance(sid, str):
            if sid in seen:
                c.fail(f"{sp}.id", f"'{sid}' is already used by subjects[{seen[sid]}]")
            seen.setdefault(sid, i)
        place = c.string(t, "place", sp, default="")

        color = c.color(t["color"], f"{sp}.color") if "color" in t else None
        raw_keys = c.array(t.get("keys", []), f"{sp}.keys", MAX_KEYS) or []
        times = _key_times(c, raw_keys, f"{sp}.keys", duration)
        keys = []
        for j, (k, kt) in enumerate(zip(raw_keys, times, strict=True)):
            kp = f"{sp}.keys[{j}]"
            if not isinstance(k, dict):
                continue
            k = c.table(k, kp, _SKEY_KEYS) or {}
            at = c.vec2(k["at"], f"{kp}.at", -1.0, 2.0) if "at" in k else None
            key = SubjectKey(
                t=kt,
                at=at,
                ease=_ease(c, k, kp),
                path=c.choice(k, "path", kp, PATHS, default="line"),
                arc=c.number(k, "arc", kp, -1.0, 1.0, default=0.15),
                scale=c.number(k, "scale", kp, 0.01, 20.0, default=None),
                rotate=c.number(k, "rotate", kp, -3600.0, 3600.0, default=None),
                opacity=c.number(k, "opacity", kp, 0.0, 1.0, default=None),
                face=c.choice(k, "face", kp, FACINGS, default=None),
            )
            keys.append(key)
        subject = Subject(
            id=sid,
            prompt=c.string(t, "prompt", sp, default=""),
            image=c.asset(t, "image", sp),
            shape=c.choice(t, "shape", sp, SHAPES, default=None),
            color=color,
            place=place if isinstance(place, str) else "",
            height=c.number(t, "height", sp, 0.01, 2.0, default=None),
            depth=c.number(t, "depth", sp, 0.0, 1.0, default=0.5),
            motion=c.choice(t, "motion", sp, GAITS, default="none"),
            shadow=c.boolean(t, "shadow", sp, default=None),
            keys=tuple(keys),
        )
        unknown = subject.hint.unknown
        if unknown:
            vocabulary = sorted({w for phrase in WORDS for w in phrase.split()})
            hints = [c.suggest(u, vocabulary) for u in unknown]
            c.fail(
                f"{sp}.place",
                f"unknown word(s) {', '.join(repr(u) for u in unknown)}"
                + "".join(h for h in hints if h)
                + f" (allowed: {', '.join(WORDS)})",
            )
        out.append(subject)
    return tuple(out)


# ---------------------------------------------------------------------------- reel
def load_reel(path: Path | str) -> Reel:
    """Read and validate a reel file and the shot files it names."""
    path = Path(path)
    text, data = _read_toml(path)
    c = Checker(text, path.parent)
    c.table(data, "", ("version", "reel", "clips", "audio"))
    _version(c, data)
    rt = c.table(data.get("reel", {}), "reel", ("id", "size", "fps")) or {}
    rid = c.ident(rt, "id", "reel", default=path.stem if _safe_stem(path.stem) else "reel")
    size = _size(c, rt, "reel")
    fps = c.number(rt, "fps", "reel", 1, MAX_FPS, default=24, integer=True)
    clips = []
    arr = c.array(data.get("clips", []), "clips", MAX_CLIPS, min_len=1) or []
    for i, cl in enumerate(arr):
        cp = f"clips[{i}]"
        t = c.table(cl, cp, ("shot", "title", "trim", "transition"))
        if t is None:
            continue
        shot = c.asset(t, "shot", cp)
        title = _title(c, t["title"], f"{cp}.title") if "title" in t else None
        if ("shot" in t) == ("title" in t):
            c.fail(cp, "needs either `shot` (a shot file) or `title` (a title card), not both")
        trim = None
        if "trim" in t:
            trim = c.vec2(t["trim"], f"{cp}.trim", 0.0, MAX_DURATION)
            if trim is not None and trim[1] <= trim[0]:
                c.fail(f"{cp}.trim", f"end must be after start, got {list(trim)}")
                trim = None
        transition = Transition()
        if "transition" in t:
            transition = _transition(c, t["transition"], f"{cp}.transition", first=i == 0)
        if shot is not None or title is not None:
            clips.append(ReelClip(shot, trim, transition, title))
    audio = None
    if "audio" in data:
        at = c.table(data["audio"], "audio", ("file", "volume", "fade_in", "fade_out")) or {}
        file = c.asset(at, "file", "audio")
        if "file" not in at:
            c.fail("audio.file", "is required")
        if file is not None:
            from shotcraft.media.audio import audio_problem  # PyAV: only for a reel with audio

            problem = audio_problem(file)
            if problem is not None:
                c.fail("audio.file", f"{file.name} {problem}")
                file = None
        vol = c.number(at, "volume", "audio", 0.0, 4.0, default=1.0)
        fi = c.number(at, "fade_in", "audio", 0.0, 60.0, default=0.0)
        fo = c.number(at, "fade_out", "audio", 0.0, 60.0, default=0.0)
        if file is not None:
            audio = Audio(file, vol, fi, fo)
    if c.problems:
        raise SpecError(path, c.problems)
    return Reel(rid, path.resolve(), size, fps, tuple(clips), audio)


def _title(c: Checker, raw: Any, path: str) -> TitleCard | None:
    t = c.table(raw, path, ("text", "duration", "color", "text_color", "size", "plate"))
    if t is None:
        return None
    text = c.string(t, "text", path, max_len=200)
    color = c.color(t["color"], f"{path}.color") if "color" in t else (0, 0, 0)
    ink = c.color(t["text_color"], f"{path}.text_color") if "text_color" in t else (240, 240, 240)
    card = TitleCard(
        text=text or "",
        duration=c.number(t, "duration", path, 0.0, MAX_DURATION, default=2.0, lo_open=True),
        color=color or (0, 0, 0),
        text_color=ink or (240, 240, 240),
        size=c.number(t, "size", path, 0.01, 0.5, default=0.08),
        plate=c.asset(t, "plate", path),
    )
    return card


def _transition(c: Checker, raw: Any, path: str, first: bool) -> Transition:
    t = c.table(raw, path, ("kind", "duration", "color", "direction"))
    if t is None:
        return Transition()
    kind = c.choice(t, "kind", path, TRANSITIONS, default="crossfade")
    default_d = 0.0 if kind == "cut" else 0.5
    dur = c.number(t, "duration", path, 0.0, 10.0, default=default_d)
    if kind not in (None, "cut") and dur == 0.0:
        c.fail(f"{path}.duration", f"a {kind} needs a duration above 0")
    if first and kind not in (None, "cut"):
        c.fail(path, "the first clip has nothing to transition from; remove the transition")
    color = c.color(t["color"], f"{path}.color") if "color" in t else (0, 0, 0)
    direction = c.choice(t, "direction", path, ("left", "right", "up", "down"), default="left")
    return Transition(kind or "cut", dur or 0.0, color or (0, 0, 0), direction or "left")


# --------------------------------------------------------------------------- preset
_PRESET_KEYS = (
    "scale",
    "samples",
    "shutter",
    "crf",
    "encoder_preset",
    "gop_seconds",
    "animatic_scale",
    "harmonize",
    "storyboard_steps",
    "previews",
)
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


def find_preset(name: str, search: tuple[Path, ...] = ()) -> Path:
    from importlib import resources  # only the commands that need a preset pay for it

    if name.endswith(".toml"):  # a path (shot.preset keeps it resolved; --preset: from here)
        found = preset_path(name)
        if found is None:
            raise SpecError(f"preset '{name}'", [Problem("", "file not found")])
        return found

    for folder in (*search, Path.cwd() / "presets"):
        p = folder / f"{name}.toml"
        if p.is_file():
            return p
    builtin = resources.files("shotcraft") / "presets" / f"{name}.toml"
    if builtin.is_file():
        return Path(str(builtin))
    known = sorted(
        {p.name[:-5] for p in (resources.files("shotcraft") / "presets").iterdir()}
        | {p.stem for p in (Path.cwd() / "presets").glob("*.toml")}
    )
    raise SpecError(
        f"preset '{name}'",
        [Problem("", f"no such preset (known: {', '.join(known)}; or add presets/{name}.toml)")],
    )


def load_preset(name: str) -> Preset:
    path = find_preset(name)
    text, data = _read_toml(path)
    c = Checker(text, path.parent)
    t = c.table(data, "", ("version", *_PRESET_KEYS)) or {}
    _version(c, data)
    preset = Preset(
        name=name,
        scale=c.number(t, "scale", "", 0.05, 4.0, default=1.0),
        samples=c.number(t, "samples", "", 1, 64, default=1, integer=True),
        shutter=c.number(t, "shutter", "", 0.0, 1.0, default=0.5),
        crf=c.number(t, "crf", "", 0, 51, default=23, integer=True),
        encoder_preset=c.choice(t, "encoder_preset", "", X264_PRESETS, default="veryfast"),
        gop_seconds=c.number(t, "gop_seconds", "", 0.1, 60.0, default=1.0),
        animatic_scale=c.number(t, "animatic_scale", "", 0.05, 1.0, default=0.25),
        harmonize=c.boolean(t, "harmonize", "", default=False),
        storyboard_steps=c.number(t, "storyboard_steps", "", 0, 100, default=0, integer=True),
        previews=c.boolean(t, "previews", "", default=False),
    )
    if c.problems:
        raise SpecError(path, c.problems)
    return preset
