"""Speech synthesizers behind one call: synthesize(text, voice, speed, pitch) -> 16 kHz float32 samples.

A voice is written "synthesizer:name":

    espeak-ng:en-us+m1            espeak-ng, language[+variant] (formant synthesis)
    festival:kal_diphone          festival voices: kal_diphone, ked_diphone (diphone),
                                  cmu_us_slt_arctic_hts (HMM)
    flite:slt                     flite's built-in voices: kal, kal16 (diphone), awb, rms, slt

Each synthesizer is a program run once per call; the text never reaches its
option parser (stdin, or the one argument after -t). `speed` scales the
speaking rate (1 = the voice's own) and `pitch_semitones` moves the voice's
fundamental frequency, through each synthesizer's own settings:

    synthesizer  speed                     pitch
    espeak-ng    -s 175*speed words/min    -p 50 + 5/semitone (measured: ~5 units per semitone)
    festival     Duration_Stretch 1/speed  int_lr_params target_f0_mean (diphone voices)
                 (HTS voice: -r speed)     (HTS voice: none; its f0 comes from its model)
    flite        duration_stretch 1/speed  f0_shift (every built-in voice but rms, which ignores it)
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import TaskParamError
from .speech import SAMPLE_RATE

SYNTHESIZERS = ("espeak-ng", "festival", "flite")
# The Debian package of each program, and of each festival voice.
PACKAGES = {"espeak-ng": "espeak-ng", "festival": "festival", "flite": "flite"}
FESTIVAL_VOICE_PACKAGES = {
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}
FESTIVAL_VOICE_DIRS = Path("/usr/share/festival/voices")  # Debian's; other installs skip the up-front check
# Festival and flite ship voices built from the same recordings: festival's
# kal_diphone and flite's kal and kal16 are one speaker (CMU's "kal" diphone
# set), festival's cmu_us_slt_arctic_hts and flite's slt are one speaker (CMU
# ARCTIC "slt"). A split that keeps speakers apart must keep these voices
# together, so every voice maps to the speaker it was recorded from.
RECORDED_SPEAKERS = {
    "festival:kal_diphone": "kal",
    "festival:ked_diphone": "ked",
    "festival:cmu_us_slt_arctic_hts": "slt",
    "flite:kal": "kal",
    "flite:kal16": "kal",
    "flite:awb": "awb",
    "flite:rms": "rms",
    "flite:slt": "slt",
}
ESPEAK_WPM = 175  # espeak-ng's default speaking rate
ESPEAK_SEMITONE = 5.0  # -p units per semitone around the default 50


class SynthesizerError(RuntimeError):
    """A synthesizer failed on a text; the message has the command and its stderr."""


class SynthesizerNotFoundError(FileNotFoundError):
    """A synthesizer program or voice is not installed; the message names the package."""


class EspeakError(SynthesizerError):
    """espeak-ng failed on a clip."""


class EspeakNotFoundError(SynthesizerNotFoundError):
    """The espeak-ng binary is not installed."""


@dataclass(frozen=True)
class Voice:
    synthesizer: str
    name: str

    def __str__(self) -> str:
        return f"{self.synthesizer}:{self.name}"

    @property
    def speaker(self) -> str:
        """Who the voice sounds like, for splits that keep speakers apart.

        Recorded voices: the speaker recorded (RECORDED_SPEAKERS; an unlisted one
        is its own speaker). espeak-ng: the variant, which sets the formants and
        pitch (the language only sets pronunciation), so en-us+m1 and en+m1 are
        one speaker; voices without a variant share the default one.
        """
        if self.synthesizer == "espeak-ng":
            return "espeak-ng:" + (self.name.split("+", 1)[1] if "+" in self.name else "default")
        return RECORDED_SPEAKERS.get(str(self), str(self))


@dataclass(frozen=True)
class Program:
    binary: str
    version: str
    data_dir: Path | None = None  # espeak-ng's data folder (its voice variants)


Espeak = Program  # kws_synth's name for it


def parse_voice(spec: str, name: str = "voices") -> Voice:
    """A "synthesizer:name" string as a Voice (TaskParamError naming the parameter)."""
    synthesizer, _, voice = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if synthesizer not in SYNTHESIZERS or not re.fullmatch(r"[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)?", voice):
        raise TaskParamError(f"parameter {name!r}: {spec!r} is not 'synthesizer:voice' with synthesizer one of "
                             f"{', '.join(SYNTHESIZERS)} (e.g. 'festival:kal_diphone', 'flite:slt', "
                             f"'espeak-ng:en-us+m1')")
    return Voice(synthesizer, voice)


def _not_installed(what: str, package: str, error=SynthesizerNotFoundError) -> SynthesizerNotFoundError:
    return error(f"{what} is not installed; install it with `apt-get install {package}` (`make setup` does this)")


@functools.cache
def find_program(synthesizer: str) -> Program:
    """The synthesizer's program and version; SynthesizerNotFoundError naming the package."""
    if synthesizer == "espeak-ng":
        return find_espeak()
    command = {"festival": "text2wave", "flite": "flite"}[synthesizer]
    binary = shutil.which(command)
    if binary is None:
        raise _not_installed(f"{synthesizer} (the program {command!r}, not on PATH)", PACKAGES[synthesizer])
    version_of = Path(binary).with_name("festival") if synthesizer == "festival" else binary  # text2wave has none
    done = subprocess.run([str(version_of), "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"(\d+\.\d+(\.\d+)?)", done.stdout + done.stderr)
    return Program(binary=binary, version=found.group(1) if found else "unknown")


def find_espeak() -> Program:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise _not_installed("espeak-ng (the program 'espeak-ng', not on PATH)", "espeak-ng", EspeakNotFoundError)
    text = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    version = re.search(r"text-to-speech:\s*(\S+)", text)
    data_dir = re.search(r"Data at:\s*(\S+)", text)
    return Program(
        binary=binary,
        version=version.group(1) if version else text.strip(),
        data_dir=Path(data_dir.group(1)) if data_dir else None,
    )


def check_espeak_voices(voices: Sequence[str], espeak: Program) -> tuple[str, ...]:
    """espeak-ng voices as "language[+variant]"; unknown variants are caught here because
    espeak-ng silently ignores them (unknown languages fail when rendering)."""
    if isinstance(voices, str) or not isinstance(voices, Sequence) or not voices:
        raise TaskParamError(f"parameter 'voices' must be a non-empty tuple like ('en-us+m1', 'en+f3'), got {voices!r}")
    for voice in voices:
        if not isinstance(voice, str) or not re.fullmatch(r"[A-Za-z0-9-]+(\+[A-Za-z0-9_-]+)?", voice):
            raise TaskParamError(f"parameter 'voices': {voice!r} is not of the form 'language[+variant]'")
        variant_dir = espeak.data_dir / "voices" / "!v" if espeak.data_dir else None
        if "+" in voice and variant_dir is not None and variant_dir.is_dir():
            variant = voice.split("+", 1)[1]
            if not (variant_dir / variant).is_file():
                raise TaskParamError(f"parameter 'voices': espeak-ng has no variant {variant!r} (see {variant_dir})")
    return tuple(voices)


def check_installed(voice: Voice) -> Program:
    """The voice's program, after checking that the voice itself is installed."""
    program = find_program(voice.synthesizer)
    if voice.synthesizer == "espeak-ng":
        check_espeak_voices([voice.name], program)
    elif voice.synthesizer == "flite" and voice.name not in flite_voices(program.binary):
        raise TaskParamError(f"parameter 'voices': flite has no voice {voice.name!r}; its voices are: "
                             f"{', '.join(flite_voices(program.binary))}")
    elif voice.synthesizer == "festival" and FESTIVAL_VOICE_DIRS.is_dir():
        if not any(FESTIVAL_VOICE_DIRS.glob(f"*/{voice.name}")):
            package = FESTIVAL_VOICE_PACKAGES.get(voice.name)
            if package is None:
                raise TaskParamError(f"parameter 'voices': festival has no voice {voice.name!r} under "
                                     f"{FESTIVAL_VOICE_DIRS} (known: {', '.join(FESTIVAL_VOICE_PACKAGES)})")
            raise _not_installed(f"the festival voice {voice.name!r}", package)
    return program


@functools.cache
def flite_voices(binary: str) -> tuple[str, ...]:
    listed = subprocess.run([binary, "-lv"], capture_output=True, text=True, timeout=30).stdout
    return tuple(listed.partition(":")[2].split())


def synthesize(text: str, voice: Voice, speed: float = 1.0, pitch_semitones: float = 0.0) -> np.ndarray:
    """`text` spoken by `voice`: mono float32 samples at 16 kHz."""
    import librosa

    program = find_program(voice.synthesizer)
    render = {"espeak-ng": _espeak, "festival": _festival, "flite": _flite}[voice.synthesizer]
    audio, rate = render(program, text, voice.name, speed, pitch_semitones)
    return librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE).astype(np.float32)


def espeak_wav(espeak: Program, text: str, voice: str, wpm: int, pitch: int, amplitude: int) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering: (mono float32 audio, its sample rate)."""
    options = ["-v", voice, "-s", str(wpm), "-p", str(pitch), "-a", str(amplitude)]
    return _run([espeak.binary, *options, "-w", "{out}", "--stdin"], text, EspeakError)


def _espeak(program: Program, text: str, voice: str, speed: float, pitch_semitones: float):
    wpm = int(np.clip(round(ESPEAK_WPM * speed), 80, 450))
    pitch = int(np.clip(round(50 + ESPEAK_SEMITONE * pitch_semitones), 0, 99))
    return espeak_wav(program, text, voice, wpm, pitch, amplitude=100)


def _festival(program: Program, text: str, voice: str, speed: float, pitch_semitones: float):
    settings = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {1 / speed:.4f})"]
    if voice.endswith("_hts"):  # HTS voices ignore Duration_Stretch and int_lr_params
        settings.append(f"(set! hts_engine_params (append hts_engine_params '((\"-r\" {speed:.4f}))))")
    else:  # diphone voices: scale the target mean f0 of their intonation model
        factor = 2 ** (pitch_semitones / 12)
        settings.append(f"(set! int_lr_params (cons (list 'target_f0_mean (* {factor:.4f} "
                        f"(cadr (assoc 'target_f0_mean int_lr_params)))) int_lr_params))")
    evals = [arg for setting in settings for arg in ("-eval", setting)]
    return _run([program.binary, *evals, "-o", "{out}"], text, SynthesizerError)


def _flite(program: Program, text: str, voice: str, speed: float, pitch_semitones: float):
    features = [f"duration_stretch={1 / speed:.4f}", f"f0_shift={2 ** (pitch_semitones / 12):.4f}"]
    setf = [arg for feature in features for arg in ("--setf", feature)]
    return _run([program.binary, "-voice", voice, *setf, "-t", text, "-o", "{out}"], text, SynthesizerError,
                stdin=False)


def _run(
    command: list[str], text: str, error: type[SynthesizerError], *, stdin: bool = True
) -> tuple[np.ndarray, int]:
    """Run a synthesizer writing a WAV file at "{out}" (`text` on stdin, or already in `command`):
    its (mono float32 audio, sample rate)."""
    import soundfile

    with tempfile.TemporaryDirectory(prefix="codesign_tts_") as tmp:
        out = Path(tmp) / "speech.wav"
        command = [str(out) if arg == "{out}" else arg for arg in command]
        done = subprocess.run(command, input=text if stdin else "", capture_output=True, text=True, timeout=120)
        # festival reports some errors with exit status 0 and no file: check the file too.
        if done.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            said = (done.stderr or done.stdout).strip()
            raise error(f"{Path(command[0]).name} failed on {text!r}: {' '.join(command)}: {said}")
        audio, rate = soundfile.read(out, dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate
