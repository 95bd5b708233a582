"""``tokenshuffle export``: a training run + a tokenizer -> a pipeline folder.

Export never deletes what it did not write: ``--out`` must be new, or an earlier pipeline folder whose
every other file is named by ``--keep`` (carried into the new folder). The new folder is written into
a fresh temporary sibling and renamed into place.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

from tokenshuffle.cli.common import add_sampling_args, sampling_from_args
from tokenshuffle.errors import check_range


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="package a trained LM run and a VQ tokenizer as a pipeline folder",
                       description="Package a trained LM run and a VQ tokenizer as a pipeline folder "
                       "(vq/, lm/, text_tokenizer.json, pipeline.json) for `generate --model`.")
    p.add_argument("--run", required=True, help="LM training run folder (lm/ + text_tokenizer.json), or one of its "
                   "checkpoints (RUN/checkpoints/step_N)")
    p.add_argument("--vq", required=True, help="tokenizer folder (config.json + model.safetensors)")
    p.add_argument("--out", required=True, help="pipeline folder to write: new, or an earlier export to replace")
    p.add_argument("--dtype", default="fp16", help="weights on disk: fp32, bf16 or fp16 (default fp16)")
    p.add_argument("--height", type=int, default=None, help="the model's default height in pixels (default 512)")
    p.add_argument("--width", type=int, default=None, help="the model's default width in pixels (default 512)")
    add_sampling_args(p, default_from="SamplingConfig's")
    p.add_argument("--size-sampling", action="append", default=[], metavar="WxH:FIELD=VALUE[,FIELD=VALUE]",
                   help="sampling settings that differ at one size, e.g. 1024x1024:temperature=1.0 (kept in "
                   "pipeline.json and used at that size unless the caller sets them); repeatable")
    p.add_argument("--colour-strength", type=float, default=None, metavar="S",
                   help="the prompt-colour term's strength written into the exported LM (models with "
                   "lm.prompt_colours; default: as trained)")
    p.add_argument("--keep", action="append", default=[], metavar="FILE",
                   help="a file of the existing --out folder (e.g. its README.md model card) to carry into "
                   "the new one; repeatable")
    p.set_defaults(func=run_export)


def check_out(out: Path, keep: list[str]) -> None:
    """``out`` is new, or an earlier export whose files beyond what export writes are all in ``keep``;
    each kept name is a plain file (not a link) of ``out``. Checked before anything is written."""
    from tokenshuffle.pipeline import FOLDER_ENTRIES

    for name in keep:
        if Path(name).name != name or name in FOLDER_ENTRIES:
            raise ValueError(f"--keep takes a file name inside --out other than {', '.join(sorted(FOLDER_ENTRIES))}; "
                             f"got {name!r}")
        if (out / name).is_symlink() or not (out / name).is_file():
            raise ValueError(f"--keep {name}: not a plain file in {out} (links are not followed)")
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir() or not (out / "pipeline.json").is_file():
        raise ValueError(f"--out {out} exists and is not a pipeline folder; export replaces only an earlier export "
                         "(choose a new --out)")
    others = sorted(p.name for p in out.iterdir() if p.name not in FOLDER_ENTRIES and p.name not in keep)
    if others:
        raise ValueError(f"--out {out} holds {', '.join(others)}, which export would delete; carry each with --keep "
                         "or choose a new --out")


def parse_size_sampling(items: list[str]) -> dict[str, dict]:
    """["1024x1024:temperature=1.0,top_k=none"] -> {"1024x1024": {"temperature": 1.0, "top_k": None}}; the
    values are JSON (``none`` is null); ValueError naming --size-sampling otherwise."""
    import json

    out: dict[str, dict] = {}
    for item in items:
        size, _, rest = item.partition(":")
        pairs = [p.partition("=") for p in rest.split(",")] if rest else []
        if not pairs or any(not k or not eq or not v for k, eq, v in pairs):
            raise ValueError(f"--size-sampling must look like 1024x1024:temperature=1.0[,top_k=50], got {item!r}")
        changes = out.setdefault(size, {})
        for k, _, v in pairs:
            try:
                changes[k] = None if v.lower() == "none" else json.loads(v)
            except json.JSONDecodeError:
                changes[k] = v  # a word, e.g. cfg_schedule=linear
    return out


def run_parts(run: Path) -> tuple[Path, Path]:
    """(LM folder, text tokenizer file) of a finished run (RUN/lm) or of one of its checkpoints
    (RUN/checkpoints/step_N: an LM folder whose run holds the tokenizer); the file may not exist
    (a run without one reads bytes)."""
    if (run / "lm").is_dir():
        return run / "lm", run / "text_tokenizer.json"
    if (run / "config.json").is_file() and (run / "model.safetensors").is_file() and run.parent.name == "checkpoints":
        return run, run.parent.parent / "text_tokenizer.json"
    raise FileNotFoundError(f"--run {run} has no lm/ folder (a finished `tokenshuffle train` run) and is not one of "
                            "its checkpoints (RUN/checkpoints/step_N)")


def set_colour_strength(lm, strength: float) -> None:
    """Write ``strength`` into ``lm``'s prompt-colour term (``--colour-strength``)."""
    import torch

    if lm.prompt_colours is None:
        raise ValueError("--colour-strength: this model has no prompt-colour term (lm.prompt_colours = 0)")
    check_range("--colour-strength", strength, low=0, low_open=True, high=math.inf, high_open=True)  # nan too
    with torch.no_grad():
        lm.prompt_colours.strength.fill_(strength)


def run_export(args) -> int:
    from tokenshuffle.bench import DTYPES
    from tokenshuffle.model.io import load_lm
    from tokenshuffle.pipeline import TextToImagePipeline
    from tokenshuffle.sampling.config import SamplingConfig
    from tokenshuffle.serialization import make_public, replace_dir
    from tokenshuffle.text import ByteTokenizer, load_text_tokenizer
    from tokenshuffle.vq.autoencoder import VQTokenizer

    if args.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {args.dtype!r}")
    run, out = Path(args.run), Path(args.out)
    lm_dir, tok = run_parts(run)
    check_out(out, args.keep)
    lm = load_lm(lm_dir)
    if args.colour_strength is not None:
        set_colour_strength(lm, args.colour_strength)
    pipe = TextToImagePipeline(vq=VQTokenizer.from_pretrained(args.vq), lm=lm,
                               text_tokenizer=load_text_tokenizer(tok) if tok.is_file() else ByteTokenizer(),
                               sampling=sampling_from_args(args, SamplingConfig()), height=args.height,
                               width=args.width, size_sampling=parse_size_sampling(args.size_sampling),
                               what="--size-sampling")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        pipe.save_pretrained(tmp, dtype=DTYPES[args.dtype])
        for name in args.keep:
            shutil.copy2(out / name, tmp / name)
            make_public(tmp / name)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB, {args.dtype})")
    return 0
