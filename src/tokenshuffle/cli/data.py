"""``tokenshuffle data scenes|emoji|words|shards|split``: write training/evaluation image folders (see
``data.folder``), hold part of one out, or build a word-level text tokenizer from their captions."""

from __future__ import annotations


def _run_scenes(args) -> int:
    import time

    from tokenshuffle.data.geneval import TASKS
    from tokenshuffle.data.scene_style import STYLES
    from tokenshuffle.data.scene_writer import write_scenes
    from tokenshuffle.errors import check_choice, check_range, check_seed
    from tokenshuffle.output import check_out_dir

    check_seed("--seed", args.seed)
    check_range("--num", args.num, low=1)
    for name in ("height", "width"):
        check_range(f"--{name}", getattr(args, name), low=16)
    tasks = args.tasks.split(",") if args.tasks else None
    for task in tasks or []:
        check_choice("--tasks", task, TASKS)
    check_choice("--style", args.style, STYLES)
    check_out_dir(args.out)  # before rendering: a bad --out leaves nothing behind
    start = time.perf_counter()
    summary = write_scenes(
        num=args.num,
        height=args.height,
        width=args.width,
        seed=args.seed,
        out=args.out,
        tasks=tasks,
        num_workers=args.workers,
        style=STYLES[args.style],
    )
    elapsed = time.perf_counter() - start
    per_task = ", ".join(f"{k}={v}" for k, v in sorted(summary["per_task"].items()))
    print(f"wrote {args.num} scenes to {args.out} in {elapsed:.1f}s ({args.num / elapsed:.0f} images/s): {per_task}")
    return 0


def _run_emoji(args) -> int:
    from tokenshuffle.data.emoji import EmojiConfig, build_emoji_dataset

    licenses = args.licenses.split(",") if args.licenses else None
    sources = args.sources.split(",") if args.sources else None
    config = EmojiConfig(size=args.size, limit=args.limit, licenses=licenses, sources=sources, margin=args.margin,
                         num_workers=args.workers)
    summary = build_emoji_dataset(config, out=args.out, cache=args.cache)
    for name, reason in summary["unavailable"].items():
        print(f"{name}: unavailable ({reason})")
    for name, count in summary["per_source"].items():
        print(f"{name}: {count} images ({summary['skipped'].get(name, 0)} skipped)")
    print(f"wrote {summary['num_images']} images to {args.out}")
    return 0


def caption_texts(folder) -> list[str]:
    """Every caption phrasing of an image-caption folder (captions.jsonl) or a code-shard folder
    (``tokenshuffle encode``'s, read through its index like the LM trainer does)."""
    import json
    from pathlib import Path

    from tokenshuffle.data.codes import INDEX_NAME, CodeShards
    from tokenshuffle.data.folder import CAPTIONS_FILE, read_records

    root = Path(folder)
    if (root / CAPTIONS_FILE).is_file():
        records = read_records(root / CAPTIONS_FILE)
    elif (root / INDEX_NAME).is_file():
        records = [json.loads(line) for line in CodeShards(root).lines]
    else:
        raise FileNotFoundError(f"--data {folder}: no {CAPTIONS_FILE} or {INDEX_NAME} (expected an image-caption "
                                "or code-shard folder)")
    return [text for record in records for text in record.get("captions") or [record["caption"]]]


def _run_words(args) -> int:
    from tokenshuffle.text import WordTokenizer, save_text_tokenizer

    texts = [t for folder in args.data for t in caption_texts(folder)]
    tokenizer = WordTokenizer.from_texts(texts, min_count=args.min_count)
    save_text_tokenizer(tokenizer, args.out)
    print(f"wrote {args.out}: {tokenizer.vocab_size} tokens ({tokenizer.vocab_size - 1} words and <unk>) from "
          f"{len(texts)} captions")
    return 0


def _run_shards(args) -> int:
    from tokenshuffle.data.shards import shards_from_dataset

    summary = shards_from_dataset(args.data, args.out, num_per_shard=args.per_shard)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary["skipped"].items())) or "none"
    print(f"wrote {summary['num_items']} images in {len(summary['shards'])} shards to {args.out} "
          f"(skipped: {skipped})")
    return 0


def _run_split(args) -> int:
    from tokenshuffle.data.split import split_folder
    from tokenshuffle.errors import check_range
    from tokenshuffle.output import check_out_dir

    check_range("--fraction", args.fraction, low=0, high=1, low_open=True, high_open=True)
    check_out_dir(args.train, flag="--train")
    check_out_dir(args.heldout, flag="--heldout")
    counts = split_folder(args.data, train=args.train, heldout=args.heldout, fraction=args.fraction, by=args.by,
                          seed=args.seed)
    for side, out in (("train", args.train), ("heldout", args.heldout)):
        print(f"{side}: {counts[side]['images']} images, {counts[side]['keys']} keys ({args.by}) -> {out}")
    return 0


def add_parsers(sub) -> None:
    data = sub.add_parser("data", help="make image-caption datasets", description="Make image-caption datasets.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="WHAT")

    scenes = data_sub.add_parser(
        "scenes",
        help="render synthetic GenEval-style scenes (coloured shapes) with captions and metadata",
        description="Render synthetic GenEval-style scenes; never produces the shipped evaluation prompts.",
    )
    scenes.add_argument("--num", type=int, required=True, help="number of images")
    scenes.add_argument("--height", type=int, default=256)
    scenes.add_argument("--width", type=int, default=256)
    scenes.add_argument("--seed", type=int, default=0)
    scenes.add_argument(
        "--tasks",
        default=None,
        help="comma-separated subset of the six GenEval tasks; a task named twice is drawn twice as often",
    )
    scenes.add_argument("--workers", type=int, default=1, help="render processes (output is the same)")
    scenes.add_argument("--style", default="textured",
                        help="textured (tinted, noisy background; rotated, shaded objects), canonical (plain grey "
                             "background, upright unshaded objects on a 1/32 layout grid), fixed (canonical with one "
                             "object size per object count) or reading (canonical, one object size at every count, "
                             "two-object and left/right captions naming the objects in reading order)")
    scenes.add_argument("--out", required=True, help="output folder (images/ + captions.jsonl)")
    scenes.set_defaults(func=_run_scenes)

    words = data_sub.add_parser(
        "words",
        help="build a word-level text tokenizer (text_tokenizer.json) from the captions of training folders",
        description="Build a word-level text tokenizer from every caption phrasing of image-caption or code-shard "
        "folders; give it to `train` with --set text_tokenizer=FILE.",
    )
    words.add_argument("--data", action="append", required=True, help="image-caption or code-shard folder (repeatable)")
    words.add_argument("--min-count", type=int, default=1, help="keep words seen at least this often (default 1)")
    words.add_argument("--out", required=True, help="tokenizer JSON file to write")
    words.set_defaults(func=_run_words)

    emoji = data_sub.add_parser(
        "emoji",
        help="rasterize pinned emoji/clipart packages (Fluent, Noto, OpenMoji, Openclipart) with captions",
        description="Fetch pinned emoji/clipart packages (sha256-checked), rasterize to PNG on white.",
    )
    emoji.add_argument("--size", type=int, default=256, help="output side in pixels")
    emoji.add_argument("--out", required=True, help="output folder (images/ + captions.jsonl)")
    emoji.add_argument("--workers", type=int, default=0, help="rasterizing processes (default: one per core)")
    emoji.add_argument("--limit", type=int, default=None, help="at most this many images per source")
    emoji.add_argument("--sources", default=None, help="comma-separated subset of sources (default: all)")
    emoji.add_argument(
        "--licenses", default=None, help="comma-separated license filter, or 'permissive' (MIT, Apache-2.0, PD)"
    )
    emoji.add_argument("--margin", type=float, default=0.1, help="white margin as a fraction of --size")
    emoji.add_argument("--cache", default=None, help="download cache folder (default ~/.cache/tokenshuffle)")
    emoji.set_defaults(func=_run_emoji)
    _add_shards(data_sub)

    split = data_sub.add_parser(
        "split", help="hold out a fraction of a folder's keys (names or captions) into a second folder",
        description="Split a captions.jsonl folder in two by a key, so that no held-out key is in the training "
        "folder; a key's side depends only on the key and --seed.")
    split.add_argument("--data", required=True, help="captions.jsonl folder to split")
    split.add_argument("--train", required=True, help="folder for the kept records")
    split.add_argument("--heldout", required=True, help="folder for the held-out records")
    split.add_argument("--fraction", type=float, default=0.05, help="held-out fraction of the keys (default 0.05)")
    split.add_argument("--by", default="caption", help="metadata field to split by, or 'caption' (default)")
    split.add_argument("--seed", type=int, default=0, help="which keys are held out (default 0)")
    split.set_defaults(func=_run_split)


def _add_shards(data_sub) -> None:
    from tokenshuffle.cli.vq import DATA_HELP

    p = data_sub.add_parser("shards", help="copy images with captions into WebDataset tar shards",
                            description="Copy a dataset (any layout encode reads) into WebDataset tar shards: "
                            "KEY.png|jpg|webp + KEY.json with the caption and metadata.")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--out", required=True, help="folder for the shards (shard-000000.tar, ...)")
    p.add_argument("--per-shard", type=int, default=1000, help="images per tar shard (default 1000)")
    p.set_defaults(func=_run_shards)
