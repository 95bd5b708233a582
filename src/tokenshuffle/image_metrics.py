"""Image similarity, one definition each: PSNR and SSIM of (B, C, H, W) images, per image.

``data_range`` is the span of the pixel values: 255 for uint8 images, 2 for the [-1, 1] floats the
tokenizers work in. SSIM is Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03,
per channel, valid positions only, averaged over channels and positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(recon: torch.Tensor, target: torch.Tensor, *, data_range: float) -> torch.Tensor:
    """(B,) PSNR in dB; identical images give about 100 dB (the MSE is floored at 1e-10 of the range²)."""
    mse = (recon.float() - target.float()).pow(2).flatten(1).mean(1) / data_range**2
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()  # (size, size)


def ssim(recon: torch.Tensor, target: torch.Tensor, *, data_range: float) -> torch.Tensor:
    """(B,) SSIM; images are scaled to a range of 1 first, so the constants are K1² and K2²."""
    x, y = recon.float() / data_range, target.float() / data_range
    C = x.shape[1]
    w = _gaussian_window().to(x.device).expand(C, 1, 11, 11)  # depthwise (C, 1, 11, 11)

    def blur(t):
        return F.conv2d(t, w, groups=C)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)
