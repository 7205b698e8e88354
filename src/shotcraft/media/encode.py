"""H.264 writing through PyAV on a worker thread, so drawing and encoding overlap.

Frames go through a bounded queue: memory stays flat however long the shot. The file is
written under a temporary name and moved into place only when it is complete.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

import av

from shotcraft.errors import CannotWrite, RenderFailed, is_write_fault, os_cause
from shotcraft.fsutil import publish, temp_beside, writing
from shotcraft.media.audio import AudioTrack, encode_audio

if TYPE_CHECKING:
    import numpy as np

_STOP = object()


# What x264 is told beyond the preset (a clip's inputs name it: a change re-renders).
# No macroblock tree: with it, x264 gives other bytes for the same frames in
# about one encode in twenty once the process has decoded video (it reads
# memory it never wrote), so a forced or split render could differ from the
# first. Same frames in, same bytes out matters more here than its bitrate.
# ipratio 2 (x264's default 1.4): I-frames a step better than the P-frames.
# Every segment is a fresh encoder whose rate control starts cold and gives
# its first I-frame the P-frames' quality, so the 29 P-frames that reference
# it pay for the difference: on a 10 s 720p pan in 1 s segments this costs
# 16 % less x264 time, 6 % fewer bytes and gains 0.6 dB PSNR; on a textured
# pan 9 % less time and +2 dB for 9 % more bytes (bench: see CHANGELOG).
X264_PARAMS = "mbtree=0:ipratio=2.0"


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    codec: str = "libx264"
    crf: int = 23
    preset: str = "veryfast"
    gop: int = 24  # frames between keyframes: fixed, so cut points are predictable
    pix_fmt: str = "yuv420p"

    def options(self) -> dict[str, str]:
        if self.codec == "libvpx-vp9":
            return {
                "crf": str(self.crf + 8),
                "b": "0",
                "deadline": "realtime",
                "cpu-used": "8",
                "g": str(self.gop),
                "row-mt": "1",
            }
        if self.codec == "prores_ks":
            return {"profile": "2"}  # ProRes 422
        if self.codec == "libx264":
            return {
                "crf": str(self.crf),
                "preset": self.preset,
                "g": str(self.gop),
                "keyint_min": str(self.gop),
                "sc_threshold": "0",  # no scene-cut keyframes: every GOP the same length
                # No B-frames: decode order is display order, so compose can splice GOPs of
                # different clips (and freshly encoded transitions) without re-timing.
                "bf": "0",
                "x264-params": X264_PARAMS,
            }
        return {}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EncoderSettings:
        """The settings `describe()` wrote (render.json's "encoder")."""
        return cls(
            codec=str(d["codec"]),
            crf=int(d["crf"]),
            preset=str(d["preset"]),
            gop=int(d["gop"]),
            pix_fmt=str(d["pix_fmt"]),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "crf": self.crf,
            "preset": self.preset,
            "gop": self.gop,
            "pix_fmt": self.pix_fmt,
        }


def container_format(path: Path) -> str:
    return {".mov": "mov", ".webm": "webm", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")


def open_video_stream(
    container: Any,
    size: tuple[int, int],
    fps: int | Fraction,
    settings: EncoderSettings,
    threads: int = 0,
) -> Any:
    stream = container.add_stream(settings.codec, rate=fps, options=settings.options())
    stream.width, stream.height = size
    stream.pix_fmt = settings.pix_fmt
    stream.codec_context.thread_type = "FRAME"
    if threads:  # a worker sharing the machine with others (x264 decodes the same either way)
        stream.codec_context.thread_count = threads
    return stream


def wrap_frame(array: np.ndarray, fmt: str) -> av.VideoFrame:
    """A frame over the array's own memory, no copy: PyAV hands the encoder a reference to
    the array, which lives as long as the encoder holds it; nothing writes to an array once
    it is written to a VideoWriter. (from_ndarray copies row by row into a new buffer, about
    0.7 ms a 720p frame on the encoder's thread.) Arrays it cannot wrap are copied."""
    if array.flags.c_contiguous:
        with contextlib.suppress(ValueError, AttributeError):  # PyAV too old for this format
            return av.VideoFrame.from_numpy_buffer(array, format=fmt)
    return av.VideoFrame.from_ndarray(array, format=fmt)


class VideoWriter:
    """`with VideoWriter(path, size, fps, settings) as w: w.write(rgb_array)`."""

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        fps: int,
        settings: EncoderSettings,
        queue_size: int = 6,
        threaded: bool = True,
        audio: AudioTrack | None = None,
        audio_duration: float = 0.0,
        threads: int = 0,
        buffer: BinaryIO | None = None,
    ) -> None:
        """`buffer`: encode into it instead of a file (nothing on disk to leave behind when the
        process is killed); `path` then only names the container format."""
        self.path = Path(path)
        self._buffer = buffer
        self.size = size
        self.fps = fps
        self.settings = settings
        self.frames = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._threaded = threaded
        self._tmp = self.path  # in memory: no file of its own (never created, never removed)
        if buffer is not None:
            self._container = av.open(buffer, "w", format=container_format(self.path))
        else:
            self._tmp = temp_beside(self.path, ".part" + (self.path.suffix or ".mp4"))
            try:
                with writing(self.path):
                    self._container = av.open(
                        str(self._tmp), "w", format=container_format(self.path)
                    )
            except BaseException:
                self._tmp.unlink(missing_ok=True)
                raise
        self._stream = open_video_stream(self._container, size, fps, settings, threads)
        self._audio = encode_audio(self._container, audio, audio_duration) if audio else None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="shotcraft-encoder", daemon=True)
            self._thread.start()

    def _encode(self, array: np.ndarray) -> None:
        # RGB (h, w, 3), or I420 planes (h * 3 / 2, w) already in the encoder's format
        fmt = "yuv420p" if array.ndim == 2 else "rgb24"
        frame = wrap_frame(array, fmt)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
            if self._audio is not None and packet.pts is not None:
                self._audio.mux_until(float(packet.pts * packet.time_base))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain so the producer never blocks
            try:
                self._encode(item)
            except BaseException as e:  # handed to the producer thread
                self._error = e

    def write(self, array: np.ndarray) -> None:
        rows = self.size[1] * 3 // 2 if array.ndim == 2 else self.size[1]
        if array.shape[:2] != (rows, self.size[0]):
            raise ValueError(f"frame is {array.shape[1]}x{array.shape[0]}, expected {self.size}")
        if self._error is not None:
            self._raise_error()
        if self._threaded:
            self._queue.put(array)
        else:
            self._encode(array)
        self.frames += 1

    def _finish(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
        if self._error is not None:
            self._raise_error()
        for packet in self._stream.encode():
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.mux_until(float("inf"))
        self._container.close()

    def _raise_error(self) -> None:
        error = self._error
        if isinstance(error, OSError) and is_write_fault(error):  # a full disk: named by path
            raise CannotWrite(self.path, os_cause(error))
        raise RenderFailed(f"encoding failed: {self._error}")

    def abort(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self._container.close()
        if self._buffer is None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if et is not None:
            self.abort()
            return
        try:
            if self._buffer is not None:
                self._finish()
                return
            with writing(self.path):
                self._finish()
            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
