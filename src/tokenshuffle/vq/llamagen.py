"""Import LlamaGen VQ tokenizer checkpoints (github.com/FoundationVision/LlamaGen).

LlamaGen's VQModel names its parameters ``encoder.conv_blocks.{level}.res.{block}.conv1``,
``encoder.conv_blocks.{level}.attn.{block}.proj_out``, ``encoder.mid.{0,1,2}``,
``quant_conv``, ``quantize.embedding.weight``, ``post_quant_conv`` and
``decoder.conv_blocks.{k}...`` where the decoder's list runs from the lowest resolution up (its
``k`` is our ``num_levels - 1 - level``). The architecture is otherwise the same as ours, so
conversion is a pure renaming, generated here from our own parameter names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from tokenshuffle.serialization import load_state_strict
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig

# Buffers LlamaGen keeps for logging only (a rolling window of recently used code indices).
_IGNORED = ("quantize.codebook_used",)

_SUBMODULE = {"skip": "nin_shortcut", "proj": "proj_out"}
_MID = {"block1": "0", "attn": "1", "block2": "2"}
_TOP = {
    "quant_proj": "quant_conv",
    "post_quant_proj": "post_quant_conv",
    "quantizer.codebook": "quantize.embedding",
}


def to_llamagen_key(key: str, *, num_levels: int) -> str:
    """Our parameter name -> LlamaGen's, e.g. ``decoder.levels.0.blocks.1.skip.weight`` ->
    ``decoder.conv_blocks.4.res.1.nin_shortcut.weight`` for a 5-level model."""
    for ours, theirs in _TOP.items():
        if key.startswith(ours + "."):
            return theirs + key[len(ours):]
    part, rest = key.split(".", 1)  # "encoder" | "decoder"
    m = re.fullmatch(r"levels\.(\d+)\.(blocks|attns|resample)\.(.*)", rest)
    if m:
        level, kind, tail = int(m.group(1)), m.group(2), m.group(3)
        index = level if part == "encoder" else num_levels - 1 - level
        if kind == "resample":
            return f"{part}.conv_blocks.{index}.{'downsample' if part == 'encoder' else 'upsample'}.{tail}"
        block, tail = tail.split(".", 1)
        name, leaf = tail.split(".", 1)
        sub = "res" if kind == "blocks" else "attn"
        return f"{part}.conv_blocks.{index}.{sub}.{block}.{_SUBMODULE.get(name, name)}.{leaf}"
    m = re.fullmatch(r"mid\.(block1|attn|block2)\.([a-z_0-9]+)\.(.*)", rest)
    if m:
        name = m.group(2)
        return f"{part}.mid.{_MID[m.group(1)]}.{_SUBMODULE.get(name, name)}.{m.group(3)}"
    return key  # conv_in, norm_out, conv_out keep their names


def llamagen_key_map(config: VQConfig) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every parameter of a model with ``config``: our name -> (LlamaGen name, shape)."""
    with torch.device("meta"):
        model = VQTokenizer(config)
    num_levels = len(config.channel_mult)
    return {k: (to_llamagen_key(k, num_levels=num_levels), tuple(v.shape)) for k, v in model.state_dict().items()}


def to_llamagen_state_dict(model: VQTokenizer) -> dict[str, torch.Tensor]:
    """Our weights under LlamaGen's names (what its ``VQModel.load_state_dict`` accepts, minus
    its logging buffer ``quantize.codebook_used``)."""
    num_levels = len(model.config.channel_mult)
    return {to_llamagen_key(k, num_levels=num_levels): v for k, v in model.state_dict().items()}


def infer_config(state: dict[str, torch.Tensor], *, l2_norm: bool = True) -> VQConfig:
    """Read the architecture off a LlamaGen state dict's shapes (GroupNorm(32) as in LlamaGen)."""
    need = ("encoder.conv_in.weight", "encoder.conv_out.weight", "quantize.embedding.weight")
    absent = [k for k in need if k not in state]
    if absent:
        raise ValueError(f"not a LlamaGen VQ state dict: missing keys {absent}")
    base = state["encoder.conv_in.weight"].shape[0]
    levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.conv_blocks\.(\d+)\.", k))})
    mult = [state[f"encoder.conv_blocks.{i}.res.0.conv1.weight"].shape[0] // base for i in levels]
    num_res = len({m.group(1) for k in state if (m := re.match(r"encoder\.conv_blocks\.0\.res\.(\d+)\.", k))})
    codebook_size, codebook_dim = state["quantize.embedding.weight"].shape
    return VQConfig(
        base_channels=base,
        channel_mult=tuple(mult),
        num_res_blocks=num_res,
        z_channels=state["encoder.conv_out.weight"].shape[0],
        codebook_size=codebook_size,
        codebook_dim=codebook_dim,
        l2_norm=l2_norm,
        norm_groups=32,
    )


def from_llamagen_state_dict(
    state: dict[str, torch.Tensor], *, config: VQConfig | None = None, l2_norm: bool = True
) -> VQTokenizer:
    """Build a VQTokenizer from LlamaGen-named weights. Missing or unexpected keys raise a
    ValueError listing them."""
    state = {k: v for k, v in state.items() if k not in _IGNORED}
    config = config or infer_config(state, l2_norm=l2_norm)
    mapping = {theirs: ours for ours, (theirs, _) in llamagen_key_map(config).items()}
    missing = sorted(set(mapping) - set(state))
    unexpected = sorted(set(state) - set(mapping))
    if missing or unexpected:
        raise ValueError(
            f"LlamaGen checkpoint does not match {config}: missing keys {missing}; unexpected keys {unexpected}"
        )
    model = VQTokenizer(config)
    load_state_strict(model, {mapping[k]: v.float() for k, v in state.items()})
    return model.eval()


def load_llamagen_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A LlamaGen ``.pt`` file: ``{"model": state_dict, ...}`` (training checkpoints also hold the
    optimizer and discriminator, which are dropped) or a bare state dict. Never unpickles code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LlamaGen checkpoint {path} does not exist")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} holds neither a state dict nor {{'model': state_dict}}")
    return obj


def convert_llamagen(path: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = None) -> Path:
    """Convert a LlamaGen VQ checkpoint into our folder format (config.json + model.safetensors)."""
    config = VQConfig.preset(preset) if preset else None
    model = from_llamagen_state_dict(load_llamagen_checkpoint(path), config=config)
    return model.save_pretrained(out)
