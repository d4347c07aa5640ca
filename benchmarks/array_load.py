"""Stage 1 of a staged co-simulation with each row loaded by its whole comparator and by its
comparator's input diode alone (`codesign.validation.synapses.ARRAY_LOADS`): ngspice's Newton
iterations and CPU time for each, their ratio from one run, and how far the currents of the two
lie apart, in I_unit.

    .venv/bin/python benchmarks/array_load.py MAP [--utterance 0] [--corner tt] [--temp 27] [--mc-seed K]

The two netlists run one after the other on one core (`.options acct`; the CPU time is the
ngspice process's own, so a busy machine slows both alike). On a Monte Carlo chip (--mc-seed) the
two netlists are two draws under the seed (ngspice draws over every device), so their currents
are compared only without one. Exit status 0 when, without --mc-seed, every current lies within
1e-3 I_unit of the other's.
"""

import argparse
import dataclasses
import re
import resource
import sys
from pathlib import Path

import numpy as np

from codesign.validation.cosim import load_checked
from codesign.validation.ngspice import run
from codesign.validation.report import test_sequences
from codesign.validation.synapses import ARRAY_LOADS, array_bench, currents_from_dc

WITHIN_I_UNIT = 1e-3


def measured(netlist: str, frames: int, plan) -> tuple[np.ndarray, int, float]:
    """The rows' currents [frames, d], ngspice's Newton iterations and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    res = run(netlist.replace("\n.end\n", "\n.options acct\n.end\n"), name="array_load", timeout_s=7200)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    iterations = int(re.search(r"Total iterations\s*=\s*(\d+)", res.log)[1])
    return currents_from_dc(plan, res, frames), iterations, cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--utterance", type=int, default=0, help="the held-out utterance (default 0)")
    p.add_argument("--corner", default="tt")
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--mc-seed", type=int, help="a Monte Carlo chip (default: none)")
    args = p.parse_args()
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.utterance + 1)[0][args.utterance]
    supply = dataclasses.replace(plan.chip.supply(args.corner, args.temp), mc_seed=args.mc_seed)
    out = {}
    for load in ARRAY_LOADS:
        print(f"{load}: {len(x)} operating points ...", file=sys.stderr, flush=True)
        out[load] = measured(array_bench(plan, x, supply, load=load), len(x), plan)
        print(f"{load}: {out[load][1]} Newton iterations, {out[load][2]:.1f} s of CPU")
    (i_whole, n_whole, t_whole), (i_diode, n_diode, t_diode) = out["comparators"], out["input_stage"]
    print(f"input_stage against comparators: {n_whole / n_diode:.2f}x fewer iterations, "
          f"{t_whole / t_diode:.2f}x less CPU")
    gap = np.abs(i_diode - i_whole) / plan.chip.i_unit_a
    print(f"currents apart: largest {gap.max():.2e} I_unit, RMS {np.sqrt(np.mean(gap ** 2)):.2e}"
          + (" (two draws of a Monte Carlo chip: not compared)" if args.mc_seed is not None else ""))
    return 0 if args.mc_seed is not None or gap.max() <= WITHIN_I_UNIT else 1


if __name__ == "__main__":
    sys.exit(main())
