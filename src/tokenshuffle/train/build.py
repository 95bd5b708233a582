"""Building a ``tokenshuffle train`` run: the model (fresh, from a parent stage or a Hugging Face
Llama), its text tokenizer and its data sources."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tokenshuffle.data.code_sources import RandomCodes, SceneCodes, ShardCodes
from tokenshuffle.model.io import read_lm_state
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.text import ByteTokenizer, load_text_tokenizer
from tokenshuffle.train import checkpoint as ckpt
from tokenshuffle.train.config import TrainConfig


# -- building the model ---------------------------------------------------------------------------
@torch.no_grad()
def carry_grids(lm: TokenShuffleLM, spec: str) -> dict[str, int]:
    """``grid_init_from`` ("HxW=PATH,..."): each named grid's own modules (``grid_modules.HxW.*``) take PATH's
    weights for that grid: PATH's own ``grid_modules.HxW.*`` and, for what PATH shares (its embeddings,
    decoder and output), PATH's base weights. PATH must serve the grid with the same window. -> {grid: tensors}."""
    out = {}
    for item in spec.split(","):
        key, _, path = item.partition("=")
        parent = resolve_parent(path)
        config, state = read_lm_state(parent)
        for name in ("vocab_size", "dim", "num_layers", "num_heads", "num_kv_heads", "ffn_hidden", "multiple_of"):
            if getattr(config, name) != getattr(lm.config, name):
                raise ValueError(f"grid_init_from={item}: {parent} has {name}={getattr(config, name)}, this stage "
                                 f"{getattr(lm.config, name)}")
        h, w = (int(v) for v in key.split("x"))
        if (h, w, lm.config.window_for((h, w))) not in config.grid_windows:
            raise ValueError(f"grid_init_from={item}: {parent} does not serve the grid {key} with window "
                             f"{lm.config.window_for((h, w))} (its grid_windows: {list(config.grid_windows)})")
        prefix, own = f"grid_modules.{key}.", lm.state_dict()
        mine = [k for k in own if k.startswith(prefix)]
        for k in mine:
            src = state.get(k, state.get(k[len(prefix):]))
            if src is None or src.shape != own[k].shape:
                raise ValueError(f"grid_init_from={item}: {parent} has no weight {k} (or {k[len(prefix):]}) of "
                                 f"shape {tuple(own[k].shape)}")
            own[k].copy_(src)
        out[key] = len(mine)
    return out


def resolve_parent(path: str) -> Path:
    """A parent stage: an LM folder, or a run folder (its final ``lm/`` or else its latest checkpoint)."""
    p = Path(path)
    if (p / ckpt.CONFIG_NAME).is_file():
        return p
    if (p / "lm" / ckpt.CONFIG_NAME).is_file():
        return p / "lm"
    latest, skipped = ckpt.newest_good_checkpoint(p)
    if latest is None:
        why = f" ({skipped[0][1]})" if skipped else ""
        raise FileNotFoundError(f"init_from={path}: no LM folder, run/lm or verified run/checkpoints/step_* "
                                f"found{why}")
    return latest


def carry_over(lm: TokenShuffleLM, parent: Path) -> dict:
    """Copy every parent weight whose name and shape match (decoder, embeddings, heads); the rest
    (e.g. the shuffle MLPs a stage-1 s=1 parent never had) keeps its fresh init. A stage may raise
    ``max_grid_size`` (a higher-resolution stage): the vocabulary rows of the parent's text, specials,
    grid sizes and image codes move to their new places, and the grid tokens it adds start fresh."""
    config, state = read_lm_state(parent)
    for name in ("text_vocab_size", "image_vocab_size", "dim", "num_layers"):
        if getattr(config, name) != getattr(lm.config, name):
            raise ValueError(f"init_from={parent}: parent {name}={getattr(config, name)} differs from this "
                             f"stage's {getattr(lm.config, name)}; the stages must share vocabulary and decoder")
    if config.max_grid_size > lm.config.max_grid_size:
        raise ValueError(f"init_from={parent}: parent max_grid_size={config.max_grid_size} is larger than this "
                         f"stage's {lm.config.max_grid_size}; a stage may keep or raise it, never lower it")
    own, state = lm.state_dict(), dict(state)
    if config.max_grid_size != lm.config.max_grid_size:
        for name in ("tok_embeddings.weight", "output.weight"):
            if name in state:
                state[name] = _move_vocab_rows(state[name], old=config, new=lm.config, fresh=own[name])
    carried = [k for k in own if k in state and state[k].shape == own[k].shape]
    for k in carried:
        own[k].copy_(state[k])
    # A grid's modules the parent lacks start from the parent's grid of the same window where it has one
    # (a 1024x512 grid from the 1024² grid's), else from the parent's grid whose decoder it will share (its
    # residual blocks read and write that decoder's states), else from the parent's base, where the shapes
    # agree (the residual blocks and the window head; the per-token compress/expand layers depend on s).
    from_parent = []
    for k in own:
        if not k.startswith("grid_modules.") or k in carried:
            continue
        key, rest = k.split(".", 2)[1:]
        grid = tuple(int(v) for v in key.split("x"))
        same = [f"grid_modules.{h}x{w}.{rest}" for h, w, s in config.grid_windows if s == lm.config.window_for(grid)]
        owner = lm.config.decoder_grid(grid)
        if owner not in (None, grid):
            same.append(f"grid_modules.{owner[0]}x{owner[1]}.{rest}")
        src = next((state[n] for n in same + [rest] if n in state and state[n].shape == own[k].shape), None)
        if src is not None:
            own[k].copy_(src)
            from_parent.append(k)
    carried += from_parent
    out = {"carried": len(carried), "new": sorted(set(own) - set(carried))}
    if lm.code_factors is not None and not config.code_factors:
        out["code_factors_fit"] = fit_code_factors(lm, config, state)
    return out


@torch.no_grad()
def fit_code_factors(lm: TokenShuffleLM, parent_config, state: dict) -> dict:
    """Start ``lm``'s CodeFactors (its ``table`` filled) where a parent with a free row per image code was:
    ``embed`` and ``head`` by least squares over the codes with features (phi(c) W ~ the parent's embedding
    and output rows of code c). -> the fraction of those rows' variance the fit explains."""
    used = lm.code_factors.table.any(1)  # (V,)
    if not used.any():
        raise ValueError("code_factors: the feature table is empty; fill it before fitting to a parent")
    phi = lm.code_factors.table[used].double()  # (U, F)
    out = {}
    for name, layer in (("tok_embeddings.weight", lm.code_factors.embed), ("output.weight", lm.code_factors.head)):
        rows = state[name][parent_config.image_offset:][used].double()  # (U, D)
        w = torch.linalg.lstsq(phi, rows, driver="gelsd").solution  # (F, D)
        layer.weight.copy_(w.t() if name == "tok_embeddings.weight" else w)  # embed (D, F), head (F, D)
        resid = rows - phi @ w
        out[name.split(".")[0]] = round(1 - float(resid.pow(2).sum() / (rows - rows.mean(0)).pow(2).sum()), 4)
    return out


def measure_codes(lm: TokenShuffleLM, cfg: TrainConfig) -> None:
    """Measure what each code draws on ``cfg.code_factor_images`` with ``cfg.vq``: the features of
    ``lm.code_factors`` and the colour classes of ``lm.prompt_colours``, where the model has them."""
    if not (cfg.vq and cfg.code_factor_images):
        named = [f"lm.{n}={getattr(cfg.lm, n)}" for n in ("code_factors", "prompt_colours") if getattr(cfg.lm, n)]
        raise ValueError(f"{' and '.join(named)} {'need' if len(named) > 1 else 'needs'} vq and code_factor_images "
                         "(the images whose patches say what each code draws), or an init_from parent that has them")
    from tokenshuffle.data.folder import ImageCaptionFolder
    from tokenshuffle.data.shapes import COLORS
    from tokenshuffle.vq import VQTokenizer
    from tokenshuffle.vq.code_factors import palette_factors

    vq = VQTokenizer.from_pretrained(cfg.vq).eval()
    folder = ImageCaptionFolder(cfg.code_factor_images)
    num = min(len(folder), cfg.code_factor_num_images)
    batches = (torch.stack([folder[i]["image"] for i in range(start, min(num, start + 32))])
               for start in range(0, num, 32))
    table, counts = palette_factors(vq, batches, palette=COLORS)
    if lm.prompt_colours is not None:
        if lm.prompt_colours.classes != len(COLORS):
            raise ValueError(f"lm.prompt_colours={cfg.lm.prompt_colours}: the scene palette has {len(COLORS)} colours")
        classes = table[:, : len(COLORS) + 1].argmax(1)  # (V,) an unused code's zero row says 0: no colour instead
        lm.prompt_colours.set_classes(torch.where(counts > 0, classes, len(COLORS)))
        lm.prompt_colours.set_words(colour_word_classes(load_tokenizer(cfg, lm), lm.config.text_vocab_size))
    if lm.code_factors is None:
        return
    if table.shape != lm.code_factors.table.shape:
        raise ValueError(f"lm.code_factors={cfg.lm.code_factors}: the scene palette with this tokenizer gives "
                         f"{table.shape[1]} features per code")
    lm.code_factors.set_table(table, counts)


def colour_word_classes(tokenizer, vocab_size: int) -> torch.Tensor:
    """(vocab_size,) the scene palette's class of every token that is a colour's name (data.shapes.COLORS, in
    order), and len(COLORS) for every other token; each name must be one token of its own (not unknown)."""
    from tokenshuffle.data.shapes import COLORS

    out = torch.full((vocab_size,), len(COLORS), dtype=torch.long)
    for k, name in enumerate(COLORS):
        ids = tokenizer.encode(name)
        if len(ids) != 1 or ids[0] >= vocab_size or tokenizer.decode(ids).strip().lower() != name:
            raise ValueError(f"lm.prompt_colours reads colour words as single tokens: the text tokenizer makes "
                             f"{name!r} {ids} (decoded {tokenizer.decode(ids)!r})")
        out[ids[0]] = k
    return out


def _move_vocab_rows(rows: torch.Tensor, *, old, new, fresh: torch.Tensor) -> torch.Tensor:
    """(old vocab, D) -> (new vocab, D): text, specials and grid sizes 1..old max keep their rows, the image
    codes move up by the added grid sizes, and the added grid-size rows come from ``fresh``."""
    out = fresh.clone()
    kept = old.image_offset  # text + specials + the parent's grid sizes: the same ids in both
    out[:kept] = rows[:kept]
    out[new.image_offset:] = rows[old.image_offset:]
    return out


def _parent_config(parent: Path) -> dict:
    """The parent's config.json alone (its weights are read once, by ``carry_over``)."""
    return json.loads((parent / ckpt.CONFIG_NAME).read_text(encoding="utf-8"))


def build_lm(cfg: TrainConfig) -> tuple[TokenShuffleLM, dict]:
    if cfg.init_hf_llama:
        from tokenshuffle.hf_llama import lm_from_hf_llama

        return lm_from_hf_llama(cfg.init_hf_llama, base=cfg.lm, seed=cfg.seed), {"init": cfg.init_hf_llama}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        lm = TokenShuffleLM(cfg.lm)
    parent = resolve_parent(cfg.init_from) if cfg.init_from else None
    parent_has = _parent_config(parent) if parent is not None else {}
    if ((lm.code_factors is not None and not parent_has.get("code_factors"))
            or (lm.prompt_colours is not None and not parent_has.get("prompt_colours"))):
        measure_codes(lm, cfg)
    info = {"init": cfg.init_from, **carry_over(lm, parent)} if parent is not None else {"init": "scratch"}
    if cfg.grid_init_from:
        info["grids"] = carry_grids(lm, cfg.grid_init_from)
        if "new" in info:  # what the second parent filled is not new
            info["new"] = [k for k in info["new"] if not any(k.startswith(f"grid_modules.{g}.") for g in info["grids"])]
    if cfg.train_only:
        info["trained"] = freeze_except(lm, cfg.train_only)
    return lm, info


def freeze_except(lm: TokenShuffleLM, prefixes: str) -> int:
    """Freeze every weight whose name starts with none of the comma-separated ``prefixes``; -> the number of
    weights left to train (ValueError naming the valid module names when a prefix matches none)."""
    wanted = [p.strip() for p in prefixes.split(",") if p.strip()]
    names = [n for n, _ in lm.named_parameters()]
    for p in wanted:
        if not any(n.startswith(p) for n in names):
            tops = sorted({n.split(".")[0] + "." for n in names})
            raise ValueError(f"train_only={prefixes!r}: {p!r} starts no weight's name; names start with "
                             f"{', '.join(tops)}")
    kept = 0
    for n, param in lm.named_parameters():
        param.requires_grad_(any(n.startswith(p) for p in wanted))
        kept += param.requires_grad
    return kept


def load_tokenizer(cfg: TrainConfig, lm: TokenShuffleLM):
    path = cfg.text_tokenizer
    if not path and cfg.init_hf_llama and (Path(cfg.init_hf_llama) / "tokenizer.json").is_file():
        path = str(Path(cfg.init_hf_llama) / "tokenizer.json")
    tok = load_text_tokenizer(path) if path else ByteTokenizer()
    if tok.vocab_size > lm.config.text_vocab_size:
        raise ValueError(f"text tokenizer has {tok.vocab_size} tokens but lm.text_vocab_size="
                         f"{lm.config.text_vocab_size}")
    return tok


def make_sources(cfg: TrainConfig, lm: TokenShuffleLM, device: torch.device):
    """-> (train source, held-out source or None, VQ tokenizer or None)."""
    vq = None
    if cfg.vq:
        from tokenshuffle.vq import VQTokenizer

        vq = VQTokenizer.from_pretrained(cfg.vq, device=device)
        if vq.codebook_size != lm.config.image_vocab_size:
            raise ValueError(f"vq codebook_size={vq.codebook_size} != lm.image_vocab_size="
                             f"{lm.config.image_vocab_size}")
    n = cfg.num_samples or None
    if cfg.data == "random":
        grid, vocab = cfg.grid, lm.config.image_vocab_size
        return (RandomCodes(grid=grid, vocab_size=vocab, seed=cfg.seed, num_samples=n),
                RandomCodes(grid=grid, vocab_size=vocab, seed=cfg.eval_seed, num_samples=cfg.num_eval_samples), vq)
    if cfg.data == "scenes":
        kw = {"height": cfg.height, "width": cfg.width, "style": cfg.scene_style}
        return (SceneCodes(vq, seed=cfg.seed, num_samples=n, **kw),
                SceneCodes(vq, seed=cfg.eval_seed, num_samples=cfg.num_eval_samples, **kw), vq)
    return ShardCodes(cfg.data), (ShardCodes(cfg.eval_data) if cfg.eval_data else None), vq
