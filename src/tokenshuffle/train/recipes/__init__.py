"""The LM recipes that ship with the package: ``lm_<name>.py`` each defining ``CONFIG`` (a TrainConfig)."""
