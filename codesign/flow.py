"""`codesign flow`: train -> map -> validate on the embedded default (or a recipe
and chip spec of yours), one report folder.

The default: a 4-unit CMRU (L = 2 levels per side, the integrator's) trained
on cue recall over T = 100 steps with 6-bit weights (the chip's resolution),
mapped on the default sky130 chip spec, co-simulated in ngspice at the
network level (synapse array, units, readout) on real test sequences.

    <out>/run/          training run folder (checkpoint, curves, metrics)
    <out>/map/          network.spice, units/*.spice, manifest.json, quantization.md
    <out>/validation/   cosim.json, summary.md, trace overlays
    <out>/report.md     the summary page (with the wall time of each stage)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_RECIPE = {
    "name": "flow-cmru-cue",
    "seed": 0,
    "task": {"name": "cue_recall", "params": {"T": 100, "n_classes": 4, "n_train": 1000, "n_val": 200,
                                              "n_test": 200}},
    "model": {"cell": "cmru", "hidden": 4, "levels": 2},
    "noise": {"weight_bits": 6},
    # The threshold margin keeps z at least 10 % of beta away from +-beta, where the
    # circuit's comparator decides as the software does (docs/training.md).
    "train": {"epochs": 60, "batch_size": 50, "lr": 0.01, "threads": 2, "threshold_margin": 0.1},
}


def register(subparsers) -> None:
    p = subparsers.add_parser("flow", help="train -> map -> validate on the embedded default; one report folder",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flow_arguments(p, Path("runs/flow"))
    p.set_defaults(run=run_flow_command)


def add_flow_arguments(p, default_out: Path) -> None:
    from codesign.cli import add_chip_arguments
    from codesign.validation.commands import add_target_arguments

    p.add_argument("--out", type=Path, default=default_out, help=f"report folder (default {default_out})")
    add_chip_arguments(p)
    p.add_argument("--recipe", type=Path, help="training recipe TOML (default: the embedded cue-recall CMRU)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set train.epochs=10 (repeatable)")
    p.add_argument("--sequences", type=int, default=2, help="test sequences to co-simulate (default 2)")
    p.add_argument("--level", choices=["unit", "network", "both"], default="network",
                   help="co-simulation level (default network: also compares every unit's state)")
    p.add_argument("--workers", type=int, default=2, help="ngspice processes in parallel (default 2)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds one ngspice run may take (default 3600)")
    add_target_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def flow_recipe(path: Path | None = None, overrides: list[str] = ()):
    """The recipe file at `path` (else the embedded default), with --set overrides applied."""
    from codesign.training.recipe import apply_override, load_recipe, recipe_from_dict

    if path is not None:
        return load_recipe(path, overrides)
    data = json.loads(json.dumps(DEFAULT_RECIPE))
    for assignment in overrides:
        apply_override(data, assignment)
    return recipe_from_dict(data)


class Stages:
    """Prints each stage as it starts and ends (stderr), and keeps its wall time."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.seconds = quiet, {}

    def run(self, name: str, what: str, func, *args, **kwargs):
        if not self.quiet:
            print(f"[{len(self.seconds) + 1}/3] {name}: {what}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result = func(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - started
        if not self.quiet:
            print(f"[{len(self.seconds)}/3] {name}: done in {self.seconds[name]:.0f} s", file=sys.stderr, flush=True)
        return result


def run_flow(out: Path, chip=None, sequences: int = 2, level: str = "network", workers: int = 2, recipe=None,
             targets=None, timeout_s: float = 3600, quiet: bool = True) -> dict:
    """Train `recipe` (a Recipe; None: the embedded default), map it on `chip` (a ChipSpec; None:
    the default preset), co-simulate; write the report folder."""
    from codesign.chip import load_chip
    from codesign.fsio import atomic_write_text
    from codesign.mapping.write import map_run
    from codesign.training.trainer import train
    from codesign.validation.report import Targets, validate_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chip = chip or load_chip()
    recipe = recipe or flow_recipe()
    stages = Stages(quiet)
    metrics = stages.run("train", f"{recipe.name}, {recipe.train.epochs} epochs", train, recipe, out / "run",
                         restart=True, progress=not quiet)
    mapped = stages.run("map", f"onto chip {chip.name} ({chip.hardware} hardware)", map_run, out / "run", chip,
                        out / "map")
    cosim = stages.run("validate", f"{sequences} test sequences in ngspice, {level} level", validate_map,
                       out / "map", out / "validation", sequences, level, workers=workers,
                       targets=targets or Targets(), timeout_s=timeout_s, progress=not quiet)
    summary = {"train": metrics, "map": mapped, "validate": cosim, "seconds": stages.seconds}
    atomic_write_text(out / "flow.json", json.dumps(summary, indent=1))
    plots = sorted(p.name for p in (out / "validation").glob("*.png"))
    atomic_write_text(out / "report.md", report_page(summary, recipe, plots))
    return summary


def report_page(s: dict, recipe, plots: list[str]) -> str:
    from codesign.validation.report import target_row

    m, v = s["map"], s["validate"]
    lines = [
        f"# codesign flow: {recipe.name}\n",
        f"Task `{recipe.task.name}` {recipe.task.params}, {recipe.model.cell} x {recipe.model.hidden} units, "
        f"L = {recipe.model.levels}. Chip `{m['chip']}` ({m['hardware']} hardware).\n",
        "| stage | result | wall time |", "|---|---|---|",
        f"| train | test {s['train']['metric']} {s['train']['test_' + s['train']['metric']]:.4f} | "
        f"{s['seconds']['train']:.0f} s |",
        f"| map | {m['units']} units; mapped (quantized) software test {m['metric']} "
        f"{m['test_metric_mapped']:.4f} | {s['seconds']['map']:.0f} s |",
    ]
    results = []
    if "unit_level" in v:
        results.append(f"unit-level agreement {v['unit_level_agreement']:.4%}")
    if "network_level" in v:
        n = v["network_level"]
        results.append(f"network: state level agreement {min(n['state_level_agreement']):.4%}, decisions "
                       f"identical {n['decision_agreement']:.0%}, output RMSE {n['output_rmse']:.3g}")
    lines.append(f"| validate ({v['sequences']} sequences x {v['steps']} steps, {v['corner']} {v['temp_c']:g} C) | "
                 f"{'; '.join(results)} | {s['seconds']['validate']:.0f} s |")
    lines += ["", "| target | threshold | value | |", "|---|---|---|---|"]
    lines += [target_row(t) for t in v["targets"]]
    lines += ["", "Files: `run/` (checkpoint, curves.png), `map/` (network.spice, units/, manifest.json, "
              "quantization.md), `validation/` (summary.md, cosim.json, plots).", "",
              "![learning curves](run/curves.png)", ""]
    for name in plots:
        lines.append(f"![{name}](validation/{name})")
    return "\n".join(lines) + "\n"


def run_flow_command(args: argparse.Namespace) -> int:
    from codesign.cli import UserError, chip_from_args, output_folder
    from codesign.fsio import folder_lock
    from codesign.validation.commands import targets_from_args
    from codesign.validation.ngspice import MAX_TIMEOUT_S

    if args.sequences < 1 or args.workers < 1:
        raise UserError("--sequences and --workers must be >= 1")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise UserError(f"--timeout: must be in (0, {MAX_TIMEOUT_S}] seconds")
    chip, targets = chip_from_args(args), targets_from_args(args)
    recipe = flow_recipe(args.recipe, args.set)
    out = output_folder(args.out)
    started = time.perf_counter()
    with folder_lock(out, f"codesign {args.command}"):
        s = run_flow(out, chip, args.sequences, args.level, args.workers, recipe, targets, args.timeout,
                     quiet=args.quiet)
    print((out / "report.md").read_text())
    print(f"report: {(out / 'report.md').resolve()}  ({time.perf_counter() - started:.0f} s in all; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in s["seconds"].items()) + ")")
    if not s["validate"]["targets_met"]:
        failed = [t["name"] for t in s["validate"]["targets"] if not t["passed"]]
        print(f"codesign {args.command}: targets NOT met: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
