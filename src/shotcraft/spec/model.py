"""Frozen value types for shot, reel and preset files (schema version 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shotcraft.spec.place import PlaceHint, parse_place

Color = tuple[int, int, int]
Vec2 = tuple[float, float]

SCHEMA_VERSION = 1
EASINGS = ("linear", "in", "out", "in-out")  # plus cubic-bezier(x1, y1, x2, y2)
PATHS = ("line", "arc", "spline")
GAITS = ("none", "walk", "run", "hop", "float", "sway")
SHAPES = ("circle", "box", "capsule", "star", "triangle", "blob")
BACKGROUND_STYLES = ("landscape", "gradient", "solid")
FACINGS = ("auto", "left", "right")
TRANSITIONS = ("cut", "crossfade", "dip", "wipe")
VIDEO_FEEDS = ("composite", "depth")
STEP_CACHES = ("none", "first-block", "taylorseer")
OFFLOADS = ("auto", "none", "model", "sequential")  # model.offload
JOINS = ("crossfade", "condition")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    revision: str | None = None
    steps: int | None = None  # None: the model family's default (see backends.families)
    guidance: float | None = None  # None: the family's default
    negative: str = ""
    strength: float = 0.3  # harmonize image-to-image strength
    every: int | None = None  # harmonize every K-th frame; None: "auto", where the scene drifts
    motion_adapter: str | None = None
    offload: str = "auto"  # auto | none | model | sequential: where the weights are placed
    matting: str | None = None  # an image-segmentation model cutting sprites out, not the key


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """`[video]`: a video model run over the composite (Wan VACE, LTX condition, CogVideoX).
    None means the family's default (see `backends.video_base`)."""

    model: str
    revision: str | None = None
    prompt: str = ""  # "" = the background's and subjects' prompts joined
    negative: str = ""
    feed: str = "composite"  # what VACE sees as its control video: composite | depth
    regenerate: tuple[str, ...] = ()  # subjects whose silhouettes the model may paint; () = all
    dilate: int = 4  # pixels the regenerate masks grow by (at the render size)
    steps: int | None = None
    guidance: float | None = None
    strength: float | None = None  # CogVideoX video-to-video
    control_scale: float = 1.0  # VACE conditioning scale
    key_every: int | None = None  # LTX: a key frame every N model frames
    key_strength: float = 1.0  # LTX: how firmly a key frame holds
    chunk: int | None = None  # model frames per chunk (rounded up to the model's frame rule)
    overlap: int | None = None  # model frames two chunks share and cross-fade over
    join: str | None = None  # crossfade | condition (VACE: the overlap kept from the last chunk)
    fps: int | None = None  # the rate the model works at; None = its native rate
    cache: str = "none"  # diffusers step cache: none | first-block | taylorseer
    cache_threshold: float | None = None  # first-block: residual threshold; taylorseer: interval
    offload: str = "auto"  # auto | none | model | sequential


@dataclass(frozen=True, slots=True)
class Background:
    prompt: str = ""
    colors: tuple[Color, ...] | None = None
    image: Path | None = None
    extent: float = 1.3
    style: str = "landscape"
    ridges: int = 3
    sun: Vec2 | None = None
    haze: float = 0.35
    seed: int | None = None  # None: derived from the description, so equal backgrounds match


@dataclass(frozen=True, slots=True)
class CameraKey:
    t: float
    pan: Vec2 = (0.0, 0.0)
    zoom: float = 1.0
    roll: float = 0.0
    ease: str = "in-out"


@dataclass(frozen=True, slots=True)
class Camera:
    keys: tuple[CameraKey, ...] = ()
    shake: float = 0.0  # amplitude as a fraction of the frame height


@dataclass(frozen=True, slots=True)
class SubjectKey:
    t: float
    at: Vec2 | None = None
    ease: str = "in-out"
    path: str = "line"
    arc: float = 0.15  # arc height, fraction of frame height, for path = "arc"
    scale: float | None = None
    rotate: float | None = None  # degrees, clockwise
    opacity: float | None = None
    face: str | None = None  # auto | left | right


@dataclass(frozen=True, slots=True)
class Subject:
    id: str
    prompt: str = ""
    image: Path | None = None
    shape: str | None = None
    color: Color | None = None
    place: str = ""
    height: float | None = None
    depth: float = 0.5
    motion: str = "none"
    shadow: bool | None = None
    keys: tuple[SubjectKey, ...] = ()
    hint: PlaceHint = field(init=False, repr=False, compare=False)  # `place`, parsed

    def __post_init__(self) -> None:
        object.__setattr__(self, "hint", parse_place(self.place))


@dataclass(frozen=True, slots=True)
class Shot:
    id: str
    source: Path
    duration: float
    fps: int
    size: tuple[int, int]
    seed: int
    preset: str
    background: Background
    camera: Camera
    subjects: tuple[Subject, ...]
    model: ModelSpec | None = None
    video: VideoSpec | None = None

    @property
    def frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    def fingerprint(self) -> dict[str, Any]:
        """Everything about the shot that changes what is made (not where it came from)."""
        d = _plain(asdict(self))
        d.pop("source", None)
        for s in d["subjects"]:
            s.pop("hint", None)  # derived from `place`, which is there
        return d


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str = "cut"
    duration: float = 0.0
    color: Color = (0, 0, 0)  # dip
    direction: str = "left"  # wipe


@dataclass(frozen=True, slots=True)
class TitleCard:
    """A clip made of text: over a colour, or over a shot's plate."""

    text: str
    duration: float = 2.0
    color: Color = (0, 0, 0)
    text_color: Color = (240, 240, 240)
    size: float = 0.08  # text height, fraction of the frame height
    plate: Path | None = None  # a shot file whose background is drawn behind the text


@dataclass(frozen=True, slots=True)
class ReelClip:
    shot: Path | None
    trim: tuple[float, float] | None = None
    transition: Transition = field(default_factory=Transition)
    title: TitleCard | None = None


@dataclass(frozen=True, slots=True)
class Audio:
    file: Path
    volume: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0


@dataclass(frozen=True, slots=True)
class Reel:
    id: str
    source: Path
    size: tuple[int, int]
    fps: int
    clips: tuple[ReelClip, ...]
    audio: Audio | None = None


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    scale: float = 1.0  # render resolution relative to the shot's size
    samples: int = 1  # sub-frame samples for motion blur
    shutter: float = 0.5  # fraction of a frame the shutter is open
    crf: int = 23
    encoder_preset: str = "veryfast"
    gop_seconds: float = 1.0  # a keyframe every second: clean cut points for compose
    animatic_scale: float = 0.25
    harmonize: bool = False
    storyboard_steps: int = 0  # >0: diffusers paints storyboard stills with this many steps
    previews: bool = False  # render also makes the storyboard and the animatic


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v
