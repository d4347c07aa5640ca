"""The `codesign` command: one entry point, one subcommand per stage.

Each stage owns its subcommands in a `commands` module exposing
`register(subparsers)`; this file only lists them, in pipeline order, and
holds the one error path: bad input and simulator failures print one line
naming the file, key or netlist and exit 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

STAGE_COMMANDS = [
    "codesign.training.commands",
    "codesign.training.evaluate",
    "codesign.mapping.commands",
    "codesign.validation.commands",
    "codesign.validation.sweep.commands",
    "codesign.layout.commands",
    "codesign.flow",
    "codesign.demo",
]


class UserError(Exception):
    """Bad input from the user: printed as one clear line, exit status 2."""


def output_folder(path: Path) -> Path:
    """An output folder, checked before any work starts: created if missing, refused if it is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".codesign-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"--out {path}: cannot write there ({err.strerror})") from None
    return path


def add_chip_arguments(p: argparse.ArgumentParser) -> None:
    """--chip and --chip-set, as every command that takes a chip spec names them."""
    from codesign.chip import DEFAULT_PRESET, PRESETS

    p.add_argument("--chip", help=f"chip spec: a preset name ({', '.join(PRESETS)}) "
                                  f"or a TOML file (default: the {DEFAULT_PRESET} preset)")
    p.add_argument("--chip-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a chip key, e.g. --chip-set t_compare_s=3e-3 (repeatable; "
                        "`codesign chip show` lists the keys)")


def chip_from_args(args: argparse.Namespace):
    """The chip spec of --chip and --chip-set; UserError naming the file and key."""
    from codesign.chip import load_chip
    from codesign.config import ConfigError

    try:
        return load_chip(args.chip, args.chip_set)
    except ConfigError as err:
        raise UserError(str(err)) from None


def _expected_errors() -> tuple[type, ...]:
    """The exceptions that are the user's input or the simulator's failure, not a bug."""
    from codesign.config import ConfigError
    from codesign.fsio import FolderLocked
    from codesign.mapping.fit import DoesNotFit
    from codesign.training.tasks import TaskParamError
    from codesign.training.trainer import RunDamaged, RunMismatch, TrainingDiverged
    from codesign.validation.cosim import NetlistEdited
    from codesign.validation.ngspice import NgspiceError

    return (UserError, ConfigError, FolderLocked, DoesNotFit, NetlistEdited, NgspiceError, RunDamaged, RunMismatch,
            TrainingDiverged, TaskParamError)


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
    except _expected_errors() as err:
        text = str(err)
        first, _, rest = text.partition("\n--- ngspice log")  # the log excerpt stays in the kept folder
        print(f"codesign {args.command}: error: {first}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
