"""Reading weights saved before the fused projections: ``wq``, ``wk``, ``wv`` became one ``wqkv`` and the
SwiGLU's ``w1`` and ``w3`` one ``w13`` (one matrix product each in a decode step instead of three and two)."""

from __future__ import annotations

from collections.abc import Callable

import torch

# fused name -> the names it replaces, in the order their rows are stacked
FUSED = {
    "attention.wqkv": ("attention.wq", "attention.wk", "attention.wv"),
    "feed_forward.w13": ("feed_forward.w1", "feed_forward.w3"),
}


def fuse_legacy_names(state: dict, *, join: Callable[[list], object] = torch.cat) -> dict:
    """A state keyed by parameter name (weights, or optimiser moments with a ``join`` for them) with every
    old ``...attention.wq/wk/wv.weight`` and ``...feed_forward.w1/w3.weight`` group stacked under its fused
    name; anything else, and a state already fused, comes back unchanged."""
    out = dict(state)
    for key in state:
        for fused, parts in FUSED.items():
            tail = parts[0] + ".weight"
            if not key.endswith(tail):
                continue
            prefix = key[: -len(tail)]
            names = [f"{prefix}{p}.weight" for p in parts]
            if all(n in out for n in names):
                out[f"{prefix}{fused}.weight"] = join([out.pop(n) for n in names])
    return out


def join_moments(moments: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Adam's moments are elementwise, so the fused parameter's are the parts' stacked; a scalar (the step
    count) is the same for every part."""
    return {k: torch.cat([m[k] for m in moments]) if moments[0][k].dim() else moments[0][k] for k in moments[0]}


def fuse_legacy_list(names: list[str]) -> list[str]:
    """Parameter names in model order with each old group replaced by its fused name at its first part's place."""
    out = []
    for n in names:
        for fused, parts in FUSED.items():
            hit = next((p for p in parts if n.endswith(f"{p}.weight")), None)
            if hit is not None:
                if hit == parts[0]:
                    out.append(f"{n[: -len(hit + '.weight')]}{fused}.weight")
                break
        else:
            out.append(n)
    return out
