import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model.code_factors import UNUSED
from tokenshuffle.sequence import build_prefix, make_batch, teacher_forced


def tiny(s=2, **overrides):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **overrides)).eval()


def _with_table(lm, table):
    lm.code_factors.set_table(table)
    with torch.no_grad():
        for p in (lm.code_factors.embed.weight, lm.code_factors.head.weight):
            torch.nn.init.normal_(p, std=0.3)
    return lm


@pytest.mark.parametrize("s", [1, 2])
def test_one_hot_features_give_the_plain_model_with_those_rows(s):
    V = 64
    factored = _with_table(tiny(s, code_factors=V, window_ar=s > 1), torch.eye(V))
    plain = tiny(s, window_ar=s > 1)
    plain.load_state_dict({k: v for k, v in factored.state_dict().items() if not k.startswith("code_factors.")})
    off = plain.config.image_offset
    with torch.no_grad():
        plain.tok_embeddings.weight[off:] = factored.code_factors.embed.weight.t()  # (V, D)
        plain.output.weight[off:] = factored.code_factors.head.weight  # (V, D)
    codes = torch.randint(0, V, (2, 4, 4), generator=torch.Generator().manual_seed(1))
    batch = make_batch([[3, 4], [5]], codes, lm=plain)
    with torch.no_grad():
        a, b = teacher_forced(factored, batch)[1], teacher_forced(plain, batch)[1]
    assert torch.allclose(a, b, atol=1e-5)
    sampling = ts.SamplingConfig(guidance_scale=2.0, temperature=1.0, top_k=None)
    runs = [ts.generate(m, [[3, 4]], grid=(4, 4), sampling=sampling, generator=torch.Generator().manual_seed(2))
            for m in (factored, plain)]
    assert torch.equal(*runs)


def test_codes_with_the_same_features_share_their_input_and_differ_only_by_bias():
    table = torch.zeros(64, 5)
    table[:32, 0] = 1.0  # codes 0..31 and 32..47: two feature rows; 48..63 unused
    table[32:48, 1] = 1.0
    lm = _with_table(tiny(2, code_factors=5), table)
    assert torch.equal(lm.code_factors.bias, torch.where(torch.arange(64) < 48, 0.0, UNUSED))
    emb = lm.code_factors.embedding(torch.tensor([0, 7, 40, 60]))
    assert torch.equal(emb[0], emb[1]) and not torch.equal(emb[0], emb[2]) and not emb[3].any()
    logits = lm.code_factors.logits(torch.randn(3, lm.config.dim))  # (3, V)
    assert torch.equal(logits[:, 0], logits[:, 31]) and (logits[:, 48:] < -20).all()
    counts = torch.arange(64.0) % 4  # codes 0 and 32 appear 0 times, 1 and 33 once, ...
    lm.code_factors.set_table(table, counts)
    group_total = torch.where(torch.arange(48) < 32, counts[:32].sum(), counts[32:48].sum())  # 48 and 24
    expected = (counts[:48].clamp(min=1) / group_total).log()  # a code seen 0 times is counted once
    assert torch.allclose(lm.code_factors.bias[:48], expected) and (lm.code_factors.bias[48:] == UNUSED).all()
    with pytest.raises(ValueError, match=r"table must have shape \(64, 5\)"):
        lm.code_factors.set_table(torch.zeros(64, 6))


def test_negative_code_factors_are_refused():
    with pytest.raises(ValueError, match="code_factors must be >= 0"):
        ts.LMConfig.preset("tiny", code_factors=-1)


C = 3  # colour classes of the colour-free tests


def _colour_free(**overrides):
    """A tiny colour-free model: codes 0..47 of colour v % 3 (one-hot, columns 0..2) and one of 16 outlines
    (columns 4..7), 48..63 background (column 3); word 5 names colour 1."""
    V = 64
    masks = torch.rand(16, 4, generator=torch.Generator().manual_seed(0))
    table = torch.zeros(V, C + 1 + 4)
    table[torch.arange(48), torch.arange(48) % C] = 1.0
    table[:48, C + 1:] = masks[torch.arange(48) // C]
    table[48:, C] = 1.0
    lm = _with_table(tiny(2, code_factors=C + 5, prompt_colours=C, colour_free=True, **overrides), table)
    lm.prompt_colours.set_classes(torch.where(torch.arange(V) < 48, torch.arange(V) % C, C))
    words = torch.arange(lm.config.text_vocab_size)
    lm.prompt_colours.set_words(torch.where(words == 5, 1, C))
    return lm


def test_a_colour_free_decoder_neither_reads_nor_scores_which_colour():
    free = _colour_free()
    seeing = tiny(2, code_factors=C + 5, prompt_colours=C)
    seeing.load_state_dict(free.state_dict())
    same_outline = torch.arange(12, 15)  # one outline in the three colours
    emb = free.code_factors.embedding(same_outline)
    assert torch.equal(emb[0], emb[1]) and torch.equal(emb[0], emb[2])
    assert not torch.equal(*seeing.code_factors.embedding(same_outline[:2]))
    feats = torch.randn(5, free.config.dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        flat, seen = free.code_factors.logits(feats), seeing.code_factors.logits(feats)  # (5, V)
    assert torch.equal(flat[:, 12], flat[:, 13]) and torch.equal(flat[:, 12], flat[:, 14])
    assert not torch.allclose(seen[:, 12], seen[:, 13])
    # how likely a coloured code of that outline is stays the decoder's; background codes keep their logits
    torch.testing.assert_close(flat[:, :48].unflatten(1, (16, C)).logsumexp(-1),
                               seen[:, :48].unflatten(1, (16, C)).logsumexp(-1))
    torch.testing.assert_close(flat[:, 48:], seen[:, 48:])
    # the drawn codes' colours do not reach the decoder; the prompt's colour word alone ranks the colours
    codes = torch.randint(0, 16, (1, 4, 4), generator=torch.Generator().manual_seed(2)) * C
    with torch.no_grad():
        red = teacher_forced(free, make_batch([[7, 5]], codes, lm=free), colours=True)
        other = teacher_forced(free, make_batch([[7, 5]], codes + 1, lm=free), colours=True)
    torch.testing.assert_close(red[0], other[0])
    logits, log_q = red[1], red[2]  # (1, N, 4, V), (1, N, 4, C)
    assert (log_q.argmax(-1) == 1).all()
    torch.testing.assert_close(logits[..., 13] - logits[..., 12], log_q[..., 1] - log_q[..., 0])
    with pytest.raises(ValueError, match="colour_free .* needs 0 < prompt_colours < code_factors"):
        ts.LMConfig.preset("tiny", code_factors=8, colour_free=True)
    with pytest.raises(ValueError, match="colour_free .* needs 0 < prompt_colours < code_factors"):
        ts.LMConfig.preset("tiny", code_factors=3, prompt_colours=3, colour_free=True)


def test_colour_slots_let_a_colour_free_decoder_go_on_in_a_colour_the_prompt_does_not_name():
    lm = _colour_free(colour_slots=True)
    prefix, valid = build_prefix([[7, 9]], grid=(4, 4), config=lm.config)  # no colour word
    context = lm.prompt_context(prefix, valid)
    assert context[2].sum().item() == 2 + 1 + C  # the words, the null slot and one slot per colour
    feats = torch.randn(1, 1, lm.config.dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        lm.prompt_colours.slot_key[2] = 50 * torch.nn.functional.normalize(lm.prompt_colours.query(feats[0, 0]), dim=0)
        log_q = lm.prompt_colours.log_probs(feats, lm.prompt_context(prefix, valid))
    assert log_q[0, 0].argmax().item() == 2 and log_q[0, 0, 2].item() > -1e-3
    # the decoder reads the drawn codes' colours again, and still scores no colour above another
    codes = torch.randint(0, 16, (1, 4, 4), generator=torch.Generator().manual_seed(2)) * C
    with torch.no_grad():
        a = teacher_forced(lm, make_batch([[7, 9]], codes, lm=lm), colours=True)
        b = teacher_forced(lm, make_batch([[7, 9]], codes + 1, lm=lm), colours=True)
    assert not torch.allclose(a[0], b[0])
    flat = lm.code_factors.logits(a[0][:, :1])  # (1, 1, V) the decoder's own scores
    assert torch.equal(flat[..., 12], flat[..., 13]) and torch.equal(flat[..., 12], flat[..., 14])
    with pytest.raises(ValueError, match="colour_slots .* needs colour_free=True"):
        ts.LMConfig.preset("tiny", code_factors=8, prompt_colours=3, colour_slots=True)
