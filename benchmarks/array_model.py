"""A mirror-array chip's Monte Carlo in software, measured against ngspice's network-level points.

    .venv/bin/python benchmarks/array_model.py MAP [--chips 200] [--utterances 100] [--seed 0]
        [--packets SWEEP | --readout-gain-sigma S | --readout-mirror-sigma S] [--sweep SWEEP ...]
        [--pfet-sigma S | --pfet-um W L] [--nfet-sigma S] [--trim-negative-gain] [--json OUT]

`codesign.validation.array_model`: each drawn chip's array (every synapse's, column's and
replica's unit pfets, each row's nfet mirror) trimmed at test as a sweep trims it, the units on
the golden model's levels of the currents delivered, each unit's readout with a gain of its own.
The device sigmas are measured first by ngspice on the map's chip (copies of a column diode,
row-mirror pairs, readout-mirror pairs; Monte Carlo chips 1-2, tt 27 C) unless given; instead of
the readout's branches, a gain per unit can come from a packets sweep's Monte Carlo points
(`--packets`: `job = "packets"`, `monte_carlo = ...`) or be given (`--readout-gain-sigma`); given
sigmas, the unit pfet measured at another size (`--pfet-um`) or a third trim per row on its nfet
mirror (`--trim-negative-gain`) answer what-ifs. Prints the drawn chips' figures over the map's
held-out utterances (the array's RMS error near a threshold in I_unit, level agreement, decisions
identical with the software, accuracy, the outputs' RMS error and the readout's share of it):
mean and spread over the chips.

With --sweep (a network-level Monte Carlo sweep's folder on this map, repeatable) the model is
run again on exactly the utterances those points simulated and set beside them, with what the
model takes as exact measured on those points (the units on their rows' delivered levels) and on
the sweep's trimmed chips (the comparators' trip points after their trims). Exit status 0
when, on those utterances, the model's mean level agreement lies within 3 points of ngspice's
and its mean RMS error near a threshold within 25 % of it (1 if not; 0 without --sweep).
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from codesign.fsio import check_entry
from codesign.mapping.reference import software_outputs
from codesign.validation.array_model import ArrayMismatch, drawn_chips, measured_sigma
from codesign.validation.array_trim import map_calibration_inputs
from codesign.validation.cosim import load_checked
from codesign.validation.report import test_sequences

FIGURES = ("rms_error_near_threshold", "level_agreement", "decisions_identical", "accuracy", "output_rmse",
           "readout_rmse")
LEVELS_WITHIN, RMS_WITHIN_REL = 0.03, 0.25


def stored_points(sweep: Path, map_name: str) -> list[dict]:
    """The verified Monte Carlo network points of a sweep folder that ran on a map of this name."""
    rows = []
    for path in sorted(sweep.glob("points/*.json")):
        data, _ = check_entry(path)
        r = json.loads(data) if data else None
        if (r and r["status"] == "done" and r["axes"].get("mc_seed") is not None
                and Path(r["axes"].get("map_dir", "")).name == map_name and "array" in r["figures"]):
            rows.append(r)
    return rows


def readout_sigma(packets: Path) -> tuple[float, int]:
    """The readout gain's sigma over a packets sweep's Monte Carlo chips, and how many."""
    records = [json.loads(d) for d, _ in map(check_entry, packets.glob("points/*.json")) if d]
    gains = [r["figures"].get("readout_gain_rel") for r in records if r["axes"].get("mc_seed") is not None]
    gains = [g for g in gains if g is not None and np.isfinite(g)]
    if len(gains) < 2:
        sys.exit(f"--packets {packets}: fewer than 2 Monte Carlo points with a readout gain")
    return float(np.std(gains, ddof=1)), len(gains)


def readout_gain(args, plan) -> tuple[tuple[float, str], tuple[float, str]]:
    """(gain sigma, where from) and (mirror pair sigma, where from): a gain per unit when one is
    given or read from --packets, else the readout's branches (an integrator's, measured unless
    given; a latch's readout is left ideal)."""
    if args.packets:
        sigma, n = readout_sigma(args.packets)
        return (sigma, f"packets sweep, {n} chips"), (0.0, "")
    if args.readout_gain_sigma is not None:
        return (args.readout_gain_sigma, "given"), (0.0, "")
    if args.readout_mirror_sigma is not None:
        return (0.0, ""), (args.readout_mirror_sigma, "given")
    if plan.chip.kind.name != "integrator":
        return (0.0, ""), (0.0, f"ideal: a {plan.chip.kind.name} chip")
    return (0.0, ""), (measured_sigma(plan, "readout"), "ngspice, chips 1-2")


def table(rows: list[dict], label: str) -> str:
    cells = []
    for k in FIGURES:
        v = np.array([r[k] for r in rows])
        cells.append(f"{v.mean():.4f} ({np.percentile(v, 5):.3f}-{np.percentile(v, 95):.3f})")
    return f"| {label} | {len(rows)} | " + " | ".join(cells) + " |"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--chips", type=int, default=200)
    p.add_argument("--utterances", type=int, default=100, help="held-out utterances 0..N-1 (default 100)")
    p.add_argument("--seed", type=int, default=0, help="the drawn chips' seed (not ngspice's chips)")
    p.add_argument("--packets", type=Path, help="a packets sweep's folder with Monte Carlo points: the readout's sigma")
    p.add_argument("--sweep", type=Path, action="append", default=[],
                   help="a network-level Monte Carlo sweep's folder on this map, to compare with")
    p.add_argument("--pfet-sigma", type=float, help="the unit pfet's relative sigma (default: measured)")
    p.add_argument("--pfet-um", type=float, nargs=2, metavar=("W", "L"),
                   help="measure the unit pfet's sigma at this size instead of the chip's (a what-if)")
    p.add_argument("--nfet-sigma", type=float, help="the row mirror's relative sigma (default: measured)")
    p.add_argument("--readout-gain-sigma", type=float, help="the readout gain's relative sigma (instead of --packets)")
    p.add_argument("--readout-mirror-sigma", type=float,
                   help="a readout diode-and-copy pair's relative sigma (default: measured, unless a gain is given)")
    p.add_argument("--trim-negative-gain", action="store_true",
                   help="a what-if: a third trim DAC per row, on its nfet mirror's ratio (array_model.trimmed)")
    p.add_argument("--json", type=Path, help="write every drawn chip's figures here")
    args = p.parse_args()
    if args.chips < 1 or args.utterances < 1:
        p.error("--chips and --utterances: at least 1")
    if args.pfet_um and args.pfet_sigma is not None:
        p.error("--pfet-sigma or --pfet-um, not both")
    if sum(a is not None for a in (args.packets, args.readout_gain_sigma, args.readout_mirror_sigma)) > 1:
        p.error("one of --packets, --readout-gain-sigma and --readout-mirror-sigma")
    start = time.perf_counter()
    plan = load_checked(args.map_dir)
    c = plan.chip
    sized = dataclasses.replace(c, mirror_w_um=args.pfet_um[0], mirror_l_um=args.pfet_um[1]) if args.pfet_um else c
    sp = args.pfet_sigma if args.pfet_sigma is not None else measured_sigma(plan, "pfet", sized)
    sn = args.nfet_sigma if args.nfet_sigma is not None else measured_sigma(plan, "nfet")
    sr, sm = readout_gain(args, plan)
    model = ArrayMismatch(sp, sn, sr[0], sm[0])
    x, labels = test_sequences(args.map_dir, args.utterances)
    x_cal = map_calibration_inputs(args.map_dir)
    rows = drawn_chips(plan, x, labels, x_cal, model, args.chips, args.seed, "drawn chips", args.trim_negative_gain)
    how = lambda given: " (given)" if given is not None else " (ngspice, chips 1-2)"  # noqa: E731
    at = f" at {args.pfet_um[0]:g}/{args.pfet_um[1]:g} um" if args.pfet_um else ""
    print(f"{args.map_dir}: {args.chips} drawn chips x held-out utterances 0-{args.utterances - 1}; unit pfet{at} "
          f"{sp:.4f}{how(args.pfet_sigma)}, row nfet mirror {sn:.4f}{how(args.nfet_sigma)}"
          + (f", readout gain {sr[0]:.4f} ({sr[1]})" if sr[1] else f", readout mirror pair {sm[0]:.4f} ({sm[1]})")
          + (", each row's nfet mirror trimmed too (what-if)" if args.trim_negative_gain else "")
          + f"; software accuracy {rows[0]['software_accuracy']:.1%}")
    head = ("| chips | count | RMS error near a threshold (I_unit) | level agreement | decisions identical | "
            "accuracy | outputs' RMS error | of it the readout's |\n|---|---|---|---|---|---|---|---|")
    print("mean (5th-95th percentile over the chips)\n" + head + "\n" + table(rows, "model"))
    ok = True
    for sweep in args.sweep:
        points = stored_points(sweep, args.map_dir.resolve().name)
        if not points:
            print(f"{sweep}: no Monte Carlo network point on {args.map_dir.name}")
            continue
        seqs = sorted({r["axes"]["sequence"] for r in points})
        xs, ls = test_sequences(args.map_dir, max(seqs) + 1)
        same = drawn_chips(plan, xs[seqs], ls[seqs], x_cal, model, args.chips, args.seed,
                           negative_gain=args.trim_negative_gain)
        ng = [{"rms_error_near_threshold": r["figures"]["array"]["rms_error_near_threshold"],
               "level_agreement": r["figures"]["delivered_level_agreement"],
               "decisions_identical": r["figures"]["decision_agreement"],
               "accuracy": float(np.argmax(r["figures"]["y_circuit"]) == ls[r["axes"]["sequence"]]),
               "output_rmse": r["figures"]["output_rmse"], "readout_rmse": readout_rmse(plan, r)} for r in points]
        print(f"\n{sweep}: {len(points)} points (chips {sorted({r['axes']['mc_seed'] for r in points})}, "
              f"utterances {seqs}); the model on the same utterances\n" + head + "\n" + table(same, "model")
              + "\n" + table(ng, "ngspice (one utterance per point)"))
        m_lv, n_lv = np.mean([r["level_agreement"] for r in same]), np.mean([r["level_agreement"] for r in ng])
        m_rms, n_rms = (np.mean([r["rms_error_near_threshold"] for r in rows_]) for rows_ in (same, ng))
        fits = abs(m_lv - n_lv) <= LEVELS_WITHIN and abs(m_rms - n_rms) <= RMS_WITHIN_REL * n_rms
        print(f"level agreement {m_lv:.1%} against {n_lv:.1%}, RMS near a threshold {m_rms:.4f} against {n_rms:.4f}: "
              + ("within" if fits else "NOT within") + f" {LEVELS_WITHIN:.0%} and {RMS_WITHIN_REL:.0%}")
        ok &= fits
        print(left_out(sweep, points))
    print(f"{time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"map_dir": str(args.map_dir), "model": vars(model), "chips": rows}, indent=1))
    return 0 if ok else 1


def left_out(sweep: Path, points: list[dict]) -> str:
    """What the model takes as exact, as the sweep measured it: the units on the levels their rows
    delivered (the packets' spread and the comparators' residual offsets together), and those
    residuals alone, the trimmed comparators' trip points on the sweep's chips (in beta)."""
    units = [r["figures"]["units_on_delivered_level_agreement"] for r in points]
    trips = [t for d, _ in map(check_entry, sweep.glob("trims/*.json")) if d
             for u in (json.loads(d).get("comparator_trims") or {}).get("units", [])
             for t in u["trips_after_in_beta"]]
    residual = (f"; the comparators' trip points after their trims ({len(trips) // 2} units): RMS "
                f"{np.sqrt(np.mean(np.square(trips))):.4f} beta, worst {np.max(np.abs(trips)):.4f}" if trips else "")
    return (f"left out by the model, in ngspice: the units on their rows' delivered levels {np.mean(units):.1%} "
            f"(worst point {np.min(units):.1%}){residual}")


def readout_rmse(plan, point: dict) -> float:
    """A ngspice point's outputs against its own units' levels read through an ideal readout."""
    traces = point["figures"]["traces"]
    h = np.array([np.array(t["k_circuit"]) * t["alpha"] for t in traces]).T[None]  # [1, T, d]
    return float(np.sqrt(np.mean((np.array(point["figures"]["y_circuit"]) - software_outputs(plan, h)[0]) ** 2)))


if __name__ == "__main__":
    sys.exit(main())
