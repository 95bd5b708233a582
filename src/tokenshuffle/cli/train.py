"""``tokenshuffle train --config NAME [--set key=value ...] [--resume]``."""

from __future__ import annotations

import json
import os
import sys


def add_parsers(sub) -> None:
    from tokenshuffle.train.config import recipe_names

    p = sub.add_parser("train", help="train the Token-Shuffle LM (torchrun for several processes)",
                       description="Train the LM from a recipe: a shipped name or an explicit path to your own "
                                   ".py file. "
                                   f"Recipes: {', '.join(recipe_names()) or 'none found'}. "
                                   "Ctrl-C or SIGTERM saves a checkpoint after the current step and exits "
                                   "130 or 143; --resume continues from it.")
    p.add_argument("--config", required=True,
                   help="a shipped recipe name (smoke, scenes-t2i-reading, ...) or a path to your own recipe .py file")
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
