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
a chip would make it larger or average several; the units' own offsets stay untrimmed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codesign.chip import ChipSpec
from codesign.config import from_dict
from codesign.hardware.params import Supply
from codesign.manifest import NetworkPlan
from codesign.validation.characterize import hysteresis_bench, hysteresis_loop

STEP_BETA = 1 / 256  # the trim DACs' step, in beta I_unit (0.39 pA at the KWS chip's 100 pA)
VERSION = "trim-comparator-1"  # bump when the procedure changes: it is in the sweep's keys
TITLE = "comparator_trim"  # the loops' netlist title: trim_bench (a sweep's key) is the first loop as run


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
        chip = _with_trims(plan.chip, self.up_trim_a, self.dn_trim_a)
        trims = {"i_up_trim_a": chip.comparator_up_trim_a, "i_dn_trim_a": chip.comparator_dn_trim_a}
        layers = tuple(dataclasses.replace(layer, units=tuple(
            dataclasses.replace(u, comparator=dataclasses.replace(u.comparator, **trims)) for u in layer.units))
            for layer in plan.layers)
        return dataclasses.replace(plan, chip=chip, layers=layers)


def _with_trims(chip: ChipSpec, up_a: float, dn_a: float) -> ChipSpec:
    fields = {f.name: getattr(chip, f.name) for f in dataclasses.fields(chip)}
    return from_dict(ChipSpec, {**fields, "comparator_up_trim_a": up_a, "comparator_dn_trim_a": dn_a},
                     "comparator trim")


def replica_supply(supply: Supply) -> Supply:
    """Where the replica is measured: the chip's corner, temperature and supply, without mismatch."""
    return dataclasses.replace(supply, mc_seed=None)


def trim_bench(chip: ChipSpec, supply: Supply) -> str:
    """The netlist the trims follow from (the first loop, on the chip file's trims)."""
    return hysteresis_bench(chip.comparator(), supply, title=TITLE)


def _errors_in_beta(chip: ChipSpec, supply: Supply, timeout_s: float) -> tuple[float, float]:
    e = hysteresis_loop(chip.comparator(), supply, timeout_s=timeout_s, title=TITLE).errors()
    return e["up_on_in_beta"], e["dn_on_in_beta"]


def trim_comparators(chip: ChipSpec, supply: Supply, timeout_s: float = 600) -> ComparatorTrim:
    """Measure the trip points on `supply` (corner, temperature, Monte Carlo draw), move each trim by
    its error (a trim current adds to its threshold one for one), quantized to STEP_BETA, and measure
    again. A trim outside the chip's limits for it is a ConfigError naming it."""
    beta_a = chip.comparator().beta * chip.i_unit_a
    step_a = STEP_BETA * beta_a
    before = _errors_in_beta(chip, supply, timeout_s)
    up = round((chip.comparator_up_trim_a - before[0] * beta_a) / step_a) * step_a
    dn = round((chip.comparator_dn_trim_a - before[1] * beta_a) / step_a) * step_a
    trimmed = _with_trims(chip, up, dn)
    return ComparatorTrim(up, dn, before, _errors_in_beta(trimmed, supply, timeout_s))
