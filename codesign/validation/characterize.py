"""Characterization of the unit's cells in ngspice: each function builds its
bench, runs it, and returns the data with a `plot(path)` method.

  hysteresis_loop  comparator trip points, input current swept up then down
  charge_packets   packet size per level (and readout current per level)
  retention        idle steps at the real clock: droop per step, level kept
  unit_power       comparator + integrator + readout, average supply power
  latch_sequence   the eps = 1 unit through a set / hold / reset sequence
  level_comparator_trips  the integrator's level comparators against their boundaries (DC)
  (comparator_settling is in codesign.validation.settling)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.hardware.cells import (
    clock_sources,
    comparator,
    integrator,
    integrator_subckt,
    level_cmp_sizes,
    reference_ladder,
)
from codesign.hardware.params import ClockParams, ComparatorParams, IntegratorParams, Supply
from codesign.netlist import number
from codesign.validation.benches import header, step_pwl, supply_source, tran
from codesign.validation.ngspice import run


def cell_clock(clock: ClockParams, t_transfer_s: float) -> ClockParams:
    """The cell benches' clock: 1 kHz with a 200 us compare phase (ten times fewer idle points
    to simulate than a 100 Hz chip clock), the chip's own gap, restore and edges; the period
    lengthened by whole milliseconds where those do not fit in one. The gap is the level
    comparators' time to decide before the restore: a bench that shortened it would not
    measure the chip (docs/circuits.md, "Decision time on Monte Carlo chips")."""
    fast = dataclasses.replace(clock, period_s=1e-3, t_compare_s=200e-6)
    busy_s = fast.t_compare_s + t_transfer_s + fast.t_gap_s + fast.t_restore_s + fast.t_edge_s
    return dataclasses.replace(fast, period_s=max(1, math.ceil(busy_s / 1e-3 - 1e-9)) * 1e-3)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _edges(t: np.ndarray, v: np.ndarray, level: float) -> list[tuple[float, bool]]:
    """(time, rising) of each crossing of `level`, linearly interpolated."""
    above = v > level
    out = []
    for k in np.nonzero(above[1:] != above[:-1])[0]:
        frac = (level - v[k]) / (v[k + 1] - v[k])
        out.append((float(t[k] + frac * (t[k + 1] - t[k])), bool(above[k + 1])))
    return out


@dataclass(frozen=True)
class HysteresisResult:
    params: ComparatorParams
    supply: Supply
    i_in_a: np.ndarray
    up_v: np.ndarray
    dn_v: np.ndarray
    up_on_a: float  # I_in where up fires (rising input); target I_bias + beta*I_unit
    up_off_a: float  # where up releases (falling); target - i_hyst
    dn_on_a: float  # where dn fires (falling input); target I_bias - beta*I_unit
    dn_off_a: float  # where dn releases (rising); target + i_hyst

    def errors(self) -> dict[str, float]:
        """Trip-point errors relative to the target threshold current and to beta*I_unit."""
        p = self.params
        bu = p.beta * p.i_unit_a
        return {
            "up_on_rel": self.up_on_a / p.i_up_threshold_a - 1,
            "dn_on_rel": self.dn_on_a / p.i_dn_threshold_a - 1,
            "up_on_in_beta": (self.up_on_a - p.i_up_threshold_a) / bu,
            "dn_on_in_beta": (self.dn_on_a - p.i_dn_threshold_a) / bu,
            "hyst_up_rel": (self.up_on_a - self.up_off_a) / p.i_hyst_a - 1 if p.i_hyst_a else float("nan"),
            "hyst_dn_rel": (self.dn_off_a - self.dn_on_a) / p.i_hyst_a - 1 if p.i_hyst_a else float("nan"),
        }

    def plot(self, path: Path) -> Path:
        plt = _figure()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.i_in_a * 1e12, self.up_v, label="up (c=+1)")
        ax.plot(self.i_in_a * 1e12, self.dn_v, label="dn (c=-1)")
        for x in (self.params.i_up_threshold_a, self.params.i_dn_threshold_a):
            ax.axvline(x * 1e12, color="gray", ls=":")
        ax.set(xlabel="input current (pA), swept up then down", ylabel="output (V)",
               title=f"comparator hysteresis, {self.supply.corner} {self.supply.temp_c:g} C")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _loop_range(p: ComparatorParams, span_beta: float) -> tuple[float, float]:
    """The swept input: I_bias -+ span_beta beta I_unit (below, at least a tenth of the dn threshold)."""
    return (max(p.i_bias_a - span_beta * p.beta * p.i_unit_a, 0.1 * p.i_dn_threshold_a),
            p.i_bias_a + span_beta * p.beta * p.i_unit_a)


@dataclass(frozen=True)
class SlowWindows:
    """Where a loop slows down: within window_beta beta I_unit of each threshold it is crossed at,
    `factor` times slower. A comparator that takes a millisecond to decide trails a fast ramp: on
    the keyword-spotting chip's comparator the plain 0.2 s loop reads the trip points 0.8-1.0 % of
    beta later than a loop 16 times slower (docs/circuits.md, "Trip points read on a loop")."""

    window_beta: float
    factor: float


def loop_points(p: ComparatorParams, sweep_s: float = 0.2, span_beta: float = 2.0,
                slow: SlowWindows | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """The loop's input as breakpoints (times, currents) and the time it turns: from I_bias -
    span_beta beta I_unit up to + span_beta over sweep_s, then back down (below, the sweep stops at
    a tenth of the dn threshold); with `slow`, slower across the up threshold on the way up and the
    dn threshold on the way down (the trip points read)."""
    lo, hi = _loop_range(p, span_beta)
    if slow is None:
        return np.array([0.0, sweep_s, 2 * sweep_s]), np.array([lo, hi, lo]), sweep_s
    rate = (hi - lo) / sweep_s
    w = slow.window_beta * p.beta * p.i_unit_a
    up_window = (max(lo, p.i_up_threshold_a - w), min(hi, p.i_up_threshold_a + w))
    dn_window = (min(hi, p.i_dn_threshold_a + w), max(lo, p.i_dn_threshold_a - w))
    currents = [lo, *up_window, hi, *dn_window, lo]
    times = [0.0]
    for k, (a, b) in enumerate(zip(currents, currents[1:])):
        times.append(times[-1] + abs(b - a) / rate * (slow.factor if k in (1, 4) else 1.0))
    keep = [0] + [k for k in range(1, len(times)) if times[k] > times[k - 1]]  # no zero-length segment
    return np.array(times)[keep], np.array(currents)[keep], times[3]


def loop_ramp(p: ComparatorParams, sweep_s: float = 0.2, span_beta: float = 2.0,
              slow: SlowWindows | None = None) -> str:
    """`loop_points` as an ngspice waveform."""
    number(sweep_s, "sweep_s", positive=True)  # a finite positive number, or a ValueError naming it
    times, currents, _ = loop_points(p, sweep_s, span_beta, slow)
    return "PWL(" + " ".join(f"{number(t, 't')} {number(i, 'i')}" for t, i in zip(times, currents)) + ")"


def read_loop(p: ComparatorParams, supply: Supply, t: np.ndarray, up_v: np.ndarray, dn_v: np.ndarray,
              sweep_s: float = 0.2, span_beta: float = 2.0, slow: SlowWindows | None = None) -> HysteresisResult:
    """The trip points of a comparator whose input followed `loop_ramp` and whose outputs are up_v, dn_v."""
    times, currents, turn = loop_points(p, sweep_s, span_beta, slow)
    half = supply.vdd_v / 2
    up, dn = _edges(t, up_v, half), _edges(t, dn_v, half)
    ramp = lambda tt: float(np.interp(tt, times, currents))  # noqa: E731
    try:
        up_on = next(ramp(tt) for tt, r in up if r and tt < turn)
        up_off = next(ramp(tt) for tt, r in up if not r and tt > turn)
        dn_off = next(ramp(tt) for tt, r in dn if not r and tt < turn)
        dn_on = next(ramp(tt) for tt, r in dn if r and tt > turn)
    except StopIteration:
        raise RuntimeError(f"comparator did not switch both ways: up edges {up}, dn edges {dn}") from None
    return HysteresisResult(p, supply, np.interp(t, times, currents), up_v, dn_v, up_on, up_off, dn_on, dn_off)


def hysteresis_bench(p: ComparatorParams, supply: Supply, sweep_s: float = 0.2, span_beta: float = 2.0,
                     title: str = "hysteresis", slow: SlowWindows | None = None) -> str:
    """The netlist of `hysteresis_loop`: I_in ramped up over sweep_s, then down."""
    net = header(title, supply, "logic", "comparator") + [
        supply_source("dd", "vdd", supply),
        f"Iin vdd in {loop_ramp(p, sweep_s, span_beta, slow)}",
        comparator(p, "cmp", "in", "up", "dn"),
        ".save v(up) v(dn)",
        tran(loop_points(p, sweep_s, span_beta, slow)[0][-1], sweep_s / 2000),
        ".end",
    ]
    return "\n".join(net) + "\n"


def hysteresis_loop(p: ComparatorParams, supply: Supply, sweep_s: float = 0.2, timeout_s: float = 3600,
                    span_beta: float = 2.0, title: str = "hysteresis",
                    slow: SlowWindows | None = None) -> HysteresisResult:
    """Sweep I_in from I_bias - span_beta beta I_unit up to I_bias + span_beta beta I_unit and back
    (below, the sweep stops at a tenth of the dn threshold); with `slow`, slower near the thresholds."""
    res = run(hysteresis_bench(p, supply, sweep_s, span_beta, title, slow), name=title, timeout_s=timeout_s)
    return read_loop(p, supply, res["time"], res.v("up"), res.v("dn"), sweep_s, span_beta, slow)


def _integrator_bench(title: str, ip: IntegratorParams, clock: ClockParams, supply: Supply,
                      c_seq: list[int], v_start: float, save: str, timeout_s: float) -> tuple:
    up = step_pwl([supply.vdd_v if c > 0 else 0.0 for c in c_seq], clock.period_s, clock.t_edge_s, "up")
    dn = step_pwl([supply.vdd_v if c < 0 else 0.0 for c in c_seq], clock.period_s, clock.t_edge_s, "dn")
    net = header(title, supply, "logic", "integrator") + [
        integrator_subckt(ip),
        supply_source("dd", "vdd", supply),
        reference_ladder(ip),
        clock_sources(clock, ip.t_pkt_s, supply.vdd_v),
        f"Vup up 0 {up}",
        f"Vdn dn 0 {dn}",
        "Vout out 0 0.6",  # stands for the next layer's input diode
        integrator(ip, "u", "up", "dn", "phi_t", "phi_r", "vc", "out"),
        f".ic v(vc)={number(v_start, 'v_start')}",
        save,
        tran(len(c_seq) * clock.period_s,
             min(clock.period_s / 20, 20e-6) if title == "packets" else clock.period_s / 2),
        ".end",
    ]
    return run("\n".join(net) + "\n", name=title, timeout_s=timeout_s), clock.phases(ip.t_pkt_s)


@dataclass(frozen=True)
class PacketResult:
    params: IntegratorParams
    supply: Supply
    from_level: list[int]  # level k before each step
    direction: list[int]  # +1 up, -1 down
    dv_v: np.ndarray  # voltage moved by the packet (before restore)
    restored_v: np.ndarray  # capacitor voltage at the end of each step
    readout_a: np.ndarray  # output current at the end of each step
    time: np.ndarray = field(repr=False)
    vc: np.ndarray = field(repr=False)

    def errors(self) -> np.ndarray:
        """Relative packet-size error for steps that are not saturated."""
        L = self.params.levels_per_side
        keep = [(-L <= k + d <= L) for k, d in zip(self.from_level, self.direction)]
        return np.abs(self.dv_v[keep]) / self.params.dv_level_v - 1

    def plot(self, path: Path) -> Path:
        plt = _figure()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.time * 1e3, self.vc)
        for k in range(-self.params.levels_per_side, self.params.levels_per_side + 1):
            ax.axhline(self.params.level_v(k), color="gray", ls=":", lw=0.8)
        ax.set(xlabel="time (ms)", ylabel="V(hold cap) (V)",
               title=f"charge packets and restore, {self.supply.corner} {self.supply.temp_c:g} C")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def charge_packets(ip: IntegratorParams, clock: ClockParams, supply: Supply, timeout_s: float = 3600) -> PacketResult:
    """From the mid level: down to saturation, up through all levels, down again."""
    L = ip.levels_per_side
    seq = [-1] * (L + 1) + [1] * (2 * L + 1) + [-1] * (2 * L + 1)
    res, (t_t, t_r) = _integrator_bench("packets", ip, clock, supply, seq, ip.level_v(0), ".save v(vc) i(vout)",
                                        timeout_s)
    t, vc, T = res["time"], res.v("vc"), clock.period_s
    at = lambda tt: float(np.interp(tt, t, vc))  # noqa: E731
    before = np.array([at(k * T + t_t - 2e-6) for k in range(len(seq))])
    after_pkt = np.array([at(k * T + t_r - 2e-6) for k in range(len(seq))])
    ends = [(k + 1) * T - 2e-6 for k in range(len(seq))]
    levels = [int(round((v - ip.level_v(0)) / ip.dv_level_v)) for v in before]
    return PacketResult(ip, supply, levels, seq, after_pkt - before, np.array([at(e) for e in ends]),
                        -np.interp(ends, t, res.i("vout")), t, vc)


@dataclass(frozen=True)
class RetentionResult:
    params: IntegratorParams
    supply: Supply
    period_s: float
    level: int
    restored_v: np.ndarray  # after each step's restore
    pre_restore_v: np.ndarray  # just before each step's restore (after the idle hold)
    time: np.ndarray = field(repr=False)
    vc: np.ndarray = field(repr=False)

    @property
    def worst_droop_v(self) -> float:
        """Largest deviation from the level seen just before a restore."""
        return float(np.max(np.abs(self.pre_restore_v - self.params.level_v(self.level))))

    @property
    def final_level(self) -> int:
        return int(round((self.restored_v[-1] - self.params.level_v(0)) / self.params.dv_level_v))

    def plot(self, path: Path) -> Path:
        plt = _figure()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        steps = np.arange(1, len(self.restored_v) + 1)
        ax.plot(steps, (self.pre_restore_v - self.params.level_v(self.level)) * 1e3, ".", ms=2, label="before restore")
        ax.plot(steps, (self.restored_v - self.params.level_v(self.level)) * 1e3, ".", ms=2, label="after restore")
        ax.axhline(-self.params.dv_level_v / 2 * 1e3, color="red", ls=":", label="window edge")
        ax.set(xlabel=f"idle step ({1 / self.period_s:g} Hz clock)", ylabel="V - level (mV)",
               title=f"retention at level {self.level}, {self.supply.corner} {self.supply.temp_c:g} C")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def retention(ip: IntegratorParams, clock: ClockParams, supply: Supply, steps: int = 10_000, level: int | None = None,
              v_start: float | None = None, segment_steps: int = 1000, timeout_s: float = 3600) -> RetentionResult:
    """`steps` idle clock steps (c = 0) at the real clock, all phases running.

    The time step is allowed up to half a period: between clock edges nothing
    but leakage moves, so the solver strides through the idle holds while
    every edge (transfer and restore phases) is resolved.

    Long runs go in consecutive segments of `segment_steps`, each a new ngspice
    run started from the capacitor voltage the previous one ended on: ngspice's
    cost per time point grows with the length of one run. The hand-over is at
    a period boundary, where the clocks are low and the inputs idle, so the
    capacitor voltage is the circuit's whole state (its logic is combinational).
    """
    level = ip.levels_per_side if level is None else level
    v0 = ip.level_v(level) if v_start is None else v_start
    T = clock.period_s
    pre, post, times, vcs = [], [], [], []
    done = 0
    while done < steps:
        n = min(segment_steps, steps - done)
        res, (t_t, t_r) = _integrator_bench("retention", ip, clock, supply, [0] * n, v0, ".save v(vc) i(vdd)",
                                            timeout_s)
        t, vc = res["time"], res.v("vc")
        pre.append(np.interp([k * T + t_r - 2e-6 for k in range(n)], t, vc))
        post.append(np.interp([k * T + t_r + clock.t_restore_s + 3 * clock.t_edge_s for k in range(n)], t, vc))
        times.append(t + done * T)
        vcs.append(vc)
        v0 = float(vc[-1])
        done += n
    return RetentionResult(ip, supply, T, level, np.concatenate(post), np.concatenate(pre),
                           np.concatenate(times), np.concatenate(vcs))


def level_comparator_trips(ip: IntegratorParams, supply: Supply,
                           sweep_v: float = 0.1, step_v: float = 1e-3, timeout_s: float = 3600) -> np.ndarray:
    """Trip point minus boundary (V) of the integrator's level comparator at each of its
    2L boundaries: one DC sweep moves every comparator's input across its own boundary
    (input = boundary + the swept offset), the 2L comparators on one tail bias diode at
    ip.i_cmp_a as in the integrator, so that on a Monte Carlo chip they are one chip's
    2L comparators, each with devices of its own. The restore picks the wrong level if
    one of these approaches half a level (docs/circuits.md, "Level comparators")."""
    n = 2 * ip.levels_per_side
    sizes = level_cmp_sizes(ip)
    net = header("level_cmp", supply, "logic", "integrator") + [
        supply_source("dd", "vdd", supply), "Voff off 0 0",
        f"Ib vdd icmp {number(ip.i_cmp_a, 'i_cmp_a', positive=True)}",
        "XMB icmp icmp 0 0 sky130_fd_pr__nfet_01v8 w=1 l=4"]  # the integrator's tail bias diode
    for j in range(1, n + 1):
        b = number(ip.level_v(j - ip.levels_per_side) - ip.dv_level_v / 2, "boundary")
        net += [f"Vref{j} ref{j} 0 {b}", f"Vin{j} in{j} off {b}",
                f"XL{j} in{j} ref{j} q{j} qb{j} icmp vdd 0 mru_level_cmp{sizes}"]
    net += [".save " + " ".join(f"v(q{j})" for j in range(1, n + 1)),
            f".dc Voff {number(-sweep_v, 'v')} {number(sweep_v, 'v')} {number(step_v, 'step', positive=True)}", ".end"]
    res = run("\n".join(net) + "\n", name="level_cmp", timeout_s=timeout_s)
    offset = res["v(v-sweep)"]
    errors = []
    for j in range(1, n + 1):
        high = res.v(f"q{j}") > supply.vdd_v / 2
        errors.append(float(offset[np.argmax(high)]) if high.any() and not high[0] else float("nan"))
    return np.array(errors)
