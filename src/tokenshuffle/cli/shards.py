"""``tokenshuffle data shards``: any input layout -> WebDataset tar shards (registered by ``cli.data``)."""

from __future__ import annotations


def add_parsers(data_sub) -> None:
    """Add ``shards`` to the ``data`` command's subparsers."""
    from tokenshuffle.cli.vq import DATA_HELP

    p = data_sub.add_parser("shards", help="copy images with captions into WebDataset tar shards",
                            description="Copy a dataset (any layout encode reads) into WebDataset tar shards: "
                            "KEY.png|jpg|webp + KEY.json with the caption and metadata.")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--out", required=True, help="folder for the shards (shard-000000.tar, ...)")
    p.add_argument("--per-shard", type=int, default=1000, help="images per tar shard (default 1000)")
    p.set_defaults(func=run_shards)


def run_shards(args) -> int:
    from tokenshuffle.data.shards import shards_from_dataset

    summary = shards_from_dataset(args.data, args.out, num_per_shard=args.per_shard)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary["skipped"].items())) or "none"
    print(f"wrote {summary['num_items']} images in {len(summary['shards'])} shards to {args.out} "
          f"(skipped: {skipped})")
    return 0
