"""Whole-unit benches: power of comparator + integrator + readout at a clock
rate, and the eps = 1 latch unit through a set / hold / reset sequence."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.hardware.cells import (
    clock_sources,
    integrator,
    integrator_subckt,
    latch,
    latched_comparator,
    reference_ladder,
)
from codesign.hardware.params import ClockParams, ComparatorParams, IntegratorParams, LatchParams, Supply
from codesign.netlist import number
from codesign.validation.benches import header, step_pwl, supply_source, tran
from codesign.validation.characterize import _figure
from codesign.validation.ngspice import run

# A default activity pattern for power: a third of the steps fire.
DEFAULT_Z = [0.0, 1.6, 0.0, 0.3, -1.6, 0.0, 1.6, 1.6, -0.4, 0.0, -1.6, 0.0]


def time_mean(t: np.ndarray, x: np.ndarray) -> float:
    """Time average of a trace sampled at uneven time points."""
    return float(np.trapezoid(x, t) / (t[-1] - t[0]))


@dataclass(frozen=True)
class PowerResult:
    period_s: float
    supply: Supply
    z: list[float]
    comparator_w: float  # comparator incl. its input current and bias diodes
    integrator_w: float  # charge pump, level comparators, restore logic, biases
    readout_w: float  # output current, counted at the supply voltage
    clock_w: float  # share of the clock drivers (phi_t, phi_r gate charge)
    final_vc: float
    vc: np.ndarray = field(repr=False)
    time: np.ndarray = field(repr=False)

    @property
    def total_w(self) -> float:
        return self.comparator_w + self.integrator_w + self.readout_w + self.clock_w


def unit_power(cp: ComparatorParams, ip: IntegratorParams, clock: ClockParams, supply: Supply,
               z: list[float] = DEFAULT_Z, repeats: int = 2, timeout_s: float = 3600) -> PowerResult:
    """Average power of one CMRU unit driven by z (repeated), measured per supply.

    The comparator and the integrator have their own supply sources so the
    breakdown is measured, not estimated. Shared references (ladder, bias
    generator's own reference) are not counted; the per-unit bias diodes are.
    """
    zs = list(z) * repeats
    i_in = step_pwl([cp.i_bias_a + v * cp.i_unit_a for v in zs], clock.period_s, clock.t_edge_s, "z")
    net = header("unit_power", supply, "logic", "comparator", "integrator") + [
        integrator_subckt(ip),
        supply_source("cmp", "vdd_c", supply),
        supply_source("int", "vdd_i", supply),
        reference_ladder(ip),
        clock_sources(clock, ip.t_pkt_s, supply.vdd_v),
        f"Iin vdd_c in {i_in}",
        latched_comparator(cp, "cmp", "in", "up", "dn", "phi_t", vdd="vdd_c"),
        integrator(ip, "u", "up", "dn", "phi_t", "phi_r", "vc", "out", vdd="vdd_i"),
        "Vout out 0 0.6",
        f".ic v(vc)={number(ip.level_v(0), 'level')}",
        ".save v(vc) i(vcmp) i(vint) i(vout) i(vphi_t) i(vphi_r) v(phi_t) v(phi_r)",
        tran(len(zs) * clock.period_s, clock.period_s / 20),
        ".end",
    ]
    res = run("\n".join(net) + "\n", name="unit_power", timeout_s=timeout_s)
    t, v = res["time"], supply.vdd_v
    clock_w = -time_mean(t, res.v("phi_t") * res.i("vphi_t")) - time_mean(t, res.v("phi_r") * res.i("vphi_r"))
    return PowerResult(clock.period_s, supply, zs, -v * time_mean(t, res.i("vcmp")), -v * time_mean(t, res.i("vint")),
                       -v * time_mean(t, res.i("vout")), clock_w, float(res.v("vc")[-1]), res.v("vc"), t)


@dataclass(frozen=True)
class LatchResult:
    c: list[int]
    q_v: np.ndarray  # latch output at the end of each step
    valid_v: np.ndarray
    readout_a: np.ndarray  # output current at the end of each step
    i_step_a: float

    def h_in_alpha(self) -> np.ndarray:
        """State read back from the output current: I_out / (alpha I_unit) - 1."""
        return self.readout_a / self.i_step_a - 1

    def plot(self, path: Path) -> Path:
        plt = _figure()
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.step(range(len(self.c)), self.c, where="post", label="c_t")
        ax.step(range(len(self.c)), self.h_in_alpha(), where="post", label="h_t / alpha (from I_out)")
        ax.set(xlabel="step", title="bistable unit (eps = 1)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def latch_sequence(c: list[int], p: LatchParams, clock: ClockParams, supply: Supply,
                   t_transfer_s: float, timeout_s: float = 3600) -> LatchResult:
    """Drive up/dn with the ternary sequence c (after a reset) and read the state."""
    up = step_pwl([supply.vdd_v if x > 0 else 0.0 for x in c], clock.period_s, clock.t_edge_s, "up")
    dn = step_pwl([supply.vdd_v if x < 0 else 0.0 for x in c], clock.period_s, clock.t_edge_s, "dn")
    vdd = number(supply.vdd_v, "vdd_v")
    net = header("latch", supply, "logic", "integrator", "latch") + [
        supply_source("dd", "vdd", supply),
        clock_sources(clock, t_transfer_s, supply.vdd_v),
        f"Vrst rstb 0 PWL(0 0 50u 0 60u {vdd})",  # power-on reset: h_0 = 0
        f"Vup up 0 {up}",
        f"Vdn dn 0 {dn}",
        "Vout out 0 0.6",
        latch(p, "u", "up", "dn", "phi_t", "rstb", "out", "q", "v"),
        ".save v(q) v(v) i(vout)",
        tran(len(c) * clock.period_s, clock.period_s / 50),
        ".end",
    ]
    res = run("\n".join(net) + "\n", name="latch", timeout_s=timeout_s)
    t = res["time"]
    ends = [(k + 1) * clock.period_s - 2e-6 for k in range(len(c))]
    return LatchResult(list(c), np.interp(ends, t, res.v("q")), np.interp(ends, t, res.v("v")),
                       -np.interp(ends, t, res.i("vout")), p.i_step_a)
