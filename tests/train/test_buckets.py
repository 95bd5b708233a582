import json
from collections import Counter

import numpy as np
import pytest
import torch

from tokenshuffle.text import ByteTokenizer
from tokenshuffle.train.batches import BatchStream
from tokenshuffle.train.buckets import BucketPlan


class _Buckets:
    """Items 0..n-1 in three grids: 12 items of (2, 2), 6 of (2, 4), 3 of (4, 2)."""

    grids = {**{i: (2, 2) for i in range(12)}, **{i: (2, 4) for i in range(12, 18)},
             **{i: (4, 2) for i in range(18, 21)}}
    num_samples = 21
    buckets = [np.arange(0, 12), np.arange(12, 18), np.arange(18, 21)]
    bucket_grids = [(2, 2), (2, 4), (4, 2)]

    def get(self, indices):
        grids = {self.grids[i] for i in indices}
        assert len(grids) == 1, grids  # what ShardCodes refuses
        return [(f"item {i}",) for i in indices], torch.stack([torch.full(self.grids[i], i) for i in indices])


def _stream(position=0, weights=None):
    return BatchStream(_Buckets(), tokenizer=ByteTokenizer(), seed=1, caption_dropout=0.0, position=position,
                       bucket_weights=weights)


def test_every_step_is_one_bucket_and_buckets_come_up_by_size():
    s = _stream()
    steps = [s.next_step(global_batch=4, grad_accum=2, rank=r, world_size=1) for r in (0,) for _ in range(60)]
    shapes = Counter(tuple(m[1].shape[1:]) for micro in steps for m in micro[:1])
    assert set(shapes) == {(2, 2), (2, 4), (4, 2)}
    # chunks per epoch: 3 of (2, 2), 2 of (2, 4), 1 of (4, 2); 60 steps are 10 epochs
    assert shapes == {(2, 2): 30, (2, 4): 20, (4, 2): 10}
    for micro in steps:
        assert len({tuple(c.shape[1:]) for _, c in micro}) == 1  # both micro-batches of a step share the grid


def test_bucket_weights_scale_a_buckets_share_of_the_steps():
    s = _stream(weights={(4, 2): 4.0, (2, 2): 0.5})  # chunks per epoch: 2 of (2, 2), 2 of (2, 4), 3 of (4, 2)
    steps = [s.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1)[0][1] for _ in range(70)]
    assert Counter(tuple(c.shape[1:]) for c in steps) == {(2, 2): 20, (2, 4): 20, (4, 2): 30}
    plan = BucketPlan(_Buckets.buckets, seed=1, chunk=4, weights=[0.5, 1.0, 4.0])  # each (4, 2) item 4 times
    assert Counter(plan.item(k) for k in range(plan.epoch_len) if plan.item(k) >= 18) == {18: 4, 19: 4, 20: 4}
    with pytest.raises(ValueError, match=r"names code grids 8x8 that the data does not have; its grids \(height x "
                       r"width in codes\): 2x2, 2x4, 4x2"):
        _stream(weights={(8, 8): 2.0})


def test_a_bucket_of_weight_zero_is_never_drawn():
    s = _stream(weights={(2, 2): 0.0, (4, 2): 4.0})  # chunks per epoch: 0 of (2, 2), 2 of (2, 4), 3 of (4, 2)
    steps = [s.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1)[0][1] for _ in range(30)]
    assert Counter(tuple(c.shape[1:]) for c in steps) == {(2, 4): 12, (4, 2): 18}
    with pytest.raises(ValueError, match="one of them > 0"):
        BucketPlan(_Buckets.buckets, seed=1, chunk=4, weights=[0.0, 0.0, 0.0])


def test_bucket_weights_setting_is_parsed_and_checked():
    from tokenshuffle.train.config import TrainConfig

    assert TrainConfig(data="random", bucket_weights="32x32=2, 64x32=0.5").bucket_weight_map == {
        (32, 32): 2.0, (64, 32): 0.5}
    assert TrainConfig(data="random", bucket_weights="32x32=0").bucket_weight_map == {(32, 32): 0.0}
    for bad in ("32x32", "32=2", "32x32=-1", "axb=1"):
        with pytest.raises(ValueError, match="bucket_weights"):
            TrainConfig(data="random", bucket_weights=bad)


def test_an_epoch_shows_every_item_and_resume_is_exact():
    plan = BucketPlan(_Buckets.buckets, seed=1, chunk=4)
    assert plan.epoch_len == 24 and set(plan.item(k) for k in range(24)) == set(range(21))
    a = _stream()
    first = [a.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1)[0][1] for _ in range(8)]
    b = _stream(position=5 * 4)
    assert torch.equal(b.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1)[0][1], first[5])


def test_ranks_share_the_step_bucket_and_a_changed_batch_size_realigns():
    parts = [_stream().next_step(global_batch=4, grad_accum=1, rank=r, world_size=2)[0][1] for r in range(2)]
    assert parts[0].shape[1:] == parts[1].shape[1:]
    s = _stream(position=6)  # resumed at a position that is no multiple of the new batch of 4
    for _ in range(10):
        s.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1)


def test_shard_codes_with_buckets_train(tmp_path):
    """Bucketed code shards straight into `tokenshuffle train`."""
    from PIL import Image

    from tokenshuffle.cli import main
    from tokenshuffle.data.code_sources import ShardCodes
    from tokenshuffle.data.encode import EncodeConfig, encode_dataset
    from tokenshuffle.data.folder import encode_png
    from tokenshuffle.data.shards import TarShardWriter
    from tokenshuffle.vq import VQConfig, VQTokenizer

    rng = np.random.default_rng(0)
    with TarShardWriter(tmp_path / "wds", num_per_shard=6) as writer:
        for i in range(12):
            size = (64, 32) if i % 2 else (32, 32)  # (width, height)
            img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
            writer.add(encode_png(img), "png", caption=f"item {i}")
    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()
    buckets = EncodeConfig(buckets=((32, 64), (32, 32)))
    encode_dataset(vq, tmp_path / "wds", tmp_path / "codes", config=buckets, progress=False)
    source = ShardCodes(str(tmp_path / "codes"))
    assert [len(b) for b in source.buckets] == [6, 6] and source.bucket_grids == [(2, 2), (2, 4)]
    with pytest.raises(ValueError, match="several grids"):
        source.get([int(source.buckets[0][0]), int(source.buckets[1][0])])
    assert main(["train", "--config", "smoke", "--out", str(tmp_path / "run"), "--no-progress", "--set",
                 f"data={tmp_path / 'codes'}", "--set", "num_steps=4", "--set", "eval_every=4",
                 "--set", f"eval_data={tmp_path / 'codes'}", "--set", "num_eval_samples=4"]) == 0
    last = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert {"eval_bits_per_token_2x2", "eval_bits_per_token_2x4"} <= set(last)  # held-out bits of each size
