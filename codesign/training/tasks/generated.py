"""What the generated speech sets (kws_synth, kws_multi) share: per-clip seeds,
verified WAV entries, resumable generation and seeded held-out picks.

A clip's random values come from its own seed (data seed, a key such as the
word, the clip index), so a clip is the same whichever order or run writes it.
Each clip is a verified entry (codesign.fsio, a .sha256 file beside it);
generation skips clips on disk that match their hash and writes the others
(missing, cut short, edited), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import io
import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ...progress import progress_bar
from .cache import atomic_write_text, read_entry, write_entry
from .speech import SAMPLE_RATE

WORKERS = 2  # synthesizer calls in flight; the machines are shared and small


class ClipRecipe(Protocol):
    @property
    def rel_path(self) -> str: ...


def clip_rng(data_seed: int, key: str, index: int) -> np.random.Generator:
    """The random stream of one clip: independent of every other clip's."""
    return np.random.default_rng([data_seed, zlib.crc32(key.encode()), index])


def held_out_indices(data_seed: int, key: str, n: int, n_val: int, n_test: int) -> tuple[list[int], list[int]]:
    """(validation, test) indices among n clips of `key`, a seeded random pick (the rest is training)."""
    order = np.random.default_rng([data_seed, zlib.crc32(key.encode()), n]).permutation(n)
    return sorted(order[:n_val].tolist()), sorted(order[n_val : n_val + n_test].tolist())


def wav_bytes(clip: np.ndarray) -> bytes:
    """A 16 kHz mono clip as a 16-bit PCM WAV file."""
    import soundfile

    wav = io.BytesIO()
    soundfile.write(wav, clip, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return wav.getvalue()


def generate_missing(
    folder: Path, recipes: Sequence[ClipRecipe], render: Callable[[ClipRecipe], np.ndarray], settings: dict, desc: str
) -> None:
    """Write every clip of `recipes` that is not on disk with a matching hash, plus settings.json."""
    # read_entry reports and deletes a clip that no longer matches its hash.
    missing = [r for r in recipes if read_entry(folder / r.rel_path) is None]
    if not missing:
        return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "settings.json", json.dumps(settings, indent=2) + "\n")

    def write(recipe: ClipRecipe) -> None:
        write_entry(folder / recipe.rel_path, wav_bytes(render(recipe)))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        jobs = [pool.submit(write, r) for r in missing]
        for job in progress_bar(jobs, desc=desc, unit="clip", leave=False):
            job.result()  # re-raises the first failure


def write_text_if_changed(path: Path, text: str) -> None:
    """Rewrite a small descriptive file (split list, manifest) only when its content changes."""
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
