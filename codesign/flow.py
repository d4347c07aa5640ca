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
    p.add_argument("--out", type=Path, default=default_out, help=f"report folder (default {default_out})")
    p.add_argument("--chip", type=Path, help="chip spec TOML (default: the embedded sky130 subthreshold spec)")
    p.add_argument("--recipe", type=Path, help="training recipe TOML (default: the embedded cue-recall CMRU)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set train.epochs=10 (repeatable)")
    p.add_argument("--sequences", type=int, default=2, help="test sequences to co-simulate (default 2)")
    p.add_argument("--level", choices=["unit", "network", "both"], default="network",
                   help="co-simulation level (default network: also compares every unit's state)")
    p.add_argument("--workers", type=int, default=2, help="ngspice processes in parallel (default 2)")


def flow_recipe(path: Path | None = None, overrides: list[str] = ()):
    """The recipe file at `path` (else the embedded default), with --set overrides applied."""
    from codesign.training.recipe import apply_override, load_recipe, recipe_from_dict

    if path is not None:
        return load_recipe(path, overrides)
    data = json.loads(json.dumps(DEFAULT_RECIPE))
    for assignment in overrides:
        apply_override(data, assignment)
    return recipe_from_dict(data)


def run_flow(out: Path, chip_path: Path | None = None, sequences: int = 2, level: str = "network",
             workers: int = 2, recipe=None) -> dict:
    """Train `recipe` (a Recipe; None: the embedded default), map it on the chip, co-simulate."""
    from codesign.chip import load_chip
    from codesign.mapping.commands import map_run
    from codesign.training.trainer import train
    from codesign.validation.cosim import validate_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chip = load_chip(chip_path)
    recipe = recipe or flow_recipe()
    seconds = {}
    started = time.perf_counter()
    metrics = train(recipe, out / "run", restart=True, progress=False)
    seconds["train"] = time.perf_counter() - started
    started = time.perf_counter()
    mapped = map_run(out / "run", chip, out / "map")
    seconds["map"] = time.perf_counter() - started
    started = time.perf_counter()
    cosim = validate_map(out / "map", out / "validation", sequences, level, workers=workers)
    seconds["validate"] = time.perf_counter() - started
    summary = {"train": metrics, "map": mapped, "validate": cosim, "seconds": seconds}
    (out / "flow.json").write_text(json.dumps(summary, indent=1))
    plots = sorted(p.name for p in (out / "validation").glob("*.png"))
    (out / "report.md").write_text(report_page(summary, recipe, plots))
    return summary


def report_page(s: dict, recipe, plots: list[str]) -> str:
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
    lines += ["", "Files: `run/` (checkpoint, curves.png), `map/` (network.spice, units/, manifest.json, "
              "quantization.md), `validation/` (summary.md, cosim.json, plots).", "",
              "![learning curves](run/curves.png)", ""]
    for name in plots:
        lines.append(f"![{name}](validation/{name})")
    return "\n".join(lines) + "\n"


def run_flow_command(args: argparse.Namespace) -> int:
    from codesign.cli import UserError
    from codesign.config import ConfigError
    from codesign.mapping.mapper import DoesNotFit

    if args.sequences < 1 or args.workers < 1:
        raise UserError("--sequences and --workers must be >= 1")
    started = time.perf_counter()
    try:
        recipe = flow_recipe(args.recipe, args.set)
        s = run_flow(args.out, args.chip, args.sequences, args.level, args.workers, recipe)
    except (ConfigError, DoesNotFit) as err:
        raise UserError(str(err)) from None
    print((args.out / "report.md").read_text())
    print(f"report: {(args.out / 'report.md').resolve()}  ({time.perf_counter() - started:.0f} s in all; "
          f"train {s['seconds']['train']:.0f} s, map {s['seconds']['map']:.0f} s, "
          f"validate {s['seconds']['validate']:.0f} s)")
    return 0
