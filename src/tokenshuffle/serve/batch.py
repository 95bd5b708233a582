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
from tokenshuffle.sampling import CFGSchedule, SamplingConfig, best_of, code_loglik, decode_step, prefill
from tokenshuffle.sampling.generate import sample_window
from tokenshuffle.sequence import build_prefix, next_window_positions


@dataclass
class Member:
    """A request's place in the batch: its tokenised rows and its generator."""

    key: object  # the scheduler's job
    texts: list[list[int]]  # one per row: images x candidates, each image's candidates adjacent
    generator: torch.Generator
    start: int = 0  # first row in the batch (cond half)


def sample_rows(lm, hidden: torch.Tensor, *, scale: float, sampling: SamplingConfig,
                members: list[Member], context=None) -> torch.Tensor:
    """``sampling.generate.sample_window`` with one generator per member: (rows, 1, D) -> (B, s²) codes."""
    gens = [(slice(m.start, m.start + len(m.texts)), m.generator) for m in members]
    return sample_window(lm, hidden, scale=scale, sampling=sampling, row_generators=gens, context=context)


class DecodeBatch:
    """Prefill on creation; ``step()`` decodes one window position for every row; ``finish()`` -> codes."""

    def __init__(self, lm, members: list[Member], *, grid: tuple[int, int], sampling: SamplingConfig):
        lm = lm.at(grid)
        self.lm, self.members, self.grid, self.sampling = lm, list(members), grid, sampling
        self._reindex()
        h, w = grid
        s = lm.s
        self.num_positions = (h // s) * (w // s)
        self.t = 0
        device = lm.output.weight.device
        texts = [t for m in self.members for t in m.texts]
        prefix, valid = build_prefix(texts, grid=lm.named_grid(grid), config=lm.config, guidance=sampling.use_cfg)
        prefix, valid = prefix.to(device), valid.to(device)
        P = prefix.shape[1]
        self.positions = torch.arange(P, P + self.num_positions, device=device)
        window_pos = next_window_positions(torch.arange(P + self.num_positions, device=device), image_start=P,
                                           window_grid=(h // s, w // s))  # (P+N, 4)
        self.window_pos = window_pos[P:]  # (N, 4), row t-1 beside self.positions[t-1]
        self.scales = CFGSchedule(sampling.cfg_schedule).scales(self.num_positions, target=sampling.guidance_scale)
        self.out = torch.empty(len(texts), self.num_positions, s * s, dtype=torch.long, device=device)  # (B, N, s²)
        lm.setup_cache(batch=prefix.shape[0], max_len=P + self.num_positions)
        self.hidden = prefill(lm, prefix, valid=valid, window_pos=window_pos[:P])  # (rows, 1, D)
        self.context = lm.prompt_context(prefix, valid)  # tensors with the rows first, or None

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
            self.hidden = decode_step(lm, fed, input_pos=self.positions[t - 1 : t], valid=step_valid,
                                      window_pos=self.window_pos[t - 1 : t])
        self.out[:, t] = sample_rows(lm, self.hidden, scale=self.scales[t], sampling=self.sampling,
                                     members=self.members, context=self.context)
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
        self.lm.keep_cache_rows(rows)
        if self.context is not None:
            self.context = tuple(x[rows] for x in self.context)
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
