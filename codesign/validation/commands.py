"""`codesign characterize`: run the cell characterizations, print the figures,
write plots and a results.json (the numbers in docs/circuits.md come from here)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from codesign.mapping.cells import ClockParams, Supply
from codesign.pdk import corners as known_corners
from codesign.validation.characterize import charge_packets, hysteresis_loop, retention
from codesign.validation.settling import comparator_settling
from codesign.validation.ngspice import parallel_map
from codesign.validation.unit import latch_sequence, unit_power

WHAT = ["hysteresis", "packets", "retention", "power", "latch", "settling"]
LATCH_SEQUENCE = [0, 0, 1, 0, 0, -1, -1, 0, 1, 0]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "characterize",
        help="characterize the unit's sky130 cells in ngspice (hysteresis, packets, retention, power, latch, "
             "comparator settling)",
        description=__doc__,
    )
    p.add_argument("--what", nargs="+", choices=WHAT + ["all"], default=["all"], help="characterizations to run")
    p.add_argument("--corner", nargs="+", default=["tt"], help="process corners (tt ss ff sf fs)")
    p.add_argument("--temp", type=float, default=27.0, help="temperature in C (default 27)")
    p.add_argument("--steps", type=int, default=10_000, help="idle steps for retention at 100 Hz (default 10000)")
    p.add_argument("--out", type=Path, default=Path("runs/characterize"), help="folder for plots and results.json")
    p.add_argument("--workers", type=int, default=2, help="corners simulated in parallel (one ngspice each)")
    p.set_defaults(run=main)
    register_validate(subparsers)


def register_validate(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="co-simulate a mapped network in ngspice against the software (codesign map output)",
        description="Drive the mapped circuits with real test sequences of the task, sample the states and "
                    "outputs at the end of each clock step and compare them with the golden model on the "
                    "mapped (quantized) parameters: level agreement, RMSE, first divergence, decisions.")
    p.add_argument("map_dir", type=Path, help="folder written by codesign map")
    p.add_argument("--sequences", type=int, default=2, help="test sequences to simulate (default 2)")
    p.add_argument("--level", choices=["unit", "network", "both"], default="network",
                   help="unit: units driven by the software z_t; network: the whole network driven by x_t "
                        "(also compares every unit's state); default network")
    p.add_argument("--corner", help="process corner (default: the chip spec's first)")
    p.add_argument("--temp", type=float, help="temperature in C (default: the chip spec's)")
    p.add_argument("--workers", type=int, default=1, help="ngspice processes in parallel (default 1)")
    p.add_argument("--out", type=Path, help="report folder (default <map_dir>/validation)")
    p.set_defaults(run=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from codesign.cli import UserError
    from codesign.validation.cosim import NetlistEdited, validate_map

    if args.sequences < 1 or args.workers < 1:
        raise UserError("--sequences and --workers must be >= 1")
    if args.corner is not None and args.corner not in known_corners():
        raise UserError(f"unknown corner {args.corner!r}; known: {known_corners()}")
    out = args.out or args.map_dir / "validation"
    try:
        result = validate_map(args.map_dir, out, args.sequences, args.level, args.corner, args.temp, args.workers)
    except (FileNotFoundError, NetlistEdited, ValueError) as err:
        raise UserError(str(err)) from None
    print((out / "summary.md").read_text())
    print(f"validation folder: {out}  (summary.md, cosim.json, plots)")
    return 0 if result else 1


def _one_corner(args, corner: str) -> dict:
    supply = Supply(corner=corner, temp_c=args.temp)
    what = WHAT if "all" in args.what else args.what
    out, tag, row = args.out, f"{corner}_{args.temp:g}C", {"corner": corner, "temp_c": args.temp}
    if "hysteresis" in what:
        h = hysteresis_loop(supply=supply)
        row["hysteresis"] = {"up_on_a": h.up_on_a, "up_off_a": h.up_off_a, "dn_on_a": h.dn_on_a,
                             "dn_off_a": h.dn_off_a, **h.errors()}
        h.plot(out / f"hysteresis_{tag}.png")
    if "packets" in what:
        pk = charge_packets(supply=supply)
        err = pk.errors()
        row["packets"] = {"dv_v": pk.dv_v.tolist(), "from_level": pk.from_level, "direction": pk.direction,
                          "worst_rel_error": float(err[abs(err).argmax()]), "readout_a": pk.readout_a.tolist(),
                          "restored_v": pk.restored_v.tolist()}
        pk.plot(out / f"packets_{tag}.png")
    if "retention" in what:
        r = retention(steps=args.steps, supply=supply)
        row["retention"] = {"steps": args.steps, "level": r.level, "final_level": r.final_level,
                            "worst_droop_v": r.worst_droop_v, "restored_first_v": float(r.restored_v[0]),
                            "restored_last_v": float(r.restored_v[-1])}
        r.plot(out / f"retention_{tag}.png")
    if "power" in what:
        row["power"] = {}
        for hz in (100, 1000):
            pw = unit_power(clock=ClockParams(period_s=1 / hz), supply=supply)
            row["power"][f"{hz}Hz"] = {"total_w": pw.total_w, "comparator_w": pw.comparator_w,
                                       "integrator_w": pw.integrator_w, "readout_w": pw.readout_w,
                                       "clock_w": pw.clock_w}
    if "latch" in what:
        la = latch_sequence(LATCH_SEQUENCE, supply=supply)
        row["latch"] = {"c": LATCH_SEQUENCE, "h_in_alpha": la.h_in_alpha().tolist()}
        la.plot(out / f"latch_{tag}.png")
    if "settling" in what:
        from codesign.chip import ChipSpec

        st = comparator_settling(supply=supply)  # the default chip spec's comparator
        row["settling"] = {**_finite(st.summary()), "t_compare_s_chip": ChipSpec().t_compare_s,
                           "table": _finite(st.table()), "markdown": st.markdown()}
        st.plot(out / f"settling_{tag}.png", t_compare_s=(200e-6, ChipSpec().t_compare_s))
        (out / f"settling_{tag}.md").write_text(st.markdown())
    return row


def _finite(x):
    """JSON-safe copy: inf (never settled) becomes null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _summary(row: dict) -> str:
    parts = [f"{row['corner']:>3} {row['temp_c']:g}C"]
    if "hysteresis" in row:
        h = row["hysteresis"]
        parts.append(f"thresholds up {h['up_on_a'] * 1e12:.1f} pA ({h['up_on_rel']:+.1%}), "
                     f"dn {h['dn_on_a'] * 1e12:.1f} pA ({h['dn_on_rel']:+.1%})")
    if "packets" in row:
        parts.append(f"packet worst {row['packets']['worst_rel_error']:+.1%}")
    if "retention" in row:
        r = row["retention"]
        parts.append(f"retention {r['steps']} steps: level {r['level']}->{r['final_level']}, "
                     f"droop {r['worst_droop_v'] * 1e3:.2f} mV")
    if "power" in row:
        parts.append(" ".join(f"P@{k} {v['total_w'] * 1e9:.2f} nW" for k, v in row["power"].items()))
    if "latch" in row:
        parts.append("latch h/alpha " + " ".join(f"{x:+.2f}" for x in row["latch"]["h_in_alpha"]))
    if "settling" in row:
        s = row["settling"]
        us = lambda x: "never" if x is None else f"{x * 1e6:.0f} us"  # noqa: E731
        parts.append(f"comparator settles: |d| >= 0.01 {us(s['worst_settle_s_d_ge_0.01'])}, "
                     f"|d| >= 0.005 {us(s['worst_settle_s_d_ge_0.005'])} (latest right one "
                     f"{us(s['latest_right_settle_s_d_ge_0.005'])}), smallest |d| right {s['smallest_abs_d_right']}")
    return " | ".join(parts)


def main(args: argparse.Namespace) -> int:
    from codesign.cli import UserError

    bad = [c for c in args.corner if c not in known_corners()]
    if bad:
        raise UserError(f"unknown corner(s) {bad}; known: {known_corners()}")
    if args.steps < 1:
        raise UserError("--steps must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = parallel_map(lambda c: _one_corner(args, c), args.corner, workers=args.workers)
    for row in rows:
        print(_summary(row))
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out / 'results.json'} and plots ({time.perf_counter() - started:.0f} s)")
    return 0
