"""What the tolerance cascade decides for departures made at a threshold: a mirror-array chip's
units, staged, solved once with the cascade's first pass and, where they leave the golden model
on their row's delivered current, again with FINEST (the cascade's last run), in one run.

    .venv/bin/python benchmarks/decided_within.py MAP [--sequences 4] [--first 0]
        [--corner tt] [--temp 27] [--workers 2]

For every departure of the first pass: the sequence, unit, first wrong step, the delivered
input's distance from the threshold there (fraction of beta), where FINEST first leaves the
golden model (or that it follows it), and both runs' wall time. `SolverOptions.decided_within`
lets a departure first made within that distance stand from the first pass; the premise is that
FINEST departs there too. Exit status 0 when every first-pass departure within
decided_within is still a departure under FINEST, 1 if FINEST followed the golden model on one.
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from codesign.mru import threshold_distance
from codesign.validation.cosim import DEFAULT, FINEST, current_bench, load_checked, step_end_levels
from codesign.validation.ngspice import Job, run_many
from codesign.validation.report import test_sequences
from codesign.validation.staged import array_input_currents, delivered_levels, delivered_z_beta


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path)
    p.add_argument("--sequences", type=int, default=4)
    p.add_argument("--first", type=int, default=0, help="first test sequence (default 0)")
    p.add_argument("--corner", default="tt")
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    plan = load_checked(args.map_dir)
    x = test_sequences(args.map_dir, args.first + args.sequences)[0][args.first:]
    supply, layer = plan.chip.supply(args.corner, args.temp), plan.layers[0]
    first_pass = dataclasses.replace(DEFAULT, recheck=None)
    i_in = array_input_currents(plan, x, supply, args.workers, progress="ngspice, array")
    k_gold, steps = delivered_levels(plan, i_in), x.shape[1]
    dist = threshold_distance(delivered_z_beta(plan, i_in))
    work = [(n, u) for n in range(len(x)) for u in layer.units]

    def run(options, items, stage):
        jobs = [Job(current_bench(plan, dataclasses.replace(layer, units=(u,)), i_in[n][:, [u.index]], supply,
                                  options, save_outputs=True), f"within_{stage.replace(' ', '_')}_{j}", 3600)
                for j, (n, u) in enumerate(items)]
        results = run_many(jobs, args.workers, progress=f"ngspice, {stage}")
        return results, [step_end_levels(plan, r, (u,), steps)[:, 0] for r, (n, u) in zip(results, items)]

    started = time.monotonic()
    fast, k_fast = run(first_pass, work, "first pass")
    left = [j for j, (n, u) in enumerate(work) if not np.array_equal(k_fast[j], k_gold[n][:, u.index])]
    finest, k_finest = run(FINEST, [work[j] for j in left], "FINEST")
    print(f"{len(work)} unit netlists, {len(left)} left the golden model in the first pass "
          f"({time.monotonic() - started:.0f} s; {args.corner} {args.temp:g} C)")
    print("| sequence | unit | first wrong step | distance from threshold (beta) | FINEST first wrong step "
          "| first pass / FINEST (s) |\n|---|---|---|---|---|---|")
    contradicted = 0
    for j, r, k in zip(left, finest, k_finest):
        n, u = work[j]
        gold = k_gold[n][:, u.index]
        step = int(np.argmax(k_fast[j] != gold))
        near = dist[n][step, u.index]
        follows = np.array_equal(k, gold)
        contradicted += bool(follows and near <= DEFAULT.decided_within)
        where = "follows the golden model" if follows else int(np.argmax(k != gold))
        print(f"| {args.first + n} | {u.name} | {step} | {near:.4f} | {where} | {fast[j].elapsed_s:.1f} / "
              f"{r.elapsed_s:.1f} |")
    print(f"departures within decided_within ({DEFAULT.decided_within:g} beta) that FINEST did not make: "
          f"{contradicted}")
    return 1 if contradicted else 0


if __name__ == "__main__":
    sys.exit(main())
