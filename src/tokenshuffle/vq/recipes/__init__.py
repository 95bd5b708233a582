"""The VQ tokenizer recipes that ship with the package: ``vq_<name>.py`` each defining ``CONFIG``."""
