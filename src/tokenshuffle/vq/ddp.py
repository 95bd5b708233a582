"""``train-vq`` under torchrun: join the process group, average gradients, keep the codebook in step.

Gradients are averaged by hand (one flattened all-reduce per module) rather than by wrapping the
tokenizer in DistributedDataParallel: the VQ step runs the model with the quantizer bypassed during
warm-up, freezes parts of it in fine-tuning stages and calls the discriminator several times before
one backward, all of which DDP's reducer rejects or needs special flags for. The codebook is moved
outside the optimiser (k-means start, dead-code restart) from each rank's own latents, so rank 0
decides and broadcasts; the usage counts that decide which codes are dead are summed over ranks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from tokenshuffle.process_group import DistInfo, any_rank, barrier, setup, teardown  # noqa: F401 (re-exported)


def average_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """Mean of each gradient over ranks, in one all-reduce per dtype. A parameter without a gradient
    (the codebook while the quantizer is bypassed) has none on every rank, as every rank runs the same
    graph, and is left without one so the optimiser skips it as in a single process."""
    if not info.enabled:
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None:
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    for grads in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of numels,)
        dist.all_reduce(flat)
        flat /= info.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def all_sum_(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(tensor)
    return tensor


def broadcast_module(module: nn.Module | None, info: DistInfo, *, buffers_only: bool = False) -> None:
    """Every rank takes rank 0's parameters and buffers (after a change only rank 0 made). With
    ``buffers_only``, as DDP does each step: the discriminator's BatchNorm statistics, which each rank
    gathers from its own images."""
    if module is None or not info.enabled:
        return
    with torch.no_grad():
        for t in ([] if buffers_only else list(module.parameters())) + list(module.buffers()):
            dist.broadcast(t.data, src=0)
