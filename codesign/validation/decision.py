"""The latched decision near a threshold: which inputs the unit decides wrongly
for a given compare time, and that every decision it holds is a logic level.

Each case is the unit's front end as mapped (comparator + decision latch): the
input steps from z_prev to +-beta (1 + d) at the start of a clock step, the
latch closes when phi_t rises t_compare_s later, and the held output is read
in the middle of the transfer phase. Wrong: fired != (d > 0). The window of a
compare time is the largest |d| decided wrongly over both halves and every
history; it shrinks as the compare phase grows (docs/circuits.md, "Decision
latch").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.hardware.cells import latched_comparator
from codesign.hardware.params import ComparatorParams, Supply
from codesign.netlist import number
from codesign.validation.benches import header, supply_source, tran
from codesign.validation.ngspice import Job, run_many
from codesign.validation.settling import SETTLING_HISTORIES, SETTLING_OVERDRIVES, step_input

T_STEP_S = 10e-6  # the input step, after the operating point settles
T_EDGE_S = 1e-6
T_HOLD_S = 100e-6  # phi_t high: the latch holds; read at its middle
LOGIC_BAND = 0.05  # a held decision within 5 % of vdd of a rail is a logic level


@dataclass(frozen=True)
class DecisionWindow:
    supply: Supply
    rows: tuple[dict, ...]  # one per (t_compare_s, half, d, z_prev)

    def window(self, t_compare_s: float) -> float:
        """Largest |d| decided wrongly at this compare time (0 if none)."""
        wrong = [abs(r["d"]) for r in self.rows if r["t_compare_s"] == t_compare_s and not r["right"]]
        return max(wrong, default=0.0)

    def table(self) -> list[dict]:
        times = sorted({r["t_compare_s"] for r in self.rows})
        return [{"t_compare_s": t, "window_d": self.window(t),
                 "worst_logic_error_v": max(r["logic_error_v"] for r in self.rows if r["t_compare_s"] == t)}
                for t in times]

    def markdown(self) -> str:
        md = ["| compare time | window: largest wrongly decided abs(d) | worst distance of a held decision from "
              "its rail |", "|---|---|---|"]
        md += [f"| {r['t_compare_s'] * 1e3:g} ms | {r['window_d']:.3g} | {r['worst_logic_error_v'] * 1e3:.2f} mV |"
               for r in self.table()]
        return "\n".join(md) + "\n"


def _bench(p: ComparatorParams, supply: Supply, t_compare_s: float, d: float, histories) -> tuple[str, list]:
    vdd = number(supply.vdd_v, "vdd_v")
    t_clk = T_STEP_S + t_compare_s
    # Tight tolerances: with ngspice's defaults a closed latch followed a comparator output that
    # swung after the latch had closed (sf, 200 us compare), a numerical artefact (docs/circuits.md,
    # "Decision latch"); the bench is small, so it is solved tightly.
    net = header("decision", supply, "logic", "comparator") + [".option reltol=1e-5 abstol=1e-15 vntol=1e-8",
        supply_source("dd", "vdd", supply),
        f"Vphi phi 0 PWL(0 0 {number(t_clk, 't')} 0 {number(t_clk + T_EDGE_S, 't')} {vdd})"]
    cases = [(half, zp) for half in ("up", "dn") for zp in histories]
    for k, (half, zp) in enumerate(cases):
        net += [step_input(p, k, half, d, zp, T_STEP_S, T_EDGE_S),
                latched_comparator(p, f"c{k}", f"in{k}", f"up{k}", f"dn{k}", "phi")]
    net += [".save " + " ".join(f"v({half}{k})" for k, (half, _) in enumerate(cases)),
            tran(t_clk + T_HOLD_S, min(t_compare_s / 50, 10e-6)), ".end"]
    return "\n".join(net) + "\n", cases


def decision_window(p: ComparatorParams, supply: Supply, t_compare_s: tuple[float, ...],
                    overdrives: tuple[float, ...] = SETTLING_OVERDRIVES,
                    histories: tuple[float, ...] = SETTLING_HISTORIES, workers: int = 1,
                    timeout_s: float = 600) -> DecisionWindow:
    """Latched decisions at z = +-beta (1 + d) from each z_prev, per compare time."""
    p.check()
    keys, jobs = [], []
    for tc in t_compare_s:
        for d in overdrives:
            net, cases = _bench(p, supply, tc, float(d), histories)
            jobs.append(Job(net, "decision", timeout_s))
            keys.append((tc, float(d), cases))
    rows = []
    for (tc, d, cases), res in zip(keys, run_many(jobs, workers)):
        t_read = T_STEP_S + tc + T_EDGE_S + T_HOLD_S / 2
        for k, (half, zp) in enumerate(cases):
            v = float(np.interp(t_read, res["time"], res.v(f"{half}{k}")))
            fired = v > supply.vdd_v / 2
            rows.append({"t_compare_s": tc, "half": half, "d": d, "z_prev": zp if half == "up" else -zp,
                         "fired": fired, "right": fired == (d > 0),
                         "logic_error_v": supply.vdd_v - v if fired else v})
    return DecisionWindow(supply, tuple(rows))
