"""Rough model rates from a model folder's config files, for a model never timed here.

The denoiser's, VAE's and text encoder's weights are counted from the safetensors headers
(the JSON at the head of each file: names and shapes; no weights are read, torch is not
imported) and placed at the resolution they run at from the block names and
`block_out_channels`; a weight multiplies once per token it is applied to, self-attention adds
its square term. Work turns into seconds by the device class (a CPU's cores, a GPU), so the
result is a rough figure: `cost.with_model` marks it rough, with an error bar of
`cost.ROUGH_FACTOR` either way.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from shotcraft import cost

TEXT_TOKENS = 77
HEADER_LIMIT = 64 << 20  # a safetensors header longer than this is not one

# device class -> (FLOP/s, bytes/s of activations, seconds per weighted op): what a denoiser
# of real size gets, not a peak figure
_DEVICES = {
    "cpu": (8e9 * (os.cpu_count() or 1), 2e10, 30e-6),
    "cuda": (4e13, 1e12, 20e-6),
    "mps": (5e12, 2e11, 40e-6),
}


def model_folder(model_id: str) -> Path | None:
    """A local folder, or the hub cache's snapshot of a downloaded hub id."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return folder
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub"
    )
    snapshots = Path(hub) / f"models--{model_id.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/model_index.json"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def tensor_shapes(folder: Path) -> dict[str, list[int]]:
    """Weight names and shapes from the safetensors headers of one component's folder."""
    files = sorted(folder.glob("*.safetensors"))
    plain = [f for f in files if ".fp16." not in f.name]
    shapes: dict[str, list[int]] = {}
    for f in plain or files:
        try:
            with open(f, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                if not 0 < n < HEADER_LIMIT:
                    continue
                header = json.loads(fh.read(n))
        except (OSError, ValueError):
            continue
        for name, info in header.items():
            if name != "__metadata__" and isinstance(info, dict):
                shapes[name] = list(info.get("shape", []))
    return shapes


def _config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class Work:
    """Floating-point operations, activation elements written, and weighted ops."""

    def __init__(self) -> None:
        self.flops = 0.0
        self.elements = 0.0
        self.ops = 0

    def weight(self, shape: list[int], tokens: float) -> None:
        numel = 1
        for d in shape:
            numel *= d
        self.flops += 2.0 * numel * tokens
        self.elements += shape[0] * tokens
        self.ops += 1

    def attention(self, channels: int, queries: float, keys: float) -> None:
        self.flops += 4.0 * queries * keys * channels
        self.elements += queries * keys / 8  # scores, mostly kept in fast memory

    def seconds(self, device: str) -> float:
        flops, bandwidth, per_op = _DEVICES.get(device.split(":")[0], _DEVICES["cpu"])
        # each output is read and written by a few element-wise ops (norms, activations)
        return self.flops / flops + self.elements * 4 * 8 / bandwidth + self.ops * per_op


def _level(parts: list[str], levels: int) -> int:
    """The resolution level (0 = the latent's own) a UNet weight runs at."""
    if parts[0] == "down_blocks":
        return int(parts[1]) + (1 if "downsamplers" in parts else 0)
    if parts[0] == "up_blocks":
        return levels - 1 - int(parts[1]) - (1 if "upsamplers" in parts else 0)
    if parts[0] == "mid_block":
        return levels - 1
    return 0


def _patch_volume(config: dict[str, Any]) -> int:
    """Latent tokens a transformer token stands for: its patch's area (and length in time)."""
    p = config.get("patch_size") or 2
    if isinstance(p, list):  # Wan: [t, h, w]
        return max(1, math.prod(int(v) for v in p))
    return max(1, int(p) ** 2 * int(config.get("patch_size_t") or 1))


def denoiser_work(folder: Path, tokens: float, patched: bool = False) -> Work:
    """One denoiser evaluation over `tokens` latent tokens (UNet or transformer; `patched`:
    the tokens are the transformer's own, after patching, as a video model's are counted)."""
    work = Work()
    config = _config(folder)
    levels = len(config.get("block_out_channels", [])) or 1
    unet = any(n.startswith("down_blocks.") for n in tensor_shapes(folder))
    volume = 1 if patched else _patch_volume(config)
    for name, shape in tensor_shapes(folder).items():
        if len(shape) < 2:
            continue  # norms and biases: their cost is in the elements written
        parts = name.split(".")
        if unet:
            t = max(1.0, tokens / 4 ** max(0, _level(parts, levels)))
        else:
            t = max(1.0, tokens / volume)
        if "time_emb" in name or "time_embedding" in name or "add_embedding" in name:
            work.weight(shape, 1)
        elif "attn2.to_k" in name or "attn2.to_v" in name or "context_embedder" in name:
            work.weight(shape, TEXT_TOKENS)
        else:
            work.weight(shape, t)
        if name.endswith(("attn1.to_q.weight", "attn.to_q.weight")):
            work.attention(shape[0], t, t)
        elif name.endswith("attn2.to_q.weight"):
            work.attention(shape[0], t, TEXT_TOKENS)
    return work


def vae_work(folder: Path, pixels: float, kind: str) -> Work:
    """The VAE's decoder (or encoder) on one image of `pixels` pixels."""
    work = Work()
    levels = len(_config(folder).get("block_out_channels", [])) or 4
    latent = pixels / 4 ** (levels - 1)
    half = "decoder." if kind == "decode" else "encoder."
    for name, shape in tensor_shapes(folder).items():
        if len(shape) < 2:
            continue
        if name.startswith(("post_quant_conv", "quant_conv")):
            if name.startswith("post_quant" if kind == "decode" else "quant"):
                work.weight(shape, latent)
            continue
        if not name.startswith(half):
            continue
        parts = name.split(".")[1:]
        if parts[0] == "up_blocks":  # decoder: up block j at 4^j times the latent's tokens
            t = latent * 4 ** (int(parts[1]) + (1 if "upsamplers" in parts else 0))
        elif parts[0] == "down_blocks":  # encoder: down block i at pixels / 4^i
            t = pixels / 4 ** (int(parts[1]) + (1 if "downsamplers" in parts else 0))
        elif (
            parts[0] == "mid_block"
            or (parts[0] == "conv_in" and kind == "decode")
            or (parts[0] == "conv_out" and kind == "encode")
        ):
            t = latent
        else:
            t = pixels  # decoder.conv_out, encoder.conv_in
        work.weight(shape, t)
        if name.endswith(("to_q.weight", "query.weight")):
            work.attention(shape[0], t, t)
    return work


def text_work(folder: Path) -> Work:
    work = Work()
    for sub in sorted(folder.glob("text_encoder*")):
        for shape in tensor_shapes(sub).values():
            if len(shape) >= 2 and shape[0] < 100_000:  # not the token embedding table
                work.weight(shape, TEXT_TOKENS)
    return work


SIZES = ((256, 256), (512, 512), (1024, 1024))


def rough_rates(backend: Any) -> dict[str, Any] | None:
    """A rates record (see `cost.model_rates`) worked out from the model's files, with
    `source` "rough"; None where the files are not on this machine."""
    folder = model_folder(backend.model.id)
    if folder is None:
        return None
    denoiser = next((folder / d for d in ("unet", "transformer") if (folder / d).is_dir()), None)
    if denoiser is None or not tensor_shapes(denoiser):
        return None
    vae = folder / "vae"
    factor = 2 ** max(0, len(_config(vae).get("block_out_channels", [0] * 4)) - 1)
    device = cost.guess_device(backend.device_request)
    cfg = 2.0 if backend.guidance() > 1.0 else 1.0
    record: dict[str, Any] = {
        "model": backend.model.id,
        "source": "rough",
        "device": device,
        "token_pixels": factor**2,
        "points": {p: [] for p in cost.PARTS},
    }
    text = text_work(folder).seconds(device) * cfg
    for w, h in SIZES:
        pixels = float(w * h)
        x_step = pixels / factor**2 / 1e3
        step = cfg * denoiser_work(denoiser, pixels / factor**2).seconds(device)
        record["points"]["step"].append([x_step, step])
        record["points"]["call_t2i"].append([pixels / 1e6, text])
        record["points"]["call_i2i"].append([pixels / 1e6, text])
        if vae.is_dir():
            for kind in ("decode", "encode"):
                seconds = vae_work(vae, pixels, kind).seconds(device)
                record["points"][f"vae_{kind}"].append([pixels / 1e6, seconds])
    # loading: reading the weights at disk speed, and importing torch and diffusers
    weights = sum(f.stat().st_size for f in folder.rglob("*.safetensors"))
    record["load_s"] = 3.0 + weights / 5e8
    return record


def rough_video_rates(backend: Any, settings: Any, calls: Any) -> dict[str, Any] | None:
    """A video model's rates record (see `cost_video.rates`) worked out from its files at the
    chunk shapes of `calls`, with `source` "rough"; None where the files are not here. A
    chunk's evaluation is the transformer over its latent tokens; its fixed cost the text
    encoder's and the VAE's (control video encoded, result decoded) over every frame."""
    from shotcraft import cost_video

    folder = backend.folder
    denoiser = folder / "transformer" if folder is not None else None
    if denoiser is None or not tensor_shapes(denoiser):
        return None
    device = cost.guess_device(backend.device_request)
    m = backend.rules.size_multiple
    record: dict[str, Any] = {
        "kind": cost_video.KIND,
        "model": backend.model,
        "family": backend.family,
        "source": "rough",
        "device": device,
        "token_pixels": m * m,
        "frame_factor": backend.rules.frame_factor,
        "points": {p: [] for p in cost_video.PARTS},
    }
    cfg = 2.0 if settings.guidance > 1.0 else 1.0
    text = text_work(folder).seconds(device) * cfg
    vae = folder / "vae"
    for c in calls:
        x = cost_video.tokens(record, c)
        step = denoiser_work(denoiser, x * 1e3, patched=True).seconds(device)
        pixels = float(c.size[0] * c.size[1])
        per_frame = sum(vae_work(vae, pixels, k).seconds(device) for k in ("decode", "encode"))
        record["points"]["chunk_step"].append([x, step])
        record["points"]["chunk_call"].append([x, text + c.frames * per_frame])
    weights = sum(f.stat().st_size for f in folder.rglob("*.safetensors"))
    record["load_s"] = 3.0 + weights / 5e8
    return record
