"""Reconstruction quality of a VQ tokenizer on held-out images: PSNR, SSIM, codebook usage, perplexity.

PSNR and SSIM (``tokenshuffle.image_metrics``) compare the original 8-bit image with the
reconstruction rounded to 8 bits (what a user would save), per image, then averaged. Usage is the
share of codebook entries that occur at least once over the whole held-out set; perplexity is
exp(entropy) of the code histogram (equal to the codebook size when all codes are equally used).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from tqdm import tqdm

from tokenshuffle.errors import check_range
from tokenshuffle.image_metrics import psnr, ssim


def code_stats(counts: torch.Tensor) -> dict:
    """Usage (% of codes seen) and perplexity from a (K,) histogram of code occurrences."""
    total = counts.sum().clamp_min(1)
    p = counts.double() / total
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    return {
        "codebook_usage_pct": 100.0 * (counts > 0).float().mean().item(),
        "perplexity": math.exp(entropy),
        "num_codes_used": int((counts > 0).sum()),
        "codebook_size": int(counts.numel()),
    }


@torch.no_grad()
def evaluate_recon(vq, data, *, size: int | None = None, num_images: int | None = None, batch_size: int = 16,
                   scene_score: bool = False, device: str | torch.device | None = None,
                   progress: bool = True) -> dict:
    """Encode -> decode every image of the folder ``data`` with the tokenizer ``vq`` (a folder or a
    ``VQTokenizer``); returns PSNR/SSIM (mean over images), usage and perplexity, and with
    ``scene_score`` the scene evaluator's accuracy on the reconstructions."""
    from tokenshuffle.data.folder import ImageCaptionFolder
    from tokenshuffle.vq.autoencoder import VQTokenizer
    from tokenshuffle.vq.data import to_float, to_uint8

    check_range("batch_size", batch_size, low=1)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = vq if isinstance(vq, VQTokenizer) else VQTokenizer.from_pretrained(vq, device=device)
    model = model.to(device).eval()
    dataset = ImageCaptionFolder(data, size=size)
    total = len(dataset) if num_images is None else min(num_images, len(dataset))
    if total == 0:
        raise ValueError(f"--data {data}: no images to evaluate")
    counts = torch.zeros(model.codebook_size, dtype=torch.long)
    psnrs, ssims, recons, metas, sizes = [], [], [], [], set()
    bar = tqdm(total=total, desc="eval recon", unit="img", disable=not progress)
    for start in range(0, total, batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, total))]
        by_size: dict[tuple, list[dict]] = {}
        for item in items:  # folders may mix sizes; batch only equal ones
            by_size.setdefault(tuple(item["image"].shape), []).append(item)
        for shape, group in by_size.items():
            sizes.add(f"{shape[1]}x{shape[2]}")
            target = torch.stack([it["image"] for it in group])  # (b, 3, H, W) uint8
            codes = model.encode(to_float(target).to(device))
            recon = to_uint8(model.decode(codes)).cpu()
            counts += torch.bincount(codes.flatten().cpu(), minlength=model.codebook_size)
            psnrs.append(psnr(recon, target, data_range=255))
            ssims.append(ssim(recon, target, data_range=255))
            if scene_score:
                recons.extend(recon)
                metas.extend(it["metadata"] for it in group)
        bar.update(len(items))
    bar.close()
    result = {
        "num_images": total,
        "image_sizes": sorted(sizes),
        "psnr": torch.cat(psnrs).mean().item(),
        "ssim": torch.cat(ssims).mean().item(),
        **code_stats(counts),
        "num_tokens": int(counts.sum()),
        "downsample": model.downsample,
        "vq": str(vq) if not isinstance(vq, VQTokenizer) else None,
        "data": str(Path(data)),
    }
    if scene_score:
        result["scenes"] = _scene_score(recons, metas, progress=progress)
    return result


def _scene_score(recons: list[torch.Tensor], metas: list[dict], *, progress: bool) -> dict:
    from tokenshuffle.eval.scenes import evaluate

    if not metas or not all("tag" in m for m in metas):
        raise ValueError("--scene-score needs scene metadata (a 'tag' per image) in the data folder's captions.jsonl")
    lines = [{k: v for k, v in m.items() if k not in ("file", "source", "license")} for m in metas]
    scores = evaluate(recons, lines, progress=progress)
    return {"overall": scores["overall"], "per_task": scores["per_task"], "num_images": scores["num_images"]}


def format_report(result: dict) -> str:
    lines = [
        f"images      {result['num_images']} ({', '.join(result['image_sizes'])})",
        f"PSNR        {result['psnr']:.2f} dB",
        f"SSIM        {result['ssim']:.4f}",
        f"usage       {result['codebook_usage_pct']:.1f} % "
        f"({result['num_codes_used']}/{result['codebook_size']} codes)",
        f"perplexity  {result['perplexity']:.1f}",
    ]
    if "scenes" in result:
        s = result["scenes"]
        lines.append(f"scenes      {s['overall']:.4f} overall on reconstructions ("
                     + ", ".join(f"{t} {a:.3f}" for t, a in s["per_task"].items()) + ")")
    return "\n".join(lines)
