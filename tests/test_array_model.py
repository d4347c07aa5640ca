"""The mirror array's Monte Carlo in software (codesign.validation.array_model): an undrawn chip is
the contract, the trims take out what is row-wide, more device mismatch costs more, and the device
sigmas come from ngspice's Monte Carlo models."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from codesign.mapping.synapses import RowTrims, mirror_array
from codesign.validation.array_model import (
    ArrayMismatch,
    SoftwareReference,
    chip_figures,
    device_sigma,
    draw_chip,
    drawn_chips,
    drawn_currents,
    drawn_readout,
    trimmed,
    unit_pfet_current_a,
)
from codesign.validation.array_trim import calibration_inputs
from codesign.validation.cosim import load_checked
from codesign.validation.report import test_sequences as held_out
from codesign.validation.report import training_inputs
from codesign.validation.synapses import against_contract, ideal_currents

MIRROR = Path(__file__).parent / "golden" / "maps" / "mirror"


@pytest.fixture(scope="module")
def mirror():
    plan = load_checked(MIRROR)
    x, labels = held_out(MIRROR, 8)
    return plan, x, labels, calibration_inputs(training_inputs(MIRROR, 50))


def _rms_near(plan, x, i):
    return against_contract(plan, x.reshape(-1, x.shape[-1]), i.reshape(-1, i.shape[-1])).summary()[
        "rms_error_near_threshold"]


def test_an_undrawn_chip_delivers_the_contract_and_the_software(mirror):
    plan, x, labels, _ = mirror
    zero = draw_chip(plan, ArrayMismatch(0.0, 0.0, 0.0), np.random.default_rng(0))
    c = plan.chip
    np.testing.assert_allclose(drawn_currents(plan, x, zero), ideal_currents(plan, x), atol=1e-6 * c.i_unit_a)
    d = len(plan.layers[0].units)
    f = chip_figures(plan, x, SoftwareReference.of(plan, x, labels), zero, (RowTrims.none(d), np.ones(d)))
    assert f["level_agreement"] == 1.0 and f["decisions_identical"] == 1.0 and f["output_rmse"] == 0.0
    assert f["accuracy"] == f["software_accuracy"]


def test_the_trims_take_out_what_is_row_wide(mirror):
    """Each row's replica and nfet mirror drawn off: the trims, fitted as a sweep fits them, bring the
    array back to its contract within their DACs' steps (1/128 of I_unit and of the gain)."""
    plan, x, _, x_cal = mirror
    d = len(plan.layers[0].units)
    zero = draw_chip(plan, ArrayMismatch(0.0, 0.0, 0.0), np.random.default_rng(0))
    rows_only = dataclasses.replace(zero, replica=np.linspace(0.8, 1.25, d), row_mirror=np.linspace(1.05, 0.95, d))
    before = _rms_near(plan, x, drawn_currents(plan, x, rows_only))
    after = _rms_near(plan, x, drawn_currents(plan, x, rows_only, *trimmed(plan, rows_only, x_cal)))
    assert before > 0.1 and after < 0.01, (before, after)


def test_a_mirror_trim_takes_out_the_negative_synapses_gain(mirror):
    """Each row's nfet mirror drawn 10 % off, which the row's one gain cannot part from its positive
    synapses: the what-if's third DAC finds the factor of each mirror that carries any (row 3 has no
    negative synapse: its trim stays) within two of its steps, and leaves the array closer to its
    contract than the two trims alone."""
    plan, x, _, x_cal = mirror
    d = len(plan.layers[0].units)
    zero = draw_chip(plan, ArrayMismatch(0.0, 0.0, 0.0), np.random.default_rng(0))
    off = dataclasses.replace(zero, row_mirror=np.where(np.arange(d) % 2, 1.1, 0.9), replica=np.full(d, 1.2))
    two = _rms_near(plan, x, drawn_currents(plan, x, off, *trimmed(plan, off, x_cal)))
    trims, mirror_trim = trimmed(plan, off, x_cal, negative_gain=True)
    three = _rms_near(plan, x, drawn_currents(plan, x, off, trims, mirror_trim))
    negative = mirror_array(plan, plan.layers[0]).column_codes[1].any(axis=1)
    assert negative.tolist() == [True, True, True, False]
    np.testing.assert_allclose((off.row_mirror * mirror_trim)[negative], 1.0, atol=2 / 128)
    assert mirror_trim[~negative].tolist() == [1.0]
    assert three < two / 2, (two, three)
    assert np.array_equal(trimmed(plan, off, x_cal)[1], np.ones(d))


def test_more_device_mismatch_costs_more_and_a_seed_names_the_chips(mirror):
    plan, x, labels, x_cal = mirror
    small, large = (drawn_chips(plan, x, labels, x_cal, ArrayMismatch(s, 0.01, 0.05), chips=6, seed=3)
                    for s in (0.03, 0.3))
    mean = lambda rows, k: np.mean([r[k] for r in rows])  # noqa: E731
    assert mean(large, "rms_error_near_threshold") > 3 * mean(small, "rms_error_near_threshold")
    assert mean(large, "level_agreement") < mean(small, "level_agreement")
    assert drawn_chips(plan, x, labels, x_cal, ArrayMismatch(0.03, 0.01, 0.05), chips=6, seed=3) == small


@pytest.mark.parametrize("fields, name", [((-0.1, 0.0), "unit_pfet_sigma_rel"), ((0.1, float("nan")),
                                          "row_nfet_sigma_rel"), ((0.1, 0.0, 1.5), "readout_gain_sigma_rel"),
                                         ((0.1, 0.0, 0.0, -0.01), "readout_mirror_sigma_rel")])
def test_a_sigma_out_of_range_is_refused_by_name(fields, name):
    with pytest.raises(ValueError, match=name):
        ArrayMismatch(*fields)


def test_the_readout_reads_through_its_branches(mirror):
    """Level 0 reads 0 on every chip; ideal branches read k; drawn ones spread as the branches they
    sum: level 1 one branch against its diode (the pair's sigma), level L the L branches above
    level 0 against the shared diode, sigma_m / sqrt(2) * sqrt(1 + 1 / L) of L in all."""
    plan = mirror[0]
    L, rng = plan.levels, np.random.default_rng(0)
    ideal = drawn_readout(plan, ArrayMismatch(0.0, 0.0), rng)
    np.testing.assert_array_equal(ideal, np.broadcast_to(np.arange(-L, L + 1), ideal.shape))
    s_m = 0.05
    reads = np.concatenate([drawn_readout(plan, ArrayMismatch(0.0, 0.0, 0.0, s_m), rng) for _ in range(400)])
    assert np.all(reads[:, L] == 0)
    one, top = reads[:, L + 1] - 1, reads[:, 2 * L] / L - 1
    assert abs(one.std() / s_m - 1) < 0.1, one.std()
    assert abs(top.std() / (s_m / np.sqrt(2) * np.sqrt(1 + 1 / L)) - 1) < 0.1, top.std()
    assert abs(one.mean()) < 0.01 and abs(top.mean()) < 0.01


def test_branch_mismatch_is_refused_on_a_latch_chip():
    plan = load_checked(Path(__file__).parent / "golden" / "maps" / "latch")
    with pytest.raises(ValueError, match="readout_mirror_sigma_rel.*latch"):
        drawn_readout(plan, ArrayMismatch(0.0, 0.0, 0.0, 0.02), np.random.default_rng(0))


def test_the_model_refuses_a_chip_without_a_mirror_array():
    plan = load_checked(Path(__file__).parent / "golden" / "maps" / "cmru")
    x = np.zeros((1, 3, plan.layers[0].n_in))
    with pytest.raises(ValueError, match="mirror synapse array"):
        drawn_chips(plan, x, np.zeros(1), x[0], ArrayMismatch(0.1, 0.0), chips=1)


def test_device_sigmas_come_from_ngspices_monte_carlo_models(mirror):
    """ngspice, Monte Carlo chip 1: 40 copies of the unit pfet, 40 row-mirror pairs, 40 readout pairs
    (a few s each)."""
    plan = mirror[0]
    c = plan.chip
    pfet = device_sigma(c, "pfet", unit_pfet_current_a(plan), mc_seeds=(1,), pairs=40)
    # picoamperes a device in the array, deep in weak inversion: more spread than at a column's whole current
    assert unit_pfet_current_a(plan) < 0.1 * (c.i_xbias_a + c.i_xunit_a)
    assert pfet > device_sigma(c, "pfet", c.i_xbias_a + c.i_xunit_a, mc_seeds=(1,), pairs=40)
    nfet = device_sigma(c, "nfet", 4 * c.i_xunit_a, mc_seeds=(1,), pairs=40)
    readout = device_sigma(c, "readout", plan.layers[0].units[0].i_step_a, mc_seeds=(1,), pairs=40)
    # weak inversion: a 1 um2 pfet's threshold spread over n U_T is some 10 % of its current; the
    # golden chip's row mirror pair is 1/4 um, four times that area per device
    assert 0.03 < pfet < 0.4, pfet
    assert 0.0 < nfet < pfet, (nfet, pfet)
    # the readout mirror at the template's 1/4 um (the row mirror's size) at a quarter of its current
    assert 0.5 * nfet < readout < 0.4, (readout, nfet)
    with pytest.raises(ValueError, match="device"):
        device_sigma(c, "resistor", 1e-9)
