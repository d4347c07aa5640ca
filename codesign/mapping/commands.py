"""`codesign map` (a training run folder and a chip spec in, netlists and a manifest out)
and `codesign chip show` (a chip spec resolved, with units)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codesign.cli import add_chip_arguments, chip_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map", help="map a trained network onto a chip: netlists, manifest.json, quantization report",
        description="Check that a trained network fits a chip spec (eps, levels, ranges, capacitor budget), "
                    "quantize its weights to the chip's resolution, size its cells and write one netlist "
                    "per unit, one for the network, manifest.json and quantization.md.")
    p.add_argument("run_dir", type=Path, help="training run folder (from codesign train)")
    add_chip_arguments(p)
    p.add_argument("--out", type=Path, help="output folder (default: <run_dir>/map)")
    p.set_defaults(run=run_map)

    chip = subparsers.add_parser("chip", help="chip specs: show one resolved, with units",
                                 description="Print a chip spec (a preset or a file, with --chip-set overrides) "
                                             "with every key resolved and its unit; the output is itself a "
                                             "valid chip file.")
    actions = chip.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the resolved chip spec")
    show.add_argument("chip", nargs="?", help="preset name or chip file (default: the sky130_subthreshold preset)")
    show.add_argument("--chip-set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    show.set_defaults(run=run_chip_show)


def run_chip_show(args: argparse.Namespace) -> int:
    from codesign.chip import describe

    print(describe(chip_from_args(args)), end="")
    return 0


def run_map(args: argparse.Namespace) -> int:
    from codesign.chip import outside_characterized
    from codesign.cli import UserError, output_folder
    from codesign.fsio import folder_lock
    from codesign.mapping.write import map_run, pvt_warning

    chip = chip_from_args(args)
    for warning in outside_characterized(chip):
        print(warning, file=sys.stderr)
    if not args.run_dir.is_dir():
        raise UserError(f"{args.run_dir}: not a training run folder (no such folder)")
    out = output_folder(args.out or args.run_dir / "map")
    with folder_lock(out, "codesign map"):
        summary = map_run(args.run_dir, chip, out)
    print(json.dumps(summary, indent=1))
    warning = pvt_warning(summary)
    if warning:
        print(warning, file=sys.stderr)
    print(f"map folder: {out}  (network.spice, units/*.spice, manifest.json, quantization.md)")
    return 0
