r"""scenes-t2i-multisize-pos: ``scenes-t2i-multisize`` with window positions (``LMConfig.window_pos``).

The same data, steps, seed and optimiser as ``scenes-t2i-multisize``; the only change is the
``WindowPosition`` module: every decoder input also carries the row, the column and the place as a fraction
of the image of the window it predicts. It starts at zero, so the run starts from exactly the shipped
decoder's function. The question it answers: does an explicit row stride stop the edge wrap-around and
the banding at 512x1024 that the 1D positions of ``scenes-t2i-multisize`` show, at the same cost?

    tokenshuffle train --config scenes-t2i-multisize-pos --out runs/t2i-multisize-pos   # AMD VM, bf16
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

MULTI = load_recipe("scenes-t2i-multisize")
CONFIG = dataclasses.replace(MULTI, lm=dataclasses.replace(MULTI.lm, window_pos=True))
