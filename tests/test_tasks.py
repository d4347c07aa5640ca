"""Tests of codesign.training.tasks: the Task contract, each task's semantics,
the Speech Commands loader's errors, and the espeak-ng keyword set."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from codesign.training.tasks import TASKS, Task, TaskParamError, make_task, task_params
from codesign.training.tasks.cache import CACHE_ENV_VAR, cache_root
from codesign.training.tasks.digits import split_indices
from codesign.training.tasks.speech import SpeechDataError, SpeechDataNotFoundError, extract_features, read_clip

SMALL = {
    "cue_recall": dict(T=20, n_classes=3, n_train=64, n_val=16, n_test=16),
    "flipflop": dict(k=3, T=30, p_pulse=0.1, n_train=64, n_val=16, n_test=16),
    "adding": dict(T=20, n_train=64, n_val=16, n_test=16),
    "digits": dict(mode="rows", n_train=200, n_val=50, n_test=50),
}
SPLITS = ("train", "val", "test")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test writes its cache under tmp_path, never under ~/.cache."""
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))


def all_tensors(task: Task) -> list[torch.Tensor]:
    return [t for split in SPLITS for t in task.split(split)]


# --- registry and parameter errors -------------------------------------------


def test_registry_lists_every_task():
    assert set(TASKS) == {"cue_recall", "flipflop", "adding", "digits", "speech_commands", "kws_synth", "kws_multi"}
    for name in TASKS:
        params = task_params(name)
        assert {"n_train", "n_val", "n_test"} <= set(params), name


def test_unknown_task_names_it_and_lists_known():
    assert issubclass(TaskParamError, ValueError)
    with pytest.raises(TaskParamError, match="unknown task 'copy'") as err:
        make_task("copy")
    assert "cue_recall" in str(err.value) and "kws_synth" in str(err.value)


def test_unknown_parameter_is_named_with_the_allowed_ones():
    with pytest.raises(ValueError, match="'bits'") as err:
        make_task("flipflop", bits=3)
    assert "p_pulse" in str(err.value)


@pytest.mark.parametrize(
    "name, params, fragment",
    [
        ("cue_recall", dict(T=1), r"'T' must be in \[2, 100000\]"),
        ("cue_recall", dict(n_classes=1.5), "'n_classes' must be an integer"),
        ("flipflop", dict(p_pulse=1.5), r"'p_pulse' must be in \[0.0, 1.0\]"),
        ("flipflop", dict(k=True), "'k' must be an integer"),
        ("adding", dict(n_train=0), r"'n_train' must be in \[1, 1000000\]"),
        ("digits", dict(mode="columns"), "'mode' must be one of 'rows', 'pixels'"),
        ("digits", dict(n_train=5000), "'n_train' must be <= "),
        ("speech_commands", dict(), "'root' is required"),
        ("speech_commands", dict(root="/x", features="mel"), "'features'"),
        ("kws_synth", dict(n_per_word=2), r"'n_per_word' must be in \[3, 10000\]"),
    ],
)
def test_bad_parameter_values_are_named(name, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        make_task(name, **params)


@pytest.mark.parametrize(
    "name, params, fragment",
    [
        ("flipflop", dict(n_train=10**12), r"'n_train' must be in \[1, 1000000\], got 1000000000000"),
        ("adding", dict(n_test=1e12), r"'n_test' must be an integer in \[1, 1000000\], got 1000000000000.0"),
        ("cue_recall", dict(n_val=10**7), r"'n_val' must be in \[1, 1000000\]"),
        ("cue_recall", dict(T=10**9), r"'T' must be in \[2, 100000\]"),
        ("flipflop", dict(k=10**6), r"'k' must be in \[1, 1024\]"),
        ("cue_recall", dict(n_classes=10**6), r"'n_classes' must be in \[2, 1024\]"),
        ("flipflop", dict(k=3, T=100_000, n_train=1_000_000),
         r"1000400 examples x 100000 steps x 3 inputs = 3e\+11 input values, above the limit of 268435456"),
        ("digits", dict(n_train=10**12), "'n_train' must be <= "),
        ("kws_synth", dict(n_per_word=10**6), r"'n_per_word' must be in \[3, 10000\]"),
        ("kws_synth", dict(words=tuple(f"w{i}" for i in range(30)), n_per_word=10_000),
         "30 x 10000 clips, above the limit of 200000"),
    ],
)
def test_sizes_have_upper_limits_named_in_the_message(name, params, fragment):
    """Refused before anything is allocated or generated (a 1e12 split would ask for TiB)."""
    with pytest.raises(TaskParamError, match=fragment):
        make_task(name, **params)


def test_bad_seed_is_named():
    with pytest.raises(ValueError, match="'seed'"):
        make_task("adding", seed=-1)


def test_task_rejects_tensors_that_disagree_with_its_facts():
    x = torch.zeros(4, 5, 2)
    with pytest.raises(ValueError, match="y must be torch.int64"):
        Task("t", x, torch.zeros(4), x, torch.zeros(4), x, torch.zeros(4),
             n_in=2, n_out=3, loss="ce", readout="last")


# --- shapes, dtypes, determinism ---------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_shapes_and_dtypes_follow_the_contract(name):
    task = make_task(name, seed=0, **SMALL[name])
    assert task.name == name
    for split in SPLITS:
        x, y = task.split(split)
        n_wanted = SMALL[name][f"n_{split}"]
        assert x.dtype == torch.float32 and x.dim() == 3 and x.shape[0] == n_wanted
        assert x.shape[2] == task.n_in
        assert torch.isfinite(x).all()
        if task.loss == "ce":
            assert task.readout == "last" and y.dtype == torch.int64 and y.shape == (n_wanted,)
            assert 0 <= y.min() and y.max() < task.n_out
        elif task.loss == "bce":
            assert task.readout == "per_step" and y.dtype == torch.float32
            assert y.shape == (n_wanted, x.shape[1], task.n_out)
            assert set(y.unique().tolist()) <= {0.0, 1.0}
        else:
            assert task.readout == "last" and y.dtype == torch.float32 and y.shape == (n_wanted, task.n_out)


@pytest.mark.parametrize("name", SMALL)
def test_same_seed_same_data_other_seed_other_data(name):
    a = make_task(name, seed=3, **SMALL[name])
    b = make_task(name, seed=3, **SMALL[name])
    c = make_task(name, seed=4, **SMALL[name])
    assert all(torch.equal(s, t) for s, t in zip(all_tensors(a), all_tensors(b)))
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_test, c.x_test)


@pytest.mark.parametrize("name", ["cue_recall", "flipflop", "adding"])
def test_val_and_test_do_not_move_when_n_train_changes(name):
    a = make_task(name, seed=1, **SMALL[name])
    b = make_task(name, seed=1, **{**SMALL[name], "n_train": 10})
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_test, b.y_test)
    assert b.x_train.shape[0] == 10


def test_defaults_are_the_documented_ones():
    assert task_params("cue_recall")["T"] == 500 and task_params("cue_recall")["n_classes"] == 4
    ff = task_params("flipflop")
    assert (ff["k"], ff["T"], ff["p_pulse"]) == (3, 100, 0.05)
    assert task_params("adding")["T"] == 100


# --- task semantics ----------------------------------------------------------


def test_cue_recall_target_is_the_cue_and_the_flag_marks_the_last_step():
    n_classes, T = 5, 30
    task = make_task("cue_recall", seed=2, T=T, n_classes=n_classes, noise=0.2, n_train=200, n_val=8, n_test=8)
    x, y = task.x_train, task.y_train
    assert task.n_in == n_classes + 1 and task.n_out == n_classes
    cue_step = x[:, 0, :n_classes]
    assert torch.equal(cue_step.sum(1), torch.ones(len(y)))
    assert torch.equal(cue_step.argmax(1), y)
    flag = x[:, :, n_classes]
    assert torch.equal(flag[:, -1], torch.ones(len(y))) and flag[:, :-1].abs().sum() == 0
    assert x[:, -1, :n_classes].abs().sum() == 0
    distractors = x[:, 1:-1, :n_classes]
    assert 0.15 < distractors.std() < 0.25  # the noise parameter
    assert set(y.tolist()) == set(range(n_classes))


def reference_flipflop_states(x: np.ndarray) -> np.ndarray:
    """A plain loop, independent of the vectorized implementation."""
    n, T, k = x.shape
    state = np.zeros((n, T, k), dtype=np.float32)
    for i in range(n):
        for b in range(k):
            bit = None
            for t in range(T):
                if x[i, t, b] != 0:
                    bit = 1.0 if x[i, t, b] > 0 else 0.0
                state[i, t, b] = bit
    return state


def test_flipflop_targets_follow_the_last_pulse():
    task = make_task("flipflop", seed=5, k=4, T=50, p_pulse=0.1, n_train=40, n_val=4, n_test=4)
    x, y = task.x_train.numpy(), task.y_train.numpy()
    assert set(np.unique(x).tolist()) <= {-1.0, 0.0, 1.0}
    assert (x[:, 0, :] != 0).all()  # every bit pulsed at t=0
    rate = (x[:, 1:, :] != 0).mean()
    assert 0.06 < rate < 0.14
    np.testing.assert_array_equal(y, reference_flipflop_states(x))
    # The targets change over time, so this is more than a copy of step 0.
    assert (y[:, 1:] != y[:, :-1]).any()


def test_adding_target_is_the_sum_of_the_two_marked_values():
    T = 40
    task = make_task("adding", seed=6, T=T, n_train=300, n_val=4, n_test=4)
    x, y = task.x_train, task.y_train
    values, marks = x[:, :, 0], x[:, :, 1]
    assert 0 <= values.min() and values.max() < 1
    assert torch.equal(marks.sum(1), torch.full((len(y),), 2.0))
    assert torch.equal(marks[:, : T // 2].sum(1), torch.ones(len(y)))
    assert torch.allclose(y[:, 0], (values * marks).sum(1), atol=1e-6)
    assert 0.8 < y.mean() < 1.2  # two U(0,1) values: mean 1


def test_digits_splits_are_disjoint_stratified_and_complete():
    from sklearn.datasets import load_digits

    labels = load_digits().target
    parts = split_indices(labels, seed=0, val_frac=0.15, test_frac=0.15)
    sets = {split: set(idx.tolist()) for split, idx in parts.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert len(sets["train"] | sets["val"] | sets["test"]) == len(labels) == 1797
    overall = np.bincount(labels, minlength=10) / len(labels)
    for idx in parts.values():
        share = np.bincount(labels[idx], minlength=10) / len(idx)
        assert np.abs(share - overall).max() < 0.01
    task = make_task("digits", seed=0)  # the whole split by default
    assert [len(task.split(s)[1]) for s in SPLITS] == [len(parts[s]) for s in SPLITS]
    assert set(task.y_test.tolist()) == set(range(10))


def test_digits_pixels_and_rows_hold_the_same_scaled_images():
    rows = make_task("digits", seed=1, mode="rows")
    pixels = make_task("digits", seed=1, mode="pixels")
    assert rows.x_train.shape[1:] == (8, 8) and rows.n_in == 8
    assert pixels.x_train.shape[1:] == (64, 1) and pixels.n_in == 1
    assert torch.equal(rows.x_train.reshape(-1, 64, 1), pixels.x_train)
    assert torch.equal(rows.y_train, pixels.y_train)
    assert rows.x_train.min() == 0.0 and rows.x_train.max() == 1.0


# --- Speech Commands folder loader -------------------------------------------


def write_tone(path: Path, freq: float, rate: int = 16_000, seconds: float = 0.8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * freq * t), rate, subtype="PCM_16")


def make_speech_folder(root: Path, words=("go", "stop"), per_word: int = 4) -> Path:
    """A tiny folder in the Speech Commands layout: clip 0 validation, 1 test."""
    for w, word in enumerate(words):
        for i in range(per_word):
            write_tone(root / word / f"spk{i}_nohash_0.wav", 300.0 * (w + 1) + 20 * i)
    (root / "validation_list.txt").write_text("".join(f"{w}/spk0_nohash_0.wav\n" for w in words) + "other/x.wav\n")
    (root / "testing_list.txt").write_text("".join(f"{w}/spk1_nohash_0.wav\n" for w in words))
    return root


def test_speech_loader_reads_the_layout_and_standardizes(tmp_path):
    root = make_speech_folder(tmp_path / "sc")
    task = make_task("speech_commands", root=str(root), words=("go", "stop"))
    assert task.class_names == ("go", "stop") and task.n_out == 2 and task.n_in == 13
    assert task.x_train.shape == (4, 101, 13) and task.x_val.shape == (2, 101, 13) and task.x_test.shape == (2, 101, 13)
    assert sorted(task.y_train.tolist()) == [0, 0, 1, 1] and sorted(task.y_val.tolist()) == [0, 1]
    per_channel_mean = task.x_train.mean(dim=(0, 1))
    assert per_channel_mean.abs().max() < 1e-4
    logmel = make_task("speech_commands", root=root, words=("go", "stop"), features="logmel", n_mels=32)
    assert logmel.x_train.shape == (4, 101, 32)
    assert list((tmp_path / "cache" / "features").glob("*.npz"))  # cached under CODESIGN_CACHE_DIR


def test_deltas_append_each_coefficients_time_derivative_to_the_same_static_features(tmp_path):
    import librosa

    root = make_speech_folder(tmp_path / "sc")
    plain = make_task("speech_commands", root=root, words=("go", "stop"))
    rich = make_task("speech_commands", root=root, words=("go", "stop"), deltas=2)
    assert rich.n_in == 39 and rich.x_train.shape == (4, 101, 39)
    assert torch.allclose(rich.x_train[..., :13], plain.x_train)  # standardized per channel
    raw = rich.features.settings  # the settings the evaluate path turns new audio with
    clips = np.stack([read_clip(root / "go" / "spk2_nohash_0.wav")])
    static = extract_features(clips, dataclasses.replace(raw, deltas=0))
    both = extract_features(clips, raw)
    np.testing.assert_allclose(both[..., 13:26], librosa.feature.delta(static, width=9, axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both[..., 26:], librosa.feature.delta(static, width=9, order=2, axis=1),
                               rtol=1e-5, atol=1e-5)
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 2  # its own cache entry
    with pytest.raises(TaskParamError, match="deltas"):
        make_task("speech_commands", root=root, words=("go", "stop"), deltas=3)


def test_speech_loader_reuses_its_feature_cache(tmp_path):
    root = make_speech_folder(tmp_path / "sc")
    first = make_task("speech_commands", root=root, words=("go", "stop"))
    # Break a training clip in place but keep its size and time stamp: a cache
    # hit must not read it again, which proves the features come from the cache.
    clip = root / "go" / "spk2_nohash_0.wav"
    stat = clip.stat()
    clip.write_bytes(b"\0" * stat.st_size)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = make_task("speech_commands", root=root, words=("go", "stop"))
    assert torch.equal(first.x_train, second.x_train)
    with pytest.raises(SpeechDataError, match="spk2_nohash_0.wav"):
        make_task("speech_commands", root=root, words=("go", "stop"), cache=False)


def test_a_damaged_feature_cache_is_reported_and_recomputed(tmp_path, capsys):
    root = make_speech_folder(tmp_path / "sc")
    first = make_task("speech_commands", root=root, words=("go", "stop"))
    (cache_file,) = (tmp_path / "cache" / "features").glob("*.npz")
    good = cache_file.read_bytes()
    capsys.readouterr()

    # One byte changed inside the stored arrays: the file still loads, with other values.
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0x01
    cache_file.write_bytes(bytes(damaged))
    second = make_task("speech_commands", root=root, words=("go", "stop"))
    assert f"cache file {cache_file} not used" in capsys.readouterr().err
    assert torch.equal(first.x_train, second.x_train) and cache_file.read_bytes() == good

    # Cut short, with a training clip broken in place (same size and time stamp): the
    # features must be computed again, so the broken clip is read and named.
    cache_file.write_bytes(good[: len(good) // 3])
    clip = root / "go" / "spk2_nohash_0.wav"
    stat = clip.stat()
    clip.write_bytes(b"\0" * stat.st_size)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(SpeechDataError, match="spk2_nohash_0.wav"):
        make_task("speech_commands", root=root, words=("go", "stop"))
    assert "does not match" in capsys.readouterr().err


def break_missing_list(root: Path) -> Path:
    (root / "testing_list.txt").unlink()
    return root / "testing_list.txt"


def break_malformed_list(root: Path) -> Path:
    (root / "validation_list.txt").write_text("go/spk0_nohash_0.wav\nthis line is wrong\n")
    return root / "validation_list.txt"


def break_missing_word(root: Path) -> Path:
    shutil.rmtree(root / "stop")
    return root / "stop"


def break_bad_wav(root: Path) -> Path:
    bad = root / "go" / "spk3_nohash_0.wav"
    bad.write_bytes(b"RIFF not really a wav")
    return bad


def break_sample_rate(root: Path) -> Path:
    bad = root / "stop" / "spk2_nohash_0.wav"
    write_tone(bad, 440.0, rate=8_000)
    return bad


def break_listed_file_missing(root: Path) -> Path:
    (root / "stop" / "spk1_nohash_0.wav").unlink()
    return root / "stop" / "spk1_nohash_0.wav"


@pytest.mark.parametrize(
    "breaker, error, words",
    [
        (break_missing_list, SpeechDataNotFoundError, "is missing"),
        (break_malformed_list, SpeechDataError, "line 2"),
        (break_missing_word, SpeechDataNotFoundError, "does not exist"),
        (break_bad_wav, SpeechDataError, "cannot read"),
        (break_sample_rate, SpeechDataError, "8000 Hz"),
        (break_listed_file_missing, SpeechDataNotFoundError, "does not exist"),
    ],
)
def test_speech_loader_errors_name_the_path(tmp_path, breaker, error, words):
    root = make_speech_folder(tmp_path / "sc")
    path = breaker(root)
    with pytest.raises(error) as err:
        make_task("speech_commands", root=root, words=("go", "stop"))
    assert str(path) in str(err.value) and words in str(err.value)


def test_speech_loader_missing_root_is_a_file_not_found_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        make_task("speech_commands", root=missing)


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"
    monkeypatch.delenv(CACHE_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "codesign"


# --- espeak-ng keyword set ---------------------------------------------------

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed (apt-get install espeak-ng)")
KWS = dict(words=("yes", "no"), n_per_word=6, n_train=None)


@needs_espeak
def test_kws_synth_writes_the_layout_and_loads_features(tmp_path, capfd):
    task = make_task("kws_synth", seed=0, **KWS)
    folders = list((tmp_path / "cache" / "kws_synth").iterdir())
    assert len(folders) == 1
    folder = folders[0]
    assert (folder / "settings.json").is_file()
    val = (folder / "validation_list.txt").read_text().split()
    test = (folder / "testing_list.txt").read_text().split()
    assert len(val) == 2 and len(test) == 2 and not set(val) & set(test)  # one per word each
    clips = sorted(folder.glob("*/*.wav"))
    assert len(clips) == 12 and {c.parent.name for c in clips} == {"yes", "no"}
    audio, rate = soundfile.read(clips[0])
    assert rate == 16_000 and audio.shape == (16_000,) and np.abs(audio).max() > 0.01

    assert task.x_train.shape == (8, 101, 13) and task.x_val.shape == (2, 101, 13) and task.x_test.shape == (2, 101, 13)
    assert task.n_out == 2 and task.class_names == ("yes", "no")
    assert sorted(task.y_train.tolist()) == [0] * 4 + [1] * 4

    # Resume: a deleted clip is rewritten byte for byte, the rest are kept.
    victim = folder / "no" / "clip0002.wav"
    kept = folder / "yes" / "clip0000.wav"
    original, kept_mtime = victim.read_bytes(), kept.stat().st_mtime_ns
    victim.unlink()
    again = make_task("kws_synth", seed=0, **KWS)
    assert victim.read_bytes() == original and kept.stat().st_mtime_ns == kept_mtime
    assert torch.equal(again.x_train, task.x_train)

    # A clip edited in place (one sample) or cut short is reported and generated again.
    edited, cut = folder / "yes" / "clip0003.wav", folder / "no" / "clip0004.wav"
    good = {path: path.read_bytes() for path in (edited, cut)}
    damaged = bytearray(good[edited])
    damaged[-100] ^= 0x10
    edited.write_bytes(bytes(damaged))
    cut.write_bytes(good[cut][:1000])
    capfd.readouterr()
    make_task("kws_synth", seed=0, **KWS)
    err = capfd.readouterr().err
    for path in (edited, cut):
        assert f"cache file {path} not used" in err and path.read_bytes() == good[path]


@needs_espeak
def test_kws_synth_rejects_an_unknown_voice_variant():
    with pytest.raises(ValueError, match="'voices'.*'robotx'"):
        make_task("kws_synth", words=("yes", "no"), n_per_word=3, voices=("en+robotx",))
