"""Initialise TokenShuffleLM from a local Hugging Face Llama folder (config.json + *.safetensors).

Llama 1-3.x shapes load: plain RoPE or Llama 3.1's "llama3" frequency scaling, grouped-query
attention, tied embeddings (Llama-3.2-1B/3B store no lm_head; its output rows start as a copy of the
embedding). The folder's ``tokenizer.json`` becomes the text tokenizer (``train.loop.load_tokenizer``).

The decoder takes the Llama weights one to one (our RoPE pairs dimension i with i + hd/2, the
``transformers`` convention, so q/k need no permutation). The vocabulary grows: Llama's text tokens
keep their rows in the embedding and output layers; the new rows (PAD/BOS/SOI/EOI, grid tokens,
image codes) start at the mean of the text rows plus small noise, which keeps the initial output
distribution close to the pretrained one (Hewitt, 2021, "Initializing new word embeddings").
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from tokenshuffle.model.config import ROPE_SCALING_KEYS, LMConfig
from tokenshuffle.model.legacy import fuse_legacy_names
from tokenshuffle.model.lm import TokenShuffleLM

_LAYER_MAP = {
    "self_attn.q_proj": "attention.wq",
    "self_attn.k_proj": "attention.wk",
    "self_attn.v_proj": "attention.wv",
    "self_attn.o_proj": "attention.wo",
    "mlp.gate_proj": "feed_forward.w1",
    "mlp.up_proj": "feed_forward.w3",
    "mlp.down_proj": "feed_forward.w2",
    "input_layernorm": "attention_norm",
    "post_attention_layernorm": "ffn_norm",
}


def read_hf_config(folder: str | os.PathLike) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"init_hf_llama={folder}: no config.json (expected a Hugging Face Llama folder)")
    return json.loads(path.read_text())


def llama_lm_config(hf: dict, *, base: LMConfig) -> LMConfig:
    """``base`` (image vocabulary, grid sizes, shuffle window, sequence length) with Llama's decoder shape."""
    if hf.get("model_type") not in ("llama", None):
        raise ValueError(f"init_hf_llama: model_type {hf.get('model_type')!r} is not 'llama'")
    # transformers < 5 writes "rope_scaling" (None for plain RoPE), 5 and later "rope_parameters".
    rope = hf.get("rope_scaling") or hf.get("rope_parameters") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "llama3"):
        raise ValueError(f"init_hf_llama: rope type {rope_type!r} is not supported (only 'default' and 'llama3')")
    if hf.get("hidden_act", "silu") != "silu" or hf.get("attention_bias") or hf.get("mlp_bias"):
        raise ValueError("init_hf_llama: only silu activations without attention/MLP biases are supported")
    dim, heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, dim // heads):
        raise ValueError(f"init_hf_llama: head_dim {hf['head_dim']} != hidden_size / num_attention_heads")
    return dataclasses.replace(
        base,
        dim=dim,
        num_layers=hf["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        ffn_hidden=hf["intermediate_size"],
        norm_eps=hf.get("rms_norm_eps", 1e-6),
        rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        rope_scaling={"rope_type": "llama3", **{k: rope[k] for k in ROPE_SCALING_KEYS}} if rope_type == "llama3"
        else None,
        text_vocab_size=hf["vocab_size"],
    )


def map_llama_key(key: str) -> str | None:
    """Hugging Face Llama parameter name -> ours (None for buffers we recompute, e.g. rotary tables)."""
    if key.endswith("rotary_emb.inv_freq"):
        return None
    if key == "model.embed_tokens.weight":
        return "tok_embeddings.weight"
    if key == "lm_head.weight":
        return "output.weight"
    if key == "model.norm.weight":
        return "decoder.norm.weight"
    parts = key.split(".")
    if parts[:2] == ["model", "layers"] and parts[-1] == "weight":
        inner = ".".join(parts[3:-1])
        if inner in _LAYER_MAP:
            return f"decoder.layers.{parts[2]}.{_LAYER_MAP[inner]}.weight"
    raise ValueError(f"init_hf_llama: unexpected weight {key!r} in the Llama checkpoint")


def load_llama_state(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"init_hf_llama={folder}: no *.safetensors weights")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state


def _grow(rows: torch.Tensor, *, total: int, generator: torch.Generator) -> torch.Tensor:
    """(T, D) pretrained rows -> (total, D): new rows at the mean of the old ones plus 1e-3-scale noise."""
    rows = rows.float()
    T, D = rows.shape
    extra = rows.mean(0, keepdim=True) + 1e-3 * rows.std() * torch.randn(total - T, D, generator=generator)
    return torch.cat([rows, extra], dim=0)  # (total, D)


def lm_from_hf_llama(folder: str | os.PathLike, *, base: LMConfig, seed: int = 0) -> TokenShuffleLM:
    """A TokenShuffleLM whose decoder, text embeddings and text output rows are the Llama's."""
    config = llama_lm_config(read_hf_config(folder), base=base)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the new modules (shuffle MLPs) get their usual random init
        lm = TokenShuffleLM(config)
    own = lm.state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, value in load_llama_state(folder).items():
        ours = map_llama_key(key)
        if ours is not None:
            state[ours] = value
    state = fuse_legacy_names(state)  # q/k/v and gate/up stacked as our fused projections
    state.setdefault("output.weight", state.get("tok_embeddings.weight"))  # tied Llama embeddings
    generator = torch.Generator().manual_seed(seed)
    for name in ("tok_embeddings.weight", "output.weight"):
        state[name] = _grow(state[name], total=config.vocab_size, generator=generator)
    # QK-norm gains (absent from Llama) keep their identity init.
    missing = sorted(k for k in own if k.startswith(("decoder.", "tok_embeddings", "output")) and k not in state
                     and not k.endswith(("q_norm.weight", "k_norm.weight")))
    if missing:
        raise ValueError(f"init_hf_llama={folder}: the checkpoint lacks {missing[:5]}")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(f"init_hf_llama: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
        own[key].copy_(value.to(own[key].dtype))
    return lm
