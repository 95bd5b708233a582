"""Data files shipped with the package (evaluation prompt sets); read with ``importlib.resources``."""
