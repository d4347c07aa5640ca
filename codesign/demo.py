"""`codesign demo`: the main job on its embedded default.

Until the mapper and co-simulation land, the main job is a small end-to-end
training: a CMRU network on the 3-bit flip-flop, a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_RECIPE = {
    "name": "demo-cmru-flipflop",
    "seed": 0,
    "task": {"name": "flipflop", "params": {"k": 3, "T": 100, "n_train": 800, "n_val": 200, "n_test": 200}},
    "model": {"cell": "cmru", "hidden": 8, "levels": 2},
    "train": {"epochs": 15, "batch_size": 32, "lr": 0.01, "threads": 2},
}


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the main job on its embedded default",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report folder (default runs/demo)")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from codesign.training.recipe import recipe_from_dict
    from codesign.training.trainer import train

    recipe = recipe_from_dict(DEFAULT_RECIPE)
    metrics = train(recipe, args.out, restart=True)
    print(json.dumps(metrics, indent=2))
    print(f"\nresults: {args.out.resolve()}  (metrics.json, curves.png, log.csv, best.pt)")
    return 0
