"""`codesign sweep PLAN.toml --out DIR`: run a validation plan (plan.py) on Dask.

Exit status 0 when every point finished and met its targets, 1 when one
failed or missed a target, 2 on bad input (plan, options, map folders).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from codesign.validation.ngspice import MAX_TIMEOUT_S

MAX_WORKERS = 512


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="run a validation plan (corners x temperatures x supplies x sequences) on Dask",
        description="Run every point of a validation plan (validation/README.md) on a Dask cluster, each "
                    "point cached in OUT/points so a sweep stopped half way resumes where it stopped; write "
                    "OUT/results.json and OUT/summary.md. Exit status 0 when every point finished and met "
                    "its targets, 1 otherwise, 2 on bad input.")
    p.add_argument("plan", type=Path, metavar="PLAN", help="the plan file (TOML)")
    p.add_argument("--out", type=Path, help="sweep folder (default runs/sweep/<plan name>)")
    p.add_argument("--workers", type=int,
                   help="worker processes of the local Dask cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="submit to this running Dask scheduler instead of starting a local cluster")
    p.add_argument("--retry-failed", action="store_true", help="run the points stored as failed again")
    p.add_argument("--timeout", type=float,
                   help="seconds one ngspice run may take (default: the plan's timeout_s, else 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run)
    from codesign.validation import calibrate  # `codesign calibrate` runs on this engine

    calibrate.register(subparsers)


def check_arguments(args: argparse.Namespace) -> None:
    from codesign.cli import UserError

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UserError(f"--workers {args.workers}: must be in [1, {MAX_WORKERS}]")
    if args.workers is not None and args.scheduler:
        raise UserError("--workers: the cluster at --scheduler has its own workers; give one of the two")
    if args.scheduler is not None and "://" not in args.scheduler:
        raise UserError(f"--scheduler {args.scheduler}: expected an address like tcp://HOST:PORT")
    if args.timeout is not None and not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise UserError(f"--timeout {args.timeout:g}: must be in (0, {MAX_TIMEOUT_S}] seconds")
    if not args.plan.is_file():
        raise UserError(f"{args.plan}: no such plan file")


def run(args: argparse.Namespace) -> int:
    from codesign.cli import UserError, output_folder
    from codesign.fsio import folder_lock
    from codesign.validation.sweep.engine import SchedulerUnreachable, run_sweep
    from codesign.validation.sweep.plan import load_plan
    from codesign.validation.sweep.points import build_tasks
    from codesign.validation.sweep.report import write_report

    check_arguments(args)
    plan = load_plan(args.plan)  # ConfigError: exit 2, naming the key
    try:
        tasks = build_tasks(plan, args.timeout or plan.settings.timeout_s)
    except (FileNotFoundError, ValueError) as err:  # a map folder's netlists edited, too few test sequences
        raise UserError(f"{args.plan}: {err}") from None
    out = output_folder(args.out or Path("runs/sweep") / args.plan.stem)
    command = shlex.join(getattr(sys, "orig_argv", sys.argv))
    try:
        with folder_lock(out, "codesign sweep"):
            outcome = run_sweep(tasks, out, args.workers, args.scheduler, args.retry_failed, args.quiet)
            result = write_report(out, plan, outcome, command)
    except SchedulerUnreachable as err:
        raise UserError(str(err)) from None
    n = result["counts"]
    print(f"sweep {out}: {n['points']} points, met {n['met']}, not met {n['not_met']}, failed {n['failed']} "
          f"(computed {n['computed']}, from the cache {n['from_cache']}); see {out / 'summary.md'}")
    return 0 if result["all_met"] else 1
