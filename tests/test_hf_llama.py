import dataclasses
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


# Llama-3.2-1B's rope settings (its config.json), on a model small enough for a test.
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}


def _tiny_llama3(folder):
    cfg = transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling=dict(LLAMA3_ROPE), tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # sharp attention, so the rotation (and its scaling) shows in the logits
        for name, p in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                p.mul_(30.0)
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("config_style", ["rope_parameters", "rope_scaling"])
def test_llama3_rope_logits_equal_hf_far_into_the_sequence(tmp_path, config_style):
    hf = _tiny_llama3(tmp_path)
    if config_style == "rope_scaling":  # the transformers 4.x layout of Llama-3.2-1B's own config.json
        cfg = json.loads((tmp_path / "config.json").read_text())
        params = cfg.pop("rope_parameters")
        cfg["rope_theta"], cfg["rope_scaling"] = params.pop("rope_theta"), params
        (tmp_path / "config.json").write_text(json.dumps(cfg))
    base = ts.LMConfig.preset("tiny", image_vocab_size=32, max_grid_size=8, max_seq_len=9000)
    lm = lm_from_hf_llama(tmp_path, base=base).eval()
    assert lm.config.rope_scaling == LLAMA3_ROPE and lm.config.rope_theta == 500000.0
    # Positions past 8192 / low_freq_factor, where the scaled low frequencies change the rotation.
    pos = torch.arange(8180, 8191)
    ids = torch.randint(0, 300, (2, 11), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids, position_ids=pos.expand(2, -1)).logits  # (2, 11, 300)
        hidden = lm(ids, ids.new_zeros(2, 0, 4), input_pos=pos, valid=torch.ones(2, 11, dtype=torch.bool))
        ours = lm.text_logits(hidden)[..., :300]
        torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
        # without the scaling the same weights give other logits: the test sees the rope type
        plain = ts.TokenShuffleLM(dataclasses.replace(lm.config, rope_scaling=None)).eval()
        plain.load_state_dict(lm.state_dict())
        off = plain.text_logits(plain(ids, ids.new_zeros(2, 0, 4), input_pos=pos,
                                      valid=torch.ones(2, 11, dtype=torch.bool)))[..., :300]
    assert (off - expected).abs().max() > 1e-3  # ten times the tolerance of the equality above


def test_lm_config_with_rope_scaling_round_trips_and_checks(tmp_path):
    cfg = ts.LMConfig.preset("tiny", rope_scaling=dict(LLAMA3_ROPE))
    assert ts.LMConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="rope_type 'llama3'"):
        ts.LMConfig.preset("tiny", rope_scaling={"rope_type": "yarn", "factor": 4.0})
    with pytest.raises(ValueError, match="lacks high_freq_factor"):
        ts.LMConfig.preset("tiny", rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                                 "original_max_position_embeddings": 8192})


def test_rejects_unsupported_rope(tmp_path):
    _tiny_llama(tmp_path, tie=False)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 8.0}
    cfg.pop("rope_parameters", None)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="rope type 'yarn'"):
        lm_from_hf_llama(tmp_path, base=ts.LMConfig.preset("tiny"))


def _tokenizer_json(folder, vocab_size: int):
    """A byte-level BPE tokenizer.json (Llama 3's kind) with <|begin_of_text|> as an added special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|begin_of_text|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["a photo of a red circle", "a blue star above a green square"] * 20, trainer=trainer)
    tok.save(str(folder / "tokenizer.json"))
    return tok


def test_train_smoke_run_from_a_tiny_llama3_uses_its_tokenizer(tmp_path):
    from tokenshuffle.cli import main
    from tokenshuffle.model.io import load_lm
    from tokenshuffle.text import HFTokenizer, load_text_tokenizer

    llama = tmp_path / "llama3"
    _tiny_llama3(llama)
    hf_tok = _tokenizer_json(llama, vocab_size=300)
    assert main(["train", "--config", "smoke", "--out", str(tmp_path / "run"), "--no-progress",
                 "--set", f"init_hf_llama={llama}", "--set", "num_steps=3", "--set", "eval_every=3",
                 "--set", "lm.max_seq_len=600"]) == 0
    lm = load_lm(tmp_path / "run" / "lm")
    assert lm.config.rope_scaling == LLAMA3_ROPE and lm.config.text_vocab_size == 300
    tok = load_text_tokenizer(tmp_path / "run" / "text_tokenizer.json")  # the run keeps Llama's tokenizer
    assert isinstance(tok, HFTokenizer) and tok.encode("a red star") == hf_tok.encode("a red star").ids
    assert tok.decode(tok.encode("a red star")) == "a red star"
