"""Sweep engine speed: the same short points on a local Dask cluster of 1 worker
and of 2 workers, in one run, each from an empty sweep folder.

Prints the wall times and their ratio (target: 2 workers at least 1.8x faster
than 1 on a 2-core machine left to the benchmark), and the per-point overhead
outside ngspice: wall time x workers minus the ngspice CPU time, per point
(cluster start, scheduling, the Python side of the bench, hashing and storing
the entry). ngspice's CPU time is that of the worker's child processes.

    .venv/bin/python benchmarks/sweep_speed.py [--points 8]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from codesign.pdk import trimmed_library
from codesign.validation.sweep.engine import run_sweep
from codesign.validation.sweep.plan import load_plan
from codesign.validation.sweep.points import build_tasks

CORNERS = ["tt", "ss", "ff", "sf", "fs"]


def plan_text(points: int) -> str:
    """Level-comparator DC sweeps of a one-level chip: about two seconds of ngspice each."""
    temps = [27 + 10 * k for k in range(-(-points // len(CORNERS)))]
    entries = [f'{{ corner = "{c}", temp_c = {t} }}' for t in temps for c in CORNERS][:points]
    return 'job = "level_trips"\nchip_set = { levels = 1 }\npoints = [\n  ' + ",\n  ".join(entries) + "\n]\n"


def one(tasks, folder: Path, workers: int) -> dict:
    started = time.perf_counter()
    outcome = run_sweep(tasks, folder, workers=workers, quiet=True)
    wall = time.perf_counter() - started
    assert outcome.computed == len(tasks) and all(r["status"] == "done" for r in outcome.records)
    ngspice = sum(r["ngspice_cpu_s"] for r in outcome.records)
    in_worker = sum(r["seconds"] for r in outcome.records)
    return {"wall_s": wall, "ngspice_cpu_s": ngspice, "in_worker_s": in_worker,
            "overhead_per_point_s": (wall * workers - ngspice) / len(tasks)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=8, help="points per sweep (default 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-speed-") as tmp:
        tmp = Path(tmp)
        (tmp / "plan.toml").write_text(plan_text(args.points))
        plan = load_plan(tmp / "plan.toml")
        for corner in {p.corner for p in plan.points}:
            trimmed_library(corner)  # built once, outside the timings
        tasks = build_tasks(plan, timeout_s=600)
        print(f"{len(tasks)} level_trips points, {os.cpu_count()} cores, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        runs = {}
        for workers in (1, 2):
            runs[workers] = r = one(tasks, tmp / f"out{workers}", workers)
            print(f"{workers} worker(s): wall {r['wall_s']:.1f} s, ngspice CPU {r['ngspice_cpu_s']:.1f} s, "
                  f"in the workers {r['in_worker_s']:.1f} s, overhead outside ngspice "
                  f"{r['overhead_per_point_s']:.2f} s per point")
        print(f"speed-up 2 workers / 1 worker: {runs[1]['wall_s'] / runs[2]['wall_s']:.2f}x (target >= 1.8x)")


if __name__ == "__main__":
    main()
