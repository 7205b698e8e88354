"""Wan 2.1/2.2 VACE (`WanVACEPipeline`): the composite (or depth) as the control video, a mask
of where the model may paint, and the cached plate and sprites as reference images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from shotcraft.backends.video_base import (
    ChunkJob,
    FrameRules,
    VideoModelBackend,
    VideoSettings,
    frame_noise,
    read_json,
)

MAX_REFERENCES = 4  # each reference image costs a latent frame of every evaluation


class WanVACEBackend(VideoModelBackend):
    family = "wan-vace"
    pipeline_classes: ClassVar[tuple[str, ...]] = ("WanVACEPipeline",)
    # Wan 2.1 VACE: 16 fps, 832x480, 81 frames; 30 steps at guidance 5 is its usual trade
    defaults: ClassVar[dict[str, Any]] = {
        "steps": 30,
        "guidance": 5.0,
        "chunk": 81,
        "overlap": 8,
    }
    uses = frozenset({"masks", "references"})

    @classmethod
    def read_rules(cls, folder: Path | None) -> FrameRules:
        vae = read_json(folder, "vae/config.json") if folder else {}
        tr = read_json(folder, "transformer/config.json") if folder else {}
        down = vae.get("temperal_downsample", [False, True, True])
        patch = tr.get("patch_size", [1, 2, 2])
        spatial = 2 ** len(down)
        return FrameRules(
            frame_factor=2 ** sum(bool(d) for d in down),
            size_multiple=spatial * int(patch[-1]),
            native_fps=16,
            native_area=832 * 480,
        )

    def calls_per_chunk(self, settings: VideoSettings) -> int:
        # cond and uncond are separate transformer calls in Wan's loop
        return settings.steps * (2 if settings.guidance > 1.0 else 1)

    def references(self, settings: VideoSettings, subjects: int) -> int:
        # the plate and each subject on screen that the pass repaints (see VideoPass.job)
        shown = min(subjects, len(settings.regenerate)) if settings.regenerate else subjects
        return min(MAX_REFERENCES, 1 + shown)

    def used_references(self, job: ChunkJob) -> int:
        return min(MAX_REFERENCES, len(job.references))

    def extra_components(self) -> dict[str, Any]:
        import torch
        from diffusers import AutoencoderKLWan

        # Wan's VAE is meant to run in float32 even when the transformer runs in bf16
        src = str(self.folder) if self.folder is not None else self.model
        vae = AutoencoderKLWan.from_pretrained(
            src, subfolder="vae", revision=self.revision, torch_dtype=torch.float32
        )
        return {"vae": vae}

    def call(self, pipe: Any, job: ChunkJob, settings: VideoSettings, generator: Any) -> Any:
        w, h = job.size
        n = len(job.frames)
        if job.masks is None:
            masks = [Image.new("L", (w, h), 255)] * n
        else:
            masks = [Image.fromarray(m.astype("uint8") * 255, "L") for m in job.masks]
        refs = list(job.references[:MAX_REFERENCES])
        return pipe(
            latents=self.latents(pipe, job, len(refs)),
            prompt=job.prompt or "a film",
            negative_prompt=job.negative or None,
            video=[Image.fromarray(f) for f in job.control],
            mask=masks,
            reference_images=refs or None,
            conditioning_scale=settings.control_scale,
            height=h,
            width=w,
            num_frames=n,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            generator=generator,
            output_type="np",
        )

    def latents(self, pipe: Any, job: ChunkJob, references: int) -> Any:
        """Starting noise aligned to the shot: latent frame l of a chunk starting at frame s
        stands for frame s + l * factor; the reference frames VACE prepends get their own."""
        import torch

        tc = int(pipe.vae_scale_factor_temporal)
        sc = int(pipe.vae_scale_factor_spatial)
        w, h = job.size
        shape = (int(pipe.transformer.config.in_channels), h // sc, w // sc)
        frames = (len(job.frames) - 1) // tc + 1
        ids = [-1 - r for r in range(references)] + [job.start + k * tc for k in range(frames)]
        return torch.stack([frame_noise(job.seed, i, shape) for i in ids], dim=1)[None]
