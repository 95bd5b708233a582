import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model.shuffle import codes_to_windows
from tokenshuffle.sampling import decode_step, prefill
from tokenshuffle.sequence import Batch, build_prefix, make_batch, next_window_positions, teacher_forced


def tiny(s=2, **kw):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **kw)).eval()


def randomise(lm, seed=1):
    """WindowPosition starts at zero; give it weights so a test can see it act."""
    torch.manual_seed(seed)
    for p in lm.window_pos.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return lm


def test_each_position_names_the_window_it_predicts():
    pos = next_window_positions(torch.arange(10), image_start=3, window_grid=(2, 3))  # 3 prefix + 6 windows + 1
    want = [[-1, -1], [-1, -1], [0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [-1, -1], [-1, -1]]
    assert pos[:, :2].tolist() == want
    assert (pos[:, 2:] == torch.tensor([2, 3])).all()
    one = next_window_positions(torch.tensor([5]), image_start=3, window_grid=(2, 3))  # a decode step's row
    assert torch.equal(one, pos[5:6])


def test_it_starts_as_the_plain_model_and_a_forward_without_positions_is_refused():
    plain, pos = tiny(2), tiny(2, window_pos=True)
    missing = pos.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("window_pos.") for k in missing)
    codes = torch.randint(0, plain.config.image_vocab_size, (2, 4, 8))
    batch = make_batch([[4, 5], [6]], codes, lm=plain)
    with torch.no_grad():
        assert torch.allclose(teacher_forced(pos, batch)[1], teacher_forced(plain, batch)[1], atol=1e-6)
        randomise(pos)
        assert not torch.allclose(teacher_forced(pos, batch)[1], teacher_forced(plain, batch)[1], atol=1e-3)
    prefix, valid = build_prefix([[4]], grid=(4, 8), config=pos.config)
    windows = codes_to_windows(codes[:1], s=2)
    with pytest.raises(ValueError, match="window_pos"):
        pos(prefix, windows, input_pos=torch.arange(prefix.shape[1] + 8), valid=torch.ones(1, prefix.shape[1] + 8,
                                                                                             dtype=torch.bool))


def test_the_same_codes_at_another_size_read_other_positions():
    """A 4x8 and an 8x4 code grid share their first window row's codes but not its place in the image."""
    lm = randomise(tiny(2, window_pos=True))
    a = torch.randint(0, lm.config.image_vocab_size, (1, 4, 8))
    b = a.reshape(1, 8, 4)
    with torch.no_grad():
        la = teacher_forced(lm, make_batch([[3]], a, lm=lm))[1]
        lb = teacher_forced(lm, make_batch([[3]], b, lm=lm))[1]
    assert not torch.allclose(la[:, 1:2], lb[:, 1:2], atol=1e-3)


@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize("guidance", [False, True])
def test_cached_decode_equals_full_forward(s, guidance):
    lm = randomise(tiny(s, window_pos=True))
    cfg = lm.config
    grid = (8, 4)
    texts = [[1, 2, 3, 4, 5], [9]]  # the second row is left-padded
    codes = torch.randint(0, cfg.image_vocab_size, (2, *grid))
    prefix, valid = build_prefix(texts, grid=grid, config=cfg, guidance=guidance)
    rows, P = prefix.shape
    batch = make_batch(texts, codes, lm=lm)
    windows = codes_to_windows(codes, s=s).repeat(rows // 2, 1, 1)  # (rows, N, s²)
    N = windows.shape[1]
    full_batch = Batch(prefix, valid, windows, None, batch.window_grid)
    wpos = next_window_positions(torch.arange(P + N), image_start=P, window_grid=batch.window_grid)
    with torch.no_grad():
        full = teacher_forced(lm, full_batch)[1]  # (rows, N, s², V)
        lm.setup_cache(batch=rows, max_len=P + N)
        steps = [prefill(lm, prefix, valid=valid, window_pos=wpos[:P])]  # (rows, 1, D) each
        for t in range(1, N):
            steps.append(decode_step(lm, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]),
                                     valid=torch.ones(rows, 1, dtype=torch.bool), window_pos=wpos[P + t - 1 : P + t]))
        lm.clear_cache()
        cached = lm.image_logits(torch.cat(steps, 1), codes=windows).float()
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()


def test_greedy_generate_matches_argmax_of_full_forward():
    lm = randomise(tiny(2, window_pos=True, window_ar=True))
    for p in lm.window_ar.parameters():
        torch.nn.init.normal_(p, std=0.3)
    codes = ts.generate(lm, [[3, 4]], grid=(4, 8), sampling=ts.SamplingConfig(guidance_scale=1.0, temperature=0))
    batch = make_batch([[3, 4]], codes, lm=lm)
    with torch.no_grad():
        logits = teacher_forced(lm, batch)[1]
    assert torch.equal(logits.argmax(-1), batch.windows)
