"""`codesign characterize`: run the cell characterizations, print the figures,
write plots and a results.json (the numbers in docs/circuits.md come from here)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

from codesign.hardware.params import TEMP_RANGE_C, VDD_RANGE_V
from codesign.pdk import corners as known_corners
from codesign.validation.characterize import cell_clock, charge_packets, hysteresis_loop, retention
from codesign.validation.cosim import READOUT_ZERO
from codesign.validation.decision import decision_window
from codesign.validation.ngspice import MAX_TIMEOUT_S, parallel_map
from codesign.validation.settling import comparator_settling
from codesign.validation.stimulus import SETS
from codesign.validation.unit import latch_sequence, unit_power

WHAT = ["hysteresis", "packets", "retention", "power", "latch", "settling", "decision"]
DECISION_COMPARE_S = (50e-6, 200e-6, 500e-6, 1e-3, 2e-3)  # compare times of the decision-window table
MAX_STEPS = 1_000_000  # retention steps: about 9 hours of simulation at 32 ms a step
MAX_SEQUENCES = 10_000
MAX_STIMULUS_STEPS = 100_000
LATCH_SEQUENCE = [0, 0, 1, 0, 0, -1, -1, 0, 1, 0]


def add_simulation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temp", type=float, help="temperature in C (default: the chip spec's temp_c)")
    p.add_argument("--workers", type=int, default=1, help="ngspice processes in parallel (default 1)")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="seconds one ngspice run may take before it is stopped (default 3600)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def check_simulation_arguments(args: argparse.Namespace, corners: list[str]) -> None:
    """Refuse bad corners, temperatures, worker counts and timeouts before any work starts."""
    from codesign.cli import UserError

    bad = [c for c in corners if c not in known_corners()]
    if bad:
        raise UserError(f"--corner: unknown {bad}; known: {known_corners()}")
    if args.temp is not None and not TEMP_RANGE_C[0] <= args.temp <= TEMP_RANGE_C[1]:
        raise UserError(f"--temp {args.temp:g}: must be in [{TEMP_RANGE_C[0]:g}, {TEMP_RANGE_C[1]:g}] C")
    if args.workers < 1:
        raise UserError("--workers must be >= 1")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise UserError(f"--timeout: must be in (0, {MAX_TIMEOUT_S}] seconds")


def register(subparsers) -> None:
    from codesign.cli import add_chip_arguments

    p = subparsers.add_parser(
        "characterize",
        help="characterize the unit's sky130 cells in ngspice (hysteresis, packets, retention, power, latch, "
             "comparator settling)",
        description=__doc__,
    )
    p.add_argument("--what", nargs="+", choices=WHAT + ["all"], default=["all"], help="characterizations to run")
    p.add_argument("--corner", nargs="+", default=["tt"], help="process corners (tt ss ff sf fs)")
    add_chip_arguments(p)
    p.add_argument("--steps", type=int, default=10_000,
                   help=f"idle steps for retention at the chip's clock (default 10000, at most {MAX_STEPS})")
    p.add_argument("--out", type=Path, default=Path("runs/characterize"), help="folder for plots and results.json")
    add_simulation_arguments(p)
    p.set_defaults(run=main)
    register_validate(subparsers)


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-level-agreement", type=float, default=0.999, metavar="FRACTION",
                   help="target: the worst unit's level agreement (default 0.999)")
    p.add_argument("--min-decision-agreement", type=float, default=1.0, metavar="FRACTION",
                   help="target at network level: sequences whose decision equals the software's (default 1.0)")
    p.add_argument("--max-unit-power", type=float, default=10e-9, metavar="WATTS",
                   help="target with --power: the most power one mapped unit may draw (default 10e-9)")


def targets_from_args(args: argparse.Namespace):
    from codesign.cli import UserError
    from codesign.config import ConfigError, from_dict
    from codesign.validation.report import Targets

    try:
        return from_dict(Targets, {"min_level_agreement": args.min_level_agreement,
                                   "min_decision_agreement": args.min_decision_agreement,
                                   "max_unit_power_w": args.max_unit_power}, "targets")
    except ConfigError as err:
        raise UserError(str(err).replace("targets.", "--").replace("_", "-")) from None


def register_validate(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="co-simulate a mapped network in ngspice against the software (codesign map output)",
        description="Drive the mapped circuits with real test sequences of the task, sample the states and "
                    "outputs at the end of each clock step and compare them with the golden model on the "
                    "mapped (quantized) parameters: level agreement, RMSE, first divergence, decisions. "
                    "Exit status 1 when a target is not met, 2 on bad input or a simulator failure.")
    p.add_argument("map_dir", type=Path, help="folder written by codesign map")
    p.add_argument("--sequences", type=int, default=2, help=f"test sequences to simulate (default 2, at most "
                                                            f"{MAX_SEQUENCES})")
    p.add_argument("--level", choices=["unit", "network", "both", "none"], default="network",
                   help="unit: units driven by the software z_t; network: the whole network driven by x_t "
                        "(also compares every unit's state); none: only the --stimulus sets; default network")
    p.add_argument("--stimulus", nargs="+", choices=SETS, default=[], metavar="SET",
                   help=f"unit stimulus sets, each unit driven straight by z: {', '.join(SETS)} "
                        "(--sequences sequences of --stimulus-steps steps each)")
    p.add_argument("--power", action="store_true",
                   help="measure each mapped unit's power as mapped (its own supply, an activity pattern)")
    p.add_argument("--stimulus-steps", type=int, default=200, help="steps per stimulus sequence (default 200)")
    p.add_argument("--margin", type=float, default=0.02,
                   help="stimulus sets: distance kept from +-beta, relative to beta (default 0.02)")
    p.add_argument("--corner", help="process corner (default: the chip spec's first)")
    p.add_argument("--vdd", type=float, help="supply voltage in V (default: the chip spec's vdd_v)")
    p.add_argument("--readout-zero", choices=READOUT_ZERO, default="reference",
                   help="network level: where the readout puts each unit's zero: the ideal L alpha I_unit "
                        "(reference, default) or the unit's own output at power-on reset (reset; single-layer "
                        "networks)")
    add_simulation_arguments(p)
    add_target_arguments(p)
    p.add_argument("--out", type=Path, help="report folder (default <map_dir>/validation)")
    p.set_defaults(run=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from codesign.cli import UserError, output_folder
    from codesign.fsio import folder_lock
    from codesign.validation.report import validate_map

    check_simulation_arguments(args, [args.corner] if args.corner else [])
    if not 1 <= args.sequences <= MAX_SEQUENCES:
        raise UserError(f"--sequences: must be in [1, {MAX_SEQUENCES}]")
    if args.vdd is not None and not VDD_RANGE_V[0] <= args.vdd <= VDD_RANGE_V[1]:
        raise UserError(f"--vdd {args.vdd:g}: must be in [{VDD_RANGE_V[0]:.1f}, {VDD_RANGE_V[1]:.1f}] V")
    if not args.map_dir.is_dir():
        raise UserError(f"{args.map_dir}: not a map folder (not a folder)")
    if args.level == "none" and not (args.stimulus or args.power):
        raise UserError("--level none: give the --stimulus sets or --power to run")
    if not 1 <= args.stimulus_steps <= MAX_STIMULUS_STEPS:
        raise UserError(f"--stimulus-steps: must be in [1, {MAX_STIMULUS_STEPS}]")
    if not 0 < args.margin < 1:
        raise UserError(f"--margin {args.margin:g}: must lie in (0, 1)")
    targets = targets_from_args(args)
    out = output_folder(args.out or args.map_dir / "validation")
    try:
        with folder_lock(out, "codesign validate"):
            result = validate_map(args.map_dir, out, args.sequences, args.level, args.corner, args.temp,
                                  args.workers, args.vdd, targets, args.timeout, progress=not args.quiet,
                                  stimulus=tuple(args.stimulus), stimulus_steps=args.stimulus_steps,
                                  margin=args.margin, power=args.power, readout_zero=args.readout_zero)
    except (FileNotFoundError, ValueError) as err:
        raise UserError(str(err)) from None
    print((out / "summary.md").read_text())
    print(f"validation folder: {out}  (summary.md, cosim.json, plots)")
    if not result["targets_met"]:
        failed = [t["name"] for t in result["targets"] if not t["passed"]]
        print(f"codesign validate: targets NOT met: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _one_corner(args, chip, corner: str) -> dict:
    supply = chip.supply(corner, args.temp)
    if not args.quiet:
        print(f"characterize: {corner} {supply.temp_c:g} C started", file=sys.stderr)
    what = WHAT if "all" in args.what else args.what
    out, tag, row = args.out, f"{corner}_{supply.temp_c:g}C", {"corner": corner, "temp_c": supply.temp_c}
    clock, timeout = chip.clock(), args.timeout
    # The cell benches' 1 kHz clock (characterize.cell_clock); the figures in docs/circuits.md use it.
    khz = cell_clock(clock, chip.integrator().t_pkt_s)
    if "hysteresis" in what:
        h = hysteresis_loop(chip.comparator(), supply, timeout_s=timeout)
        row["hysteresis"] = {"up_on_a": h.up_on_a, "up_off_a": h.up_off_a, "dn_on_a": h.dn_on_a,
                             "dn_off_a": h.dn_off_a, **h.errors()}
        h.plot(out / f"hysteresis_{tag}.png")
    if "packets" in what:
        pk = charge_packets(chip.integrator(), khz, supply, timeout_s=timeout)
        err = pk.errors()
        row["packets"] = {"dv_v": pk.dv_v.tolist(), "from_level": pk.from_level, "direction": pk.direction,
                          "worst_rel_error": float(err[abs(err).argmax()]), "readout_a": pk.readout_a.tolist(),
                          "restored_v": pk.restored_v.tolist()}
        pk.plot(out / f"packets_{tag}.png")
    if "retention" in what:  # slow clock edges: the solver strides through the idle holds
        r = retention(chip.integrator(), dataclasses.replace(clock, t_edge_s=20e-6), supply, steps=args.steps,
                      timeout_s=timeout)
        row["retention"] = {"steps": args.steps, "level": r.level, "final_level": r.final_level,
                            "worst_droop_v": r.worst_droop_v, "restored_first_v": float(r.restored_v[0]),
                            "restored_last_v": float(r.restored_v[-1])}
        r.plot(out / f"retention_{tag}.png")
    if "power" in what:
        row["power"] = {}
        for clk in (clock, khz):  # the chip's clock, and 1 kHz
            pw = unit_power(chip.comparator(), chip.integrator(), clk, supply, timeout_s=timeout)
            row["power"][f"{1 / clk.period_s:g}Hz"] = {"total_w": pw.total_w, "comparator_w": pw.comparator_w,
                                       "integrator_w": pw.integrator_w, "readout_w": pw.readout_w,
                                       "clock_w": pw.clock_w}
    if "latch" in what:
        la = latch_sequence(LATCH_SEQUENCE, chip.latch(), cell_clock(clock, chip.t_latch_transfer_s), supply,
                            chip.t_latch_transfer_s, timeout_s=timeout)
        row["latch"] = {"c": LATCH_SEQUENCE, "h_in_alpha": la.h_in_alpha().tolist()}
        la.plot(out / f"latch_{tag}.png")
    if "settling" in what:
        st = comparator_settling(chip.comparator(), supply, timeout_s=timeout)
        row["settling"] = {**_finite(st.summary()), "t_compare_s_chip": chip.t_compare_s,
                           "table": _finite(st.table()), "markdown": st.markdown()}
        st.plot(out / f"settling_{tag}.png", t_compare_s=(chip.t_compare_s,))
        (out / f"settling_{tag}.md").write_text(st.markdown())
    if "decision" in what:
        times = tuple(sorted({*DECISION_COMPARE_S, chip.t_compare_s}))
        dw = decision_window(chip.comparator(), supply, times, workers=args.workers, timeout_s=timeout)
        row["decision"] = {"table": dw.table(), "window_d_chip": dw.window(chip.t_compare_s),
                           "t_compare_s_chip": chip.t_compare_s, "markdown": dw.markdown()}
        (out / f"decision_{tag}.md").write_text(dw.markdown())
    if not args.quiet:
        print(f"characterize: {corner} {supply.temp_c:g} C done", file=sys.stderr)
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
    if "decision" in row:
        dec = row["decision"]
        parts.append(f"decision window at t_compare {dec['t_compare_s_chip'] * 1e3:g} ms: |d| <= "
                     f"{dec['window_d_chip']:.3g}, held decisions within "
                     f"{max(r['worst_logic_error_v'] for r in dec['table']) * 1e3:.2f} mV of a rail")
    return " | ".join(parts)


def main(args: argparse.Namespace) -> int:
    from codesign.cli import UserError, chip_from_args, output_folder
    from codesign.fsio import folder_lock

    check_simulation_arguments(args, args.corner)
    if not 1 <= args.steps <= MAX_STEPS:
        raise UserError(f"--steps: must be in [1, {MAX_STEPS}]")
    chip = chip_from_args(args)
    output_folder(args.out)
    started = time.perf_counter()
    with folder_lock(args.out, "codesign characterize"):
        rows = parallel_map(lambda c: _one_corner(args, chip, c), args.corner, workers=args.workers)
        for row in rows:
            print(_summary(row))
        (args.out / "results.json").write_text(json.dumps({"chip": dataclasses.asdict(chip), "rows": rows},
                                                          indent=1))
    print(f"wrote {args.out / 'results.json'} and plots ({time.perf_counter() - started:.0f} s)")
    return 0
