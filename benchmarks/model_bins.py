"""ngspice's subcircuit expansion with every model bin against only the bins a netlist uses,
in one run, on the network benches of a map folder; every vector must be equal.

    .venv/bin/python benchmarks/model_bins.py MAP [--steps 8] [--whole-only | --unit-only]

Benches: the first unit alone (one netlist per unit, as co-simulation runs them) and the
whole network in one netlist, tt 27 C, driven by the map's first test sequence (or, without
test sequences, uniform inputs in [-3, 3]). Prints ngspice's own "Subckt and Param
expansion" and analysis times (`.option acct`); exit status 1 if a vector differs.
"""

import argparse
import contextlib
import re
import sys
from pathlib import Path

import numpy as np

from codesign.validation.cosim import DEFAULT, load_checked, network_bench
from codesign.validation.ngspice import every_model_bin, run
from codesign.validation.report import test_sequences


def accounted(bench: str, name: str, every: bool):
    with every_model_bin() if every else contextlib.nullcontext():
        result = run(bench.replace("\n.end\n", "\n.option acct\n.end\n"), name=name, timeout_s=7200)
    seconds = {key: float(re.search(rf"{pattern}\s*=\s*([\d.]+)", result.log).group(1))
               for key, pattern in (("expansion", "Subckt and Param expansion time"),
                                    ("analysis", r"Total analysis time \(seconds\)"))}
    return result, seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--steps", type=int, default=8)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--whole-only", action="store_true")
    which.add_argument("--unit-only", action="store_true")
    args = p.parse_args()
    plan = load_checked(args.map_dir)
    try:
        x = test_sequences(args.map_dir, 1)[0][0, :args.steps]
    except (FileNotFoundError, KeyError, ValueError):
        x = np.random.default_rng(0).uniform(-3, 3, (args.steps, plan.layers[0].n_in))
    benches = {"unit": (plan.units[0],), "whole": None}
    if args.whole_only:
        benches.pop("unit")
    if args.unit_only:
        benches.pop("whole")
    same = True
    for label, units in benches.items():
        bench = network_bench(plan, x, plan.chip.supply("tt"), DEFAULT, units=units)
        every, every_s = accounted(bench, f"bins_{label}_every", every=True)
        needed, needed_s = accounted(bench, f"bins_{label}_needed", every=False)
        equal = every.vectors.keys() == needed.vectors.keys() and all(
            np.array_equal(v, needed.vectors[k]) for k, v in every.vectors.items())
        same &= equal
        print(f"{label:5s} ({len(x)} steps): expansion {every_s['expansion']:.2f} s every bin -> "
              f"{needed_s['expansion']:.2f} s only its bins; analysis {every_s['analysis']:.2f} -> "
              f"{needed_s['analysis']:.2f} s; every vector equal: {equal}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
