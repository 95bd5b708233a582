"""Nearest-neighbour vector quantizer with optional l2-normalised codes (LlamaGen / ViT-VQGAN).

With ``l2_norm`` both the latents and the codebook rows are projected onto the unit sphere before
the nearest code is picked, which is what lets LlamaGen use an 8-dimensional code at 16384 entries
with high usage (Yu et al., 2022, "Vector-quantized Image Modeling with Improved VQGAN", sec. 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Distances are computed for this many latents at a time so a large image never materialises a
# (num_latents x codebook_size) matrix bigger than ~256 MB at 16384 codes.
_CHUNK = 4096


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, D, h, w) straight-through code vectors
    codes: torch.Tensor  # (B, h, w) long
    codebook_loss: torch.Tensor  # ||sg(z) - e||^2, moves the codes
    commitment_loss: torch.Tensor  # beta * ||z - sg(e)||^2, moves the encoder
    latents: torch.Tensor  # (B*h*w, D) the (normalised) latents that were quantized, detached


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size: int, dim: int, *, l2_norm: bool = True, beta: float = 0.25):
        super().__init__()
        self.codebook_size = codebook_size
        self.dim = dim
        self.l2_norm = l2_norm
        self.beta = beta
        self.codebook = nn.Embedding(codebook_size, dim)
        # LlamaGen's init: small uniform, then onto the sphere when codes are normalised.
        with torch.no_grad():
            self.codebook.weight.uniform_(-1.0 / codebook_size, 1.0 / codebook_size)
            if l2_norm:
                self.codebook.weight.copy_(F.normalize(self.codebook.weight, dim=-1))

    def embeddings(self) -> torch.Tensor:
        w = self.codebook.weight.float()
        return F.normalize(w, dim=-1) if self.l2_norm else w

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of ``flat`` (N, D) -> (N,) long."""
        emb = self.embeddings()
        emb_sq = emb.pow(2).sum(1)  # (K,)
        out = []
        for chunk in flat.split(_CHUNK):
            # ||z||^2 + ||e||^2 - 2 z.e, the same expansion (and tie-breaking) as LlamaGen.
            dist = chunk.pow(2).sum(1, keepdim=True) + emb_sq - 2.0 * chunk @ emb.t()  # (n, K)
            out.append(dist.argmin(1))
        return torch.cat(out) if out else flat.new_zeros(0, dtype=torch.long)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, h, w) codes -> (B, D, h, w) code vectors."""
        return self.embeddings()[codes].permute(0, 3, 1, 2).contiguous()  # (B, D, h, w)

    def forward(self, z: torch.Tensor, *, bypass: bool = False) -> QuantizerOutput:
        """Quantize ``z`` (B, D, h, w). With ``bypass`` the decoder gets the (normalised) latents
        themselves instead of their codes (used to warm the autoencoder up before the codebook is
        initialised from its latents); codes and losses are still computed."""
        # Distances and losses in fp32 even under bf16 autocast: argmin over 16k codes is
        # sensitive to rounding.
        with torch.autocast(device_type=z.device.type, enabled=False):
            B, D, h, w = z.shape
            z = z.float().permute(0, 2, 3, 1)  # (B, h, w, D)
            if self.l2_norm:
                z = F.normalize(z, dim=-1)
            flat = z.reshape(-1, D)  # (B*h*w, D)
            codes = self.nearest(flat.detach())
            z_q = self.embeddings()[codes].view(B, h, w, D)  # (B, h, w, D)
            codebook_loss = F.mse_loss(z_q, z.detach())
            commitment_loss = self.beta * F.mse_loss(z, z_q.detach())
            z_q = z if bypass else z + (z_q - z).detach()
            return QuantizerOutput(
                quantized=z_q.permute(0, 3, 1, 2).contiguous(),  # (B, D, h, w)
                codes=codes.view(B, h, w),
                codebook_loss=codebook_loss,
                commitment_loss=commitment_loss,
                latents=flat.detach(),
            )

    @torch.no_grad()
    def init_from_latents(self, latents: torch.Tensor, *, generator: torch.Generator, iters: int = 10) -> None:
        """Set the codebook to k-means centroids of ``latents`` (N, D) (spherical when codes are
        normalised). Centroids start by k-means++ seeding (each next start drawn with probability
        proportional to its squared distance from the nearest start); an empty cluster keeps its start."""
        if latents.shape[0] == 0:
            raise ValueError("k-means needs at least one latent, got none")
        x = latents.float()
        if x.shape[0] < self.codebook_size:  # too few latents: jittered copies fill the codebook
            reps = -(-self.codebook_size // x.shape[0])
            noise = torch.randn(reps * x.shape[0], x.shape[1], generator=generator, device=generator.device)
            x = x.repeat(reps, 1) + 0.01 * noise.to(x.device)
        n = x.shape[0]
        first = int(torch.randint(n, (1,), generator=generator, device=generator.device))
        picks = [first]
        nearest = (x - x[first]).pow(2).sum(1)  # (N,) squared distance to the nearest start so far
        for _ in range(self.codebook_size - 1):
            weights = nearest.clamp_min(1e-12).to(generator.device)
            i = int(torch.multinomial(weights, 1, generator=generator))
            picks.append(i)
            nearest = torch.minimum(nearest, (x - x[i]).pow(2).sum(1))
        centroids = x[picks].clone()  # (K, D)
        for _ in range(iters):
            emb_sq = centroids.pow(2).sum(1)
            assign = torch.cat([(emb_sq - 2.0 * c @ centroids.t()).argmin(1) for c in x.split(_CHUNK)])  # (N,)
            sums = torch.zeros_like(centroids).index_add_(0, assign, x)
            counts = torch.bincount(assign, minlength=self.codebook_size).unsqueeze(1)  # (K, 1)
            centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
            if self.l2_norm:
                centroids = F.normalize(centroids, dim=-1)
        self.codebook.weight.copy_(centroids.to(self.codebook.weight.dtype))

    @torch.no_grad()
    def restart_codes(self, dead: torch.Tensor, latents: torch.Tensor, *, generator: torch.Generator) -> int:
        """Move each dead code onto a randomly chosen recent latent (dead-code restart).

        ``dead`` is a (K,) bool mask, ``latents`` (N, D) encoder outputs from recent batches. A
        small noise keeps several restarted codes from landing on the same latent. Returns the
        number of codes moved.
        """
        idx = dead.nonzero().flatten()
        if idx.numel() == 0 or latents.shape[0] == 0:
            return 0
        pick = torch.randint(latents.shape[0], (idx.numel(),), generator=generator, device=generator.device)
        noise = torch.randn(idx.numel(), self.dim, generator=generator, device=generator.device)
        new = latents[pick.to(latents.device)].float() + 0.01 * noise.to(latents.device)
        if self.l2_norm:
            new = F.normalize(new, dim=-1)
        self.codebook.weight[idx] = new.to(self.codebook.weight.dtype)
        return int(idx.numel())
