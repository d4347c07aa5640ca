"""Chip spec: the hardware a trained network is mapped onto (docs/design.md).

Every quantity that shapes a netlist is a key here, with its one default; the
cell parameters (`codesign.hardware.params`) are built from it. A chip spec
starts from a named preset and overrides keys, as noise profiles do:

    preset = "sky130_latch"     # one of PRESETS; the default preset if absent
    t_compare_s = 3e-3          # any key of ChipSpec

`load_chip` takes a preset name or a TOML/JSON file, then `--chip-set key=value`
overrides; unknown keys, wrong types and values out of range are refused with
the key named. `codesign chip show [PRESET|FILE]` prints the resolved spec.
The hardware kind (integrator or latch) follows from eps (`chip.kind`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from codesign.config import ConfigError, from_dict, limits, parse_override, read_file
from codesign.hardware.kinds import HardwareKind, kind_for_eps
from codesign.hardware.params import (
    LEVEL_CMP_TEMPLATE_SIZES,
    PUMP_TEMPLATE_SIZES,
    READOUT_TEMPLATE_SIZES,
    ClockParams,
    ComparatorParams,
    IntegratorParams,
    LatchParams,
    Supply,
)
from codesign.pdk import corners as known_corners

DEFAULT_PRESET = "sky130_subthreshold"
SYNAPSE_KINDS = ("behavioural", "mirror")
FRONT_ENDS = ("single", "differential")
_TIME = limits(0, 1.0, lo_open=True)
_SIZE_UM = limits(0.15, 100)


@dataclass(frozen=True)
class ChipSpec:
    name: str = field(default=DEFAULT_PRESET, metadata=limits(identifier=True))
    # ---- supply and input currents
    vdd_v: float = field(default=1.2, metadata=limits(0.9, 1.8))
    i_unit_a: float = field(default=100e-12, metadata=limits(1e-12, 1e-8))  # current of one unit of z / beta
    i_bias_a: float = field(default=400e-12, metadata=limits(1e-12, 1e-7))  # z = 0 sits here (bipolar)
    # Input currents are kept in [i_in_min_a, i_in_max_a]; the comparator's
    # decision is unchanged as long as both ends lie beyond its thresholds.
    i_in_min_a: float = field(default=50e-12, metadata=limits(0, 1e-7, lo_open=True))
    i_in_max_a: float = field(default=3e-9, metadata=limits(0, 1e-7, lo_open=True))
    # ---- comparator
    # 0 gives the memoryless comparator of the contract; > 0 the positive
    # feedback of the cell (docs/circuits.md), a departure from the contract.
    comparator_hysteresis_a: float = field(default=0.0, metadata=limits(0, 1e-8))
    # Trims added to the threshold currents, from the trims' hysteresis loop
    # (comparator_trim.SLOW) at tt 27 C with no hysteresis (trip points 496.1 /
    # 297.0 pA untrimmed, 500.0 / 300.1 trimmed; docs/mapping.md). Zero for an
    # uncalibrated chip.
    comparator_up_trim_a: float = field(default=3.91e-12, metadata=limits(-50e-12, 50e-12))
    comparator_dn_trim_a: float = field(default=3.13e-12, metadata=limits(-50e-12, 50e-12))
    comparator_w_in_um: float = field(default=1.0, metadata=_SIZE_UM)  # input nfets
    comparator_l_in_um: float = field(default=4.0, metadata=_SIZE_UM)
    comparator_w_ref_um: float = field(default=1.0, metadata=_SIZE_UM)  # reference pfets
    comparator_l_ref_um: float = field(default=4.0, metadata=_SIZE_UM)
    # ---- clock: compare, transfer (phi_t), gap, restore (phi_r) within one period
    clock_period_s: float = field(default=10e-3, metadata=limits(1e-4, 1.0))
    # From the input change to phi_t. Near a threshold the comparator is slow:
    # at tt 27 C every decision with |z/beta - 1| >= 1 % settles within 0.88 ms,
    # every right one >= 0.5 % within 1.49 ms (docs/circuits.md, "Comparator settling").
    t_compare_s: float = field(default=2e-3, metadata=limits(10e-6, 1.0))
    t_gap_s: float = field(default=100e-6, metadata=_TIME)  # between phi_t and phi_r
    t_restore_s: float = field(default=200e-6, metadata=_TIME)  # phi_r (integrator)
    t_edge_s: float = field(default=1e-6, metadata=limits(1e-9, 1e-3))  # clock rise / fall
    t_latch_transfer_s: float = field(default=150e-6, metadata=_TIME)  # phi_t on latch hardware
    # ---- process targets
    corners: tuple[str, ...] = ("tt",)
    temp_c: float = field(default=27.0, metadata=limits(-40, 125))
    # ---- network resources
    weight_bits: int = field(default=6, metadata=limits(2, 16))
    eps: float = field(default=0.0, metadata=limits(0, 1))  # picks the hardware kind: 0 integrator, 1 latch
    # ---- integrator (eps = 0)
    levels: int = field(default=2, metadata=limits(1, 8))  # L per side
    c_hold_f: float = field(default=150e-15, metadata=limits(1e-15, 10e-12))  # per unit
    c_budget_f: float = field(default=10e-12, metadata=limits(0, 1e-9, lo_open=True))  # all hold capacitors
    v_low_v: float = field(default=0.4, metadata=limits(0, 1.8, lo_open=True))  # level -L
    v_high_v: float = field(default=0.8, metadata=limits(0, 1.8, lo_open=True))  # level +L
    i_pkt_a: float = field(default=100e-12, metadata=limits(1e-12, 1e-8))  # charge-pump current
    i_level_cmp_a: float = field(default=50e-12, metadata=limits(1e-12, 1e-8))  # level comparators' tails
    level_cmp_w_in_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["w_d"], metadata=_SIZE_UM)  # input pair
    level_cmp_l_in_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["l_d"], metadata=_SIZE_UM)
    level_cmp_w_load_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["w_l"], metadata=_SIZE_UM)  # pfet load
    level_cmp_l_load_um: float = field(default=LEVEL_CMP_TEMPLATE_SIZES["l_l"], metadata=_SIZE_UM)
    pump_w_p_um: float = field(default=PUMP_TEMPLATE_SIZES["w_p"], metadata=_SIZE_UM)  # charge pump's pfet source
    pump_l_p_um: float = field(default=PUMP_TEMPLATE_SIZES["l_p"], metadata=_SIZE_UM)
    pump_w_n_um: float = field(default=PUMP_TEMPLATE_SIZES["w_n"], metadata=_SIZE_UM)  # its nfet source
    pump_l_n_um: float = field(default=PUMP_TEMPLATE_SIZES["l_n"], metadata=_SIZE_UM)
    packet_trim: float = field(default=1.0, metadata=limits(0.5, 2.0))  # packet time x this (IntegratorParams)
    # ---- readout
    readout_w_um: float = field(default=READOUT_TEMPLATE_SIZES["w"], metadata=_SIZE_UM)  # its nfet mirror (integrator)
    readout_l_um: float = field(default=READOUT_TEMPLATE_SIZES["l"], metadata=_SIZE_UM)
    i_step_min_a: float = field(default=10e-12, metadata=limits(0, 1e-7, lo_open=True))  # alpha * I_unit
    i_step_max_a: float = field(default=1e-9, metadata=limits(0, 1e-7, lo_open=True))
    # The readout branches deliver 104.6 pA per 100 pA level at tt (docs/circuits.md):
    # the mapper sets i_step = alpha * I_unit * readout_trim.
    readout_trim: float = field(default=0.956, metadata=limits(0.5, 2.0))
    v_out_v: float = field(default=0.6, metadata=limits(0, 1.8))  # readout outputs held here (next stage's input)
    # ---- layer 0's synapse array at network level (docs/mapping.md): "behavioural"
    # (ideal weighted current sums) or "mirror" (sky130 subthreshold current mirrors).
    synapses: str = field(default="behavioural", metadata=limits(choices=SYNAPSE_KINDS))
    # Mirror array only: the "single" front end turns input x into I_x = i_xbias_a + x * i_xunit_a,
    # kept in [i_xmin_a, i_xmax_a] (x in [-0.7, 2.2] by default: cue recall's inputs lie in
    # about [-0.6, 1]). i_xbias_a is as small as that allows: the mirrors' relative error
    # acts on all of I_x, not only on x * i_xunit_a. The "differential" front end gives each
    # input two columns, i_xbias_a + max(+-x, 0) * i_xunit_a, each kept below i_xmax_a
    # (i_xmin_a unused): the synapses carry |x|, not the offset a wide range of both signs needs.
    mirror_front_end: str = field(default="single", metadata=limits(choices=FRONT_ENDS))
    i_xunit_a: float = field(default=1e-9, metadata=limits(1e-12, 1e-7))
    i_xbias_a: float = field(default=0.8e-9, metadata=limits(0, 1e-7, lo_open=True))
    i_xmin_a: float = field(default=0.1e-9, metadata=limits(0, 1e-7, lo_open=True))
    i_xmax_a: float = field(default=3e-9, metadata=limits(0, 1e-7, lo_open=True))
    mirror_w_um: float = field(default=1.0, metadata=_SIZE_UM)  # unit pfet: columns, synapses, replicas
    mirror_l_um: float = field(default=1.0, metadata=_SIZE_UM)
    mirror_nfet_w_um: float = field(default=1.0, metadata=_SIZE_UM)  # row mirror of the negative synapses
    mirror_nfet_l_um: float = field(default=4.0, metadata=_SIZE_UM)
    mirror_cascode_w_um: float = field(default=2.0, metadata=_SIZE_UM)  # its cascodes
    mirror_cascode_l_um: float = field(default=1.0, metadata=_SIZE_UM)
    # Largest row gain: rails stay close to vdd, where the gain drifts least with I_x
    # (docs/mapping.md, "Mirror synapse array").
    mirror_row_gain_max: float = field(default=0.98, metadata=limits(0.1, 1.0))
    # Smallest row gain: above 0, each code of a row is a whole number m_i of unit devices and
    # the rail only sets the rest, within [mirror_row_gain_min, mirror_row_gain_max]; a rail far
    # below vdd makes a gain that drifts with I_x (10 % at a gain of 0.2, docs/mapping.md).
    # 0: one device per code, the rails set all of 1 / beta_i.
    mirror_row_gain_min: float = field(default=0.0, metadata=limits(0, 1.0))
    # Replicas' drain: the unit input's voltage near i_bias (0.36 V at 400 pA, tt 27 C).
    mirror_v_replica_v: float = field(default=0.36, metadata=limits(0, 1.8))
    # Gate of the row mirrors' cascodes: both mirror drains near 0.15 V.
    mirror_v_cascode_v: float = field(default=0.55, metadata=limits(0, 1.8))

    def __post_init__(self):
        kind_for_eps(self.eps)  # ValueError naming the kinds there are
        if not self.corners:
            raise ValueError("corners: list at least one corner")
        bad = [c for c in self.corners if c not in known_corners()]
        if bad:
            raise ValueError(f"corners: unknown {bad}; known: {known_corners()}")
        checks = [
            (self.v_low_v < self.v_high_v < self.vdd_v, "v_high_v: need v_low_v < v_high_v < vdd_v"),
            (self.i_in_min_a < self.i_bias_a - self.i_unit_a,
             "i_in_min_a: must lie below the down threshold i_bias_a - i_unit_a"),
            (self.i_in_max_a > self.i_bias_a + self.i_unit_a,
             "i_in_max_a: must lie above the up threshold i_bias_a + i_unit_a"),
            (self.comparator_hysteresis_a < self.i_unit_a, "comparator_hysteresis_a: must be below i_unit_a"),
            (self.i_xbias_a < self.i_xmax_a and (self.differential_front_end or self.i_xmin_a < self.i_xbias_a),
             "i_xbias_a: need i_xmin_a < i_xbias_a < i_xmax_a (x = 0 inside the input window; "
             "a differential front end needs only i_xbias_a < i_xmax_a)"),
            (self.i_step_min_a < self.i_step_max_a, "i_step_max_a: must be above i_step_min_a"),
            (self.mirror_row_gain_min < self.mirror_row_gain_max,
             "mirror_row_gain_min: must be below mirror_row_gain_max"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        c = self.clock()
        try:
            c.phases(self.t_transfer_s)
        except ValueError:
            raise ValueError(f"t_compare_s: compare {self.t_compare_s:g} s + transfer {self.t_transfer_s:g} s + "
                             f"gap {c.t_gap_s:g} s + restore {c.t_restore_s:g} s do not fit in "
                             f"clock_period_s = {self.clock_period_s:g} s") from None

    # ---- the hardware kind and its timing
    @property
    def kind(self) -> HardwareKind:
        return kind_for_eps(self.eps)

    @property
    def hardware(self) -> str:
        return self.kind.name

    @property
    def t_transfer_s(self) -> float:
        """Width of the transfer phase phi_t (the integrator's packet time, or the latch's)."""
        return self.kind.t_transfer_s(self)

    @property
    def t_layer_s(self) -> float:
        """Clock time one layer takes. Stacked layers take their turns one after another
        within a period, so layer l+1 compares on layer l's settled state."""
        return self.kind.t_layer_s(self)

    # ---- the cell parameters, built from the keys above
    def supply(self, corner: str | None = None, temp_c: float | None = None, vdd_v: float | None = None) -> Supply:
        return Supply(vdd_v=self.vdd_v if vdd_v is None else vdd_v, corner=corner or self.corners[0],
                      temp_c=self.temp_c if temp_c is None else temp_c)

    def clock(self) -> ClockParams:
        return ClockParams(period_s=self.clock_period_s, t_compare_s=self.t_compare_s, t_gap_s=self.t_gap_s,
                           t_restore_s=self.t_restore_s, t_edge_s=self.t_edge_s)

    def comparator(self) -> ComparatorParams:
        """Every unit's comparator: beta = 1 (inputs are sensed in units of beta), trims, hysteresis."""
        return ComparatorParams(i_unit_a=self.i_unit_a, i_bias_a=self.i_bias_a, beta=1.0,
                                i_hyst_a=self.comparator_hysteresis_a, i_up_trim_a=self.comparator_up_trim_a,
                                i_dn_trim_a=self.comparator_dn_trim_a, wn_um=self.comparator_w_in_um,
                                ln_um=self.comparator_l_in_um, wp_um=self.comparator_w_ref_um,
                                lp_um=self.comparator_l_ref_um)

    def integrator(self, alpha: float = 1.0) -> IntegratorParams:
        """The integrator of a unit whose readout is alpha * I_unit * trim per level."""
        return IntegratorParams(levels_per_side=self.levels, v_low_v=self.v_low_v, v_high_v=self.v_high_v,
                                c_hold_f=self.c_hold_f, i_pkt_a=self.i_pkt_a, i_cmp_a=self.i_level_cmp_a,
                                i_step_a=alpha * self.i_unit_a * self.readout_trim,
                                level_cmp_w_in_um=self.level_cmp_w_in_um, level_cmp_l_in_um=self.level_cmp_l_in_um,
                                level_cmp_w_load_um=self.level_cmp_w_load_um,
                                level_cmp_l_load_um=self.level_cmp_l_load_um, pump_w_p_um=self.pump_w_p_um,
                                pump_l_p_um=self.pump_l_p_um, pump_w_n_um=self.pump_w_n_um,
                                pump_l_n_um=self.pump_l_n_um, packet_trim=self.packet_trim,
                                readout_w_um=self.readout_w_um, readout_l_um=self.readout_l_um)

    def latch(self, alpha: float = 1.0) -> LatchParams:
        return LatchParams(i_step_a=alpha * self.i_unit_a * self.readout_trim)

    # ---- input windows
    @property
    def differential_front_end(self) -> bool:
        return self.mirror_front_end == "differential"

    @property
    def x_min(self) -> float:
        """Lowest input the mirror array's front end carries (lower inputs are clipped to it)."""
        if self.differential_front_end:
            return -self.x_max
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


# Presets: the keys each changes from the defaults above.
PRESETS: dict[str, dict] = {
    "sky130_subthreshold": {},
    "sky130_latch": {"eps": 1.0},  # a BMRU on latch hardware; the integrator keys are unused
    # layer 0's synapse array in sky130 current mirrors, each row's 1 / beta_i mostly in device counts
    "sky130_mirror": {"synapses": "mirror", "mirror_row_gain_min": 0.7},
    # the comparator's devices 16x the default's gate area: its Monte Carlo spread of the trip points
    # 4.5x smaller (sigma 0.13 / 0.09 beta*I_unit over 60 chips against 0.60 / 0.39), decisions
    # 2-3x slower (docs/circuits.md, "Comparator mismatch against device size"); trims of tt 27 C,
    # read on the trims' slowed loop (docs/circuits.md, "Trip points read on a loop").
    # The level comparators' input pair 1/1 um: sigma of their trips 8.3 mV against 22.7 mV; their
    # gates on the hold node made packets 3 % smaller at tt 27 C, hence the 4.3 % longer packet
    # (docs/circuits.md, "Level comparator mismatch against device size")
    "sky130_matched": {"comparator_w_in_um": 4.0, "comparator_l_in_um": 16.0, "comparator_w_ref_um": 4.0,
                       "comparator_l_ref_um": 16.0, "comparator_up_trim_a": 5.08e-12, "comparator_dn_trim_a": 3.91e-12,
                       "level_cmp_w_in_um": 1.0, "level_cmp_l_in_um": 1.0, "packet_trim": 1.043},
}


def chip_from_dict(data: dict, where: str = "chip") -> ChipSpec:
    """Checked ChipSpec from a preset name (`preset` key, default DEFAULT_PRESET) and keys;
    errors read e.g. ``chip.vdd_v: must be in [0.9, 1.8], got 5``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a table, got {type(data).__name__}")
    data = dict(data)
    preset = data.pop("preset", DEFAULT_PRESET)
    if preset not in PRESETS:
        raise ConfigError(f"{where}.preset: must be one of {', '.join(PRESETS)}; got {preset!r}")
    return from_dict(ChipSpec, {"name": preset, **PRESETS[preset], **data}, where)


def load_chip(source: str | Path | None = None, overrides: list[str] = ()) -> ChipSpec:
    """A preset name or a chip file (TOML or JSON), then `key=value` overrides; None: the default preset."""
    if source is None or str(source) in PRESETS:
        data, where = {"preset": str(source or DEFAULT_PRESET)}, "chip"
    else:
        data, where = read_file(source), str(source)
        if not data:
            raise ConfigError(f"{source}: empty chip spec; start it from a preset, e.g. "
                              f"preset = \"{DEFAULT_PRESET}\" (presets: {', '.join(PRESETS)})")
    for assignment in overrides:
        key, value = parse_override(assignment, "--chip-set")
        if "." in key:
            raise ConfigError(f"--chip-set {key}: chip keys are not nested (e.g. t_compare_s=3e-3)")
        data[key] = value
    try:
        return chip_from_dict(data, "chip")
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}" if where != "chip" else str(err)) from None


# Where the cells were characterized and the networks co-simulated (docs/circuits.md, "Over process,
# voltage and temperature"; docs/results.md, "Networks over process, voltage and temperature"):
# a chip specified outside it runs on trims and margins nobody has measured there.
CHARACTERIZED_CORNERS = ("tt", "ss", "ff", "sf", "fs")
CHARACTERIZED_TEMP_C = (-40.0, 85.0)
CHARACTERIZED_VDD_V = (1.08, 1.32)  # 1.2 V +- 10 %


def outside_characterized(chip: ChipSpec) -> list[str]:
    """Warnings, one per key, where the chip's operating point leaves the characterized grid."""
    out = []
    lo, hi = CHARACTERIZED_TEMP_C
    if not lo <= chip.temp_c <= hi:
        out.append(f"temp_c = {chip.temp_c:g} C lies outside the characterized {lo:g} .. {hi:g} C")
    lo, hi = CHARACTERIZED_VDD_V
    if not lo <= chip.vdd_v <= hi:
        out.append(f"vdd_v = {chip.vdd_v:g} V lies outside the characterized {lo:g} .. {hi:g} V")
    other = [c for c in chip.corners if c not in CHARACTERIZED_CORNERS]
    if other:
        out.append(f"corners {other}: not among the characterized {list(CHARACTERIZED_CORNERS)} "
                   "(Monte Carlo corners are measured by codesign calibrate, not by the PVT grid)")
    return [f"warning: {w}; the cells' trims and the network's margins were not measured there" for w in out]


_UNITS = {"_a": "A", "_v": "V", "_s": "s", "_f": "F", "_um": "um", "_c": "C"}


def describe(chip: ChipSpec) -> str:
    """The resolved spec, one key per line with its unit (`codesign chip show`)."""
    lines = [f"# chip spec {chip.name}: {chip.hardware} hardware (eps = {chip.eps:g})"]
    for f in dataclasses.fields(chip):
        value = getattr(chip, f.name)
        unit = next((u for suffix, u in _UNITS.items() if f.name.endswith(suffix)), "")
        shown = f"{value:.6g}" if isinstance(value, float) else json.dumps(value)  # TOML: a valid chip file
        lines.append(f"{f.name} = {shown}" + (f"    # {unit}" if unit else ""))
    lines.append(f"# derived: transfer phase {chip.t_transfer_s:.6g} s, one layer's turn {chip.t_layer_s:.6g} s, "
                 f"input window z/beta in [{chip.z_min:.3g}, {chip.z_max:.3g}]")
    lines += [f"# {w}" for w in outside_characterized(chip)]
    return "\n".join(lines) + "\n"
