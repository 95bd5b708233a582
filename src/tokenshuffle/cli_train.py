"""``tokenshuffle train --config NAME [--set key=value ...] [--resume]`` and ``tokenshuffle eval nll``."""

from __future__ import annotations

import json
import os
import sys


def add_parsers(sub) -> None:
    from tokenshuffle.train.config import recipe_names

    p = sub.add_parser("train", help="train the Token-Shuffle LM (torchrun for several processes)",
                       description="Train the LM from a named recipe in configs/lm_<name>.py. "
                                   f"Recipes: {', '.join(recipe_names()) or 'none found'}. "
                                   "Ctrl-C or SIGTERM saves a checkpoint after the current step and exits "
                                   "130 or 143; --resume continues from it.")
    p.add_argument("--config", required=True, help="recipe name (configs/lm_<name>.py) or a path to one")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set lr=1e-4 --set lm.qk_norm=true (repeatable)")
    p.add_argument("--out", default="", help="run folder (default: runs/lm-<config>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out that verifies (naming any skipped and why; "
                   "step 0 if none yet). Settings changed with --set are all applied from there on and recorded "
                   "(stderr, metrics.jsonl, train_config.json); changing lm.*, init_from or init_hf_llama is "
                   "refused. Without --resume an --out that holds a run is refused")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: this rank's GPU, else cpu)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (metrics still go to metrics.jsonl)")
    p.set_defaults(func=run_train)
    _add_nll_parser(sub)


def run_train(args) -> int:
    from pathlib import Path

    from tokenshuffle.signals import Interrupted
    from tokenshuffle.train.config import load_recipe
    from tokenshuffle.train.loop import TrainingStopped, train

    cfg = load_recipe(args.config).override(args.overrides)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=1))
        return 0
    out = args.out or f"runs/lm-{Path(args.config).stem.removeprefix('lm_').replace('_', '-')}"
    try:
        last = train(cfg, out=out, resume=args.resume, progress=not args.no_progress, device=args.device)
    except TrainingStopped as exc:
        print(f"tokenshuffle train: stopped: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank stops; one line is enough
            print(f"tokenshuffle train: interrupted by {exc}", file=sys.stderr)
        return exc.exit_code
    if last:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        print(f"done: step {last.get('step')}: {shown}; model in {out}/lm")
    return 0


def run_eval_nll(args) -> int:
    """Load the LM and the held-out data named by ``args``, print (and optionally save) the NLL."""
    from pathlib import Path

    from tokenshuffle.data.scene_style import STYLES
    from tokenshuffle.errors import check_choice
    from tokenshuffle.eval.nll import CAPTIONS, NLLConfig, heldout_nll, swap_gap
    from tokenshuffle.serialization import load_lm, write_json
    from tokenshuffle.text import ByteTokenizer, load_text_tokenizer
    from tokenshuffle.train.batches import SceneCodes, ShardCodes
    from tokenshuffle.train.contrast import RULES, SwapNegatives

    check_choice("--style", args.style, STYLES)
    check_choice("--captions", args.captions, (*CAPTIONS, "swapped"))
    swapped = args.captions == "swapped"
    if swapped:
        check_choice("--contrast", args.contrast, tuple(RULES))
    config = NLLConfig(num_samples=args.num_samples, batch_size=args.batch_size,
                       captions="given" if swapped else args.captions)
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
                            seed=args.seed, num_samples=config.num_samples, style=args.style)
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
    if args.json:
        write_json(args.json, {"model": str(args.model), "data": args.data, "captions": config.captions, **result})
    return 0


def _add_nll_parser(sub) -> None:
    from tokenshuffle.cli_eval import add_eval_subcommand

    p = add_eval_subcommand(sub, "nll", help="held-out bits per image token of an LM folder", func=run_eval_nll)
    p.add_argument("--model", required=True, help="LM folder (config.json + model.safetensors), e.g. a checkpoint")
    p.add_argument("--data", default="scenes", help="code-shard folder, or 'scenes' (rendered and encoded)")
    p.add_argument("--vq", default="", help="VQ tokenizer folder (for --data scenes)")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=1_000_003, help="scene seed of the held-out set")
    p.add_argument("--style", default="textured",
                   help="scene style for --data scenes: textured, canonical, fixed or reading")
    p.add_argument("--num-samples", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--text-tokenizer", default="", help="tokenizer.json (default: next to the model, else bytes)")
    p.add_argument("--captions", default="given", help="score with the given captions, 'empty' ones or "
                   "'shuffled' ones (each item gets the next item's): how much the model uses its prompt; "
                   "'swapped': the log-likelihood gap to each caption with two words swapped (--contrast)")
    p.add_argument("--contrast", default="scenes", help="swap rule set for --captions swapped (train.contrast)")
    p.add_argument("--json", default="", help="also write the result to this JSON file")
