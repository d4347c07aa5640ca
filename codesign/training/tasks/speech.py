"""Keyword spotting from a folder in the Google Speech Commands layout.

    root/<word>/*.wav          16 kHz mono clips, one folder per keyword
    root/validation_list.txt   "word/file.wav" per line: the validation split
    root/testing_list.txt      "word/file.wav" per line: the test split

Every wav of a chosen word that is in neither list is training data. Clips are
zero-padded or cut to 1 s and turned into MFCC (or log-mel) frames by librosa
(25 ms window, 10 ms hop: 101 frames), with `deltas` > 0 followed by their
first (and second) time derivatives, librosa's delta over 9 frames. Raw
features are cached under <cache root>/features/<key>.npz (a verified entry:
used only while it matches its .sha256 file), the key hashing the folder, the
file list (with sizes and modification times) and the feature settings. With utterance_norm, each
clip's coefficients are then brought to zero mean and unit variance over its
own frames (so a voice's level and spectral colour do not decide); finally the
features are standardized per channel with train-split statistics. The Task
keeps this pipeline (`task.features`), so other recordings can be turned into
the same inputs (`codesign evaluate`).

SpecAugment-style masking is not here: it draws new masks for every batch, so
it belongs to the training loop, not to these fixed tensors.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...progress import progress_bar
from .base import (
    SPLITS,
    Task,
    TaskParamError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    check_words,
    split_rng,
    subset_size,
)
from .cache import cache_root, read_entry, settings_hash, write_entry

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s
LIST_FILES = {"val": "validation_list.txt", "test": "testing_list.txt"}
DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right")
FEATURE_KINDS = ("mfcc", "logmel")
# Bump when the feature computation changes, so old cache files are not reused.
FEATURE_CACHE_VERSION = 1
# Clips per librosa call: batches are much faster than one clip at a time,
# and this bounds the memory of one batch's spectrograms.
FEATURE_BATCH = 512
DELTA_WIDTH = 9  # frames of a delta's regression window (librosa's default)
LIST_ENTRY = re.compile(r"^[^/\s]+/[^/\s]+\.wav$")
MIN_SAMPLE_RATE = 8_000  # below this a recording lacks most of the speech band the features use


class SpeechDataError(ValueError):
    """A speech folder that cannot be read; the message names the path."""


class SpeechDataNotFoundError(FileNotFoundError, SpeechDataError):
    """A file or folder the speech layout needs is missing."""


@dataclass(frozen=True)
class FeatureSettings:
    kind: str = "mfcc"  # "mfcc" | "logmel"
    n_mfcc: int = 13
    n_mels: int = 40
    hop_ms: float = 10.0
    win_ms: float = 25.0
    fmin: float = 20.0
    fmax: float = 8000.0
    deltas: int = 0  # 1: each coefficient's time derivative appended; 2: also the second

    @property
    def hop_length(self) -> int:
        return round(SAMPLE_RATE * self.hop_ms / 1000)

    @property
    def win_length(self) -> int:
        return round(SAMPLE_RATE * self.win_ms / 1000)

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()  # next power of two

    @property
    def n_frames(self) -> int:
        return 1 + CLIP_SAMPLES // self.hop_length  # librosa centres frames

    @property
    def n_static(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def n_features(self) -> int:
        return self.n_static * (1 + self.deltas)


@dataclass(frozen=True)
class SpeechFeatures:
    """How a speech task turns 1 s, 16 kHz clips into its inputs (kept on the Task)."""

    settings: FeatureSettings
    utterance_norm: bool
    mean: np.ndarray  # [1, 1, features]: train-split statistics
    std: np.ndarray
    # Standardized values kept in [-clip, clip]: a chip's front end carries a bounded input
    # window, and its width sets the synapse array's currents (docs/results.md, "Keyword spotting").
    clip: float | None = None

    def standardize(self, raw: np.ndarray) -> torch.Tensor:
        """Raw [N, frames, features] features as the network's inputs."""
        if self.utterance_norm:
            raw = normalize_utterances(raw)
        x = (raw - self.mean) / self.std
        if self.clip is not None:
            x = np.clip(x, -self.clip, self.clip)
        return torch.from_numpy(x.astype(np.float32))

    def __call__(self, clips: np.ndarray) -> torch.Tensor:
        return self.standardize(extract_features(clips, self.settings))


def normalize_utterances(x: np.ndarray) -> np.ndarray:
    """[N, frames, features]: each clip's coefficients at zero mean and unit variance over its frames."""
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return (x - mean) / np.where(std > 1e-6, std, 1.0)  # a constant coefficient stays constant, not inf


def check_feature_clip(value) -> float | None:
    """Parameter feature_clip: None (off) or the bound of the standardized features, 0.5 .. 100."""
    return None if value is None else check_float("feature_clip", value, 0.5, 100.0)


def feature_settings(kind: str, n_mfcc: int, n_mels: int, hop_ms: float, win_ms: float,
                     deltas: int = 0) -> FeatureSettings:
    """Checked FeatureSettings from builder parameters."""
    kind = check_choice("features", kind, FEATURE_KINDS)
    n_mels = check_int("n_mels", n_mels, 8, 128)
    n_mfcc = check_int("n_mfcc", n_mfcc, 1, n_mels)
    win_ms = check_float("win_ms", win_ms, 5.0, 100.0)
    hop_ms = check_float("hop_ms", hop_ms, 1.0, win_ms)
    deltas = check_int("deltas", deltas, 0, 2)
    return FeatureSettings(kind=kind, n_mfcc=n_mfcc, n_mels=n_mels, hop_ms=hop_ms, win_ms=win_ms, deltas=deltas)


def build_speech_commands(
    seed: int = 0,
    *,
    root: str | Path | None = None,
    words: Sequence[str] = DEFAULT_WORDS,
    features: str = "mfcc",
    n_mfcc: int = 13,
    n_mels: int = 40,
    hop_ms: float = 10.0,
    win_ms: float = 25.0,
    deltas: int = 0,
    utterance_norm: bool = False,
    feature_clip: float | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    cache: bool = True,
) -> Task:
    """Keyword classification among `words` (class i = words[i]). ce + last.

    n_train, n_val, n_test (default None: all) keep a random subset of a split.
    """
    if not isinstance(root, (str, Path)) or not str(root):
        raise TaskParamError(
            f"parameter 'root' is required: the Speech Commands folder (root/<word>/*.wav) as a path, got {root!r}"
        )
    if not isinstance(cache, bool):
        raise TaskParamError(f"parameter 'cache' must be True or False, got {cache!r}")
    return task_from_folder(
        "speech_commands", Path(root).expanduser(), check_words("words", words),
        feature_settings(features, n_mfcc, n_mels, hop_ms, win_ms, deltas),
        seed, {"train": n_train, "val": n_val, "test": n_test}, use_cache=cache,
        utterance_norm=check_bool("utterance_norm", utterance_norm), feature_clip=check_feature_clip(feature_clip),
    )


def task_from_folder(
    name: str,
    root: Path,
    words: tuple[str, ...],
    settings: FeatureSettings,
    seed: int,
    limits: dict[str, int | None],
    *,
    use_cache: bool = True,
    utterance_norm: bool = False,
    feature_clip: float | None = None,
) -> Task:
    """Load, subsample and standardize a Speech Commands folder into a Task."""
    limits = {split: check_optional_int(f"n_{split}", n, 1) for split, n in limits.items()}
    raw = load_features(root, words, settings, use_cache=use_cache)
    picked = {}
    for split in SPLITS:
        x, y = raw[split]
        keep = subset_size(f"n_{split}", limits[split], len(y))
        order = split_rng(name, seed, split).permutation(len(y))[:keep]
        picked[split] = (x[order], y[order])

    x_train = picked["train"][0]
    if utterance_norm:
        x_train = normalize_utterances(x_train)
    std = x_train.std(axis=(0, 1), keepdims=True)
    features = SpeechFeatures(
        settings, utterance_norm, mean=x_train.mean(axis=(0, 1), keepdims=True),
        std=np.where(std > 1e-6, std, 1.0),  # a constant channel stays constant, not inf
        clip=feature_clip,
    )
    tensors = {}
    for split, (x, y) in picked.items():
        tensors[f"x_{split}"] = features.standardize(x)
        tensors[f"y_{split}"] = torch.from_numpy(y.astype(np.int64))
    return Task(
        name=name, **tensors,
        n_in=settings.n_features, n_out=len(words), loss="ce", readout="last",
        class_names=words, features=features, data_folder=root,
    )


def list_split_files(root: Path, words: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """(relative path, class index) of every clip of `words`, per split."""
    if not root.is_dir():
        raise SpeechDataNotFoundError(f"speech data folder {root} does not exist or is not a folder")
    class_of = {word: i for i, word in enumerate(words)}
    listed = {split: read_list_file(root, list_name, root / list_name) for split, list_name in LIST_FILES.items()}
    overlap = set(listed["val"]) & set(listed["test"])
    if overlap:
        raise SpeechDataError(
            f"{root}: {len(overlap)} clips are in both {LIST_FILES['val']} and {LIST_FILES['test']}, "
            f"e.g. {sorted(overlap)[0]}"
        )

    splits: dict[str, list[tuple[str, int]]] = {split: [] for split in SPLITS}
    for word in words:
        folder = root / word
        if not folder.is_dir():
            raise SpeechDataNotFoundError(f"word folder {folder} does not exist (words: {', '.join(words)})")
        on_disk = sorted(f"{word}/{p.name}" for p in folder.glob("*.wav"))
        if not on_disk:
            raise SpeechDataError(f"word folder {folder} has no .wav files")
        held_out = set()
        for split in ("val", "test"):
            for rel in listed[split]:
                if rel.split("/", 1)[0] != word:
                    continue
                if not (root / rel).is_file():
                    raise SpeechDataNotFoundError(
                        f"{root / LIST_FILES[split]} lists {rel}, but {root / rel} does not exist")
                splits[split].append((rel, class_of[word]))
                held_out.add(rel)
        splits["train"] += [(rel, class_of[word]) for rel in on_disk if rel not in held_out]

    for split, files in splits.items():
        if not files:
            source = root / LIST_FILES[split] if split in LIST_FILES else root
            raise SpeechDataError(f"{source}: no {split} clips for words {', '.join(words)}")
    return splits


def read_list_file(root: Path, list_name: str, path: Path) -> list[str]:
    """The "word/file.wav" entries of a split list, checked line by line."""
    if not path.is_file():
        raise SpeechDataNotFoundError(
            f"split list {path} is missing (expected in {root}, one 'word/file.wav' per line)")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SpeechDataError(f"split list {path} cannot be read as text: {err}") from err
    entries = []
    for number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry:
            continue
        if not LIST_ENTRY.match(entry):
            raise SpeechDataError(
                f"split list {path}, line {number}: {entry!r} is not of the form 'word/file.wav'"
            )
        entries.append(entry)
    return entries


def read_clip(path: Path, *, resample: bool = False) -> np.ndarray:
    """A 16 kHz clip as float32 mono, zero-padded or cut to exactly 1 s. Other
    sample rates are refused, or with `resample` converted (from 8 kHz up)."""
    import soundfile

    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, OSError) as err:
        raise SpeechDataError(f"cannot read {path} as audio: {err}") from err
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE and resample and rate >= MIN_SAMPLE_RATE:
        from scipy.signal import resample_poly

        mono = resample_poly(mono, SAMPLE_RATE, rate).astype(np.float32)  # resample_poly reduces the ratio
    elif rate != SAMPLE_RATE:
        lowest = f"; rates below {MIN_SAMPLE_RATE} Hz cannot be used" if resample else ""
        raise SpeechDataError(f"{path} has sample rate {rate} Hz; expected {SAMPLE_RATE} Hz{lowest}")
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    clip[: min(len(mono), CLIP_SAMPLES)] = mono[:CLIP_SAMPLES]
    return clip


def extract_features(clips: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """[N, samples] audio -> [N, frames, features] float32 MFCC or log-mel, then their deltas."""
    import librosa

    out = np.empty((len(clips), settings.n_frames, settings.n_static), dtype=np.float32)
    for start in range(0, len(clips), FEATURE_BATCH):
        batch = clips[start : start + FEATURE_BATCH]
        mel = librosa.feature.melspectrogram(
            y=batch, sr=SAMPLE_RATE, n_fft=settings.n_fft, hop_length=settings.hop_length,
            win_length=settings.win_length, n_mels=settings.n_mels,
            fmin=settings.fmin, fmax=settings.fmax, center=True, power=2.0,
        )
        # Absolute reference and no top_db clipping: keep the level of each
        # clip; standardization handles the scale afterwards.
        feats = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
        if settings.kind == "mfcc":
            feats = librosa.feature.mfcc(S=feats, n_mfcc=settings.n_mfcc)
        out[start : start + len(batch)] = np.swapaxes(feats, 1, 2)
    # A derivative over +-4 frames: a chip's front end delivers frame t's 40 ms later.
    deltas = [librosa.feature.delta(out, width=DELTA_WIDTH, order=k, axis=1) for k in range(1, settings.deltas + 1)]
    return np.concatenate([out, *deltas], axis=2).astype(np.float32) if deltas else out


def load_features(
    root: Path, words: Sequence[str], settings: FeatureSettings, *, use_cache: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Raw (unstandardized) features and labels per split, from cache when possible."""

    files = list_split_files(root, words)
    key = settings_hash({
        "version": FEATURE_CACHE_VERSION,
        "root": str(root.resolve()),
        "words": list(words),
        # deltas = 0 hashes as before deltas existed, so features cached then stay valid
        "settings": {k: v for k, v in asdict(settings).items() if k != "deltas" or v},
        "files": {split: [_file_identity(root, rel) for rel, _ in entries] for split, entries in files.items()},
    })
    cache_file = cache_root() / "features" / f"{key}.npz"
    if use_cache:
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached

    result = {}
    total = sum(len(entries) for entries in files.values())
    with progress_bar(total=total, desc=f"features {root.name}", unit="clip", leave=False) as bar:
        for split, entries in files.items():
            clips = np.empty((len(entries), CLIP_SAMPLES), dtype=np.float32)
            for i, (rel, _) in enumerate(entries):
                clips[i] = read_clip(root / rel)
                bar.update()
            labels = np.array([label for _, label in entries], dtype=np.int64)
            result[split] = (extract_features(clips, settings), labels)
    if use_cache:
        buffer = io.BytesIO()
        np.savez(buffer, **{f"{kind}_{split}": arr for split, pair in result.items() for kind, arr in zip("xy", pair)})
        write_entry(cache_file, buffer.getvalue())
    return result


def _file_identity(root: Path, rel: str) -> tuple[str, int, int]:
    stat = (root / rel).stat()
    return (rel, stat.st_size, stat.st_mtime_ns)


def _read_cache(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    data = read_entry(path)  # None: missing, or reported and deleted (edited, truncated, no hash)
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data)) as arrays:
            return {split: (arrays[f"x_{split}"], arrays[f"y_{split}"]) for split in SPLITS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        # Matches its hash but is not a feature file: written by a faulty version.
        print(f"codesign: cache file {path} not used: not a feature file ({err}); rebuilding it", file=sys.stderr)
        return None
