import torch

from tokenshuffle.bench import GenerateBench, bench_generate
from tokenshuffle.bench_cost import PeakMemory, kv_cache_bytes, weight_bytes_per_step
from tokenshuffle.model import LMConfig, TokenShuffleLM
from tokenshuffle.model.layers import kernels_ready


def test_generate_ladder_rows_carry_cost_columns():
    cfg = GenerateBench(models=("tiny",), height=64, width=64, windows=(1, 2), dtypes=("fp32", "bf16"),
                        image_vocab_size=64, repeats=1, warmup=0)
    result = bench_generate(cfg, log=lambda *_: None)
    rows = result["results"]
    assert [(r["s"], r["dtype"]) for r in rows] == [(1, "fp32"), (1, "bf16"), (2, "fp32"), (2, "bf16")]
    assert result["environment"]["read_bandwidth_gb_s"] > 0
    tiny = LMConfig.preset("tiny")
    bf16_cache = "bfloat16" if kernels_ready() else "float32"  # see TokenShuffleLM.cache_dtype
    for r in rows:
        assert r["kv_dtype"] == ("float32" if r["dtype"] == "fp32" else bf16_cache)
        nbytes = 4 if r["kv_dtype"] == "float32" else 2
        # 2 (K, V) x layers x positions x dim x bytes x rows (CFG doubles the one image)
        formula = 2 * tiny.num_layers * r["cache_positions"] * (tiny.kv_heads * 16) * nbytes * 2 / 2**20
        assert r["kv_mb"] == r["kv_mb_formula"] == formula
        assert r["bound_ms"] > 0 and r["x_bound"] == r["ms_per_step"] / r["bound_ms"]
        # each row's bound is its bytes over the bandwidth measured around that row
        want = r["read_mb_per_step"] * 2**20 / (r["read_gb_s"] * 1e9) * 1e3
        assert abs(r["bound_ms"] - want) <= 1e-9 * want
        assert r["peak_mem_mb"] > 0
    assert rows[0]["speedup"] == rows[1]["speedup"] == 1.0  # each dtype against its own s=1


def test_weight_bytes_leave_out_the_embedding_and_text_rows():
    lm = TokenShuffleLM(LMConfig.preset("tiny", shuffle_window=1))
    cfg = lm.config
    everything = sum(p.numel() for p in lm.parameters()) * 4
    assert weight_bytes_per_step(lm) == everything - 4 * cfg.dim * (cfg.vocab_size + cfg.image_offset)
    assert kv_cache_bytes(lm, rows=2, positions=10, dtype=torch.bfloat16) == 2 * cfg.num_layers * 10 * 32 * 2 * 2


def test_peak_memory_sees_a_large_allocation():
    with PeakMemory(torch.device("cpu"), interval=0.001) as before:
        pass
    with PeakMemory(torch.device("cpu"), interval=0.001) as peak:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        x += 1
        del x
    assert peak.mb > before.mb + 48
