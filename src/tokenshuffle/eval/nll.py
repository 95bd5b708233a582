"""Held-out negative log-likelihood in bits per image token (``tokenshuffle eval nll``).

Every held-out item is scored once with its caption (no dropout); the figure is the mean over all
image tokens, so it is comparable across shuffle windows (each window's s² codes are all counted).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tokenshuffle.errors import check_range
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.train.batches import CodeSource
from tokenshuffle.train.step import Batch, lm_loss, make_batch


@dataclass(frozen=True)
class NLLConfig:
    num_samples: int = 256
    batch_size: int = 16

    def __post_init__(self) -> None:
        check_range("num_samples", self.num_samples, low=1)
        check_range("batch_size", self.batch_size, low=1)


@torch.no_grad()
def heldout_nll(
    lm: TokenShuffleLM,
    source: CodeSource,
    *,
    tokenizer,
    config: NLLConfig = NLLConfig(),
    forward: Callable[[Batch], tuple[torch.Tensor, dict]] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict:
    """-> {"bits_per_token", "image_ce", "num_samples", "num_tokens"} over the first items of ``source``.

    ``forward`` (Batch -> (loss, metrics)) lets a training loop score through its DDP/FSDP wrapper.
    """
    num = min(config.num_samples, source.num_samples or config.num_samples)
    forward = forward or (lambda b: lm_loss(lm, b))
    device = lm.output.weight.device
    was_training = lm.training
    lm.eval()
    total_ce, total_tokens = 0.0, 0
    try:
        for start in range(0, num, config.batch_size):
            indices = list(range(start, min(num, start + config.batch_size)))
            captions, codes = source.get(indices)
            batch = make_batch([tokenizer.encode(c) for c in captions], codes, lm=lm).to(device)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                enabled=autocast_dtype is not None):
                _, metrics = forward(batch)
            tokens = codes.numel()
            total_ce += metrics["image_ce"] * tokens
            total_tokens += tokens
    finally:
        lm.train(was_training)
    ce = total_ce / total_tokens
    return {"bits_per_token": ce / math.log(2), "image_ce": ce, "num_samples": num, "num_tokens": total_tokens}


def run_eval_nll(args) -> int:
    """CLI body: load the LM and the held-out data named by ``args``, print (and optionally save) the NLL."""
    from pathlib import Path

    from tokenshuffle.text import ByteTokenizer, load_text_tokenizer
    from tokenshuffle.train.batches import SceneCodes, ShardCodes
    from tokenshuffle.train.checkpoint import load_lm

    config = NLLConfig(num_samples=args.num_samples, batch_size=args.batch_size)
    lm = load_lm(args.model).eval()
    tok_path = args.text_tokenizer or next(
        (str(p) for p in (Path(args.model) / "text_tokenizer.json", Path(args.model).parent / "text_tokenizer.json")
         if p.is_file()), "")
    tokenizer = load_text_tokenizer(tok_path) if tok_path else ByteTokenizer()
    if args.data == "scenes":
        if not args.vq:
            raise ValueError("--data scenes encodes held-out scenes on the fly and needs --vq DIR")
        from tokenshuffle.vq import VQTokenizer

        source = SceneCodes(VQTokenizer.from_pretrained(args.vq), height=args.height, width=args.width,
                            seed=args.seed, num_samples=config.num_samples)
    else:
        source = ShardCodes(args.data)
    result = heldout_nll(lm, source, tokenizer=tokenizer, config=config)
    print(f"held-out NLL: {result['bits_per_token']:.4f} bits per image token "
          f"({result['num_samples']} images, {result['num_tokens']} tokens)")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(args.model), "data": args.data, **result}, indent=2) + "\n")
    return 0


def add_nll_parser(sub) -> None:
    """Register ``eval nll`` on the eval group's subparsers."""
    p = sub.add_parser("nll", help="held-out bits per image token of an LM folder")
    p.add_argument("--model", required=True, help="LM folder (config.json + model.safetensors), e.g. a checkpoint")
    p.add_argument("--data", default="scenes", help="code-shard folder, or 'scenes' (rendered and encoded)")
    p.add_argument("--vq", default="", help="VQ tokenizer folder (for --data scenes)")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=1_000_003, help="scene seed of the held-out set")
    p.add_argument("--num-samples", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--text-tokenizer", default="", help="tokenizer.json (default: next to the model, else bytes)")
    p.add_argument("--json", default="", help="also write the result to this JSON file")
    p.set_defaults(func=run_eval_nll)
