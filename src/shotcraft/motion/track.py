"""Per-frame transforms for the camera and each subject: what refine computes and render reads.

Screen coordinates are fractions of the frame after the camera (pan, zoom, roll, shake) and
parallax: a layer at depth d moves with the camera pan times `parallax(d)`; the plate (d = 1)
moves exactly with the camera, nearer layers faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shotcraft.layout.planner import KeyPosition, Layout, SubjectLayout
from shotcraft.motion.easing import get_ease
from shotcraft.spec.model import CameraKey, Shot, Subject, SubjectKey

MOTION_SCHEMA = "shotcraft.motion/1"
PARALLAX_NEAR = 1.6  # camera-pan multiplier at depth 0 (the plate at depth 1 has 1.0)

# gait: stride (subject heights per cycle), bob (heights), tilt (degrees), lean (degrees)
GAITS = {
    "walk": (0.9, 0.035, 2.5, 2.0),
    "run": (1.6, 0.09, 3.0, 8.0),
    "hop": (1.2, 0.3, 0.0, 0.0),
    "float": (2.0, 0.06, 4.0, 0.0),
    "sway": (1.5, 0.0, 7.0, 0.0),
}


def parallax(depth: float) -> float:
    return 1.0 + (PARALLAX_NEAR - 1.0) * (1.0 - depth)


@dataclass(frozen=True, slots=True)
class CameraTrack:
    pan_x: np.ndarray
    pan_y: np.ndarray
    zoom: np.ndarray
    roll: np.ndarray  # degrees


@dataclass(frozen=True, slots=True)
class SubjectTrack:
    id: str
    depth: float
    shadow: bool
    x: np.ndarray  # world position of the feet (frame fractions at rest)
    y: np.ndarray
    sx: np.ndarray  # screen position of the feet, gait lift included
    sy: np.ndarray
    ground_sx: np.ndarray  # screen position of the contact point (shadow), no lift
    ground_sy: np.ndarray
    height: np.ndarray  # on-screen height, fraction of frame height
    scale: np.ndarray
    rotation: np.ndarray  # degrees, clockwise on screen
    mirror: np.ndarray  # bool
    opacity: np.ndarray
    bob: np.ndarray  # gait lift, fraction of frame height


@dataclass(frozen=True, slots=True)
class MotionTrack:
    shot_id: str
    fps: int
    size: tuple[int, int]
    camera: CameraTrack
    subjects: tuple[SubjectTrack, ...]  # drawing order: far to near

    @property
    def frames(self) -> int:
        return int(self.camera.zoom.shape[0])


# --------------------------------------------------------------------------- interpolation
def _segments(times: list[float], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each time: index of the key it is heading to (0 = before the first) and u in 0..1."""
    ta = np.asarray(times, dtype=float)
    idx = np.searchsorted(ta, t, side="right")  # keys at or before t
    nxt = np.clip(idx, 0, len(ta) - 1)
    prev = np.clip(idx - 1, 0, len(ta) - 1)
    span = ta[nxt] - ta[prev]
    u = np.where(span > 0, (t - ta[prev]) / np.where(span > 0, span, 1.0), 1.0)
    return nxt, np.clip(u, 0.0, 1.0)


def _eased(eases: list[str], nxt: np.ndarray, u: np.ndarray) -> np.ndarray:
    out = np.array(u, dtype=float)
    for k, name in enumerate(eases):
        m = nxt == k
        if m.any():
            out[m] = get_ease(name)(u[m])
    return out


def _channel(t: np.ndarray, keys: list[tuple[float, float, str]], default: float) -> np.ndarray:
    """A scalar keyed at some keys (time, value, ease), held before the first and after the last."""
    if not keys:
        return np.full_like(t, default)
    times = [k[0] for k in keys]
    vals = np.array([k[1] for k in keys])
    nxt, u = _segments(times, t)
    e = _eased([k[2] for k in keys], nxt, u)
    prev = np.clip(nxt - 1, 0, len(keys) - 1)
    before = t < times[0]
    out = vals[prev] + (vals[nxt] - vals[prev]) * e
    return np.where(before, vals[0], out)


def camera_track(shot: Shot, t: np.ndarray) -> CameraTrack:
    keys: tuple[CameraKey, ...] = shot.camera.keys
    pan_x = _channel(t, [(k.t, k.pan[0], k.ease) for k in keys], 0.0)
    pan_y = _channel(t, [(k.t, k.pan[1], k.ease) for k in keys], 0.0)
    # zoom is interpolated in log space so a 1 -> 2 -> 4 zoom feels even.
    zoom = np.exp(_channel(t, [(k.t, float(np.log(k.zoom)), k.ease) for k in keys], 0.0))
    roll = _channel(t, [(k.t, k.roll, k.ease) for k in keys], 0.0)
    if shot.camera.shake > 0:
        rng = np.random.default_rng([shot.seed, 7])
        w, h = shot.size
        amp = shot.camera.shake
        for target, scale in ((pan_x, h / w), (pan_y, 1.0)):
            for _ in range(3):
                freq, phase = rng.uniform(0.7, 3.0), rng.uniform(0, 2 * np.pi)
                target += amp * scale / 3 * np.sin(2 * np.pi * freq * t + phase)
        roll = roll + amp * 20 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 6))
    return CameraTrack(pan_x, pan_y, zoom, roll)


def _monotone_tangents(p: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson tangents per axis: a spline through the keys that never overshoots."""
    n = len(p)
    d = np.diff(p, axis=0)
    m = np.zeros_like(p)
    if n < 2:
        return m
    m[0], m[-1] = d[0], d[-1]
    for k in range(1, n - 1):
        a, b = d[k - 1], d[k]
        same = a * b > 0
        m[k] = np.where(same, 2 * a * b / np.where(same, a + b, 1.0), 0.0)
    return m


def _path(t: np.ndarray, keys: tuple[SubjectKey, ...], pos: tuple[KeyPosition, ...]) -> np.ndarray:
    pts = np.array([(k.x, k.y) for k in pos], dtype=float)
    if len(pos) == 1:
        return np.repeat(pts, len(t), axis=0)
    times = [k.t for k in pos]
    nxt, u = _segments(times, t)
    e = _eased([k.ease for k in keys], nxt, u)
    prev = np.clip(nxt - 1, 0, len(pos) - 1)
    p0, p1 = pts[prev], pts[nxt]
    ee = e[:, None]
    out = p0 + (p1 - p0) * ee
    tangents = _monotone_tangents(pts)
    for k, key in enumerate(keys):
        m = nxt == k
        if not m.any() or k == 0:
            continue
        if key.path == "arc":
            out[m, 1] -= key.arc * 4 * e[m] * (1 - e[m])
        elif key.path == "spline":
            s = e[m][:, None]
            h00 = 2 * s**3 - 3 * s**2 + 1
            h10 = s**3 - 2 * s**2 + s
            h01 = -2 * s**3 + 3 * s**2
            h11 = s**3 - s**2
            out[m] = h00 * pts[k - 1] + h10 * tangents[k - 1] + h01 * pts[k] + h11 * tangents[k]
    out[t < times[0]] = pts[0]
    return out


def _facing(vx: np.ndarray, t: np.ndarray, keys: tuple[SubjectKey, ...]) -> np.ndarray:
    """Mirror (face left) when moving left; hold the last facing at rest; keys may force it."""
    eps = 1e-4
    mirror = np.zeros(len(vx), dtype=bool)
    current = False
    forced = [(k.t, k.face) for k in keys if k.face is not None]
    for i in range(len(vx)):
        face = "auto"
        for kt, kf in forced:
            if t[i] >= kt - 1e-9:
                face = kf or "auto"
        if face == "left":
            current = True
        elif face == "right":
            current = False
        elif vx[i] < -eps:
            current = True
        elif vx[i] > eps:
            current = False
        mirror[i] = current
    return mirror


def subject_track(
    shot: Shot, subject: Subject, sl: SubjectLayout, t: np.ndarray, cam: CameraTrack
) -> SubjectTrack:
    w, h = shot.size
    keys = subject.keys or (SubjectKey(t=0.0),)
    pos = _path(t, keys, sl.keys)
    x, y = pos[:, 0], pos[:, 1]
    dt = 1.0 / shot.fps
    # Velocity in frame heights per second (x rescaled by the aspect so speed is isotropic).
    vx = np.gradient(x, dt) * (w / h) if len(t) > 1 else np.zeros_like(x)
    vy = np.gradient(y, dt) if len(t) > 1 else np.zeros_like(y)
    speed = np.hypot(vx, vy)
    scale = _channel(t, [(k.t, k.scale, k.ease) for k in keys if k.scale is not None], 1.0)
    rotation = _channel(t, [(k.t, k.rotate, k.ease) for k in keys if k.rotate is not None], 0.0)
    opacity = _channel(t, [(k.t, k.opacity, k.ease) for k in keys if k.opacity is not None], 1.0)
    mirror = _facing(vx, t, keys)

    bob = np.zeros_like(t)
    if subject.motion in GAITS:
        stride, bob_amp, tilt_amp, lean = GAITS[subject.motion]
        height = sl.height * scale
        distance = np.concatenate([[0.0], np.cumsum(speed[1:] * dt)])
        phase = 2 * np.pi * distance / (stride * np.maximum(height, 1e-6))
        # activity: 0 at rest, 1 at a walking pace (half a body height per second) or more
        a = np.clip(speed / (0.5 * np.maximum(height, 1e-6)), 0.0, 1.0)
        activity = a * a * (3 - 2 * a)
        if subject.motion == "float":
            wave = np.sin(phase)
        elif subject.motion == "hop":
            wave = np.abs(np.sin(phase / 2))
        else:
            wave = np.abs(np.sin(phase))
        bob = bob_amp * height * wave * activity
        direction = np.where(mirror, -1.0, 1.0)
        rotation = rotation + activity * (tilt_amp * np.sin(phase) + lean * direction)

    par = parallax(sl.depth)
    zoom = cam.zoom

    def project(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # world -> camera: pan with parallax, zoom and roll about the frame centre (in pixels)
        cx = (px - 0.5 - cam.pan_x * par) * zoom * w
        cy = (py - 0.5 - cam.pan_y * par) * zoom * h
        r = np.radians(-cam.roll)
        rx = cx * np.cos(r) - cy * np.sin(r)
        ry = cx * np.sin(r) + cy * np.cos(r)
        return rx / w + 0.5, ry / h + 0.5

    sx, sy = project(x, y - bob)
    gx, gy = project(x, y)
    return SubjectTrack(
        id=subject.id,
        depth=sl.depth,
        shadow=sl.shadow,
        x=x,
        y=y,
        sx=sx,
        sy=sy,
        ground_sx=gx,
        ground_sy=gy,
        height=sl.height * scale * zoom,
        scale=scale,
        rotation=rotation + cam.roll,
        mirror=mirror,
        opacity=opacity,
        bob=bob,
    )


def compute_motion(shot: Shot, layout: Layout, times: np.ndarray | None = None) -> MotionTrack:
    t = np.arange(shot.frames) / shot.fps if times is None else np.asarray(times, dtype=float)
    cam = camera_track(shot, t)
    tracks = [
        subject_track(shot, s, layout.subject(s.id), t, cam)
        for s in sorted(shot.subjects, key=lambda s: -s.depth)  # stable: far first
    ]
    return MotionTrack(shot.id, shot.fps, shot.size, cam, tuple(tracks))


# --------------------------------------------------------------------------- framing checks
def framing_warnings(shot: Shot, motion: MotionTrack) -> list[str]:
    """Camera views that leave the plate, subjects that leave the frame unasked."""
    warnings = []
    e = shot.background.extent
    cam = motion.camera
    # half the view, in plate-fraction units, must fit inside the plate around its centre
    reach_x = np.abs(cam.pan_x) + 0.5 / cam.zoom * _roll_grow(cam.roll, shot.size, 0)
    reach_y = np.abs(cam.pan_y) + 0.5 / cam.zoom * _roll_grow(cam.roll, shot.size, 1)
    need = np.maximum(reach_x, reach_y) * 2
    bad = np.nonzero(need > e + 1e-6)[0]
    if len(bad):
        i = int(bad[0])
        warnings.append(
            f"camera leaves the plate at t={i / motion.fps:.2f}s (frame {i}); "
            f"set background.extent to at least {float(need.max()) + 0.01:.2f} (now {e:g})"
        )
    for track, subject in zip(motion.subjects, _ordered(shot), strict=True):
        keyed_out = any(
            k.at is not None and not (0 <= k.at[0] <= 1 and 0 <= k.at[1] <= 1 + 1e-9)
            for k in subject.keys
        )
        if keyed_out:
            continue
        half_w = track.height * (shot.size[1] / shot.size[0]) * 0.5
        out = (track.sx + half_w < 0) | (track.sx - half_w > 1) | (track.sy < 0)
        out |= track.sy - track.height > 1
        idx = np.nonzero(out)[0]
        if len(idx):
            i = int(idx[0])
            warnings.append(
                f"subject '{track.id}' leaves the frame at t={i / motion.fps:.2f}s (frame {i}) "
                "though no key places it outside; add a key or reduce the camera move"
            )
    return warnings


def _ordered(shot: Shot) -> list[Subject]:
    return sorted(shot.subjects, key=lambda s: -s.depth)


def _roll_grow(roll: np.ndarray, size: tuple[int, int], axis: int) -> np.ndarray:
    """How much a rolled view's bounding box grows along an axis (1 = no roll)."""
    w, h = size
    r = np.radians(np.abs(roll))
    if axis == 0:
        return np.cos(r) + (h / w) * np.sin(r)
    return np.cos(r) + (w / h) * np.sin(r)
