"""Power of each mapped unit as mapped: its own subcircuit from the map folder (comparator,
decision latch, memory cell, per-unit bias diodes, readout scaled by its alpha) on a
supply of its own, driven straight by an activity pattern in units of its beta.

Counted: the unit's supply current, its input current (the synapse current it
sinks, drawn from the supply) and its readout output current, each at the supply
voltage. The unit's levels at every step are checked against the golden model's
for the same pattern, and a run whose levels leave them is solved again at
tighter tolerances, as co-simulation does (`cosim.SolverOptions`): at ngspice's
reltol 1e-3 a decision latch at sf 27 C, 1.08 V dropped its decision on a
clock edge, so the unit never moved up and drew 4.1 nW instead of 5.9
(measured 2026-12-01; held at 1e-4, 1e-5 and under gear integration). A
unit that still leaves them is reported (`follows_contract`).

Measured apart (`clock_w`, not in `total_w`): what the unit's gates on the clock lines cost a
CMOS driver, the charge the ideal clock sources deliver into them times vdd. Not simulated
(ideal sources in every bench), budgeted by `shared_budget`: the bias generator's master
branches and reference core, the level ladder and the mirror array's rail regulators.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codesign.hardware.params import Supply
from codesign.manifest import NetworkPlan, UnitPlan
from codesign.mapping.netlists import layer_clocks, library, shared_sources, unit_subckt
from codesign.mru import reference
from codesign.netlist import identifier, number
from codesign.validation.benches import header, step_pwl, tran, unit_supply
from codesign.validation.cosim import DEFAULT, SolverOptions, solve_cascade, step_end_levels
from codesign.validation.unit import DEFAULT_Z, time_mean


def power_bench(plan: NetworkPlan, u: UnitPlan, supply: Supply, z_beta: list[float],
                options: SolverOptions = DEFAULT) -> str:
    c, n = plan.chip, identifier(u.name, "unit name")
    i_in = step_pwl([c.i_bias_a + z * c.i_unit_a for z in _carried(plan, z_beta)], c.clock_period_s, c.t_edge_s, "z")
    nodes = c.kind.instance_nodes(plan, u, "in", "out", *layer_clocks(u.layer))[:-1] + ["vdd_u"]
    lines = header("unit_power", unit_supply(supply, [u.name])) + options.lines() + [
        library(plan), unit_subckt(plan, u), *shared_sources(plan, supply.vdd_v),
        f"Vdd_u vdd_u 0 {number(supply.vdd_v, 'vdd_v', positive=True)}",
        f"Iin vdd_u in {i_in}", f"X{n} {' '.join(nodes)} mru_unit_{n}", f"Vo out 0 {number(c.v_out_v, 'v_out_v')}"]
    lines += c.kind.initial_states(plan, [u])
    clocks = " ".join(f"i(v{phi})" for phi in _clock_lines(plan, u))
    lines += [f".save i(vdd_u) i(vo) {clocks} " + " ".join(c.kind.state_saves(plan, [u])),
              tran(len(z_beta) * c.clock_period_s, c.clock_period_s / 20), ".end"]
    return "\n".join(lines) + "\n"


def _clock_lines(plan: NetworkPlan, u: UnitPlan) -> tuple[str, ...]:
    """The clock lines unit u takes (its layer's, as many as its hardware kind has phases)."""
    return layer_clocks(u.layer)[:plan.chip.kind.phases]


def _carried(plan: NetworkPlan, z_beta: list[float]) -> np.ndarray:
    """The pattern as the input current carries it (clipped to the chip's input window)."""
    return np.clip(np.asarray(z_beta, dtype=np.float64), plan.chip.z_min, plan.chip.z_max)


def contract_levels(plan: NetworkPlan, u: UnitPlan, z_beta: list[float]) -> np.ndarray:
    """The golden model's level after each step of the pattern, [T, 1]."""
    z = _carried(plan, z_beta)[:, None] * u.beta
    return np.rint(reference(z, u.alpha, u.beta, plan.eps, plan.levels * u.alpha) / u.alpha).astype(np.int64)


def mapped_unit_power(plan: NetworkPlan, supply: Supply, z_beta: list[float] = DEFAULT_Z, repeats: int = 2,
                      workers: int = 1, timeout_s: float = 3600) -> list[dict]:
    """[{unit, alpha, total_w, supply_w, readout_w, clock_w, input_w, follows_contract}] of every unit of the plan: one
    ngspice run each, and again at tighter tolerances where its levels leave the golden model's."""
    zs = list(z_beta) * repeats
    units = plan.units
    benches = [lambda o, u=u: power_bench(plan, u, supply, zs, o) for u in units]
    expected = [contract_levels(plan, u, zs) for u in units]
    results, levels, _ = solve_cascade(benches, lambda i, r: [step_end_levels(plan, r, [units[i]], len(zs))],
                                       lambda i: [expected[i]], "power", DEFAULT, workers, timeout_s, None,
                                       lambda i: [_carried(plan, zs)[:, None]],
                                       kind=plan.chip.kind)
    c = plan.chip
    input_a = float(np.mean(c.i_bias_a + _carried(plan, zs) * c.i_unit_a))  # the synapse current it sinks
    rows = []
    for u, res, k, want in zip(units, results, levels, expected):
        t, v = res["time"], supply.vdd_v
        supply_w, readout_w = -v * time_mean(t, res.i("vdd_u")), -v * time_mean(t, res.i("vo"))
        clock_w = sum(charging_w(t, res.i(f"v{phi}"), v) for phi in _clock_lines(plan, u))
        rows.append({"unit": u.name, "alpha": u.alpha, "supply_w": supply_w, "readout_w": readout_w,
                     "total_w": supply_w + readout_w, "clock_w": clock_w, "input_w": v * input_a,
                     "follows_contract": bool(np.array_equal(k[0], want))})
    return rows


def charging_w(t: np.ndarray, i_source_a: np.ndarray, vdd_v: float) -> float:
    """Mean power a CMOS driver draws from vdd to charge a line that an ideal source drives: the
    charge the source delivers into the line (current out of its + node) times vdd, per second."""
    return vdd_v * time_mean(t, np.clip(-i_source_a, 0.0, None))


@dataclass(frozen=True)
class SharedBudget:
    """What every bench leaves to ideal sources, as a designer would budget it: estimates, not
    simulations. Each unit's bias currents come from mirror outputs of one master branch per kind
    (one more copy of a unit's bias currents), set by a self-biased subthreshold reference; one
    string makes the integrator's 2L + 1 levels and 2L boundaries (gate loads only); each row rail
    of a mirror array is held by an amplifier."""

    reference_branches: int = 2
    ladder_current_a: float = 100e-12
    regulator_quiescent_a: float = 200e-12  # per row rail: a subthreshold OTA's tail


def shared_budget(plan: NetworkPlan, rows: list[dict], budget: SharedBudget = SharedBudget()) -> dict:
    """Estimated supply power (W) of the shared circuits the benches model ideally, from the rows of
    `mapped_unit_power`: the master branches copy the costliest unit's own supply current once
    (without its input: an upper bound of its bias currents)."""
    c = plan.chip
    items = {"reference_w": budget.reference_branches * c.i_unit_a * c.vdd_v,
             "bias_master_w": max(r["supply_w"] - r["input_w"] for r in rows),
             "ladder_w": budget.ladder_current_a * c.vdd_v if c.hardware == "integrator" else 0.0,
             "rail_regulators_w": (budget.regulator_quiescent_a * len(plan.layers[0].units) * c.vdd_v
                                   if c.synapses == "mirror" else 0.0)}
    return {**items, "total_w": sum(items.values()), "budget": dataclasses.asdict(budget)}


def mirror_array_extra_current(p, x: np.ndarray) -> dict:
    """Mean supply current of a mirror synapse array (p: MirrorArrayParams) over inputs x [..., n_in],
    beyond the unit input currents that mapped_unit_power already counts, in A.

    By Kirchhoff's law with the front end, the bias sources and the rails' regulators ideal, as in the
    netlist (a regulator counted as drawing its row's current from the supply, as on a chip): column j's
    diode carries I_x,j (two columns per input with a differential front end), the reference column
    i_xbias, row i's replica its reference current; the current N_i of the synapses draining into
    the row's nfet mirror flows through it, and the mirror sinks N_i again from the unit input; a
    negative fixed current F_i is sunk from the input, which the other synapses then also supply.
    Row i draws P_i + N_i + max(F_i, 0) from the supply while its unit takes P_i - N_i + F_i: the
    difference 2 N_i + max(-F_i, 0) is the array's own."""
    i_x = p.column_currents(x)
    i_x = i_x.reshape(-1, i_x.shape[-1]).mean(axis=0)  # mean over every frame: the array is linear in I_x
    _, to_mirror = p.column_codes
    negative = (to_mirror * i_x[None, :]).sum(axis=1) * np.asarray(p.i_code_a) / p.i_xunit_a
    rows = np.asarray(p.i_row_ref_a) + 2 * negative + np.clip(-np.asarray(p.i_fixed_a), 0, None)
    return {"columns_a": float(i_x.sum()), "reference_a": p.i_xbias_a, "rows_a": float(rows.sum()),
            "total_a": float(i_x.sum() + p.i_xbias_a + rows.sum())}
