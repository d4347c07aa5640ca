"""A map folder's stored inputs: read back as generated, preferred to regeneration, and refused
when they do not belong to the map (so a sweep's keys never change silently)."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from codesign.fsio import write_entry
from codesign.validation import inputs
from codesign.validation.inputs import INPUTS_FILE, store_inputs, training_inputs

GOLDEN = Path(__file__).parent / "golden" / "maps" / "cmru"


@pytest.fixture
def map_dir(tmp_path):
    return Path(shutil.copytree(GOLDEN, tmp_path / "map"))


def test_stored_inputs_are_the_generated_ones(map_dir):
    x, y = inputs.test_sequences(map_dir, 5)
    train = training_inputs(map_dir, 7)
    store_inputs(map_dir, 5, 7)
    xs, ys = inputs.test_sequences(map_dir, 5)
    assert xs.dtype == np.float64 and np.array_equal(xs, x) and np.array_equal(ys, y)
    assert np.array_equal(training_inputs(map_dir, 7), train)
    # more than stored: regenerated, and the stored ones are its first rows
    x8, _ = inputs.test_sequences(map_dir, 8)
    assert np.array_equal(x8[:5], x) and len(x8) == 8


def test_stored_inputs_win_over_regeneration(map_dir):
    """What another machine would see: stored inputs that differ from this machine's in the last bits."""
    path = store_inputs(map_dir, 3, 4)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["x_test"] = np.nextafter(arrays["x_test"], np.float32(np.inf))
    arrays["x_train"] = arrays["x_train"] + np.float32(1.0)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_entry(path, buffer.getvalue())
    assert np.array_equal(inputs.test_sequences(map_dir, 3)[0], arrays["x_test"].astype(np.float64))
    assert not np.array_equal(inputs.test_sequences(map_dir, 3)[0], inputs.test_sequences(map_dir, 4)[0][:3])
    assert np.array_equal(training_inputs(map_dir, 4), arrays["x_train"].astype(np.float64))


def test_a_damaged_or_foreign_file_is_refused(map_dir):
    path = store_inputs(map_dir, 2, 2)
    manifest = map_dir / "manifest.json"
    manifest.write_text(manifest.read_text() + " ")
    with pytest.raises(ValueError, match="another manifest.json"):
        inputs.test_sequences(map_dir, 2)
    store_inputs(map_dir, 2, 2)
    damaged = path.read_bytes()[:-10]
    path.write_bytes(damaged)
    with pytest.raises(ValueError, match=INPUTS_FILE):
        training_inputs(map_dir, 2)
    assert path.read_bytes() == damaged  # kept for inspection, not deleted as a cache entry would be
    (map_dir / f"{INPUTS_FILE}.sha256").unlink()
    with pytest.raises(ValueError, match="no hash file"):
        inputs.test_sequences(map_dir, 2)
    assert path.read_bytes() == damaged
