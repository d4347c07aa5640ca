"""Characterization of a mapped mirror synapse array (chip.synapses = "mirror") alone.

Layer 0's array, as `codesign map` builds it, drives one comparator per unit (the
unit's real input stage, so the input node sits at its real voltage). The inputs
step through a set of x vectors, one per compare phase (t_compare_s), and each
unit's input current is sampled just before the step ends and compared with
the contract, i_bias + (W x + b)_i / beta_i * I_unit (x as the front end clips it).
Errors are in units of I_unit, i.e. in units of beta of z.

    python -m codesign.validation.synapses MAP_DIR [--corner tt] [--temp 27] [--random 12]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.hardware.cells import comparator, comparator_input
from codesign.hardware.params import Supply
from codesign.manifest import NetworkPlan
from codesign.mapping.synapses import RowTrims, mirror_array, mirror_netlist
from codesign.netlist import identifier, number
from codesign.pdk.bins import MC_OVER_NEEDED_BINS
from codesign.validation.benches import header, step_pwl, tran
from codesign.validation.ngspice import run

SAMPLE_BEFORE_END_S = 2e-6
GROSS_MIN = 0.5  # relative errors only where sum_j |w_ij x_j| / beta_i >= this (units of I_unit)
NEAR_THRESHOLD = (0.5, 1.5)  # |z / beta| where an error can move a decision: the figure that matters


def sweep_inputs(x_task: np.ndarray, n_in: int, levels: int = 4, n_random: int = 12, seed: int = 0) -> np.ndarray:
    """x vectors [S, n_in]: 0; each input alone at `levels` values across the task's range;
    `n_random` steps drawn from the task's sequences x_task [N, T, n_in] (its real mixes)."""
    flat = np.asarray(x_task, dtype=np.float64).reshape(-1, n_in)
    lo, hi = float(flat.min()), float(flat.max())
    rows = [np.zeros(n_in)]
    for j in range(n_in):
        for v in np.linspace(lo, hi, levels):
            row = np.zeros(n_in)
            row[j] = v
            rows.append(row)
    pick = np.random.default_rng(seed).choice(len(flat), size=min(n_random, len(flat)), replace=False)
    return np.concatenate([np.stack(rows), flat[np.sort(pick)]])


# The transient needs tight tolerances: the figures are a few 0.1 % of currents of some
# 100 pA, and in weak inversion 0.35 mV on a gate (the default reltol on 0.35 V) is 1 % of
# its current; with the defaults, stepped inputs read back with up to +-0.04 I_unit of
# numerical scatter. DC operating points converge far below the tolerances (tighter
# ones changed no current by 1 fA), so the DC sweep keeps the defaults. Gear integration: under
# the trapezoidal rule the currents through the 0 V sources that measure the units' inputs ring
# (0.1-0.3 I_unit on a 16-unit array of 11,000 devices, with every node settled). abstol is 0.1 pA
# (0.001 I_unit), not less: at 0.01 pA the transient's operating point of a 16-unit array of
# 11,000 devices failed (gmin and source stepping both) and ngspice fell back on a wrong one.
TRAN_TOLERANCES = ".option abstol=1e-13 reltol=1e-5 vntol=1e-8 method=gear"


# What loads each row in `array_bench`: the unit's whole comparator, or its input diode alone, the
# same DC load (netlists/comparator_input.spice). At an operating point the two give the same
# currents (within 3.4e-4 I_unit, every frame of a keyword-spotting utterance at tt 27 C), and
# without the comparators' bistable halves a frame's Newton solve converges from the frame before:
# 4.4-5.7x less CPU (docs/mapping.md, "What stage 1 costs"). On a Monte Carlo chip the netlist with
# fewer devices is another draw under the same seed (ngspice's draws run over every device), so one
# chip keeps one load for its trims and its co-simulations (a sweep's `array_load`, in its keys).
ARRAY_LOADS = ("comparators", "input_stage")


def array_bench(plan: NetworkPlan, x: np.ndarray, supply: Supply, t_step_s: float | None = None,
                trims: RowTrims | None = None, load: str | None = None) -> str:
    """Layer 0's mirror array into one comparator per unit, on inputs x [S, n_in]: a DC sweep
    (one operating point per row of x) or, given t_step_s, a transient stepping x every t_step_s.
    trims: the chip's row trims (default none); load (`ARRAY_LOADS`): what loads each row, by
    default its comparator's input stage in a DC sweep and the whole comparator in a transient
    (where it switches, and its input node with it)."""
    load = load or ("input_stage" if t_step_s is None else "comparators")
    if load not in ARRAY_LOADS:
        raise ValueError(f"load: one of {', '.join(ARRAY_LOADS)}; got {load!r}")
    if load == "input_stage" and t_step_s is not None:
        raise ValueError("load: 'input_stage' stands for the comparator at an operating point only; "
                         "a transient needs 'comparators'")
    layer = plan.layers[0]
    names = [identifier(u.name, "unit name") for u in layer.units]
    cells = ("logic", "comparator") if load == "comparators" else ("comparator_input",)
    lines = header("synapse_array", supply, *cells, "synapse")
    lines += [] if supply.mc_seed is None else [MC_OVER_NEEDED_BINS]  # 11.5 min to expand with every bin
    lines += [] if t_step_s is None else [TRAN_TOLERANCES]
    lines.append(f"Vdd vdd 0 {number(supply.vdd_v, 'vdd_v', positive=True)}")
    lines += mirror_netlist(mirror_array(plan, layer), names, [f"v(x{j})" for j in range(layer.n_in)],
                            vdd_v=supply.vdd_v, trims=trims)
    for u, n in zip(layer.units, names):
        # a 0 V source between the array and the unit's input stage measures the current
        stage = (comparator(u.comparator, f"cmp_{n}", f"inc_{n}", f"up_{n}", f"dn_{n}") if load == "comparators"
                 else comparator_input(u.comparator, f"cmp_{n}", f"inc_{n}"))
        lines += [f"Vm_{n} in_{n} inc_{n} 0", stage]
    if t_step_s is None:  # x_j as a function of the swept index s = 0, 1, ..., S-1
        lines.append("Vsweep s 0 0")
        for j in range(layer.n_in):
            pts = [(k, number(float(v), "x")) for k, v in enumerate(x[:, j])]
            lines.append(f"Bx{j} x{j} 0 V=pwl(v(s), {', '.join(f'{k}, {v}' for k, v in pts)})" if len(x) > 1
                         else f"Vx{j} x{j} 0 {pts[0][1]}")
        analysis = f".dc Vsweep 0 {len(x) - 1} 1"
    else:
        for j in range(layer.n_in):
            lines.append(f"Vx{j} x{j} 0 {step_pwl(list(map(float, x[:, j])), t_step_s, 1e-6, 'x')}")
        analysis = tran(len(x) * t_step_s, t_step_s / 20)
    lines += [".save " + " ".join(f"i(vm_{n})" for n in names), analysis, ".end"]
    return "\n".join(lines) + "\n"


def currents_from_dc(plan: NetworkPlan, res, points: int) -> np.ndarray:
    """Each unit's input current [S, d] from a DC run of `array_bench` over S input vectors."""
    return np.stack([np.atleast_1d(res.i(f"vm_{u.name}"))[:points] for u in plan.layers[0].units], axis=1)


def ideal_currents(plan: NetworkPlan, x: np.ndarray) -> np.ndarray:
    """The contract [S, d]: i_bias + (W x + b) / beta * I_unit, x clipped to the front end's window."""
    c, layer = plan.chip, plan.layers[0]
    xc = np.clip(x, c.x_min, c.x_max)
    beta = layer.beta
    return c.i_bias_a + (xc @ np.array(layer.weight).T + np.array(layer.bias)) / beta * c.i_unit_a


def in_window(plan: NetworkPlan, i_a: np.ndarray) -> np.ndarray:
    """Where currents i_a lie in the contract's window [i_in_min_a, i_in_max_a] (where it is linear)."""
    return (i_a >= plan.chip.i_in_min_a) & (i_a <= plan.chip.i_in_max_a)


def near_threshold(i_ideal_a: np.ndarray, i_bias_a: float, i_unit_a: float) -> np.ndarray:
    """Where the contract's currents i_ideal_a put |z| / beta in NEAR_THRESHOLD."""
    z = np.abs(np.asarray(i_ideal_a) - i_bias_a) / i_unit_a
    return (z >= NEAR_THRESHOLD[0]) & (z <= NEAR_THRESHOLD[1])


@dataclass(frozen=True)
class SynapseCharacterization:
    units: tuple[str, ...]
    i_unit_a: float
    i_bias_a: float
    window_a: tuple[float, float]  # [i_in_min_a, i_in_max_a]: where the contract is linear
    x: np.ndarray = field(repr=False)  # [S, n_in], as applied (before the front end's clip)
    gross: np.ndarray = field(repr=False)  # [S, d] sum_j |w_ij x_j| / beta_i (units of I_unit)
    i_ideal_a: np.ndarray = field(repr=False)  # [S, d]
    i_circuit_a: np.ndarray = field(repr=False)  # [S, d]

    def errors(self) -> np.ndarray:
        """(circuit - ideal) / I_unit [S, d] where the ideal lies in the window, NaN elsewhere."""
        e = (self.i_circuit_a - self.i_ideal_a) / self.i_unit_a
        inside = (self.i_ideal_a >= self.window_a[0]) & (self.i_ideal_a <= self.window_a[1])
        return np.where(inside, e, np.nan)

    def summary(self) -> dict:
        e = self.errors()
        rel = np.where(self.gross >= GROSS_MIN, np.abs(e) / np.maximum(self.gross, GROSS_MIN), np.nan)
        zero = np.flatnonzero(~np.any(self.x, axis=1))  # the x = 0 point, if swept
        per_unit = []
        for i, name in enumerate(self.units):
            ok = np.isfinite(e[:, i])
            ei = e[ok, i]
            # slope of the circuit's current against the contract's (least squares)
            gain = np.polyfit(self.i_ideal_a[ok, i], self.i_circuit_a[ok, i], 1)[0] if ok.sum() > 1 else None
            per_unit.append({"unit": name, "points": int(ei.size), "max_abs_error": float(np.abs(ei).max()),
                             "rms_error": float(np.sqrt(np.mean(ei**2))),
                             "error_at_x0": float(e[zero[0], i]) if zero.size else None,
                             "gain": None if gain is None else float(gain),
                             "max_rel_to_gross": float(np.nanmax(rel[:, i]))
                             if np.any(np.isfinite(rel[:, i])) else None})
        fin = e[np.isfinite(e)]
        near = e[np.isfinite(e) & near_threshold(self.i_ideal_a, self.i_bias_a, self.i_unit_a)]
        return {"points": int(fin.size), "outside_window": int(np.sum(~np.isfinite(e))),
                "max_abs_error": float(np.abs(fin).max()), "rms_error": float(np.sqrt(np.mean(fin**2))),
                "near_threshold_points": int(near.size),
                "max_abs_error_near_threshold": float(np.abs(near).max()) if near.size else None,
                "rms_error_near_threshold": float(np.sqrt(np.mean(near**2))) if near.size else None,
                "max_rel_to_gross": float(np.nanmax(rel)) if np.any(np.isfinite(rel)) else None,
                "units": per_unit}


def characterize_array(plan: NetworkPlan, x: np.ndarray, supply: Supply | None = None,
                       t_step_s: float | None = None, timeout_s: float = 600) -> SynapseCharacterization:
    """Layer 0's mirror array on x [S, n_in]: DC operating points, or with t_step_s a transient
    (one step per row of x, sampled 2 us before each step ends: what a compare phase sees)."""
    if plan.chip.synapses != "mirror":
        raise ValueError("chip.synapses is not 'mirror': the plan has no transistor-level synapse array")
    layer = plan.layers[0]
    supply = supply or plan.chip.supply()
    res = run(array_bench(plan, x, supply, t_step_s), name="synapse_array", timeout_s=timeout_s)
    if t_step_s is None:
        i_c = currents_from_dc(plan, res, len(x))
    else:
        ends = (np.arange(len(x)) + 1) * t_step_s - SAMPLE_BEFORE_END_S
        i_c = np.stack([np.interp(ends, res["time"], res.i(f"vm_{u.name}")) for u in layer.units], axis=1)
    return against_contract(plan, x, i_c)


def against_contract(plan: NetworkPlan, x: np.ndarray, i_c: np.ndarray) -> SynapseCharacterization:
    """The array's input currents i_c [S, d] on inputs x [S, n_in] set against the contract."""
    c, layer = plan.chip, plan.layers[0]
    beta = layer.beta
    gross = np.abs(np.clip(x, c.x_min, c.x_max)) @ np.abs(np.array(layer.weight)).T / beta
    return SynapseCharacterization(tuple(u.name for u in layer.units), c.i_unit_a, c.i_bias_a,
                                   (c.i_in_min_a, c.i_in_max_a),
                                   np.asarray(x), gross, ideal_currents(plan, x), i_c)


def main(argv: list[str] | None = None) -> int:
    from codesign.validation.cosim import load_checked
    from codesign.validation.report import test_sequences

    p = argparse.ArgumentParser(prog="python -m codesign.validation.synapses", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map_dir", type=Path, help="codesign map output with chip.synapses = 'mirror'")
    p.add_argument("--corner", default="tt")
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--sequences", type=int, default=20, help="test sequences the random steps come from")
    p.add_argument("--random", type=int, default=12, help="random task steps added to the sweep")
    p.add_argument("--tran", action="store_true",
                   help="also step the inputs once per compare phase (t_compare_s) in a transient: settling")
    p.add_argument("--out", type=Path, help="JSON file (default MAP_DIR/synapses.json)")
    args = p.parse_args(argv)
    plan = load_checked(args.map_dir)
    x_task, _ = test_sequences(args.map_dir, args.sequences)
    x = sweep_inputs(x_task, plan.layers[0].n_in, n_random=args.random)
    supply = plan.chip.supply(args.corner, args.temp)
    result = {"map_dir": str(args.map_dir), "corner": args.corner, "temp_c": args.temp, "points": len(x),
              "x": x.tolist()}
    for mode, t_step_s in [("dc", None)] + ([("tran", plan.chip.t_compare_s)] if args.tran else []):
        ch = characterize_array(plan, x, supply, t_step_s)
        result[mode] = {"t_step_s": t_step_s, **ch.summary(), "i_ideal_a": ch.i_ideal_a.tolist(),
                        "i_circuit_a": ch.i_circuit_a.tolist()}
    out = args.out or args.map_dir / "synapses.json"
    out.write_text(json.dumps(result, indent=1))
    for mode in ("dc", "tran"):
        if mode in result:
            r = result[mode]
            print(f"{mode}: {len(x)} input vectors x {len(r['units'])} units, error / I_unit: max "
                  f"{r['max_abs_error']:.4f}, rms {r['rms_error']:.4f}; max relative to sum_j |w_ij x_j| / beta_i: "
                  f"{r['max_rel_to_gross']:.4f}; near the thresholds (|z| / beta in {NEAR_THRESHOLD}): max "
                  f"{r['max_abs_error_near_threshold'] or 0:.4f} over {r['near_threshold_points']} points")
            for u in r["units"]:
                print(f"  {u['unit']}: max {u['max_abs_error']:.4f} rms {u['rms_error']:.4f} at x = 0 "
                      f"{u['error_at_x0']:+.4f} gain {u['gain']:.4f}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
