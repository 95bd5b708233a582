"""``tokenshuffle eval WHAT ...``: one ``eval`` group whose sub-subcommands live in their own modules.

Hook for other areas: inside your ``cli_<area>.add_parsers(sub)`` call::

    from tokenshuffle.cli_eval import add_eval_subcommand

    parser = add_eval_subcommand(sub, "recon", help="PSNR/SSIM of a VQ tokenizer", func=run_recon)
    parser.add_argument("--model", required=True)

``sub`` is the top-level subparsers object that ``cli.py`` passes to every registrar. The ``eval``
group is created by whichever registrar asks first, so registration order in ``REGISTRARS`` does not
matter and no module has to edit this one. ``func`` takes the parsed args and returns an exit code.
"""

from __future__ import annotations

import argparse

_GROUP_ATTR = "_tokenshuffle_eval_subparsers"


def eval_group(sub) -> argparse._SubParsersAction:
    """The subparsers of the ``eval`` command, created on first use."""
    parser = sub.choices.get("eval")
    if parser is None:
        parser = sub.add_parser(
            "eval", help="evaluate images or models", description="Evaluate images or models on held-out data."
        )
        setattr(parser, _GROUP_ATTR, parser.add_subparsers(dest="eval_command", required=True, metavar="WHAT"))
    return getattr(parser, _GROUP_ATTR)


def add_eval_subcommand(sub, name: str, *, help: str, func) -> argparse.ArgumentParser:
    """Add ``tokenshuffle eval NAME``; returns its parser for the caller to add arguments to."""
    parser = eval_group(sub).add_parser(name, help=help, description=help)
    parser.set_defaults(func=func)
    return parser


def _run_scenes(args) -> int:
    from tokenshuffle.eval.scenes import evaluate
    from tokenshuffle.serialization import write_json

    result = evaluate(args.images, args.metadata, progress=True)
    width = max(len(t) for t in [*result["per_task"], "overall"])
    for task, acc in result["per_task"].items():
        print(f"{task:<{width}}  {acc:.4f}  ({result['num_per_task'][task]} images)")
    print(f"{'overall':<{width}}  {result['overall']:.4f}  ({result['num_images']} images, mean over tasks)")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _run_scenes_check(args) -> int:
    from tokenshuffle.eval.scenes_check import check_evaluator
    from tokenshuffle.serialization import write_json

    sizes = tuple(int(s) for s in args.sizes.split(","))
    result = check_evaluator(num=args.num, sizes=sizes, seed=args.seed)
    for size, variants in result.items():
        print(f"{size}x{size}: " + ", ".join(f"{k} {v['overall']:.4f}" for k, v in variants.items()))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def add_parsers(sub) -> None:
    check = add_eval_subcommand(
        sub, "scenes-check", func=_run_scenes_check,
        help="score ground-truth scene renders clean, blurred+JPEG q75 and shuffled against their metadata",
    )
    check.add_argument("--num", type=int, default=600, help="scenes (default 600)")
    check.add_argument("--sizes", default="256,512,1024", help="comma-separated square sizes in pixels")
    check.add_argument("--seed", type=int, default=123)
    check.add_argument("--json", default=None, metavar="OUT", help="also write the result as JSON")
    parser = add_eval_subcommand(
        sub,
        "scenes",
        help="GenEval-protocol accuracy of synthetic-scene images (colour segmentation + shape rules)",
        func=_run_scenes,
    )
    parser.add_argument("--images", required=True, help="folder of images (sorted by name, searched recursively)")
    parser.add_argument(
        "--metadata",
        default=None,
        help="JSONL of GenEval metadata lines (in image order, N images per line) or a captions.jsonl "
        "with 'file' keys; default: IMAGES/captions.jsonl",
    )
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the full result as JSON")
