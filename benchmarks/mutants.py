"""Mutation check: deliberate bugs in the code validation trusts most, each of which
the test suite must catch (a "killed" mutant). A surviving mutant is a test gap.

    .venv/bin/python benchmarks/mutants.py            # all mutants, about 3 minutes on 2 cores
    .venv/bin/python benchmarks/mutants.py --list     # the mutants, not run

Each mutant is one textual change to one file, applied in a temporary copy of the
repository; the tests named with it run there (`pytest -x -q`). Exit status 1 if
any mutant survives. The result is recorded in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MRU_TESTS = ["tests/test_scan.py", "tests/test_cosim.py::test_software_side_is_the_golden_model"]
NETLIST_TESTS = ["tests/test_netlist.py"]
QUANT_TESTS = ["tests/test_training.py", "tests/test_reliability_training.py", "tests/test_mapping.py"]
COSIM_TESTS = ["tests/test_cosim.py::test_decisions_are_compared_over_every_sequence",
               "tests/test_cosim.py::test_the_level_target_is_judged_on_the_worst_unit_of_every_level",
               "tests/test_cosim.py::test_validate_exits_1_when_a_target_is_not_met",
               "tests/test_cosim.py::test_validate_exits_0_when_the_targets_are_met"]

# (name, file, original text, mutated text, tests that must fail)
MUTANTS = [
    ("comparator >= instead of >", "codesign/mru.py", "(z > beta)", "(z >= beta)", MRU_TESTS),
    ("comparator lower side not strict", "codesign/mru.py", "(z < -np.asarray(beta))", "(z <= -np.asarray(beta))",
     MRU_TESTS),
    ("comparator drops the down side", "codesign/mru.py", " - (z < -np.asarray(beta)).astype(np.float64)", "",
     MRU_TESTS),
    ("eps ignored", "codesign/mru.py", "(1.0 - eps_arr * np.abs(c)) * h", "h", MRU_TESTS),
    ("reset without abs(c)", "codesign/mru.py", "eps_arr * np.abs(c)", "eps_arr * c", MRU_TESTS),
    ("no clip", "codesign/mru.py", "h = np.clip(h, -lim[sl], lim[sl])", "pass", MRU_TESTS),
    ("one-sided clip", "codesign/mru.py", "np.clip(h, -lim[sl], lim[sl])", "np.minimum(h, lim[sl])", MRU_TESTS),
    ("h0 ignored", "codesign/mru.py", "h = np.zeros(step_shape) if h0 is None else",
     "h = np.zeros(step_shape) if True else", MRU_TESTS),
    ("identifier accepts a trailing newline", "codesign/netlist.py", "_IDENTIFIER.fullmatch(value)",
     "_IDENTIFIER.match(value)", NETLIST_TESTS),
    ("keywords checked case-sensitively", "codesign/netlist.py", ".lower() in _SPICE_KEYWORDS", " in _SPICE_KEYWORDS",
     NETLIST_TESTS),
    ("non-finite numbers pass", "codesign/netlist.py", "if not math.isfinite(x):", "if False:", NETLIST_TESTS),
    ("minimum not enforced", "codesign/netlist.py", "if minimum is not None and x < minimum:", "if False:",
     NETLIST_TESTS),
    ("quantizer with one level too many", "codesign/training/noise.py", "steps = 2 ** (bits - 1) - 1",
     "steps = 2 ** (bits - 1)", QUANT_TESTS),
    ("quantizer floors", "codesign/training/noise.py", "torch.round(w / scale)", "torch.floor(w / scale)",
     QUANT_TESTS),
    ("decisions: any instead of all", "codesign/validation/cosim.py", '"decisions_identical": bool(np.all(same))',
     '"decisions_identical": bool(np.any(same))', COSIM_TESTS),
    ("decision agreement counts outputs, not sequences", "codesign/validation/cosim.py",
     "same = np.all(ds == dc, axis=-1) if self.loss == \"bce\" else ds == dc",
     "same = ds == dc", COSIM_TESTS),
    ("target passes on any value", "codesign/validation/report.py", '"passed": bool(t["value"] >= t["threshold"])',
     '"passed": True', COSIM_TESTS),
    ("level agreement from the best unit", "codesign/validation/report.py",
     'min(r["level_agreement"] for r in rows)', 'max(r["level_agreement"] for r in rows)', COSIM_TESTS),
]


def run_mutant(name, file, old, new, tests, timeout_s=900) -> tuple[str, float]:
    with tempfile.TemporaryDirectory(prefix="codesign-mutant-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "__pycache__", "*.egg-info"))
        target = copy / file
        text = target.read_text()
        if text.count(old) != 1:
            return f"NOT APPLIED ({text.count(old)} matches)", 0.0
        target.write_text(text.replace(old, new))
        env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin", "CODESIGN_CACHE_DIR": str(Path(tmp) / "cache"),
               "HOME": tmp}
        where = subprocess.run([sys.executable, "-c", "import codesign; print(codesign.__file__)"], cwd=copy,
                               env=env, capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(copy)):  # the mutated copy must be what the tests import
            return f"NOT RUN (imports {where})", 0.0
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=copy, env=env, capture_output=True, text=True, timeout=timeout_s)
        return ("killed" if proc.returncode != 0 else "SURVIVED"), time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = p.parse_args()
    if args.list:
        for name, file, *_ in MUTANTS:
            print(f"{file}: {name}")
        return 0
    rows, started = [], time.perf_counter()
    for k, (name, file, old, new, tests) in enumerate(MUTANTS, 1):
        outcome, seconds = run_mutant(name, file, old, new, tests)
        rows.append((file, name, outcome, seconds))
        elapsed = time.perf_counter() - started
        print(f"[{k}/{len(MUTANTS)}] {outcome:>8}  {file}: {name} ({seconds:.0f} s; about "
              f"{elapsed / k * (len(MUTANTS) - k):.0f} s left)", file=sys.stderr)
    print("| file | mutant | outcome |\n|---|---|---|")
    for file, name, outcome, _ in rows:
        print(f"| {file} | {name} | {outcome} |")
    alive = [r for r in rows if r[2] != "killed"]
    print(f"\n{len(rows) - len(alive)} of {len(rows)} mutants killed in {time.perf_counter() - started:.0f} s")
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main())
