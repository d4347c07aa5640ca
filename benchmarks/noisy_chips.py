"""Trained runs on the same software chips drawn from one noise profile: what a profile buys in
robustness, measured in PyTorch (no ngspice), so many chips and whole test sets are cheap.

Chip k draws its mismatch from a generator seeded with k, in the order the network asks for it,
so runs of one architecture meet the same chips. Per run: the test metric on the ideal chip
(weights quantized, nothing random) and over the chips (mean, worst), and how often a chip's
decisions equal the ideal chip's (classes for `ce` tasks, output bits for `bce` ones): per test
sequence, mean over chips and the worst chip; the share of chips with every decision equal.

    .venv/bin/python benchmarks/noisy_chips.py RUN [RUN ...] --profile runs/calibrate_matched/profile.toml \
        --chips 100 [--set z_noise_std=0] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.config import ConfigError, parse_override  # noqa: E402
from codesign.training.noise import Chip, IdealChip, load_noise_profile  # noqa: E402
from codesign.training.trainer import higher_is_better, load_run, loss_and_metric, metric_name  # noqa: E402


def decisions(task, out: torch.Tensor) -> torch.Tensor | None:
    """[B, ...] the decisions of each test sequence, or None where the task has none (mse)."""
    if task.loss == "ce":
        return out.argmax(-1)
    if task.loss == "bce":
        return out > 0
    return None


@torch.no_grad()
def on_chips(run_dir: Path, profile, chips: int) -> dict:
    _, task, model = load_run(run_dir)
    x, y = task.x_test, task.y_test
    ideal_out = model(x, IdealChip(profile))
    ideal = decisions(task, ideal_out)
    metrics, agree = [], []
    for k in range(1, chips + 1):
        out = model(x, Chip(profile, torch.Generator().manual_seed(k)))
        metrics.append(loss_and_metric(task, out, y)[1])
        d = decisions(task, out)
        if d is not None:  # a sequence agrees when every one of its decisions does
            agree.append((d == ideal).reshape(len(x), -1).all(dim=1).float().numpy())
    result = {"run": str(run_dir), "metric": metric_name(task), "ideal": loss_and_metric(task, ideal_out, y)[1],
              "chips": chips, "mean": float(np.mean(metrics)),
              "worst": float(min(metrics) if higher_is_better(task) else max(metrics))}
    if agree:
        a = np.stack(agree)  # [chips, sequences]
        result.update(sequences=len(x), decisions_equal_mean=float(a.mean()), decisions_equal_worst_chip=float(
            a.mean(axis=1).min()), chips_every_decision_equal=float(np.mean(a.all(axis=1))))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders written by codesign train")
    ap.add_argument("--profile", required=True, help="noise profile: a preset name or a TOML file")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a field of the profile, e.g. z_noise_std=0 (ngspice's transients have no noise)")
    ap.add_argument("--chips", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.chips < 1:
        ap.error("--chips: must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        profile = load_noise_profile(args.profile, dict(parse_override(a) for a in args.set))
    except (ConfigError, OSError) as err:
        ap.error(f"--profile / --set: {err}")
    print(f"profile {args.profile}: {profile}", file=sys.stderr)
    rows = []
    for i, run in enumerate(args.runs, 1):
        print(f"[{i}/{len(args.runs)}] {run}", file=sys.stderr, flush=True)
        rows.append(on_chips(run, profile, args.chips))
    print("| run | ideal | chips: mean | worst | sequences with every decision the ideal chip's: mean | worst chip "
          "| chips with every decision equal |\n|---|---|---|---|---|---|---|")
    for r in rows:
        agree = [f"{100 * r[k]:.1f} %" for k in ("decisions_equal_mean", "decisions_equal_worst_chip",
                                                 "chips_every_decision_equal")] if "sequences" in r else ["", "", ""]
        print(f"| {r['run']} | {r['ideal']:.4f} | {r['mean']:.4f} | {r['worst']:.4f} | {' | '.join(agree)} |")
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "profile": str(args.profile),
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
