"""Latch hardware (eps = 1, the bistable BMRU): a firing step overwrites a latch
with the sign of c, a silent step holds it; a valid flag marks h != 0 after the
power-on reset (netlists/latch.spice). No restore phase."""

from __future__ import annotations

import numpy as np

from codesign.hardware.cells import cell_library, latch
from codesign.hardware.kinds.base import HardwareKind
from codesign.hardware.params import LatchParams
from codesign.netlist import identifier, number


class LatchKind(HardwareKind):
    name = "latch"
    eps = 1.0
    memory_type = LatchParams
    phases = 1  # phi_t only: no restore phase
    reading_rule = "valid-flag-stays-set-1; follows-clear-inputs-0.25"
    # |z / beta| this far inside or beyond 1: farther than a trimmed comparator's offset and the
    # array's error; a chip whose comparator is truly this far off keeps its reading (RESOLVE's)
    clear_margin = 0.25

    def levels(self, chip) -> int:
        return 1

    def memory(self, chip, alpha: float) -> LatchParams:
        return chip.latch(alpha)

    def t_transfer_s(self, chip) -> float:
        return chip.t_latch_transfer_s

    def t_layer_s(self, chip) -> float:
        c = chip.clock()
        t_t, _ = c.phases(self.t_transfer_s(chip))
        return t_t + self.t_transfer_s(chip) + c.t_edge_s

    def library(self, plan) -> str:
        return cell_library("logic", "comparator", "integrator", "latch")  # the latch uses the logic cells

    def unit_pins(self, plan) -> list[str]:
        return ["in", "out", "q", "v", "phi_t", "rstb", "vdd"]

    def unit_body(self, plan, u) -> str:
        return latch(u.memory, "lat", "up", "dn", "phi_t", "rstb", "out", "q", "v")

    def instance_nodes(self, plan, u, inp, out, phi_t, phi_r) -> list[str]:
        n = identifier(u.name, "unit name")
        return [inp, out, f"q_{n}", f"v_{n}", phi_t, "rstb", "vdd"]

    def shared_sources(self, plan, clocks, vdd_v) -> list[str]:
        v = number(vdd_v, "vdd_v")
        # phi_t only (no restore phase), then the power-on reset (h_0 = 0), released at 50-60 us
        return [line for text in clocks for line in text.splitlines()[:self.phases]] + \
            [f"Vrst rstb 0 PWL(0 0 50e-6 0 60e-6 {v})"]

    def state_saves(self, plan, units) -> list[str]:
        return [f"v(q_{u.name}) v(v_{u.name})" for u in units]

    def read_levels(self, plan, trace, units, times_s) -> np.ndarray:
        half, t, k = plan.chip.vdd_v / 2, trace["time"], []
        for u in units:
            q, v = np.interp(times_s, t, trace.v(f"q_{u.name}")), np.interp(times_s, t, trace.v(f"v_{u.name}"))
            k.append(np.where(v > half, np.where(q > half, 1, -1), 0))
        return np.stack(k, axis=1).astype(np.int64)

    def impossible_readings(self, k: np.ndarray, z_beta: np.ndarray | None = None) -> np.ndarray:
        """h = 0 after a step that read h != 0: only the power-on reset clears the valid flag, and
        its two cross-coupled gates hold it with no input once set. ngspice has dropped it for 1-3
        steps with nothing switching, and set it again as spontaneously. With the inputs: a
        change of h on a step whose |z| / beta lies clear_margin inside 1 (no firing), or h other
        than the sign of z on one clear_margin beyond (a firing overwrites it); FINEST has flipped
        a latch with |z| at 0.05-0.88 beta (docs/results.md, "Simulation speed")."""
        k = np.asarray(k)
        before = np.concatenate([np.zeros_like(k[:1]), k[:-1]])  # h_0 = 0: the power-on reset
        was_set = np.logical_or.accumulate(before != 0, axis=0)
        out = (k == 0) & was_set
        if z_beta is not None:
            z = np.asarray(z_beta, dtype=np.float64)
            silent, firing = np.abs(z) < 1 - self.clear_margin, np.abs(z) > 1 + self.clear_margin
            out |= (silent & (k != before)) | (firing & (k != np.sign(z)))
        return out


KIND = LatchKind()
