"""Does a fourth synthesizer in training lift the accuracy on the one held out? The festival
held-out task of `training/kws_multi_heldout.toml` (espeak-ng and flite in training, festival
tested), trained as it is and with SAM clips added to its training split only.

Per seed S: the task's clips are generated (or found in the cache) as `codesign train` would;
OUT/data-S is a Speech Commands folder with a link to every clip of that split and, in each
class but `_silence_`, --per-class SAM clips rendered with the generator's augmentation
(benchmarks/kws_outside_voice.py, `augmented=True`; speakers: SAM's six presets). Its list
files are the split's, so validation (training synthesizers) and test (festival) are unchanged.
Each cell is trained on both, 100 epochs, with the MRU cells' hardware settings (6-bit
weights, margin 0.1) as in docs/results.md "Keyword spotting":

    .venv/bin/python benchmarks/kws_added_voice.py [--cells cmru mingru] [--seeds 0 1 2] \
        [--per-class 300] [--out runs/kws_added]

Runs already in OUT (a metrics.json) are not trained again. Prints the test and validation
accuracy of each run and the mean gain per cell; writes OUT/added_voice.json. Exit status 0
when every run finished.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kws_outside_voice import draw_jobs, write_clips  # noqa: E402

from codesign.fsio import atomic_write_json, atomic_write_text  # noqa: E402
from codesign.training.recipe import load_recipe, recipe_from_dict  # noqa: E402
from codesign.training.tasks import kws_multi, make_task  # noqa: E402
from codesign.training.trainer import train  # noqa: E402

RECIPE = ROOT / "training" / "kws_multi_heldout.toml"
CLIPS_PER_WORD = 300
EPOCHS = 100
HARDWARE = {"cmru": ["noise.weight_bits=6", "train.threshold_margin=0.1"],
            "bmru": ["noise.weight_bits=6", "train.threshold_margin=0.1"]}
LIST_NAMES = ("validation_list.txt", "testing_list.txt")


def split_folder(seed: int) -> tuple[Path, tuple[str, ...]]:
    """The festival held-out split folder of seed's clips, and the task's classes."""
    task = make_task("kws_multi", seed, n_per_word=CLIPS_PER_WORD, split="synthesizer", held_out="festival")
    return task.data_folder, tuple(task.class_names)


def added_folder(out: Path, seed: int, per_class: int) -> tuple[Path, tuple[str, ...]]:
    """OUT/data-S: links to the split's clips, the SAM training clips, the split's list files."""
    source, classes = split_folder(seed)
    folder = out / f"data-{seed}"
    if (folder / "done").exists():
        return folder, classes
    shutil.rmtree(folder, ignore_errors=True)
    for name in classes:
        (folder / name).mkdir(parents=True)
        for wav in sorted((source / name).glob("*.wav")):
            (folder / name / wav.name).symlink_to(wav.resolve())
    for name in LIST_NAMES:
        shutil.copyfile(source / name, folder / name)
    labels = [c for c in classes if c != kws_multi.SILENCE]
    jobs = draw_jobs(per_class, 1000 + seed, augmented=True, labels=labels)
    for job in jobs:  # unknown words go to the unknown class's folder, as in the split
        job["folder"] = job["folder"] if job["folder"] in classes else kws_multi.UNKNOWN
    write_clips(folder, jobs)
    atomic_write_text(folder / "done", f"{len(jobs)} SAM clips\n")
    return folder, classes


def train_run(run: Path, seed: int, cell: str, task: dict | None) -> dict:
    """One run of the held-out recipe (its task replaced by `task` if given), trained as `codesign
    train` trains it unless run/metrics.json exists; its metrics."""
    if not (run / "metrics.json").exists():
        sets = [f"model.cell={cell}", f"train.epochs={EPOCHS}", *HARDWARE.get(cell, [])]
        if task is None:
            sets.append(f"task.params.n_per_word={CLIPS_PER_WORD}")
        recipe = load_recipe(RECIPE, sets, seed)
        if task is not None:
            recipe = recipe_from_dict({**recipe.to_dict(), "task": task})  # validated as a recipe file would be
        train(recipe, run)
    return json.loads((run / "metrics.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["cmru", "mingru"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=CLIPS_PER_WORD, help="SAM clips per class (default 300)")
    parser.add_argument("--out", type=Path, default=Path("runs/kws_added"))
    args = parser.parse_args()
    if not 1 <= args.per_class <= 10_000:
        parser.error(f"--per-class {args.per_class}: give 1 .. 10000")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        folder, classes = added_folder(args.out, seed, args.per_class)
        task = {"name": "speech_commands",
                "params": {"root": str(folder.resolve()), "words": list(classes), "utterance_norm": True}}
        for cell in args.cells:
            base = train_run(args.out / f"{cell}-{seed}", seed, cell, None)
            added = train_run(args.out / f"{cell}-{seed}-sam", seed, cell, task)
            rows.append({"cell": cell, "seed": seed, "test": base["test_accuracy"], "val": base["best_val_accuracy"],
                         "test_sam": added["test_accuracy"], "val_sam": added["best_val_accuracy"]})
            r = rows[-1]
            print(f"{cell} seed {seed}: festival test {r['test']:.1%} -> {r['test_sam']:.1%} with SAM; "
                  f"validation {r['val']:.1%} -> {r['val_sam']:.1%}", flush=True)
    for cell in args.cells:
        mine = [r for r in rows if r["cell"] == cell]
        gain = np.array([r["test_sam"] - r["test"] for r in mine])
        print(f"{cell}: mean gain on festival {gain.mean():+.1%} over {len(mine)} seeds "
              f"({', '.join(f'{g:+.1%}' for g in gain)})")
    atomic_write_json(args.out / "added_voice.json", {"per_class": args.per_class, "runs": rows}, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
