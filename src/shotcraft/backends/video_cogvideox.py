"""CogVideoX video-to-video (`CogVideoXVideoToVideoPipeline`): the composite re-noised to
`strength` and denoised with the prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from shotcraft.backends.video_base import (
    ChunkJob,
    FrameRules,
    VideoModelBackend,
    VideoSettings,
    read_json,
)


class CogVideoXBackend(VideoModelBackend):
    family = "cogvideox-v2v"
    pipeline_classes: ClassVar[tuple[str, ...]] = ("CogVideoXVideoToVideoPipeline",)
    # CogVideoX-5b: 8 fps at 720x480, 49 frames; guidance 6
    defaults: ClassVar[dict[str, Any]] = {
        "steps": 30,
        "guidance": 6.0,
        "strength": 0.6,
        "chunk": 49,
        "overlap": 8,
    }

    @classmethod
    def read_rules(cls, folder: Path | None) -> FrameRules:
        vae = read_json(folder, "vae/config.json") if folder else {}
        tr = read_json(folder, "transformer/config.json") if folder else {}
        spatial = 2 ** (len(vae.get("block_out_channels", [128, 256, 256, 512])) - 1)
        return FrameRules(
            frame_factor=int(vae.get("temporal_compression_ratio", 4)),
            size_multiple=spatial * int(tr.get("patch_size", 2)),
            native_fps=8,
            native_area=720 * 480,
            latent_frame_multiple=int(tr.get("patch_size_t") or 1),
        )

    def calls_per_chunk(self, settings: VideoSettings) -> int:
        # the schedule starts `strength` of the way in; guidance is batched into one call
        return max(1, min(int(settings.steps * settings.strength), settings.steps))

    def call(self, pipe: Any, job: ChunkJob, settings: VideoSettings, generator: Any) -> Any:
        w, h = job.size
        return pipe(
            video=[Image.fromarray(f) for f in job.frames],
            prompt=job.prompt or "a film",
            negative_prompt=job.negative or None,
            height=h,
            width=w,
            num_inference_steps=settings.steps,
            strength=settings.strength,
            guidance_scale=settings.guidance,
            generator=generator,
            output_type="np",
            max_sequence_length=int(pipe.transformer.config.max_text_seq_length),
        )
