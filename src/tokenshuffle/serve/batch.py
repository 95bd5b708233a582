"""One decoding batch of several requests, stepped one image position at a time by the scheduler.

The rows are every request's images x candidates, request after request; under guidance the decoder
batch is doubled as ``[cond; uncond]`` (``sequence.build_prefix``). Each request draws its codes from
its own ``torch.Generator`` in the order ``sampling.generate`` would, so a request decoded on its own
gives the image ``tokenshuffle generate`` gives for that seed. Rows of a cancelled request are cut out
of the cache between steps (``drop``), so the rest of the batch stops paying for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import tokenshuffle as ts
from tokenshuffle.sampling import CFGSchedule, SamplingConfig, best_of, cfg_combine, code_loglik, decode_step, prefill
from tokenshuffle.sampling.logits import sample_logits
from tokenshuffle.sequence import build_prefix


@dataclass
class Member:
    """A request's place in the batch: its tokenised rows and its generator."""

    key: object  # the scheduler's job
    texts: list[list[int]]  # one per row: images x candidates, each image's candidates adjacent
    generator: torch.Generator
    start: int = 0  # first row in the batch (cond half)


def sample_rows(lm, hidden: torch.Tensor, *, scale: float, sampling: SamplingConfig,
                members: list[Member]) -> torch.Tensor:
    """``sampling.generate.sample_window`` with one generator per member: (rows, 1, D) -> (B, s²) codes.

    The network runs once for the whole batch; only the draws are split, each member's rows drawn
    from its own generator in one call per code group, the same calls a lone request makes.
    """
    rows = hidden.shape[0]
    B = rows // 2 if sampling.use_cfg else rows
    ss = lm.s * lm.s
    features = lm.window_features(hidden)  # (rows, 1, s², D)
    codes = torch.zeros(B, 1, ss, dtype=torch.long, device=hidden.device)  # (B, 1, s²)
    parts = [slice(j, j + 1) for j in range(ss)] if lm.config.window_ar else [slice(0, ss)]
    for part in parts:
        seen = codes[:, :, : part.stop].repeat(rows // B, 1, 1)  # (rows, 1, j+1)
        f = lm.code_features(features[:, :, : part.stop], codes=seen)[:, 0, part]  # (rows, k, D)
        logits = lm.visual_head(f)  # (rows, k, V)
        if sampling.use_cfg:
            logits = cfg_combine(logits, scale)  # (B, k, V)
        for m in members:
            mine = slice(m.start, m.start + len(m.texts))
            codes[mine, 0, part] = sample_logits(logits[mine], temperature=sampling.temperature,
                                                 top_k=sampling.top_k, top_p=sampling.top_p, generator=m.generator)
    return codes[:, 0]  # (B, s²)


class DecodeBatch:
    """Prefill on creation; ``step()`` decodes one window position for every row; ``finish()`` -> codes."""

    def __init__(self, lm, members: list[Member], *, grid: tuple[int, int], sampling: SamplingConfig):
        self.lm, self.members, self.grid, self.sampling = lm, list(members), grid, sampling
        self._reindex()
        h, w = grid
        s = lm.s
        self.num_positions = (h // s) * (w // s)
        self.t = 0
        device = lm.output.weight.device
        texts = [t for m in self.members for t in m.texts]
        prefix, valid = build_prefix(texts, grid=grid, config=lm.config, guidance=sampling.use_cfg)
        prefix, valid = prefix.to(device), valid.to(device)
        P = prefix.shape[1]
        self.positions = torch.arange(P, P + self.num_positions, device=device)
        self.scales = CFGSchedule(sampling.cfg_schedule).scales(self.num_positions, target=sampling.guidance_scale)
        self.out = torch.empty(len(texts), self.num_positions, s * s, dtype=torch.long, device=device)  # (B, N, s²)
        lm.setup_cache(batch=prefix.shape[0], max_len=P + self.num_positions)
        self.hidden = prefill(lm, prefix, valid=valid)  # (rows, 1, D)

    def _reindex(self) -> None:
        start = 0
        for m in self.members:
            m.start, start = start, start + len(m.texts)

    @property
    def done(self) -> bool:
        return self.t >= self.num_positions or not self.members

    def step(self) -> None:
        t, lm = self.t, self.lm
        B = self.out.shape[0]
        rows = self.hidden.shape[0]
        if t > 0:
            fed = self.out[:, t - 1 : t].repeat(rows // B, 1, 1)  # (rows, 1, s²): same codes for cond/uncond
            step_valid = torch.ones(rows, 1, dtype=torch.bool, device=fed.device)
            self.hidden = decode_step(lm, fed, input_pos=self.positions[t - 1 : t], valid=step_valid)
        self.out[:, t] = sample_rows(lm, self.hidden, scale=self.scales[t], sampling=self.sampling,
                                     members=self.members)
        self.t += 1

    def drop(self, keys: set) -> None:
        """Cut the rows of the members whose key is in ``keys`` out of the batch and its KV cache."""
        keep = [m for m in self.members if m.key not in keys]
        if len(keep) == len(self.members):
            return
        idx = torch.tensor([r for m in keep for r in range(m.start, m.start + len(m.texts))], dtype=torch.long,
                           device=self.out.device)
        B = self.out.shape[0]
        rows = torch.cat([idx, idx + B]) if self.sampling.use_cfg else idx  # the same rows of both CFG halves
        self.out, self.hidden = self.out[idx], self.hidden[rows]
        _select_cache_rows(self.lm, rows)
        self.members = keep
        self._reindex()

    def windows_so_far(self, member: Member) -> torch.Tensor:
        """(rows, t, s²) window codes decoded so far for ``member``."""
        return self.out[member.start : member.start + len(member.texts), : self.t]

    def finish(self) -> dict:
        """Free the cache and pick each image's best candidate -> {member key: (images, h, w) codes}."""
        self.lm.clear_cache()
        if not self.members:
            return {}
        h, w = self.grid
        s = self.lm.s
        B = self.out.shape[0]
        # windows (B, N, s²) back to the raster grid, the inverse of the shuffle's window grouping
        codes = ts.unshuffle_tokens(self.out.reshape(B, -1, s * s), grid=(h, w), s=s).reshape(B, h, w)  # (B, h, w)
        n = self.sampling.candidates
        if n > 1:
            texts = [t for m in self.members for t in m.texts]
            codes = codes[best_of(code_loglik(self.lm, texts, codes), candidates=n)]  # (B / n, h, w)
        result, start = {}, 0
        for m in self.members:
            images = len(m.texts) // n
            result[m.key] = codes[start : start + images]
            start += images
        return result

    def close(self) -> None:
        self.lm.clear_cache()


def _select_cache_rows(lm, rows: torch.Tensor) -> None:
    """Keep only ``rows`` of every layer's static KV cache and of the key-validity mask."""
    decoder = lm.decoder
    for layer in decoder.layers:
        cache = layer.attention.cache
        cache.k = cache.k[rows]  # (rows', Hkv, max_len, hd)
        cache.v = cache.v[rows]
    decoder.key_valid = decoder.key_valid[rows]  # (rows', max_len)
