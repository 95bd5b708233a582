import math

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.sampling import best_of, code_loglik
from tokenshuffle.sequence import make_batch
from tokenshuffle.train.step import lm_loss


def tiny(s=2, **kw):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **kw)).eval()


@pytest.mark.parametrize("s,window_ar", [(1, False), (2, False), (2, True)])
def test_code_loglik_is_minus_the_training_loss_per_item(s, window_ar):
    """Per item, the score is -(cross-entropy summed over its codes): the mean over a batch of
    -score / tokens equals the training loss on that batch (prompts of different lengths, padded)."""
    lm = tiny(s, window_ar=window_ar)
    if window_ar:
        torch.manual_seed(1)
        for p in lm.window_ar.parameters():
            torch.nn.init.normal_(p, std=0.3)
    g = torch.Generator().manual_seed(0)
    texts = [[5, 6, 7], [8], []]
    codes = torch.randint(0, lm.config.image_vocab_size, (3, 4, 8), generator=g)
    scores = code_loglik(lm, texts, codes)
    with torch.no_grad():
        _, metrics = lm_loss(lm, make_batch(texts, codes, lm=lm))
    assert scores.shape == (3,)
    assert -scores.sum().item() / codes.numel() == pytest.approx(metrics["image_ce"], rel=1e-5)
    for i in range(3):  # each item alone scores what it scored in the padded batch
        alone = code_loglik(lm, texts[i : i + 1], codes[i : i + 1])
        assert alone.item() == pytest.approx(scores[i].item(), rel=1e-5)


def test_code_loglik_scores_in_chunks_like_one_batch(monkeypatch):
    lm = tiny(2)
    texts = [[i + 1] for i in range(5)]
    codes = torch.randint(0, lm.config.image_vocab_size, (5, 4, 4), generator=torch.Generator().manual_seed(3))
    whole = code_loglik(lm, texts, codes)
    monkeypatch.setattr("tokenshuffle.sampling.rerank.SCORE_BATCH", 2)
    assert torch.allclose(code_loglik(lm, texts, codes), whole, rtol=1e-5)
    with pytest.raises(ValueError, match="2 prompts for 5 code grids"):
        code_loglik(lm, texts[:2], codes)


def test_best_of_picks_the_highest_score_in_each_group():
    scores = torch.tensor([0.1, 0.9, 0.3, -5.0, -1.0, -2.0])
    assert best_of(scores, candidates=3).tolist() == [1, 4]
    assert best_of(scores, candidates=1).tolist() == list(range(6))


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_generate_keeps_the_likeliest_of_the_candidates_it_drew(guidance):
    """With candidates=n, generate draws what n copies of each prompt would draw with the same
    generator and returns, per prompt, the copy with the highest code_loglik."""
    lm = tiny(2)
    texts, n = [[5, 6], [7]], 3
    cfg = ts.SamplingConfig(guidance_scale=guidance, top_k=20)
    best = ts.generate(lm, texts, grid=(4, 8), sampling=ts.SamplingConfig(guidance_scale=guidance, top_k=20,
                                                                         candidates=n),
                       generator=torch.Generator().manual_seed(0))
    repeated = [t for t in texts for _ in range(n)]
    drawn = ts.generate(lm, repeated, grid=(4, 8), sampling=cfg, generator=torch.Generator().manual_seed(0))
    scores = code_loglik(lm, repeated, drawn).view(2, n)
    assert best.shape == (2, 4, 8)
    assert len({tuple(d.flatten().tolist()) for d in drawn[:n]}) > 1  # the candidates differ
    for i in range(2):
        assert torch.equal(best[i], drawn[i * n + scores[i].argmax().item()])
        assert code_loglik(lm, texts[i : i + 1], best[i : i + 1]).item() == pytest.approx(scores[i].max().item(),
                                                                                            rel=1e-5)
    assert math.isfinite(scores.sum().item())


def test_bad_candidates_names_the_argument():
    with pytest.raises(ValueError, match="candidates"):
        ts.SamplingConfig(candidates=0)
