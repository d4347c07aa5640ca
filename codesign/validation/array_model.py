"""A mirror-array chip's Monte Carlo in software: many drawn chips in seconds, beside ngspice's few.

A network-level Monte Carlo point in ngspice takes minutes (docs/results.md, "Keyword spotting"),
and on those points the units follow the currents their array delivers on 99-100 % of steps: what
moves a chip off the software is the array (each synapse's own mismatch, which no row trim
reaches) and the readout (each unit's gain). Both are sums of weak-inversion copies, so their
mismatch has a simple form, drawn here per chip:

- every unit pfet of the array carries its nominal current times (1 + e), e ~ N(0, s_p^2); a
  group of n in parallel (a synapse of |code| x m_row devices, a column diode of M_c) averages
  to s_p / sqrt(n), as the PDK's `mult` does; the row's replica (one device) sets the row's gain;
- each row's nfet mirror scales its negative synapses by (1 + e_n), e_n ~ N(0, s_n^2);
- the chip is trimmed at test as a sweep trims it (`array_trim.fit_row_trims`, its DACs' steps,
  two rounds on the calibration vectors), here on the model's currents;
- the units take the golden model's levels on the delivered currents (`staged.delivered_levels`);
- an integrator unit reads its level out through a 1:1 nfet mirror, one branch per boundary
  (`hardware.cells`: branch j sinks a copy of the unit's diode while the hold voltage is above
  boundary j), zeroed at reset (level 0): level k reads the sum of the branches between level 0
  and level k, each branch (1 + e_c) / (1 + e_d) with e_c, e_d ~ N(0, s_m^2 / 2) (s_m the
  sigma of a diode-and-copy pair's ratio), the diode's e_d shared by the unit's branches;
- or, instead of the branches, each unit's readout reads its level times (1 + e_r),
  e_r ~ N(0, s_r^2): a gain measured elsewhere (the packets bench over Monte Carlo chips).

s_p, s_n and s_m are measured by ngspice on the chip's own devices at the currents they carry
(`device_sigma`: copies of a column diode, pairs of row-mirror nfets, pairs of readout nfets; the
corner's mismatch models).
What the model leaves out (the synapses' drain voltages, the comparators' residual offsets after
their trims, the packets' spread, the array's nonlinearity at its window's edges) is why it is
checked against the ngspice points (`benchmarks/array_model.py --sweep`, which also prints the
units' agreement with their delivered levels and the trimmed comparators' residuals there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codesign.chip import ChipSpec
from codesign.manifest import NetworkPlan
from codesign.mapping.reference import software_outputs, software_states
from codesign.mapping.synapses import RowTrims, mirror_array
from codesign.netlist import number
from codesign.progress import progress_bar
from codesign.validation.array_trim import TrimDac, fit_row_trims, supply_at_test, synapse_shares_by_drain
from codesign.validation.benches import header
from codesign.validation.ngspice import run
from codesign.validation.staged import delivered_levels
from codesign.validation.synapses import against_contract, ideal_currents, in_window


@dataclass(frozen=True)
class ArrayMismatch:
    """Relative current sigmas of the devices a drawn chip's array and readout are made of."""

    unit_pfet_sigma_rel: float  # one unit pfet of the array (synapses, columns, replicas)
    row_nfet_sigma_rel: float  # a row's nfet mirror: its gain on the negative synapses
    readout_gain_sigma_rel: float = 0.0  # a unit's readout current per level, one gain for all its levels
    readout_mirror_sigma_rel: float = 0.0  # a readout branch's copy against its unit's diode (a pair's ratio)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and 0 <= v < 1):
                raise ValueError(f"{f.name}: a relative sigma in [0, 1), got {v!r}")


@dataclass(frozen=True)
class ArrayDraw:
    """One drawn chip: the factor on each device group's current."""

    column: np.ndarray  # [columns]: each column diode
    into_input: np.ndarray  # [d, columns]: each synapse draining into the unit's input
    into_mirror: np.ndarray  # [d, columns]: each synapse draining into the row's nfet mirror
    replica: np.ndarray  # [d]: each row's gain as drawn
    row_mirror: np.ndarray  # [d]: each row's nfet mirror
    readout: np.ndarray  # [d, 2L + 1]: what each unit reads at level k = -L..L, in levels (ideal: k)


def draw_chip(plan: NetworkPlan, m: ArrayMismatch, rng: np.random.Generator) -> ArrayDraw:
    """One chip of layer 0's mirror array drawn from m (a Gaussian factor per device group; a diode's
    factor acts on its copies as its inverse would, which a symmetric draw makes the same)."""
    p = mirror_array(plan, plan.layers[0])
    up, down = p.column_codes
    rows = len(p.codes)

    def group(counts):  # n devices in parallel: sigma / sqrt(n); an empty group carries nothing
        n = np.maximum(counts, 1)
        return 1 + rng.standard_normal(np.shape(counts)) * m.unit_pfet_sigma_rel / np.sqrt(n)

    return ArrayDraw(column=group(np.full(up.shape[1], p.m_column)),
                     into_input=group(up * p.m_row[:, None]), into_mirror=group(down * p.m_row[:, None]),
                     replica=group(np.ones(rows)), row_mirror=1 + rng.standard_normal(rows) * m.row_nfet_sigma_rel,
                     readout=drawn_readout(plan, m, rng))


def drawn_readout(plan: NetworkPlan, m: ArrayMismatch, rng: np.random.Generator) -> np.ndarray:
    """Each unit's reading [d, 2L + 1] at levels -L..L (in levels, 0 at level 0): its 2L branches
    drawn from m.readout_mirror_sigma_rel, times a gain drawn from m.readout_gain_sigma_rel."""
    d, L = len(plan.layers[0].units), plan.levels
    if m.readout_mirror_sigma_rel and plan.chip.kind.name != "integrator":
        raise ValueError(f"readout_mirror_sigma_rel: the branch mirror of an integrator chip's readout; "
                         f"this chip is {plan.chip.kind.name}")
    half = m.readout_mirror_sigma_rel / np.sqrt(2)  # the pair's ratio spreads as diode and copy together
    branches = (1 + rng.standard_normal((d, 2 * L)) * half) / (1 + rng.standard_normal((d, 1)) * half)
    on = np.concatenate([np.zeros((d, 1)), np.cumsum(branches, axis=1)], axis=1)  # [d, 2L + 1]: levels -L..L
    gain = 1 + rng.standard_normal((d, 1)) * m.readout_gain_sigma_rel
    return (on - on[:, L:L + 1]) * gain


def drawn_currents(plan: NetworkPlan, x: np.ndarray, draw: ArrayDraw, trims: RowTrims | None = None,
                   mirror_trim: np.ndarray | None = None) -> np.ndarray:
    """Each unit's input current [..., d] in A on x [..., n_in], from the drawn chip with its trims
    (mirror_trim [d]: a factor on each row's nfet mirror ratio, `trimmed`'s what-if; default none)."""
    p = mirror_array(plan, plan.layers[0])
    rows = len(p.codes)
    trims = trims or RowTrims.none(rows)
    mirror = draw.row_mirror if mirror_trim is None else draw.row_mirror * mirror_trim
    up, down = p.column_codes
    per_device = np.array(p.row_gain) / p.m_column * draw.replica * np.array(trims.ref_scale)  # [d]
    cols = p.column_currents(x) * draw.column
    into_input = cols @ (up * p.m_row[:, None] * draw.into_input).T
    into_mirror = cols @ (down * p.m_row[:, None] * draw.into_mirror).T * mirror
    return np.array(p.i_fixed_a) + np.array(trims.offset_a) + (into_input - into_mirror) * per_device


def trimmed(plan: NetworkPlan, draw: ArrayDraw, x_cal: np.ndarray, dac: TrimDac = TrimDac(),
            rounds: int = 2, negative_gain: bool = False) -> tuple[RowTrims, np.ndarray]:
    """The drawn chip's row trims, set at test as `array_trim.trim_array` sets them on ngspice's
    currents, and each row's nfet mirror trim [d] (ones unless negative_gain).

    negative_gain, a what-if no netlist carries: a third DAC per row, on its nfet mirror's ratio (the
    gain of its negative synapses alone, which the row's one gain trim cannot part from the positive
    ones), set in each round before the other two from a fit that takes the two drains apart. Its
    DAC is modelled as the gain DAC (`TrimDac`'s steps and range)."""
    rows = len(plan.layers[0].units)
    trims, mirror = RowTrims.none(rows), np.ones(rows)
    for _ in range(rounds):
        if negative_gain:
            mirror = fit_mirror_trim(plan, x_cal, drawn_currents(plan, x_cal, draw, trims, mirror), mirror, dac)
        trims = fit_row_trims(plan, x_cal, drawn_currents(plan, x_cal, draw, trims, mirror), trims, dac)
    return trims, mirror


def fit_mirror_trim(plan: NetworkPlan, x: np.ndarray, i_measured: np.ndarray, mirror: np.ndarray,
                    dac: TrimDac = TrimDac()) -> np.ndarray:
    """Each row's nfet mirror trim after one round: the error [S, d] fitted on [1, what the row's
    synapses drain into its input, what they drain into its mirror], the mirror's factor set to
    carry the negative share at the positive one's gain, on the gain DAC's steps and range."""
    ideal = ideal_currents(plan, x)
    error, inside = (i_measured - ideal) / plan.chip.i_unit_a, in_window(plan, ideal)
    into_input, into_mirror = synapse_shares_by_drain(plan, x)
    out = np.array(mirror, dtype=np.float64)
    for i in range(error.shape[1]):
        ok = inside[:, i]
        if not into_mirror[ok, i].any():  # a row without negative synapses: its mirror carries nothing
            continue
        a = np.stack([np.ones(int(ok.sum())), into_input[ok, i], -into_mirror[ok, i]], axis=1)
        (_, gain_p, gain_n), *_ = np.linalg.lstsq(a, error[ok, i], rcond=None)
        out[i] = dac.gain(mirror[i] * (1 + gain_p) / (1 + gain_n))
    return out


@dataclass(frozen=True)
class SoftwareReference:
    """What every drawn chip is set against, computed once: the software's levels [N, T, d] and
    outputs on the utterances, and their labels."""

    levels: np.ndarray
    outputs: np.ndarray
    labels: np.ndarray

    @staticmethod
    def of(plan: NetworkPlan, x: np.ndarray, labels: np.ndarray) -> "SoftwareReference":
        _, hs = software_states(plan, x)
        return SoftwareReference(np.rint(hs[-1] / plan.layers[0].alpha), software_outputs(plan, hs[-1]),
                                 np.asarray(labels))


def chip_figures(plan: NetworkPlan, x: np.ndarray, software: SoftwareReference, draw: ArrayDraw,
                 trims: tuple[RowTrims, np.ndarray]) -> dict:
    """One drawn chip on utterances x [N, T, n_in] against the software: the array's error near a
    threshold (I_unit RMS), level agreement, decisions identical, accuracy, the outputs' RMS error,
    and the readout's share of it (the outputs against the chip's own levels read ideally); trims:
    `trimmed`'s."""
    i_in = drawn_currents(plan, x, draw, *trims)
    levels = delivered_levels(plan, i_in)  # [N, T, d]
    alpha = plan.layers[0].alpha
    y_levels = software_outputs(plan, levels * alpha)  # the chip's levels through an ideal readout
    units = np.arange(levels.shape[-1])
    y_chip = software_outputs(plan, draw.readout[units, levels + plan.levels] * alpha)
    array = against_contract(plan, x.reshape(-1, x.shape[-1]), i_in.reshape(-1, i_in.shape[-1])).summary()
    return {"rms_error_near_threshold": array["rms_error_near_threshold"],
            "level_agreement": float(np.mean(levels == software.levels)),
            "decisions_identical": float(np.mean(y_chip.argmax(-1) == software.outputs.argmax(-1))),
            "accuracy": float(np.mean(y_chip.argmax(-1) == software.labels)),
            "software_accuracy": float(np.mean(software.outputs.argmax(-1) == software.labels)),
            "output_rmse": float(np.sqrt(np.mean((y_chip - software.outputs) ** 2))),
            "readout_rmse": float(np.sqrt(np.mean((y_chip - y_levels) ** 2)))}


def drawn_chips(plan: NetworkPlan, x: np.ndarray, labels: np.ndarray, x_cal: np.ndarray, m: ArrayMismatch,
                chips: int, seed: int = 0, progress: str | None = None, negative_gain: bool = False) -> list[dict]:
    """chip_figures of `chips` chips drawn from m (reproducible by seed), each trimmed on x_cal
    (negative_gain: `trimmed`'s what-if); progress: a label for a progress bar on stderr."""
    if plan.chip.synapses != "mirror" or len(plan.layers) != 1:
        raise ValueError("array model: needs a single-layer network on a mirror synapse array")
    rng, software = np.random.default_rng(seed), SoftwareReference.of(plan, x, labels)
    out = []
    for _ in progress_bar(range(chips), desc=progress, unit="chip") if progress else range(chips):
        draw = draw_chip(plan, m, rng)
        out.append(chip_figures(plan, x, software, draw, trimmed(plan, draw, x_cal, negative_gain=negative_gain)))
    return out


DEVICES = ("pfet", "nfet", "readout")


def measured_mismatch(plan: NetworkPlan, timeout_s: float = 600) -> ArrayMismatch:
    """The chip's device sigmas measured by ngspice (`measured_sigma`), the readout's branches when
    the chip is an integrator (else the readout is left ideal)."""
    readout = measured_sigma(plan, "readout", timeout_s=timeout_s) if plan.chip.kind.name == "integrator" else 0.0
    return ArrayMismatch(measured_sigma(plan, "pfet", timeout_s=timeout_s),
                         measured_sigma(plan, "nfet", timeout_s=timeout_s), readout_mirror_sigma_rel=readout)


def measured_sigma(plan: NetworkPlan, device: str, chip: ChipSpec | None = None, timeout_s: float = 600) -> float:
    """`device_sigma` of a device of the plan's chip (or of `chip`, the same chip with other sizes: a
    what-if) at the current it carries in the plan: a unit pfet at its share of a column's current
    (`unit_pfet_current_a`), a row mirror at four units, the readout mirror at the units' median
    readout step (`readout_step_a`); Monte Carlo chips 1-2, tt 27 C."""
    current = {"pfet": unit_pfet_current_a, "nfet": lambda p: 4 * p.chip.i_xunit_a, "readout": readout_step_a}
    if device not in current:
        raise ValueError(f"device: one of {', '.join(DEVICES)}; got {device!r}")
    return device_sigma(chip or plan.chip, device, current[device](plan), timeout_s=timeout_s)


def unit_pfet_current_a(plan: NetworkPlan) -> float:
    """The current one unit pfet of the array carries: a column's current at x = 1 shared by the
    column diode's M_c devices (picoamperes, deep in weak inversion, where a pfet's current spreads
    most: the 1/1 um pfet 16.1 % there against 12.3 % at the column's whole current, measured 2026-12-06)."""
    c = plan.chip
    return (c.i_xbias_a + c.i_xunit_a) / mirror_array(plan, plan.layers[0]).m_column


def readout_step_a(plan: NetworkPlan) -> float:
    """The current the readout mirror's sigma is measured at: the units' median readout step."""
    return float(np.median([u.i_step_a for u in plan.layers[0].units]))


def _sigma_bench(chip: ChipSpec, mc_seed: int, pairs: int, device: str, i_a: float) -> str:
    """`pairs` copies of one diode (device "pfet": the array's unit pfet, a column diode of 100
    and single copies) or `pairs` diode-and-copy pairs (device "nfet": the row mirror; "readout":
    an integrator's readout mirror), each copy's current read by a 0 V source, on Monte Carlo chip
    mc_seed at tt 27 C."""
    supply = supply_at_test(chip, "tt", mc_seed)
    i = number(i_a, "i_a", positive=True)
    lines = header(f"{device}_mismatch", supply, "synapse") + [f"Vdd vdd 0 {number(supply.vdd_v, 'vdd_v')}"]
    if device == "pfet":
        w, ll = number(chip.mirror_w_um, "mirror_w_um"), number(chip.mirror_l_um, "mirror_l_um")
        lines += [f"Vd dr 0 {number(chip.mirror_v_replica_v, 'mirror_v_replica_v')}",
                  f"Xcol col col vdd vdd mru_syn_unit w={w} l={ll} count=100", f"Icol col 0 {number(100 * i_a, 'i')}"]
        for k in range(pairs):
            lines += [f"Xc{k} d{k} col vdd vdd mru_syn_unit w={w} l={ll} count=1", f"Vm{k} d{k} dr 0"]
    else:
        size = ("mirror_nfet_w_um", "mirror_nfet_l_um") if device == "nfet" else ("readout_w_um", "readout_l_um")
        w, ll = (number(getattr(chip, f), f) for f in size)
        lines.append(f"Vd dr 0 {number(chip.mirror_v_replica_v, 'mirror_v_replica_v')}")
        for k in range(pairs):
            lines += [f"XD{k} g{k} g{k} 0 0 sky130_fd_pr__nfet_01v8 w={w} l={ll}", f"I{k} dr g{k} {i}",
                      f"XC{k} d{k} g{k} 0 0 sky130_fd_pr__nfet_01v8 w={w} l={ll}", f"Vm{k} dr d{k} 0"]
    lines += [".save " + " ".join(f"i(vm{k})" for k in range(pairs)), ".op", ".end"]
    return "\n".join(lines) + "\n"


def device_sigma(chip: ChipSpec, device: str, i_a: float, mc_seeds=(1, 2), pairs: int = 200,
                 timeout_s: float = 600) -> float:
    """The relative current sigma of the array's unit pfet ("pfet": copies of one diode), of its
    row mirror ("nfet": diode-and-copy pairs) or of the readout's mirror ("readout": the same pairs
    at the readout's size) at i_a, pooled over Monte Carlo chips mc_seeds."""
    if device not in DEVICES:
        raise ValueError(f"device: one of {', '.join(DEVICES)}; got {device!r}")
    rel = []
    for s in mc_seeds:
        res = run(_sigma_bench(chip, s, pairs, device, i_a), name=f"{device}_sigma", timeout_s=timeout_s)
        i = np.array([float(np.atleast_1d(res.i(f"vm{k}"))[0]) for k in range(pairs)])
        rel.append(i / i.mean())
    return float(np.std(np.concatenate(rel), ddof=1))
