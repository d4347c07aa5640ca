"""Sweep overhead on real points: the CPU a sweep spends outside ngspice, per point, against
ngspice's own CPU, from a finished (or partly finished) sweep folder and its plan.

    .venv/bin/python benchmarks/sweep_overhead.py PLAN.toml OUT

Outside ngspice are the parent's task building (netlists rendered and hashed for every cache key,
timed here by building the plan's tasks again) and each point's Python side on its worker
(bench, parsing the raw files, figures: `python_cpu_s` in the point's record). CPU times, not wall
times, so the figure does not depend on what else the machine is doing; scheduling waits are not
in it (benchmarks/sweep_speed.py measures those, on short points). Exit status 1 when the overhead
is 10 % of ngspice's CPU or more (the target), 2 when no point of the plan has the figures.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from codesign.validation.sweep.engine import read_record
from codesign.validation.sweep.plan import load_plan
from codesign.validation.sweep.points import build_tasks

TARGET = 0.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan", type=Path)
    parser.add_argument("out", type=Path, help="the sweep folder (codesign sweep --out)")
    args = parser.parse_args()
    plan = load_plan(args.plan)
    cpu0 = time.process_time()
    tasks = build_tasks(plan, timeout_s=600)
    build_s = time.process_time() - cpu0
    records = [r for t in tasks if (r := read_record(args.out, t.key))]
    records = [r for r in records if r["status"] == "done" and "python_cpu_s" in r]
    if not records:
        print(f"no finished point of {args.plan} in {args.out} records python_cpu_s", file=sys.stderr)
        return 2
    ngspice = [r["ngspice_cpu_s"] for r in records]
    python = [r["python_cpu_s"] for r in records]
    per_point_build = build_s / len(tasks)
    overhead = (per_point_build * len(records) + sum(python)) / sum(ngspice)
    print(f"{plan.job}: {len(records)} of {len(tasks)} points with the figures")
    print(f"ngspice CPU per point: median {statistics.median(ngspice):.2f} s (total {sum(ngspice):.1f} s)")
    print(f"worker Python CPU per point: median {statistics.median(python):.3f} s (total {sum(python):.1f} s)")
    print(f"task building in the parent: {build_s:.2f} s CPU for {len(tasks)} points, {per_point_build:.3f} s a point")
    print(f"overhead outside ngspice: {overhead:.1%} of ngspice's CPU (target < {TARGET:.0%}: "
          f"{'met' if overhead < TARGET else 'NOT met'})")
    return 0 if overhead < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
