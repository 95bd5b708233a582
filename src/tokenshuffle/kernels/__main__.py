"""python -m tokenshuffle.kernels: build the CPU decode kernels now (``make setup`` does), exit 1 where they
cannot be built."""

import sys

from tokenshuffle.kernels import load

if __name__ == "__main__":
    sys.exit(0 if load() else 1)
