"""How fast a loop may sweep a comparator whose trip points it reads for a trim, and what the trims
it sets do to the chip's decisions.

For one chip at one corner and temperature (ngspice, no mismatch: the replica `comparator_trim =
"test"` trims on): the up / dn trip-point errors read on the plain loop at sweep times of 0.2 s (the
loop the trims were read on until 2026-12-04) to 12.8 s, and on the trims' loop (0.2 s, 16 times
slower within 0.1 beta of each threshold); then the trims each loop sets, and the decision window
(`codesign.validation.decision`: the largest |d| decided wrongly, input stepped to +-beta (1 + d)
from four histories) at the chip's compare time on each. Exit status 1 when the trims' loop reads
farther than --tolerance from the slowest plain loop.

    .venv/bin/python benchmarks/trim_loop.py --chip examples/kws/chip.toml [--corner tt --temp 27]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.chip import load_chip  # noqa: E402
from codesign.validation import comparator_trim  # noqa: E402
from codesign.validation.characterize import hysteresis_loop  # noqa: E402
from codesign.validation.decision import decision_window  # noqa: E402

PLAIN_SWEEPS_S = (0.2, 0.8, 3.2, 12.8)


def trip_errors(p, supply, **loop) -> tuple[float, float]:
    e = hysteresis_loop(p, supply, **loop).errors()
    return e["up_on_in_beta"], e["dn_on_in_beta"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chip", default="examples/kws/chip.toml", help="chip preset or TOML file")
    ap.add_argument("--corner", default="tt")
    ap.add_argument("--temp", type=float, default=27.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.002, help="in beta (default 0.002)")
    args = ap.parse_args()
    chip = load_chip(args.chip)
    supply = chip.supply(args.corner, args.temp)
    p = chip.comparator()
    start = time.time()
    print(f"{args.chip}, {args.corner} {args.temp:g} C, trims of the chip file "
          f"(up {chip.comparator_up_trim_a * 1e12:+.3f} pA, dn {chip.comparator_dn_trim_a * 1e12:+.3f} pA)\n")
    print("| loop | up trip - threshold (beta) | dn trip - threshold (beta) |\n|---|---|---|")
    plain = {}
    for s in PLAIN_SWEEPS_S:
        plain[s] = trip_errors(p, supply, sweep_s=s)
        print(f"| plain, {s:g} s each way | {plain[s][0]:+.4f} | {plain[s][1]:+.4f} |", flush=True)
    windows = trip_errors(p, supply, slow=comparator_trim.SLOW)
    print(f"| the trims' loop (0.2 s, x{comparator_trim.SLOW.factor:g} slower within "
          f"{comparator_trim.SLOW.window_beta:g} beta) | {windows[0]:+.4f} | {windows[1]:+.4f} |\n")

    print("| trims read on | up trim (pA) | dn trim (pA) | trips after, on the trims' loop (beta) | "
          f"decision window at the chip's {chip.t_compare_s * 1e3:g} ms compare |\n|---|---|---|---|---|")
    for name, slow in (("the plain 0.2 s loop", None), ("the trims' loop", comparator_trim.SLOW)):
        trim = comparator_trim.trim_comparators(chip, supply, slow=slow)
        trimmed = comparator_trim.with_trims(chip, trim.up_trim_a, trim.dn_trim_a)
        after = trip_errors(trimmed.comparator(), supply, slow=comparator_trim.SLOW)
        dw = decision_window(trimmed.comparator(), supply, (chip.t_compare_s,), workers=args.workers)
        wrong = [r for r in dw.rows if not r["right"]]
        early = sum(r["d"] < 0 for r in wrong)
        print(f"| {name} | {trim.up_trim_a * 1e12:+.3f} | {trim.dn_trim_a * 1e12:+.3f} | "
              f"{after[0]:+.4f} / {after[1]:+.4f} | {dw.window(chip.t_compare_s):g} of beta "
              f"({len(wrong)} of {len(dw.rows)} cases wrong, {early} of them fired inside the threshold) |", flush=True)
    print(f"\n{time.time() - start:.0f} s", file=sys.stderr)
    slowest = plain[PLAIN_SWEEPS_S[-1]]
    off = max(abs(a - b) for a, b in zip(windows, slowest))
    if off > args.tolerance:
        print(f"the trims' loop reads {off:.4f} beta from the {PLAIN_SWEEPS_S[-1]:g} s loop, above {args.tolerance:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
