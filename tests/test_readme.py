"""The README's command lines run as written, in the order shown, with tiny settings
appended (fewer epochs, shorter sequences, one simulated sequence), so the README
cannot drift from the program."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_TRAINING = ["--set", "train.epochs=2", "--set", "task.params.T=12", "--set", "task.params.n_train=64",
                 "--set", "task.params.n_val=16", "--set", "task.params.n_test=16"]
TINY = {
    "train": TINY_TRAINING + ["--quiet"],
    "validate": ["--sequences", "1", "--quiet"],
    "flow": TINY_TRAINING + ["--sequences", "1", "--workers", "1", "--quiet"],
    "demo": TINY_TRAINING + ["--sequences", "1", "--workers", "1", "--quiet"],
    "characterize": ["--what", "hysteresis", "--corner", "tt", "--quiet"],
    "sweep": ["--quiet"],
}
SIMULATES = {"validate", "flow", "demo"}  # exit 0 or 1: the targets decide, and cosim.json says which


def readme_commands() -> list[list[str]]:
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines()]
    return [shlex.split(ln)[1:] for ln in lines if ln.startswith(".venv/bin/codesign")]


def _out_folder(args: list[str], command: str) -> Path:
    if "--out" in args:
        return Path(args[args.index("--out") + 1])
    if command in ("demo", "flow"):
        return Path("runs") / command
    return Path(args[1]) / "validation"


def test_the_readme_lists_the_pipeline():
    commands = [c[0] for c in readme_commands() if c]
    for name in ("train", "map", "validate", "flow", "characterize", "demo", "chip"):
        assert name in commands, name


@pytest.mark.slow
def test_readme_commands_run_as_written_in_order(tmp_path):
    for name in ("chips", "training", "validation"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in readme_commands():
        command = args[0] if args and not args[0].startswith("-") else "--help"
        full = [sys.executable, "-m", "codesign", *args, *TINY.get(command, [])]
        proc = subprocess.run(full, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        shown = f"codesign {' '.join(args)}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        if command == "sweep":  # exit 0 iff every point finished and met its targets
            assert proc.returncode in (0, 1), shown
            counts = json.loads((tmp_path / _out_folder(args, command) / "results.json").read_text())["counts"]
            assert (counts["met"] == counts["points"]) == (proc.returncode == 0), shown
        elif command in SIMULATES:
            assert proc.returncode in (0, 1), shown
            cosim = tmp_path / _out_folder(args, command)
            cosim = cosim / "validation" / "cosim.json" if command in ("flow", "demo") else cosim / "cosim.json"
            assert json.loads(cosim.read_text())["targets_met"] == (proc.returncode == 0), shown
        else:
            assert proc.returncode == 0, shown
