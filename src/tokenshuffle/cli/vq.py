"""``tokenshuffle train-vq``, ``encode`` and ``convert-vq``: thin wrappers over the library."""

from __future__ import annotations

import json
import os

DATA_HELP = ("a captions.jsonl folder, a folder of images each with a same-name .txt caption, or WebDataset tar "
             "shards (a .tar, a folder of them, a glob or a brace range such as 'shards/{000000..000099}.tar')")


def add_parsers(sub) -> None:
    p = sub.add_parser("train-vq", help="train a VQ image tokenizer from a recipe (a shipped name or a path to "
                       "your own .py); torchrun for several processes",
                       description="Train a VQ tokenizer. Ctrl-C or SIGTERM saves a checkpoint after the current "
                       "step and exits 130 or 143; --resume continues from it.")
    p.add_argument("--config", required=True, help="a shipped recipe name (scenes-f8, ...) or an explicit path to "
                   "your own recipe .py file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set num_steps=100 --set vq.codebook_size=2048 (repeatable)")
    p.add_argument("--data", default=None, help="training images, instead of the recipe's (same as --set data=...): "
                   + DATA_HELP + "; captions are not needed")
    p.add_argument("--out", default=None, help="run folder (default runs/vq-<config>)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true",
                   help="continue from --out's checkpoint (verified; step 0 if none yet). Settings changed with "
                   "--set are all applied from there on and recorded (stderr, log.jsonl, train_config.json); "
                   "changing vq.*, init_from or train_parts is refused. Without --resume an --out that holds "
                   "a run is refused")
    p.set_defaults(func=_train_vq)

    p = sub.add_parser("encode", help="pre-tokenize images with captions into memory-mappable code shards")
    p.add_argument("--vq", required=True, help="tokenizer folder (config.json + model.safetensors)")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--out", required=True, help="output folder for the shards (resumes an interrupted run)")
    p.add_argument("--size", type=int, default=None, help="resize/centre-crop images to SIZE x SIZE first")
    p.add_argument("--buckets", default=None, metavar="SIZES",
                   help="size buckets, WIDTHxHEIGHT or one side, comma-separated (e.g. 512,768x384,384x768,1024): "
                   "each image goes to the bucket nearest its aspect ratio; codes are stored per bucket")
    p.add_argument("--fit", default="crop", help="crop (cover, centre-crop; default) or resize (stretch) to the size")
    p.add_argument("--workers", type=int, default=1, help="encoding processes (torch threads are split among them; "
                   "the codes do not depend on it)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--shard-size", type=int, default=1000,
                   help="images per output shard for folder inputs (each tar shard gives one output shard)")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--precision", default="fp32", help="fp32, or bf16 (autocast, channels-last: ~2x faster on "
                   "CPUs with AMX; a few percent of codes move to a neighbouring code)")
    p.add_argument("--json", dest="json_out", action="store_true", help="also print the whole index as JSON")
    p.set_defaults(func=_encode)

    p = sub.add_parser("convert-vq", help="convert a LlamaGen VQ checkpoint (.pt) into a tokenizer folder")
    p.add_argument("checkpoint", help="LlamaGen .pt file ({'model': state_dict} or a bare state dict)")
    p.add_argument("--out", required=True, help="output folder (config.json + model.safetensors)")
    p.add_argument("--preset", default=None, help="vq-16 or vq-8 (default: read the architecture off the weights)")
    p.set_defaults(func=_convert)


def _threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _train_vq(args) -> int:
    import sys

    from tokenshuffle.integrity import NonFiniteState
    from tokenshuffle.signals import Interrupted
    from tokenshuffle.vq.train import train_vq
    from tokenshuffle.vq.train_config import load_recipe

    _threads(args)
    cfg = load_recipe(args.config).override(args.overrides)
    if args.data:
        import dataclasses

        cfg = dataclasses.replace(cfg, data=args.data)
    out = args.out or f"runs/vq-{args.config}"
    try:
        path = train_vq(cfg, out=out, device=args.device, resume=args.resume)
    except NonFiniteState as exc:
        print(f"tokenshuffle train-vq: stopped: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"tokenshuffle train-vq: interrupted by {exc}", file=sys.stderr)
        return exc.exit_code
    if os.environ.get("RANK", "0") == "0":
        print(f"tokenizer saved to {path}")
    return 0


def _encode(args) -> int:
    import time

    from tokenshuffle.data.buckets import parse_buckets
    from tokenshuffle.data.encode import EncodeConfig, encode_dataset

    _threads(args)
    config = EncodeConfig(buckets=parse_buckets(args.buckets, size=args.size), fit=args.fit, workers=args.workers,
                          batch_size=args.batch_size, shard_size=args.shard_size, precision=args.precision)
    start = time.perf_counter()
    info = encode_dataset(args.vq, args.data, args.out, config=config, device=args.device)
    seconds = time.perf_counter() - start
    if args.json_out:
        print(json.dumps(info, indent=2))
    buckets = ", ".join(f"{name}: {b['num']}" for name, b in info["buckets"].items())
    skipped = ", ".join(f"{k} {v}" for k, v in info["skipped"].items()) or "none"
    print(f"encoded {info['num_items']} images into {args.out} ({buckets}); skipped {info['num_skipped']} "
          f"({skipped}); {seconds:.1f} s this run")
    return 0


def _convert(args) -> int:
    from tokenshuffle.vq.llamagen import convert_llamagen

    print(f"saved {convert_llamagen(args.checkpoint, args.out, preset=args.preset)}")
    return 0
