"""Co-simulation speed: the reference solver settings against the default ones, in one run,
on the same map folder and sequences; levels must be identical on every step.

    .venv/bin/python benchmarks/cosim_speed.py runs/flow/map [--sequences 2] [--steps 40] [--level unit|network]
        [--stimulus random] [--workers 2]

reference (REFERENCE): one netlist per layer and sequence, ngspice's reltol (1e-3), every
model bin of the library loaded, one process at a time (how co-simulation ran before
2026-11-30). default (DEFAULT): only the model bins the netlist uses, one netlist
per unit and sequence (at network level where the network is separable), reltol 1e-3 with
device bypass, departures from the software solved again at reltol 1e-4, `--workers`
processes. Inputs: the map's test sequences, or at unit level a stimulus set
(`codesign.validation.stimulus`, margin 2 %) for busier runs. Prints unit-steps per second of
wall time and per core, the ratio, and how many netlists were solved again; exit status 1 if
a level differs.
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

from codesign.validation.cosim import DEFAULT, REFERENCE, cosim_layer, cosim_network, cosim_units, load_checked
from codesign.validation.ngspice import every_model_bin
from codesign.validation.report import test_sequences
from codesign.validation.stimulus import SETS, layer_stimulus


def simulate(plan, x, args, options, workers):
    """The layers' comparisons, the network's outputs (None at unit level) and the unit-steps run."""
    if args.stimulus:
        z, h = layer_stimulus(plan, 0, args.stimulus, args.sequences, args.steps, 0.02, seed=0)
        return [cosim_layer(plan, 0, z, h, plan.chip.supply(), workers, options=options)], None, z.size
    unit_steps = args.sequences * x.shape[1] * len(plan.units)
    if args.level == "unit":
        return cosim_units(plan, x, workers=workers, options=options), None, unit_steps
    net = cosim_network(plan, x, workers=workers, options=options)
    return net.layers, net.y_circuit, unit_steps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--steps", type=int, default=40, help="first steps of each sequence (default 40)")
    p.add_argument("--level", choices=["unit", "network"], default="unit")
    p.add_argument("--stimulus", choices=SETS, help="unit level: drive the units with this set instead")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    if args.stimulus and args.level != "unit":
        p.error("--stimulus drives units: use it with --level unit")
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.sequences)[0][:, :args.steps]
    runs, levels, outputs = {}, {}, {}
    for name, options, workers in (("reference", REFERENCE, 1), ("default", DEFAULT, args.workers)):
        started = time.perf_counter()
        with every_model_bin() if name == "reference" else contextlib.nullcontext():
            layers, outputs[name], unit_steps = simulate(plan, x, args, options, workers)
        runs[name] = time.perf_counter() - started
        levels[name] = [c.k_circuit for c in layers]
        rate = unit_steps / runs[name]
        print(f"{name:9s}: {runs[name]:7.1f} s wall, {rate:6.2f} unit-steps/s, {rate / workers:6.2f} per core "
              f"({unit_steps} unit-steps, {args.level} level, {workers} worker(s)); agreement with the software "
              f"{min(c.level_agreement for c in layers):.4f}, netlists solved again at tight tolerances "
              f"{sum(c.solved_tight for c in layers)}", flush=True)
    same = all(np.array_equal(a, b) for a, b in zip(levels["reference"], levels["default"]))
    ratio = runs["reference"] / runs["default"]
    print(f"ratio default / reference: {ratio:.2f}x wall, {ratio / args.workers:.2f}x per core; levels identical "
          f"on every step: {same}")
    if outputs["reference"] is not None:
        print(f"largest output difference: {np.abs(outputs['reference'] - outputs['default']).max():.3g} "
              f"(largest output {np.abs(outputs['reference']).max():.3g})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
