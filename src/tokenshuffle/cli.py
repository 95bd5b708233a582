"""The ``tokenshuffle`` command line: parse -> config -> one library call per subcommand.

Each area registers its subcommands in one ``_add_*`` function below. A ``ValueError`` (a user
mistake: bad size, unknown name, missing file) becomes one line on stderr and exit code 2; set
``TOKENSHUFFLE_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys


def _add_generate(sub) -> None:
    from tokenshuffle import cli_generate

    cli_generate.add_parsers(sub)


def _add_bench(sub) -> None:
    from tokenshuffle import cli_generate

    cli_generate.add_bench_parser(sub)


REGISTRARS = [_add_generate, _add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenshuffle", description="Token-Shuffle autoregressive text-to-image generation."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in REGISTRARS:
        add(sub)
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


if __name__ == "__main__":
    sys.exit(main())
