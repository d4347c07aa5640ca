"""Augmentations of one spoken word, so a network learns the word rather than the voice or the room.

Every function is deterministic given its arguments: the random values (warp
factor, room, noise) are drawn by the caller from the clip's own seed, so a
clip can be rendered again byte for byte.

- warp_frequencies: vocal tract length perturbation (VTLP, Jaitly & Hinton
  2013): every frequency scaled by a factor near 1, which moves the formants
  (and the harmonics) as a shorter or longer vocal tract would. Done on the
  waveform by librosa's pitch shifter (phase-vocoder time stretch +
  resampling), the same linear warp VTLP applies to the filterbank.
- room_impulse_response / reverberate: a shoebox room of random size and
  positions, its impulse response for a target RT60 by the image-source method
  of pyroomacoustics.
- narrowband: the telephone band (resampled to 8 kHz and back), so a band
  limit does not identify the voices recorded at 8 kHz (flite's kal).
- coloured_noise / mix_at_snr: white, pink (1/f) or brown (1/f^2) Gaussian
  noise from the `colorednoise` package, added at a given SNR.
- place: the word at a (shifted) position in the 1 s window.
"""

from __future__ import annotations

import numpy as np

from .speech import CLIP_SAMPLES, SAMPLE_RATE

NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1/f^exponent
# Below 20 Hz (the lowest mel band) the noise spectrum is flat: brown noise would
# otherwise put most of its power where the features do not look, and its SNR
# would say little about what the network hears.
NOISE_FLAT_BELOW_HZ = 20.0
ROOM_MIN_M = (3.0, 3.0, 2.5)  # shoebox rooms from a small office ...
ROOM_MAX_M = (7.0, 5.0, 3.0)  # ... to a living room; the RT60 these allow: >= 0.12 s
WALL_MARGIN_M = 0.5  # talker and microphone stay this far from the walls
NARROWBAND_RATE = 8_000  # telephone audio; flite's kal voice is recorded at this rate
PEAK_LIMIT = 0.99  # keep the 16-bit WAV from clipping


def place(speech: np.ndarray, shift: int) -> np.ndarray:
    """A 1 s clip with `speech` (cut to 1 s) centred, then moved by `shift` samples within the window."""
    speech = speech[:CLIP_SAMPLES]
    room = CLIP_SAMPLES - len(speech)
    start = int(np.clip(room // 2 + shift, 0, room))
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    clip[start : start + len(speech)] = speech
    return clip


def mix_at_snr(clip: np.ndarray, noise: np.ndarray, signal_power: float, snr_db: float) -> np.ndarray:
    """`clip` plus unit-power `noise` scaled to `snr_db` below `signal_power` (in place)."""
    noise_std = np.sqrt(signal_power / 10 ** (snr_db / 10))
    clip += noise_std * noise
    return clip


def limit_peak(clip: np.ndarray) -> np.ndarray:
    """Scale a clip down (in place) if its peak would clip a 16-bit WAV."""
    peak = float(np.abs(clip).max())
    if peak > PEAK_LIMIT:
        clip *= PEAK_LIMIT / peak
    return clip


def coloured_noise(colour: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of Gaussian noise of power spectrum 1/f^exponent, at unit power (float32)."""
    import colorednoise

    noise = colorednoise.powerlaw_psd_gaussian(
        NOISE_EXPONENTS[colour], n, fmin=NOISE_FLAT_BELOW_HZ / SAMPLE_RATE, random_state=rng)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def warp_frequencies(speech: np.ndarray, factor: float) -> np.ndarray:
    """VTLP: every frequency of `speech` times `factor`, same length."""
    import librosa

    if factor == 1.0:
        return speech
    warped = librosa.effects.pitch_shift(speech, sr=SAMPLE_RATE, n_steps=12 * np.log2(factor))
    return warped.astype(np.float32)


def narrowband(speech: np.ndarray) -> np.ndarray:
    """`speech` limited to the 4 kHz band of 8 kHz audio, same length (scipy's anti-aliasing filter)."""
    from scipy.signal import resample_poly

    rate = SAMPLE_RATE // NARROWBAND_RATE
    return resample_poly(resample_poly(speech, 1, rate), rate, 1)[: len(speech)].astype(np.float32)


def room_impulse_response(rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """The impulse response from a talker to a microphone in a random shoebox room of
    reverberation time `rt60_s`, from its direct sound on, at unit energy (so the
    reverberant word keeps about the power of the dry one)."""
    import pyroomacoustics as pra

    size = rng.uniform(ROOM_MIN_M, ROOM_MAX_M)
    talker, microphone = rng.uniform(WALL_MARGIN_M, size - WALL_MARGIN_M, size=(2, 3))
    absorption, max_order = pra.inverse_sabine(rt60_s, size)
    room = pra.ShoeBox(size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(talker)
    room.add_microphone(microphone)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    rir = rir[np.argmax(np.abs(rir)) :]  # the word keeps the position drawn for it
    return rir / np.sqrt(np.sum(rir**2))


def reverberate(clip: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """`clip` heard through `rir`, cut to its own length (the tail past 1 s is dropped)."""
    from scipy.signal import fftconvolve

    return fftconvolve(clip, rir)[: len(clip)].astype(np.float32)
