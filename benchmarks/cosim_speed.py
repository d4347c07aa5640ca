"""Co-simulation speed: the reference solver settings against the default ones, in one run,
on the same map folder and test sequences; levels must be identical on every step.

    .venv/bin/python benchmarks/cosim_speed.py runs/flow/map [--sequences 2] [--steps 40] [--level unit]

reference: one netlist per layer and sequence, ngspice's reltol (1e-3), one process at a time
(how co-simulation ran before 2026-11-30); default (DEFAULT): one netlist per unit and sequence,
reltol 1e-4, `--workers` processes (one OpenMP thread each). Prints unit-steps per second of
wall time and the ratio; exit status 1 if a level differs.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from codesign.validation.cosim import DEFAULT, REFERENCE, cosim_network, cosim_units, load_checked
from codesign.validation.report import test_sequences


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--steps", type=int, default=40, help="first steps of each sequence (default 40)")
    p.add_argument("--level", choices=["unit", "network"], default="unit")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.sequences)[0][:, :args.steps]
    unit_steps = x.shape[0] * x.shape[1] * len(plan.units)
    runs, levels = {}, {}
    for name, options, workers in (("reference", REFERENCE, 1), ("default", DEFAULT, args.workers)):
        started = time.perf_counter()
        if args.level == "unit":
            levels[name] = [c.k_circuit for c in cosim_units(plan, x, workers=workers, options=options)]
        else:
            levels[name] = [c.k_circuit for c in cosim_network(plan, x, workers=workers, options=options).layers]
        runs[name] = time.perf_counter() - started
        print(f"{name:9s}: {runs[name]:7.1f} s wall, {unit_steps / runs[name]:6.2f} unit-steps/s "
              f"({x.shape[0]} sequences x {x.shape[1]} steps x {len(plan.units)} units, {args.level} level, "
              f"{workers} worker(s))", flush=True)
    same = all(np.array_equal(a, b) for a, b in zip(levels["reference"], levels["default"]))
    print(f"ratio default / reference: {runs['reference'] / runs['default']:.2f}x; levels identical on every "
          f"step: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
