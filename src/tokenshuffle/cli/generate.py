"""``tokenshuffle generate PROMPT``: images from a pipeline folder (the shipped model by default)."""

from __future__ import annotations

import math
from pathlib import Path

from tokenshuffle.cli.common import add_device_args, add_sampling_args, device_and_dtype, sampling_from_args
from tokenshuffle.errors import check_seed
from tokenshuffle.output import check_out_file, write_files

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SHIPPED_MODELS = {"demo": ASSETS / "demo-model", "emoji": ASSETS / "emoji-model"}
DEFAULT_MODEL = SHIPPED_MODELS["demo"]
MODEL_HELP = "pipeline folder, or a shipped model: demo (scenes, the default) or emoji"


def model_folder(arg: str | None) -> Path:
    """``--model``: a pipeline folder, or the name of a shipped one (a folder of that name wins)."""
    if arg is None:
        return DEFAULT_MODEL
    path = Path(arg)
    if not path.exists() and arg in SHIPPED_MODELS:
        path = SHIPPED_MODELS[arg]
    if not path.is_dir():
        raise FileNotFoundError(f"--model {arg} is not a pipeline folder (vq/, lm/, text_tokenizer.json) or a "
                                f"shipped model ({', '.join(SHIPPED_MODELS)})")
    return path


def add_parsers(sub) -> None:
    p = sub.add_parser("generate", help="generate images from a text prompt")
    p.add_argument("prompt", nargs="+", help="one or more prompts")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--height", type=int, default=None, help="pixels (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="pixels (default: the model's)")
    add_sampling_args(p)
    p.add_argument("--num-images", type=int, default=4, help="images per prompt (default 4)")
    p.add_argument("--seed", type=int, default=0)
    add_device_args(p)
    p.add_argument("--compile", action="store_true", help="torch.compile the decode step")
    p.add_argument("--out", default="out.png", help="grid PNG; single images go beside it as STEM-N.png")
    p.set_defaults(func=run_generate)


def image_grid(images, *, columns: int):
    from PIL import Image

    w, h = images[0].size
    rows = math.ceil(len(images) / columns)
    grid = Image.new("RGB", (columns * w, rows * h), "white")
    for i, im in enumerate(images):
        grid.paste(im, ((i % columns) * w, (i // columns) * h))
    return grid


def _png(image):
    return lambda p: image.save(p, format="PNG")


def run_generate(args) -> int:
    import torch
    from tqdm import tqdm

    from tokenshuffle.pipeline import TextToImagePipeline

    model = model_folder(args.model)
    check_seed("--seed", args.seed)
    if args.num_images < 1:
        raise ValueError(f"--num-images must be >= 1, got {args.num_images}")
    device, dtype = device_and_dtype(args)
    pipe = TextToImagePipeline.from_pretrained(model, device=device, dtype=dtype)
    sampling = sampling_from_args(args, pipe.sampling_for(args.height, args.width))
    (h, w), _ = pipe.resolve(height=args.height, width=args.width)  # every argument checked before any work
    pipe.encode_prompts(args.prompt)  # a prompt longer than the model reads is refused before any work
    out = check_out_file(args.out, suffix=".png")  # a bad --out fails in seconds, not after the images
    generator = torch.Generator(device=device).manual_seed(args.seed)
    s = pipe.lm.at((h, w)).s
    with tqdm(total=(h // s) * (w // s), desc="generate", unit="pos") as bar:
        images = pipe(args.prompt, height=args.height, width=args.width, sampling=sampling,
                      num_images=args.num_images, generator=generator, compile=args.compile,
                      progress=lambda n: bar.update(n - bar.n))
    paths = [out.with_name(f"{out.stem}-{i}.png") for i in range(len(images))]
    try:
        write_files({**{p: _png(im) for p, im in zip(paths, images, strict=True)},
                     out: _png(image_grid(images, columns=args.num_images))})
    except OSError as exc:
        raise ValueError(f"--out {out}: writing the images failed ({exc.strerror or exc}); none were written") from None
    print(f"wrote {out} ({len(images)} images, grid) and {', '.join(str(p) for p in paths)}")
    return 0
