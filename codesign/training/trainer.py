"""The training loop behind `codesign train`.

Run folder (everything a later stage or a resumed run needs):

    checkpoint.pt    latest state (model, optimizer, RNG, counters, the log rows,
                     the best weights, the recipe): every epoch
    epoch_XXXX.pt    the same, every `checkpoint_every` epochs and at the end
    best.pt          model weights at the best validation metric
    checkpoint.json  recipe, epoch, metrics, file names
    log.csv          one row per epoch;  curves.png: the learning curves (at each snapshot)
    metrics.json     final: test metric of the best model (and on noisy chips)
    .codesign.lock   while a run works here: who (a second run is refused)

All .pt files load with torch.load(..., weights_only=True) and carry a sha256
of their content (load_checkpoint checks it). Every file is written
atomically. checkpoint.pt is written first each epoch and the other files are
rewritten from what it holds, so a run killed at any point leaves a folder
that resumes to the same result, and resuming rebuilds best.pt, log.csv and
checkpoint.json from the checkpoint. An unreadable or altered checkpoint.pt
falls back to the newest readable epoch snapshot (docs/reliability.md). A resumed run replays from its
checkpoint with the same RNG state, so it ends exactly where an uninterrupted
run would have. A non-finite loss stops training and leaves the last good
checkpoint untouched.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Callable

import matplotlib
import numba
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from codesign.fsio import atomic_write_bytes, atomic_write_json, atomic_write_text, folder_lock
from codesign.training.models import Network
from codesign.training.noise import Chip, IdealChip
from codesign.training.recipe import Recipe, TrainSpec, recipe_from_dict
from codesign.training.specaugment import SpecAugment, spec_augment
from codesign.training.tasks import Task, make_task
from codesign.training.unit import row_current_penalty, threshold_distance, threshold_margin_penalty

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# What a run writes (and all that --restart removes), besides the lock.
RUN_FILES = ["checkpoint.pt", "best.pt", "checkpoint.json", "log.csv", "curves.png", "metrics.json"]
SNAPSHOT = re.compile(r"epoch_\d{4,}\.pt")
RESUMABLE = ("model", "optimizer", "scheduler", "rng", "state")  # what a checkpoint must hold
# val_near_threshold: with a threshold margin, the fraction of validation unit-steps
# whose z lies within the margin of +-beta (it breaks ties for best.pt).
LOG_FIELDS = ["epoch", "step", "eps", "lr", "train_loss", "val_loss", "val_metric", "val_near_threshold",
              "seconds"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class RunMismatch(ValueError):
    """The run folder holds a run of another recipe."""


class RunDamaged(ValueError):
    """No checkpoint in the run folder can be read."""


def metric_name(task: Task) -> str:
    return {"ce": "accuracy", "bce": "bit_accuracy", "mse": "mse"}[task.loss]


def higher_is_better(task: Task) -> bool:
    return task.loss != "mse"


def loss_and_metric(task: Task, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    if task.loss == "ce":
        return F.cross_entropy(out, y), (out.argmax(-1) == y).float().mean().item()
    if task.loss == "bce":
        return F.binary_cross_entropy_with_logits(out, y), ((out > 0).float() == y).float().mean().item()
    loss = F.mse_loss(out, y)
    return loss, loss.item()


def build_model(recipe: Recipe, task: Task) -> Network:
    torch.manual_seed(recipe.seed)
    return Network(task.n_in, task.n_out, recipe.model, task.readout)


def eps_at(recipe: Recipe, epoch: int, step: int) -> float | None:
    return None if recipe.eps is None else recipe.eps.value(epoch, step)


@torch.no_grad()
def evaluate(model: Network, task: Task, x, y, chip_factory: Callable[[], Chip], batch=512):
    model.eval()
    losses, metrics, weights = [], [], []
    for i in range(0, len(x), batch):
        out = model(x[i:i + batch], chip_factory())
        loss, metric = loss_and_metric(task, out, y[i:i + batch])
        losses.append(loss.item()), metrics.append(metric), weights.append(len(out))
    n = sum(weights)
    return (sum(loss * w for loss, w in zip(losses, weights)) / n,
            sum(m * w for m, w in zip(metrics, weights)) / n)


NEAR_THRESHOLD = (0.01, 0.03, 0.1)  # distances to +-beta reported, in units of beta


@torch.no_grad()
def near_threshold(model: Network, x: torch.Tensor, chip: Chip, distances=NEAR_THRESHOLD,
                   batch: int = 512) -> dict[str, float]:
    """Fraction of unit-steps whose z lies within d * beta of a threshold, per d in
    `distances`: where an analog comparator of finite resolution may decide
    otherwise than the software (docs/training.md, threshold margin)."""
    model.eval()
    dist = torch.cat([threshold_distance(z).flatten() for i in range(0, len(x), batch)
                      for z in model.run(x[i:i + batch], chip).z_rel])
    return {f"{d:g}": float((dist < d).float().mean()) for d in distances}


@torch.no_grad()
def row_currents(model: Network, x: torch.Tensor, batch: int = 512) -> dict[str, float]:
    """Mean, 99th percentile and largest signal current of a synapse row over the unit-steps of
    x, in I_unit (`MRULayer.row_current`, every MRU layer): what a mirror array must carry."""
    model.eval()
    rows = torch.cat([r.flatten() for i in range(0, len(x), batch)
                      for r in model.run(x[i:i + batch], row_current=True).row_current]).double().numpy()
    return {"mean": float(rows.mean()), "p99": float(np.percentile(rows, 99)), "max": float(rows.max())}


def _digest(obj) -> str:
    """sha256 of a checkpoint's content, tensors by their bytes. torch.load checks
    no checksum: a byte changed in a tensor loads silently as another weight."""
    h = hashlib.sha256()

    def feed(x) -> None:
        if isinstance(x, torch.Tensor):
            h.update(f"T{x.dtype}{tuple(x.shape)}:".encode())
            h.update(x.detach().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for key in sorted(x, key=str):
                feed(str(key)), feed(x[key])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for item in x:
                feed(item)
            h.update(b"]")
        else:
            h.update(repr(x).encode() + b";")

    feed(obj)
    return h.hexdigest()


def _pt_bytes(obj: dict) -> bytes:
    """A .pt file's bytes: `obj` plus the digest of its content."""
    buffer = io.BytesIO()
    torch.save({**obj, "sha256": _digest(obj)}, buffer)
    return buffer.getvalue()


def _save(obj: dict, path: Path) -> None:
    atomic_write_bytes(path, _pt_bytes(obj))


def load_checkpoint(path: Path) -> dict:
    """A .pt file of a run, checked against the digest it was written with
    (files written before digests existed load unchecked)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    recorded = ckpt.pop("sha256", None)
    if recorded is not None and _digest(ckpt) != recorded:
        raise RunDamaged(f"{path}: its content does not match the checksum it was written with "
                         f"(changed or damaged since)")
    return ckpt


def _read_log(path: Path, before_epoch: int) -> list[dict]:
    """log.csv rows of a checkpoint written before checkpoints held their log."""
    if not path.exists():
        return []
    with path.open() as f:
        return [row for row in csv.DictReader(f) if int(row["epoch"]) < before_epoch]


def _write_log(rows: list[dict], path: Path) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())


def is_run_file(name: str) -> bool:
    """Whether a file of this name is written by a run (or is an interrupted write of one)."""
    if name.startswith(".") and name.endswith(".tmp"):  # .<name>.<random>.tmp of atomic writes
        name = name[1:].rsplit(".", 2)[0]
    return name in RUN_FILES or SNAPSHOT.fullmatch(name) is not None


def _snapshots(out: Path) -> list[Path]:
    """Epoch snapshots, newest first."""
    return sorted((p for p in out.glob("epoch_*.pt") if SNAPSHOT.fullmatch(p.name)),
                  key=lambda p: int(p.stem[6:]), reverse=True)


def _resume_point(out: Path) -> dict | None:
    """The checkpoint to resume from: checkpoint.pt, else the newest readable snapshot
    (said on stderr); None for a fresh folder. RunDamaged if none can be read."""
    candidates = [out / "checkpoint.pt", *_snapshots(out)]
    problems = []
    for path in candidates:
        if not path.exists():
            if path.name == "checkpoint.pt" and len(candidates) > 1:
                problems.append(f"{path} is missing")
            continue
        try:
            ckpt = load_checkpoint(path)
            missing = [key for key in RESUMABLE if key not in ckpt]
            if missing:
                raise KeyError(f"it holds no {', '.join(missing)}")
        except RunDamaged as err:
            problems.append(str(err))
            continue
        except Exception as err:  # torch.load fails in many ways on a damaged file
            why = ": ".join([type(err).__name__, *str(err).splitlines()[:1]])[:160]
            problems.append(f"{path} is unreadable ({why})")
            continue
        if problems:
            print(f"codesign train: {'; '.join(problems)}; resuming from {path} "
                  f"(epoch {ckpt['state']['epoch']})", file=sys.stderr)
        return ckpt
    if problems:
        raise RunDamaged(f"{out}: no readable checkpoint: {'; '.join(problems)}. Pass --restart to "
                         f"start over, or see docs/reliability.md")
    return None


# [train] keys added after runs were checkpointed without them: absent means off, their default.
ADDED_TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(SpecAugment))


def _with_added_defaults(stored: dict) -> dict:
    """A checkpoint's recipe with the ADDED_TRAIN_KEYS it lacks at their defaults, so a run
    checkpointed before they existed resumes (and a recipe that turns them on does not)."""
    train = stored.get("train")
    if not isinstance(train, dict):
        return stored
    defaults = {key: getattr(TrainSpec, key) for key in ADDED_TRAIN_KEYS}
    return {**stored, "train": {**defaults, **train}}


def plot_curves(rows: list[dict], path: Path, metric: str) -> None:
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].plot(epochs, [float(r["train_loss"]) for r in rows], label="train")
    axes[0].plot(epochs, [float(r["val_loss"]) for r in rows], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    axes[0].legend()
    axes[1].plot(epochs, [float(r["val_metric"]) for r in rows])
    axes[1].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    eps = [math.nan if r["eps"] == "" else float(r["eps"]) for r in rows]
    axes[2].plot(epochs, eps)
    axes[2].set(xlabel="epoch", ylabel="eps", title="eps (end of epoch)", ylim=(-0.05, 1.05))
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())


def _write_run_files(out: Path, recipe: Recipe, ckpt: dict, metric: str, *, best: bool, plot: bool) -> None:
    """Rewrite what the checkpoint `ckpt` (already on disk) determines: best.pt if
    `best`, log.csv, checkpoint.json, and curves.png if `plot`."""
    state, rows = ckpt["state"], ckpt["log"]
    if best and ckpt.get("best_model") is not None:
        _save({"model": ckpt["best_model"]}, out / "best.pt")
    _write_log(rows, out / "log.csv")
    atomic_write_json(out / "checkpoint.json",
                      {"recipe": recipe.to_dict(), "epoch": state["epoch"], "last": rows[-1] if rows else None,
                       "best_epoch": state["best_epoch"], "best_val_" + metric: state["best_val"],
                       "files": {"latest": "checkpoint.pt", "best": "best.pt", "log": "log.csv"}},
                      indent=2, sort_keys=True)
    if plot and rows:
        plot_curves(rows, out / "curves.png", metric)


def train(recipe: Recipe, out_dir: str | Path, restart: bool = False, progress: bool = True,
          on_epoch_end: Callable[[int], None] | None = None) -> dict:
    """Train (or resume) `recipe` in `out_dir`; returns the final metrics.

    Holds the folder's lock throughout: FolderLocked if another process trains there.
    """
    out = Path(out_dir)
    created = not out.exists()
    try:
        with folder_lock(out, "codesign train"):
            if restart:
                for old in out.iterdir():
                    if old.is_file() and is_run_file(old.name):
                        old.unlink()
            return _train(recipe, out, progress, on_epoch_end)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that failed before writing anything leaves no folder
        raise


def _train(recipe: Recipe, out: Path, progress: bool, on_epoch_end: Callable[[int], None] | None) -> dict:
    torch.set_num_threads(recipe.train.threads)
    numba.set_num_threads(min(recipe.train.threads, numba.config.NUMBA_NUM_THREADS))
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    spec = recipe.train
    augment = spec.spec_augment
    augment.check_fits(task.x_train.shape[1], task.x_train.shape[2], task.name)
    model = build_model(recipe, task)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    steps_per_epoch = math.ceil(len(task.x_train) / spec.batch_size)
    total_steps = spec.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 1.0 if spec.lr_schedule == "constant"
        else 0.5 * (1 + math.cos(math.pi * min(s / total_steps, 1.0))))
    generator = torch.Generator().manual_seed(recipe.seed)
    state = {"epoch": 0, "step": 0, "best_epoch": -1, "best_val": None, "seconds": 0.0}
    recipe_data = json.loads(json.dumps(recipe.to_dict()))  # lists, not tuples: as JSON reads back
    rows: list[dict] = []
    best_model = None
    metric = metric_name(task)
    ckpt_path = out / "checkpoint.pt"

    ckpt = _resume_point(out)
    if ckpt is not None:
        # Checkpoints before the log moved inside them name their recipe in checkpoint.json only.
        stored = ckpt["recipe"] if "recipe" in ckpt else json.loads((out / "checkpoint.json").read_text())["recipe"]
        if _with_added_defaults(stored) != recipe_data:
            raise RunMismatch(f"{out} holds a run of a different recipe; pass --restart to "
                              f"overwrite it or choose another --out")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        generator.set_state(ckpt["rng"])
        state = dict(ckpt["state"])
        rows = list(ckpt["log"]) if "log" in ckpt else _read_log(out / "log.csv", state["epoch"])
        best_model = ckpt.get("best_model")
        # A kill between the checkpoint and the files after it: rebuild them now.
        _write_run_files(out, recipe, {**ckpt, "log": rows}, metric, best=True,
                         plot=not (out / "curves.png").exists())
    better = (lambda a, b: a > b) if higher_is_better(task) else (lambda a, b: a < b)
    ideal = lambda: IdealChip(recipe.noise)  # noqa: E731
    final_eps = eps_at(recipe, spec.epochs - 1, total_steps - 1)

    bar = tqdm(range(state["epoch"], spec.epochs), initial=state["epoch"], total=spec.epochs,
               desc=recipe.name, disable=not progress, unit="epoch")
    for epoch in bar:
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(task.x_train), generator=generator)
        total = 0.0
        for i in range(steps_per_epoch):
            eps = eps_at(recipe, epoch, state["step"])
            if eps is not None:
                model.set_eps(eps)
            idx = order[i * spec.batch_size:(i + 1) * spec.batch_size]
            x = spec_augment(task.x_train[idx], augment, generator)  # draws nothing when off
            chip = Chip(recipe.noise, generator) if recipe.noise.has_random_part else ideal()
            run = model.run(x, chip, row_current=spec.row_current_max_i_unit > 0)
            loss, _ = loss_and_metric(task, run.y, task.y_train[idx])
            if spec.threshold_margin > 0:
                loss = loss + spec.threshold_margin_weight * sum(
                    threshold_margin_penalty(z, spec.threshold_margin) for z in run.z_rel) / len(run.z_rel)
            if spec.row_current_max_i_unit > 0:
                loss = loss + spec.row_current_weight * sum(
                    row_current_penalty(r, spec.row_current_max_i_unit) for r in run.row_current) / len(run.row_current)
            if not torch.isfinite(loss):
                kept = f"the last good checkpoint (epoch {state['epoch']}) is kept in {ckpt_path}" \
                    if ckpt_path.exists() else "no checkpoint was written yet"
                raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch + 1}, step "
                                       f"{state['step']}; {kept}. Try a lower train.lr or "
                                       f"train.grad_clip.")
            optimizer.zero_grad()
            loss.backward()
            if spec.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            total += loss.item()
        val_loss, val_metric = evaluate(model, task, task.x_val, task.y_val, ideal)
        margin = spec.threshold_margin
        val_near = near_threshold(model, task.x_val, ideal(), (margin,))[f"{margin:g}"] if margin else None
        state["epoch"] = epoch + 1
        state["seconds"] += time.perf_counter() - started
        rows.append({"epoch": epoch, "step": state["step"], "eps": "" if model.eps is None else model.eps,
                     "lr": scheduler.get_last_lr()[0],
                     "train_loss": total / steps_per_epoch, "val_loss": val_loss,
                     "val_metric": val_metric, "val_near_threshold": "" if val_near is None else val_near,
                     "seconds": round(state["seconds"], 3)})
        # Under eps-annealing only epochs at the target eps compete: best.pt must be a
        # network for the hardware the schedule ends on.
        at_target = final_eps is None or abs(model.eps - final_eps) < 1e-6 or epoch + 1 == spec.epochs
        # With a threshold margin, an epoch as good as the best wins if fewer of its
        # z lie near a threshold: the margin keeps growing after the metric saturates.
        improved = at_target and (state["best_val"] is None or better(val_metric, state["best_val"])
                                  or (val_near is not None and val_metric == state["best_val"]
                                      and val_near < state.get("best_near", 1.0)))
        if improved:
            state["best_val"], state["best_epoch"], state["best_near"] = val_metric, epoch, val_near
            best_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        # The checkpoint is the one record of the epoch; everything after it is derived
        # from it, and rebuilt from it on resume if a kill cuts this sequence short.
        ckpt = {"recipe": recipe_data, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": generator.get_state(), "state": state,
                "log": rows, "best_model": best_model}
        data = _pt_bytes(ckpt)
        atomic_write_bytes(ckpt_path, data)
        snapshot = (epoch + 1) % spec.checkpoint_every == 0 or epoch + 1 == spec.epochs
        if snapshot:
            atomic_write_bytes(out / f"epoch_{epoch + 1:04d}.pt", data)
        # A plot costs more than a small epoch: only at snapshots.
        _write_run_files(out, recipe, ckpt, metric, best=improved, plot=snapshot)
        bar.set_postfix(loss=f"{rows[-1]['train_loss']:.4f}", **{metric: f"{val_metric:.4f}"})
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    bar.close()
    return finish(recipe, task, model, out, state)


def finish(recipe: Recipe, task: Task, model: Network, out: Path, state: dict) -> dict:
    """Test the best model, on the ideal chip and on `eval_chips` noisy ones."""
    model.load_state_dict(load_checkpoint(out / "best.pt")["model"])
    metric = metric_name(task)
    _, test_metric = evaluate(model, task, task.x_test, task.y_test, lambda: IdealChip(recipe.noise))
    result = {"task": task.name, "cell": recipe.model.cell, "seed": recipe.seed, "metric": metric,
              "test_" + metric: test_metric, "best_epoch": state["best_epoch"],
              "best_val_" + metric: state["best_val"], "epochs": state["epoch"],
              "train_seconds": round(state["seconds"], 2),
              "parameters": sum(p.numel() for p in model.parameters())}
    if model.eps is not None:
        result["test_near_threshold"] = near_threshold(model, task.x_test, IdealChip(recipe.noise))
        result["test_row_current_i_unit"] = row_currents(model, task.x_test)
    if recipe.train.eval_chips:
        generator = torch.Generator().manual_seed(10_000 + recipe.seed)
        noisy = [evaluate(model, task, task.x_test, task.y_test, lambda: Chip(recipe.noise, generator),
                          batch=len(task.x_test))[1] for _ in range(recipe.train.eval_chips)]
        result["noisy_test_" + metric] = sum(noisy) / len(noisy)
        result["noisy_chips"] = len(noisy)
    atomic_write_json(out / "metrics.json", result, indent=2, sort_keys=True)
    return result


def recipe_of_run(run_dir: str | Path) -> Recipe:
    """The recipe a run folder was trained with (for the mapper and for reports)."""
    info = Path(run_dir) / "checkpoint.json"
    if not info.is_file():
        raise FileNotFoundError(f"{run_dir}: not a training run folder (no checkpoint.json; if a run "
                                f"was interrupted here, `codesign train` with the same recipe resumes it)")
    return recipe_from_dict(json.loads(info.read_text())["recipe"])


def load_run(run_dir: str | Path, which: str = "best") -> tuple[Recipe, Task, Network]:
    """Recipe, task data and trained network (weights of best.pt or checkpoint.pt),
    with eps set to where training ended."""
    run_dir = Path(run_dir)
    recipe = recipe_of_run(run_dir)
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = Network(task.n_in, task.n_out, recipe.model, task.readout)
    path = run_dir / ("best.pt" if which == "best" else "checkpoint.pt")
    model.load_state_dict(load_checkpoint(path)["model"])
    model.eval()
    return recipe, task, model
