"""LTX-Video's condition pipeline (`LTXConditionPipeline`, and `LTX2ConditionPipeline` where
the installed diffusers has it): the composite's key frames as conditions at their frame
indices, plus the prompt; the model paints the frames between them."""

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


class LTXBackend(VideoModelBackend):
    family = "ltx-condition"
    pipeline_classes: ClassVar[tuple[str, ...]] = ("LTXConditionPipeline",)
    # LTX-Video 0.9.x: 25 fps at 704x480, 8k+1 frames; 30 steps at guidance 3
    defaults: ClassVar[dict[str, Any]] = {
        "steps": 30,
        "guidance": 3.0,
        "chunk": 97,
        "overlap": 16,
    }
    uses = frozenset({"key_frames"})
    native_fps = 25

    @classmethod
    def read_rules(cls, folder: Path | None) -> FrameRules:
        vae = read_json(folder, "vae/config.json") if folder else {}
        scaling = vae.get("spatio_temporal_scaling", [True, True, True, False])
        ups = sum(bool(s) for s in scaling)
        temporal = vae.get("temporal_compression_ratio") or int(vae.get("patch_size_t", 1)) * 2**ups
        spatial = vae.get("spatial_compression_ratio") or int(vae.get("patch_size", 4)) * 2**ups
        return FrameRules(
            frame_factor=int(temporal),
            # the pipeline checks sides against 32 whatever the VAE compresses by
            size_multiple=max(32, int(spatial)),
            native_fps=cls.native_fps,
            native_area=704 * 480,
        )

    def calls_per_chunk(self, settings: VideoSettings) -> int:
        return settings.steps  # guidance runs as a batch of two in one call

    def conditions(self, job: ChunkJob, settings: VideoSettings) -> list[Any]:
        """The composite's key frames as the pipeline's conditions, at their indices."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        return [
            LTXVideoCondition(
                image=Image.fromarray(job.frames[i]), frame_index=i, strength=settings.key_strength
            )
            for i in job.key_frames
        ]

    def frame_rate(self, job: ChunkJob) -> float:
        return round(job.fps)

    def call(self, pipe: Any, job: ChunkJob, settings: VideoSettings, generator: Any) -> Any:
        w, h = job.size
        return pipe(
            conditions=self.conditions(job, settings),
            prompt=job.prompt or "a film",
            negative_prompt=job.negative or None,
            height=h,
            width=w,
            num_frames=len(job.frames),
            frame_rate=self.frame_rate(job),
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            generator=generator,
            output_type="np",
        )


class LTX2Backend(LTXBackend):
    """LTX-2's condition pipeline: the same key frames as `LTX2VideoCondition`s (untested here:
    no tiny LTX-2 pipeline is built offline; its Gemma text encoder and audio VAE are big)."""

    family = "ltx2-condition"
    pipeline_classes: ClassVar[tuple[str, ...]] = ("LTX2ConditionPipeline",)
    native_fps = 24

    def conditions(self, job: ChunkJob, settings: VideoSettings) -> list[Any]:
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

        return [
            LTX2VideoCondition(
                frames=Image.fromarray(job.frames[i]), index=i, strength=settings.key_strength
            )
            for i in job.key_frames
        ]

    def frame_rate(self, job: ChunkJob) -> float:
        return float(job.fps)
