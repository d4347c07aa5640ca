"""The model-comparison matrix of docs/results.md: tasks x cells x seeds.

Each run is `codesign train training/<task>.toml --set ... --seed S --out
runs/matrix/<task>/<variant>-seed<S>`; finished runs are skipped, interrupted
ones resume, so the script can be stopped and restarted at will. At the end it
prints (and with --markdown writes) mean and spread of the test metric.

    .venv/bin/python benchmarks/train_matrix.py                # everything
    .venv/bin/python benchmarks/train_matrix.py --tasks flipflop --variants cmru lru
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from codesign.training.recipe import load_recipe
from codesign.training.trainer import train

TASKS = ["cue_recall", "flipflop", "adding", "digits"]

# variant -> recipe overrides (the --set arguments of the equivalent command)
VARIANTS = {
    "cmru": ["model.cell=cmru"],
    "alpha_cmru": ["model.cell=alpha_cmru"],
    "bmru": ["model.cell=bmru", "model.levels=1"],
    # CMRU for the first 30 % of the steps, eps 0 -> 1 over the next 40 %, then BMRU.
    "bmru_annealed": ["model.cell=cmru", "eps.kind=linear", "eps.start=0.0", "eps.end=1.0",
                      "eps.per=step", "eps.begin={b}", "eps.length={l}"],
    "lru": ["model.cell=lru"],
    # One LRU layer is linear in x up to its output GELU, so it cannot gate a value
    # by a marker (adding problem); two layers put a nonlinearity before the recurrence.
    "lru_2layer": ["model.cell=lru", "model.layers=2"],
    "mingru": ["model.cell=mingru"],
}


def overrides_for(variant: str, task: str) -> list[str]:
    sets = VARIANTS[variant]
    if variant == "bmru_annealed":
        base = load_recipe(Path("training") / f"{task}.toml")
        n_train = base.task.params["n_train"] if "n_train" in base.task.params else None
        if n_train is None:  # digits: the split decides; ask the task
            from codesign.training.tasks import make_task
            n_train = len(make_task(task, 0, **base.task.params).x_train)
        total = base.train.epochs * math.ceil(n_train / base.train.batch_size)
        sets = [s.format(b=int(0.3 * total), l=int(0.4 * total)) for s in sets]
    return sets


def run(tasks, variants, seeds, root: Path, threads: int) -> dict:
    results = {}
    for task in tasks:
        for variant in variants:
            for seed in seeds:
                sets = overrides_for(variant, task) + [f"train.threads={threads}"]
                out = root / task / f"{variant}-seed{seed}"
                command = (f"codesign train training/{task}.toml " + " ".join(f"--set {s}" for s in sets)
                           + f" --seed {seed} --out {out}")
                recipe = load_recipe(Path("training") / f"{task}.toml", sets, seed)
                info = out / "checkpoint.json"
                same = info.exists() and json.loads(info.read_text())["recipe"] == \
                    json.loads(json.dumps(recipe.to_dict()))
                if same and (out / "metrics.json").exists():
                    metrics = json.loads((out / "metrics.json").read_text())
                else:  # resume the same recipe, start over after a recipe change
                    print(f"[run] {command}", flush=True)
                    metrics = train(recipe, out, restart=not same, progress=False)
                results.setdefault((task, variant), []).append(metrics)
                print(f"  {task:10s} {variant:14s} seed {seed}: "
                      f"{metrics['metric']} = {metrics['test_' + metrics['metric']]:.4f} "
                      f"({metrics['train_seconds']:.0f} s)", flush=True)
    return results


def table(results: dict, tasks, variants) -> str:
    lines = ["| cell | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for variant in variants:
        cells = []
        for task in tasks:
            runs = results.get((task, variant), [])
            if not runs:
                cells.append("")
                continue
            key = "test_" + runs[0]["metric"]
            values = [r[key] for r in runs]
            scale, unit = (100, "%") if runs[0]["metric"] != "mse" else (1, "")
            mean = statistics.mean(values) * scale
            spread = (statistics.stdev(values) * scale) if len(values) > 1 else 0.0
            fmt = ".1f" if unit else ".4f"
            cells.append(f"{mean:{fmt}}{unit} ± {spread:{fmt}} (min {min(values) * scale:{fmt}})")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--root", type=Path, default=Path("runs/matrix"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    results = run(args.tasks, args.variants, args.seeds, args.root, args.threads)
    text = table(results, args.tasks, args.variants)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
