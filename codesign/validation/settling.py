"""Comparator settling: how long the comparator's up / dn outputs take to reach
a logic level after an input step near a threshold, per overdrive and history.
This sets the compare phase of the clock (`ChipSpec.t_compare_s`,
docs/circuits.md "Comparator settling").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.hardware.cells import comparator
from codesign.hardware.params import ComparatorParams, Supply
from codesign.netlist import number
from codesign.validation.benches import header, supply_source, tran
from codesign.validation.characterize import _edges, _figure
from codesign.validation.ngspice import Job, run_many

# Overdrive d: the input steps to z = +-beta * (1 + d) (beta = 1 in units of
# I_unit, as every mapped comparator). d > 0 must fire, d < 0 must not.
SETTLING_OVERDRIVES = (-0.2, -0.1, -0.05, -0.02, -0.01, -0.005, -0.002, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
# Input before the step, for the up half (mirrored, z -> -z, for the dn half):
# mid dead zone, far on the other side, just inside the threshold, far beyond
# it (the comparator had fired).
SETTLING_HISTORIES = (0.0, -2.0, 0.9, 2.0)
# Settled: within this fraction of vdd of the rail the output ends on, for
# good. The up half's single inverter leaves its output between the rails
# within ~1 % of the threshold (0.16 V at d = -0.01, 0.58 V at -0.005 at tt):
# 20 % (0.24 V at 1.2 V) is a clean logic level for the gates that read up/dn.
SETTLED_BAND = 0.2


@dataclass(frozen=True)
class SettlingResult:
    params: ComparatorParams
    supply: Supply
    window_s: float  # simulated time after the input step
    max_step_s: float  # the time resolution
    rows: tuple[dict, ...]  # one per (half, overdrive, history); see comparator_settling
    time: np.ndarray = field(repr=False)  # time after the input step
    traces: np.ndarray = field(repr=False)  # [case, time] the output of the half under test

    def table(self) -> list[dict]:
        return [dict(r) for r in self.rows]

    def worst_settle_s(self, min_abs_d: float = 0.005) -> float:
        """Longest settle time over every case with |d| >= min_abs_d (inf if one never settled)."""
        times = [r["settle_s"] for r in self.rows if abs(r["d"]) >= min_abs_d - 1e-12]
        return max(times) if times else float("nan")

    def worst_by_overdrive(self) -> dict[float, float]:
        """|d| -> longest settle time over both signs, halves and histories."""
        out: dict[float, float] = {}
        for r in self.rows:
            a = abs(r["d"])
            out[a] = max(out.get(a, 0.0), r["settle_s"])
        return dict(sorted(out.items()))

    def smallest_right_d(self) -> float:
        """Smallest |d| at and above which every decision (both signs, halves, histories) is right."""
        ok = float("nan")
        for a in sorted({abs(r["d"]) for r in self.rows}, reverse=True):
            if not all(r["right"] for r in self.rows if abs(r["d"]) == a):
                break
            ok = a
        return ok

    def settled_before(self, t_s: float, min_abs_d: float = 0.0) -> bool:
        """Every case with |d| >= min_abs_d decided right and settled within t_s of the step."""
        return all(r["right"] and r["settle_s"] <= t_s for r in self.rows if abs(r["d"]) >= min_abs_d - 1e-12)

    def latest_settled_s(self, min_abs_d: float = 0.005) -> float:
        """Latest settle time among the cases with |d| >= min_abs_d that end right (a
        longer compare phase cannot help the undecided or wrong ones)."""
        times = [r["settle_s"] for r in self.rows if abs(r["d"]) >= min_abs_d - 1e-12 and r["right"]]
        return max(times) if times else float("nan")

    def summary(self) -> dict:
        return {"worst_settle_s_d_ge_0.005": self.worst_settle_s(0.005),
                "worst_settle_s_d_ge_0.01": self.worst_settle_s(0.01),
                "latest_right_settle_s_d_ge_0.005": self.latest_settled_s(0.005),
                "worst_settle_s_by_abs_d": {f"{a:g}": t for a, t in self.worst_by_overdrive().items()},
                "smallest_abs_d_right": self.smallest_right_d(),
                "undecided": [f"{r['half']} d={r['d']:+g} z_prev={r['z_prev']:+g} ({r['final_v']:.2f} V)"
                              for r in self.rows if not math.isfinite(r["settle_s"])],
                "wrong": [f"{r['half']} d={r['d']:+g} z_prev={r['z_prev']:+g}" for r in self.rows
                          if math.isfinite(r["settle_s"]) and not r["right"]]}

    def markdown(self) -> str:
        """Settle time (us) per overdrive d (rows) and history (columns: half, z_prev)."""
        cols = sorted({(r["half"], r["z_prev"]) for r in self.rows}, key=lambda c: (c[0] != "up", abs(c[1]), c[1]))
        cell = {(r["half"], r["z_prev"], r["d"]): r for r in self.rows}
        lines = ["| d | " + " | ".join(f"{h} from {z:+g}" for h, z in cols) + " |",
                 "|---" * (len(cols) + 1) + "|"]
        for d in sorted({r["d"] for r in self.rows}):
            txt = []
            for h, z in cols:
                r = cell.get((h, z, d))
                if r is None:
                    txt.append("")
                elif not math.isfinite(r["settle_s"]):
                    txt.append(f"undecided ({r['final_v']:.2f} V)")
                else:
                    txt.append(f"{r['settle_s'] * 1e6:.0f}" + ("" if r["right"] else " **wrong**"))
            lines.append(f"| {d:+g} | " + " | ".join(txt) + " |")
        return "\n".join(lines) + "\n"

    def plot(self, path: Path, t_compare_s: tuple[float, ...] = (200e-6,)) -> Path:
        plt = _figure()
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        marks = {}
        for r in self.rows:
            key = (r["half"], r["z_prev"])
            marks.setdefault(key, "osD^v<>"[len(marks) % 7])
        for (half, zp), m in marks.items():
            for sign, color in ((1, "C0"), (-1, "C3")):
                rs = sorted((r for r in self.rows if r["half"] == half and r["z_prev"] == zp and r["d"] * sign > 0),
                            key=lambda r: abs(r["d"]))
                y = [min(r["settle_s"], self.window_s) * 1e6 for r in rs]  # undecided: at the window's end
                ax.plot([abs(r["d"]) for r in rs], y, marker=m, color=color,
                        ls="-" if half == "up" else "--", lw=0.8, ms=4,
                        label=f"{half} from {zp:+g}" if sign > 0 else None)
                ax.plot([abs(r["d"]) for r, yy in zip(rs, y) if not r["right"]],
                        [yy for r, yy in zip(rs, y) if not r["right"]], "x", color="k", ms=9)
        for t in t_compare_s:
            ax.axhline(t * 1e6, color="gray", ls=":")
        ax.set(xscale="log", xlabel="|overdrive d| (blue: fire, d > 0; red: hold, d < 0; x: wrong; "
                                    "at the top: undecided)",
               ylabel="settle time after the step (us)",
               title=f"comparator settling, {self.supply.corner} {self.supply.temp_c:g} C")
        ax.legend(fontsize=7)
        # up-half traces at the smallest firing d, at 1 % and at 5 %
        dmin = min((r["d"] for r in self.rows if r["d"] > 0), default=None)
        for k, r in enumerate(self.rows):
            if r["d"] in (dmin, 0.01, 0.05) and r["half"] == "up":
                ax2.plot(self.time * 1e6, self.traces[k], lw=0.8, label=f"d={r['d']:+g} from {r['z_prev']:+g}")
        for t in t_compare_s:
            ax2.axvline(t * 1e6, color="gray", ls=":")
        ax2.set(xlabel="time after the input step (us)", ylabel="up (V)", title="up half, firing steps")
        ax2.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _settle_time(t: np.ndarray, v: np.ndarray, vdd: float) -> tuple[bool, float, float]:
    """(final output high, time it last entered the band around its final rail, last vdd/2 crossing).

    t starts at the input step; inf if the output ended outside the band (not settled)."""
    high = bool(v[-1] > vdd / 2)
    rail = vdd if high else 0.0
    out = np.abs(v - rail) > SETTLED_BAND * vdd
    if out[-1]:
        settle = float("inf")
    elif not out.any():
        settle = 0.0
    else:
        k = int(np.nonzero(out)[0][-1])  # last sample outside; the crossing lies before sample k+1
        edge = rail - SETTLED_BAND * vdd if high else SETTLED_BAND * vdd
        frac = (edge - v[k]) / (v[k + 1] - v[k])
        settle = float(t[k] + frac * (t[k + 1] - t[k]))
    crossings = [tt for tt, _ in _edges(t, v, vdd / 2)]
    return high, max(settle, 0.0), max(crossings[-1], 0.0) if crossings else 0.0


def step_input(p: ComparatorParams, k: int, half: str, d: float, z_prev: float, t_step_s: float,
               t_edge_s: float = 1e-6) -> str:
    """`Iin<k>` into node in<k>: z_prev, then at t_step_s (edge t_edge_s) +-beta (1 + d); the dn
    half's input is the up half's mirrored (z -> -z)."""
    sign = 1 if half == "up" else -1
    i_prev = p.i_bias_a + sign * z_prev * p.beta * p.i_unit_a
    i_to = p.i_bias_a + sign * (1 + d) * p.beta * p.i_unit_a
    if min(i_prev, i_to) <= 0:
        raise ValueError(f"overdrives, histories: d = {d:g}, z_prev = {z_prev:g} need a negative input current")
    t0, t1 = number(t_step_s, "t_step_s", positive=True), number(t_step_s + t_edge_s, "t_step_s")
    return f"Iin{k} vdd in{k} PWL(0 {number(i_prev, 'i')} {t0} {number(i_prev, 'i')} {t1} {number(i_to, 'i')})"


def comparator_settling(p: ComparatorParams, supply: Supply,
                        overdrives: tuple[float, ...] = SETTLING_OVERDRIVES,
                        histories: tuple[float, ...] = SETTLING_HISTORIES,
                        window_s: float = 3e-3, max_step_s: float = 2e-6, t_step_s: float = 10e-6,
                        workers: int = 1, timeout_s: float = 600) -> SettlingResult:
    """Settle time of up / dn after an input step to z = +-beta (1 + d), from z_prev.

    One comparator per case (half x history), one netlist per overdrive d:
    each comparator starts in the DC operating point of its previous input
    z_prev (the limit of a long hold) and its input steps (1 us edge) at
    t_step_s to +beta (1 + d) (up half) or -beta (1 + d) (dn half, z_prev
    mirrored). The output under test (up, resp. dn) must end high iff d > 0.

    Settle time: from the start of the input step until the output enters,
    for good, the band of SETTLED_BAND * vdd around the rail it ends on,
    resolved to max_step_s (a spurious pulse counts: it ends when the pulse
    ends). An output that ends outside both bands (neither logic level) is
    undecided: settle time inf, not right.
    """
    p.check()
    jobs, groups = [], []
    for d in overdrives:
        cases = [(half, float(d), float(zp)) for half in ("up", "dn") for zp in histories]
        net = header("settling", supply, "logic", "comparator") + [supply_source("dd", "vdd", supply)]
        for k, (half, _, zp) in enumerate(cases):
            net += [step_input(p, k, half, d, zp, t_step_s), comparator(p, f"c{k}", f"in{k}", f"up{k}", f"dn{k}")]
        net += [".save " + " ".join(f"v({half}{k})" for k, (half, _, _) in enumerate(cases)),
                tran(t_step_s + window_s, max_step_s), ".end"]
        jobs.append(Job("\n".join(net) + "\n", "settling", timeout_s))
        groups.append(cases)
    grid = np.linspace(0, window_s, int(round(window_s / 1e-6)) + 1)
    rows, traces = [], []
    for cases, res in zip(groups, run_many(jobs, workers)):
        t = res["time"]
        sel = t >= t_step_s
        tt = t[sel] - t_step_s
        for k, (half, d, zp) in enumerate(cases):
            v = res.v(f"{half}{k}")[sel]
            high, settle, decide = _settle_time(tt, v, supply.vdd_v)
            rows.append({"half": half, "d": d, "z_prev": zp if half == "up" else -zp,
                         "z": (1 + d) * (1 if half == "up" else -1), "fired": high,
                         "right": high == (d > 0) and math.isfinite(settle), "settle_s": settle,
                         "decide_s": decide, "final_v": float(v[-1])})
            traces.append(np.interp(grid, tt, v))
    return SettlingResult(p, supply, window_s, max_step_s, tuple(rows), grid, np.array(traces))
