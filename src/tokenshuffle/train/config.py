"""TrainConfig: everything a ``tokenshuffle train`` run needs, plus named recipes and ``--set`` overrides.

Recipes ship in ``tokenshuffle/train/recipes/lm_<name>.py`` (named with dashes for underscores), each
defining ``CONFIG``;
``--set key=value`` overrides a field, ``--set lm.dim=256`` reaches into the model's LMConfig.
A stage names its parent in ``init_from`` (a run folder or one checkpoint folder).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tokenshuffle import recipes
from tokenshuffle.data.caption_swaps import RULES as CONTRAST_RULES
from tokenshuffle.data.scene_style import STYLES
from tokenshuffle.errors import check_choice, check_fields, check_range
from tokenshuffle.model.config import LMConfig
from tokenshuffle.recipes import apply_overrides
from tokenshuffle.sampling.config import SamplingConfig
from tokenshuffle.train.batches import CAPTION_CHOICES

DATA_KINDS = ("random", "scenes")  # anything else is a folder of pre-encoded code shards

RECIPES = "tokenshuffle.train.recipes"  # the package holding the shipped lm_<name>.py recipes


@dataclass(frozen=True)
class TrainConfig:
    lm: LMConfig = field(default_factory=lambda: LMConfig.preset("tiny"))
    # Data: "random" codes (tests, benchmarks), "scenes" rendered and VQ-encoded on the fly, or a
    # code-shard folder (`tokenshuffle encode`). Pixel size sets the grid for random/scenes.
    data: str = "scenes"
    eval_data: str = ""  # held-out code shards; "" = the same kind as `data` with `eval_seed`
    vq: str = ""  # VQ tokenizer folder: needed for "scenes" and for sample grids
    # lm.code_factors or lm.prompt_colours > 0: an image-caption folder whose patches, encoded by `vq`, give each
    # code its colour and outline (vq.code_factors.palette_factors, the scene palette); not needed when
    # init_from carries them.
    code_factor_images: str = ""
    code_factor_num_images: int = 1000
    scene_style: str = "textured"  # "scenes": "textured", "canonical" or "fixed" (data.scene_style.STYLES)
    text_tokenizer: str = ""  # tokenizer.json; "" = UTF-8 bytes
    height: int = 128
    width: int = 128
    num_samples: int = 0  # random/scenes: cycle over this many items (0 = a fresh item every time)
    seed: int = 0
    eval_seed: int = 1_000_003
    num_eval_samples: int = 64
    caption_dropout: float = 0.1  # replaced by the empty prompt: CFG's unconditional branch
    # "first": every sample is shown with its item's prompt (captions[0]); "any": with one of all its
    # phrasings (the scenes' others name every object's colour, counts as digits, ...), drawn per sample.
    caption_choice: str = "first"
    # A multi-size code set: steps are drawn from its buckets in proportion to their sizes times these
    # weights, "HxW=w,..." with HxW the code grid (e.g. "32x32=2": twice the 512² steps at downsample 16).
    bucket_weights: str = ""
    # Optimisation: batch_size is the global batch of one optimiser step (all ranks, all micro-steps).
    batch_size: int = 16
    grad_accum: int = 1
    num_steps: int = 1000
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 100
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05
    grad_clip: float = 1.0  # 0 = no clipping
    z_loss_weight: float = 0.0
    text_loss_weight: float = 0.0
    # Contrastive caption loss (data.caption_swaps): rows whose caption has a swapped-word negative under
    # the rule set `contrast` also learn log p(codes | caption) - log p(codes | negative) >= margin.
    contrast: str = ""  # "" = off, or a data.caption_swaps.RULES name ("scenes")
    contrast_weight: float = 0.0
    contrast_margin: float = 10.0  # nats per image
    colour_weight: float = 0.0  # lm.prompt_colours: weight of its colour guess's cross-entropy (train.step)
    max_bad_steps: int = 10  # stop after this many NaN/inf losses in a row
    # "" trains every weight; else comma-separated name prefixes ("grid_modules.") of the only weights that
    # train, the rest frozen (a stage that adds modules to a shipped model and must not change what it does).
    train_only: str = ""
    # Initialisation: a parent stage's checkpoint (or run folder), or a Hugging Face Llama folder.
    init_from: str = ""
    # "HxW=PATH[,HxW=PATH]": after init_from, a grid_windows grid's own modules (grid_modules.HxW: its window
    # modules and, with lm.grid_own_decoder, its decoder) start from PATH's weights for that grid: PATH's
    # grid_modules.HxW and, where PATH shares its decoder, PATH's decoder (one model from two parents).
    grid_init_from: str = ""
    init_hf_llama: str = ""
    # Systems: precision "auto" is bf16 autocast on GPU and fp32 on CPU; parallel "auto" is FSDP2 on
    # GPU with more than one process, DDP otherwise.
    precision: str = "auto"
    parallel: str = "auto"
    activation_checkpointing: bool = False
    compile: bool = False
    # Watching: metrics every log_every steps, held-out bits/token every eval_every, samples every
    # sample_every (0 = never), a checkpoint every ckpt_every keeping the last keep_last.
    log_every: int = 10
    eval_every: int = 200
    sample_every: int = 0
    num_sample_images: int = 4
    sample_guidance_scale: float = SamplingConfig().guidance_scale
    ckpt_every: int = 200
    keep_last: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.lm, dict):
            object.__setattr__(self, "lm", LMConfig.from_dict(self.lm))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        check_range("height", self.height, low=16)
        check_range("width", self.width, low=16)
        for name in ("num_samples", "seed", "eval_seed", "num_eval_samples", "warmup_steps", "sample_every",
                     "eval_every", "code_factor_num_images"):
            check_range(name, getattr(self, name), low=0)
        for name in ("batch_size", "grad_accum", "num_steps", "max_bad_steps", "log_every", "ckpt_every",
                     "keep_last", "num_sample_images"):
            check_range(name, getattr(self, name), low=1)
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}")
        check_range("caption_dropout", self.caption_dropout, low=0, high=1)
        check_choice("caption_choice", self.caption_choice, CAPTION_CHOICES)
        parse_bucket_weights(self.bucket_weights)  # refuses a malformed setting at once
        check_choice("scene_style", self.scene_style, STYLES)
        check_range("lr", self.lr, low=0, low_open=True)
        check_range("min_lr_ratio", self.min_lr_ratio, low=0, high=1)
        check_range("weight_decay", self.weight_decay, low=0)
        check_range("grad_clip", self.grad_clip, low=0)
        check_range("z_loss_weight", self.z_loss_weight, low=0)
        check_range("text_loss_weight", self.text_loss_weight, low=0)
        if self.contrast:
            check_choice("contrast", self.contrast, tuple(CONTRAST_RULES))
        check_range("contrast_weight", self.contrast_weight, low=0)
        check_range("colour_weight", self.colour_weight, low=0)
        check_range("contrast_margin", self.contrast_margin, low=0)
        if (self.contrast_weight > 0) != bool(self.contrast):
            raise ValueError(f"contrast={self.contrast!r} and contrast_weight={self.contrast_weight}: set both "
                             "(a rule set and a weight > 0) or neither")
        if self.colour_weight > 0 and not self.lm.prompt_colours:
            raise ValueError(f"colour_weight={self.colour_weight} weights the colour term's loss: it needs "
                             "lm.prompt_colours > 0")
        check_range("sample_guidance_scale", self.sample_guidance_scale, low=0)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        check_choice("precision", self.precision, ("auto", "fp32", "bf16"))
        check_choice("parallel", self.parallel, ("auto", "ddp", "fsdp"))
        if self.init_from and self.init_hf_llama:
            raise ValueError("set at most one of init_from and init_hf_llama")
        grids = [f"{h}x{w}" for h, w, _ in self.lm.grid_windows]
        for item in self.grid_init_from.split(",") if self.grid_init_from else []:
            key, _, path = item.partition("=")
            if key not in grids or not path:
                raise ValueError(f"grid_init_from takes HxW=PATH entries for grids of lm.grid_windows "
                                 f"({', '.join(grids) or 'none'}), got {item!r}")
        if self.data == "scenes" and not self.vq:
            raise ValueError("data='scenes' encodes on the fly and needs vq=<VQ tokenizer folder>")

    @property
    def bucket_weight_map(self) -> dict[tuple[int, int], float]:
        """``bucket_weights`` parsed: code grid (h, w) -> weight >= 0."""
        return parse_bucket_weights(self.bucket_weights)

    @property
    def grid(self) -> tuple[int, int]:
        """Code grid of the random/scenes data (downsample 16, as the LlamaGen tokenizers)."""
        return self.height // 16, self.width // 16

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        check_fields(cls, d, what="train")
        return cls(**d)

    def override(self, assignments: list[str]) -> TrainConfig:
        """Apply ``key=value`` strings (``lm.<field>=value`` for the model); see ``recipes.apply_overrides``."""
        return TrainConfig.from_dict(apply_overrides(self.to_dict(), assignments))


def parse_bucket_weights(text: str) -> dict[tuple[int, int], float]:
    """``"32x32=3,64x64=0"`` -> {code grid (h, w): weight >= 0 (0: never drawn in training, still
    evaluated)}; ValueError naming a malformed part."""
    out: dict[tuple[int, int], float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            grid, weight = part.split("=")
            h, w = (int(v) for v in grid.lower().split("x"))
            out[(h, w)] = float(weight)
        except ValueError:
            raise ValueError(f"bucket_weights: {part!r} is not HxW=WEIGHT (a code grid and a number, e.g. "
                             "32x32=2)") from None
        if not out[(h, w)] >= 0 or h < 1 or w < 1:
            raise ValueError(f"bucket_weights: {part!r} needs a grid of positive sides and a weight >= 0")
    return out


def recipe_names() -> list[str]:
    return recipes.recipe_names(RECIPES, "lm")


def load_recipe(name: str) -> TrainConfig:
    """The shipped recipe ``tokenshuffle/train/recipes/lm_<name>.py``, or a user's own ``.py`` path: its ``CONFIG``."""
    return recipes.load_recipe(name, package=RECIPES, prefix="lm", cls=TrainConfig)
