"""The comparators' threshold trims set at test, where the chip runs.

The chip file's `comparator_up_trim_a` / `comparator_dn_trim_a` put the trip points on their
targets at tt 27 C. Elsewhere they drift: on the keyword-spotting chip (docs/results.md, "Keyword
spotting") the up / dn trip points sit +6.6 / +4.2 % of beta high at sf -40 C and 3.8 / 2.8 % low
at ff 85 C, static shifts that no compare time removes. A tester can measure them on a replica
comparator of the chip (the units' comparators share the threshold bias lines, and every unit
senses in units of beta, so one pair of trims serves all units) and set the two trim DACs of the
bias generator; with a temperature sensor and a table of such trims, filled at test at each of the
table's temperatures, the chip carries the trims of the temperature it runs at. The replica and the
test mode that reads its trip points are modelled ideally: ngspice's loop on the chip's comparator
at its corner and temperature, without mismatch (`replica_supply`): a replica drawn like one unit's
comparator would hand its own offset (0.1 beta sigma on the matched comparators) to every unit, so
a chip would make it larger or average several; the units' own offsets stay untrimmed there.

`trim_unit_comparators` trims those too: each unit's comparator carries its own two trim DACs,
set from its own trip points, read with the same loop on the unit's own netlist (its draw on a
Monte Carlo chip, the chip's clocks running). The tester's access to one unit's input and
comparator outputs (a test current into the input node, the raw outputs read before the
decision latch) is modelled ideally: a current source and the comparator's own nodes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codesign.chip import ChipSpec
from codesign.config import from_dict
from codesign.hardware.params import ComparatorParams, Supply
from codesign.manifest import NetworkPlan, UnitPlan
from codesign.netlist import identifier
from codesign.validation.characterize import (
    SlowWindows,
    hysteresis_bench,
    hysteresis_loop,
    loop_points,
    loop_ramp,
    read_loop,
)
from codesign.validation.cosim import REFERENCE, driven_bench
from codesign.validation.ngspice import Job, run_many

STEP_BETA = 1 / 256  # the trim DACs' step, in beta I_unit (0.39 pA at the KWS chip's 100 pA)
# bump when a procedure changes: they are in the sweep's keys
VERSION = "trim-comparator-2"  # the replica's
UNITS_VERSION = "trim-unit-comparators-2"  # each unit's
TITLE = "comparator_trim"  # the loops' netlist title: trim_bench (a sweep's key) is the first loop as run
SWEEP_S = 0.2  # the loop: up over SWEEP_S, down over SWEEP_S, +-2 beta I_unit (hysteresis_loop's defaults)
# ... and 16 times slower within 0.1 beta of a threshold: on the plain loop the comparator's decision
# trails the ramp, the trips read 0.8-1.0 % of beta late, and the trims put the thresholds that much
# inside, where the chip, deciding over its compare phase, stepped early (docs/circuits.md, "Trip
# points read on a loop"). The window holds a trimmed trip point; a first reading outside it (a
# Monte Carlo unit) is read at the fast rate and set right by the next round.
SLOW = SlowWindows(window_beta=0.1, factor=16.0)


@dataclass(frozen=True)
class ComparatorTrim:
    up_trim_a: float  # the chip's comparator_up_trim_a after the trim
    dn_trim_a: float
    trips_before_in_beta: tuple[float, float]  # (up, dn) trip-point errors with the chip file's trims
    trips_after_in_beta: tuple[float, float]  # and with these, measured again

    def summary(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_summary(summary: dict) -> "ComparatorTrim":
        return ComparatorTrim(summary["up_trim_a"], summary["dn_trim_a"], tuple(summary["trips_before_in_beta"]),
                              tuple(summary["trips_after_in_beta"]))

    def apply(self, plan: NetworkPlan) -> NetworkPlan:
        """The mapped network on a chip with these trims (checked against the chip file's limits
        for them): the chip and every unit's comparator."""
        chip = with_trims(plan.chip, self.up_trim_a, self.dn_trim_a)
        trims = {"i_up_trim_a": chip.comparator_up_trim_a, "i_dn_trim_a": chip.comparator_dn_trim_a}
        layers = tuple(dataclasses.replace(layer, units=tuple(
            dataclasses.replace(u, comparator=dataclasses.replace(u.comparator, **trims)) for u in layer.units))
            for layer in plan.layers)
        return dataclasses.replace(plan, chip=chip, layers=layers)


def with_trims(chip: ChipSpec, up_a: float, dn_a: float) -> ChipSpec:
    """The chip with its comparator_up_trim_a / comparator_dn_trim_a replaced (checked)."""
    fields = {f.name: getattr(chip, f.name) for f in dataclasses.fields(chip)}
    return from_dict(ChipSpec, {**fields, "comparator_up_trim_a": up_a, "comparator_dn_trim_a": dn_a},
                     "comparator trim")


def replica_supply(supply: Supply) -> Supply:
    """Where the replica is measured: the chip's corner, temperature and supply, without mismatch."""
    return dataclasses.replace(supply, mc_seed=None)


def trim_bench(chip: ChipSpec, supply: Supply) -> str:
    """The netlist the trims follow from (the first loop, on the chip file's trims)."""
    return hysteresis_bench(chip.comparator(), supply, title=TITLE, slow=SLOW)


def _errors_in_beta(chip: ChipSpec, supply: Supply, timeout_s: float,
                    slow: SlowWindows | None) -> tuple[float, float]:
    e = hysteresis_loop(chip.comparator(), supply, timeout_s=timeout_s, title=TITLE, slow=slow).errors()
    return e["up_on_in_beta"], e["dn_on_in_beta"]


def trim_comparators(chip: ChipSpec, supply: Supply, timeout_s: float = 600,
                     slow: SlowWindows | None = SLOW) -> ComparatorTrim:
    """Measure the trip points on `supply` (corner, temperature, Monte Carlo draw), move each trim by
    its error (a trim current adds to its threshold one for one), quantized to STEP_BETA, and measure
    again. A trim outside the chip's limits for it is a ConfigError naming it. slow: the loop's slow
    windows (None: the plain loop, to compare)."""
    beta_a = chip.comparator().beta * chip.i_unit_a
    before = _errors_in_beta(chip, supply, timeout_s, slow)
    up = _next_trim(chip.comparator_up_trim_a, before[0], None, beta_a)
    dn = _next_trim(chip.comparator_dn_trim_a, before[1], None, beta_a)
    trimmed = with_trims(chip, up, dn)
    return ComparatorTrim(up, dn, before, _errors_in_beta(trimmed, supply, timeout_s, slow))


@dataclass(frozen=True)
class UnitTrim:
    unit: str
    up_trim_a: float  # the unit comparator's i_up_trim_a after the trim
    dn_trim_a: float
    trips_before_in_beta: tuple[float, float]  # (up, dn) trip-point errors on the plan's trims
    trips_after_in_beta: tuple[float, float]  # and with these, measured again


@dataclass(frozen=True)
class UnitComparatorTrims:
    """Every unit's comparator trimmed on its own trip points (`trim_unit_comparators`)."""

    units: tuple[UnitTrim, ...]

    def summary(self) -> dict:
        return {"units": [dataclasses.asdict(u) for u in self.units],
                "worst_before_in_beta": max(abs(e) for u in self.units for e in u.trips_before_in_beta),
                "worst_after_in_beta": max(abs(e) for u in self.units for e in u.trips_after_in_beta)}

    @staticmethod
    def from_summary(summary: dict) -> "UnitComparatorTrims":
        return UnitComparatorTrims(tuple(UnitTrim(u["unit"], u["up_trim_a"], u["dn_trim_a"],
                                                  tuple(u["trips_before_in_beta"]), tuple(u["trips_after_in_beta"]))
                                         for u in summary["units"]))

    def apply(self, plan: NetworkPlan) -> NetworkPlan:
        """The mapped network with each unit's comparator on its trims (checked against the
        comparator's limits); a unit of the plan without a trim here is a ValueError."""
        trims = {t.unit: (t.up_trim_a, t.dn_trim_a) for t in self.units}
        missing = [u.name for u in plan.units if u.name not in trims]
        if missing:
            raise ValueError(f"comparator trims: none for units {missing}")
        return _with_unit_trims(plan, trims)


def _with_unit_trims(plan: NetworkPlan, trims: dict[str, tuple[float, float]]) -> NetworkPlan:
    """The plan with every unit's comparator on trims[unit name] = (up, dn) (each unit named)."""
    def trimmed(u: UnitPlan) -> UnitPlan:
        fields = {**dataclasses.asdict(u.comparator), "i_up_trim_a": trims[u.name][0], "i_dn_trim_a": trims[u.name][1]}
        return dataclasses.replace(u, comparator=from_dict(ComparatorParams, fields, f"unit {u.name} comparator trim"))

    layers = tuple(dataclasses.replace(layer, units=tuple(map(trimmed, layer.units))) for layer in plan.layers)
    return dataclasses.replace(plan, layers=layers)


def _raw_outputs(u: UnitPlan) -> tuple[str, str]:
    """Unit u's comparator outputs ahead of its decision latch, as ngspice names them."""
    n = identifier(u.name, "unit name").lower()
    return f"x{n}.cmp_up", f"x{n}.cmp_dn"


def unit_trim_bench(plan: NetworkPlan, u: UnitPlan, supply: Supply) -> str:
    """Unit u's own netlist, as a co-simulation cuts it (its Monte Carlo draw included), its input
    the replica's loop, its comparator's raw outputs saved."""
    layer = next(layer for layer in plan.layers if u in layer.units)
    return driven_bench(plan, dataclasses.replace(layer, units=(u,)), [loop_ramp(u.comparator, SWEEP_S, slow=SLOW)],
                        supply, REFERENCE, [f"v({node})" for node in _raw_outputs(u)],
                        loop_points(u.comparator, SWEEP_S, slow=SLOW)[0][-1], SWEEP_S / 2000,
                        title="unit_comparator_trim")


def _unit_errors(plan: NetworkPlan, units: list[UnitPlan], supply: Supply, workers: int, timeout_s: float,
                 progress: str | None) -> dict[str, tuple[float, float]]:
    jobs = [Job(unit_trim_bench(plan, u, supply), f"unit_comparator_trim_{i}", timeout_s) for i, u in enumerate(units)]
    out = {}
    for u, r in zip(units, run_many(jobs, workers, progress), strict=True):
        up, dn = _raw_outputs(u)
        e = read_loop(u.comparator, supply, r["time"], r.v(up), r.v(dn), SWEEP_S, slow=SLOW).errors()
        out[u.name] = (e["up_on_in_beta"], e["dn_on_in_beta"])
    return out


def _next_trim(trim_a: float, error: float, before: tuple[float, float] | None, beta_a: float) -> float:
    """The trim that should put the trip point on its target, on the DAC's grid: one for one at
    first, then along the line through the last two (trim, error) pairs (a copy's gain error makes
    the trip move by more or less than the trim; the mismatch of a Monte Carlo unit, measured:
    0.88 of it on an offset of half a beta)."""
    slope = 1.0
    if before is not None and before[0] != trim_a:
        measured = (error - before[1]) / ((trim_a - before[0]) / beta_a)
        slope = measured if 0.25 <= measured <= 4 else 1.0
    step = STEP_BETA * beta_a
    return round((trim_a - error / slope * beta_a) / step) * step


def trim_unit_comparators(plan: NetworkPlan, supply: Supply, workers: int = 1, timeout_s: float = 600,
                          rounds: int = 3, progress: bool = False) -> UnitComparatorTrims:
    """Each unit's comparator trip points measured on its own netlist at `supply` (Monte Carlo
    draw included), its trims moved onto them on DACs of STEP_BETA and measured again, up to
    `rounds` times while a trip point is off by more than a DAC step. A trim outside the
    comparator's limits is a ConfigError naming the unit."""
    trims = {u.name: (u.comparator.i_up_trim_a, u.comparator.i_dn_trim_a) for u in plan.units}
    label = "ngspice, unit comparators" if progress else None
    errors = _unit_errors(plan, plan.units, supply, workers, timeout_s, label)
    before, last = dict(errors), {}
    for r in range(rounds):
        off = [u for u in plan.units if r == 0 or max(map(abs, errors[u.name])) > STEP_BETA]
        if not off:
            break
        for u in off:
            beta_a = u.comparator.beta * u.comparator.i_unit_a
            pairs = list(zip(trims[u.name], errors[u.name]))
            new = tuple(_next_trim(t, e, last.get(u.name, (None, None))[side], beta_a)
                        for side, (t, e) in enumerate(pairs))
            last[u.name], trims[u.name] = tuple(pairs), new
        trimmed, names = _with_unit_trims(plan, trims), {u.name for u in off}
        errors |= _unit_errors(trimmed, [u for u in trimmed.units if u.name in names], supply,
                               workers, timeout_s, label and f"{label}, trim {r + 1}")
    return UnitComparatorTrims(tuple(UnitTrim(u.name, *trims[u.name], before[u.name], errors[u.name])
                                     for u in plan.units))
