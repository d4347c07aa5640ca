"""The transistor-level synapse array (chip.synapses = "mirror"): netlists, manifest, and short
ngspice runs of the array alone (DC) and of the whole network on a short sequence."""

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from codesign.chip import ChipSpec, chip_from_dict, load_chip
from codesign.config import ConfigError
from codesign.manifest import load_manifest
from codesign.mapping.mapper import DoesNotFit, build_netlists, plan_network, software_states, write_map
from codesign.mapping.synapses import mirror_array, weight_codes
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
    assert dataclasses.replace(chip, name=ChipSpec().name, synapses="behavioural") == ChipSpec()
    assert ChipSpec().synapses == "behavioural" and chip.synapses == "mirror"
    assert chip.x_min == pytest.approx(-0.7) and chip.x_max == pytest.approx(2.2)


@pytest.mark.parametrize("data,message", [
    ({"synapses": "neural"}, "chip.synapses: must be one of behavioural, mirror"),
    ({"i_xbias_a": 5e-9}, "i_xbias_a: need i_xmin_a < i_xbias_a < i_xmax_a"),
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


def test_array_currents_follow_the_contract(mirror_plan):
    plan, task = mirror_plan
    x = sweep_inputs(task.x_test.double().numpy(), 3, levels=3, n_random=6)
    assert x.min() < -0.25 and x.max() == 1.0  # the task's range: distractor noise, the one-hot cue
    s = characterize_array(plan, x).summary()
    print(json.dumps({k: v for k, v in s.items() if k != "units"}))
    assert s["outside_window"] == 0 and s["points"] == 3 * len(x)
    assert s["max_abs_error"] < MAX_ERROR_UNITS and s["rms_error"] < RMS_ERROR_UNITS
    assert s["max_rel_to_gross"] < MAX_REL_TO_GROSS


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
