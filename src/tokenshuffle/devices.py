"""Which device and which floating dtype to run inference on: checked names and a measured default.

``resolve_device`` turns a user's ``--device`` string into a ``torch.device`` or one ValueError that
names ``--device`` and what this machine offers. ``default_dtype`` is the dtype that commands use
when the user gives none: the fastest one that keeps the scores, chosen from measurements
(README, "Speed"):

- CPU with native bf16 arithmetic (AVX-512 BF16 or AMX-BF16, read from ``torch.cpu``'s capability
  flags): bf16. A decode step is bound by reading the weights and the KV cache, and bf16 halves both.
  On a 2-core AMD EPYC (avx512_bf16, torch 2.13) GPT-B with CFG ran 2.4x faster per step at 512², s=2
  (issue 37, a quiet machine) and 3.5x at s=1 (128 steps, the same run, a loaded machine).
- CPU without it: fp32. bf16 would be emulated (converted to fp32 inside every kernel), slower than
  plain fp32.
- CUDA with bf16 support (compute capability 8.0+): bf16; older GPUs: fp32 (fp16 overflows in
  unnormalised activations of models trained in bf16, so it is never the default).
"""

from __future__ import annotations

from pathlib import Path

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def _valid_devices() -> str:
    names = ["cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        names += ["cuda"] + [f"cuda:{i}" for i in range(n)]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return ", ".join(names)


def resolve_device(name: str | torch.device | None) -> torch.device:
    """'cpu', 'cuda', 'cuda:N', 'mps' (or None: cpu) -> torch.device that this machine can run on."""
    if name is None:
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device must be one of {_valid_devices()}; got {name!r}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name!r}: this torch build or machine has no CUDA GPU; "
                             f"valid: {_valid_devices()}")
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(f"--device {name!r}: only {torch.cuda.device_count()} CUDA device(s); "
                             f"valid: {_valid_devices()}")
        return torch.device("cuda", index)
    if device.type == "mps" and torch.backends.mps.is_available():
        return device
    raise ValueError(f"--device must be one of {_valid_devices()}; got {name!r}")


def cpuinfo(field: str, *, path: Path = Path("/proc/cpuinfo")) -> str:
    """The first processor's ``field`` in /proc/cpuinfo ("model name", "vendor_id"); "" where there is none."""
    try:
        for line in path.read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes in bf16 natively (AVX-512 BF16 or AMX-BF16)."""
    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is None:
        return False
    flags = caps()
    return bool(flags.get("avx512_bf16") or flags.get("amx_bf16"))


def default_dtype(device: torch.device | str) -> torch.dtype:
    """The inference dtype to use on ``device`` when the user names none (see the module docstring)."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.float32


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """'fp32' | 'bf16' | 'fp16' | None (the device's default) -> torch.dtype."""
    if name is None or name == "auto":
        return default_dtype(device)
    if name not in DTYPES:
        raise ValueError(f"--dtype must be one of auto, {', '.join(DTYPES)}; got {name!r}")
    return DTYPES[name]
