"""LMConfig.grid_windows and TokenShuffleLM.at: a grid served with its own window modules, the rest shared."""

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model.io import load_lm, save_lm
from tokenshuffle.model.shuffle import codes_to_windows
from tokenshuffle.sampling import decode_step, generate, prefill
from tokenshuffle.sampling.config import SamplingConfig
from tokenshuffle.sequence import build_prefix, make_batch, teacher_forced
from tokenshuffle.train.build import carry_over, freeze_except

GRID = (16, 16)  # served at s=4 by a tiny s=2 model: its decoder sees the 4x4 windows of an 8x8 grid


def tiny(grid_windows=((16, 16, 4),), seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ts.LMConfig.preset("tiny", shuffle_window=2, window_ar=True, grid_windows=grid_windows, **kw)
    lm = ts.TokenShuffleLM(cfg).eval()
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        for p in lm.parameters():  # every head acts (the window heads start as the identity)
            p.add_(0.1 * torch.randn_like(p))
    return lm


def test_the_view_shares_the_decoder_and_owns_its_window_modules():
    lm = tiny()
    view = lm.at(GRID)
    assert view is lm.at(GRID) and lm.at((8, 8)) is lm
    assert view.s == 4 and view.decoder is lm.decoder and view.output is lm.output
    assert view.shuffle is lm.grid_modules["16x16"].shuffle and view.shuffle is not lm.shuffle
    assert view.named_grid(GRID) == (8, 8) == lm.named_grid(GRID) and lm.named_grid((4, 6)) == (4, 6)
    assert view.at((8, 8)) is lm and view.at(GRID) is view and view not in list(lm.modules())
    with pytest.raises(ValueError, match="draws the grid 16x16"):
        view.named_grid((8, 8))
    names = list(lm.state_dict())
    assert len(names) == len(set(names)) and any(n.startswith("grid_modules.16x16.window_ar.") for n in names)
    assert sum(p.numel() for p in lm.parameters()) == sum(t.numel() for t in lm.state_dict().values())


def test_adding_grid_windows_leaves_the_model_at_its_own_grids_unchanged():
    plain, wide = tiny(()), tiny()
    missing, unexpected = wide.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("grid_modules.") for k in missing)
    codes = torch.randint(0, 64, (2, 8, 8))
    with torch.no_grad():
        a = teacher_forced(plain, make_batch([[1, 2], [3]], codes, lm=plain))[1]
        b = teacher_forced(wide, make_batch([[1, 2], [3]], codes, lm=wide))[1]
    assert torch.equal(a, b)


def test_the_prefix_names_the_grid_of_the_shared_windows():
    lm = tiny()
    batch = make_batch([[5, 6]], torch.randint(0, 64, (1, *GRID)), lm=lm)
    named, _ = build_prefix([[5, 6]], grid=(8, 8), config=lm.config)
    assert torch.equal(batch.prefix, named) and batch.windows.shape == (1, 16, 16) and batch.grid == GRID


def test_cached_decode_of_the_view_equals_its_full_forward():
    view = tiny().at(GRID)
    texts = [[1, 2, 3, 4, 5], [9]]
    codes = torch.randint(0, 64, (2, *GRID))
    prefix, valid = build_prefix(texts, grid=view.named_grid(GRID), config=view.config, guidance=True)
    rows, P = prefix.shape
    windows = codes_to_windows(codes, s=4).repeat(2, 1, 1)  # (rows, 16, 16)
    N = windows.shape[1]
    with torch.no_grad():
        full = view.image_logits(view(prefix, windows, input_pos=torch.arange(P + N),
                                      valid=torch.cat([valid, valid.new_ones(rows, N)], 1))[:, P - 1 : -1],
                                 codes=windows)
        view.setup_cache(batch=rows, max_len=P + N)
        steps = [prefill(view, prefix, valid=valid)]
        for t in range(1, N):
            steps.append(decode_step(view, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]),
                                     valid=torch.ones(rows, 1, dtype=torch.bool)))
        view.clear_cache()
        cached = view.image_logits(torch.cat(steps, 1), codes=windows)
    assert full.shape == (rows, N, 16, 64)
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()


def test_generate_draws_the_grid_with_its_own_windows():
    lm = tiny()
    sampling = SamplingConfig(guidance_scale=2.0, top_k=5)
    a = generate(lm, [[1, 2]], grid=GRID, sampling=sampling, generator=torch.Generator().manual_seed(3))
    b = generate(lm.at(GRID), [[1, 2]], grid=GRID, sampling=sampling, generator=torch.Generator().manual_seed(3))
    assert a.shape == (1, *GRID) and torch.equal(a, b)


def test_save_and_load_keep_the_grid_windows(tmp_path):
    lm = tiny()
    save_lm(lm, tmp_path / "lm")
    back = load_lm(tmp_path / "lm").eval()
    assert back.config.grid_windows == ((16, 16, 4),)
    codes = torch.randint(0, 64, (1, *GRID))
    with torch.no_grad():
        a = teacher_forced(lm, make_batch([[1]], codes, lm=lm))[1]
        b = teacher_forced(back, make_batch([[1]], codes, lm=back))[1]
    assert torch.equal(a, b)


@pytest.mark.parametrize("entry,words", [((16, 16, 2), "must exceed"), ((16, 12, 8), "divide"),
                                         ((128, 128, 4), "max_grid_size"), ((16, 16), "(h, w, s)")])
def test_bad_grid_windows_name_the_entry(entry, words):
    with pytest.raises(ValueError, match="grid_windows") as err:
        ts.LMConfig.preset("tiny", shuffle_window=2, grid_windows=(entry,))
    assert words in str(err.value)


def test_a_stage_adding_grid_windows_starts_them_from_the_parents_window_modules(tmp_path):
    parent = tiny(())
    save_lm(parent, tmp_path / "parent")
    child = tiny(seed=5)
    info = carry_over(child, tmp_path / "parent")
    head, own = parent.window_ar.state_dict(), child.grid_modules["16x16"].window_ar.state_dict()
    assert all(torch.equal(own[k], head[k]) for k in head)
    assert "grid_modules.16x16.shuffle.compress.fc1.weight" in info["new"]  # D -> D/16: no parent of that shape
    assert freeze_except(child, "grid_modules.") == sum(1 for n, _ in child.named_parameters()
                                                         if n.startswith("grid_modules."))
    assert not any(p.requires_grad for p in child.decoder.parameters())
    with pytest.raises(ValueError, match="train_only"):
        freeze_except(child, "nothing.")


def test_a_grid_with_its_own_decoder_leaves_the_base_grids_bit_identical_when_only_it_trains():
    lm = tiny(grid_own_decoder=True).train()
    view = lm.at(GRID)
    assert view.decoder is lm.grid_modules["16x16"].decoder and view.decoder is not lm.decoder
    assert view.output is not lm.output and view.tok_embeddings is not lm.tok_embeddings
    names = list(lm.state_dict())
    assert len(names) == len(set(names)) and "grid_modules.16x16.decoder.norm.weight" in names
    codes8, codes16 = torch.randint(0, 64, (2, 8, 8)), torch.randint(0, 64, (2, *GRID))

    def logits(grid_codes):
        with torch.no_grad():
            return teacher_forced(lm, make_batch([[1, 2], [3]], grid_codes, lm=lm))[1]

    base_before, grid_before = logits(codes8), logits(codes16)
    freeze_except(lm, "grid_modules.")
    opt = torch.optim.SGD([p for p in lm.parameters() if p.requires_grad], lr=0.5)
    loss = teacher_forced(lm, make_batch([[1, 2], [3]], codes16, lm=lm))[1].logsumexp(-1).mean()
    loss.backward()
    assert lm.grid_modules["16x16"].decoder.layers[0].attention.wqkv.weight.grad.abs().sum() > 0
    opt.step()
    assert torch.equal(logits(codes8), base_before)  # every other size: not one bit moved
    assert not torch.allclose(logits(codes16), grid_before)


def test_cached_decode_of_a_view_with_its_own_decoder_equals_generate_through_the_base():
    lm = tiny(grid_own_decoder=True)
    with torch.no_grad():
        for p in lm.grid_modules.parameters():
            p.add_(0.1 * torch.randn_like(p))  # the grid's decoder differs from the base's
    sampling = SamplingConfig(guidance_scale=2.0, top_k=5)
    a = generate(lm, [[1, 2]], grid=GRID, sampling=sampling, generator=torch.Generator().manual_seed(3))
    b = generate(lm.at(GRID), [[1, 2]], grid=GRID, sampling=sampling, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    view, codes = lm.at(GRID), torch.randint(0, 64, (1, *GRID))
    prefix, valid = build_prefix([[1, 2]], grid=view.named_grid(GRID), config=view.config)
    windows = codes_to_windows(codes, s=4)
    P, N = prefix.shape[1], windows.shape[1]
    with torch.no_grad():
        full = view(prefix, windows, input_pos=torch.arange(P + N), valid=torch.ones(1, P + N, dtype=torch.bool))
        view.setup_cache(batch=1, max_len=P + N)
        steps = [prefill(view, prefix, valid=valid)]
        steps += [decode_step(view, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]),
                              valid=torch.ones(1, 1, dtype=torch.bool)) for t in range(1, N)]
        view.clear_cache()
    assert torch.allclose(torch.cat(steps, 1), full[:, P - 1 : -1], atol=1e-5)


def test_own_decoder_needs_grid_windows():
    with pytest.raises(ValueError, match="grid_own_decoder .* needs grid_windows"):
        ts.LMConfig.preset("tiny", shuffle_window=2, grid_own_decoder=True)


WIDE = (8, 16)  # a 2:1 grid drawn at s=4 with the 16x16 grid's own decoder


def shared(seed=0):
    return tiny(grid_windows=((16, 16, 4), (8, 16, 4)), grid_own_decoder=True,
                grid_shared_decoder=((8, 16, 16, 16),), seed=seed)


def test_a_grid_that_shares_another_grids_decoder_owns_only_its_window_modules():
    lm = shared()
    wide, square = lm.at(WIDE), lm.at(GRID)
    assert wide.decoder is square.decoder and wide.output is square.output
    assert wide.tok_embeddings is square.tok_embeddings and wide.decoder is not lm.decoder
    assert wide.shuffle is not square.shuffle and wide.window_ar is not square.window_ar
    names = list(lm.state_dict())
    assert len(names) == len(set(names)) and not any(n.startswith("grid_modules.8x16.decoder.") for n in names)
    assert lm.config.decoder_grid(WIDE) == GRID and lm.config.decoder_grid(GRID) == GRID
    assert lm.config.decoder_grid((8, 8)) is None and wide.named_grid(WIDE) == (4, 8)


def test_training_a_shared_decoder_at_one_grid_moves_both_of_its_grids_and_not_the_base():
    lm = shared().train()
    codes8, codes16, wide = (torch.randint(0, 64, (2, *g)) for g in ((8, 8), GRID, WIDE))

    def logits(grid_codes):
        with torch.no_grad():
            return teacher_forced(lm, make_batch([[1, 2], [3]], grid_codes, lm=lm))[1]

    before = [logits(c) for c in (codes8, codes16, wide)]
    freeze_except(lm, "grid_modules.")
    opt = torch.optim.SGD([p for p in lm.parameters() if p.requires_grad], lr=0.5)
    teacher_forced(lm, make_batch([[1, 2], [3]], wide, lm=lm))[1].logsumexp(-1).mean().backward()
    assert lm.grid_modules["8x16"].shuffle.compress.fc1.weight.grad.abs().sum() > 0
    assert lm.grid_modules["16x16"].shuffle.compress.fc1.weight.grad is None  # the square's window modules: untouched
    opt.step()
    after = [logits(c) for c in (codes8, codes16, wide)]
    assert torch.equal(after[0], before[0])
    assert not torch.allclose(after[1], before[1]) and not torch.allclose(after[2], before[2])


def test_generate_at_a_shared_decoder_grid_equals_its_view_and_survives_save_and_load(tmp_path):
    lm = shared(seed=4)
    sampling = SamplingConfig(guidance_scale=2.0, top_k=5)
    a = generate(lm, [[1, 2]], grid=WIDE, sampling=sampling, generator=torch.Generator().manual_seed(3))
    b = generate(lm.at(WIDE), [[1, 2]], grid=WIDE, sampling=sampling, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (1, *WIDE)
    save_lm(lm, tmp_path / "lm")
    again = load_lm(tmp_path / "lm").eval()
    assert again.config.grid_shared_decoder == ((8, 16, 16, 16),)
    c = generate(again, [[1, 2]], grid=WIDE, sampling=sampling, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, c)


@pytest.mark.parametrize(("kw", "match"), [
    (dict(grid_shared_decoder=((8, 16, 16, 16),)), r"grid_shared_decoder entry \(8, 16, 16, 16\): .*grid_own_decoder"),
    (dict(grid_own_decoder=True, grid_shared_decoder=((8, 8, 16, 16),)), r"entry \(8, 8, 16, 16\).*\(16x16, 8x16\)"),
    (dict(grid_own_decoder=True, grid_shared_decoder=((8, 16, 8, 16),)), r"entry \(8, 16, 8, 16\)"),
    (dict(grid_own_decoder=True, grid_shared_decoder=((8, 16, 16),)), r"must be \(h, w, H, W\) ints"),
    (dict(grid_own_decoder=True, grid_shared_decoder=((8, 16, 16, 16), (16, 16, 8, 16))), "an owner itself shares"),
])
def test_bad_shared_decoder_entries_name_the_entry_and_the_grids(kw, match):
    with pytest.raises(ValueError, match=match):
        ts.LMConfig.preset("tiny", shuffle_window=2, grid_windows=((16, 16, 4), (8, 16, 4)), **kw)


def test_a_new_grid_starts_from_the_parents_grid_of_the_same_window(tmp_path):
    parent = tiny(grid_own_decoder=True)
    save_lm(parent, tmp_path / "parent")
    child = shared(seed=9)
    info = carry_over(child, tmp_path / "parent")
    assert info["new"] == []
    for name, value in child.grid_modules["8x16"].state_dict().items():
        assert torch.equal(value, parent.grid_modules["16x16"].state_dict()[name]), name


def test_a_new_grid_of_a_new_window_starts_from_the_grid_whose_decoder_it_shares(tmp_path):
    parent = tiny(grid_own_decoder=True)  # 16x16 in 4x4 windows with its own decoder
    save_lm(parent, tmp_path / "parent")
    child = tiny(grid_windows=((16, 16, 4), (32, 32, 8)), grid_own_decoder=True,
                 grid_shared_decoder=((32, 32, 16, 16),), seed=9)
    info = carry_over(child, tmp_path / "parent")
    big, owner = child.grid_modules["32x32"].state_dict(), parent.grid_modules["16x16"].state_dict()
    fresh = {n for n in big if big[n].shape != owner[n].shape}  # the per-token layers whose shapes follow s
    assert fresh and {f"grid_modules.32x32.{n}" for n in fresh} == set(info["new"])
    for name, value in big.items():
        if name not in fresh:
            assert torch.equal(value, owner[name]), name
    assert not torch.equal(big["window_ar.qkv.weight"], parent.window_ar.qkv.weight)
