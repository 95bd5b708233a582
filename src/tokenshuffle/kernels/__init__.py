"""CPU kernels compiled on the machine that runs them, for the decode step: ``tokenshuffle::gemv``, the
few-row product (``gemv.cpp``), and ``tokenshuffle::decode_attention``, one query against the KV cache
reading only its written positions (``decode_attention.cpp``).

``load()`` builds the extension once per machine (``torch.utils.cpp_extension`` with g++ and ninja,
``-march=native``, about 30 s on 2 cores; ``make setup`` does it) and loads it once per process. Where it
cannot be built (no compiler, not x86-64 Linux) it warns once and returns False, as it does silently
with ``TOKENSHUFFLE_CPU_KERNELS=0``; the decode step then keeps torch's kernels and a float32 cache
(``model.layers.kernels_ready``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

from tokenshuffle.devices import cpuinfo

SOURCES = [Path(__file__).with_name(name) for name in ("gemv.cpp", "decode_attention.cpp")]
FLAGS = ["-O3", "-march=native", "-fopenmp"]
DISABLE = "TOKENSHUFFLE_CPU_KERNELS"
# The kernels' software prefetch distance, bytes ahead of the stream they read: on Intel CPUs only by default
# (measured there: +25-40 % read rate in gemv; on AMD EPYC no gain), TOKENSHUFFLE_PREFETCH_BYTES sets it
# (0: none). docs/results.md, "Where a decode step goes".
INTEL_PREFETCH_BYTES = 8192
PREFETCH_ENV = "TOKENSHUFFLE_PREFETCH_BYTES"


def _vendor() -> str:
    return cpuinfo("vendor_id")


def prefetch_bytes() -> int:
    """The prefetch distance the kernels are built with on this machine (0: none)."""
    value = os.environ.get(PREFETCH_ENV)
    if value is not None:
        if not value.isdigit() or int(value) % 64:
            raise ValueError(f"{PREFETCH_ENV}={value!r}: must be 0 or a positive multiple of 64 (bytes)")
        return int(value)
    return INTEL_PREFETCH_BYTES if _vendor() == "GenuineIntel" else 0


def build_flags() -> list[str]:
    """The compiler flags for this machine: -march=native, and the prefetch distance where there is one."""
    distance = prefetch_bytes()
    return FLAGS + ([f"-DTS_PREFETCH_BYTES={distance}"] if distance else [])


def _cpu_tag() -> str:
    """A hash of what -march=native compiles for, so a build directory shared by two kinds of CPU (a home
    folder on a network disk) never loads one machine's code on the other."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "model name")):
                flags += line
            if line.startswith("flags"):
                break
    except OSError:
        flags = platform.processor()
    return hashlib.sha1((flags + torch.__version__).encode()).hexdigest()[:10]


def _build():
    from torch.utils import cpp_extension

    # ninja is a pip package: its executable sits beside this Python's, which may not be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    flags = build_flags()
    name = f"tokenshuffle_kernels_{_cpu_tag()}_{prefetch_bytes()}"
    built = Path(cpp_extension._get_build_directory(name, verbose=False)) / f"{name}.so"
    if not built.exists():
        print("tokenshuffle: compiling the CPU decode kernels for this machine (once, ~30 s)", file=sys.stderr)
    cpp_extension.load(name=name, sources=[str(p) for p in SOURCES], extra_cflags=flags, extra_ldflags=["-fopenmp"],
                       is_python_module=False, verbose=False)

    @torch.library.register_fake("tokenshuffle::gemv")
    def _(x, weight):  # shapes for torch.compile
        return x.new_empty(x.shape[0], weight.shape[0])

    @torch.library.register_fake("tokenshuffle::decode_attention")
    def _(q, k, v, key_bias, pos, scale):
        return q.new_empty(q.shape, dtype=torch.float32)


@functools.cache
def load() -> bool:
    """True once ``torch.ops.tokenshuffle.gemv`` is usable in this process; False (said once) where not."""
    if os.environ.get(DISABLE, "1") == "0":
        return False
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        _build()
    except Exception as exc:  # noqa: BLE001 - any build failure means "use torch's kernels"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.warn(f"tokenshuffle: CPU decode kernel unavailable ({first}); using torch's kernels "
                      f"(set {DISABLE}=0 to skip the build)", stacklevel=2)
        return False
    return True
