"""Tiny random diffusers pipelines (SD, SDXL, SD3, FLUX) built from config, the way diffusers
tests itself.

No download: the tokenizer is made from a byte-level vocabulary written here, every model is
initialised at random from a seed, and the pipeline is saved with safetensors so that the real
loading code (`from_pretrained(path)`) loads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: every byte as a printable character."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def _clip_tokenizer(folder: Path) -> tuple[Any, dict[str, int]]:
    """A CLIP tokenizer over the byte alphabet (no merges): every character a token."""
    from transformers import CLIPTokenizer

    tok_dir = folder / "tokenizer-src"
    tok_dir.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77
    )
    return tokenizer, vocab


def _clip_config(vocab: dict[str, int], **extra: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-5,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(vocab),
        **extra,
    )


def _t5(seed: int) -> tuple[Any, Any]:
    """A tiny T5 encoder and a word-level tokenizer for it, made with `tokenizers`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    text = (
        "a an the of on in at red fox misty pine forest dawn film still landscape "
        "calibration full body centered isolated plain flat pure green background owl night sky"
    )
    words = ["<pad>", "</s>", "<unk>", *sorted(set(text.split(" ")))]
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=512,
    )
    torch.manual_seed(seed)
    encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(vocab),
            d_model=32,
            d_ff=37,
            d_kv=8,
            num_heads=4,
            num_layers=2,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    return encoder, tokenizer


def _vae(blocks: tuple[int, ...], latent_channels: int = 4, flow: bool = False) -> Any:
    from diffusers import AutoencoderKL

    extra: dict[str, Any] = {}
    if flow:  # SD3 and FLUX VAEs: no quant convs, a shift
        extra = {
            "use_quant_conv": False,
            "use_post_quant_conv": False,
            "shift_factor": 0.0609,
            "scaling_factor": 1.5035,
        }
    return AutoencoderKL(
        block_out_channels=list(blocks),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(blocks),
        up_block_types=["UpDecoderBlock2D"] * len(blocks),
        latent_channels=latent_channels,
        norm_num_groups=2,
        layers_per_block=1,
        sample_size=32,
        **extra,
    )


def build_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """Stable Diffusion (1.x/2.x layout): native 96 px (latent 48 x VAE scale 2)."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer, vocab = _clip_tokenizer(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=48,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    vae = _vae((4, 8))
    text_encoder = CLIPTextModel(_clip_config(vocab))
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    out = folder / "tiny-sd"
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """SDXL: two CLIP encoders (the second with a projection), time-text conditioning."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer, vocab = _clip_tokenizer(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,
        norm_num_groups=2,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae((4, 8)),
        text_encoder=CLIPTextModel(_clip_config(vocab)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(vocab, projection_dim=32)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            steps_offset=1,
            beta_schedule="scaled_linear",
            timestep_spacing="leading",
        ),
    )
    out = folder / "tiny-sdxl"
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_sd3(folder: Path, seed: int = 0) -> Path:
    """SD3: two CLIP encoders with projections and T5, an MMDiT with 2x2 patches."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection

    tokenizer, vocab = _clip_tokenizer(folder)
    t5, t5_tokenizer = _t5(seed)
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=64,
        patch_size=2,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=4,
    )
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_vae((4, 8), flow=True),
        text_encoder=CLIPTextModelWithProjection(_clip_config(vocab, projection_dim=32)),
        tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(vocab, projection_dim=32)),
        tokenizer_2=tokenizer,
        text_encoder_3=t5,
        tokenizer_3=t5_tokenizer,
    )
    out = folder / "tiny-sd3"
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_flux(folder: Path, seed: int = 0) -> Path:
    """FLUX.1-schnell layout: CLIP for the pooled vector, T5 for the sequence, no guidance
    embedding (schnell)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    tokenizer, vocab = _clip_tokenizer(folder)
    t5, t5_tokenizer = _t5(seed)
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=False,
    )
    pipe = FluxPipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_vae((4,), latent_channels=1, flow=True),
        text_encoder=CLIPTextModel(_clip_config(vocab)),
        tokenizer=tokenizer,
        text_encoder_2=t5,
        tokenizer_2=t5_tokenizer,
    )
    out = folder / "tiny-flux-schnell"
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_motion_adapter(folder: Path, seed: int = 0) -> Path:
    """A tiny AnimateDiff motion adapter matching the tiny UNet's blocks."""
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=(4, 8),
        motion_layers_per_block=1,
        motion_norm_num_groups=2,
        motion_num_attention_heads=2,
        motion_max_seq_length=32,
    )
    out = folder / "tiny-motion-adapter"
    adapter.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_segmenter(folder: Path, seed: int = 0) -> Path:
    """A tiny random SegFormer (labels background and subject) for `model.matting`."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    torch.manual_seed(seed)
    labels = {0: "background", 1: "subject"}
    model = SegformerForSemanticSegmentation(
        SegformerConfig(
            num_encoder_blocks=1,
            depths=[1],
            sr_ratios=[1],
            hidden_sizes=[8],
            patch_sizes=[7],
            strides=[4],
            num_attention_heads=[1],
            mlp_ratios=[2],
            decoder_hidden_size=8,
            num_labels=2,
            id2label=labels,
            label2id={v: k for k, v in labels.items()},
        )
    )
    out = folder / "tiny-segmenter"
    model.save_pretrained(out)
    try:
        from transformers import SegformerImageProcessor as Processor
    except ImportError:  # pragma: no cover (transformers without torchvision)
        from transformers import SegformerImageProcessorPil as Processor  # type: ignore
    Processor(size={"height": 64, "width": 64}).save_pretrained(out)
    return out
