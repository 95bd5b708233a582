"""Arguments shared by several commands: the sampling flags (one per SamplingConfig field), threads."""

from __future__ import annotations

import argparse

from tokenshuffle.sampling.config import FIELDS, SamplingConfig

OFF = "none"  # --top-k none / --top-p none: the filter off


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _optional(kind, *, zero_is_off: bool = False):
    """argparse type for an ``X | None`` setting: 'none' (or 0 for top-k) turns it off."""

    def parse(text: str):
        if text.lower() == OFF:
            return None
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} or '{OFF}', got {text!r}") from None
        return None if zero_is_off and value == 0 else value

    return parse


PARSERS = {"guidance_scale": float, "cfg_schedule": str, "temperature": float,
           "top_k": _optional(int, zero_is_off=True), "top_p": _optional(float), "candidates": int}


def add_sampling_args(parser: argparse.ArgumentParser, *, default_from: str = "the model's pipeline.json",
                      skip: tuple[str, ...] = ()) -> None:
    """One flag per SamplingConfig field (but ``skip``); a flag not given leaves its setting at the default."""
    for f in FIELDS:
        if f.name in skip:
            continue
        parser.add_argument(_flag(f.name), dest=f.name, type=PARSERS[f.name], default=argparse.SUPPRESS,
                            help=f"{f.metadata['help']} (default: {default_from})")


def sampling_overrides(args: argparse.Namespace) -> dict:
    """The SamplingConfig fields given on the command line (suppressed defaults leave the rest out)."""
    return {f.name: getattr(args, f.name) for f in FIELDS if hasattr(args, f.name)}


def sampling_from_args(args: argparse.Namespace, base: SamplingConfig) -> SamplingConfig:
    """``base`` with the command line's sampling flags applied and checked once."""
    return base.replace(**sampling_overrides(args))


def set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads (None keeps torch's choice)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def comma_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--dtype`` (the inference precision; ``auto`` picks per device, ``devices.default_dtype``)."""
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="auto",
                        help="auto, fp32, bf16 or fp16 (default auto: bf16 on GPUs and on CPUs with native bf16, "
                        "else fp32)")


def device_and_dtype(args: argparse.Namespace):
    """The checked (torch.device, torch.dtype) of ``--device`` / ``--dtype``."""
    from tokenshuffle.devices import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    return device, resolve_dtype(args.dtype, device)
