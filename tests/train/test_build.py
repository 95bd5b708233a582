import dataclasses

import pytest
import torch

from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.io import save_lm
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sequence import make_batch, teacher_forced
from tokenshuffle.train.build import carry_over

PARENT = LMConfig.preset("tiny", image_vocab_size=32, max_grid_size=8, max_text_len=8, shuffle_window=2)


def _lm(config: LMConfig, seed: int) -> TokenShuffleLM:
    torch.manual_seed(seed)
    return TokenShuffleLM(config).eval()


def _outputs(lm: TokenShuffleLM, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    batch = make_batch([[3, 1, 4], [1, 5]], codes, lm=lm)
    with torch.no_grad():
        hidden, logits = teacher_forced(lm, batch)
    return hidden, logits


def test_a_stage_that_raises_max_grid_size_computes_what_its_parent_did_on_the_parents_sizes(tmp_path):
    parent = _lm(PARENT, seed=0)
    save_lm(parent, tmp_path / "parent")
    child = _lm(dataclasses.replace(PARENT, max_grid_size=16, max_seq_len=1024), seed=1)
    fresh = child.tok_embeddings.weight[PARENT.image_offset:child.config.image_offset].clone()
    info = carry_over(child, tmp_path / "parent")
    assert info["new"] == []
    codes = torch.randint(0, 32, (2, 8, 4), generator=torch.Generator().manual_seed(2))  # an 8x4 grid
    for got, want in zip(_outputs(child, codes), _outputs(parent, codes), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # The added grid sizes 9..16 keep their fresh rows; the image codes moved up by 8 rows.
    torch.testing.assert_close(child.tok_embeddings.weight[PARENT.image_offset:child.config.image_offset], fresh)
    torch.testing.assert_close(child.output.weight[child.config.image_offset:],
                               parent.output.weight[PARENT.image_offset:])


def test_a_stage_may_not_lower_max_grid_size_or_change_the_decoder(tmp_path):
    save_lm(_lm(PARENT, seed=0), tmp_path / "parent")
    with pytest.raises(ValueError, match="max_grid_size=8 is larger than this stage's 4"):
        carry_over(_lm(dataclasses.replace(PARENT, max_grid_size=4), seed=0), tmp_path / "parent")
    with pytest.raises(ValueError, match="parent dim=64 differs"):
        carry_over(_lm(dataclasses.replace(PARENT, dim=128), seed=0), tmp_path / "parent")


def test_a_code_factor_stage_fits_its_parents_rows_and_computes_what_it_did_on_the_codes_with_features(tmp_path):
    from tokenshuffle.train.build import build_lm
    from tokenshuffle.train.config import TrainConfig

    parent = _lm(PARENT, seed=0)
    save_lm(parent, tmp_path / "parent")
    child = _lm(dataclasses.replace(PARENT, code_factors=24), seed=1)
    table = torch.zeros(32, 24)
    table[:24] = torch.eye(24)  # codes 0..23 one feature each (an exact fit); 24..31 used by no image
    child.code_factors.set_table(table)
    info = carry_over(child, tmp_path / "parent")
    assert info["code_factors_fit"] == {"tok_embeddings": 1.0, "output": 1.0}
    codes = torch.randint(0, 24, (2, 8, 4), generator=torch.Generator().manual_seed(2))
    (h1, l1), (h0, l0) = _outputs(child, codes), _outputs(parent, codes)
    torch.testing.assert_close(h1, h0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(l1[..., :24], l0[..., :24], atol=1e-4, rtol=1e-4)
    assert (l1[..., 24:] < -20).all()  # codes without features are never drawn
    cfg = TrainConfig(lm=child.config, init_from=str(tmp_path / "parent"), data="random")
    with pytest.raises(ValueError, match="lm.code_factors=24 needs vq and code_factor_images"):
        build_lm(cfg)
    save_lm(child, tmp_path / "factored")  # a parent with code factors: the table comes with its weights
    grandchild, info = build_lm(dataclasses.replace(cfg, init_from=str(tmp_path / "factored")))
    assert "code_factors_fit" not in info and torch.equal(grandchild.code_factors.table, table)


def test_one_model_from_two_parents_computes_what_each_did_at_its_sizes(tmp_path):
    from tokenshuffle.train.build import build_lm
    from tokenshuffle.train.config import TrainConfig

    grid = dict(grid_windows=((16, 16, 4),), window_ar=True)
    plain, wide = _lm(PARENT, seed=0), _lm(dataclasses.replace(PARENT, max_grid_size=8, **grid), seed=1)
    with torch.no_grad():
        for p in wide.parameters():
            p.add_(0.05 * torch.randn_like(p))  # every part differs from plain, the window heads act
    save_lm(plain, tmp_path / "plain")
    save_lm(wide, tmp_path / "wide")
    config = dataclasses.replace(PARENT, grid_own_decoder=True, **grid)
    cfg = TrainConfig(lm=config, init_from=str(tmp_path / "plain"), grid_init_from=f"16x16={tmp_path / 'wide'}",
                      data="random")
    both, info = build_lm(cfg)
    both.eval()
    assert info["grids"]["16x16"] == sum(1 for k in both.state_dict() if k.startswith("grid_modules.16x16."))
    small, large = torch.randint(0, 32, (2, 8, 8)), torch.randint(0, 32, (2, 16, 16))
    assert torch.equal(_outputs(both, small)[1], _outputs(plain, small)[1])  # the base: plain's, exactly
    assert torch.equal(_outputs(both, large)[1], _outputs(wide, large)[1])  # the grid: wide's, exactly
    with pytest.raises(ValueError, match=r"grid_init_from=16x16=.*plain does not serve the grid 16x16 with window 4"):
        build_lm(dataclasses.replace(cfg, grid_init_from=f"16x16={tmp_path / 'plain'}"))


@pytest.mark.parametrize("value", ["8x8=x", "16x16", "16x16=", "x=y"])
def test_grid_init_from_names_the_grids_it_takes(value):
    from tokenshuffle.train.config import TrainConfig

    config = dataclasses.replace(PARENT, grid_windows=((16, 16, 4),))
    with pytest.raises(ValueError, match=r"grid_init_from takes HxW=PATH entries for grids of lm.grid_windows "
                                         r"\(16x16\), got"):
        TrainConfig(lm=config, grid_init_from=value, data="random")


def test_prompt_colours_read_each_palette_name_as_its_own_class_and_refuse_split_or_unknown_names():
    from tokenshuffle.data.shapes import COLORS
    from tokenshuffle.text import ByteTokenizer, WordTokenizer
    from tokenshuffle.train.build import colour_word_classes

    names = list(COLORS)
    tok = WordTokenizer(["<unk>", "a", "photo", "heart", *reversed(names)])
    classes = colour_word_classes(tok, 32)
    for k, name in enumerate(names):
        assert classes[tok.encode(name)[0]] == k
    assert (classes[[0, 1, 2, 3]] == len(names)).all() and (classes[4 + len(names):] == len(names)).all()
    with pytest.raises(ValueError, match=r"single tokens: the text tokenizer makes 'red' \[114, 101, 100\]"):
        colour_word_classes(ByteTokenizer(), 256)
    with pytest.raises(ValueError, match=r"makes 'white' \[0\] \(decoded '<unk>'\)"):
        colour_word_classes(WordTokenizer(["<unk>", *names[:-1]]), 32)


def test_a_prompt_colour_stage_without_a_parent_that_has_them_needs_images_to_measure_the_codes(tmp_path):
    from tokenshuffle.train.build import build_lm
    from tokenshuffle.train.config import TrainConfig

    save_lm(_lm(PARENT, seed=0), tmp_path / "parent")
    cfg = TrainConfig(lm=dataclasses.replace(PARENT, prompt_colours=10), init_from=str(tmp_path / "parent"),
                      data="random")
    with pytest.raises(ValueError, match=r"^lm.prompt_colours=10 needs vq and code_factor_images"):
        build_lm(cfg)
    both = dataclasses.replace(cfg, lm=dataclasses.replace(PARENT, prompt_colours=10, code_factors=24))
    with pytest.raises(ValueError, match=r"^lm.code_factors=24 and lm.prompt_colours=10 need vq"):
        build_lm(both)
