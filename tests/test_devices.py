import pytest
import torch

from tokenshuffle import devices
from tokenshuffle.devices import default_dtype, resolve_device, resolve_dtype


def test_cpu_and_none_resolve():
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(None)


@pytest.mark.parametrize("name", ["foo", "meta", "cuda:-1x"])
def test_bad_device_names_the_argument(name):
    with pytest.raises(ValueError, match="--device must be one of cpu"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_on_a_cpu_only_build_says_so():
    for name in ("cuda", "cuda:7"):
        with pytest.raises(ValueError, match="no CUDA GPU; valid: cpu"):
            resolve_device(name)


def test_cuda_index_past_the_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match="only 2 CUDA device"):
        resolve_device("cuda:7")


@pytest.mark.parametrize(("flags", "expected"), [
    ({"avx512_bf16": True, "amx_bf16": False}, torch.bfloat16),
    ({"avx512_bf16": False, "amx_bf16": True}, torch.bfloat16),
    ({"avx512_bf16": False, "amx_bf16": False}, torch.float32),
])
def test_cpu_default_dtype_follows_native_bf16(monkeypatch, flags, expected):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: flags)
    assert default_dtype("cpu") == expected
    assert resolve_dtype(None, torch.device("cpu")) == expected == resolve_dtype("auto", torch.device("cpu"))


def test_named_dtypes_and_a_bad_one():
    assert resolve_dtype("fp32", torch.device("cpu")) == torch.float32
    assert devices.DTYPES["bf16"] == torch.bfloat16
    with pytest.raises(ValueError, match="--dtype must be one of auto, fp32, bf16, fp16; got 'half'"):
        resolve_dtype("half", torch.device("cpu"))


def test_cpuinfo_reads_the_first_processors_field_by_its_whole_name(tmp_path):
    from tokenshuffle.devices import cpuinfo

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\nmodel name\t: Xeon\n\n"
                    "processor\t: 1\nvendor_id\t: AuthenticAMD\n")
    assert cpuinfo("vendor_id", path=info) == "GenuineIntel"
    assert cpuinfo("model", path=info) == "143" and cpuinfo("model name", path=info) == "Xeon"
    assert cpuinfo("flags", path=info) == "" and cpuinfo("vendor_id", path=tmp_path / "missing") == ""
