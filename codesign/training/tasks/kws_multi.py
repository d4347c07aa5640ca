"""Keyword spotting spoken by several synthesizers, with splits that hold out voices or a synthesizer.

Classes: the keywords (default: the ten Speech Commands keywords), "unknown"
(other words) and "_silence_" (noise only). A clip is one word spoken by one
voice (espeak-ng, festival or flite; voices in turn, so every class has every
voice), at a drawn speed and pitch, trimmed, warped in frequency (VTLP),
optionally limited to the telephone band, shifted in the 1 s window,
optionally reverberated in a simulated room, mixed
with white, pink or brown noise at a drawn SNR and scaled by a drawn gain
(augment.py). Every value a clip uses is drawn from its own seed, and clips
are verified entries that generation resumes (generated.py).

    <cache>/kws_multi/<audio key>/clips/<class>/clipNNNN.wav    audio, settings.json, clips.csv
    <cache>/kws_multi/<audio key>/<split>-<split key>/          a Speech Commands folder: a link per
        class to ../clips/<class>, validation_list.txt, testing_list.txt, split.json

The audio key hashes what decides the audio, the split key the split, so
recipes that differ only in their split share the clips. Splits:

    random       per class, val_frac and test_frac of the clips at random (every voice in every split)
    voice        clips of val_speakers -> validation, of test_speakers -> test, the rest training;
                 speakers, not voices: festival's and flite's voices of one recorded speaker go together
    synthesizer  every clip of held_out -> test; of the others val_frac at random -> validation
_silence_ clips have no speaker or synthesizer: every split mode splits them at random.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from importlib.metadata import version
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .augment import (
    NOISE_EXPONENTS,
    coloured_noise,
    limit_peak,
    mix_at_snr,
    narrowband,
    place,
    reverberate,
    room_impulse_response,
    warp_frequencies,
)
from .base import (
    Task,
    TaskParamError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    check_range,
    check_words,
)
from .cache import cache_root, settings_hash
from .generated import clip_rng, generate_missing, held_out_indices, write_text_if_changed
from .speech import CLIP_SAMPLES, LIST_FILES, SAMPLE_RATE, check_feature_clip, feature_settings, task_from_folder
from .synthesizers import SynthesizerError, Voice, check_installed, find_program, parse_voice, synthesize

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# Speech Commands' own other words (some sound like keywords: tree/three, dog/down).
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "follow", "learn", "forward", "backward", "visual",
)
UNKNOWN = "unknown"
SILENCE = "_silence_"
DEFAULT_VOICES = (
    "festival:kal_diphone", "festival:ked_diphone", "festival:cmu_us_slt_arctic_hts",
    "flite:kal", "flite:kal16", "flite:awb", "flite:rms", "flite:slt",
    "espeak-ng:en-us+m1", "espeak-ng:en-us+f1", "espeak-ng:en+f4", "espeak-ng:en-029+f5", "espeak-ng:en-us+klatt",
    "espeak-ng:en-us+f2", "espeak-ng:en-gb-x-rp+m4", "espeak-ng:en+f3", "espeak-ng:en-gb-scotland+m7",
)
# The voice split of the default voices: each held-out part has a recorded
# speaker (slt speaks in festival and flite) and espeak-ng variants of both sexes.
VAL_SPEAKERS = ("rms", "espeak-ng:f2", "espeak-ng:m4")
TEST_SPEAKERS = ("slt", "espeak-ng:f3", "espeak-ng:m7")
SPLIT_KINDS = ("random", "voice", "synthesizer")
WORD = re.compile(r"[a-z]+('[a-z]+)?")  # what every synthesizer reads as one English word
# Bump when the rendering below changes, so old folders are not reused.
GENERATOR_VERSION = 1
TRIM_TOP_DB = 40.0  # silence threshold for trimming the synthesizers' leading/trailing pauses
SPEECH_PEAK = 0.5  # every word is brought to this peak before the drawn gain: synthesizers differ in level
# _silence_ clips get the noise a word of typical power (RMS ~0.1 at that peak)
# would get at the drawn SNR and gain, so noise level alone does not tell silence.
TYPICAL_SPEECH_POWER = 0.1**2
MAX_PER_WORD = 10_000
MAX_CLIPS = 200_000


@dataclass(frozen=True)
class AudioSettings:
    """Everything that decides the generated audio (hashed into the folder name)."""

    keywords: tuple[str, ...]
    unknown_words: tuple[str, ...]
    n_per_word: int
    n_unknown: int
    n_silence: int
    voices: tuple[str, ...]
    speed: tuple[float, float]
    pitch_semitones: tuple[float, float]
    vtlp: tuple[float, float]
    narrowband_prob: float
    reverb_prob: float
    rt60_s: tuple[float, float]
    noise: tuple[str, ...]
    snr_db: tuple[float, float]
    max_shift_ms: float
    gain_db: tuple[float, float]
    data_seed: int
    versions: tuple[tuple[str, str], ...]  # of the synthesizers and libraries that shape the audio

    @property
    def classes(self) -> tuple[str, ...]:
        return (*self.keywords, *((UNKNOWN,) if self.n_unknown else ()), *((SILENCE,) if self.n_silence else ()))

    def clip_counts(self) -> dict[str, int]:
        return {**{word: self.n_per_word for word in self.keywords}, UNKNOWN: self.n_unknown, SILENCE: self.n_silence}

    def folder(self) -> Path:
        return cache_root() / "kws_multi" / settings_hash({"generator": GENERATOR_VERSION, **asdict(self)})


@dataclass(frozen=True)
class SplitSettings:
    kind: str
    val_speakers: tuple[str, ...] = ()  # voice split only
    test_speakers: tuple[str, ...] = ()
    held_out: str | None = None  # synthesizer split only
    val_frac: float = 0.15
    test_frac: float = 0.15

    def folder_name(self) -> str:
        return f"{self.kind}-{settings_hash(asdict(self))}"


@dataclass(frozen=True)
class Clip:
    """What one clip is: its class, word and voice, and every augmentation value drawn for it."""

    label: str  # class folder: a keyword, "unknown" or "_silence_"
    index: int
    word: str  # the word spoken ("" for _silence_)
    voice: str  # "synthesizer:name" ("" for _silence_)
    speaker: str
    speed: float
    pitch_semitones: float
    vtlp: float
    narrowband: bool
    rt60_s: float  # 0: no reverberation
    noise: str  # colour, "" for none
    snr_db: float
    shift: float  # fraction of max_shift_ms, in [-1, 1]
    gain_db: float
    seed: int  # for the room and the noise

    @property
    def rel_path(self) -> str:
        return f"{self.label}/clip{self.index:04d}.wav"

    @property
    def synthesizer(self) -> str:
        return self.voice.partition(":")[0]


def clip_recipes(settings: AudioSettings) -> list[Clip]:
    return [draw_clip(settings, label, index)
            for label, count in settings.clip_counts().items() for index in range(count)]


def draw_clip(settings: AudioSettings, label: str, index: int) -> Clip:
    """Clip `index` of class `label`: voices in turn, everything else from the clip's seed."""
    rng = clip_rng(settings.data_seed, label, index)
    word = str(rng.choice(settings.unknown_words)) if label == UNKNOWN else "" if label == SILENCE else label
    voice = "" if label == SILENCE else settings.voices[index % len(settings.voices)]
    speed, pitch, vtlp = (rng.uniform(*r) for r in (settings.speed, settings.pitch_semitones, settings.vtlp))
    narrow = rng.random() < settings.narrowband_prob
    reverb, rt60 = rng.random() < settings.reverb_prob, rng.uniform(*settings.rt60_s)
    noise = str(rng.choice(settings.noise)) if settings.noise else ""
    snr, shift, gain = rng.uniform(*settings.snr_db), rng.uniform(-1.0, 1.0), rng.uniform(*settings.gain_db)
    return Clip(
        label=label, index=index, word=word, voice=voice,
        speaker=parse_voice(voice).speaker if voice else "", speed=float(speed), pitch_semitones=float(pitch),
        vtlp=float(vtlp), narrowband=bool(narrow), rt60_s=float(rt60) if reverb else 0.0, noise=noise,
        snr_db=float(snr), shift=float(shift), gain_db=float(gain), seed=int(rng.integers(2**63)),
    )


def render(clip: Clip, settings: AudioSettings) -> np.ndarray:
    """One 1 s, 16 kHz clip as `clip` describes it."""
    rng = np.random.default_rng(clip.seed)
    if clip.label == SILENCE:
        return render_silence(clip, rng)
    speech = synthesize(clip.word, parse_voice(clip.voice), clip.speed, clip.pitch_semitones)
    if not np.any(speech):
        raise SynthesizerError(f"{clip.voice} produced silence for {clip.word!r}")
    return finish_word(
        speech, rng, vtlp=clip.vtlp, narrow=clip.narrowband, shift_ms=clip.shift * settings.max_shift_ms,
        rt60_s=clip.rt60_s, noise=clip.noise, snr_db=clip.snr_db, gain_db=clip.gain_db,
    )


def finish_word(speech: np.ndarray, rng: np.random.Generator, *, vtlp: float, narrow: bool, shift_ms: float,
                rt60_s: float, noise: str, snr_db: float, gain_db: float) -> np.ndarray:
    """A synthesized word (16 kHz, not silent) as a 1 s clip: trimmed, brought to SPEECH_PEAK, then
    augmented (VTLP, telephone band, shift, room if rt60_s > 0, noise if named, gain). Any
    synthesizer's words go through here, so they differ by voice, not by their finishing."""
    import librosa

    speech, _ = librosa.effects.trim(speech, top_db=TRIM_TOP_DB)
    speech = warp_frequencies(speech * (SPEECH_PEAK / float(np.abs(speech).max())), vtlp)[:CLIP_SAMPLES]
    if narrow:
        speech = narrowband(speech)
    audio = place(speech, round(shift_ms * SAMPLE_RATE / 1000))
    if rt60_s > 0:
        audio = reverberate(audio, room_impulse_response(rt60_s, rng))
    if noise:
        audio = mix_at_snr(audio, coloured_noise(noise, CLIP_SAMPLES, rng), float(np.mean(speech**2)), snr_db)
    return limit_peak(audio * np.float32(10 ** (gain_db / 20)))


def render_silence(clip: Clip, rng: np.random.Generator) -> np.ndarray:
    audio = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    noise = coloured_noise(clip.noise or "white", CLIP_SAMPLES, rng)
    audio = mix_at_snr(audio, noise, TYPICAL_SPEECH_POWER, clip.snr_db)
    return limit_peak(audio * np.float32(10 ** (clip.gain_db / 20)))


# --- splits ------------------------------------------------------------------


def split_clips(clips: Sequence[Clip], split: SplitSettings, data_seed: int) -> dict[str, dict[str, list[Clip]]]:
    """{class: {"train"|"val"|"test": clips}}; TaskParamError if a class misses a split."""
    parts = {}
    for label in dict.fromkeys(c.label for c in clips):
        group = [c for c in clips if c.label == label]
        held = held_out_clips(label, group, split, data_seed)
        taken = {c.index for part in held.values() for c in part}
        parts[label] = {"train": [c for c in group if c.index not in taken], **held}
        for part, members in parts[label].items():
            if not members:
                raise TaskParamError(
                    f"split {split.kind!r} leaves class {label!r} without {part} clips ({len(group)} clips, "
                    f"voices in turn); raise 'n_per_word' (or 'n_unknown', 'n_silence') or change the split")
    return parts


def held_out_clips(label: str, group: list[Clip], split: SplitSettings, data_seed: int) -> dict[str, list[Clip]]:
    """The validation and test clips of one class."""
    if split.kind == "voice" and label != SILENCE:
        return {"val": [c for c in group if c.speaker in split.val_speakers],
                "test": [c for c in group if c.speaker in split.test_speakers]}
    if split.kind == "synthesizer" and label != SILENCE:
        rest = [c for c in group if c.synthesizer != split.held_out]
        val, _ = held_out_indices(data_seed, label, len(rest), _count(split.val_frac, len(rest)), 0)
        return {"val": [rest[i] for i in val], "test": [c for c in group if c.synthesizer == split.held_out]}
    val, test = held_out_indices(data_seed, label, len(group), _count(split.val_frac, len(group)),
                                 _count(split.test_frac, len(group)))
    return {"val": [group[i] for i in val], "test": [group[i] for i in test]}


def _count(fraction: float, n: int) -> int:
    return max(1, round(fraction * n)) if n else 0


def describe_split(parts: dict[str, dict[str, list[Clip]]], split: SplitSettings) -> dict[str, Any]:
    """split.json: which speakers and synthesizers each split holds, and how many clips."""
    members = {part: [c for by_part in parts.values() for c in by_part[part]] for part in ("train", "val", "test")}
    return {
        "split": asdict(split),
        "clips": {part: len(clips) for part, clips in members.items()},
        "speakers": {part: sorted({c.speaker for c in clips if c.speaker}) for part, clips in members.items()},
        "synthesizers": {part: sorted({c.synthesizer for c in clips if c.voice}) for part, clips in members.items()},
    }


# --- folders -----------------------------------------------------------------


def generate(settings: AudioSettings, split: SplitSettings) -> Path:
    """Write what is missing of the clips and of the split's folder; return the split's folder."""
    clips = clip_recipes(settings)
    parts = split_clips(clips, split, settings.data_seed)  # checked before any audio is made
    audio = settings.folder() / "clips"
    generate_missing(audio, clips, lambda c: render(c, settings), asdict(settings), "kws_multi clips")
    write_text_if_changed(audio / "clips.csv", manifest(clips))
    folder = settings.folder() / split.folder_name()
    folder.mkdir(parents=True, exist_ok=True)
    for label in settings.classes:
        link_folder(folder / label, Path("..") / audio.name / label)
    for part in ("val", "test"):
        entries = [c.rel_path for by_part in parts.values() for c in by_part[part]]
        write_text_if_changed(folder / LIST_FILES[part], "".join(f"{rel}\n" for rel in entries))
    write_text_if_changed(folder / "split.json", json.dumps(describe_split(parts, split), indent=2) + "\n")
    return folder


def manifest(clips: Sequence[Clip]) -> str:
    """clips.csv: one row per clip, every value it was rendered with."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, ["path", *(f.name for f in fields(Clip))], lineterminator="\n")
    writer.writeheader()
    writer.writerows({"path": c.rel_path, **asdict(c)} for c in clips)
    return text.getvalue()


def link_folder(link: Path, target: Path) -> None:
    """`link` -> `target` (relative), replaced atomically if it points elsewhere."""
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    temporary = link.with_name(f".{link.name}.link")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target, target_is_directory=True)
    os.replace(temporary, link)


# --- the task ----------------------------------------------------------------


def build_kws_multi(
    seed: int = 0,
    *,
    keywords: Sequence[str] = KEYWORDS,
    unknown_words: Sequence[str] = UNKNOWN_WORDS,
    n_per_word: int = 60,
    n_unknown: int | None = None,
    n_silence: int | None = None,
    voices: Sequence[str] = DEFAULT_VOICES,
    speed: tuple[float, float] = (0.8, 1.25),
    pitch_semitones: tuple[float, float] = (-3.0, 3.0),
    vtlp: tuple[float, float] = (0.9, 1.1),
    narrowband_prob: float = 0.2,
    reverb_prob: float = 0.5,
    rt60_s: tuple[float, float] = (0.15, 0.6),
    noise: Sequence[str] = tuple(NOISE_EXPONENTS),
    snr_db: tuple[float, float] = (5.0, 30.0),
    max_shift_ms: float = 150.0,
    gain_db: tuple[float, float] = (-20.0, 0.0),
    split: str = "voice",
    val_speakers: Sequence[str] = VAL_SPEAKERS,
    test_speakers: Sequence[str] = TEST_SPEAKERS,
    held_out: str | None = None,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    data_seed: int | None = None,
    features: str = "mfcc",
    n_mfcc: int = 13,
    n_mels: int = 40,
    hop_ms: float = 10.0,
    win_ms: float = 25.0,
    deltas: int = 0,
    utterance_norm: bool = True,
    feature_clip: float | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
) -> Task:
    """Keywords + "unknown" + "_silence_" spoken by several synthesizers (class i = the i-th). ce + last.

    n_unknown and n_silence (default None: as n_per_word; 0: no such class)
    are the clips of those classes. data_seed (default: seed) picks the clips.
    """
    keywords = _words("keywords", keywords)
    n_per_word = check_int("n_per_word", n_per_word, 3, MAX_PER_WORD)
    n_unknown = n_per_word if n_unknown is None else check_int("n_unknown", n_unknown, 0, MAX_PER_WORD)
    n_silence = n_per_word if n_silence is None else check_int("n_silence", n_silence, 0, MAX_PER_WORD)
    unknown_words = _words("unknown_words", unknown_words, min_count=1)
    if set(unknown_words) & set(keywords):
        raise TaskParamError(f"parameter 'unknown_words' must not repeat keywords, got "
                             f"{sorted(set(unknown_words) & set(keywords))}")
    total = len(keywords) * n_per_word + n_unknown + n_silence
    if total > MAX_CLIPS:
        raise TaskParamError(f"parameters 'keywords' x 'n_per_word' + 'n_unknown' + 'n_silence' = {total} clips, "
                             f"above the limit of {MAX_CLIPS} clips")
    voice_list = _voices(voices)
    split_settings = _split_settings(split, val_speakers, test_speakers, held_out, val_frac, test_frac, voice_list)
    settings = AudioSettings(
        keywords=keywords, unknown_words=unknown_words, n_per_word=n_per_word, n_unknown=n_unknown,
        n_silence=n_silence, voices=tuple(map(str, voice_list)),
        speed=check_range("speed", speed, 0.5, 2.0),
        pitch_semitones=check_range("pitch_semitones", pitch_semitones, -12.0, 12.0),
        vtlp=check_range("vtlp", vtlp, 0.8, 1.25),
        narrowband_prob=check_float("narrowband_prob", narrowband_prob, 0.0, 1.0),
        reverb_prob=check_float("reverb_prob", reverb_prob, 0.0, 1.0),
        rt60_s=check_range("rt60_s", rt60_s, 0.15, 1.0),  # 0.15 s: the largest room's shortest; 1 s: ~2 s a clip
        noise=_noise(noise), snr_db=check_range("snr_db", snr_db, -10.0, 60.0),
        max_shift_ms=check_float("max_shift_ms", max_shift_ms, 0.0, 500.0),
        gain_db=check_range("gain_db", gain_db, -40.0, 0.0),
        data_seed=seed if data_seed is None else check_optional_int("data_seed", data_seed, 0),
        versions=_versions(voice_list),
    )
    feats = feature_settings(features, n_mfcc, n_mels, hop_ms, win_ms, deltas)
    utterance_norm = check_bool("utterance_norm", utterance_norm)
    feature_clip = check_feature_clip(feature_clip)  # checked before any clip is rendered
    folder = generate(settings, split_settings)
    return task_from_folder(
        "kws_multi", folder, settings.classes, feats, seed, {"train": n_train, "val": n_val, "test": n_test},
        utterance_norm=utterance_norm, feature_clip=feature_clip,
    )


def _words(name: str, value: Any, min_count: int = 2) -> tuple[str, ...]:
    words = check_words(name, value, min_count=min_count)
    bad = [w for w in words if not WORD.fullmatch(w) or w == UNKNOWN]
    if bad:
        raise TaskParamError(f"parameter {name!r}: entries must be lowercase English words (not {UNKNOWN!r}), "
                             f"got {bad!r}")
    return words


def _voices(value: Any) -> list[Voice]:
    """The voices, parsed, distinct and installed."""
    specs = check_words("voices", value, min_count=1)
    voices = [parse_voice(spec) for spec in specs]
    for voice in voices:
        check_installed(voice)
    return voices


def _noise(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TaskParamError(f"parameter 'noise' must be a list of colours from {list(NOISE_EXPONENTS)}, got {value!r}")
    for colour in value:
        check_choice("noise", colour, tuple(NOISE_EXPONENTS))
    return tuple(value)


def _split_settings(
    kind: Any, val_speakers: Any, test_speakers: Any, held_out: Any, val_frac: Any, test_frac: Any,
    voices: list[Voice],
) -> SplitSettings:
    kind = check_choice("split", kind, SPLIT_KINDS)
    fractions = dict(val_frac=check_float("val_frac", val_frac, 0.0, 0.5, lo_open=True),
                     test_frac=check_float("test_frac", test_frac, 0.0, 0.5, lo_open=True))
    if held_out is not None and kind != "synthesizer":
        raise TaskParamError(f"parameter 'held_out' applies to split = 'synthesizer' only, got split = {kind!r}")
    if kind == "voice":
        speakers = sorted({v.speaker for v in voices})
        val = _speakers("val_speakers", val_speakers, speakers)
        test = _speakers("test_speakers", test_speakers, speakers)
        if set(val) & set(test) or not set(speakers) - set(val) - set(test):
            raise TaskParamError(f"parameters 'val_speakers' and 'test_speakers' must be disjoint and leave "
                                 f"training speakers; the voices' speakers are: {', '.join(speakers)}")
        return SplitSettings(kind, val_speakers=val, test_speakers=test, **fractions)
    if kind == "synthesizer":
        synthesizers = sorted({v.synthesizer for v in voices})
        if len(synthesizers) < 2:
            raise TaskParamError(f"split = 'synthesizer' needs voices of two synthesizers or more, got {synthesizers}")
        return SplitSettings(kind, held_out=check_choice("held_out", held_out, synthesizers), **fractions)
    return SplitSettings(kind, **fractions)


def _speakers(name: str, value: Any, speakers: list[str]) -> tuple[str, ...]:
    chosen = check_words(name, value, min_count=1)
    unknown = [s for s in chosen if s not in speakers]
    if unknown:
        raise TaskParamError(f"parameter {name!r}: no voice has speaker {', '.join(map(repr, unknown))}; "
                             f"the voices' speakers are: {', '.join(speakers)}")
    return tuple(sorted(chosen))


def _versions(voices: list[Voice]) -> tuple[tuple[str, str], ...]:
    programs = {v.synthesizer: find_program(v.synthesizer).version for v in voices}
    libraries = {name: version(name) for name in ("librosa", "pyroomacoustics", "colorednoise")}
    return tuple(sorted({**programs, **libraries}.items()))
