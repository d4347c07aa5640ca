"""`codesign train`: a recipe file in, a run folder out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codesign.config import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a network from a recipe (resumes an interrupted run)",
        description="Train a network from a recipe file (see training/). Re-running the same "
                    "command resumes from the latest checkpoint in the run folder.")
    p.add_argument("recipe", type=Path, help="recipe file (TOML or JSON), e.g. training/flipflop.toml")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<recipe name>-seed<seed>)")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set model.cell=lru (repeatable)")
    p.add_argument("--restart", action="store_true",
                   help="discard a previous run in --out (only the files a run writes)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from codesign.cli import UserError
    from codesign.fsio import FolderLocked
    from codesign.training.recipe import load_recipe
    from codesign.training.tasks import SpeechDataError, SynthesizerError, TaskParamError
    from codesign.training.trainer import RunDamaged, RunMismatch, TrainingDiverged, train

    try:
        recipe = load_recipe(args.recipe, args.set, args.seed)
    except ConfigError as err:
        raise UserError(str(err)) from None
    out = args.out or Path("runs") / f"{recipe.name}-seed{recipe.seed}"
    if out.exists() and not out.is_dir():  # checked before any work (the folder is made only once a run writes)
        raise UserError(f"--out {out}: is a file, not a folder")
    try:
        metrics = train(recipe, out, restart=args.restart, progress=not args.quiet)
    except TaskParamError as err:  # task parameters are checked when the task is built
        raise UserError(f"{args.recipe}: task.params: {err}") from None
    except (FolderLocked, RunMismatch, RunDamaged, SpeechDataError, SynthesizerError, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    except TrainingDiverged as err:
        raise UserError(f"training stopped: {err}") from None
    print(json.dumps(metrics, indent=2))
    print(f"run folder: {out}  (checkpoint.pt, best.pt, log.csv, curves.png, metrics.json)")
    return 0
