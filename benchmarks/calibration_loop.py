"""The calibration loop: train the default network (codesign flow's cue-recall CMRU; `--recipe`
and `--set` for another, e.g. a harder task) without and with a calibrated noise profile (from
`codesign calibrate`), map both onto the default chip,
and co-simulate both at network level on the same Monte Carlo chips x test sequences
(`--chip`: another chip spec, e.g. sky130_matched with its larger comparators; the profile should
be the one `codesign calibrate` measured on that chip).

Every stage resumes: training resumes its run folder, mapping is repeated (milliseconds), and
the co-simulation is one `codesign sweep` plan (network_cosim, both map folders, monte_carlo)
whose points are cached in OUT/sweep; then the same networks and sequences on the plain corner
(no mismatch) as a control, cached in OUT/control. Writes OUT/summary.md and OUT/summary.json: per network,
the task metric of software and circuit on the co-simulated sequences, the share of (chip, sequence)
points and of chips (every sequence) whose decisions equal the software's, the mean and the worst
chip's level agreement, and the mean worst-unit level agreement.

Chip k of the two networks is the same seed, not the same devices: a seed names a chip of one
netlist (docs/circuits.md, "Monte Carlo chips"), so the two networks see different draws from
the same distribution.

    .venv/bin/python benchmarks/calibration_loop.py --profile runs/calibrate/profile.toml \
        --out runs/calibration_loop --chips 20 --sequences 2 --workers 1
    .venv/bin/python benchmarks/calibration_loop.py --profile ... --recipe training/flipflop.toml \
        --set model.hidden=8 --set model.levels=2 --out runs/calibration_loop_flipflop ...
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def recipes(profile: Path, folder: Path, epochs: int | None, recipe: Path | None = None,
            overrides: list[str] = ()) -> dict:
    """The recipe (the flow's default, or the file `recipe` with --set `overrides`) as trained
    without ("nominal": 6-bit weights only) and with ("calibrated") the profile; both keep the
    recipe's threshold margin, or take the flow's 0.1 where it has none."""
    from codesign.config import read_file
    from codesign.flow import DEFAULT_RECIPE
    from codesign.training.recipe import apply_override, recipe_from_dict

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(profile, folder / "profile.toml")  # a recipe's profile lies inside its folder
    base = read_file(recipe) if recipe is not None else json.loads(json.dumps(DEFAULT_RECIPE))
    for assignment in overrides:
        apply_override(base, assignment)
    base.setdefault("train", {}).setdefault("threshold_margin", DEFAULT_RECIPE["train"]["threshold_margin"])
    out = {}
    for name, noise in (("nominal", DEFAULT_RECIPE["noise"]), ("calibrated", {"profile": "profile.toml"})):
        data = json.loads(json.dumps(base))
        data.update(name=f"loop-{name}", noise=noise)
        if epochs:
            data["train"]["epochs"] = epochs
        out[name] = recipe_from_dict(data, folder)
    return out


TARGET_LEVEL_AGREEMENT = 0.99  # the calibrated network's mean over the chips


def software_text(metrics: dict) -> str:
    """The trained network's test figures for a table cell: its metric, and the share of test
    unit-steps within 0.1 beta of a threshold."""
    parts = [f"{k.removeprefix('test_')} {v:.3f}" for k, v in metrics.items() if isinstance(v, float)]
    near = metrics.get("test_near_threshold", {}).get("0.1")
    return "; ".join(parts + ([] if near is None else [f"{100 * near:.2f} % of unit-steps within 0.1 beta"]))


def network_summary(map_dir: Path, rows: list[dict]) -> dict:
    """One network's Monte Carlo points: decisions and levels against the software, per point and
    per chip (a chip's figures over its sequences), and the task metric of both on these sequences."""
    from codesign.mapping.reference import task_metric
    from codesign.validation.cosim import load_checked
    from codesign.validation.report import test_sequences

    done = [r for r in rows if r["status"] != "failed"]
    out = {"points": len(rows), "failed": len(rows) - len(done)}
    if not done:
        return {**out, **dict.fromkeys(("decision_identical", "chips_identical", "mean_level_agreement",
                                        "worst_chip_level_agreement", "mean_worst_level_agreement",
                                        "software_metric", "circuit_metric"))}
    loss = load_checked(map_dir).loss
    targets = test_sequences(map_dir, 1 + max(r["sequence"] for r in done))[1]
    level = {id(r): float(np.mean([u["level_agreement"] for u in r["figures"]["units"]])) for r in done}
    chips = {}
    for r in done:
        chips.setdefault(r["mc_seed"], []).append(r)
    target = targets[[r["sequence"] for r in done]]
    return {**out,
            "decision_identical": float(np.mean([r["figures"]["decision_agreement"] == 1 for r in done])),
            "chips_identical": float(np.mean([all(r["figures"]["decision_agreement"] == 1 for r in c)
                                              for c in chips.values()])),
            "mean_level_agreement": float(np.mean(list(level.values()))),
            "worst_chip_level_agreement": min(float(np.mean([level[id(r)] for r in c])) for c in chips.values()),
            "mean_worst_level_agreement": float(np.mean([r["figures"]["worst_level_agreement"] for r in done])),
            "software_metric": task_metric(loss, np.array([r["figures"]["y_software"] for r in done]), target),
            "circuit_metric": task_metric(loss, np.array([r["figures"]["y_circuit"] for r in done]), target)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", type=Path, required=True, help="noise profile written by codesign calibrate")
    ap.add_argument("--out", type=Path, default=Path("runs/calibration_loop"))
    ap.add_argument("--chips", type=int, default=100, help="Monte Carlo chips (seeds 1..N)")
    ap.add_argument("--sequences", type=int, default=10, help="test sequences per chip")
    ap.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--chip", help="chip spec to map onto: a preset name or a TOML file (default: the default chip)")
    ap.add_argument("--recipe", type=Path, help="training recipe TOML (default: codesign flow's cue-recall CMRU)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a recipe key, e.g. --set model.hidden=8 (repeatable)")
    args = ap.parse_args()

    from codesign.chip import load_chip
    from codesign.mapping.write import map_run
    from codesign.training.trainer import train

    out = args.out.resolve()
    chip = load_chip(args.chip)
    test = {}
    for name, recipe in recipes(args.profile, out / "recipes", args.epochs, args.recipe, args.set).items():
        print(f"train {name} ({recipe.noise})", file=sys.stderr)
        test[name] = train(recipe, out / name / "run", progress=False)
        map_run(out / name / "run", chip, out / name / "map")
    plan = out / "loop.toml"
    plan.write_text('job = "network_cosim"\nmap_dirs = ["nominal/map", "calibrated/map"]\n'
                    f"sequences = {args.sequences}\nmonte_carlo = {{ samples = {args.chips}, seed = 1 }}\n")
    sweep = subprocess.run([sys.executable, "-m", "codesign", "sweep", str(plan), "--out", str(out / "sweep"),
                            "--workers", str(args.workers)], cwd=ROOT)
    if sweep.returncode not in (0, 1):  # 1: points that missed their own targets; anything else stops here
        return sweep.returncode
    rows = json.loads((out / "sweep" / "results.json").read_text())["rows"]
    # the control: the same networks and sequences on the plain corner (no mismatch), in the same cache
    control = out / "control.toml"
    control.write_text('job = "network_cosim"\nmap_dirs = ["nominal/map", "calibrated/map"]\n'
                       f"sequences = {args.sequences}\n")
    subprocess.run([sys.executable, "-m", "codesign", "sweep", str(control), "--out", str(out / "control"),
                    "--workers", str(args.workers)], cwd=ROOT)
    plain = json.loads((out / "control" / "results.json").read_text())["rows"]
    summary = {"command": " ".join(sys.argv), "chips": args.chips, "sequences": args.sequences, "networks": {}}
    md = ["# Calibration loop\n", f"Command: `{' '.join(sys.argv)}`\n",
          f"{args.chips} Monte Carlo chips x {args.sequences} test sequences per network, network level, "
          f"tt {chip.temp_c:g} C, chip {chip.name}.\n",
          "| network | software test metric (whole test set) | points (failed) | task metric: software / circuit, "
          "these sequences | decision identical: points / chips on every sequence | level agreement: mean / "
          "worst chip | mean worst-unit level agreement | plain tt: decision identical, worst level agreement |",
          "|---|---|---|---|---|---|---|---|"]
    for name in test:
        s = network_summary(out / name / "map", [r for r in rows if Path(r["map_dir"]).parent.name == name])
        s["software"] = {k: v for k, v in test[name].items() if k.startswith("test")}
        ref = [r["figures"] for r in plain if Path(r["map_dir"]).parent.name == name and r["status"] != "failed"]
        s["plain_corner"] = [(f["decision_agreement"], f["worst_level_agreement"]) for f in ref]
        summary["networks"][name] = s
        fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
        md.append(f"| {name} | {software_text(s['software'])} | {s['points']} ({s['failed']}) | "
                  f"{fmt(s['software_metric'])} / {fmt(s['circuit_metric'])} | "
                  f"{fmt(s['decision_identical'])} / {fmt(s['chips_identical'])} | "
                  f"{fmt(s['mean_level_agreement'])} / {fmt(s['worst_chip_level_agreement'])} | "
                  f"{fmt(s['mean_worst_level_agreement'])} | "
                  + "; ".join(f"{d:.0f}, {w:.2f}" for d, w in s["plain_corner"]) + " |")
    nets = summary["networks"]
    level = {name: nets.get(name, {}).get("mean_level_agreement") for name in ("nominal", "calibrated")}
    failed = sum(n["failed"] for n in nets.values())
    met = (failed == 0 and None not in level.values() and level["calibrated"] >= TARGET_LEVEL_AGREEMENT
           and level["calibrated"] > level["nominal"])
    summary["target"] = {"calibrated_mean_level_agreement_min": TARGET_LEVEL_AGREEMENT, "met": met}
    md.append(f"\nTarget: the calibrated network's mean level agreement >= {TARGET_LEVEL_AGREEMENT:.0%} and above the "
              f"nominal one's, no point failed: {'met' if met else 'not met'}.")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
