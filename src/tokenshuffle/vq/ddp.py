"""``train-vq`` under torchrun: join the process group, average gradients, keep the codebook in step.

Gradients are averaged by hand (one flattened all-reduce per module) rather than by wrapping the
tokenizer in DistributedDataParallel: the VQ step runs the model with the quantizer bypassed during
warm-up, freezes parts of it in fine-tuning stages and calls the discriminator several times before
one backward, all of which DDP's reducer rejects or needs special flags for. The codebook is moved
outside the optimiser (k-means start, dead-code restart) from each rank's own latents, so rank 0
decides and broadcasts; the usage counts that decide which codes are dead are summed over ranks.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class VQDist:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str | torch.device | None) -> VQDist:
    """A plain run is rank 0 of 1; under torchrun, join the group (gloo on CPU, NCCL on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None and world > 1:
        dev = torch.device("cuda", local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=datetime.timedelta(minutes=30))
    return VQDist(rank=rank, world_size=world, device=dev)


def teardown() -> None:
    """Leave the group once every rank got here: a rank that tears gloo down while another is still in a
    collective can abort the process at exit ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(info: VQDist) -> None:
    if info.enabled:
        dist.barrier()


def average_gradients(params: list[nn.Parameter], info: VQDist) -> None:
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


def all_sum_(tensor: torch.Tensor, info: VQDist) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(tensor)
    return tensor


def any_rank(flag: bool, info: VQDist) -> bool:
    """True on every rank when it is true on one (a stop signal one rank received)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def broadcast_module(module: nn.Module | None, info: VQDist, *, buffers_only: bool = False) -> None:
    """Every rank takes rank 0's parameters and buffers (after a change only rank 0 made). With
    ``buffers_only``, as DDP does each step: the discriminator's BatchNorm statistics, which each rank
    gathers from its own images."""
    if module is None or not info.enabled:
        return
    with torch.no_grad():
        for t in ([] if buffers_only else list(module.parameters())) + list(module.buffers()):
            dist.broadcast(t.data, src=0)
