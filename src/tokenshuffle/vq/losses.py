"""Training losses for the VQ tokenizer: reconstruction, PatchGAN discriminator, hinge GAN loss.

No perceptual (LPIPS) loss: it needs downloaded VGG weights. The discriminator is the PatchGAN of
Isola et al. (2017) as used by taming-transformers and LlamaGen: strided 4x4 convs, BatchNorm,
LeakyReLU(0.2), one logit per overlapping patch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, *, l1_weight: float = 1.0,
                        l2_weight: float = 1.0) -> torch.Tensor:
    """``l1_weight * |x - x'| + l2_weight * (x - x')^2``, each averaged over all pixels."""
    recon, target = recon.float(), target.float()
    return l1_weight * F.l1_loss(recon, target) + l2_weight * F.mse_loss(recon, target)


class PatchDiscriminator(nn.Module):
    def __init__(self, *, channels: int = 64, num_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = channels
        for i in range(1, num_layers + 1):
            out = channels * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers += [
                nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            # DCGAN init (Radford et al., 2016), as in taming's NLayerDiscriminator.
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1, H', W') patch logits."""
        return self.net(images)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))), halved."""
    return 0.5 * (F.relu(1.0 - logits_real.float()).mean() + F.relu(1.0 + logits_fake.float()).mean())


def hinge_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge GAN: -mean(D(G(z)))."""
    return -logits_fake.float().mean()
