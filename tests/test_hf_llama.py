import json

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.hf_llama import lm_from_hf_llama

transformers = pytest.importorskip("transformers")


def _tiny_llama(tmp_path, *, tie: bool):
    cfg = transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=500.0,
        tie_word_embeddings=tie,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # non-trivial norm gains, so a swapped norm mapping would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path)
    return model


@pytest.mark.parametrize("tie", [False, True])
def test_text_logits_equal_hf_llama(tmp_path, tie):
    hf = _tiny_llama(tmp_path, tie=tie)
    base = ts.LMConfig.preset("tiny", image_vocab_size=32, max_grid_size=8, shuffle_window=2)
    lm = lm_from_hf_llama(tmp_path, base=base).eval()
    assert lm.config.text_vocab_size == 300 and lm.config.vocab_size == 300 + 4 + 8 + 32
    ids = torch.randint(0, 300, (2, 11), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids).logits  # (2, 11, 300)
        hidden = lm(ids, ids.new_zeros(2, 0, 4), input_pos=torch.arange(11), valid=torch.ones(2, 11, dtype=torch.bool))
        ours = lm.text_logits(hidden)[..., :300]
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
    # the grown rows are new (not copies of a text token) and the image head is usable
    assert not torch.equal(lm.output.weight[300], lm.output.weight[0])
    assert lm.image_logits(hidden[:, -1:], codes=torch.zeros(2, 1, 4, dtype=torch.long)).shape == (2, 1, 4, 32)


def test_rejects_unsupported_rope(tmp_path):
    _tiny_llama(tmp_path, tie=False)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0}
    cfg.pop("rope_parameters", None)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="rope type 'llama3'"):
        lm_from_hf_llama(tmp_path, base=ts.LMConfig.preset("tiny"))
