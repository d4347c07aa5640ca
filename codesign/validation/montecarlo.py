"""Monte Carlo chips: device mismatch drawn by ngspice, reproducible by seed.

A bench becomes Monte Carlo chip k by simulating with
`Supply(..., mc_seed=k)`: `benches.header` then loads the corner's `_mm`
models (every nfet/pfet threshold and MIM capacitance gets an `agauss` draw
per device instance) and writes `.option seed=k`, so chip k is the same set
of draws on every run and every worker. The draws are taken in netlist
order, so a seed names a chip of one bench: the same k in another bench (or
after a device is added before others) is a different chip.
See docs/circuits.md, "Monte Carlo chips".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from codesign.chip import ChipSpec
from codesign.hardware.params import ComparatorParams, Supply
from codesign.netlist import instance, number
from codesign.validation import characterize
from codesign.validation.benches import header
from codesign.validation.ngspice import NgspiceError, parallel_map, run

_NFET = "sky130_fd_pr__nfet_01v8"


@dataclass(frozen=True)
class DeviceOp:
    """One nfet's operating point: drain current and BSIM4 threshold (mismatch included)."""

    id_a: float
    vth_v: float


def nfet_op(supply: Supply, w_um: float = 1.0, l_um: float = 1.0, vgs_v: float = 0.36, vds_v: float = 0.5,
            timeout_s: float = 60) -> DeviceOp:
    """Drain current and threshold of one nfet (source and body at ground) at a fixed bias."""
    net = header("nfet_op", supply) + [
        f"Vg g 0 {number(vgs_v, 'vgs_v')}",
        f"Vd d 0 {number(vds_v, 'vds_v')}",
        instance("M1", ["d", "g", 0, 0], _NFET, {"w": w_um, "l": l_um}, "nfet"),
        f".save i(Vd) @m.xm1.m{_NFET}[vth]",
        ".op",
        ".end",
    ]
    res = run("\n".join(net) + "\n", name="nfet_op", timeout_s=timeout_s)
    # i(Vd) flows into Vd's + node from outside, i.e. out of the drain: minus Id.
    return DeviceOp(id_a=-float(res.i("Vd")[0]), vth_v=float(res.v(f"@m.xm1.m{_NFET}[vth]")[0]))


def wide_hysteresis_loop(p: ComparatorParams, supply: Supply, span_beta: float = 4.0, sweep_s: float = 0.4,
                         timeout_s: float = 3600) -> characterize.HysteresisResult:
    """`characterize.hysteresis_loop` with the input swept i_bias +- span_beta * beta*i_unit (not +-2):
    on Monte Carlo chips a threshold often lies more than one beta*i_unit off its target, and a loop
    that misses it would cut the tail off the distribution. The default keeps the plain loop's slope
    (twice the span in twice the time). Below, the sweep stops at a tenth of the dn threshold."""
    return characterize.hysteresis_loop(p, supply, sweep_s, timeout_s, span_beta, "hysteresis_wide")


@dataclass(frozen=True)
class TripPoints:
    """One Monte Carlo chip's comparator trip points and their errors in units of beta*i_unit.

    NaN when the chip did not switch both ways within the loop's sweep
    (i_bias +- 2 beta*i_unit: an up error above +1 or a dn error below -1).
    """

    seed: int
    up_on_a: float
    dn_on_a: float
    up_on_in_beta: float
    dn_on_in_beta: float

    @property
    def switched(self) -> bool:
        return not (math.isnan(self.up_on_a) or math.isnan(self.dn_on_a))


def trip_point_distribution(chip: ChipSpec, corner: str, seeds: list[int], workers: int = 1,
                            sweep_s: float = 0.2) -> list[TripPoints]:
    """The comparator's up/dn trip points on chips `seeds` at `corner` (a plain corner).

    Each seed is one `hysteresis_loop(chip.comparator(), supply)` run with
    `supply.mc_seed = seed`; `workers` runs at a time.
    """
    base = chip.supply(corner)
    params = chip.comparator()

    def one(seed: int) -> TripPoints:
        try:
            res = characterize.hysteresis_loop(params, dataclasses.replace(base, mc_seed=seed), sweep_s=sweep_s)
        except NgspiceError:
            raise
        except RuntimeError:
            # The loop found no edge: this chip's threshold lies outside the
            # sweep. That is a result of the distribution, not a failure.
            return TripPoints(seed, math.nan, math.nan, math.nan, math.nan)
        err = res.errors()
        return TripPoints(seed, res.up_on_a, res.dn_on_a, err["up_on_in_beta"], err["dn_on_in_beta"])

    return parallel_map(one, list(seeds), workers)


def summary(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation, min and max."""
    x = np.asarray(values, dtype=float)
    return {"n": int(x.size), "mean": float(x.mean()), "sigma": float(x.std(ddof=1)) if x.size > 1 else math.nan,
            "min": float(x.min()), "max": float(x.max())}


# ---------- distributions over a sweep's Monte Carlo points ----------

# The figures whose spread over Monte Carlo chips a sweep reports, per job:
# (figure key in a point's record, label, factor to the unit in the label).
# A list-valued figure (level_trips: one error per boundary) gives one distribution per entry.
MC_FIGURES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "hysteresis": (("up_on_in_beta", "up trip - threshold (beta*i_unit)", 1.0),
                   ("dn_on_in_beta", "dn trip - threshold (beta*i_unit)", 1.0)),
    "level_trips": (("trip_errors_v", "level comparator trip - boundary (mV)", 1e3),),
    "packets": (("packet_up_rel", "up packet / level - 1", 1.0),
                ("packet_dn_rel", "down packet / level - 1", 1.0),
                ("readout_gain_rel", "readout gain / i_step - 1", 1.0)),
    "unit_cosim": (("worst_level_agreement", "worst unit level agreement", 1.0),),
    "network_cosim": (("worst_level_agreement", "worst unit level agreement", 1.0),
                      ("decision_agreement", "decision agreement", 1.0)),
}


@dataclass(frozen=True)
class Distribution:
    """One figure over Monte Carlo chips, in the unit of its label. `missing` counts chips
    that measured nothing (a failed point, or nan: e.g. a comparator that never switched)."""

    key: str
    label: str
    values: tuple[float, ...]
    missing: int

    @property
    def n(self) -> int:
        return len(self.values)

    def stats(self) -> dict[str, float]:
        nan = math.nan
        if not self.values:
            return {"n": 0, "missing": self.missing, "mean": nan, "sigma": nan, "min": nan, "max": nan}
        return {**summary(list(self.values)), "missing": self.missing}


def distributions(job: str, records: list[dict]) -> list[Distribution]:
    """Each of the job's MC_FIGURES over `records` (the stored points of one group of chips)."""
    out = []
    for key, label, scale in MC_FIGURES.get(job, ()):
        raw = [r.get("figures", {}).get(key) if r.get("status") != "failed" else None for r in records]
        width = max((len(v) for v in raw if isinstance(v, list)), default=0)
        columns = [(key, label, [v for v in raw])] if not width else [
            (f"{key}[{j}]", f"{label}, boundary {j + 1}",
             [v[j] if isinstance(v, list) and j < len(v) else None for v in raw]) for j in range(width)]
        for name, text, values in columns:
            finite = [float(v) * scale for v in values if v is not None and math.isfinite(v)]
            out.append(Distribution(name, text, tuple(finite), len(values) - len(finite)))
    return out
