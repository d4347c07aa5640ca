"""Units of a Monte Carlo chip on their own, driven by the software's currents: do their cells keep
the software's levels? One map or several that differ only in cell sizes (a remap), same chip.

    .venv/bin/python benchmarks/unit_levels.py MAP [MAP2 ...] [--mc-seed K] --sequence N \
        --units layer0_u1,layer0_u8 [--trims-from SWEEP]

Each unit is cut out of layer 0 and run in a netlist of its own (`unit_bench`, the unit
co-simulation's: the same netlist as the staged co-simulation's, so under chip K it draws what a
sweep point of chip K draws; without --mc-seed, the plain corner), its input the contract's current
i_bias + z / beta * I_unit (z kept in the chip's input window) with z the software's on held-out
sequence N: the array is out of the picture, what is left is the unit's comparator, integrator and readout. Maps that
differ only in device sizes list the same devices in the same order, so their draws are the same
standard normals scaled by each device's own sigma: a cell's fault and its fix on one chip.
--trims-from: each unit's comparator trims (`comparator_trim = "units"`) as a sweep's point record
of chip K stored them; without it the units run on the chip file's trims.

Prints, per map and unit, the level index at the end of every step (0-8 for -4..+4 when L = 4)
under the software's, and the fraction of steps on the software's level. Exit status 0 when every
unit of the last map keeps the software's level on at least 95 % of the steps, 1 if not.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from codesign.mapping.reference import software_states
from codesign.validation.comparator_trim import UnitComparatorTrims
from codesign.validation.cosim import REFERENCE, load_checked, step_end_levels, unit_bench
from codesign.validation.ngspice import run
from codesign.validation.report import test_sequences

TARGET_LEVEL_AGREEMENT = 0.95


def stored_comparator_trims(sweep: Path, mc_seed: int) -> dict:
    """The comparator trims a sweep's point record of chip mc_seed holds."""
    for path in sorted((sweep / "points").glob("*.json")):
        record = json.loads(path.read_text())
        if record["axes"].get("mc_seed") == mc_seed and "comparator_trims" in (record.get("figures") or {}):
            return record["figures"]["comparator_trims"]
    raise SystemExit(f"{sweep}: no point record of Monte Carlo chip {mc_seed} with comparator trims")


def digits(k: np.ndarray, levels: int) -> str:
    return "".join(str(int(v) + levels) for v in k)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dirs", type=Path, nargs="+")
    p.add_argument("--mc-seed", type=int, help="the Monte Carlo chip (default: the plain corner)")
    p.add_argument("--sequence", type=int, default=0)
    p.add_argument("--units", required=True, help="comma-separated unit names of layer 0")
    p.add_argument("--trims-from", type=Path, metavar="SWEEP")
    args = p.parse_args()
    if args.trims_from and args.mc_seed is None:
        p.error("--trims-from: a sweep's trims are a Monte Carlo chip's; give --mc-seed")
    trims = stored_comparator_trims(args.trims_from, args.mc_seed) if args.trims_from else None
    worst = {}
    for map_dir in args.map_dirs:
        plan = load_checked(map_dir)
        if trims is not None:
            plan = UnitComparatorTrims.from_summary(trims).apply(plan)
        x = test_sequences(map_dir, args.sequence + 1)[0][args.sequence:args.sequence + 1]
        zs, hs = software_states(plan, x)
        layer = plan.layers[0]
        names = [u.name for u in layer.units]
        supply = dataclasses.replace(plan.chip.supply(), mc_seed=args.mc_seed)
        for name in args.units.split(","):
            if name not in names:
                p.error(f"--units: {name!r} is not a unit of {map_dir}'s layer 0 ({', '.join(names)})")
            i = names.index(name)
            k_software = np.rint(hs[0][0][:, i] / layer.alpha[i]).astype(np.int64)
            unit = dataclasses.replace(layer, units=(layer.units[i],))
            result = run(unit_bench(plan, unit, zs[0][0], supply, REFERENCE), name="unit_levels", timeout_s=1800)
            k_circuit = step_end_levels(plan, result, unit.units, len(k_software))[:, 0]
            agreement = float((k_circuit == k_software).mean())
            worst[map_dir] = min(worst.get(map_dir, 1.0), agreement)
            print(f"{map_dir} {name}, chip {args.mc_seed}, sequence {args.sequence} ({result.elapsed_s:.0f} s): "
                  f"{agreement:.1%} of steps on the software's level\n  software {digits(k_software, plan.levels)}"
                  f"\n  circuit  {digits(k_circuit, plan.levels)}")
    return 0 if worst[args.map_dirs[-1]] >= TARGET_LEVEL_AGREEMENT else 1


if __name__ == "__main__":
    sys.exit(main())
