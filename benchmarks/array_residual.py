"""Where a Monte Carlo chip's mirror-array error lives: what a row trim can reach, and what a trim
with the row's negative synapses apart would.

    .venv/bin/python benchmarks/array_residual.py MAP [--chips 2] [--first-chip 1] [--sequence 0]

On each chip (tt 27 C, untrimmed) the array is measured at DC on the calibration vectors a row
trim is set on (`codesign.validation.array_trim`) and on a held-out test sequence. Each row's
error on the calibration vectors is fitted by least squares two ways, and the fit is subtracted
on the sequence:
    [1, net]          the row trim's model: an offset and a gain on what the row's synapses
                      carry net (its reference current scales every synapse of the row)
    [1, up, down]     an offset and separate gains on the synapses draining into the unit input
                      and on those draining into the row's nfet mirror (the mirror's own gain)
The residual near a threshold (|z| / beta in [0.5, 1.5], in I_unit) of each: where the second is
far below the first, the row's nfet mirror carries the error a row trim leaves. Exit status 0.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from codesign.validation.array_trim import map_calibration_inputs, supply_at_test, synapse_shares_by_drain
from codesign.validation.cosim import load_checked
from codesign.validation.ngspice import run
from codesign.validation.report import test_sequences
from codesign.validation.synapses import array_bench, currents_from_dc, ideal_currents, in_window, near_threshold


def residuals(plan, supply, x_cal: np.ndarray, x_seq: np.ndarray, name: str) -> dict:
    """RMS residual near a threshold on x_seq after each fit on x_cal."""
    measured = {}
    for what, x in (("cal", x_cal), ("seq", x_seq)):
        res = run(array_bench(plan, x, supply), name=f"{name}_{what}", timeout_s=3600)
        ideal = ideal_currents(plan, x)
        measured[what] = ((currents_from_dc(plan, res, len(x)) - ideal) / plan.chip.i_unit_a,
                          in_window(plan, ideal), synapse_shares_by_drain(plan, x), ideal)
    error, inside, (up, down), _ = measured["cal"]
    error_s, inside_s, (up_s, down_s), ideal_s = measured["seq"]
    near = inside_s & near_threshold(ideal_s, plan.chip.i_bias_a, plan.chip.i_unit_a)
    out = {"as drawn": float(np.sqrt(np.mean(error_s[near] ** 2)))}
    for fit, columns in (("[1, net]", lambda u, d: [u - d]), ("[1, up, down]", lambda u, d: [u, d])):
        left = []
        for i in range(error.shape[1]):
            ok = inside[:, i]
            a = np.stack([np.ones(int(ok.sum()))] + [c[ok, i] for c in columns(up, down)], axis=1)
            coef, *_ = np.linalg.lstsq(a, error[ok, i], rcond=None)
            a_s = np.stack([np.ones(len(x_seq))] + [c[:, i] for c in columns(up_s, down_s)], axis=1)
            left.append((error_s[:, i] - a_s @ coef)[near[:, i]])
        out[fit] = float(np.sqrt(np.mean(np.concatenate(left) ** 2)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--chips", type=int, default=2)
    p.add_argument("--first-chip", type=int, default=1)
    p.add_argument("--sequence", type=int, default=0, help="held-out test sequence (default 0)")
    args = p.parse_args()
    if args.chips < 1 or args.first_chip < 1:
        p.error("--chips, --first-chip: at least 1")
    plan = load_checked(args.map_dir)
    x_cal = map_calibration_inputs(args.map_dir)
    x_seq = test_sequences(args.map_dir, args.sequence + 1)[0][args.sequence]
    print(f"{args.map_dir}, sequence {args.sequence}, tt 27 C, untrimmed; RMS near a threshold, in I_unit, "
          "after each fit on the calibration vectors")
    print("| chip | as drawn | [1, net] (the row trim's model) | [1, up, down] |\n|---|---|---|---|")
    for k in range(args.first_chip, args.first_chip + args.chips):
        supply = supply_at_test(plan.chip, "tt", k)
        r = residuals(plan, supply, x_cal, x_seq, f"array_residual_{k}")
        print(f"| {k} | {r['as drawn']:.4f} | {r['[1, net]']:.4f} | {r['[1, up, down]']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
