import math

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.sampling.guidance import cfg_combine
from tokenshuffle.sequence import build_prefix, make_batch, teacher_forced
from tokenshuffle.train.step import LossConfig, lm_loss

C = 3  # colour classes in these tests


def tiny(s=2, **overrides):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **overrides)).eval()


def coloured(s=2, *, window_ar=True, colour_blind=False):
    """A tiny model with prompt colours: codes 0..47 of classes 0, 1, 2 in turn, 48..63 of none; word 5
    names class 1 and word 6 class 2 (read at a large strength), every other word no colour."""
    lm = tiny(s, window_ar=window_ar, prompt_colours=C, colour_blind=colour_blind)
    classes = torch.where(torch.arange(64) < 48, torch.arange(64) % C, C)
    lm.prompt_colours.set_classes(classes)
    words = torch.arange(lm.config.text_vocab_size)
    lm.prompt_colours.set_words(torch.where(words == 5, 1, torch.where(words == 6, 2, C)))
    with torch.no_grad():
        lm.prompt_colours.strength.fill_(40.0)
    return lm


def plain_twin(lm):
    """The same weights without the prompt-colour term."""
    twin = tiny(lm.s, window_ar=lm.window_ar is not None)
    twin.load_state_dict({k: v for k, v in lm.state_dict().items() if not k.startswith("prompt_colours.")})
    return twin


@pytest.mark.parametrize("s", [1, 2])
def test_without_colour_words_the_term_leaves_the_code_logits_and_samples_unchanged(s):
    lm = tiny(s, window_ar=s > 1, prompt_colours=C)
    lm.prompt_colours.set_classes(torch.arange(64) % (C + 1))  # no word names a colour: q is uniform
    twin = plain_twin(lm)
    codes = torch.randint(0, 64, (2, 4, 4), generator=torch.Generator().manual_seed(1))
    batch = make_batch([[5, 4], [6]], codes, lm=lm)
    with torch.no_grad():
        torch.testing.assert_close(teacher_forced(lm, batch)[1], teacher_forced(twin, batch)[1], atol=1e-5, rtol=0)
    sampling = ts.SamplingConfig(guidance_scale=2.0, temperature=1.0, top_k=None)
    runs = [ts.generate(m, [[5, 4]], grid=(4, 4), sampling=sampling, generator=torch.Generator().manual_seed(2))
            for m in (lm, twin)]
    assert torch.equal(*runs)


def test_the_colour_comes_from_the_word_wherever_it_stands_and_moves_only_coloured_codes():
    lm = coloured()
    twin = plain_twin(lm)
    codes = torch.randint(0, 64, (3, 4, 4), generator=torch.Generator().manual_seed(1))
    batch = make_batch([[5, 7], [7, 9, 5, 11], [7, 9]], codes, lm=lm)
    with torch.no_grad():
        _, logits, log_q = teacher_forced(lm, batch, colours=True)  # (3, N, 4, V), (3, N, 4, C)
        plain = teacher_forced(twin, batch)[1]
    assert (log_q[:2].argmax(-1) == 1).all() and (log_q[:2, ..., 1] > -1e-3).all()  # word 5: class 1, first or third
    torch.testing.assert_close(log_q[2], torch.full_like(log_q[2], -math.log(C)))  # no colour word: uniform
    moved = logits - plain  # (3, N, 4, V)
    assert torch.allclose(moved[..., 48:], torch.zeros(()), atol=1e-5)  # codes of no colour keep their logits
    assert torch.allclose(moved[:2, ..., 1:48:C], torch.full((), math.log(C)), atol=1e-3)  # class 1: + log C q
    assert (moved[:2, ..., 0:48:C] < -5).all() and (moved[:2, ..., 2:48:C] < -5).all()
    assert torch.allclose(moved[2], torch.zeros(()), atol=1e-5)


def test_the_context_reads_the_words_alone_whatever_the_padding():
    lm = coloured()
    feats = torch.randn(1, 5, lm.config.dim, generator=torch.Generator().manual_seed(3))
    alone, valid = build_prefix([[7, 5, 9]], grid=(4, 4), config=lm.config)
    padded, pvalid = build_prefix([[7, 5, 9], [1, 2, 3, 4, 6, 8]], grid=(4, 4), config=lm.config)
    with torch.no_grad():
        a = lm.prompt_colours.log_probs(feats, lm.prompt_context(alone, valid))
        b = lm.prompt_colours.log_probs(feats.repeat(2, 1, 1), lm.prompt_context(padded, pvalid))[:1]
    torch.testing.assert_close(a, b)
    keys, values, mask = lm.prompt_context(padded, pvalid)
    assert mask.sum(1).tolist() == [3 + 1, 6 + 1]  # the words and the null slot; no special or grid token


@pytest.mark.parametrize("colour_blind", [False, True])
def test_greedy_generate_with_guidance_matches_argmax_of_the_guided_full_forward(colour_blind):
    """The cached sampler adds the guided colour term (cond and uncond each through their own prompt) to the
    guided features' logits: the greedy codes are the argmax of guiding the full forward's logits."""
    lm = coloured(colour_blind=colour_blind)
    torch.manual_seed(1)
    for p in lm.window_ar.parameters():
        torch.nn.init.normal_(p, std=0.3)
    sampling = ts.SamplingConfig(guidance_scale=3.0, cfg_schedule="constant", temperature=0)
    codes = ts.generate(lm, [[7, 5]], grid=(4, 4), sampling=sampling)
    from tokenshuffle.model.shuffle import codes_to_windows

    prefix, valid = build_prefix([[7, 5]], grid=(4, 4), config=lm.config, guidance=True)  # (2, P)
    windows = codes_to_windows(codes, s=2).repeat(2, 1, 1)  # (2, N, 4)
    P, N = prefix.shape[1], windows.shape[1]
    with torch.no_grad():
        hidden = lm(prefix, windows, input_pos=torch.arange(P + N), valid=torch.cat([valid, valid.new_ones(2, N)], 1))
        logits = lm.image_logits(hidden[:, P - 1 : P - 1 + N], codes=windows, context=lm.prompt_context(prefix, valid))
    guided = cfg_combine(logits, 3.0)  # (1, N, 4, V)
    assert torch.equal(guided.argmax(-1), windows[:1])
    assert (lm.prompt_colours.code_class[codes] == 1).all()  # the prompt's word decides every code's colour


def test_the_colour_loss_is_the_guess_against_each_coloured_target():
    lm = coloured()
    codes = torch.randint(0, 64, (2, 4, 4), generator=torch.Generator().manual_seed(4))
    batch = make_batch([[5, 7], [9]], codes, lm=lm)
    _, metrics = lm_loss(lm, batch, loss=LossConfig(colour_weight=0.5))
    _, logits, log_q = teacher_forced(lm, batch, colours=True)
    target = lm.prompt_colours.code_class[batch.windows]  # (2, N, 4)
    keep = target < C
    expected = -log_q.gather(-1, target.clamp(max=C - 1)[..., None])[..., 0][keep].mean()
    assert metrics["colour_ce"] == pytest.approx(expected.item(), rel=1e-5)
    image_ce = torch.nn.functional.cross_entropy(logits.flatten(0, 2), batch.windows.flatten()).item()
    assert metrics["loss"] == pytest.approx(image_ce + 0.5 * expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="prompt context"):
        lm.code_logits(torch.zeros(1, 1, 4, lm.config.dim), codes=torch.zeros(1, 1, 4, dtype=torch.long))


def test_a_colour_blind_decoder_reads_every_colour_word_as_their_mean_and_the_term_still_reads_each():
    lm = coloured(colour_blind=True)
    seeing = coloured()
    seeing.load_state_dict(lm.state_dict())
    codes = torch.randint(0, 64, (2, 4, 4), generator=torch.Generator().manual_seed(5))
    red, green = make_batch([[7, 5, 9]] * 2, codes, lm=lm), make_batch([[7, 6, 9]] * 2, codes, lm=lm)
    with torch.no_grad():
        blind = [teacher_forced(lm, b, colours=True) for b in (red, green)]
        seen = [teacher_forced(seeing, b)[1] for b in (red, green)]
        # the seeing twin given, in place of the colour word, a word whose row is the two colour rows' mean
        table = seeing.tok_embeddings.weight
        table[8] = (table[5] + table[6]) / 2
        mean = teacher_forced(seeing, make_batch([[7, 8, 9]] * 2, codes, lm=lm), colours=True)
    torch.testing.assert_close(blind[0][0], blind[1][0])  # the same hidden states for either colour word
    torch.testing.assert_close(blind[0][0], mean[0])
    assert not torch.allclose(seen[0], seen[1], atol=1e-3)  # the seeing decoder tells the words apart
    assert (blind[0][2].argmax(-1) == 1).all() and (blind[1][2].argmax(-1) == 2).all()  # the term reads each
    assert (mean[2].argmax(-1) == mean[2].argmin(-1)).all()  # word 8 is no colour word: q uniform


def test_bad_classes_and_config_are_refused():
    lm = coloured()
    with pytest.raises(ValueError, match=r"code classes must be a \(64,\) tensor in \[0, 3\]"):
        lm.prompt_colours.set_classes(torch.full((64,), 4))
    with pytest.raises(ValueError, match=r"word classes must be a \(256,\) tensor in \[0, 3\]"):
        lm.prompt_colours.set_words(torch.full((255,), 0))
    with pytest.raises(ValueError, match="colour_blind .* needs prompt_colours > 0"):
        ts.LMConfig.preset("tiny", colour_blind=True)
    with pytest.raises(ValueError, match="prompt_colours must be >= 0"):
        ts.LMConfig.preset("tiny", prompt_colours=-1)
