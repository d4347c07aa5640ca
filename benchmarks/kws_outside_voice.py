"""A trained keyword-spotting run on a synthesizer the project never trains on: SAM (Software
Automatic Mouth, 1982, the JavaScript port `sam-js` from the npm registry).

SAM is a formant synthesizer with a rule-based reader of English, unlike every voice of
`kws_multi` (espeak-ng's formant voices, festival's and flite's diphone and HTS voices). It is
not a training voice of the toolkit: the port's licence is unclear (a reverse-engineered
commercial program, see its README), so it is fetched here, into the codesign cache, only to
test on. Its six documented voice presets (speed, pitch, throat, mouth) give the speakers.

Each clip: the word rendered by one preset (presets in turn), speed and pitch drawn within
+-15 % of the preset's and throat and mouth within +-10 %, resampled to 16 kHz, trimmed at
40 dB below the peak, brought to the generator's peak, centred in 1 s with a time shift of up to
100 ms and mixed with white noise at 20 dB SNR. Ten keywords and the "unknown" class (words of
the run's unknown list) with N clips each; no silence clips (they would not test the voice).
The folder is in the Speech Commands layout, so the figures are those of
`codesign evaluate RUN --data OUT/clips`:

    .venv/bin/python benchmarks/kws_outside_voice.py RUN [RUN ...] [--per-word 24] [--out runs/kws_sam]

`benchmarks/kws_added_voice.py` renders SAM clips with the generator's augmentation instead
(`augmented=True` below) to train on them.

Needs Node.js and npm (`apt-get install nodejs npm`). Prints each run's accuracy and confusion
matrix; writes OUT/result_<run name>.json. Exit status 0 when every run was evaluated.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.fsio import atomic_write_bytes, atomic_write_json  # noqa: E402
from codesign.progress import progress_bar  # noqa: E402
from codesign.training.evaluate import evaluate_folder, report  # noqa: E402
from codesign.training.tasks.cache import cache_root  # noqa: E402
from codesign.training.tasks.generated import wav_bytes  # noqa: E402
from codesign.training.tasks.kws_multi import (  # noqa: E402
    KEYWORDS,
    UNKNOWN_WORDS,
    build_kws_multi,
    finish_word,
)
from codesign.training.tasks.speech import SAMPLE_RATE  # noqa: E402

SAM_PACKAGE = "sam-js@0.3.1"
SAM_RATE = 22_050
# The presets of SAM's manual: (speed, pitch, throat, mouth); a higher speed value speaks slower.
PRESETS = {
    "sam": (72, 64, 128, 128), "elf": (72, 64, 110, 160), "little_robot": (92, 60, 190, 190),
    "stuffy_guy": (82, 72, 110, 105), "little_old_lady": (82, 32, 145, 145), "extra_terrestrial": (100, 64, 150, 200),
}
SNR_DB = 20.0
FINISHING = ("vtlp", "narrow", "shift_ms", "rt60_s", "noise", "snr_db", "gain_db")  # finish_word's settings
MAX_SHIFT_MS = 100.0

# Reads jobs (JSON lines: text and options) on stdin, writes each clip as uint32 length + float32
# samples on stdout. SAM prints its phoneme tables with console.log: silenced.
RENDERER = r"""
const SamJs = require(process.env.SAM_MODULE);
const out = (b) => process.stdout.write(b);
console.log = () => {};
const jobs = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
for (const job of jobs) {
  const samples = new SamJs(job.options).buf32(job.text);
  if (!samples) throw new Error("SAM rendered nothing for " + JSON.stringify(job.text));
  const n = Buffer.alloc(4); n.writeUInt32LE(samples.length); out(n);
  out(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
}
"""


def sam_module() -> Path:
    """The sam-js module's entry file, installed once into the codesign cache with npm."""
    prefix = cache_root() / "npm"
    entry = prefix / "node_modules" / "sam-js" / "dist" / "samjs.common.js"
    if entry.exists():
        return entry
    if shutil.which("npm") is None or shutil.which("node") is None:
        sys.exit("kws_outside_voice: needs Node.js and npm to fetch SAM (apt-get install nodejs npm)")
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", SAM_PACKAGE],
                          capture_output=True, text=True)
    if done.returncode != 0 or not entry.exists():
        sys.exit(f"kws_outside_voice: npm install {SAM_PACKAGE} into {prefix} failed:\n{done.stderr[-2000:]}")
    return entry


def draw_jobs(per_word: int, seed: int, augmented: bool = False, labels=(*KEYWORDS, "unknown")) -> list[dict]:
    """Every clip's class, word, preset, SAM options and finishing, drawn from one seeded generator.
    augmented: the finishing drawn from kws_multi's default ranges (VTLP, telephone band, room,
    noise colour and SNR, shift, gain) instead of the fixed test conditions."""
    rng = np.random.default_rng(seed)
    names = list(PRESETS)
    ranges = {k: v.default for k, v in inspect.signature(build_kws_multi).parameters.items()}
    jobs = []
    for label in labels:
        for i in range(per_word):
            word = str(rng.choice(UNKNOWN_WORDS)) if label == "unknown" else label
            preset = names[i % len(names)]
            speed, pitch, throat, mouth = PRESETS[preset]
            options = {"speed": round(speed * rng.uniform(0.85, 1.15)), "pitch": round(pitch * rng.uniform(0.85, 1.15)),
                       "throat": round(throat * rng.uniform(0.9, 1.1)), "mouth": round(mouth * rng.uniform(0.9, 1.1))}
            finishing = {"vtlp": 1.0, "narrow": False, "rt60_s": 0.0, "noise": "white", "snr_db": SNR_DB,
                         "gain_db": 0.0, "shift_ms": float(rng.uniform(-1, 1)) * MAX_SHIFT_MS}
            if augmented:
                finishing = {
                    "vtlp": float(rng.uniform(*ranges["vtlp"])),
                    "narrow": bool(rng.random() < ranges["narrowband_prob"]),
                    "rt60_s": float(rng.uniform(*ranges["rt60_s"])) if rng.random() < ranges["reverb_prob"] else 0.0,
                    "noise": str(rng.choice(ranges["noise"])), "snr_db": float(rng.uniform(*ranges["snr_db"])),
                    "gain_db": float(rng.uniform(*ranges["gain_db"])),
                    "shift_ms": float(rng.uniform(-1, 1)) * ranges["max_shift_ms"]}
            jobs.append({"folder": word, "name": f"sam_{preset}_{label}_{i:04d}", "text": word, "options": options,
                         **finishing, "seed": int(rng.integers(2**63))})
    return jobs


def render_all(jobs: list[dict]) -> list[np.ndarray]:
    """Each job's raw SAM samples at 22.05 kHz, from one Node.js process."""
    payload = "\n".join(json.dumps({"text": j["text"], "options": j["options"]}) for j in jobs)
    done = subprocess.run(["node", "-e", RENDERER], input=payload.encode(), capture_output=True,
                          env={**os.environ, "SAM_MODULE": str(sam_module())})
    if done.returncode != 0:
        sys.exit(f"kws_outside_voice: SAM failed: {done.stderr.decode(errors='replace')[-2000:]}")
    data, clips, at = done.stdout, [], 0
    while at < len(data):
        n = int.from_bytes(data[at : at + 4], "little")
        clips.append(np.frombuffer(data, dtype=np.float32, count=n, offset=at + 4).copy())
        at += 4 + 4 * n
    if len(clips) != len(jobs):
        sys.exit(f"kws_outside_voice: SAM returned {len(clips)} clips for {len(jobs)} words")
    return clips


def finish(raw: np.ndarray, job: dict) -> np.ndarray:
    """One 1 s, 16 kHz clip: resampled, then finished as the generator finishes every word."""
    from scipy.signal import resample_poly

    speech = resample_poly(raw - raw.mean(), SAMPLE_RATE, SAM_RATE).astype(np.float32)
    return finish_word(speech, np.random.default_rng(job["seed"]), **{k: job[k] for k in FINISHING})


def write_clips(folder: Path, jobs: list[dict]) -> list[Path]:
    """The jobs' clips as folder/<word>/<name>.wav."""
    paths = []
    for job, raw in progress_bar(list(zip(jobs, render_all(jobs))), desc="SAM clips", unit="clip"):
        path = folder / job["folder"] / f"{job['name']}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, wav_bytes(finish(raw, job)))
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders written by codesign train")
    parser.add_argument("--per-word", type=int, default=24, help="clips per keyword and of 'unknown' (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn options, shifts and noise")
    parser.add_argument("--out", type=Path, default=Path("runs/kws_sam"))
    args = parser.parse_args()
    if not 1 <= args.per_word <= 1000:
        parser.error(f"--per-word {args.per_word}: give 1 .. 1000")
    for run in args.runs:
        if not (run / "metrics.json").exists():
            parser.error(f"{run}: not a run folder of codesign train (no metrics.json)")
    if (args.out / "clips").exists():
        shutil.rmtree(args.out / "clips")  # drawn again from the seed: a folder of another --per-word must not mix in
    clips = args.out / "clips"
    write_clips(clips, draw_jobs(args.per_word, args.seed))
    for run in args.runs:
        result = evaluate_folder(run, clips)
        print(f"== {run} on SAM ({result['clips']} clips)\n{report(result)}")
        atomic_write_json(args.out / f"result_{run.name}.json", result, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
