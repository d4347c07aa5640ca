"""Synthetic keyword spotting: words spoken by espeak-ng, in the Speech Commands layout.

Each clip draws a voice, speed, pitch and amplitude, is trimmed of silence,
resampled to 16 kHz, placed near the centre of a 1 s window with a random
shift, and mixed with white noise at a random SNR. Everything a clip uses is
drawn from its own seed (data seed, word, index), so a clip is the same
whichever order or run writes it. Clips land in
<cache root>/kws_synth/<hash of the settings>/<word>/clipNNNN.wav with
validation_list.txt and testing_list.txt (a random split per word), and are
read back by the speech_commands loader. Each clip is a verified entry and
generation resumes (generated.py). kws_multi (several synthesizers, held-out
voices or synthesizers) builds on the same parts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .augment import limit_peak, mix_at_snr, place
from .base import Task, TaskParamError, check_bool, check_float, check_int, check_optional_int, check_range, check_words
from .cache import cache_root, settings_hash
from .generated import clip_rng, generate_missing, held_out_indices, write_text_if_changed
from .speech import (
    CLIP_SAMPLES,
    DEFAULT_WORDS,
    LIST_FILES,
    SAMPLE_RATE,
    check_feature_clip,
    feature_settings,
    task_from_folder,
)
from .synthesizers import Espeak, espeak_wav, find_espeak
from .synthesizers import check_espeak_voices as check_voices

# Accents x variants of espeak-ng's stock English voices (no mbrola needed).
DEFAULT_VOICES = (
    "en-us+m1", "en-us+m3", "en-us+f2", "en-us+f4", "en-us+klatt",
    "en+m2", "en+m5", "en+f1", "en+f3",
    "en-gb-x-rp+m4", "en-gb-scotland+m7", "en-029+f5",
)
# Bump when the rendering below changes, so old folders are not reused.
# 2: clips carry a .sha256 file (a version-1 folder would report every clip as unverified).
GENERATOR_VERSION = 2
TRIM_TOP_DB = 40.0  # silence threshold for trimming espeak's leading/trailing pauses
# Generation time and disk: one espeak-ng call and 32 kB per clip (the real
# Speech Commands set has ~105 000 clips).
MAX_PER_WORD = 10_000
MAX_CLIPS = 200_000


@dataclass(frozen=True)
class SynthSettings:
    """Everything that decides the generated audio (hashed into the folder name)."""

    words: tuple[str, ...]
    n_per_word: int
    voices: tuple[str, ...]
    speed_wpm: tuple[int, int]  # espeak-ng -s, words per minute
    pitch: tuple[int, int]  # espeak-ng -p, 0..99
    amplitude: tuple[int, int]  # espeak-ng -a, 0..200
    snr_db: tuple[float, float]
    max_shift_ms: float
    val_frac: float
    test_frac: float
    data_seed: int
    espeak_version: str

    def folder(self) -> Path:
        key = settings_hash({"generator": GENERATOR_VERSION, **asdict(self)})
        return cache_root() / "kws_synth" / key

    def split_counts(self) -> tuple[int, int]:
        """(validation, test) clips per word; at least one each."""
        n_val = max(1, round(self.val_frac * self.n_per_word))
        n_test = max(1, round(self.test_frac * self.n_per_word))
        return n_val, n_test


@dataclass(frozen=True)
class ClipRecipe:
    word: str
    index: int
    voice: str
    speed_wpm: int
    pitch: int
    amplitude: int
    snr_db: float
    shift: float  # fraction of max_shift_ms, in [-1, 1]
    noise_seed: int

    @property
    def rel_path(self) -> str:
        return f"{self.word}/clip{self.index:04d}.wav"


def clip_recipes(settings: SynthSettings) -> list[ClipRecipe]:
    recipes = []
    for word in settings.words:
        for index in range(settings.n_per_word):
            rng = clip_rng(settings.data_seed, word, index)
            recipes.append(ClipRecipe(
                word=word,
                index=index,
                voice=settings.voices[rng.integers(len(settings.voices))],
                speed_wpm=int(rng.integers(settings.speed_wpm[0], settings.speed_wpm[1] + 1)),
                pitch=int(rng.integers(settings.pitch[0], settings.pitch[1] + 1)),
                amplitude=int(rng.integers(settings.amplitude[0], settings.amplitude[1] + 1)),
                snr_db=float(rng.uniform(*settings.snr_db)),
                shift=float(rng.uniform(-1.0, 1.0)),
                noise_seed=int(rng.integers(2**63)),
            ))
    return recipes


def split_lists(settings: SynthSettings) -> dict[str, list[str]]:
    """Relative paths of the validation and test clips (the rest is training)."""
    n_val, n_test = settings.split_counts()
    lists: dict[str, list[str]] = {"val": [], "test": []}
    for word in settings.words:
        val, test = held_out_indices(settings.data_seed, word, settings.n_per_word, n_val, n_test)
        lists["val"] += [f"{word}/clip{i:04d}.wav" for i in val]
        lists["test"] += [f"{word}/clip{i:04d}.wav" for i in test]
    return lists


def speak(recipe: ClipRecipe, espeak: Espeak) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of one word: (mono float32 audio, sample rate)."""
    return espeak_wav(espeak, recipe.word, recipe.voice, recipe.speed_wpm, recipe.pitch, recipe.amplitude)


def render(recipe: ClipRecipe, settings: SynthSettings, espeak: Espeak) -> np.ndarray:
    """One 1 s, 16 kHz clip: trimmed word, shifted, plus noise at the recipe's SNR."""
    import librosa

    speech, rate = speak(recipe, espeak)
    speech, _ = librosa.effects.trim(speech, top_db=TRIM_TOP_DB)
    speech = librosa.resample(speech, orig_sr=rate, target_sr=SAMPLE_RATE)[:CLIP_SAMPLES]
    clip = place(speech, round(recipe.shift * settings.max_shift_ms * SAMPLE_RATE / 1000))
    signal_power = float(np.mean(speech**2)) if len(speech) else 0.0
    noise = np.random.default_rng(recipe.noise_seed).standard_normal(CLIP_SAMPLES).astype(np.float32)
    return limit_peak(mix_at_snr(clip, noise, signal_power, recipe.snr_db))


def generate(settings: SynthSettings, espeak: Espeak) -> Path:
    """Write the clips and split lists that are not on disk yet; return the folder."""
    folder = settings.folder()
    generate_missing(folder, clip_recipes(settings), lambda r: render(r, settings, espeak), asdict(settings),
                     "kws_synth clips")
    for split, entries in split_lists(settings).items():
        write_text_if_changed(folder / LIST_FILES[split], "".join(f"{rel}\n" for rel in entries))
    return folder


def build_kws_synth(
    seed: int = 0,
    *,
    words: Sequence[str] = DEFAULT_WORDS,
    n_per_word: int = 60,
    voices: Sequence[str] = DEFAULT_VOICES,
    speed_wpm: tuple[int, int] = (130, 200),
    pitch: tuple[int, int] = (25, 75),
    amplitude: tuple[int, int] = (50, 150),
    snr_db: tuple[float, float] = (10.0, 30.0),
    max_shift_ms: float = 200.0,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    data_seed: int | None = None,
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
) -> Task:
    """Keyword classification on espeak-ng speech (class i = words[i]). ce + last.

    data_seed (default: seed) picks the generated clips; seed alone also picks
    the subsets kept by n_train/n_val/n_test.
    """
    words = check_words("words", words)
    n_per_word = check_int("n_per_word", n_per_word, 3, MAX_PER_WORD)
    if len(words) * n_per_word > MAX_CLIPS:
        raise TaskParamError(f"parameters 'words' x 'n_per_word' = {len(words)} x {n_per_word} clips, "
                             f"above the limit of {MAX_CLIPS} clips")
    val_frac = check_float("val_frac", val_frac, 0.0, 0.5, lo_open=True)
    test_frac = check_float("test_frac", test_frac, 0.0, 0.5, lo_open=True)
    data_seed = check_optional_int("data_seed", data_seed, 0)
    feats = feature_settings(features, n_mfcc, n_mels, hop_ms, win_ms, deltas)
    espeak = find_espeak()
    settings = SynthSettings(
        words=words,
        n_per_word=n_per_word,
        voices=check_voices(voices, espeak),
        speed_wpm=_int_range("speed_wpm", speed_wpm, 80, 450),
        pitch=_int_range("pitch", pitch, 0, 99),
        amplitude=_int_range("amplitude", amplitude, 10, 200),
        snr_db=check_range("snr_db", snr_db, -10.0, 60.0),
        max_shift_ms=check_float("max_shift_ms", max_shift_ms, 0.0, 500.0),
        val_frac=val_frac,
        test_frac=test_frac,
        data_seed=seed if data_seed is None else data_seed,
        espeak_version=espeak.version,
    )
    n_val_word, n_test_word = settings.split_counts()
    if n_val_word + n_test_word >= n_per_word:
        raise TaskParamError(
            f"parameters 'val_frac'+'test_frac' leave no training clips with n_per_word={n_per_word}; "
            "raise n_per_word or lower the fractions"
        )
    # checked before any clip is rendered
    utterance_norm, feature_clip = check_bool("utterance_norm", utterance_norm), check_feature_clip(feature_clip)
    folder = generate(settings, espeak)
    return task_from_folder(
        "kws_synth", folder, words, feats, seed, {"train": n_train, "val": n_val, "test": n_test},
        utterance_norm=utterance_norm, feature_clip=feature_clip,
    )


def _int_range(name: str, value, lo: int, hi: int) -> tuple[int, int]:
    low, high = check_range(name, value, lo, hi)
    return (round(low), round(high))
