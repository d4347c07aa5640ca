"""`codesign layout`: the cells of a mapped network (MAPDIR) or of a chip spec (--chip)
laid out in sky130, with `--check` running DRC and LVS on everything written."""

from __future__ import annotations

import argparse
from pathlib import Path

from codesign.cli import add_chip_arguments, chip_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "layout", help="lay out the cells of a mapped network or a chip spec in sky130 (GDS, previews, checks)",
        description="Lay out every cell a mapped network uses, at the sizes in its manifest, and place its units "
                    "in a row; or, with --chip and no MAPDIR, the cells of a chip spec. Writes one GDS, abstract "
                    "(JSON) and PNG per cell, one library GDS and layout.md. --check runs the design-rule check "
                    "and LVS on every cell written and exits 1 on any violation or mismatch.")
    p.add_argument("map_dir", nargs="?", type=Path, help="map folder (from codesign map)")
    add_chip_arguments(p)  # without MAPDIR: the chip spec whose cells to lay out
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--check", action="store_true", help="run DRC and LVS on the output")
    p.set_defaults(run=run_layout)


def run_layout(args: argparse.Namespace) -> int:
    from codesign.cli import UserError, output_folder
    from codesign.layout.circuit import CircuitError
    from codesign.layout.network import network_job
    from codesign.layout.write import report, write_cells

    if args.map_dir is not None and (args.chip or args.chip_set):
        raise UserError("layout: give a map folder or --chip/--chip-set, not both (a map folder has its chip)")
    if args.map_dir is not None and not args.map_dir.is_dir():
        raise UserError(f"{args.map_dir}: not a map folder (no such folder)")
    out = output_folder(args.out)
    try:
        if args.map_dir is not None:
            circuits, placement, title, library = network_job(args.map_dir)
            command = f"codesign layout {args.map_dir} --out {args.out}"
        else:
            from codesign.layout.cells import chip_cells

            chip = chip_from_args(args)
            circuits, placement, title, library = list(chip_cells(chip).values()), None, f"chip {chip.name}", \
                chip.name
            command = f"codesign layout --chip {args.chip or chip.name} --out {args.out}"
        written = write_cells(circuits, out, library, args.check, placement)
    except CircuitError as err:
        raise UserError(str(err)) from None
    text = report(written, title, command + (" --check" if args.check else ""))
    (out / "layout.md").write_text(text)
    print(text, end="")
    print(f"layout folder: {out}  ({library}.gds, <cell>.gds/.json/.png, layout.md"
          f"{', checks.json' if args.check else ''})")
    return 1 if args.check and written.failures else 0
