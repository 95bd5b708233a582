import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.sequence import make_batch
from tokenshuffle.train.step import LossConfig, lm_loss


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2))
    codes = torch.randint(0, lm.config.image_vocab_size, (2, 4, 4), generator=torch.Generator().manual_seed(1))
    batch = make_batch([[10, 11, 12], [13]], codes, lm=lm)
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3, weight_decay=0.0)
    loss_cfg = LossConfig(z_loss_weight=1e-4, text_loss_weight=0.1)
    first = None
    for _ in range(150):
        loss, metrics = lm_loss(lm, batch, loss=loss_cfg)
        first = first or metrics
        opt.zero_grad()
        loss.backward()
        opt.step()
    # uniform guessing over 64 codes is ln 64 = 4.16 nats; memorising 32 codes must get far below it
    assert first["image_ce"] > 3.5
    assert metrics["image_ce"] < 0.1, metrics
    assert {"z_loss", "text_ce", "bits_per_token"} <= set(metrics)


def _tiny_window_ar():
    torch.manual_seed(0)
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2, window_ar=True)).eval()
    for p in lm.window_ar.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return lm


def test_negatives_add_paired_rows_and_leave_the_cross_entropy_alone():
    from tokenshuffle.sampling import code_loglik

    lm = _tiny_window_ar()
    texts, negatives = [[5, 6, 7], [8], [9, 10]], [[7, 6, 5], None, [10, 9]]
    codes = torch.randint(0, lm.config.image_vocab_size, (3, 4, 8), generator=torch.Generator().manual_seed(2))
    batch = make_batch(texts, codes, lm=lm, negatives=negatives)
    assert batch.prefix.shape[0] == 5 and batch.pairs.tolist() == [[0, 3], [2, 4]]
    assert torch.equal(batch.windows[3], batch.windows[0]) and torch.equal(batch.windows[4], batch.windows[2])
    cfg = LossConfig(contrast_weight=2.0, contrast_margin=3.0)
    with torch.no_grad():
        _, plain = lm_loss(lm, make_batch(texts, codes, lm=lm), loss=cfg)
        _, paired = lm_loss(lm, batch, loss=cfg)
    assert paired["image_ce"] == pytest.approx(plain["image_ce"], rel=1e-5)  # negative rows take no CE
    assert plain["contrast"] == 0.0 and plain["contrast_delta"] == 0.0
    # delta is the gap of the per-item log-likelihoods the reranker computes
    delta = code_loglik(lm, [texts[0], texts[2]], codes[[0, 2]]) - code_loglik(lm, [negatives[0], negatives[2]],
                                                                             codes[[0, 2]])
    assert paired["contrast_delta"] == pytest.approx(delta.mean().item(), rel=1e-4, abs=1e-5)
    term = 2.0 * torch.nn.functional.softplus(3.0 - delta).mean().item() / codes[0].numel()
    assert paired["contrast"] == pytest.approx(term, rel=1e-4)
    assert paired["loss"] == pytest.approx(paired["image_ce"] + paired["contrast"], rel=1e-5)


def test_contrast_loss_teaches_word_order():
    """Two images whose captions are each other's swap: the loss must make each caption's image likelier
    under it than under the other (delta > 0), which a model reading only the bag of words cannot."""
    torch.manual_seed(0)
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2))
    codes = torch.randint(0, lm.config.image_vocab_size, (2, 4, 4), generator=torch.Generator().manual_seed(3))
    texts = [[5, 6], [6, 5]]
    batch = make_batch(texts, codes, lm=lm, negatives=[[6, 5], [5, 6]])
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3, weight_decay=0.0)
    cfg = LossConfig(contrast_weight=4.0, contrast_margin=5.0)
    first = None
    for _ in range(120):
        loss, metrics = lm_loss(lm, batch, loss=cfg)
        first = first or metrics
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(first["contrast_delta"]) < 1.0
    assert metrics["contrast_delta"] > 5.0, metrics


def test_bad_negatives_and_contrast_settings_name_the_argument():
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2))
    with pytest.raises(ValueError, match="1 negatives for 2 captions"):
        make_batch([[5], [6]], torch.zeros(2, 4, 4, dtype=torch.long), lm=lm, negatives=[None])
    with pytest.raises(ValueError, match="contrast_weight"):
        LossConfig(contrast_weight=-1.0)
