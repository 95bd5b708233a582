"""What each code of a tokenizer draws, as a colour and a shape: the features of ``LMConfig.code_factors``.

A VQ code of a flat-colour image stands for one colour *and* one piece of outline at once (a blue arc,
a red corner), so a decoder that learns a table row per code learns every colour-shape pair apart, and a
pair it never saw has no row that was ever a target. These features split each code into what it is
made of: a one-hot colour class (the palette colour most of its patches' foreground is nearest to, or a
class of its own for a code with no foreground) and its foreground mask pooled to a coarse grid. A
decoder that embeds and scores codes linearly in them (``model.code_factors.CodeFactors``) shares one
outline across every colour that draws it.

They are measured on images, not read off the decoder: a code decoded alone in a grey field does not
draw its colour (the decoder leans on the codes around it), while the patches the encoder maps to a code
say exactly what it stands for. A code no image uses has no features (a row of zeros).
"""

from __future__ import annotations

import torch

from tokenshuffle.errors import check_range


@torch.no_grad()
def palette_factors(vq, images, *, palette: dict[str, tuple[int, int, int]], background: float = 128.0,
                    threshold: float = 24.0, pool: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """-> ((V, C + 1 + (f/pool)²) float features of every code of ``vq`` (f its downsample factor), (V,) how
    many patches each code took), measured on ``images``, an iterable of (B, 3, H, W) uint8 batches.

    Columns: one-hot over the ``palette`` colours (C) and "no foreground", by majority over the code's
    patches; then the mean over its patches of the fraction of each ``pool`` x ``pool`` pixel block whose
    pixels lie more than ``threshold`` levels (any channel, 0-255) from ``background``. Unused codes: zeros.
    """
    f = vq.downsample
    check_range("pool", pool, low=1, high=f)
    if f % pool:
        raise ValueError(f"pool={pool} must divide the tokenizer's downsample factor {f}")
    if not palette:
        raise ValueError("palette: need at least one colour")
    device = next(vq.parameters()).device
    colours = torch.tensor(list(palette.values()), dtype=torch.float32)  # (C, 3)
    V, C, cells = vq.codebook_size, len(palette), (f // pool) ** 2
    votes = torch.zeros(V, C + 1)
    masks = torch.zeros(V, cells)
    for batch in images:
        codes = vq.encode(batch.to(device).float() / 127.5 - 1.0).cpu().flatten()  # (B h w,)
        h, w = batch.shape[2] // f, batch.shape[3] // f
        patch = batch.float().unflatten(2, (h, f)).unflatten(4, (w, f)).permute(0, 2, 4, 1, 3, 5)  # (B,h,w,3,f,f)
        patch = patch.reshape(-1, 3, f, f)  # (B h w, 3, f, f)
        fg = (patch - background).abs().amax(1) > threshold  # (N, f, f)
        count = fg.sum((1, 2))  # (N,)
        mean = (patch * fg[:, None]).sum((2, 3)) / count.clamp(min=1)[:, None]  # (N, 3) foreground colour
        klass = torch.where(count > 0, torch.cdist(mean, colours).argmin(1), torch.full_like(count, C))
        votes.index_put_((codes, klass), torch.ones(len(codes)), accumulate=True)
        masks.index_add_(0, codes, torch.nn.functional.avg_pool2d(fg[:, None].float(), pool).flatten(1))
    seen = votes.sum(1)  # (V,)
    onehot = torch.nn.functional.one_hot(votes.argmax(1), C + 1).float() * (seen > 0)[:, None]  # (V, C + 1)
    return torch.cat([onehot, masks / seen.clamp(min=1)[:, None]], dim=1), seen  # (V, F), (V,)
