"""``tokenshuffle bench generate|...``: one table on stdout, optional JSON with the environment."""

from __future__ import annotations

import argparse

from tokenshuffle.errors import check_choice


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _cfg_modes(text: str) -> tuple[bool, ...]:
    check_choice("--cfg", text, ("on", "off", "both"))
    return {"on": (True,), "off": (False,), "both": (True, False)}[text]


def _head_modes(text: str) -> tuple[bool, ...]:
    check_choice("--window-head", text, ("on", "off", "both"))
    return {"on": (True,), "off": (False,), "both": (False, True)}[text]


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--downsample", type=int, default=16, help="VQ downsample factor (default 16)")
    p.add_argument("--windows", type=_ints, default=(1, 2, 4), help="shuffle windows s (default 1,2,4)")
    p.add_argument("--image-vocab", type=int, default=16384)
    p.add_argument("--dtype", default="fp32",
                   help="fp32, bf16 or fp16; bench generate takes a comma-separated list (default fp32)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported")
    p.add_argument("--json", default=None, metavar="FILE", help="also write results and environment as JSON")


def add_parsers(sub) -> None:
    bench = sub.add_parser("bench", help="time generation or training; prints a table, optional JSON")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    g = bsub.add_parser("generate", help="images/s of code generation with random weights")
    g.add_argument("--models", default="gpt-b", help="comma-separated LM presets (default gpt-b)")
    g.add_argument("--cfg", type=_cfg_modes, default=(True,), help="on, off or both (default on)")
    g.add_argument("--batch", type=int, default=1)
    g.add_argument("--compile", action="store_true", help="torch.compile the decode step")
    g.add_argument("--window-head", default="off",
                   help="off, on or both: LMConfig.window_ar, codes of a window drawn one after another "
                        "(default off; never at s=1)")
    add_common(g)
    g.set_defaults(func=run_generate)
    t = bsub.add_parser("train", help="training images/s (forward+backward+AdamW) per shuffle window")
    t.add_argument("--model", default="gpt-b", help="LM preset (default gpt-b)")
    t.add_argument("--batch", type=int, default=4,
                   help="images per training step (default 4: at batch 1 the optimizer step dominates)")
    add_common(t)
    t.set_defaults(func=run_train)


def _threads(args) -> None:
    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)


def run_generate(args) -> int:
    from tokenshuffle.bench import GENERATE_COLUMNS, GenerateBench, bench_generate

    _threads(args)
    cfg = GenerateBench(models=tuple(args.models.split(",")), height=args.height, width=args.width,
                        downsample=args.downsample, windows=args.windows, cfg=args.cfg,
                        window_ar=_head_modes(args.window_head),
                        batch=args.batch,
                        image_vocab_size=args.image_vocab, dtypes=tuple(args.dtype.split(",")),
                        device=args.device, warmup=args.warmup, repeats=args.repeats, compile=args.compile)
    return _report(bench_generate(cfg), GENERATE_COLUMNS, args.json)


def run_train(args) -> int:
    from tokenshuffle.bench import TRAIN_COLUMNS, TrainBench, bench_train

    _threads(args)
    cfg = TrainBench(model=args.model, height=args.height, width=args.width, downsample=args.downsample,
                     windows=args.windows, batch=args.batch, image_vocab_size=args.image_vocab, dtype=args.dtype,
                     device=args.device, warmup=args.warmup, repeats=args.repeats)
    return _report(bench_train(cfg), TRAIN_COLUMNS, args.json)


def _report(result: dict, columns, json_path: str | None) -> int:
    from tokenshuffle.bench import print_table
    from tokenshuffle.serialization import write_json

    print_table(result["results"], columns, result["environment"])
    if json_path:
        write_json(json_path, result)
        print(f"wrote {json_path}")
    return 0
