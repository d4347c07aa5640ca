"""Whether a mapped mirror array settles within the compare phase, on a held-out utterance.

    .venv/bin/python benchmarks/array_settling.py MAP [--frames 20] [--sequence 0] [--corner tt] [--temp 27]

Layer 0's whole array into one comparator per unit (`codesign.validation.synapses.array_bench`)
on the first frames of a held-out test sequence, twice: at DC (settled), and in a transient that
steps the inputs once per compare phase (t_compare_s), each unit's input current read 2 us before
the next step, where the comparator decides. Harsher than the chip, whose inputs step once per
clock period and so start each step settled. Prints the largest and RMS difference, in I_unit (=
beta of z), overall and near a threshold (|z| / beta in [0.5, 1.5], where a difference can move a
decision). Exit status 0 when the largest difference near a threshold stays below 0.01 I_unit (a
fifth of a trimmed Monte Carlo array's error there, docs/mapping.md), 1 if not.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from codesign.validation.cosim import load_checked
from codesign.validation.report import test_sequences
from codesign.validation.synapses import characterize_array, near_threshold

TARGET_NEAR_THRESHOLD_I_UNIT = 0.01


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--sequence", type=int, default=0)
    p.add_argument("--corner", default="tt")
    p.add_argument("--temp", type=float, default=27.0)
    args = p.parse_args()
    if args.frames < 2:
        p.error("--frames: at least 2")
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.sequence + 1)[0][args.sequence][:args.frames]
    supply = plan.chip.supply(args.corner, args.temp)
    start = time.perf_counter()
    settled = characterize_array(plan, x, supply, timeout_s=3600)
    print(f"DC: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    stepped = characterize_array(plan, x, supply, t_step_s=plan.chip.t_compare_s, timeout_s=3600)
    diff = (stepped.i_circuit_a - settled.i_circuit_a) / plan.chip.i_unit_a
    near = near_threshold(settled.i_ideal_a, plan.chip.i_bias_a, plan.chip.i_unit_a)
    print(f"{args.map_dir}, sequence {args.sequence}, frames 0-{len(x) - 1}, {args.corner} {args.temp:g} C, "
          f"stepped every {plan.chip.t_compare_s * 1e3:g} ms ({time.perf_counter() - start:.0f} s): compare-end "
          f"current minus DC, I_unit: max {np.abs(diff).max():.5f}, RMS {np.sqrt(np.mean(diff ** 2)):.5f}; "
          f"near a threshold ({int(near.sum())} unit-steps) max {np.abs(diff[near]).max(initial=0):.5f}; "
          f"worst unit {int(np.abs(diff).max(axis=0).argmax())}")
    return 0 if np.abs(diff[near]).max(initial=0) < TARGET_NEAR_THRESHOLD_I_UNIT else 1


if __name__ == "__main__":
    sys.exit(main())
