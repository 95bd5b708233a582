"""VQTrainConfig: everything a ``tokenshuffle train-vq`` run needs, plus named recipes and overrides.

Recipes ship in ``tokenshuffle/vq/recipes/vq_<name>.py`` (named with dashes for underscores), each
defining ``CONFIG``;
``--set key=value`` overrides fields, ``--set vq.codebook_size=2048`` reaches into the tokenizer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tokenshuffle import recipes
from tokenshuffle.errors import check_choice, check_fields, check_range
from tokenshuffle.recipes import apply_overrides
from tokenshuffle.vq.config import VQConfig

TRAIN_PARTS = ("all", "decoder", "encoder")

RECIPES = "tokenshuffle.vq.recipes"  # the package holding the shipped vq_<name>.py recipes


@dataclass(frozen=True)
class VQTrainConfig:
    vq: VQConfig = field(default_factory=lambda: VQConfig.preset("vq-16-small"))
    data: str = "scenes"  # "scenes" (rendered on the fly) or an image-caption folder
    image_sizes: tuple[int, ...] = (256,)  # scenes are rendered at one of these sizes per batch
    crop_size: int = 128  # random square crop fed to the model (0 = the whole image)
    batch_size: int = 8
    num_steps: int = 10000
    lr: float = 4e-4
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 200
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    codebook_weight: float = 1.0
    disc_weight: float = 0.0  # 0 switches the PatchGAN off
    disc_start: int = 0  # step at which the hinge GAN loss is switched on
    disc_lr: float = 1e-4
    disc_channels: int = 64  # width of the PatchGAN's first layer (64 as in taming and LlamaGen)
    ema_decay: float = 0.0  # 0 switches EMA off; the EMA weights are what gets saved when on
    quantizer_warmup: int = 0  # steps with the quantizer bypassed; then the codebook is set by k-means
    restart_every: int = 100  # dead-code restart: codes unused for this many steps move onto latents
    restart_until: float = 0.85  # fraction of training after which the codebook is left alone
    sample_every: int = 500  # PNG grid of reconstructions every this many steps
    ckpt_every: int = 500
    log_every: int = 50
    seed: int = 0
    # A tokenizer folder whose weights start the run (optimizer and schedule start fresh): a second
    # stage, e.g. fine-tuning a tokenizer trained on crops on whole images of the sizes it will see.
    init_from: str = ""
    # "all", or "decoder": only post_quant_proj and the decoder learn, so the codes of every image
    # stay what they were (code shards encoded earlier remain valid); no dead-code restart then.
    # "encoder": only the encoder and quant_proj learn, against the parent's frozen codebook and
    # decoder, so a code keeps what it draws (an LM trained on the parent's codes still reads them);
    # the parent may have another kind of encoder (``VQConfig.encoder``), which is then not loaded.
    train_parts: str = "all"
    # With train_parts="encoder": weight of a distillation term, the squared distance between the new
    # encoder's (normalised) latents and the parent encoder's on the same images. It starts the new
    # encoder on the codes the parent would pick, the ones an LM trained on the parent has seen most.
    distill_weight: float = 0.0
    # "auto" is bf16 autocast on GPU and fp32 on CPU; "bf16" also autocasts on CPU, where CPUs with
    # bf16 instructions train vq-16-small ~1.5x faster (the quantizer stays in fp32 either way).
    precision: str = "auto"

    def __post_init__(self):
        if isinstance(self.vq, str):  # a preset name: --set vq=vq-16-tiny
            object.__setattr__(self, "vq", VQConfig.preset(self.vq))
        if isinstance(self.vq, dict):
            object.__setattr__(self, "vq", VQConfig.from_dict(self.vq))
        object.__setattr__(self, "image_sizes", tuple(int(s) for s in self.image_sizes))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if not self.image_sizes:
            raise ValueError("image_sizes must list at least one size")
        f = self.vq.downsample
        for size in self.image_sizes + ((self.crop_size,) if self.crop_size else ()):
            if size % f:
                raise ValueError(
                    f"image_sizes and crop_size must be multiples of the downsample factor {f}, got {size}"
                )
        if self.crop_size > min(self.image_sizes):
            raise ValueError(
                f"crop_size {self.crop_size} is larger than the smallest image size {min(self.image_sizes)}"
            )
        check_range("crop_size", self.crop_size, low=0)
        check_range("batch_size", self.batch_size, low=1)
        check_range("num_steps", self.num_steps, low=1)
        check_range("lr", self.lr, low=0.0, low_open=True)
        check_range("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        check_range("warmup_steps", self.warmup_steps, low=0)
        check_range("grad_clip", self.grad_clip, low=0.0)
        check_range("disc_weight", self.disc_weight, low=0.0)
        check_range("disc_start", self.disc_start, low=0)
        check_range("disc_channels", self.disc_channels, low=1)
        check_range("ema_decay", self.ema_decay, low=0.0, high=1.0, high_open=True)
        check_range("quantizer_warmup", self.quantizer_warmup, low=0, high=self.num_steps - 1)
        check_range("restart_every", self.restart_every, low=0)
        check_range("restart_until", self.restart_until, low=0.0, high=1.0)
        check_choice("precision", self.precision, ("auto", "fp32", "bf16"))
        check_choice("train_parts", self.train_parts, TRAIN_PARTS)
        if self.train_parts != "all" and (self.quantizer_warmup or not self.init_from):
            raise ValueError(f"train_parts={self.train_parts!r} fine-tunes part of a trained tokenizer: it needs "
                             f"init_from and quantizer_warmup=0 (got init_from={self.init_from!r}, "
                             f"quantizer_warmup={self.quantizer_warmup})")
        check_range("distill_weight", self.distill_weight, low=0.0)
        if self.distill_weight and self.train_parts != "encoder":
            raise ValueError(f"distill_weight={self.distill_weight} needs train_parts='encoder' (got "
                             f"{self.train_parts!r}): the parent's encoder is the teacher of a new encoder")
        for name in ("sample_every", "ckpt_every", "log_every"):
            check_range(name, getattr(self, name), low=1)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["vq"] = self.vq.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VQTrainConfig:
        check_fields(cls, d, what="train-vq")
        return cls(**d)

    def override(self, assignments: list[str]) -> VQTrainConfig:
        """Apply ``key=value`` strings (``vq.<field>=value`` for the tokenizer); see ``recipes.apply_overrides``."""
        return VQTrainConfig.from_dict(apply_overrides(self.to_dict(), assignments))


def recipe_names() -> list[str]:
    return recipes.recipe_names(RECIPES, "vq")


def load_recipe(name: str) -> VQTrainConfig:
    """The shipped recipe ``tokenshuffle/vq/recipes/vq_<name>.py``, or a user's own ``.py`` path: its ``CONFIG``."""
    return recipes.load_recipe(name, package=RECIPES, prefix="vq", cls=VQTrainConfig)
