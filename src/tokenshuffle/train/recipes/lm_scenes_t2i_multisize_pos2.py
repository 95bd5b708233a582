r"""scenes-t2i-multisize-pos2: ``scenes-t2i-multisize2`` with window positions, from ``scenes-t2i-multisize-pos``.

The second piece of the window-positions run, the same as ``scenes-t2i-multisize2`` (the same codes,
512² weighted 3x, lr 1e-4 to zero, 1000 steps) but continuing ``runs/t2i-multisize-pos``:

    tokenshuffle train --config scenes-t2i-multisize-pos2 --out runs/t2i-multisize-pos2   # AMD VM, bf16
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

SECOND = load_recipe("scenes-t2i-multisize2")
CONFIG = dataclasses.replace(SECOND, lm=dataclasses.replace(SECOND.lm, window_pos=True),
                             init_from="runs/t2i-multisize-pos")
