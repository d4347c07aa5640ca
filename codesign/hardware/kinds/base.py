"""The interface of a hardware kind: how one family of memory cells implements the unit.

A kind is everything that depends on which memory cell holds a unit's state
(docs/design.md, "Architecture"): which eps it implements, its fit check, the
per-unit parameters it sizes from the chip spec, its timing within a clock
period, its unit subcircuit and shared sources, and how its state is read
back from a simulated trace. Mapping and validation ask the chip's kind and
never branch on the hardware themselves, so a new kind is one module in this
package (with its tests).

`plan` below is a `codesign.manifest.NetworkPlan`, `u` one of its `UnitPlan`s,
`chip` a `codesign.chip.ChipSpec`; a trace is any object with `["time"]` and
`.v(node)` (`codesign.validation.ngspice.SimResult`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class HardwareKind(ABC):
    name: str  # "integrator", "latch": the chip's `hardware`
    eps: float  # the eps of the unit it implements
    memory_type: type  # the frozen dataclass of its per-unit parameters (UnitPlan.memory)
    transfer_clock = "phi_t"  # the unit pin high during the transfer phase: the decision latch holds then
    phases = 2  # clock lines a layer's units take: phi_t and phi_r (codesign.mapping.netlists.layer_clocks)

    @abstractmethod
    def levels(self, chip) -> int:
        """L: the hardware state is k * alpha with |k| <= L."""

    def fit_problems(self, model_cfg, chip) -> list[str]:
        """Reasons a network (its recipe's model section) does not fit this kind on `chip`."""
        return []

    @abstractmethod
    def memory(self, chip, alpha: float):
        """The per-unit parameters of a unit whose software quantum is alpha."""

    @abstractmethod
    def t_transfer_s(self, chip) -> float:
        """Width of the transfer phase phi_t."""

    @abstractmethod
    def t_layer_s(self, chip) -> float:
        """Clock time one layer takes (stacked layers take their turns one after another)."""

    @abstractmethod
    def library(self, plan) -> str:
        """The cell templates (and composed subcircuits) the unit subcircuits use."""

    @abstractmethod
    def unit_pins(self, plan) -> list[str]:
        """Pins of `.subckt mru_unit_<name>`: in, out, then the kind's own, then vdd."""

    @abstractmethod
    def unit_body(self, plan, u) -> str:
        """The memory cell's lines inside the unit subcircuit (the comparator drives up / dn)."""

    @abstractmethod
    def instance_nodes(self, plan, u, inp: str, out: str, phi_t: str, phi_r: str) -> list[str]:
        """Nodes of one unit instance, in the order of `unit_pins`."""

    @abstractmethod
    def shared_sources(self, plan, clocks: list[str], vdd_v: float) -> list[str]:
        """Sources shared by all units besides the supply (at vdd_v): clocks (one text per layer), references."""

    def initial_states(self, plan, units) -> list[str]:
        """`.ic` lines that start the units at h_0 = 0."""
        return []

    @abstractmethod
    def state_saves(self, plan, units) -> list[str]:
        """What to `.save` to read the states back."""

    @abstractmethod
    def read_levels(self, plan, trace, units, times_s: np.ndarray) -> np.ndarray:
        """Level index k [T, d] of `units` at `times_s` from a trace."""

    # Names the rule of `impossible_readings` (None: every sequence of levels can occur); sweep
    # keys hold it, with the options such readings are solved again with.
    reading_rule: str | None = None

    def impossible_readings(self, k: np.ndarray, z_beta: np.ndarray | None = None) -> np.ndarray:
        """Where levels k [T, d] read at the ends of successive steps are ones the cell cannot make
        (bool [T, d]), given, where known, its inputs' z / beta [T, d] at those steps: a numerical
        solution, never a verdict."""
        return np.zeros(np.shape(k), dtype=bool)
