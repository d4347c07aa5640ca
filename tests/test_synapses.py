"""The transistor-level synapse array (chip.synapses = "mirror"): netlists, manifest, and short
ngspice runs of the array alone (DC) and of the whole network on a short sequence."""

import dataclasses
import io
import json
import re

import numpy as np
import pytest
import torch

from codesign.chip import ChipSpec, chip_from_dict, load_chip
from codesign.config import ConfigError
from codesign.manifest import load_manifest
from codesign.mapping.mapper import DoesNotFit, build_netlists, plan_network, software_states, write_map
from codesign.mapping.synapses import mirror_array, row_sizes, weight_codes
from codesign.training.recipe import recipe_from_dict
from codesign.training.tasks import make_task
from codesign.training.trainer import build_model
from codesign.validation.cosim import cosim_network
from codesign.validation.synapses import characterize_array, sweep_inputs

RECIPE = {
    "name": "three-units",
    "task": {"name": "cue_recall", "params": {"T": 30, "n_classes": 2, "n_train": 8, "n_val": 8, "n_test": 8}},
    "model": {"cell": "cmru", "hidden": 3, "levels": 2},
}
# Mixed signs, and betas 2.25x apart: the row of beta 0.9 gets the lowest rail (largest
# drop below vdd, ~20 mV), where the rail's gain drifts most with I_x.
W = [[1.0, -0.6, 0.3], [-0.8, 0.9, -0.2], [0.5, 0.4, -1.0]]
B = [0.1, -0.2, 0.05]
ALPHA, BETA = 0.5, [0.4, 0.6, 0.9]
MIRROR = ChipSpec(synapses="mirror")
DIFFERENTIAL = ChipSpec(synapses="mirror", mirror_front_end="differential", i_xbias_a=0.2e-9)


def _plan(chip, units=3):
    """The first `units` rows of W, B, BETA as a mapped network."""
    data = json.loads(json.dumps(RECIPE))
    data["model"]["hidden"] = units
    recipe = recipe_from_dict(data)
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = build_model(recipe, task)
    with torch.no_grad():
        layer = model.layers[0]
        layer.input.weight.copy_(torch.tensor(W[:units]))
        layer.input.bias.copy_(torch.tensor(B[:units]))
        layer.log_alpha.fill_(np.log(ALPHA))
        layer.log_beta.copy_(torch.log(torch.tensor(BETA[:units])))
    return plan_network(recipe, task, model, chip), task


@pytest.fixture(scope="module")
def mirror_plan():
    return _plan(MIRROR)


# ---------- chip spec, netlists, manifest (no ngspice) ----------

def test_shipped_mirror_spec_is_the_default_with_mirror_synapses():
    chip = load_chip("chips/sky130_mirror.toml")
    default = dataclasses.replace(chip, name=ChipSpec().name, synapses="behavioural", mirror_row_gain_min=0.0)
    assert default == ChipSpec()
    assert chip.mirror_row_gain_min == 0.7
    assert ChipSpec().synapses == "behavioural" and chip.synapses == "mirror"
    assert chip.x_min == pytest.approx(-0.7) and chip.x_max == pytest.approx(2.2)


@pytest.mark.parametrize("data,message", [
    ({"synapses": "neural"}, "chip.synapses: must be one of behavioural, mirror"),
    ({"i_xbias_a": 5e-9}, "i_xbias_a: need i_xmin_a < i_xbias_a < i_xmax_a"),
    ({"mirror_front_end": "quad"}, "chip.mirror_front_end: must be one of single, differential"),
    ({"mirror_front_end": "differential", "i_xbias_a": 3e-9}, "i_xbias_a: need i_xmin_a < i_xbias_a < i_xmax_a"),
])
def test_bad_synapse_keys_are_refused_by_name(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        chip_from_dict(data)


def test_default_network_netlist_is_unchanged():
    plan, _ = _plan(ChipSpec())
    net = build_netlists(plan)["network.spice"]
    assert "mru_syn" not in net and net.count("Bsyn_") == 3  # the text itself: tests/test_golden_netlists.py


def test_manifest_without_the_synapses_key_loads_as_behavioural(tmp_path):
    plan, _ = _plan(ChipSpec())
    write_map(plan, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for key in ("synapses", "i_xunit_a", "i_xbias_a", "i_xmin_a", "i_xmax_a"):
        del manifest["plan"]["chip"][key]  # written before the keys existed
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    loaded, _ = load_manifest(tmp_path)
    assert loaded.chip.synapses == "behavioural" and loaded == plan
    for name, text in build_netlists(loaded).items():
        assert (tmp_path / name).read_text() == text


def test_mirror_netlist_is_built_from_the_plan_and_rebuilds_from_the_manifest(mirror_plan, tmp_path):
    plan, _ = mirror_plan
    write_map(plan, tmp_path)
    loaded, _ = load_manifest(tmp_path)
    assert loaded == plan
    for name, text in build_netlists(loaded).items():
        assert (tmp_path / name).read_text() == text
    net = (tmp_path / "network.spice").read_text()
    assert "Bsyn_layer0" not in net and ".subckt mru_syn_row " in net
    p = mirror_array(plan, plan.layers[0])
    codes = weight_codes(plan.layers[0].weight, plan.quantization["layer0.W"]["step"])
    assert np.abs(codes).max() == 31 and p.codes == tuple(map(tuple, codes.tolist()))
    # one instance per non-zero code, count = |code|, drain on the input (> 0) or the row mirror (< 0)
    assert "Xsyn_layer0_u0_0 in_layer0_u0 syn_x0 " in net and f"count={abs(codes[0, 0])}" in net
    assert "Xsyn_layer0_u0_1 syn_n_layer0_u0 syn_x1 " in net
    # a code step carries step / beta * I_unit per unit of x; the largest row's gain is the cap
    step = plan.quantization["layer0.W"]["step"]
    np.testing.assert_allclose(p.i_code_a, step / np.array(BETA) * MIRROR.i_unit_a)
    assert max(p.row_gain) <= 0.98 and min(p.row_gain) > 0.4
    assert json.loads((tmp_path / "manifest.json").read_text())["plan"]["synapse_array"]["m_column"] == p.m_column


# a new value of each key a mapped network takes without its training run
NEW_ARRAY_SIZES = {"mirror_w_um": 2.0, "mirror_l_um": 2.0, "mirror_nfet_w_um": 4.0, "mirror_nfet_l_um": 20.0,
                   "mirror_cascode_w_um": 3.0, "mirror_cascode_l_um": 2.0, "mirror_v_replica_v": 0.4,
                   "mirror_v_cascode_v": 0.6, "level_cmp_w_in_um": 2.0, "level_cmp_l_in_um": 2.0,
                   "level_cmp_w_load_um": 16.0, "level_cmp_l_load_um": 0.5, "packet_trim": 1.379,
                   "readout_w_um": 4.0, "readout_l_um": 16.0, "readout_trim": 0.9636}


def test_a_map_folder_remaps_onto_new_array_sizes_as_a_fresh_map_would(mirror_plan, tmp_path, capsys):
    from codesign.cli import main as cli_main
    from codesign.fsio import write_entry
    from codesign.mapping.write import NETLIST_ONLY_KEYS, with_chip
    from codesign.validation.inputs import INPUTS_FILE, manifest_sha256, stored_inputs

    plan, _ = mirror_plan
    assert set(NEW_ARRAY_SIZES) == set(NETLIST_ONLY_KEYS)
    fresh = _plan(dataclasses.replace(MIRROR, **NEW_ARRAY_SIZES))[0]
    assert with_chip(fresh, MIRROR) == plan  # these keys reach the plan only through the units' memory cells
    old, new, bad = tmp_path / "old", tmp_path / "new", tmp_path / "bad"
    write_map(plan, old)
    write_map(fresh, tmp_path / "fresh")
    stored = io.BytesIO()  # the map's stored inputs, as store_inputs writes them
    np.savez_compressed(stored, x_test=np.arange(6.0).reshape(1, 2, 3), manifest_sha256=np.array(manifest_sha256(old)))
    write_entry(old / INPUTS_FILE, stored.getvalue())
    sets = [a for k, v in NEW_ARRAY_SIZES.items() for a in ("--chip-set", f"{k}={v}")]
    assert cli_main(["map", str(old), *sets, "--out", str(new)]) == 0
    assert load_manifest(new)[0] == fresh
    for name in build_netlists(fresh):
        assert (new / name).read_text() == (tmp_path / "fresh" / name).read_text()
    assert (new / "network.spice").read_text() != (old / "network.spice").read_text()
    np.testing.assert_array_equal(stored_inputs(new)["x_test"], stored_inputs(old)["x_test"])  # tied to the new map
    for args, message in [(["--chip-set", "weight_bits=8"], "weight_bits: a mapped network takes new values of"),
                          (["--chip", "sky130_mirror"], "is a map folder, which keeps its own chip"),
                          (["--chip-set", "mirror_nfet_l_um=0"], "chip.mirror_nfet_l_um: must be in")]:
        assert cli_main(["map", str(old), *args, "--out", str(bad)]) == 2
        assert message in capsys.readouterr().err
    assert cli_main(["map", str(old), *sets, "--out", str(old)]) == 2
    assert "the map folder itself" in capsys.readouterr().err
    assert cli_main(["map", str(old), *sets]) == 2
    assert "name the folder its new map goes to" in capsys.readouterr().err
    assert not bad.exists() and load_manifest(old)[0] == plan


def test_differential_front_end_gives_each_input_two_columns(tmp_path):
    # i_xmin_a is unused by a differential front end, so it may lie above i_xbias_a
    assert ChipSpec(mirror_front_end="differential", i_xmin_a=0.5e-9, i_xbias_a=0.2e-9).x_min == pytest.approx(-2.8)
    assert DIFFERENTIAL.x_min == pytest.approx(-2.8) and DIFFERENTIAL.x_max == pytest.approx(2.8)
    plan, _ = _plan(DIFFERENTIAL)
    write_map(plan, tmp_path)
    loaded, _ = load_manifest(tmp_path)
    assert loaded == plan and loaded.chip.mirror_front_end == "differential"
    net = (tmp_path / "network.spice").read_text()
    p = mirror_array(plan, plan.layers[0])
    codes = np.array(p.codes)
    assert codes[0, 0] > 0 and codes[0, 1] < 0
    for j in range(3):  # x_j+ and x_j- columns, each a front-end current clipped at i_xmax_a only
        assert f"Bsyn_fe{j}p syn_xp{j} 0 I=min(" in net and f"Bsyn_fe{j}n syn_xn{j} 0 I=min(" in net
        assert f"syn_x{j} " not in net
    # code > 0: the x+ column into the unit input, the x- column into the row mirror; code < 0 the opposite
    assert "Xsyn_layer0_u0_0p in_layer0_u0 syn_xp0 " in net and "Xsyn_layer0_u0_0n syn_n_layer0_u0 syn_xn0 " in net
    assert "Xsyn_layer0_u0_1p syn_n_layer0_u0 syn_xp1 " in net and "Xsyn_layer0_u0_1n in_layer0_u0 syn_xn1 " in net
    # the two columns' i_xbias cancel in every synapse: the fixed current is the bias and b alone
    layer = plan.layers[0]
    np.testing.assert_allclose(p.i_fixed_a, DIFFERENTIAL.i_bias_a + np.array(layer.bias) / np.array(BETA)
                               * DIFFERENTIAL.i_unit_a)
    up, down = p.column_codes
    assert up.shape == (3, 6) and np.array_equal(up + down, np.abs(np.concatenate([codes, codes], axis=1)))
    summary = json.loads((tmp_path / "manifest.json").read_text())["plan"]["synapse_array"]
    assert summary["front_end"] == "differential"
    assert summary["devices"] == p.m_column * 7 + 2 * np.abs(codes).sum() + 15
    x = np.array([[1.0, -0.5, 3.5]])  # x_2 beyond the window: its x+ column is clipped at i_xmax_a
    np.testing.assert_allclose(p.column_currents(x), [[1.2e-9, 0.2e-9, 3e-9, 0.2e-9, 0.7e-9, 0.2e-9]])


def test_inputs_outside_the_front_end_window_are_refused():
    with pytest.raises(DoesNotFit, match="i_xbias_a: the task's inputs span"):
        _plan(ChipSpec(synapses="mirror", i_xbias_a=0.3e-9))  # x >= -0.2: cue recall's noise goes below


# ---------- ngspice ----------

# Measured on this plan at tt 27 C (DC, the points below): max |error| 0.0198 I_unit (unit 2,
# beta 0.9: its rail sits ~30 mV below vdd, where the rail's gain drifts most with I_x; at
# x_2 = 1 its code -31 synapse carries 1.8 % too much), RMS 0.0049; at most 1.8 % of the gross
# signal sum_j |w_ij x_j| / beta_i. The tolerances leave ~1.5x for other ngspice builds.
MAX_ERROR_UNITS = 0.03
RMS_ERROR_UNITS = 0.01
MAX_REL_TO_GROSS = 0.025


@pytest.mark.parametrize("chip", [MIRROR, DIFFERENTIAL], ids=["single", "differential"])
def test_array_currents_follow_the_contract(chip):
    plan, task = _plan(chip)
    x = sweep_inputs(task.x_test.double().numpy(), 3, levels=3, n_random=6)
    assert x.min() < -0.25 and x.max() == 1.0  # the task's range: distractor noise, the one-hot cue
    s = characterize_array(plan, x).summary()
    print(json.dumps({k: v for k, v in s.items() if k != "units"}))
    assert s["outside_window"] == 0 and s["points"] == 3 * len(x)
    assert s["max_abs_error"] < MAX_ERROR_UNITS and s["rms_error"] < RMS_ERROR_UNITS
    assert s["near_threshold_points"] > 0 and s["max_abs_error_near_threshold"] <= s["max_abs_error"]
    assert s["max_rel_to_gross"] < MAX_REL_TO_GROSS


# Inputs of both signs over a wide range (x in [-7.5, 8], the window the keyword-spotting
# features need): the single-ended front end sits at i_xbias = 8 i_xunit and every mirror error
# acts on that offset; the rows' gains 0.97 / 0.65 / 0.43 come from rails up to ~25 mV below
# vdd, where a gain drifts with I_x. Measured on this plan at tt 27 C (DC, the points above):
# single-ended max 0.045 I_unit, RMS 0.020; differential max 0.017, RMS 0.0043; differential
# with 3 / 2 / 1 devices per code (row gains 0.71 / 0.71 / 0.95) max 0.0029, RMS 0.0016.
WIDE = {"single": ChipSpec(synapses="mirror", i_xunit_a=0.2e-9, i_xbias_a=1.6e-9, i_xmin_a=0.1e-9, i_xmax_a=3.2e-9),
        "differential": ChipSpec(synapses="mirror", mirror_front_end="differential", i_xunit_a=0.2e-9,
                                 i_xbias_a=0.1e-9, i_xmax_a=1.7e-9)}
WIDE["differential, device counts"] = dataclasses.replace(WIDE["differential"], mirror_row_gain_min=0.7)


def test_a_differential_front_end_and_device_counts_keep_a_wide_window_accurate():
    rms, worst = {}, {}
    for name, chip in WIDE.items():
        plan, task = _plan(chip)
        x = sweep_inputs(task.x_test.double().numpy(), 3, levels=3, n_random=6)
        s = characterize_array(plan, x).summary()
        assert s["outside_window"] == 0
        rms[name], worst[name] = s["rms_error"], s["max_abs_error"]
    print(rms, worst)
    assert rms["differential"] < RMS_ERROR_UNITS and rms["differential"] < rms["single"] / 2.5
    assert worst["differential, device counts"] < worst["differential"] / 2.5


def test_device_counts_put_every_row_gain_in_the_band(tmp_path):
    chip = dataclasses.replace(MIRROR, mirror_row_gain_min=0.7)
    plan, _ = _plan(chip)
    p = mirror_array(plan, plan.layers[0])
    assert p.m_row.tolist() == [3, 2, 1]  # betas 0.4 / 0.6 / 0.9: 1 / beta_i mostly in device counts
    assert all(0.7 <= g <= 0.98 for g in p.row_gain)
    np.testing.assert_allclose(np.array(p.row_gain) * p.m_row, np.array(p.i_code_a) * p.m_column / p.i_xunit_a)
    write_map(plan, tmp_path)
    net = (tmp_path / "network.spice").read_text()
    codes = np.array(p.codes)
    assert re.search(rf"Xsyn_layer0_u0_0 in_layer0_u0 syn_x0 .* count={3 * codes[0, 0]}\b", net)
    assert re.search(rf"Xsyn_layer0_u1_0 syn_n_layer0_u1 syn_x0 .* count={2 * abs(codes[1, 0])}\b", net)
    # what one device carries at x = 0, and the rows' currents per code unchanged
    np.testing.assert_allclose(p.i_row_ref_a, np.array(p.i_code_a) / p.m_row * chip.i_xbias_a / chip.i_xunit_a)
    assert load_manifest(tmp_path)[0] == plan
    # each replica's source gets an operating-point hint where its rail settles, n U_T ln(g) below vdd
    hints = re.findall(r"^\.nodeset v\(syn_ref_(layer0_u\d)\)=(\S+)$", net, re.M)
    assert [h[0] for h in hints] == ["layer0_u0", "layer0_u1", "layer0_u2"]
    np.testing.assert_allclose([float(h[1]) for h in hints], chip.vdd_v + 0.035 * np.log(p.row_gain))
    with pytest.raises(ValueError, match="mirror_row_gain_min: no input diode"):
        row_sizes(np.array([1.0, 1e-7]), 0.97, 0.98)
    with pytest.raises(ConfigError, match="mirror_row_gain_min: must be below mirror_row_gain_max"):
        chip_from_dict({"mirror_row_gain_min": 0.99})


# One unit (row 0: codes 31, -19, 9, beta 0.4) through all five levels; every step's z lies at
# least 15 % of beta away from +-beta (checked below), where the array's error (< 0.03 beta)
# cannot change a decision.
X_NETWORK = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, -0.5], [-0.5, 1.0, 0.5], [-0.5, 1.0, -0.5],
             [0.0, 1.0, -0.5]]  # levels 1, 2, 1, 0, -1, -2
NEAR = 0.10  # steps with | |z / beta| - 1 | below this are not asserted


def test_network_level_cosim_with_mirror_synapses():
    plan, _ = _plan(MIRROR, units=1)
    x = np.array(X_NETWORK)[None]
    z = software_states(plan, x)[0][0][0, :, 0] / BETA[0]
    assert np.all(np.abs(np.abs(z) - 1) >= 0.15)  # so no step is near and none can diverge
    far = np.abs(np.abs(z) - 1) >= NEAR
    n = cosim_network(plan, x)
    (c,) = n.layers
    print(n.summary(), "level agreement", c.level_agreement)
    assert set(c.k_software[0, :, 0]) == {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(c.k_circuit[0, far, 0], c.k_software[0, far, 0])
    assert n.summary()["decisions_identical"]


def test_a_group_of_unit_pfets_averages_its_mismatch():
    """ngspice, Monte Carlo chips 1..12: one unit pfet of the template against a group of 16 (a
    synapse of code 16, a column diode), each at the same gate voltage in weak inversion. The
    group's spread per device is about 1/4 of one device's: sky130's model divides its mismatch
    by sqrt(mult), which the template passes with m (with m alone a group drew one device's)."""
    from codesign.netlist import instance
    from codesign.pdk.bins import MC_OVER_NEEDED_BINS
    from codesign.validation.benches import header
    from codesign.validation.ngspice import Job, run_many

    supply = chip_from_dict({"preset": "sky130_mirror"}).supply()

    def deck(seed):
        lines = header("group_mismatch", dataclasses.replace(supply, mc_seed=seed), "synapse")
        lines += [MC_OVER_NEEDED_BINS, "Vdd vdd 0 1.8", "Vg g 0 1.38"]  # source-gate 0.42 V: about 1 pA
        for n in (1, 16):
            lines += [f"Vm{n} d{n} 0 0.9", instance(f"g{n}", [f"d{n}", "g", "vdd", "vdd"], "mru_syn_unit",
                                                     {"w": 1.0, "l": 1.0, "count": n}, "group")]
        return "\n".join(lines + [".op", ".save i(vm1) i(vm16)", ".end"]) + "\n"

    results = run_many([Job(deck(k), f"group_{k}", 300) for k in range(1, 13)], 2)
    one, group = (np.array([float(np.atleast_1d(r.i(f"vm{n}"))[0]) / n for r in results]) for n in (1, 16))
    spread_one, spread_group = (np.std(v) / abs(np.mean(v)) for v in (one, group))
    assert spread_one > 0.1  # the chips differ: mismatch is drawn
    assert spread_group < 0.5 * spread_one, (spread_one, spread_group)
