"""The ``tokenshuffle`` command line: parse -> config -> one library call per subcommand.

One module per command group (generate, data, vq, train, eval, export, bench), each with
``add_parsers(sub)``. A ``ValueError`` or ``FileNotFoundError`` (a user mistake: bad size, unknown
name, missing file) becomes one line on stderr and exit code 2; set ``TOKENSHUFFLE_DEBUG=1`` to see
the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from tokenshuffle.cli import bench, data, eval, export, generate, train, vq

GROUPS = (generate, data, vq, train, eval, export, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenshuffle", description="Token-Shuffle autoregressive text-to-image generation."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        if os.environ.get("TOKENSHUFFLE_DEBUG"):
            raise
        print(f"tokenshuffle {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tokenshuffle {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
