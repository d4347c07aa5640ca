"""Chip spec: the hardware a trained network is mapped onto (DESIGN.md section 3).

A TOML file (see chips/sky130_subthreshold.toml) becomes a frozen `ChipSpec`
through `codesign.config.from_dict`: unknown keys, wrong types and values out
of range are refused with the key named. The dataclass defaults are the
embedded default, a sky130 subthreshold target equal to the cells of
codesign/mapping/cells.py as characterized in docs/circuits.md.

    eps = 0   integrator hardware (cumulative CMRU), `levels` L per side
    eps = 1   latch hardware (bistable BMRU), state in {-alpha, 0, +alpha}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codesign.config import ConfigError, from_dict, limits, read_file
from codesign.mapping.cells import LATCH_T_TRANSFER_S, ClockParams, ComparatorParams, IntegratorParams
from codesign.pdk import corners as known_corners

CHIPS_DIR = Path(__file__).resolve().parents[1] / "chips"
DEFAULT_CHIP_FILE = CHIPS_DIR / "sky130_subthreshold.toml"
SYNAPSE_KINDS = ("behavioural", "mirror")


@dataclass(frozen=True)
class ChipSpec:
    name: str = "sky130_subthreshold"
    vdd_v: float = field(default=1.2, metadata=limits(0.9, 1.8))
    i_unit_a: float = field(default=100e-12, metadata=limits(1e-12, 1e-8))  # current of one unit of z
    i_bias_a: float = field(default=400e-12, metadata=limits(1e-12, 1e-7))  # z = 0 sits here (bipolar)
    # Input currents are kept in [i_in_min_a, i_in_max_a]; the comparator's
    # decision is unchanged as long as both ends lie beyond its thresholds.
    i_in_min_a: float = field(default=50e-12, metadata=limits(0, lo_open=True))
    i_in_max_a: float = field(default=3e-9, metadata=limits(0, lo_open=True))
    # 0 gives the memoryless comparator of the contract; > 0 the positive
    # feedback of the cell (docs/circuits.md), a departure from the contract.
    comparator_hysteresis_a: float = field(default=0.0, metadata=limits(0))
    # Trims added to the threshold currents, from the hysteresis loop at tt 27 C
    # with no hysteresis (trip points 496.5 / 296.6 pA untrimmed, 500.0 / 300.0
    # trimmed; docs/mapping.md). Zero for an uncalibrated chip.
    comparator_up_trim_a: float = field(default=3.49e-12, metadata=limits(-50e-12, 50e-12))
    comparator_dn_trim_a: float = field(default=3.42e-12, metadata=limits(-50e-12, 50e-12))
    clock_period_s: float = field(default=10e-3, metadata=limits(1e-4, 1.0))
    # Compare phase: from the input change to the transfer phase phi_t, during
    # which the charge pump / latch acts on up / dn. Near a threshold the
    # comparator is slow: at tt 27 C every decision with |z/beta - 1| >= 1 %
    # settles within 0.88 ms, every right one >= 0.5 % within 1.49 ms
    # (docs/circuits.md, "Comparator settling"); 200 us was too short.
    # compare + transfer + gap + restore must fit clock_period_s.
    t_compare_s: float = field(default=2e-3, metadata=limits(10e-6, 1.0))
    corners: tuple[str, ...] = ("tt",)
    temp_c: float = field(default=27.0, metadata=limits(-40, 125))
    weight_bits: int = field(default=6, metadata=limits(2, 16))
    levels: int = field(default=2, metadata=limits(1, 8))  # L per side of the integrator
    eps: float = field(default=0.0, metadata=limits(0, 1))  # 0: integrator, 1: latch
    c_hold_f: float = field(default=150e-15, metadata=limits(1e-15, 10e-12))  # per unit (integrator)
    c_budget_f: float = field(default=10e-12, metadata=limits(0, lo_open=True))  # all hold capacitors
    v_low_v: float = field(default=0.4, metadata=limits(0, lo_open=True))  # level -L
    v_high_v: float = field(default=0.8, metadata=limits(0, lo_open=True))  # level +L
    i_step_min_a: float = field(default=10e-12, metadata=limits(0, lo_open=True))  # readout alpha * I_unit
    i_step_max_a: float = field(default=1e-9, metadata=limits(0, lo_open=True))
    # The readout branches deliver 104.6 pA per 100 pA level at tt (docs/circuits.md):
    # the mapper sets i_step = alpha * I_unit * readout_trim.
    readout_trim: float = field(default=0.956, metadata=limits(0.5, 2.0))
    # Layer 0's synapse array at network level (docs/mapping.md): "behavioural" (ideal
    # weighted current sums) or "mirror" (sky130 subthreshold current mirrors,
    # codesign/mapping/synapses.py). Deeper layers stay behavioural.
    synapses: str = field(default="behavioural", metadata=limits(choices=SYNAPSE_KINDS))
    # Mirror array only: the front end turns input x into I_x = i_xbias_a + x * i_xunit_a,
    # kept in [i_xmin_a, i_xmax_a] (x in [-0.7, 2.2] by default: cue recall's inputs lie in
    # about [-0.6, 1]; flip-flop's -1 needs a larger i_xbias_a). i_xbias_a is as small as that
    # allows: the mirrors' relative error acts on all of I_x, not only on x * i_xunit_a.
    i_xunit_a: float = field(default=1e-9, metadata=limits(1e-12, 1e-7))
    i_xbias_a: float = field(default=0.8e-9, metadata=limits(0, 1e-7, lo_open=True))
    i_xmin_a: float = field(default=0.1e-9, metadata=limits(0, 1e-7, lo_open=True))
    i_xmax_a: float = field(default=3e-9, metadata=limits(0, 1e-7, lo_open=True))

    def __post_init__(self):
        if self.eps not in (0.0, 1.0):
            raise ValueError("eps: only 0 (integrator) and 1 (latch) hardware exist; the partial "
                             "reset for 0 < eps < 1 is not built")
        if not self.corners:
            raise ValueError("corners: list at least one corner")
        bad = [c for c in self.corners if c not in known_corners()]
        if bad:
            raise ValueError(f"corners: unknown {bad}; known: {known_corners()}")
        if not self.v_low_v < self.v_high_v < self.vdd_v:
            raise ValueError("v_high_v: need v_low_v < v_high_v < vdd_v")
        if not self.i_in_min_a < self.i_bias_a - self.i_unit_a:
            raise ValueError("i_in_min_a: must lie below the down threshold i_bias_a - i_unit_a")
        if not self.i_in_max_a > self.i_bias_a + self.i_unit_a:
            raise ValueError("i_in_max_a: must lie above the up threshold i_bias_a + i_unit_a")
        if not self.comparator_hysteresis_a < self.i_unit_a:
            raise ValueError("comparator_hysteresis_a: must be below i_unit_a")
        if not self.i_xmin_a < self.i_xbias_a < self.i_xmax_a:
            raise ValueError("i_xbias_a: need i_xmin_a < i_xbias_a < i_xmax_a (x = 0 inside the input window)")
        if not self.i_step_min_a < self.i_step_max_a:
            raise ValueError("i_step_max_a: must be above i_step_min_a")
        c = self.clock()
        try:
            c.phases(self.t_transfer_s)
        except ValueError:
            raise ValueError(f"t_compare_s: compare {self.t_compare_s:g} s + transfer {self.t_transfer_s:g} s + "
                             f"gap {c.t_gap_s:g} s + restore {c.t_restore_s:g} s do not fit in "
                             f"clock_period_s = {self.clock_period_s:g} s") from None

    @property
    def hardware(self) -> str:
        return "latch" if self.eps == 1.0 else "integrator"

    @property
    def t_transfer_s(self) -> float:
        """Width of the transfer phase phi_t: the integrator's packet time, or the latch's."""
        if self.hardware == "latch":
            return LATCH_T_TRANSFER_S
        return self.integrator_params(1.0).t_pkt_s

    @property
    def t_layer_s(self) -> float:
        """Clock time one layer takes: compare, transfer and, on integrator hardware,
        gap and restore. Stacked layers take their turns one after another within
        a period, so layer l+1 compares on layer l's restored state."""
        c = self.clock()
        t_t, t_r = c.phases(self.t_transfer_s)
        end = t_t + self.t_transfer_s if self.hardware == "latch" else t_r + c.t_restore_s
        return end + c.t_edge_s

    def clock(self) -> ClockParams:
        """The clock every mapped netlist gets."""
        return ClockParams(period_s=self.clock_period_s, t_compare_s=self.t_compare_s)

    def comparator_params(self) -> ComparatorParams:
        """Every unit's comparator: beta = 1 (inputs are sensed in units of beta), trims, hysteresis."""
        return ComparatorParams(i_unit_a=self.i_unit_a, i_bias_a=self.i_bias_a, beta=1.0,
                                i_hyst_a=self.comparator_hysteresis_a, i_up_trim_a=self.comparator_up_trim_a,
                                i_dn_trim_a=self.comparator_dn_trim_a)

    def integrator_params(self, alpha: float) -> IntegratorParams:
        """The integrator of a unit whose readout is alpha * I_unit per level."""
        return IntegratorParams(levels_per_side=self.levels, v_low_v=self.v_low_v, v_high_v=self.v_high_v,
                                c_hold_f=self.c_hold_f, i_step_a=alpha * self.i_unit_a * self.readout_trim)

    @property
    def x_min(self) -> float:
        """Lowest input the mirror array's front end carries (lower inputs are clipped to it)."""
        return (self.i_xmin_a - self.i_xbias_a) / self.i_xunit_a

    @property
    def x_max(self) -> float:
        return (self.i_xmax_a - self.i_xbias_a) / self.i_xunit_a

    @property
    def z_min(self) -> float:
        """Lowest input (in units of the threshold) the input current can carry."""
        return (self.i_in_min_a - self.i_bias_a) / self.i_unit_a

    @property
    def z_max(self) -> float:
        return (self.i_in_max_a - self.i_bias_a) / self.i_unit_a


def chip_from_dict(data: dict) -> ChipSpec:
    """Checked ChipSpec; errors read e.g. ``chip.vdd_v: must be in [0.9, 1.8], got 5``."""
    return from_dict(ChipSpec, data, "chip")


def load_chip(path: str | Path | None = None) -> ChipSpec:
    """The chip spec in `path` (TOML or JSON); None gives the embedded default."""
    if path is None:
        return ChipSpec()
    try:
        return chip_from_dict(read_file(path))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
