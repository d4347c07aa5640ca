"""Generated sequence tasks: cue recall, k-bit flip-flop, adding problem.

Each split is drawn from its own random stream (see `split_rng`), so the same
seed gives the same tensors and changing n_train leaves val/test untouched.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .base import (
    MAX_CHANNELS,
    MAX_SPLIT_SIZE,
    MAX_STEPS,
    Task,
    check_float,
    check_int,
    check_task_size,
    split_rng,
)

SplitMaker = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def _build(name: str, seed: int, sizes: dict[str, int], steps: int, make_split: SplitMaker, **facts) -> Task:
    check_task_size(name, sizes, steps, facts["n_in"])
    tensors = {}
    for split, n in sizes.items():
        x, y = make_split(split_rng(name, seed, split), n)
        tensors[f"x_{split}"] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        tensors[f"y_{split}"] = torch.from_numpy(np.ascontiguousarray(y))
    return Task(name=name, **tensors, **facts)


def _sizes(n_train, n_val, n_test) -> dict[str, int]:
    return {
        "train": check_int("n_train", n_train, 1, MAX_SPLIT_SIZE),
        "val": check_int("n_val", n_val, 1, MAX_SPLIT_SIZE),
        "test": check_int("n_test", n_test, 1, MAX_SPLIT_SIZE),
    }


def build_cue_recall(
    seed: int = 0,
    *,
    T: int = 500,
    n_classes: int = 4,
    noise: float = 0.1,
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 500,
) -> Task:
    """Copy-first-input: remember a one-hot cue over T steps of distractors.

    Channels 0..n_classes-1 carry the cue at step 0 (exact one-hot) and
    Gaussian noise of std `noise` on steps 1..T-2 (distractors that look like
    weak cues). Channel n_classes is the recall flag: 1 at step T-1 only,
    where the cue channels are 0. Target: the cue class, read at the last step.
    """
    T = check_int("T", T, 2, MAX_STEPS)
    n_classes = check_int("n_classes", n_classes, 2, MAX_CHANNELS)
    noise = check_float("noise", noise, 0.0, 1.0)
    sizes = _sizes(n_train, n_val, n_test)

    def make_split(rng: np.random.Generator, n: int):
        cue = rng.integers(0, n_classes, size=n)
        x = np.zeros((n, T, n_classes + 1), dtype=np.float32)
        x[:, 1 : T - 1, :n_classes] = noise * rng.standard_normal((n, T - 2, n_classes))
        x[np.arange(n), 0, cue] = 1.0
        x[:, T - 1, n_classes] = 1.0
        return x, cue.astype(np.int64)

    return _build(
        "cue_recall", seed, sizes, T, make_split,
        n_in=n_classes + 1, n_out=n_classes, loss="ce", readout="last",
        class_names=tuple(f"cue{c}" for c in range(n_classes)),
    )


def build_flipflop(
    seed: int = 0,
    *,
    k: int = 3,
    T: int = 100,
    p_pulse: float = 0.05,
    n_train: int = 1000,
    n_val: int = 200,
    n_test: int = 200,
) -> Task:
    """k-bit flip-flop: hold each bit at the sign of its last pulse.

    Input channel i is +1 (set), -1 (reset) or 0 at each step; pulses arrive
    independently per bit with probability p_pulse, sign fair. Every bit is
    pulsed at t=0 so the state is defined from the first step. Target at step
    t is the state after that step's input: 1 if the last pulse was +1, else 0.
    """
    k = check_int("k", k, 1, MAX_CHANNELS)
    T = check_int("T", T, 1, MAX_STEPS)
    p_pulse = check_float("p_pulse", p_pulse, 0.0, 1.0)
    sizes = _sizes(n_train, n_val, n_test)

    def make_split(rng: np.random.Generator, n: int):
        signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, T, k))
        pulsed = rng.random((n, T, k)) < p_pulse
        pulsed[:, 0, :] = True
        x = np.where(pulsed, signs, 0.0).astype(np.float32)
        return x, flipflop_states(x)

    return _build(
        "flipflop", seed, sizes, T, make_split,
        n_in=k, n_out=k, loss="bce", readout="per_step",
    )


def flipflop_states(x: np.ndarray) -> np.ndarray:
    """Per-step bit states of flip-flop inputs x [N, T, k] (first step pulsed)."""
    steps = np.arange(x.shape[1])[None, :, None]
    # Index of the most recent pulse at or before each step, per bit.
    last = np.maximum.accumulate(np.where(x != 0, steps, 0), axis=1)
    last_sign = np.take_along_axis(x, last, axis=1)
    return (last_sign > 0).astype(np.float32)


def build_adding(
    seed: int = 0,
    *,
    T: int = 100,
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 500,
) -> Task:
    """Adding problem: sum the two values marked on channel 1.

    Channel 0 holds U(0,1) values; channel 1 is 1 at exactly two steps, one
    uniform in [0, T//2) and one uniform in [T//2, T), else 0. Target: the sum
    of the two marked values (in [0, 2]), read at the last step.
    """
    T = check_int("T", T, 2, MAX_STEPS)
    sizes = _sizes(n_train, n_val, n_test)
    half = T // 2

    def make_split(rng: np.random.Generator, n: int):
        values = rng.random((n, T)).astype(np.float32)
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, T, size=n)
        rows = np.arange(n)
        marks = np.zeros((n, T), dtype=np.float32)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]
        return np.stack([values, marks], axis=2), target[:, None].astype(np.float32)

    return _build(
        "adding", seed, sizes, T, make_split,
        n_in=2, n_out=1, loss="mse", readout="last",
    )
