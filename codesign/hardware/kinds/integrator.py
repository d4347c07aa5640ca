"""Integrator hardware (eps = 0, the cumulative CMRU): a charge pump moves one
packet per firing step on a hold capacitor restored every step to one of 2L+1
levels from a shared reference ladder (netlists/integrator.spice)."""

from __future__ import annotations

import numpy as np

from codesign.hardware.cells import cell_library, integrator, integrator_subckt, reference_ladder
from codesign.hardware.kinds.base import HardwareKind
from codesign.hardware.params import IntegratorParams
from codesign.netlist import identifier, number


class IntegratorKind(HardwareKind):
    name = "integrator"
    eps = 0.0
    memory_type = IntegratorParams

    def levels(self, chip) -> int:
        return chip.levels

    def fit_problems(self, model_cfg, chip) -> list[str]:
        problems = []
        if model_cfg.levels is None:
            problems.append("model.levels: the network was trained without a clip; the hardware always clips "
                            f"at L = {chip.levels} (chip key levels): retrain with model.levels = {chip.levels}")
        elif model_cfg.levels != chip.levels:
            problems.append(f"levels: the network was trained with model.levels = {model_cfg.levels} per side, "
                            f"the chip's integrator has levels = {chip.levels}: retrain with model.levels = "
                            f"{chip.levels} or map with --chip-set levels={model_cfg.levels}")
        n_units = model_cfg.hidden * model_cfg.layers
        if n_units * chip.c_hold_f > chip.c_budget_f:
            problems.append(f"c_budget_f: {n_units} units x c_hold_f {chip.c_hold_f:g} F = "
                            f"{n_units * chip.c_hold_f:g} F exceeds the chip's c_budget_f {chip.c_budget_f:g} F")
        return problems

    def memory(self, chip, alpha: float) -> IntegratorParams:
        return chip.integrator(alpha)

    def t_transfer_s(self, chip) -> float:
        return chip.integrator(1.0).t_pkt_s  # the packet time

    def t_layer_s(self, chip) -> float:
        c = chip.clock()
        _, t_r = c.phases(self.t_transfer_s(chip))
        return t_r + c.t_restore_s + c.t_edge_s

    def library(self, plan) -> str:
        return "\n".join([cell_library("logic", "comparator", "integrator"), integrator_subckt(plan.units[0].memory)])

    def unit_pins(self, plan) -> list[str]:
        n = 2 * plan.levels
        return (["in", "out", "vc", "phi_t", "phi_r"] + [f"ref_lvl{m}" for m in range(n + 1)]
                + [f"ref_b{j}" for j in range(1, n + 1)] + ["vdd"])

    def unit_body(self, plan, u) -> str:
        return integrator(u.memory, "int", "up", "dn", "phi_t", "phi_r", "vc", "out", ladder="ref")

    def instance_nodes(self, plan, u, inp, out, phi_t, phi_r) -> list[str]:
        n = identifier(u.name, "unit name")
        return [inp, out, f"vc_{n}", phi_t, phi_r] + self.unit_pins(plan)[5:-1] + ["vdd"]

    def shared_sources(self, plan, clocks, vdd_v) -> list[str]:
        return [reference_ladder(plan.units[0].memory, "ref"), *clocks]

    def initial_states(self, plan, units) -> list[str]:
        return [f".ic v(vc_{u.name})={number(u.memory.level_v(0), 'level')}" for u in units]

    def state_saves(self, plan, units) -> list[str]:
        return [f"v(vc_{u.name})" for u in units]

    def read_levels(self, plan, trace, units, times_s) -> np.ndarray:
        k = []
        for u in units:
            p = u.memory
            vc = np.interp(times_s, trace["time"], trace.v(f"vc_{u.name}"))
            k.append(np.clip(np.rint((vc - p.level_v(0)) / p.dv_level_v), -plan.levels, plan.levels))
        return np.stack(k, axis=1).astype(np.int64)


KIND = IntegratorKind()
