"""`codesign evaluate RUN --data FOLDER`: a trained keyword-spotting run on other recordings.

FOLDER is in the Speech Commands layout, FOLDER/<word>/*.wav (the split lists
are needed only with --split). Each clip is read as mono, resampled to 16 kHz
if recorded at another rate (8 kHz and up), cut or zero-padded to 1 s, and
turned into inputs by the run's own feature pipeline: its features, its
per-utterance normalization and its training set's standardization (the run's
task is rebuilt for these, from the cache when it is there). A word the run
has no class for counts as "unknown" if the run has that class, and is refused
otherwise. Speech Commands' _background_noise_ folder (long recordings, not
clips) is skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and torch load when a command runs, not with every `codesign --help`
    import numpy as np

BACKGROUND_FOLDER = "_background_noise_"
UNKNOWN = "unknown"
SPLIT_CHOICES = ("all", "val", "test")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="test a trained keyword-spotting run on a folder of recordings",
        description="Accuracy and confusion matrix of a trained speech run (codesign train) on a folder in the "
                    "Speech Commands layout (FOLDER/<word>/*.wav), with the run's own features and classes.")
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder written by codesign train")
    p.add_argument("--data", type=Path, required=True, help="folder of recordings: DATA/<word>/*.wav")
    p.add_argument("--split", choices=SPLIT_CHOICES, default="all",
                   help="all clips (default), or only those listed in validation_list.txt (val) or "
                        "testing_list.txt (test)")
    p.add_argument("--out", type=Path, help="also write the result as JSON to this file")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from codesign.cli import UserError
    from codesign.fsio import atomic_write_json
    from codesign.training.tasks import SpeechDataError, SynthesizerError, TaskParamError
    from codesign.training.trainer import RunDamaged

    if args.out is not None and args.out.is_dir():  # checked before the (possibly long) work
        raise UserError(f"--out {args.out}: is a folder; give a file name such as result.json")
    try:
        result = evaluate_folder(args.run_dir, args.data, args.split)
    except (SpeechDataError, SynthesizerError, TaskParamError, RunDamaged, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    print(report(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out, result, indent=2)
    return 0


def evaluate_folder(run_dir: Path, data: Path, split: str = "all") -> dict:
    """Accuracy and confusion matrix (rows: true class, columns: predicted) of the run on `data`."""
    import numpy as np
    import torch

    from codesign.training.noise import IdealChip
    from codesign.training.tasks.speech import SpeechDataError, read_clip
    from codesign.training.trainer import load_run

    clips = folder_clips(data, split)  # checked before the run's task is rebuilt
    recipe, task, model = load_run(run_dir)
    if task.features is None:
        raise SpeechDataError(f"{run_dir} was trained on task {task.name!r}, which is not speech; evaluate --data "
                              f"needs a run of speech_commands, kws_synth or kws_multi")
    classes = list(task.class_names)
    labels, unknown_words = class_indices([word for _, word in clips], classes, data)
    audio = np.stack([read_clip(data / rel, resample=True) for rel, _ in clips])
    with torch.no_grad():
        predicted = model(task.features(audio), IdealChip(recipe.noise)).argmax(-1).numpy()
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    correct = int(np.trace(confusion))
    return {
        "run": str(run_dir), "data": str(data), "split": split, "classes": classes,
        "clips": len(clips), "correct": correct, "accuracy": correct / len(clips),
        "confusion": confusion.tolist(), "words_counted_as_unknown": unknown_words,
    }


def folder_clips(data: Path, split: str) -> list[tuple[str, str]]:
    """(path relative to `data`, word) of every clip to evaluate."""
    from codesign.training.tasks.speech import LIST_FILES, SpeechDataError, SpeechDataNotFoundError, read_list_file

    if not data.is_dir():
        raise SpeechDataNotFoundError(f"--data {data}: the folder does not exist")
    if split == "all":
        words = sorted(p.name for p in data.iterdir() if p.is_dir() and p.name != BACKGROUND_FOLDER)
        clips = [(f"{word}/{wav.name}", word) for word in words for wav in sorted((data / word).glob("*.wav"))]
    else:
        listed = read_list_file(data, LIST_FILES[split], data / LIST_FILES[split])
        clips = [(rel, rel.split("/", 1)[0]) for rel in listed]
        missing = [rel for rel, _ in clips if not (data / rel).is_file()]
        if missing:
            raise SpeechDataNotFoundError(f"{data / LIST_FILES[split]} lists {missing[0]}, which does not exist "
                                          f"({len(missing)} listed clips missing)")
    if not clips:
        raise SpeechDataError(f"--data {data}: no .wav clips found (expected {data}/<word>/*.wav"
                              f"{'' if split == 'all' else ' listed in ' + LIST_FILES[split]})")
    return clips


def class_indices(words: list[str], classes: list[str], data: Path) -> tuple[np.ndarray, list[str]]:
    """Each clip's class index, and the words that were counted as "unknown"."""
    import numpy as np

    from codesign.training.tasks.speech import SpeechDataError

    others = sorted(set(words) - set(classes))
    if others and UNKNOWN not in classes:
        raise SpeechDataError(f"--data {data} has words the run has no class for: {', '.join(others)} (its classes: "
                              f"{', '.join(classes)}; it has no {UNKNOWN!r} class to count them in)")
    index = {**{word: classes.index(UNKNOWN) for word in others}, **{c: i for i, c in enumerate(classes)}}
    return np.array([index[word] for word in words], dtype=int), others


def report(result: dict) -> str:
    """The result as text: accuracy, then the confusion matrix."""
    classes = result["classes"]
    width = max(8, *(len(c) + 1 for c in classes))
    lines = [
        f"run {result['run']} on {result['data']} ({result['split']} clips: {result['clips']})",
        f"accuracy {result['accuracy']:.4f} ({result['correct']} of {result['clips']})",
    ]
    if result["words_counted_as_unknown"]:
        lines.append(f"counted as {UNKNOWN}: {', '.join(result['words_counted_as_unknown'])}")
    lines.append("confusion matrix (rows: true class, columns: predicted class)")
    lines.append(" " * width + "".join(f"{c:>{width}}" for c in classes))
    for name, row in zip(classes, result["confusion"]):
        lines.append(f"{name:<{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
