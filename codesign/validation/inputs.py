"""A map folder's inputs: the test sequences and training inputs of the task its network was
trained on, regenerated from the manifest's recipe, or read from `inputs.npz` beside the map.

Why a stored copy: a sweep's keys hash the netlists, and the netlists carry the inputs to 12
digits. Features regenerated on another machine can differ in their last bits (another CPU runs
other floating-point kernels), and then every key differs and nothing stored is found again. A measurement meant
to go on across machines stores the inputs it runs on once (`store_inputs`); from then on
every machine builds the same netlists, without regenerating the data at all.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from codesign.fsio import check_entry, write_entry

INPUTS_FILE = "inputs.npz"


def trained_task(map_dir: str | Path):
    """The task (its splits as generated) the mapped network of map_dir was trained on."""
    from codesign.manifest import read_manifest
    from codesign.training.recipe import recipe_from_dict
    from codesign.training.tasks import make_task

    data = read_manifest(map_dir)
    if not data.get("recipe"):
        raise ValueError(f"{map_dir}: the manifest has no training recipe; map a training run folder")
    recipe = recipe_from_dict(data["recipe"])
    return make_task(recipe.task.name, recipe.seed, **recipe.task.params)


def manifest_sha256(map_dir: str | Path) -> str:
    """The hash a map folder's stored results are tied to: of its manifest.json's bytes."""
    return hashlib.sha256((Path(map_dir) / "manifest.json").read_bytes()).hexdigest()


def store_inputs(map_dir: str | Path, n_test: int, n_train: int) -> Path:
    """Write map_dir/inputs.npz: the first n_test test sequences with their targets and the first
    n_train training inputs (fewer if a split is smaller), as the task generates them here."""
    map_dir = Path(map_dir)
    task = trained_task(map_dir)
    if not 1 <= n_test <= len(task.x_test):
        raise ValueError(f"n_test: {n_test} asked of {map_dir}: the task has {len(task.x_test)} test sequences")
    return _write_inputs(map_dir, {"x_test": task.x_test[:n_test].numpy(), "y_test": task.y_test[:n_test].numpy(),
                                   "x_train": task.x_train[:n_train].numpy(),
                                   "n_train_split": np.array(len(task.x_train))})


def _write_inputs(map_dir: str | Path, arrays: dict) -> Path:
    """map_dir/inputs.npz holding `arrays`, tied to map_dir's manifest."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{**arrays, "manifest_sha256": np.array(manifest_sha256(map_dir))})
    path = Path(map_dir) / INPUTS_FILE
    write_entry(path, buffer.getvalue())
    return path


def copy_inputs(src_map: str | Path, dst_map: str | Path) -> Path | None:
    """src_map's stored inputs, tied to dst_map's manifest (a remap of the same network: the same task
    and data); None if src_map has none."""
    stored = stored_inputs(src_map)
    return None if stored is None else _write_inputs(dst_map, stored)


def stored_inputs(map_dir: str | Path) -> dict | None:
    """The arrays of map_dir/inputs.npz; None if there is none. A file that fails its hash or
    belongs to another manifest is an error that names it: regenerating instead would change
    the netlists the stored measurement was keyed on."""
    map_dir = Path(map_dir)
    path = map_dir / INPUTS_FILE
    data, why = check_entry(path)  # not read_entry: that deletes a bad cache entry; this file is kept
    if why is not None:
        raise ValueError(f"{path}: not used: {why}; store the inputs again "
                         f"(codesign.validation.inputs.store_inputs) or restore the file")
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as arrays:
        stored = {k: arrays[k] for k in arrays.files}
    if str(stored["manifest_sha256"]) != manifest_sha256(map_dir):
        raise ValueError(f"{path}: stored for another manifest.json than {map_dir}'s; store the inputs again "
                         f"or delete it")
    return stored


def test_sequences(map_dir: str | Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n test sequences (x [n, T, n_in], targets) of the task the mapped network was trained on."""
    stored = stored_inputs(map_dir)
    if stored is not None and n <= len(stored["x_test"]):
        return stored["x_test"][:n].astype(np.float64), stored["y_test"][:n]
    task = trained_task(map_dir)
    if n > len(task.x_test):
        raise ValueError(f"--sequences {n}: the task has {len(task.x_test)} test sequences")
    return task.x_test[:n].double().numpy(), task.y_test[:n].numpy()


def training_inputs(map_dir: str | Path, n: int) -> np.ndarray:
    """The first n training sequences' inputs x [n, T, n_in] (fewer if the split is smaller)."""
    stored = stored_inputs(map_dir)
    if stored is not None and (n <= len(stored["x_train"]) or len(stored["x_train"]) == stored["n_train_split"]):
        return stored["x_train"][:n].astype(np.float64)
    return trained_task(map_dir).x_train[:n].double().numpy()
