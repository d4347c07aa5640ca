"""The mirror synapse array on Monte Carlo chips: each row's input current against the contract.

    .venv/bin/python benchmarks/array_mismatch.py MAP [--chips 20] [--first-chip 1] [--sequence 0]
        [--corner tt] [--temp 27] [--workers 2] [--trim] [--json OUT]

Stage 1 of the staged co-simulation (`codesign.validation.staged`) alone: the whole array of
layer 0, loaded by one comparator per row, at one DC operating point per frame of a held-out
test sequence, on the plain corner and on Monte Carlo chips first-chip.. (device mismatch
drawn by ngspice over the model bins in use). The errors are in units of I_unit, i.e. of beta
of z; "near a threshold": frames where the contract puts |z| / beta in [0.5, 1.5], where an
error moves a decision. Prints each chip's max and RMS error there and their spread over the
chips. With --trim each chip is first trimmed at test (`codesign.validation.array_trim`: two
DACs per row set from the chip's currents on calibration vectors drawn from the training set,
at 27 C and the nominal supply) and measured both ways. Exit status 0 when every chip's RMS
error near a threshold (trimmed, with --trim) stays below 0.05 I_unit (the comparator's own
spread on the sky130_matched chip is 0.104 beta), 1 if not.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from codesign.validation.array_trim import map_calibration_inputs, supply_at_test, trim_array
from codesign.validation.cosim import load_checked
from codesign.validation.ngspice import Job, parallel_map, run_many
from codesign.validation.report import test_sequences
from codesign.validation.synapses import against_contract, array_bench, currents_from_dc

TARGET_RMS_NEAR_THRESHOLD = 0.05


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--chips", type=int, default=20)
    p.add_argument("--first-chip", type=int, default=1)
    p.add_argument("--sequence", type=int, default=0, help="held-out test sequence (default 0)")
    p.add_argument("--corner", default="tt")
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--trim", action="store_true", help="also trim each chip's rows at test and measure it trimmed")
    p.add_argument("--json", type=Path, help="write the per-chip figures here")
    args = p.parse_args()
    if args.chips < 0 or args.first_chip < 1:
        p.error("--chips: at least 0; --first-chip: at least 1")
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.sequence + 1)[0][args.sequence:args.sequence + 1]
    plain = plan.chip.supply(args.corner, args.temp)
    chips = [None] + list(range(args.first_chip, args.first_chip + args.chips))
    supplies = [plain if k is None else dataclasses.replace(plain, mc_seed=k) for k in chips]
    start = time.perf_counter()
    trims = [None] * len(chips)
    if args.trim:  # each chip trimmed at 27 C and the nominal supply, as at test
        x_cal = map_calibration_inputs(args.map_dir)
        trims = parallel_map(lambda k: trim_array(plan, x_cal, supply_at_test(plan.chip, args.corner, k)), chips,
                             args.workers)
    jobs = [Job(array_bench(plan, x[0], s), f"array_chip_{k or 0}", 3600) for k, s in zip(chips, supplies)]
    jobs += [Job(array_bench(plan, x[0], s, trims=t.trims), f"array_trimmed_{k or 0}", 3600)
             for k, s, t in zip(chips, supplies, trims) if t is not None]
    results = run_many(jobs, args.workers, progress="ngspice, array per chip")
    rows = []
    for i, (k, res) in enumerate(zip(chips, results)):
        rows.append({"mc_seed": k, **figures(plan, x[0], res)})
        if trims[i] is not None:
            rows[-1]["trimmed"] = {**figures(plan, x[0], results[len(chips) + i]), **trims[i].summary()}
    print(f"{args.map_dir}, sequence {args.sequence} ({x.shape[1]} frames), {args.corner} {args.temp:g} C, "
          f"{time.perf_counter() - start:.0f} s on {args.workers} workers; "
          "errors in units of I_unit (= beta of z)")
    trimmed = args.trim
    print("| chip | max error | RMS error | max near a threshold | RMS near a threshold |"
          + (" trimmed: max near a threshold | RMS near a threshold | calibration RMS per round |" if trimmed else "")
          + "\n|---|---|---|---|---|" + ("---|---|---|" if trimmed else ""))
    for r in rows:
        t = r.get("trimmed")
        print(f"| {'plain corner' if r['mc_seed'] is None else r['mc_seed']} | {r['max_abs_error']:.4f} | "
              f"{r['rms_error']:.4f} | {r['max_abs_error_near_threshold']:.4f} | {r['rms_error_near_threshold']:.4f} |"
              + (f" {t['max_abs_error_near_threshold']:.4f} | {t['rms_error_near_threshold']:.4f} | "
                 f"{' -> '.join(f'{v:.4f}' for v in t['calibration_rms_error_i_unit'])} |" if t else ""))
    judged = [(r["trimmed"] if trimmed else r)["rms_error_near_threshold"] for r in rows if r["mc_seed"] is not None]
    for name, key in [("as mapped", None), ("trimmed", "trimmed")] if trimmed else [("as mapped", None)]:
        mc = [(r[key] if key else r)["rms_error_near_threshold"] for r in rows if r["mc_seed"] is not None]
        if mc:
            print(f"over {len(mc)} chips, {name}, RMS error near a threshold: median {np.median(mc):.4f}, "
                  f"min {min(mc):.4f}, max {max(mc):.4f} (target below {TARGET_RMS_NEAR_THRESHOLD})")
    if args.json:
        args.json.write_text(json.dumps({"map_dir": str(args.map_dir), "sequence": args.sequence,
                                         "corner": args.corner, "temp_c": args.temp, "chips": rows}, indent=1))
    return 0 if all(v < TARGET_RMS_NEAR_THRESHOLD for v in judged) else 1


def figures(plan, x, res) -> dict:
    """The array's errors against the contract from one DC run over the frames x [T, n_in]."""
    s = against_contract(plan, x, currents_from_dc(plan, res, len(x))).summary()
    return {key: s[key] for key in ("max_abs_error", "rms_error", "near_threshold_points",
                                    "max_abs_error_near_threshold", "rms_error_near_threshold")}


if __name__ == "__main__":
    sys.exit(main())
