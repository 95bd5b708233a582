"""A deliberately naive LLaMA forward pass (loops, explicit softmax) used as ground truth in tests."""

import math

import torch


def rms(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x, pos, theta):
    # x (L, H, hd); half-split pairing: dim i rotates with dim i + hd/2
    hd = x.shape[-1]
    out = torch.empty_like(x)
    for i in range(hd // 2):
        freq = 1.0 / theta ** (2 * i / hd)
        ang = pos.double() * freq
        c, s = ang.cos().float()[:, None], ang.sin().float()[:, None]
        a, b = x[..., i], x[..., i + hd // 2]
        out[..., i], out[..., i + hd // 2] = a * c - b * s, b * c + a * s
    return out


def reference_logits(lm, ids):
    """ids (L,) full-vocabulary token ids of one unpadded sequence -> (L, vocab) logits."""
    cfg = lm.config
    hd = cfg.dim // cfg.num_heads
    group = cfg.num_heads // cfg.kv_heads
    pos = torch.arange(len(ids))
    x = lm.tok_embeddings.weight[ids]
    for layer in lm.decoder.layers:
        att = layer.attention
        hn = rms(x, layer.attention_norm.weight, cfg.norm_eps)
        wq, wk, wv = att.wqkv.weight.split([cfg.num_heads * hd, cfg.kv_heads * hd, cfg.kv_heads * hd])
        q = (hn @ wq.T).view(-1, cfg.num_heads, hd)
        k = (hn @ wk.T).view(-1, cfg.kv_heads, hd)
        v = (hn @ wv.T).view(-1, cfg.kv_heads, hd)
        if cfg.qk_norm:
            q, k = rms(q, att.q_norm.weight, cfg.norm_eps), rms(k, att.k_norm.weight, cfg.norm_eps)
        q, k = rope(q, pos, cfg.rope_theta), rope(k, pos, cfg.rope_theta)
        heads = []
        for h in range(cfg.num_heads):
            scores = q[:, h] @ k[:, h // group].T / math.sqrt(hd)
            scores = scores.masked_fill(torch.triu(torch.ones_like(scores, dtype=torch.bool), 1), -math.inf)
            heads.append(scores.softmax(-1) @ v[:, h // group])
        x = x + torch.cat(heads, -1) @ att.wo.weight.T
        ff = layer.feed_forward
        hn = rms(x, layer.ffn_norm.weight, cfg.norm_eps)
        w1, w3 = ff.w13.weight.chunk(2)
        x = x + (torch.nn.functional.silu(hn @ w1.T) * (hn @ w3.T)) @ ff.w2.weight.T
    return rms(x, lm.decoder.norm.weight, cfg.norm_eps) @ lm.output.weight.T
