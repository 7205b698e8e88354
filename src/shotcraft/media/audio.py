"""The reel's audio track: decoded, resampled, trimmed or padded, faded, encoded as AAC."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

if TYPE_CHECKING:
    import numpy as np

RATE = 48000
FRAME = 1024  # AAC frame size


@dataclass(frozen=True, slots=True)
class AudioTrack:
    file: Path
    volume: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0


def audio_problem(path: Path) -> str | None:
    """Why `path` cannot be the reel's audio (not a media file, no audio stream, no decodable
    audio at its start), or None. Probed when the reel is loaded, not at the end of compose."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return "has no audio track"
            for _ in c.decode(audio=0):
                return None  # one frame decodes: the rest is the file's own business
            return "has an audio track with no sound in it"
    except PermissionError:
        return "cannot be read (permission denied)"
    except (av.error.FFmpegError, OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e)
        return f"is not an audio file PyAV can read ({why})"


def load_samples(path: Path) -> np.ndarray:
    """The whole file as float32 stereo at 48 kHz, shape (2, n)."""
    import numpy as np

    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    chunks = []
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((2, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


def shape_track(samples: np.ndarray, track: AudioTrack, duration: float) -> np.ndarray:
    """Trim or pad with silence to the reel's duration; apply volume and fades."""
    import numpy as np

    n = round(duration * RATE)
    out = np.zeros((2, n), dtype=np.float32)
    m = min(n, samples.shape[1])
    out[:, :m] = samples[:, :m] * track.volume
    gain = np.ones(n, dtype=np.float32)
    fi = min(n, round(track.fade_in * RATE))
    if fi:
        gain[:fi] = np.linspace(0.0, 1.0, fi, dtype=np.float32)
    fo = min(n, round(track.fade_out * RATE))
    if fo:
        gain[n - fo :] *= np.linspace(1.0, 0.0, fo, dtype=np.float32)
    return np.clip(out * gain, -1.0, 1.0)


class AudioMuxer:
    """Encoded audio packets, muxed a little behind the video so the file stays interleaved."""

    def __init__(self, container: Any, stream: Any, packets: list[Any]) -> None:
        self.container = container
        self.stream = stream
        self.packets = packets
        self.next = 0

    def mux_until(self, seconds: float) -> None:
        while self.next < len(self.packets):
            p = self.packets[self.next]
            if p.pts is not None and float(p.pts * p.time_base) > seconds:
                return
            self.container.mux(p)
            self.next += 1


def encode_audio(container: Any, track: AudioTrack, duration: float) -> AudioMuxer:
    """Add an AAC stream to `container` and encode the whole shaped track up front (small)."""
    import numpy as np

    stream = container.add_stream("aac", rate=RATE)
    stream.codec_context.layout = "stereo"
    stream.codec_context.bit_rate = 160_000
    data = shape_track(load_samples(track.file), track, duration)
    packets = []
    for i in range(0, data.shape[1], FRAME):
        chunk = np.ascontiguousarray(data[:, i : i + FRAME])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = i
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return AudioMuxer(container, stream, packets)
