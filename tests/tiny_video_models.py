"""Tiny random video pipelines (Wan VACE, LTX condition, CogVideoX video-to-video) built from
config, the way diffusers tests itself, and saved with safetensors so that the real loading
code (`from_pretrained(path)`) loads them.

No download: the T5 text encoder is initialised from a config and its tokenizer is a Unigram
vocabulary of single characters made with the `tokenizers` library (diffusers' own tests
fetch `hf-internal-testing/tiny-random-t5` from the hub instead).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

TEXT_DIM = 32  # the tiny T5's hidden size: every tiny transformer's caption width


def _tokenizer() -> Any:
    from transformers import T5Tokenizer

    chars = string.ascii_lowercase + string.digits + ",.-'"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in chars] + [("▁" + c, -2.5) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=64)


def _text_encoder(vocab_size: int, seed: int, umt5: bool = False) -> Any:
    """A tiny T5 encoder (UMT5 for Wan, which declares that class)."""
    import torch
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    config_cls, model_cls = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    config = config_cls(
        vocab_size=vocab_size,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    return model_cls(config).eval()


def build_tiny_wan_vace(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )

    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    torch.manual_seed(seed)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=3,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        vace_layers=[0, 2],
        vace_in_channels=96,
    )
    pipe = WanVACEPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(len(tokenizer), seed, umt5=True),
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        transformer=transformer,
    )
    out = folder / "tiny-wan-vace"
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_ltx_condition(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TEXT_DIM,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    pipe = LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_text_encoder(len(tokenizer), seed),
        tokenizer=tokenizer,
        transformer=transformer,
    )
    out = folder / "tiny-ltx-condition"
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_cogvideox_v2v(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXTransformer3DModel,
        CogVideoXVideoToVideoPipeline,
        DDIMScheduler,
    )

    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=TEXT_DIM,
        num_layers=1,
        sample_width=8,
        sample_height=8,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=16,
    )
    torch.manual_seed(seed)
    block = ("CogVideoXDownBlock3D",) * 4
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=block,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    pipe = CogVideoXVideoToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(len(tokenizer), seed),
        vae=vae,
        transformer=transformer,
        scheduler=DDIMScheduler(),
    )
    out = folder / "tiny-cogvideox-v2v"
    pipe.save_pretrained(out, safe_serialization=True)
    return out
