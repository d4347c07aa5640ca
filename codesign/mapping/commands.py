"""`codesign map`: a training run folder and a chip spec in, netlists and a manifest out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map", help="map a trained network onto a chip: netlists, manifest.json, quantization report",
        description="Check that a trained network fits a chip spec (eps, levels, ranges, capacitor budget), "
                    "quantize its weights to the chip's resolution, size its cells and write one netlist "
                    "per unit, one for the network, manifest.json and quantization.md.")
    p.add_argument("run_dir", type=Path, help="training run folder (from codesign train)")
    p.add_argument("--chip", type=Path, help="chip spec TOML (default: chips/sky130_subthreshold.toml, embedded)")
    p.add_argument("--out", type=Path, help="output folder (default: <run_dir>/map)")
    p.set_defaults(run=run_map)


def map_run(run_dir: Path, chip, out: Path) -> dict:
    """Load, check, plan, write; returns a summary (also written as map_summary.json)."""
    from codesign.mapping.mapper import plan_network, software_outputs, software_states, task_metric, write_map
    from codesign.training.trainer import evaluate, load_run, metric_name
    from codesign.training.noise import IdealChip, NoiseProfile

    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, chip)
    _, float_metric = evaluate(model, task, task.x_test, task.y_test, lambda: IdealChip(NoiseProfile()))
    _, hs = software_states(plan, task.x_test.double().numpy())
    mapped_metric = task_metric(plan.loss, software_outputs(plan, hs[-1]), task.y_test.numpy())
    summary = {"run_dir": str(run_dir), "chip": chip.name, "hardware": chip.hardware,
               "units": len(plan.units), "metric": metric_name(task),
               "test_metric_float": float_metric, "test_metric_mapped": mapped_metric,
               "quantization_max_error_in_steps": max((q.get("max_error_in_steps", 0.0)
                                                       for q in plan.quantization.values()), default=0.0)}
    write_map(plan, out, {"summary": "map_summary.json"}, recipe.to_dict())
    (out / "map_summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def run_map(args: argparse.Namespace) -> int:
    from codesign.chip import load_chip
    from codesign.cli import UserError
    from codesign.config import ConfigError
    from codesign.mapping.mapper import DoesNotFit

    try:
        chip = load_chip(args.chip)
    except ConfigError as err:
        raise UserError(str(err)) from None
    out = args.out or args.run_dir / "map"
    try:
        summary = map_run(args.run_dir, chip, out)
    except (DoesNotFit, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    print(json.dumps(summary, indent=1))
    print(f"map folder: {out}  (network.spice, units/*.spice, manifest.json, quantization.md)")
    return 0
