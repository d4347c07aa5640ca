"""The first pass alone against the tolerance cascade, on the points of a finished sweep.

    .venv/bin/python benchmarks/first_pass.py SWEEP_OUT [--points 3] [--workers 2] [--no-bypass]

SWEEP_OUT is the out folder of a staged `network_cosim` sweep solved with the cascade (the
default `solver`). Each of its first --points done points is co-simulated again, the same map,
corner, temperature, supply, Monte Carlo chip and row trims (read from the point's record), with
the first pass alone (`codesign.validation.cosim.FIRST_PASS`, what `solver = "first_pass"` runs;
--no-bypass: the same without device bypass), and compared unit by unit with the cascade's
levels: how many unit netlists land on the same level at every step, where each that does not
first leaves the golden model on its delivered current (and how far from a threshold that step
was), the decision, and the time against the point's recorded time. Exit status 0 when every
decision is the cascade's, 1 if one differs.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from codesign.mru import threshold_distance
from codesign.validation.array_trim import TrimResult
from codesign.validation.comparator_trim import ComparatorTrim
from codesign.validation.cosim import FIRST_PASS, load_checked
from codesign.validation.report import test_sequences
from codesign.validation.staged import cosim_network_staged, delivered_levels, delivered_z_beta
from codesign.validation.sweep.plan import Point
from codesign.validation.sweep.points import point_supply


def done_points(out: Path, limit: int) -> list[dict]:
    """The sweep's done cascade points, in their sequence order, at most `limit`."""
    records = [json.loads(p.read_text()) for p in sorted((out / "points").glob("*.json"))]
    records = [r for r in records if r["status"] == "done" and r["figures"].get("solver", "cascade") == "cascade"
               and r["figures"].get("mirror_array") == "staged"]
    if not records:
        sys.exit(f"{out}: no done staged network_cosim point solved with the cascade in {out / 'points'}")
    records.sort(key=lambda r: (r["axes"]["sequence"], r["axes"]["corner"], r["axes"]["temp_c"]))
    return records[:limit]


def replay(record: dict, options, workers: int) -> dict:
    """One point with `options`, compared with its record."""
    a, figures = record["axes"], record["figures"]
    plan = load_checked(a["map_dir"])
    n = a["sequence"]
    x = test_sequences(a["map_dir"], n + 1)[0][n:n + 1]
    supply = point_supply(Point(**a), plan.chip)  # as the sweep ran it
    trims = TrimResult.from_summary(figures["trims"]).trims if "trims" in figures else None
    if "comparator_trims" in figures:
        plan = ComparatorTrim.from_summary(figures["comparator_trims"]).apply(plan)
    start = time.perf_counter()
    c = cosim_network_staged(plan, x, supply, workers=workers, options=options, trims=trims)
    seconds = time.perf_counter() - start
    k_first = c.layers[0].k_circuit[0]
    k_golden = delivered_levels(plan, c.row_currents_a)[0]
    distance = threshold_distance(delivered_z_beta(plan, c.row_currents_a))[0]
    units = []
    for j, trace in enumerate(figures["traces"]):
        same = bool((k_first[:, j] == np.array(trace["k_circuit"])).all())
        off = np.flatnonzero(k_first[:, j] != k_golden[:, j])
        units.append({"unit": trace["unit"], "same_as_cascade": same,
                      "first_pass_leaves_golden_at": int(off[0]) if len(off) else None,
                      "distance_there": float(distance[off[0], j]) if len(off) else None})
    return {"axes": a, "units": units, "same_units": sum(u["same_as_cascade"] for u in units),
            "decision_first_pass": int(np.argmax(c.y_circuit[0])),
            "decision_cascade": int(np.argmax(figures["y_circuit"])),
            "seconds_first_pass": seconds, "seconds_cascade": record["seconds"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_out", type=Path)
    p.add_argument("--points", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-bypass", action="store_true", help="the first pass without device bypass")
    args = p.parse_args()
    options = dataclasses.replace(FIRST_PASS, bypass=not args.no_bypass)
    records = done_points(args.sweep_out, args.points)
    print(f"{args.sweep_out}: {len(records)} points, first pass {options.describe()}")
    print("| point | utterance | chip | unit netlists on the cascade's levels | the others: first step off the golden "
          "model (distance from a threshold, beta) | decision: first pass / cascade | time: first pass / cascade |")
    print("|---|---|---|---|---|---|---|")
    differ = 0
    for i, record in enumerate(records):
        print(f"[{i + 1}/{len(records)}] {record['axes']}", file=sys.stderr, flush=True)
        r = replay(record, options, args.workers)
        a, others = r["axes"], [u for u in r["units"] if not u["same_as_cascade"]]
        where = ", ".join(f"{u['unit']}: " + ("none" if u["first_pass_leaves_golden_at"] is None else
                                            f"step {u['first_pass_leaves_golden_at']} ({u['distance_there']:.3f})")
                          for u in others) or "-"
        differ += r["decision_first_pass"] != r["decision_cascade"]
        chip = f"{a.get('mc_seed') or 'plain'}{', trimmed' if 'trims' in record['figures'] else ''}"
        print(f"| {a['corner']} {a['temp_c']:g} C {a['vdd_v']:g} V | {a['sequence']} | {chip} | "
              f"{r['same_units']} of {len(r['units'])} | {where} | "
              f"{r['decision_first_pass']} / {r['decision_cascade']} | {r['seconds_first_pass']:.0f} / "
              f"{r['seconds_cascade']:.0f} s |", flush=True)
    print(f"decisions differing from the cascade's: {differ} of {len(records)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
