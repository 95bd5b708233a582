import torch

import tokenshuffle as ts
from tokenshuffle.train.step import LossConfig, lm_loss, make_batch


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
