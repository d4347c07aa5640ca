"""A mirror-array chip co-simulated both ways, in one run, on the same sequences: coupled (the
array's columns and each unit's row in the unit's netlist, `cosim_network`) and staged (the
array alone at DC, then each unit driven by its row's current, `codesign.validation.staged`).

    .venv/bin/python benchmarks/staged_vs_coupled.py MAP [--sequences 1] [--first 0] [--steps N]
        [--corner tt] [--temp 27] [--mc-seed K] [--workers 2]

Prints each way's wall time and the ratio, the levels the two ways share (every unit, every
step), their decisions and outputs, and each way's level agreement with the software. Exit
status 0 when the decisions are identical on every sequence, 1 if not. With --mc-seed only
the staged way runs: the coupled way keeps a Monte Carlo chip's array whole (one netlist of
every unit and the array, hours per sequence on the keyword-spotting map).
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from codesign.mapping.reference import decisions
from codesign.validation.cosim import cosim_network, load_checked
from codesign.validation.report import test_sequences
from codesign.validation.staged import cosim_network_staged


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--sequences", type=int, default=1)
    p.add_argument("--first", type=int, default=0, help="first test sequence (default 0)")
    p.add_argument("--steps", type=int, help="first steps of each sequence (default all)")
    p.add_argument("--corner", default="tt")
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--mc-seed", type=int, help="Monte Carlo chip (staged only)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.first + args.sequences)[0][args.first:, :args.steps]
    supply = plan.chip.supply(args.corner, args.temp)
    if args.mc_seed is not None:
        supply = dataclasses.replace(supply, mc_seed=args.mc_seed)
    ways = {"staged": cosim_network_staged} if args.mc_seed else {"coupled": cosim_network,
                                                                   "staged": cosim_network_staged}
    out, seconds = {}, {}
    for name, cosim in ways.items():
        print(f"{name}: {len(x)} sequence(s) x {x.shape[1]} steps ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        out[name] = cosim(plan, x, supply, workers=args.workers, progress=True)
        seconds[name] = time.perf_counter() - start
    for name, n in out.items():
        layer = n.layers[0]
        print(f"{name}: {seconds[name]:.1f} s, level agreement with the software {layer.level_agreement:.4%}, "
              f"decisions as the software's {n.summary()['decision_agreement']:.0%}, netlists solved again "
              f"{layer.solved_tight}")
    if len(out) == 1:
        return 0
    c, s = out["coupled"], out["staged"]
    same = c.layers[0].k_circuit == s.layers[0].k_circuit
    same_decisions = decisions(c.loss, c.y_circuit) == decisions(s.loss, s.y_circuit)
    print(f"staged / coupled wall time: {seconds['staged'] / seconds['coupled']:.3f} "
          f"({seconds['coupled'] / seconds['staged']:.2f}x faster)")
    dy = np.abs(c.y_circuit - s.y_circuit).max()
    print(f"levels shared: {same.mean():.4%} of {same.size} unit-steps; circuit decisions identical on "
          f"{same_decisions.sum()} of {same_decisions.size}; outputs within {dy:.4f} "
          f"(output scale {np.abs(c.y_circuit).max():.3f})")
    return 0 if same_decisions.all() else 1


if __name__ == "__main__":
    sys.exit(main())
