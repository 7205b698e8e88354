"""Tiny random diffusers pipelines of three different shapes, for the cost model's tests only.

They differ where cost differs: channel widths, where the attention sits (high resolution,
low resolution, both), and the VAE's depth (a downscaling factor of 4 or 8, with or without
mid-block attention). Built from config with random weights and saved with safetensors, like
`tests/tiny_model.py` (whose tokenizer and text encoder they share), so the real loading code
loads them. None of them is used by any other test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# name -> (UNet kwargs, VAE kwargs); each small enough that a 1024 px paint takes about a
# second on one busy CPU thread
ARCHITECTURES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # attention at the UNet's coarse level; an 8x VAE without attention
    "coarse-attn": (
        {
            "block_out_channels": (8, 16),
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
            "attention_head_dim": 2,
        },
        {"block_out_channels": [2, 2, 4, 4], "mid_block_add_attention": False},
    ),
    # attention at the UNet's fine level (tokens squared); a deeper 16x VAE with mid-block
    # attention
    "fine-attn": (
        {
            "block_out_channels": (8, 16),
            "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
            "attention_head_dim": 2,
        },
        {"block_out_channels": [2, 2, 2, 4, 4], "mid_block_add_attention": True},
    ),
    # three levels, wider, attention at the coarsest only; an 8x VAE with mid-block attention
    "deep": (
        {
            "block_out_channels": (8, 16, 24),
            "down_block_types": ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            "attention_head_dim": 4,
        },
        {"block_out_channels": [2, 4, 4, 4], "mid_block_add_attention": True},
    ),
}


def build_cost_model(folder: Path, name: str, seed: int = 0) -> Path:
    """The architecture `name` of ARCHITECTURES as a pipeline folder under `folder`."""
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel

    from tests.tiny_model import build_tiny_pipeline

    out = folder / name
    if (out / "model_index.json").is_file():
        return out
    # the tokenizer, text encoder and scheduler of the shared tiny pipeline
    base_dir = folder / "base" / "tiny-sd"
    if not (base_dir / "model_index.json").is_file():
        build_tiny_pipeline(folder / "base", seed)
    base = StableDiffusionPipeline.from_pretrained(base_dir)
    unet_kw, vae_kw = ARCHITECTURES[name]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        cross_attention_dim=32,
        norm_num_groups=4,
        **unet_kw,
    )
    blocks = len(vae_kw["block_out_channels"])
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=64,
        down_block_types=["DownEncoderBlock2D"] * blocks,
        up_block_types=["UpDecoderBlock2D"] * blocks,
        **vae_kw,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        unet=unet,
        scheduler=base.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return out
