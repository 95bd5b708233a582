"""DDP / FSDP2 wrapping, activation checkpointing and torch.compile (joining the process group itself is
``tokenshuffle.process_group``, shared with ``train-vq``).

Everything here is applied to a built model from the outside; the model files know nothing of it.
The wrapped unit is ``LossModule`` (model + loss), so the whole loss, heads included, runs inside the
wrapper's forward: DDP sees every parameter used there and FSDP2's root gathers the heads' weights.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.process_group import DistInfo, any_rank, barrier, setup, teardown  # noqa: F401 (re-exported)
from tokenshuffle.sequence import Batch
from tokenshuffle.train.config import TrainConfig
from tokenshuffle.train.step import LossConfig, lm_loss


def all_mean(values: list[float], info: DistInfo) -> list[float]:
    """Average floats over ranks (every rank gets the same list back)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return (t / info.world_size).tolist()


def nonfinite_names(lm: TokenShuffleLM, optimizer: torch.optim.Optimizer) -> list[str]:
    """Parameters whose local weights (this rank's shard under FSDP) or optimiser moments hold NaN/inf."""
    bad = []
    for name, p in lm.named_parameters():
        tensors = [p, *(v for v in optimizer.state.get(p, {}).values() if isinstance(v, torch.Tensor))]
        for t in tensors:
            local = t.to_local() if hasattr(t, "to_local") else t
            if local.is_floating_point() and not torch.isfinite(local).all():
                bad.append(name)
                break
    return bad


class LossModule(nn.Module):
    """lm + loss in one forward: Batch -> (loss, metrics)."""

    def __init__(self, lm: TokenShuffleLM, loss: LossConfig) -> None:
        super().__init__()
        self.lm = lm
        self.loss = loss

    def forward(self, batch: Batch):
        return lm_loss(self.lm, batch, loss=self.loss)


def _checkpointed(forward, *args, **kwargs):
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def apply_activation_checkpointing(lm: TokenShuffleLM) -> None:
    """Recompute each decoder block in backward; the block's parameter names stay unchanged."""
    for block in lm.decoder.layers:
        block.forward = functools.partial(_checkpointed, block.forward)


def apply_compile(lm: TokenShuffleLM) -> None:
    """Compile block by block (one graph reused by every layer; names and state dicts unchanged)."""
    for block in lm.decoder.layers:
        block.compile()


def uses_fsdp(cfg: TrainConfig, info: DistInfo) -> bool:
    if cfg.parallel == "fsdp":
        return True
    return cfg.parallel == "auto" and info.device.type == "cuda" and info.enabled


def wrap(lm: TokenShuffleLM, cfg: TrainConfig, info: DistInfo) -> nn.Module:
    """Build the trained unit: checkpointing, compile, then FSDP2 (per block + root) or DDP."""
    if cfg.activation_checkpointing:
        apply_activation_checkpointing(lm)
    if cfg.compile:
        apply_compile(lm)
    module = LossModule(lm, LossConfig(z_loss_weight=cfg.z_loss_weight, text_loss_weight=cfg.text_loss_weight,
                                        contrast_weight=cfg.contrast_weight, contrast_margin=cfg.contrast_margin,
                                        colour_weight=cfg.colour_weight))
    if uses_fsdp(cfg, info):
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = None
        if resolve_dtype(cfg, info) == torch.bfloat16:
            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        kwargs = {"mp_policy": mp} if mp is not None else {}
        for block in lm.decoder.layers:
            fully_shard(block, **kwargs)
        fully_shard(module, **kwargs)
        return module
    if info.enabled:
        ids = [info.device.index] if info.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)
    return module


def resolve_dtype(cfg: TrainConfig, info: DistInfo) -> torch.dtype:
    if cfg.precision == "bf16" or (cfg.precision == "auto" and info.device.type == "cuda"):
        return torch.bfloat16
    return torch.float32


def full_model_state(lm: TokenShuffleLM, info: DistInfo, *, fsdp: bool) -> dict[str, torch.Tensor]:
    """The whole model's weights on CPU (a collective under FSDP: every rank must call it)."""
    if not fsdp:
        return {k: v.detach().cpu().clone() for k, v in lm.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(lm, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def full_optim_state(lm: TokenShuffleLM, optimizer: torch.optim.Optimizer, *, fsdp: bool) -> dict:
    """{"state": {param name: {moment: tensor}}, "param_groups": [{..., "params": [names]}]}."""
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        sd = get_optimizer_state_dict(lm, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        # With cpu_offload only rank 0 receives the gathered state; the others get {} (and write nothing).
        return {"state": sd.get("state", {}), "param_groups": _json_groups(sd.get("param_groups", []))}
    names = {id(p): n for n, p in lm.named_parameters()}
    sd = optimizer.state_dict()
    order = [names[id(p)] for g in optimizer.param_groups for p in g["params"]]
    state = {order[i]: {k: v.detach().cpu().clone() for k, v in s.items()} for i, s in sd["state"].items()}
    groups = [{**g, "params": [order[i] for i in g["params"]]} for g in sd["param_groups"]]
    return {"state": state, "param_groups": _json_groups(groups)}


def load_optim_state(lm: TokenShuffleLM, optimizer: torch.optim.Optimizer, state: dict, *, fsdp: bool) -> None:
    groups = [{**g, "betas": tuple(g["betas"])} for g in state["param_groups"]]
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(lm, optimizer, {"state": state["state"], "param_groups": groups},
                                 options=StateDictOptions(full_state_dict=True))
        return
    names = {id(p): n for n, p in lm.named_parameters()}
    order = [names[id(p)] for g in optimizer.param_groups for p in g["params"]]
    saved = [n for g in groups for n in g["params"]]
    if saved != order:
        raise ValueError("checkpoint optimiser state names different parameters than this model (foreign checkpoint)")
    index = {n: i for i, n in enumerate(order)}
    device = next(lm.parameters()).device
    moments = {index[n]: {k: v if k == "step" else v.to(device) for k, v in m.items()}
               for n, m in state["state"].items()}
    optimizer.load_state_dict({"state": moments,
                               "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in groups]})


def _json_groups(groups: list[dict]) -> list[dict]:
    """Optimiser hyper-parameters as JSON values (tensors such as a tensor lr become floats)."""
    out = []
    for g in groups:
        clean = {}
        for k, v in g.items():
            if isinstance(v, torch.Tensor):
                v = v.item()
            elif isinstance(v, tuple):
                v = list(v)
            clean[k] = v
        out.append(clean)
    return out
