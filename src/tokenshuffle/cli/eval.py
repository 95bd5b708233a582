"""``tokenshuffle eval scenes|scenes-check|t2i|nll|recon``: every evaluation command in one group."""

from __future__ import annotations

from pathlib import Path

from tokenshuffle.cli.common import (
    add_device_args,
    add_sampling_args,
    device_and_dtype,
    sampling_overrides,
    set_threads,
)


def add_parsers(sub) -> None:
    group = sub.add_parser("eval", help="evaluate images or models", description="Evaluate images or models on "
                           "held-out data.")
    esub = group.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    _add_scenes(esub)
    _add_t2i(esub)
    _add_nll(esub)
    _add_recon(esub)


def _add_scenes(esub) -> None:
    p = esub.add_parser("scenes", help="GenEval-protocol accuracy of synthetic-scene images (colour segmentation + "
                        "shape rules)")
    p.add_argument("--images", required=True, help="folder of images (sorted by name, searched recursively)")
    p.add_argument("--metadata", default=None, help="JSONL of GenEval metadata lines (in image order, N images per "
                   "line) or a captions.jsonl with 'file' keys; default: IMAGES/captions.jsonl")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the full result as JSON")
    p.set_defaults(func=run_scenes)
    c = esub.add_parser("scenes-check", help="score ground-truth scene renders clean, blurred+JPEG q75 and shuffled "
                        "against their metadata")
    c.add_argument("--num", type=int, default=600, help="scenes (default 600)")
    c.add_argument("--sizes", default="256,512,1024", help="comma-separated square sizes in pixels")
    c.add_argument("--seed", type=int, default=123)
    c.add_argument("--json", default=None, metavar="OUT", help="also write the result as JSON")
    c.set_defaults(func=run_scenes_check)


def _add_t2i(esub) -> None:
    e = esub.add_parser("t2i", help="generate held-out prompts with a pipeline and score them (GenEval protocol)")
    e.add_argument("--model", required=True, help="pipeline folder, or a shipped model (demo, emoji)")
    e.add_argument("--prompts", default="val", help="val, hard (the shipped held-out sets) or a metadata .jsonl")
    e.add_argument("--images-per-prompt", type=int, default=1)
    e.add_argument("--batch-size", type=int, default=16, help="images generated together (each drawn --candidates "
                   "times)")
    e.add_argument("--height", type=int, default=None)
    e.add_argument("--width", type=int, default=None)
    add_sampling_args(e, skip=("cfg_schedule", "candidates"))
    e.add_argument("--cfg-schedule", dest="cfg_schedules", default=None,
                   help="one schedule, or a comma list to compare (a table row each; default: the model's)")
    e.add_argument("--candidates", dest="candidate_counts", default=None,
                   help="grids drawn per image, the likeliest kept; a comma list gives a row each "
                   "(default: the model's)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_device_args(e)
    e.add_argument("--out", default=None, help="write the images (and result.json) here")
    e.add_argument("--json", default=None, metavar="OUT", help="write all rows as JSON")
    e.set_defaults(func=run_t2i)


def _add_nll(esub) -> None:
    p = esub.add_parser("nll", help="held-out bits per image token of an LM folder")
    p.add_argument("--model", required=True, help="LM folder (config.json + model.safetensors), e.g. a checkpoint")
    p.add_argument("--data", default="scenes", help="code-shard folder, or 'scenes' (rendered and encoded)")
    p.add_argument("--vq", default="", help="VQ tokenizer folder (for --data scenes)")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=1_000_003, help="scene seed of the held-out set")
    p.add_argument("--style", default="textured",
                   help="scene style for --data scenes: textured, canonical, fixed or reading")
    p.add_argument("--prompts", default="", help="with --data scenes: render the ground-truth scenes of these "
                   "prompts (val, hard or a metadata .jsonl; item i draws prompt i mod their number) instead of "
                   "training-distribution scenes, and split the bits into object and background codes")
    p.add_argument("--num-samples", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--text-tokenizer", default="", help="tokenizer.json (default: next to the model, else bytes)")
    p.add_argument("--captions", default="given", help="score with the given captions, 'empty' ones or "
                   "'shuffled' ones (each item gets the next item's): how much the model uses its prompt; "
                   "'swapped': the log-likelihood gap to each caption with two words swapped (--contrast)")
    p.add_argument("--contrast", default="scenes", help="swap rule set for --captions swapped (data.caption_swaps)")
    p.add_argument("--json", default="", help="also write the result to this JSON file")
    add_device_args(p)
    p.set_defaults(func=run_nll)


def _add_recon(esub) -> None:
    p = esub.add_parser("recon", help="PSNR, SSIM, codebook usage and perplexity of a VQ tokenizer on held-out images")
    p.add_argument("--vq", required=True, help="tokenizer folder")
    p.add_argument("--data", required=True, help="held-out image-caption folder")
    p.add_argument("--size", type=int, default=None, help="resize/centre-crop images to SIZE x SIZE first")
    p.add_argument("--num-images", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--scene-score", action="store_true",
                   help="also score the reconstructions with the scene evaluator (needs scene metadata)")
    p.add_argument("--json", dest="json_out", default=None, help="also write the figures to this JSON file")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=run_recon)


def _write_json(path, data) -> None:
    from tokenshuffle.serialization import write_json

    write_json(path, data)
    print(f"wrote {path}")


def run_scenes(args) -> int:
    from tokenshuffle.eval.scenes import evaluate

    result = evaluate(args.images, args.metadata, progress=True)
    width = max(len(t) for t in [*result["per_task"], "overall"])
    for task, acc in result["per_task"].items():
        print(f"{task:<{width}}  {acc:.4f}  ({result['num_per_task'][task]} images)")
    print(f"{'overall':<{width}}  {result['overall']:.4f}  ({result['num_images']} images, mean over tasks)")
    if args.json:
        _write_json(args.json, result)
    return 0


def run_scenes_check(args) -> int:
    from tokenshuffle.eval.scenes_check import check_evaluator

    sizes = tuple(int(s) for s in args.sizes.split(","))
    result = check_evaluator(num=args.num, sizes=sizes, seed=args.seed)
    for size, variants in result.items():
        print(f"{size}x{size}: " + ", ".join(f"{k} {v['overall']:.4f}" for k, v in variants.items()))
    if args.json:
        _write_json(args.json, result)
    return 0


def _int_arg(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be integers >= 1 (a comma list), got {text!r}") from None


def _t2i_rows(args, pipe) -> list[dict]:
    """One SamplingConfig per requested (schedule, candidates) pair, every one checked before any image."""
    base = pipe.sampling_for(args.height, args.width).replace(**sampling_overrides(args))
    schedules = args.cfg_schedules.split(",") if args.cfg_schedules else [base.cfg_schedule]
    counts = args.candidate_counts
    candidates = [_int_arg("--candidates", c) for c in counts.split(",")] if counts else [base.candidates]
    label = (lambda sc: sc) if args.cfg_schedules else (lambda sc: "default")  # noqa: E731
    return [{"sampling": base.replace(cfg_schedule=sc, candidates=c), "name": label(sc) if len(candidates) == 1
             else f"{label(sc)}-n{c}"} for sc in schedules for c in candidates]


def run_t2i(args) -> int:
    from tokenshuffle.cli.generate import model_folder
    from tokenshuffle.eval.t2i import evaluate_pipeline, load_prompt_set
    from tokenshuffle.pipeline import TextToImagePipeline

    set_threads(args.threads)
    device, dtype = device_and_dtype(args)
    prompts = load_prompt_set(args.prompts)
    pipe = TextToImagePipeline.from_pretrained(model_folder(args.model), device=device, dtype=dtype)
    combos = _t2i_rows(args, pipe)
    pipe.resolve(height=args.height, width=args.width)
    rows = []
    for combo in combos:
        out = Path(args.out) / combo["name"] if args.out and len(combos) > 1 else args.out
        r = evaluate_pipeline(pipe, prompts, images_per_prompt=args.images_per_prompt, batch_size=args.batch_size,
                              seed=args.seed, out=out, progress=True, height=args.height, width=args.width,
                              sampling=combo["sampling"])
        r.pop("results")
        r["cfg_schedule"], r["candidates"] = combo["sampling"].cfg_schedule, combo["sampling"].candidates
        rows.append(r)
    tasks = list(rows[0]["per_task"])
    print("| cfg schedule | candidates | " + " | ".join(tasks) + " | overall | s/image |")
    print("|---|---:|" + "---:|" * (len(tasks) + 2))
    for r in rows:
        cells = [f"{r['per_task'][t]:.3f}" for t in tasks]
        print(f"| {r['cfg_schedule']} | {r['candidates']} | " + " | ".join(cells) + f" | **{r['overall']:.3f}** | "
              f"{r['seconds_per_image']:.3f} |")
    if args.json:
        _write_json(args.json, rows if len(rows) > 1 else rows[0])
    return 0


def run_nll(args) -> int:
    """Load the LM and the held-out data named by ``args``, print (and optionally save) the NLL."""
    from pathlib import Path

    from tokenshuffle.data.caption_swaps import RULES, SwapNegatives
    from tokenshuffle.data.code_sources import PromptSceneCodes, SceneCodes, ShardCodes
    from tokenshuffle.data.scene_style import STYLES
    from tokenshuffle.errors import check_choice
    from tokenshuffle.eval.nll import CAPTIONS, NLLConfig, heldout_nll, swap_gap
    from tokenshuffle.model.io import load_lm
    from tokenshuffle.serialization import write_json
    from tokenshuffle.text import ByteTokenizer, load_text_tokenizer

    check_choice("--style", args.style, STYLES)
    check_choice("--captions", args.captions, (*CAPTIONS, "swapped"))
    swapped = args.captions == "swapped"
    if swapped:
        check_choice("--contrast", args.contrast, tuple(RULES))
    config = NLLConfig(num_samples=args.num_samples, batch_size=args.batch_size,
                       captions="given" if swapped else args.captions)
    device, dtype = device_and_dtype(args)
    lm = load_lm(args.model, device=device).to(dtype).eval()
    tok_path = args.text_tokenizer or next(
        (str(p) for p in (Path(args.model) / "text_tokenizer.json", Path(args.model).parent / "text_tokenizer.json")
         if p.is_file()), "")
    tokenizer = load_text_tokenizer(tok_path) if tok_path else ByteTokenizer()
    if args.data == "scenes":
        if not args.vq:
            raise ValueError("--data scenes encodes held-out scenes on the fly and needs --vq DIR")
        from tokenshuffle.vq import VQTokenizer

        vq = VQTokenizer.from_pretrained(args.vq)
        if args.prompts:
            from tokenshuffle.eval.t2i import load_prompt_set

            source = PromptSceneCodes(vq, load_prompt_set(args.prompts), height=args.height, width=args.width,
                                      seed=args.seed, num_samples=config.num_samples, style=args.style)
        else:
            source = SceneCodes(vq, height=args.height, width=args.width, seed=args.seed,
                                num_samples=config.num_samples, style=args.style)
    elif args.prompts:
        raise ValueError(f"--prompts {args.prompts}: renders scenes, so it needs --data scenes "
                         f"(got --data {args.data})")
    else:
        source = ShardCodes(args.data)
    if swapped:
        gaps = swap_gap(lm, source, tokenizer=tokenizer, rules=SwapNegatives.named(args.contrast, tokenizer=tokenizer),
                        config=config)
        for name, g in gaps.items():
            print(f"swapped {name}: {g['num']} images, log p(codes | caption) - log p(codes | swapped) = "
                  f"{g['delta']:.2f} nats per image, > 0 for {g['positive']:.2f} of them")
        if args.json:
            write_json(args.json, {"model": str(args.model), "data": args.data, "captions": "swapped",
                                   "contrast": args.contrast, "per_rule": gaps})
        return 0
    result = heldout_nll(lm, source, tokenizer=tokenizer, config=config)
    prompts = "" if config.captions == "given" else f", {config.captions} captions"
    print(f"held-out NLL: {result['bits_per_token']:.4f} bits per image token "
          f"({result['num_samples']} images, {result['num_tokens']} tokens{prompts})")
    for name, bits in result.get("bits_per_token_by_grid", {}).items():
        print(f"  {name} codes: {bits:.4f} bits per image token")
    for name in ("object", "background"):
        if f"bits_per_{name}_token" in result:
            print(f"  {name} codes: {result[f'bits_per_{name}_token']:.4f} bits per image token "
                  f"({result[f'num_{name}_tokens']} tokens)")
    if args.json:
        write_json(args.json, {"model": str(args.model), "data": args.data, "captions": config.captions, **result})
    return 0


def run_recon(args) -> int:
    from tokenshuffle.eval.recon import evaluate_recon, format_report

    set_threads(args.threads)
    result = evaluate_recon(args.vq, args.data, size=args.size, num_images=args.num_images,
                            batch_size=args.batch_size, scene_score=args.scene_score, device=args.device)
    print(format_report(result))
    if args.json_out:
        _write_json(args.json_out, result)
    return 0
