import pytest
import torch

from tokenshuffle.data.code_sources import RandomCodes
from tokenshuffle.text import ByteTokenizer
from tokenshuffle.train.batches import BatchStream


def _stream(position=0, dropout=0.1, num_samples=10):
    src = RandomCodes(grid=(2, 2), vocab_size=16, seed=3, num_samples=num_samples)
    return BatchStream(src, tokenizer=ByteTokenizer(), seed=5, caption_dropout=dropout, position=position)


def test_position_alone_determines_the_batches():
    a = _stream()
    first = [a.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1) for _ in range(5)]
    b = _stream(position=8)
    texts, codes = b.next_step(global_batch=4, grad_accum=1, rank=0, world_size=1)[0]
    assert texts == first[2][0][0] and torch.equal(codes, first[2][0][1])
    assert a.position == 20


def test_ranks_and_micro_steps_split_the_global_batch():
    whole = _stream().next_step(global_batch=8, grad_accum=1, rank=0, world_size=1)[0]
    parts = [_stream().next_step(global_batch=8, grad_accum=2, rank=r, world_size=2) for r in range(2)]
    # position order: micro-step 0 rank 0, micro-step 0 rank 1, micro-step 1 rank 0, micro-step 1 rank 1
    ordered = [parts[0][0], parts[1][0], parts[0][1], parts[1][1]]
    assert sum((t for t, _ in ordered), []) == whole[0]
    assert torch.equal(torch.cat([c for _, c in ordered]), whole[1])


def test_each_epoch_is_a_permutation_and_dropout_gives_the_empty_prompt():
    s = _stream(dropout=0.0)
    items = [s.item(k) for k in range(20)]
    assert sorted(items[:10]) == list(range(10)) and sorted(items[10:]) == list(range(10))
    assert items[:10] != items[10:]
    s = _stream(dropout=0.5, num_samples=None)
    texts, _ = s.batch_at(0, 400)
    empty = sum(t == [] for t in texts)
    assert 150 < empty < 250 and all(t == list(b"item %d" % k) for k, t in enumerate(texts) if t)


def test_caption_choice_any_draws_each_phrasing_and_first_keeps_the_prompt():
    first = _stream(dropout=0.0, num_samples=None)
    texts, _ = first.batch_at(0, 200)
    assert all(t == list(b"item %d" % k) for k, t in enumerate(texts))
    src = RandomCodes(grid=(2, 2), vocab_size=16, seed=3, num_samples=None)
    any_ = BatchStream(src, tokenizer=ByteTokenizer(), seed=5, caption_dropout=0.0, caption_choice="any")
    texts, _ = any_.batch_at(0, 200)
    shown = [bytes(t).decode() for t in texts]
    assert all(s in (f"item {k}", f"number {k}") for k, s in enumerate(shown))
    assert 60 < sum(s.startswith("number") for s in shown) < 140
    again, _ = BatchStream(src, tokenizer=ByteTokenizer(), seed=5, caption_dropout=0.0,
                           caption_choice="any").batch_at(100, 50)
    assert again == texts[100:150]  # the phrasing depends on (seed, position) only: resume is exact
    with pytest.raises(ValueError, match="caption_choice must be one of first, any"):
        BatchStream(src, tokenizer=ByteTokenizer(), seed=5, caption_dropout=0.0, caption_choice="random")


def test_scene_codes_encode_the_named_style():
    from tokenshuffle.data.code_sources import SceneCodes
    from tokenshuffle.data.scene_style import STYLES
    from tokenshuffle.data.scenes import SceneDataset
    from tokenshuffle.vq import VQConfig, VQTokenizer

    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()
    canon = SceneCodes(vq, height=64, width=64, seed=7, style="canonical")
    captions, codes = canon.get([0, 1])  # (2, 4, 4)
    items = [SceneDataset(height=64, width=64, seed=7, style=STYLES["canonical"]).sample(i) for i in (0, 1)]
    with torch.no_grad():
        expected = vq.encode(torch.stack([it["image"] for it in items]).float() / 127.5 - 1)
    assert torch.equal(codes, expected) and captions == [tuple(it["captions"]) for it in items]
    textured = SceneCodes(vq, height=64, width=64, seed=7).get([0, 1])[1]
    assert not torch.equal(codes, textured)
    with pytest.raises(ValueError, match="style must be one of textured, canonical, fixed"):
        SceneCodes(vq, height=64, width=64, style="flat")
