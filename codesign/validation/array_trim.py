"""Per-chip row trims of a mirror synapse array, set at test from the chip's own currents.

On a Monte Carlo chip each row of the array delivers its contract's current with an error that
is, for the most part, the row's own: the replica that sets the row's gain is one unit device,
and the row's nfet mirror, its column diodes' share and the x-independent part of its synapses
add an offset. A tester can measure it: drive the chip's inputs with known vectors, read each
row's current (a test mode routing it to a pad; modelled ideally here: the DC currents ngspice
computes on that chip) and set two trim DACs per row in the bias generator:

    gain    the row's reference current times ref_scale (its unit devices follow it in weak
            inversion, so every synapse of the row scales together)
    offset  a current added to the row's fixed current

The fit is least squares over the calibration vectors of the row's error against the contract
on [1, what its synapses carry] (`synapse_share`), quantized to the DACs' steps (`TrimDac`), and
repeated on the trimmed chip (`rounds`): each round measures the chip with the trims so far.
What is left is the part of the error no row-wide trim reaches: each synapse's own mismatch on
its own input (docs/results.md, "Keyword spotting").

The calibration vectors are the training set's (`calibration_inputs`): x = 0, each input alone
at four values across the training range, and training frames; never the test utterances a
co-simulation judges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.chip import ChipSpec
from codesign.hardware.params import Supply
from codesign.manifest import NetworkPlan
from codesign.mapping.synapses import RowTrims, mirror_array
from codesign.validation.ngspice import run
from codesign.validation.synapses import array_bench, currents_from_dc, ideal_currents, in_window, sweep_inputs

CALIBRATION_FRAMES = 40  # training frames among the calibration vectors (their real mixes of inputs)
CALIBRATION_SEQUENCES = 200  # the training sequences those frames and the inputs' range come from


@dataclass(frozen=True)
class TrimDac:
    """The two trim DACs of each row: signed, `bits` bits (+-(2**(bits-1) - 1) steps)."""

    offset_step_i_unit: float = 1 / 128  # offset DAC step, in I_unit (= beta of z)
    gain_step: float = 1 / 128  # reference-current DAC step, relative (+-99 % at 8 bits)
    bits: int = 8

    @property
    def max_steps(self) -> int:
        return 2 ** (self.bits - 1) - 1

    def gain(self, factor: float) -> float:
        """The gain DAC's setting nearest `factor`, within its range."""
        steps = np.clip(np.rint((factor - 1.0) / self.gain_step), -self.max_steps, self.max_steps)
        return float(1.0 + steps * self.gain_step)


def calibration_inputs(x_train: np.ndarray, seed: int = 1) -> np.ndarray:
    """Calibration vectors [S, n_in] from the training inputs x_train [N, T, n_in]."""
    x_train = np.asarray(x_train, dtype=np.float64)
    return sweep_inputs(x_train, x_train.shape[-1], levels=4, n_random=CALIBRATION_FRAMES, seed=seed)


def map_calibration_inputs(map_dir: str | Path) -> np.ndarray:
    """The calibration vectors a chip of a map folder is trimmed on (its network's training set)."""
    from codesign.validation.report import training_inputs

    return calibration_inputs(training_inputs(map_dir, CALIBRATION_SEQUENCES))


def supply_at_test(chip: ChipSpec, corner: str, mc_seed: int | None, temp_c: float = 27.0) -> Supply:
    """Where a chip is trimmed: its corner and Monte Carlo draw, at 27 C (or the temperature of a
    table's entry) and the nominal supply."""
    return dataclasses.replace(chip.supply(corner, temp_c), mc_seed=mc_seed)


def synapse_shares_by_drain(plan: NetworkPlan, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What row i's synapses draining into its input, and into its nfet mirror, carry [S, d], in
    I_unit, on x [S, n_in] (each with its columns' common mode)."""
    p = mirror_array(plan, plan.layers[0])
    gain = np.array(p.row_gain) / p.m_column  # one unit device of row i per column ampere
    currents = p.column_currents(x)
    return tuple((currents @ (codes * p.m_row[:, None]).T) * gain / plan.chip.i_unit_a for codes in p.column_codes)


def synapse_share(plan: NetworkPlan, x: np.ndarray) -> np.ndarray:
    """What row i's synapses carry net into its input [S, d], in I_unit, on x [S, n_in]: the part of
    its current its reference scales. Differential front end: (W x)_i / beta_i (the columns' common
    mode cancels in each synapse); single-ended: that plus the x-independent part of the mirrors,
    which the fixed current cancels."""
    into_input, into_mirror = synapse_shares_by_drain(plan, x)
    return into_input - into_mirror


def fit_row_trims(plan: NetworkPlan, x: np.ndarray, i_measured: np.ndarray, trims: RowTrims,
                  dac: TrimDac = TrimDac()) -> RowTrims:
    """The trims after one round: `trims` (what the chip carried when i_measured [S, d] was read on
    x [S, n_in]) corrected by the fit of the error left, quantized to the DACs' steps and range."""
    c = plan.chip
    ideal = ideal_currents(plan, x)
    error = (i_measured - ideal) / c.i_unit_a  # [S, d], units of I_unit
    inside = in_window(plan, ideal)  # below the window the comparator's input diode is off
    share = synapse_share(plan, x)
    scales, offsets = [], []
    for i in range(error.shape[1]):
        ok = inside[:, i]
        if ok.sum() < 2:
            raise ValueError(f"row trims: row {i} has {int(ok.sum())} calibration vectors inside the contract's "
                             "window; at least 2 are needed")
        a = np.stack([np.ones(int(ok.sum())), share[ok, i]], axis=1)
        (offset, gain), *_ = np.linalg.lstsq(a, error[ok, i], rcond=None)
        scale = trims.ref_scale[i] / (1.0 + gain)  # the row's synapses carried (1 + gain) x the contract
        offset_a = trims.offset_a[i] - offset * c.i_unit_a
        n_offset = np.clip(np.rint(offset_a / (dac.offset_step_i_unit * c.i_unit_a)), -dac.max_steps, dac.max_steps)
        scales.append(dac.gain(scale))
        offsets.append(float(n_offset * dac.offset_step_i_unit * c.i_unit_a))
    return RowTrims(tuple(scales), tuple(offsets))


@dataclass(frozen=True)
class TrimResult:
    trims: RowTrims
    rms_error_i_unit: tuple[float, ...]  # over the calibration vectors, before each round and after the last

    def summary(self) -> dict:
        return {"ref_scale": list(self.trims.ref_scale), "offset_a": list(self.trims.offset_a),
                "calibration_rms_error_i_unit": list(self.rms_error_i_unit)}

    @staticmethod
    def from_summary(summary: dict) -> "TrimResult":
        """summary() read back (a sweep sets a chip's trims once and hands them to its points)."""
        return TrimResult(RowTrims(tuple(summary["ref_scale"]), tuple(summary["offset_a"])),
                          tuple(summary["calibration_rms_error_i_unit"]))


def trim_array(plan: NetworkPlan, x_cal: np.ndarray, supply: Supply, dac: TrimDac = TrimDac(), rounds: int = 2,
               timeout_s: float = 3600, load: str | None = None) -> TrimResult:
    """Measure the chip's array (supply carries its Monte Carlo seed) on x_cal [S, n_in] and trim it:
    `rounds` measure-and-fit rounds, then one measurement of the result; load: what loads its rows
    (`synapses.ARRAY_LOADS`, default its comparators' input stages)."""
    if rounds < 1:
        raise ValueError(f"rounds: at least 1, got {rounds}")
    trims, rms = RowTrims.none(len(plan.layers[0].units)), []
    ideal = ideal_currents(plan, x_cal)
    inside = in_window(plan, ideal)
    for k in range(rounds + 1):
        res = run(array_bench(plan, x_cal, supply, trims=trims, load=load), name=f"array_trim_{k}",
                  timeout_s=timeout_s)
        i_c = currents_from_dc(plan, res, len(x_cal))
        rms.append(float(np.sqrt(np.mean(((i_c - ideal)[inside] / plan.chip.i_unit_a) ** 2))))
        if k < rounds:
            trims = fit_row_trims(plan, x_cal, i_c, trims, dac)
    return TrimResult(trims, tuple(rms))
