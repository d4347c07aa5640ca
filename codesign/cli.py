"""The `codesign` command: one entry point, one subcommand per stage.

Each stage owns its subcommands in a `commands` module exposing
`register(subparsers)`; this file only lists them, in pipeline order.
"""

from __future__ import annotations

import argparse
import importlib
import sys

STAGE_COMMANDS = [
    "codesign.training.commands",
    "codesign.mapping.commands",
    "codesign.validation.commands",
    "codesign.flow",
    "codesign.demo",
]


class UserError(Exception):
    """Bad input from the user: printed as one clear line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codesign",
        description="Memory recurrent units: train -> map -> netlist -> validate -> layout.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as err:
        print(f"codesign {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
