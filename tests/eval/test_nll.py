import json
import math

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.cli import main
from tokenshuffle.data.code_sources import RandomCodes
from tokenshuffle.eval.nll import NLLConfig, code_ce, heldout_nll
from tokenshuffle.model.io import save_lm
from tokenshuffle.model.shuffle import codes_to_windows
from tokenshuffle.sequence import make_batch
from tokenshuffle.text import ByteTokenizer
from tokenshuffle.train.step import lm_loss


def _lm():
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2))


def test_uniform_model_scores_log2_vocab_bits():
    lm = _lm()
    with torch.no_grad():
        lm.output.weight.zero_()
    src = RandomCodes(grid=(4, 4), vocab_size=64, seed=1, num_samples=10)
    out = heldout_nll(lm, src, tokenizer=ByteTokenizer(), config=NLLConfig(num_samples=10, batch_size=4))
    assert math.isclose(out["bits_per_token"], 6.0, rel_tol=1e-6)
    assert out["num_tokens"] == 10 * 16 and out["num_samples"] == 10


def test_token_weighted_mean_over_uneven_batches():
    lm = _lm().eval()
    src = RandomCodes(grid=(4, 4), vocab_size=64, seed=2, num_samples=5)
    tok = ByteTokenizer()
    out = heldout_nll(lm, src, tokenizer=tok, config=NLLConfig(num_samples=5, batch_size=2))
    expected = 0.0
    with torch.no_grad():
        for i in range(5):  # one item at a time: no padding, independent of the batching above
            phrasings, codes = src.get([i])
            expected += lm_loss(lm, make_batch([tok.encode(phrasings[0][0])], codes, lm=lm))[1]["image_ce"] / 5
    assert math.isclose(out["image_ce"], expected, rel_tol=1e-5)
    assert lm.training is False


@pytest.mark.parametrize("mode", ["empty", "shuffled"])
def test_caption_ablations_score_the_same_codes_with_other_prompts(mode):
    lm = _lm().eval()
    src = RandomCodes(grid=(4, 4), vocab_size=64, seed=3, num_samples=3)
    tok = ByteTokenizer()
    out = heldout_nll(lm, src, tokenizer=tok, config=NLLConfig(num_samples=3, batch_size=2, captions=mode))
    given = heldout_nll(lm, src, tokenizer=tok, config=NLLConfig(num_samples=3, batch_size=2))
    prompts = {"empty": ["", "", ""], "shuffled": ["item 1", "item 2", "item 0"]}[mode]
    expected = 0.0
    with torch.no_grad():
        for i, prompt in enumerate(prompts):
            codes = src.get([i])[1]
            expected += lm_loss(lm, make_batch([tok.encode(prompt)], codes, lm=lm))[1]["image_ce"] / 3
    assert math.isclose(out["image_ce"], expected, rel_tol=1e-5)
    assert not math.isclose(out["image_ce"], given["image_ce"], rel_tol=1e-6)
    assert out["num_tokens"] == given["num_tokens"]


def test_unknown_caption_mode_names_the_choices():
    with pytest.raises(ValueError, match="captions must be one of given, empty, shuffled"):
        NLLConfig(captions="none")


def test_cli_eval_nll_on_scenes(tmp_path, capsys):
    from tokenshuffle.vq import VQConfig, VQTokenizer

    torch.manual_seed(0)
    VQTokenizer(VQConfig.preset("vq-16-tiny")).save_pretrained(tmp_path / "vq")
    save_lm(_lm(), tmp_path / "lm")
    args = ["eval", "nll", "--model", str(tmp_path / "lm"), "--data", "scenes", "--vq", str(tmp_path / "vq"),
            "--height", "64", "--width", "64", "--num-samples", "4", "--json", str(tmp_path / "nll.json")]
    assert main(args) == 0
    result = json.loads((tmp_path / "nll.json").read_text())
    assert 0 < result["bits_per_token"] < 20 and result["num_tokens"] == 4 * 16
    assert "bits per image token" in capsys.readouterr().out
    assert main(args[:-2] + ["--captions", "empty"]) == 0
    assert "empty captions" in capsys.readouterr().out
    assert main(args + ["--captions", "nothing"]) == 2
    assert "captions must be one of" in capsys.readouterr().err
    assert main(args + ["--style", "plain"]) == 2
    assert "--style must be one of textured, canonical, fixed" in capsys.readouterr().err
    assert main(args + ["--style", "canonical"]) == 0
    canonical = json.loads((tmp_path / "nll.json").read_text())
    assert canonical["num_tokens"] == result["num_tokens"] and canonical["bits_per_token"] != result["bits_per_token"]
    assert main(["eval", "nll", "--model", str(tmp_path / "missing")]) == 2


class _Captioned:
    """Fixed captions with random codes: a CodeSource for the swap gap."""

    CAPTIONS = ["a photo of a red circle and a blue star", "a photo of three hearts",
                "a photo of a star left of a circle", "a photo of a blue star and a red circle"]

    def __init__(self):
        self.num_samples = len(self.CAPTIONS)
        self.codes = torch.randint(0, 64, (self.num_samples, 4, 4), generator=torch.Generator().manual_seed(4))

    def get(self, indices):
        return [(self.CAPTIONS[i],) for i in indices], self.codes[indices]


def test_swap_gap_is_the_loglik_gap_to_each_swapped_caption_by_rule():
    from tokenshuffle.data.caption_swaps import SwapNegatives
    from tokenshuffle.eval.nll import swap_gap
    from tokenshuffle.sampling import code_loglik
    from tokenshuffle.text import WordTokenizer

    lm, src = _lm().eval(), _Captioned()
    tok = WordTokenizer.from_texts(src.CAPTIONS)
    rules = SwapNegatives.named("scenes", tokenizer=tok)
    out = swap_gap(lm, src, tokenizer=tok, rules=rules, config=NLLConfig(num_samples=4, batch_size=3))
    assert out["relation"]["num"] == 1 and out["colours"]["num"] == 2  # "three hearts" has no negative

    def gap(i):
        t = tok.encode(src.CAPTIONS[i])
        codes = src.codes[i : i + 1]
        return (code_loglik(lm, [t], codes) - code_loglik(lm, [rules(t)], codes)).item()

    assert out["relation"]["delta"] == pytest.approx(gap(2), rel=1e-4, abs=1e-5)
    assert out["colours"]["delta"] == pytest.approx((gap(0) + gap(3)) / 2, rel=1e-4, abs=1e-5)
    assert out["colours"]["positive"] == ((gap(0) > 0) + (gap(3) > 0)) / 2


def test_cli_eval_nll_swapped_captions(tmp_path, capsys):
    from tokenshuffle.data.shapes import COLOR_NAMES, SHAPES
    from tokenshuffle.text import WordTokenizer, save_text_tokenizer
    from tokenshuffle.vq import VQConfig, VQTokenizer

    torch.manual_seed(0)
    VQTokenizer(VQConfig.preset("vq-16-tiny")).save_pretrained(tmp_path / "vq")
    save_lm(_lm(), tmp_path / "lm")
    words = ["a photo of one two three four left right of above below and coloured on grey background picture"]
    tok = WordTokenizer.from_texts(words + list(COLOR_NAMES) + list(SHAPES) + [s + "s" for s in SHAPES])
    save_text_tokenizer(tok, tmp_path / "words.json")
    args = ["eval", "nll", "--model", str(tmp_path / "lm"), "--data", "scenes", "--vq", str(tmp_path / "vq"),
            "--height", "64", "--width", "64", "--num-samples", "12", "--text-tokenizer", str(tmp_path / "words.json"),
            "--captions", "swapped", "--json", str(tmp_path / "swap.json")]
    assert main(args) == 0
    result = json.loads((tmp_path / "swap.json").read_text())
    assert set(result["per_rule"]) == {"relation", "colours"}
    assert sum(r["num"] for r in result["per_rule"].values()) > 0
    assert "swapped colours:" in capsys.readouterr().out
    assert main(args + ["--contrast", "words"]) == 2
    assert "--contrast must be one of scenes" in capsys.readouterr().err


class _TwoSizes:
    """Rows 0, 2, 4 have a 4x4 grid, rows 1, 3 a 2x6 grid: a multi-size CodeSource, as ShardCodes."""

    def __init__(self):
        g = torch.Generator().manual_seed(5)
        self.items = {i: torch.randint(0, 64, (4, 4) if i % 2 == 0 else (2, 6), generator=g) for i in range(5)}
        self.num_samples = 5
        self.buckets = [torch.tensor([0, 2, 4]).numpy(), torch.tensor([1, 3]).numpy()]
        self.bucket_grids = [(4, 4), (2, 6)]

    def get(self, indices):
        assert len({tuple(self.items[i].shape) for i in indices}) == 1, "a batch mixed two grids"
        return [(f"item {i}",) for i in indices], torch.stack([self.items[i] for i in indices])


def test_a_multi_size_set_is_scored_per_size_with_batches_that_never_mix_grids():
    lm, src, tok = _lm().eval(), _TwoSizes(), ByteTokenizer()
    out = heldout_nll(lm, src, tokenizer=tok, config=NLLConfig(num_samples=4, batch_size=8))  # 2 per size
    ce = {}
    with torch.no_grad():
        for name, rows in (("4x4", [0, 2]), ("2x6", [1, 3])):
            ce[name] = [lm_loss(lm, make_batch([tok.encode(f"item {i}")], src.items[i][None], lm=lm))[1]["image_ce"]
                        for i in rows]
    for name, values in ce.items():
        assert math.isclose(out["bits_per_token_by_grid"][name], sum(values) / 2 / math.log(2), rel_tol=1e-5)
    overall = (sum(ce["4x4"]) * 16 + sum(ce["2x6"]) * 12) / (2 * 16 + 2 * 12)
    assert math.isclose(out["image_ce"], overall, rel_tol=1e-5)
    assert out["num_samples"] == 4 and out["num_tokens"] == 2 * 16 + 2 * 12
    shuffled = heldout_nll(lm, src, tokenizer=tok, config=NLLConfig(num_samples=4, batch_size=1, captions="shuffled"))
    assert set(shuffled["bits_per_token_by_grid"]) == {"4x4", "2x6"}


def test_prompt_scenes_split_bits_into_object_and_background_codes():
    from tokenshuffle.data.code_sources import PromptSceneCodes
    from tokenshuffle.data.prompts import load_eval_prompts
    from tokenshuffle.vq import VQConfig, VQTokenizer

    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()
    hard = load_eval_prompts("hard")
    src = PromptSceneCodes(vq, hard, height=128, width=128, seed=1, num_samples=3, style="reading")
    phrasings, codes = src.get([0, 1, 2])
    assert [p[0] for p in phrasings] == [m["prompt"] for m in hard[:3]] and codes.shape == (3, 8, 8)
    mask = src.object_mask([0, 1, 2])  # (3, 8, 8): a patch with any non-grey pixel
    assert mask.shape == codes.shape and 0 < int(mask.sum()) < mask.numel()
    assert torch.equal(src.get([3])[1], PromptSceneCodes(vq, hard, height=128, width=128, seed=1).get([3])[1])
    lm = _lm().eval()
    tok = ByteTokenizer()
    out = heldout_nll(lm, src, tokenizer=tok, config=NLLConfig(num_samples=3, batch_size=2))
    assert out["num_object_tokens"] == int(mask.sum())
    assert out["num_object_tokens"] + out["num_background_tokens"] == 192

    obj = []  # each scene's object codes scored alone
    with torch.no_grad():
        for i in range(3):
            ce = code_ce(lm, make_batch([tok.encode(phrasings[i][0])], codes[i:i + 1], lm=lm))
            obj.append(ce[codes_to_windows(mask[i:i + 1], s=2)])
    assert math.isclose(out["bits_per_object_token"], torch.cat(obj).mean().item() / math.log(2), rel_tol=1e-5)
    whole = out["bits_per_token"] * 192
    parts = out["bits_per_object_token"] * out["num_object_tokens"] + out["bits_per_background_token"] * (
        out["num_background_tokens"])
    assert math.isclose(whole, parts, rel_tol=1e-5) and "bits_per_token_by_grid" not in out
    with pytest.raises(ValueError, match="plain-background"):
        PromptSceneCodes(vq, hard, height=128, width=128, style="textured").object_mask([0])


def test_cli_eval_nll_prompts_needs_rendered_scenes(tmp_path, capsys):
    save_lm(_lm(), tmp_path / "lm")
    assert main(["eval", "nll", "--model", str(tmp_path / "lm"), "--data", str(tmp_path), "--prompts", "hard"]) == 2
    assert "--prompts hard: renders scenes, so it needs --data scenes" in capsys.readouterr().err
