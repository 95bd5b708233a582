"""Best-of-N sampling: rank candidate code grids by the decoder's own log-likelihood given the prompt.

``generate`` with ``SamplingConfig.candidates = N`` draws N grids per prompt and keeps the one whose
codes the model finds most likely under the prompt: the sum over every image code of
log p(code | prompt, the codes before it), teacher-forced in one forward pass with no guidance
(the training loss, per item). Failed samples of a small decoder are mostly grids that leave the
training distribution part way (a window mixing two objects, a stray half-shape), and those codes are
improbable under the prompt too, so the likeliest of N is more often right; the cost is N times the
sampling. Ranking by the likelihood ratio to the empty prompt instead favours grids that are
unlikely without a prompt, the malformed ones; on the tuning prompts it did worse than no ranking
(README, "Best of n").
"""

from __future__ import annotations

import torch

from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sequence import make_batch, teacher_forced

SCORE_BATCH = 16  # rows scored per forward pass (the V-way logits of every code are held at once)


@torch.no_grad()
def code_loglik(lm: TokenShuffleLM, texts: list[list[int]], codes: torch.Tensor) -> torch.Tensor:
    """B tokenised prompts and (B, h, w) codes -> (B,) sum of log p(code | prompt, earlier codes), nats."""
    B = codes.shape[0]
    if len(texts) != B:
        raise ValueError(f"{len(texts)} prompts for {B} code grids")
    device = lm.output.weight.device
    out = torch.empty(B, dtype=torch.float32, device=device)
    for start in range(0, B, SCORE_BATCH):
        rows = slice(start, min(B, start + SCORE_BATCH))
        batch = make_batch(texts[rows], codes[rows], lm=lm).to(device)
        _, logits = teacher_forced(lm, batch)  # (b, N, s², V)
        picked = logits.log_softmax(-1).gather(-1, batch.windows.unsqueeze(-1)).squeeze(-1)  # (b, N, s²)
        out[rows] = picked.sum(dim=(1, 2))
    return out


def best_of(scores: torch.Tensor, *, candidates: int) -> torch.Tensor:
    """(B * candidates,) scores, each prompt's candidates adjacent -> (B,) row index of each best."""
    groups = scores.view(-1, candidates)  # (B, candidates)
    offsets = torch.arange(groups.shape[0], device=scores.device) * candidates
    return offsets + groups.argmax(dim=1)
