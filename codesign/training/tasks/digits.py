"""Sequential digits: scikit-learn's bundled 8x8 digits read as a sequence.

The 1797 images ship inside scikit-learn, so nothing is downloaded. The whole
set is split once, stratified by class and shuffled by the seed; n_train,
n_val, n_test (default None: the whole split) keep a random subset of a split.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Task, check_choice, check_float, check_optional_int, split_rng, subset_size

MODES = ("rows", "pixels")
PIXEL_MAX = 16.0  # load_digits stores intensities as integers 0..16


def build_digits(
    seed: int = 0,
    *,
    mode: str = "rows",
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
) -> Task:
    """Classify a digit from its rows (T=8, n_in=8) or pixels (T=64, n_in=1).

    Pixels are scaled to [0, 1] and read row by row, top to bottom.
    """
    # Imported here: scikit-learn is slow to import and only this task needs it.
    from sklearn.datasets import load_digits

    mode = check_choice("mode", mode, MODES)
    val_frac = check_float("val_frac", val_frac, 0.0, 0.5, lo_open=True)
    test_frac = check_float("test_frac", test_frac, 0.0, 0.5, lo_open=True)
    limits = {
        "train": check_optional_int("n_train", n_train, 1),
        "val": check_optional_int("n_val", n_val, 1),
        "test": check_optional_int("n_test", n_test, 1),
    }

    bunch = load_digits()
    images = (bunch.images / PIXEL_MAX).astype(np.float32)  # [1797, 8, 8]
    labels = bunch.target.astype(np.int64)
    x_all = images if mode == "rows" else images.reshape(len(images), 64, 1)

    tensors = {}
    for split, idx in split_indices(labels, seed, val_frac, test_frac).items():
        keep = subset_size(f"n_{split}", limits[split], len(idx))
        idx = split_rng("digits", seed, split).permutation(idx)[:keep]
        tensors[f"x_{split}"] = torch.from_numpy(np.ascontiguousarray(x_all[idx]))
        tensors[f"y_{split}"] = torch.from_numpy(labels[idx])
    return Task(
        name="digits", **tensors,
        n_in=x_all.shape[2], n_out=10, loss="ce", readout="last",
        class_names=tuple(str(d) for d in range(10)),
    )


def split_indices(labels: np.ndarray, seed: int, val_frac: float, test_frac: float) -> dict[str, np.ndarray]:
    """Image indices of the full train/val/test splits, each stratified by label."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    rest, test_idx = train_test_split(index, test_size=test_frac, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(
        rest, test_size=val_frac / (1.0 - test_frac), stratify=labels[rest], random_state=seed
    )
    return {"train": train_idx, "val": val_idx, "test": test_idx}
