"""AnimateDiff video-to-video behind the video family interface: the image model's own
pipeline with its motion adapter (`[model] motion_adapter`), borrowed from the image backend
(`DiffusersBackend.video_to_video`), so the components are loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from shotcraft.backends.base import ModelBackend
from shotcraft.backends.video_base import (
    ChunkJob,
    FrameRules,
    VideoModelBackend,
    VideoSettings,
)
from shotcraft.spec.model import VideoSpec

ANIMATEDIFF_CHUNK = 16  # frames the motion modules were trained on


class AnimateDiffVideo(VideoModelBackend):
    family = "animatediff"
    defaults: ClassVar[dict[str, Any]] = {"chunk": ANIMATEDIFF_CHUNK, "overlap": 4}
    shares_counter = True  # the image backend's denoiser hook counts these calls

    def __init__(self, painter: ModelBackend) -> None:
        super().__init__(str(painter.model.motion_adapter), None, None, painter.device_request)
        self.painter = painter
        self.placement = "with the image model"

    @classmethod
    def read_rules(cls, folder: Path | None) -> FrameRules:
        # any frame count; the image backend sizes the frames for its UNet and back
        return FrameRules(frame_factor=1, size_multiple=2, native_fps=None, native_area=1 << 40)

    def default_spec(self) -> VideoSpec:
        m = self.painter.model
        # the image model's settings, resolved to its family's defaults where the shot has none
        return VideoSpec(
            model=str(m.motion_adapter),
            steps=self.painter.steps("t2i"),
            guidance=self.painter.guidance(),
        )

    def settings(self, s: VideoSpec, shot_fps: int, prompt: str) -> VideoSettings:
        base = super().settings(s, shot_fps, prompt)
        from dataclasses import replace

        # the painter's identity and strength: what its video_to_video actually uses
        return replace(
            base,
            identity=f"{self.painter.identity}+{self.painter.model.motion_adapter}",
            strength=self.painter.model.strength,
            negative=self.painter.model.negative,
        )

    def calls_per_chunk(self, settings: VideoSettings) -> int:
        return self.painter.harmonize_steps()

    @property
    def version(self) -> str:
        return self.painter.version

    def run(self, job: ChunkJob, settings: VideoSettings) -> list[np.ndarray]:
        before = self.painter.denoiser_calls
        out = self.painter.video_to_video(
            [Image.fromarray(f) for f in job.frames], job.prompt, job.seed
        )
        self.denoiser_calls += self.painter.denoiser_calls - before
        self.forwards += self.painter.denoiser_calls - before
        return [np.asarray(o.convert("RGB")) for o in out]

    def call(self, pipe: Any, job: ChunkJob, settings: VideoSettings, generator: Any) -> Any:
        raise NotImplementedError("AnimateDiff runs through the image backend (see run)")
