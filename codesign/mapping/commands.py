"""`codesign map` (a training run folder and a chip spec in, netlists and a manifest out)
and `codesign chip show` (a chip spec resolved, with units)."""

from __future__ import annotations

import argparse
import dataclasses
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
    p.add_argument("run_dir", type=Path, help="training run folder (from codesign train), or a map folder: "
                   "its network again with the mirror array's device sizes or bias voltages changed "
                   "(--chip-set; codesign.mapping.write.NETLIST_ONLY_KEYS)")
    add_chip_arguments(p)
    p.add_argument("--out", type=Path, help="output folder (default: <run_dir>/map; required for a map folder)")
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

    if not args.run_dir.is_dir():
        raise UserError(f"{args.run_dir}: not a training run folder (no such folder)")
    from_map = (args.run_dir / "manifest.json").is_file()
    if from_map and args.chip:
        raise UserError(f"--chip: {args.run_dir} is a map folder, which keeps its own chip; change its keys "
                        "with --chip-set")
    if from_map and not args.out:
        raise UserError(f"--out: {args.run_dir} is a map folder; name the folder its new map goes to")
    chip = remapped_chip(args.run_dir, args.chip_set) if from_map else chip_from_args(args)
    for warning in outside_characterized(chip):
        print(warning, file=sys.stderr)
    out = output_folder(args.out or args.run_dir / "map")
    if from_map and out.resolve() == args.run_dir.resolve():
        raise UserError(f"--out: {out} is the map folder itself; write the new map elsewhere")
    with folder_lock(out, "codesign map"):
        if from_map:
            from codesign.mapping.write import remap
            from codesign.validation.inputs import copy_inputs

            summary = remap(args.run_dir, chip, out)
            copy_inputs(args.run_dir, out)  # the same network and data: its stored inputs stand
        else:
            summary = map_run(args.run_dir, chip, out)
    print(json.dumps(summary, indent=1))
    warning = pvt_warning(summary)
    if warning:
        print(warning, file=sys.stderr)
    print(f"map folder: {out}  (network.spice, units/*.spice, manifest.json, quantization.md)")
    return 0


def remapped_chip(map_dir: Path, overrides: list[str]):
    """A map folder's own chip with --chip-set overrides, refused unless a remap can take them."""
    from codesign.chip import chip_from_dict
    from codesign.cli import UserError
    from codesign.config import ConfigError, parse_override
    from codesign.manifest import load_manifest
    from codesign.mapping.write import remap_changes

    own = load_manifest(map_dir)[0].chip
    data = dataclasses.asdict(own)
    try:
        for assignment in overrides:
            key, value = parse_override(assignment, "--chip-set")
            data[key] = value
        chip = chip_from_dict(data, "chip")
        remap_changes(own, chip)
    except ConfigError as err:  # a value the chip spec refuses
        raise UserError(str(err)) from None
    except ValueError as err:  # a key a remap cannot change
        raise UserError(f"--chip-set {err}") from None
    return chip
