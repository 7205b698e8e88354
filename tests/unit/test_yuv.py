"""Drawing straight into YUV 4:2:0 gives what converting the RGB composite would."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.draw.compositor import Compositor
from shotcraft.draw.yuv import YuvCompositor
from shotcraft.layout.planner import plan, plate_size
from shotcraft.motion.track import compute_motion
from shotcraft.spec.model import Background, Camera, CameraKey, Shot, Subject, SubjectKey


def test_yuv_frames_match_the_converted_rgb_composite() -> None:
    subjects = (
        Subject(
            id="a",
            shape="star",
            color=(220, 60, 40),
            place="left, ground",
            motion="hop",
            keys=(SubjectKey(0.0), SubjectKey(1.0, at=(0.7, 0.9))),
        ),
        Subject(
            id="b",
            shape="capsule",
            place="right, sky",
            depth=0.8,
            keys=(SubjectKey(0.0, opacity=0.5),),
        ),
    )
    cam = Camera((CameraKey(0.0), CameraKey(1.0, pan=(0.1, 0.02), zoom=1.2, roll=3.0)))
    shot = Shot(
        id="y",
        source=Path("y.toml"),
        duration=1.0,
        fps=12,
        size=(160, 96),
        seed=2,
        preset="preview",
        background=Background(colors=((30, 60, 90), (240, 170, 90))),
        camera=cam,
        subjects=subjects,
    )
    layout = plan(shot)
    motion = compute_motion(shot, layout)
    backend = ProceduralBackend()
    sprites = {s.id: backend.sprite(s, layout.subject(s.id), 48) for s in subjects}
    comp = Compositor(backend.plate(shot.background, plate_size(shot)), shot.size, sprites)
    yuv = YuvCompositor(comp)
    for i in (0, 5, 11):
        rgb = comp.frame_array(motion, i)
        ref = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        want = ref.to_ndarray().astype(int)
        got = yuv.frame_at(motion, i).astype(int)
        assert got.shape == want.shape == (96 * 3 // 2, 160)
        diff = np.abs(got - want)
        # luma: the kernels sample in 1/256 px fixed point, Pillow in floats; rolled frames
        # differ by a level or two here and there
        assert diff[:96].mean() < 0.5 and diff[:96].max() <= 6
        assert diff[96:].mean() < 1.0  # chroma (sited a little differently at edges)


def test_frames_handed_to_the_encoder_without_a_copy_keep_their_pictures(tmp_path: Path) -> None:
    from shotcraft.media.encode import EncoderSettings, VideoWriter

    w, h = 64, 48
    ys = np.linspace(16, 235, w, dtype=np.float32)
    frames = []
    for k in range(6):  # a ramp that moves, plus chroma that changes frame to frame
        f = np.empty((h * 3 // 2, w), dtype=np.uint8)
        f[:h] = np.roll(ys, 8 * k)[None, :]
        f[h:] = 60 + 25 * k
        frames.append(f)
    rgb = np.zeros((h, w, 3), dtype=np.uint8)[:, ::-1]  # not contiguous: copied instead
    out = tmp_path / "c.mp4"
    with VideoWriter(out, (w, h), 24, EncoderSettings(crf=0, preset="ultrafast")) as writer:
        for f in frames:
            writer.write(f)
        writer.write(rgb)
    with av.open(str(out)) as c:
        got = [fr.to_ndarray(format="yuv420p") for fr in c.decode(video=0)]
    assert len(got) == 7
    for mine, theirs in zip(frames, got, strict=False):
        assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1  # crf 0: lossless
    assert np.abs(got[6][:h].astype(int) - 16).max() <= 1  # black, in limited range
