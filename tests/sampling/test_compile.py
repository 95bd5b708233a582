import importlib
import os
import warnings

import pytest
import torch

import tokenshuffle as ts


def tiny():
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2)).eval()


def test_compile_falls_back_with_a_warning_when_no_backend_works(monkeypatch):
    def broken_compile(fn, **kwargs):
        def failing(*args, **kw):
            raise RuntimeError("no C++ compiler found")

        return failing

    monkeypatch.setattr(torch, "compile", broken_compile)
    lm = tiny()
    sampling = ts.SamplingConfig(guidance_scale=2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        codes = ts.generate(lm, [[1, 2]], grid=(4, 4), sampling=sampling, compile=True,
                            generator=torch.Generator().manual_seed(0))
    assert any("decoding eagerly" in str(w.message) for w in caught)
    eager = ts.generate(lm, [[1, 2]], grid=(4, 4), sampling=sampling, generator=torch.Generator().manual_seed(0))
    assert torch.equal(codes, eager)


def test_compiled_step_is_used_when_it_works(monkeypatch):
    calls = []

    def counting_compile(fn, **kwargs):
        def wrapped(*args, **kw):
            calls.append(1)
            return fn(*args, **kw)

        return wrapped

    monkeypatch.setattr(torch, "compile", counting_compile)
    ts.generate(tiny(), [[1]], grid=(4, 4), compile=True)
    assert len(calls) == 3  # every decode step after prefill: 4 windows - 1


@pytest.mark.skipif(not os.environ.get("TOKENSHUFFLE_SLOW"), reason="real torch.compile takes minutes on CPU; "
                    "set TOKENSHUFFLE_SLOW=1 to run")
def test_real_compile_gives_the_eager_codes():
    lm = tiny()
    greedy = ts.SamplingConfig(temperature=0, guidance_scale=2.0)
    compiled = ts.generate(lm, [[1, 2]], grid=(8, 8), sampling=greedy, compile=True)
    assert torch.equal(compiled, ts.generate(lm, [[1, 2]], grid=(8, 8), sampling=greedy))


def test_one_compilation_serves_prompts_of_every_length(monkeypatch):
    from torch._dynamo.testing import CompileCounter

    generate_module = importlib.import_module("tokenshuffle.sampling.generate")

    counter = CompileCounter()  # traces with Dynamo, runs the graph eagerly: counts, no C++ build
    monkeypatch.setattr(generate_module, "COMPILE_BACKEND", counter)
    monkeypatch.setattr(generate_module, "_COMPILED", {})
    torch._dynamo.reset()
    lm = tiny()
    greedy = ts.SamplingConfig(temperature=0, guidance_scale=2.0)
    prompts = [b"a", b"a red circle", b"two blue stars above a green heart", b"xy", b"a" * 40]
    for text in prompts:  # 1 to 40 bytes; the last one past max_text_len=32, cut
        compiled = ts.generate(lm, [list(text)], grid=(4, 4), sampling=greedy, compile=True)
        assert torch.equal(compiled, ts.generate(lm, [list(text)], grid=(4, 4), sampling=greedy))
    assert counter.frame_count == 1


def test_steps_after_the_first_skip_the_guards_and_new_shapes_still_compile(monkeypatch):
    from torch._dynamo.testing import CompileCounter

    generate_module = importlib.import_module("tokenshuffle.sampling.generate")
    counter = CompileCounter()
    monkeypatch.setattr(generate_module, "COMPILE_BACKEND", counter)
    monkeypatch.setattr(generate_module, "_COMPILED", {})
    torch._dynamo.reset()
    stances = []
    real = torch.compiler.set_stance

    def recording(*args, **kwargs):
        stances.append(kwargs.get("skip_guard_eval_unsafe", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.compiler, "set_stance", recording)
    lm = tiny()
    runs = [((4, 4), 2.0), ((8, 8), 2.0), ((4, 4), 2.0), ((4, 8), 1.0)]  # the third reuses the first graph
    for grid, scale in runs:
        greedy = ts.SamplingConfig(temperature=0, guidance_scale=scale)
        stances.clear()
        compiled = ts.generate(lm, [[1, 2]], grid=grid, sampling=greedy, compile=True)
        assert torch.equal(compiled, ts.generate(lm, [[1, 2]], grid=grid, sampling=greedy))
        steps = grid[0] * grid[1] // 4 - 1
        assert stances == [True] * (steps - 1)  # every decode step but the first
    assert counter.frame_count == 3  # three distinct shapes; skipped guards never reused a wrong graph


@pytest.mark.parametrize(("device", "expected"), [("cpu", {"options": {"cpp_wrapper": True}}),
                                                  ("cuda", {"mode": "reduce-overhead"})])
def test_the_compiled_step_calls_its_kernels_from_cpp_on_cpu_and_through_cuda_graphs_on_gpu(
        monkeypatch, device, expected):
    generate_module = importlib.import_module("tokenshuffle.sampling.generate")
    monkeypatch.setattr(generate_module, "_COMPILED", {})
    seen = []

    def recording_compile(fn, **kwargs):
        seen.append({k: v for k, v in kwargs.items() if k in ("mode", "options")})
        return fn

    monkeypatch.setattr(torch, "compile", recording_compile)
    step = generate_module.compile_decode_step(mode="reduce-overhead" if device == "cuda" else None,
                                               cpp_wrapper=device == "cpu")
    assert seen == [expected]
    ts.generate(tiny(), [[1]], grid=(4, 4), compile=True)  # a CPU generate asks for the C++ wrapper
    assert seen[-1] == {"options": {"cpp_wrapper": True}}
    assert callable(step)
