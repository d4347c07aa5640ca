"""What do the KWS clips allow a model with no hardware limits? A reference that is not
recurrent and not small: a convolutional network over the whole utterance (the 13 MFCC x
101 frames of the task, as an image), the kind that keyword spotting on Speech Commands
reaches 95 % and more with. It is trained on the same splits as the recurrent cells of
docs/results.md "Keyword spotting" (festival held out, and voice-disjoint), the test
accuracy read at the epoch of best validation accuracy, as the trainer does.

If this network stays far below 95 % on the held-out synthesizer too, the clips, not the
16-unit recurrent cell, set the ceiling; if it reaches it, the cell is what falls short.

    .venv/bin/python benchmarks/kws_ceiling.py [--seeds 0 1 2] [--epochs 30] [--splits festival voice]

Prints one line per (split, seed) and the mean per split; writes --out (JSON) after each run,
and a run already in --out with the same epochs is not trained again. Exit status 0 when every
run finished.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.fsio import atomic_write_json  # noqa: E402
from codesign.training.tasks import make_task  # noqa: E402

CLIPS_PER_WORD = 300  # the recurrent cells' runs in docs/results.md
SPLITS = {"festival": {"split": "synthesizer", "held_out": "festival"}, "voice": {"split": "voice"}}


def conv_net(n_out: int, width: int = 64) -> nn.Module:
    """Four 3x3 convolution blocks over (frames, coefficients), two of them pooled, then global
    average pooling: about 0.1 M weights, 400 times the 16-unit CMRU's."""
    def block(c_in: int, c_out: int, pool: bool) -> list[nn.Module]:
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        return layers + ([nn.MaxPool2d(2)] if pool else [])
    return nn.Sequential(*block(1, width, True), *block(width, width, True), *block(width, width, False),
                         *block(width, width, False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(width, n_out))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 256].unsqueeze(1)).argmax(1) for i in range(0, len(x), 256)])
    return float((pred == y).float().mean())


def run(split: str, seed: int, epochs: int) -> dict:
    task = make_task("kws_multi", seed, n_per_word=CLIPS_PER_WORD, **SPLITS[split])
    if task.readout != "last" or task.loss != "ce":
        raise SystemExit(f"kws_multi: expected one class per utterance, got readout {task.readout!r}, "
                         f"loss {task.loss!r}")
    torch.manual_seed(seed)
    model = conv_net(task.n_out)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * -(-len(task.x_train) // 64))
    best = {"val": -1.0}
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(task.x_train)).split(64):
            loss = nn.functional.cross_entropy(model(task.x_train[idx].unsqueeze(1)), task.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        val = accuracy(model, task.x_val, task.y_val)
        if val > best["val"]:
            best = {"val": val, "test": accuracy(model, task.x_test, task.y_test), "epoch": epoch}
        print(f"  {split} seed {seed}: epoch {epoch + 1}/{epochs}, validation {val:.3f}, "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    n_weights = sum(p.numel() for p in model.parameters())
    return {"split": split, "seed": seed, "epochs": epochs, "weights": n_weights,
            "seconds": round(time.perf_counter() - start, 1), **best}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--splits", nargs="+", choices=sorted(SPLITS), default=["festival", "voice"])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "kws_ceiling.json")
    args = ap.parse_args(argv)
    done = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for split in args.splits:
        for seed in args.seeds:
            kept = [r for r in done if (r["split"], r["seed"], r["epochs"]) == (split, seed, args.epochs)]
            r = kept[0] if kept else run(split, seed, args.epochs)
            rows.append(r)
            others = [d for d in done if not any(d == r for r in rows)]  # runs of other selections stay
            atomic_write_json(args.out, {"clips_per_word": CLIPS_PER_WORD, "runs": others + rows})
            print(f"{split:8s} seed {seed}: test {100 * r['test']:.1f} %, validation {100 * r['val']:.1f} % "
                  f"(epoch {r['epoch'] + 1}), {r['weights']} weights, {r['seconds']:.0f} s", flush=True)
        tests = [100 * r["test"] for r in rows if r["split"] == split]
        print(f"{split:8s} mean test {np.mean(tests):.1f} +- {np.std(tests, ddof=1) if len(tests) > 1 else 0:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
