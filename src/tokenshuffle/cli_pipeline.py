"""``tokenshuffle export`` (a training run + a tokenizer -> a pipeline folder) and
``tokenshuffle eval t2i`` (GenEval-protocol score of a pipeline on held-out prompts)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tokenshuffle.cli_eval import add_eval_subcommand


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="package a trained LM run and a VQ tokenizer as a pipeline folder",
                       description="Package a trained LM run and a VQ tokenizer as a pipeline folder "
                       "(vq/, lm/, text_tokenizer.json, pipeline.json) for `generate --model`.")
    p.add_argument("--run", required=True, help="LM training run folder (lm/ + text_tokenizer.json)")
    p.add_argument("--vq", required=True, help="tokenizer folder (config.json + model.safetensors)")
    p.add_argument("--out", required=True, help="pipeline folder to write (replaced if it exists)")
    p.add_argument("--dtype", default="fp16", help="weights on disk: fp32, bf16 or fp16 (default fp16)")
    p.add_argument("--height", type=int, default=512, help="default height in pixels")
    p.add_argument("--width", type=int, default=512, help="default width in pixels")
    p.add_argument("--guidance-scale", type=float, default=None, help="default CFG scale")
    p.add_argument("--cfg-schedule", default=None, help="default CFG schedule")
    p.add_argument("--temperature", type=float, default=None, help="default temperature")
    p.add_argument("--top-k", type=int, default=None, help="default top-k (0 = off)")
    p.add_argument("--candidates", type=int, default=None, help="default grids drawn per image (best of n)")
    p.add_argument("--keep", action="append", default=[], metavar="FILE",
                   help="a file of the existing --out folder (e.g. its README.md model card) to carry into "
                   "the new one; repeatable")
    p.set_defaults(func=_run_export)

    e = add_eval_subcommand(sub, "t2i", func=_run_t2i,
                            help="generate held-out prompts with a pipeline and score them (GenEval protocol)")
    e.add_argument("--model", required=True, help="pipeline folder")
    e.add_argument("--prompts", default="val", help="val, hard (the shipped held-out sets) or a metadata .jsonl")
    e.add_argument("--images-per-prompt", type=int, default=1)
    e.add_argument("--batch-size", type=int, default=16,
                   help="images generated together (each drawn --candidates times)")
    e.add_argument("--height", type=int, default=None)
    e.add_argument("--width", type=int, default=None)
    e.add_argument("--guidance-scale", type=float, default=None)
    e.add_argument("--cfg-schedule", default=None,
                   help="one schedule, or a comma-separated list to compare (one table row each)")
    e.add_argument("--temperature", type=float, default=None)
    e.add_argument("--top-k", type=int, default=None, help="0 = off (default: the model's)")
    e.add_argument("--top-p", type=float, default=None)
    e.add_argument("--candidates", default=None,
                   help="grids drawn per image, the likeliest kept; a comma list gives a row each (default: "
                        "the model's)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    e.add_argument("--out", default=None, help="write the images (and result.json) here")
    e.add_argument("--json", default=None, metavar="OUT", help="write all rows as JSON")


def _check_keep(out: Path, names: list[str]) -> None:
    """Every --keep name, checked before anything is written: a plain file of ``out`` that export never writes."""
    from tokenshuffle.pipeline import FOLDER_ENTRIES

    for name in names:
        if Path(name).name != name or name in FOLDER_ENTRIES:
            raise ValueError(f"--keep takes a file name inside --out other than {', '.join(sorted(FOLDER_ENTRIES))}; "
                             f"got {name!r}")
        if not (out / name).is_file():
            raise FileNotFoundError(f"--keep {name}: no such file in {out}")


def _run_export(args) -> int:
    from tokenshuffle.bench import DTYPES
    from tokenshuffle.pipeline import DEFAULTS, TextToImagePipeline
    from tokenshuffle.serialization import load_lm, replace_dir
    from tokenshuffle.text import ByteTokenizer, load_text_tokenizer
    from tokenshuffle.vq.autoencoder import VQTokenizer

    if args.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {args.dtype!r}")
    run, out = Path(args.run), Path(args.out)
    if not (run / "lm").is_dir():
        raise FileNotFoundError(f"--run {run} has no lm/ folder (a finished `tokenshuffle train` run)")
    tok = run / "text_tokenizer.json"
    defaults = dict(DEFAULTS, height=args.height, width=args.width)
    for key in ("guidance_scale", "cfg_schedule", "temperature", "candidates"):
        if getattr(args, key) is not None:
            defaults[key] = getattr(args, key)
    if args.top_k is not None:
        defaults["top_k"] = args.top_k or None
    pipe = TextToImagePipeline(vq=VQTokenizer.from_pretrained(args.vq), lm=load_lm(run / "lm"),
                               text_tokenizer=load_text_tokenizer(tok) if tok.is_file() else ByteTokenizer(),
                               defaults=defaults)
    pipe.settings()  # the defaults must be valid for this model
    _check_keep(out, args.keep)
    tmp = out.with_name(out.name + ".tmp")
    pipe.save_pretrained(tmp, dtype=DTYPES[args.dtype])
    for name in args.keep:
        shutil.copy2(out / name, tmp / name)
    replace_dir(tmp, out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB, {args.dtype})")
    return 0


def _int_arg(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be integers >= 1 (a comma list), got {text!r}") from None


def _run_t2i(args) -> int:
    import torch

    from tokenshuffle.eval.t2i import evaluate_pipeline, load_prompt_set
    from tokenshuffle.pipeline import TextToImagePipeline
    from tokenshuffle.serialization import write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = load_prompt_set(args.prompts)
    pipe = TextToImagePipeline.from_pretrained(args.model)
    schedules = args.cfg_schedule.split(",") if args.cfg_schedule else [None]
    candidates = [_int_arg("--candidates", c) for c in args.candidates.split(",")] if args.candidates else [None]
    base = dict(height=args.height, width=args.width, guidance_scale=args.guidance_scale,
                temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    combos = [dict(base, cfg_schedule=sc, candidates=c) for sc in schedules for c in candidates]
    for combo in combos:  # every setting checked before any image is generated
        pipe.settings(**combo)
    rows = []
    for combo in combos:
        out = args.out
        if args.out and len(combos) > 1:
            name = combo["cfg_schedule"] or "default"
            out = Path(args.out) / (name if len(candidates) == 1 else f"{name}-n{combo['candidates'] or 'default'}")
        r = evaluate_pipeline(pipe, prompts, images_per_prompt=args.images_per_prompt, batch_size=args.batch_size,
                              seed=args.seed, out=out, progress=True, **combo)
        r.pop("results")
        r["cfg_schedule"] = combo["cfg_schedule"] or pipe.defaults["cfg_schedule"]
        r["candidates"] = combo["candidates"] or pipe.defaults["candidates"]
        rows.append(r)
    tasks = list(rows[0]["per_task"])
    print("| cfg schedule | candidates | " + " | ".join(tasks) + " | overall | s/image |")
    print("|---|---:|" + "---:|" * (len(tasks) + 2))
    for r in rows:
        cells = [f"{r['per_task'][t]:.3f}" for t in tasks]
        print(f"| {r['cfg_schedule']} | {r['candidates']} | " + " | ".join(cells) + f" | **{r['overall']:.3f}** | "
              f"{r['seconds_per_image']:.3f} |")
    if args.json:
        write_json(args.json, rows if len(rows) > 1 else rows[0])
        print(f"wrote {args.json}")
    return 0
