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
    from tokenshuffle import cli_bench

    cli_bench.add_parsers(sub)


def _add_vq(sub) -> None:
    from tokenshuffle import cli_vq

    cli_vq.add_parsers(sub)


def _add_train(sub) -> None:
    from tokenshuffle import cli_train

    cli_train.add_parsers(sub)


def _add_data(sub) -> None:
    from tokenshuffle import cli_data

    cli_data.add_parsers(sub)


def _add_eval(sub) -> None:
    from tokenshuffle import cli_eval

    cli_eval.add_parsers(sub)


def _add_pipeline(sub) -> None:
    from tokenshuffle import cli_pipeline

    cli_pipeline.add_parsers(sub)


def _add_serve(sub) -> None:
    from tokenshuffle import cli_serve

    cli_serve.add_parsers(sub)


REGISTRARS = [_add_generate, _add_bench, _add_vq, _add_train, _add_data, _add_eval, _add_pipeline, _add_serve]


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
