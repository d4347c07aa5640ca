"""The Task record every builder returns, and the parameter checks they share.

A task is plain tensors plus the few facts the trainer needs to wire a model
(input width, output width, loss, readout). `Task.__post_init__` checks that
the tensors agree with those facts, so a builder bug fails where it is made
rather than as a shape error deep inside training.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

LOSSES = ("ce", "bce", "mse")
READOUTS = ("last", "per_step")
SPLITS = ("train", "val", "test")


class TaskParamError(ValueError):
    """A task name or parameter that make_task cannot accept."""


@dataclass(frozen=True)
class Task:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_in: int  # input features per step
    n_out: int  # classes (ce), bits (bce) or outputs (mse)
    loss: str  # "ce" | "bce" | "mse"
    readout: str  # "last" | "per_step"
    # Optional, for reports: what each class index means (speech words, digits).
    class_names: tuple[str, ...] = ()
    # Optional: how raw data becomes x (speech tasks: speech.SpeechFeatures), to
    # turn other recordings into this task's inputs (codesign evaluate).
    features: Any = None
    # Optional: the Speech Commands folder the clips were read from (its class
    # folders and list files), for work on the same split outside the trainer.
    data_folder: Path | None = None

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"task {self.name!r}: loss {self.loss!r} not in {LOSSES}")
        if self.readout not in READOUTS:
            raise ValueError(f"task {self.name!r}: readout {self.readout!r} not in {READOUTS}")
        for split in SPLITS:
            self._check_split(split, getattr(self, f"x_{split}"), getattr(self, f"y_{split}"))

    def _check_split(self, split: str, x: torch.Tensor, y: torch.Tensor) -> None:
        where = f"task {self.name!r}, {split} split"
        if x.dtype != torch.float32 or x.dim() != 3 or x.shape[2] != self.n_in:
            raise ValueError(f"{where}: x must be float32 [N, T, {self.n_in}], got {x.dtype} {list(x.shape)}")
        n, t = x.shape[0], x.shape[1]
        if self.loss == "ce":
            want_dtype = torch.int64
            want_shape = [n] if self.readout == "last" else [n, t]
        else:
            want_dtype = torch.float32
            want_shape = [n, self.n_out] if self.readout == "last" else [n, t, self.n_out]
        if y.dtype != want_dtype or list(y.shape) != want_shape:
            raise ValueError(f"{where}: y must be {want_dtype} {want_shape}, got {y.dtype} {list(y.shape)}")

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the split called `name` ("train", "val" or "test")."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def split_rng(task_name: str, seed: int, split: str) -> np.random.Generator:
    """An independent random stream per (task, seed, split).

    Separate streams keep the validation and test sets fixed when only
    n_train changes, and keep two tasks built with one seed unrelated.
    """
    salt = zlib.crc32(task_name.encode())
    return np.random.default_rng([seed, salt, SPLITS.index(split)])


# Upper limits on what sizes memory and time. Each parameter has its own, and
# the inputs of a generated task as a whole are capped: one float32 tensor of
# MAX_TASK_VALUES values is 1 GiB, and a builder holds a few of them at once.
MAX_SPLIT_SIZE = 1_000_000  # n_train, n_val, n_test
MAX_STEPS = 100_000  # T
MAX_CHANNELS = 1024  # k, n_classes
MAX_TASK_VALUES = 2**28


# Parameter checks. Each raises TaskParamError naming the parameter, the
# allowed range or type, and the value it got.


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TaskParamError(f"parameter {name!r} must be an integer {allowed}, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        raise TaskParamError(f"parameter {name!r} must be {allowed}, got {value}")
    return int(value)


def check_task_size(task: str, sizes: dict[str, int], steps: int, width: int) -> None:
    """Refuse a generated task whose inputs would exceed MAX_TASK_VALUES, before allocating."""
    n = sum(sizes.values())
    total = n * steps * width
    if total > MAX_TASK_VALUES:
        raise TaskParamError(
            f"task {task!r}: n_train + n_val + n_test = {n} examples x {steps} steps x {width} inputs = "
            f"{total:.3g} input values, above the limit of {MAX_TASK_VALUES} (1 GiB of float32); "
            f"lower the sizes or T")


def check_optional_int(name: str, value: Any, lo: int, hi: int | None = None) -> int | None:
    return None if value is None else check_int(name, value, lo, hi)


def check_float(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TaskParamError(f"parameter {name!r} must be a number, got {value!r}")
    value = float(value)
    if not (value > lo if lo_open else value >= lo) or value > hi:
        interval = f"{'(' if lo_open else '['}{lo}, {hi}]"
        raise TaskParamError(f"parameter {name!r} must be in {interval}, got {value}")
    return value


def check_range(name: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    """A (low, high) pair inside [lo, hi] with low <= high."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TaskParamError(f"parameter {name!r} must be a pair (low, high), got {value!r}")
    low = check_float(f"{name}[0]", value[0], lo, hi)
    high = check_float(f"{name}[1]", value[1], lo, hi)
    if low > high:
        raise TaskParamError(f"parameter {name!r} must have low <= high, got {value!r}")
    return (low, high)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TaskParamError(f"parameter {name!r} must be true or false, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise TaskParamError(f"parameter {name!r} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_words(name: str, value: Any, *, min_count: int = 2) -> tuple[str, ...]:
    """A tuple of distinct, non-empty names usable as folder names."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TaskParamError(f"parameter {name!r} must be a tuple of strings, got {value!r}")
    words = tuple(value)
    bad = [w for w in words if not isinstance(w, str) or not w or "/" in w or w != w.strip()]
    if bad:
        raise TaskParamError(f"parameter {name!r}: entries must be non-empty strings without '/' or spaces at the "
                             f"ends, got {bad!r}")
    if len(set(words)) != len(words):
        raise TaskParamError(f"parameter {name!r} has repeated entries: {words!r}")
    if len(words) < min_count:
        raise TaskParamError(f"parameter {name!r} needs at least {min_count} entries, got {len(words)}")
    return words


def subset_size(name: str, n: int | None, available: int) -> int:
    """How many of `available` examples to keep when the user asked for `n` (None: all)."""
    if n is None:
        return available
    if n > available:
        raise TaskParamError(f"parameter {name!r} must be <= {available} (the size of that split), got {n}")
    return n
