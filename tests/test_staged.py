"""Staged co-simulation of a mirror-array chip (codesign.validation.staged): the array solved
alone, then each unit driven by its row's current, against the coupled netlists; the plan key
that selects it, refused where it cannot apply."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from codesign.config import ConfigError
from codesign.validation.cosim import DEFAULT, cosim_network, current_bench, load_checked, unit_bench
from codesign.validation.report import test_sequences as first_test_sequences
from codesign.validation.staged import array_input_currents, cosim_network_staged
from codesign.validation.sweep.plan import load_plan
from codesign.validation.synapses import ideal_currents

MAPS = Path(__file__).parent / "golden" / "maps"


def test_unit_bench_is_the_current_bench_on_the_contracts_currents():
    plan = load_checked(MAPS / "mirror")
    c, layer = plan.chip, plan.layers[0]
    x = first_test_sequences(MAPS / "mirror", 1)[0][0, :5]
    from codesign.mapping.reference import software_states

    z = software_states(plan, x[None])[0][0][0]
    beta = layer.beta
    i_in = c.i_bias_a + np.clip(z / beta, c.z_min, c.z_max) * c.i_unit_a
    assert unit_bench(plan, layer, z, c.supply(), DEFAULT) == current_bench(plan, layer, i_in, c.supply(), DEFAULT)
    saved = current_bench(plan, layer, i_in, c.supply(), DEFAULT, save_outputs=True)
    assert all(f"i(vo_{u.name})" in saved for u in layer.units)


def test_staged_gives_the_coupled_netlists_levels_and_outputs():
    """The golden mirror map, one test sequence, 8 steps, the same solver options both ways."""
    plan = load_checked(MAPS / "mirror")
    x = first_test_sequences(MAPS / "mirror", 1)[0][:, :8]
    i_in = array_input_currents(plan, x, plan.chip.supply())
    # stage 1 is the array as characterized: within its measured error of the contract (0.06 I_unit)
    assert np.abs(i_in[0] - ideal_currents(plan, x[0])).max() < 0.1 * plan.chip.i_unit_a
    staged = cosim_network_staged(plan, x, workers=2, readout_zero="reset")
    coupled = cosim_network(plan, x, workers=2, readout_zero="reset")
    np.testing.assert_array_equal(staged.layers[0].k_circuit, coupled.layers[0].k_circuit)
    assert staged.layers[0].level_agreement == 1.0
    for y_staged, y_coupled in [(staged.y_circuit, coupled.y_circuit),  # both readouts, both ways
                                (staged.y_circuit_reference, coupled.y_circuit_reference)]:
        np.testing.assert_allclose(y_staged, y_coupled, atol=2e-3 * np.abs(y_coupled).max())


def test_a_readout_zeroed_at_reset_takes_out_the_branches_offset():
    """The golden mirror map (alpha 1.5-7.0, its readout trimmed for the branches at 1 I_unit), 8 steps at
    tt 27 C: every level the software's, so what is left of the outputs' error is the readout's. Read
    against the ideal reference, each unit's gain error shows at every level as L alpha g; zeroed on the
    unit's own output at reset, only k alpha g is left. Both from one run."""
    plan = load_checked(MAPS / "mirror")
    x = first_test_sequences(MAPS / "mirror", 1)[0][:, :8]
    n = cosim_network_staged(plan, x, workers=2, readout_zero="reset")
    assert n.layers[0].level_agreement == 1.0

    def rms_error(y):
        return float(np.sqrt(np.mean((y - n.y_software) ** 2)))

    assert rms_error(n.y_circuit) < 0.4 * rms_error(n.y_circuit_reference)
    assert rms_error(n.y_circuit) < 0.02 * float(np.sqrt(np.mean(n.y_software ** 2)))
    with pytest.raises(ValueError, match="readout_zero: 'midscale', not one of reference, reset"):
        cosim_network_staged(plan, x, readout_zero="midscale")
    with pytest.raises(ValueError, match="readout_zero: 'reset' reads each unit's own output current"):
        cosim_network(load_checked(MAPS / "twolayer"), first_test_sequences(MAPS / "twolayer", 1)[0][:, :2],
                      readout_zero="reset")  # a unit of layer 2 reads layer 1's readout currents


@pytest.mark.parametrize("text, message", [
    ('job = "network_cosim"\nmap_dirs = ["cmru"]\nmirror_array = "staged"\n', "single-layer maps on a mirror"),
    ('job = "unit_cosim"\nmap_dirs = ["mirror"]\nmirror_array = "staged"\n', "mirror_array: only for the job"),
    ('job = "network_cosim"\nmap_dirs = ["mirror"]\nmirror_array = "apart"\n', "mirror_array"),
    ('job = "network_cosim"\nmap_dirs = ["twolayer"]\nreadout_zero = "reset"\n', "single-layer maps only; "),
    ('job = "network_cosim"\nmap_dirs = ["mirror"]\narray_load = "input_stage"\n', "array_load: loads a mirror"),
    ('job = "unit_cosim"\nmap_dirs = ["mirror"]\narray_load = "input_stage"\n', "array_load: only for the job"),
    ('job = "network_cosim"\nmap_dirs = ["mirror"]\nmirror_array = "staged"\narray_load = "diode"\n', "array_load"),
])
def test_the_staged_key_is_refused_where_it_cannot_apply(tmp_path, text, message):
    for name in ("cmru", "mirror", "twolayer"):
        shutil.copytree(MAPS / name, tmp_path / name)
    (tmp_path / "plan.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_plan(tmp_path / "plan.toml")


def test_a_monte_carlo_array_loads_only_its_bins_and_stays_one_chip():
    """The array bench of a Monte Carlo chip says its chip is drawn over the bins in use: it gets
    the trimmed library (the keyword-spotting array took 11.5 min to expand with every bin), and
    chip k is the same draws on every run, with mismatch the plain corner does not have."""
    import dataclasses

    from codesign.pdk.bins import with_needed_bins
    from codesign.validation.synapses import array_bench

    plan = load_checked(MAPS / "mirror")
    x = first_test_sequences(MAPS / "mirror", 1)[0][:, :3]
    chip3 = dataclasses.replace(plan.chip.supply(), mc_seed=3)
    text = array_bench(plan, x[0], chip3)
    assert "_mm_" in text and "_bins_" in with_needed_bins(text)
    plain = array_input_currents(plan, x, plan.chip.supply())
    first, again = (array_input_currents(plan, x, chip3) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - plain).max() > 1e-3 * plan.chip.i_unit_a


def test_the_arrays_rows_loaded_by_the_comparators_input_stages_carry_the_whole_comparators_currents():
    """At an operating point a comparator draws from its input node only through its input diode:
    the array's stage-1 currents are the same with that diode alone as each row's load (within the
    DC solve's tolerance), which is the default; a transient, where the comparator switches, needs
    the whole comparator."""
    from codesign.validation.synapses import array_bench

    plan = load_checked(MAPS / "mirror")
    x = first_test_sequences(MAPS / "mirror", 1)[0]
    supply = plan.chip.supply()
    whole = array_input_currents(plan, x, supply, load="comparators")
    diode = array_input_currents(plan, x, supply)
    assert np.abs(diode - whole).max() < 1e-3 * plan.chip.i_unit_a
    assert "mru_comparator_input" in array_bench(plan, x[0], supply) and "mru_comparator " not in array_bench(
        plan, x[0], supply)
    with pytest.raises(ValueError, match="a transient needs 'comparators'"):
        array_bench(plan, x[0, :2], supply, t_step_s=1e-4, load="input_stage")
    with pytest.raises(ValueError, match="load: one of comparators, input_stage; got 'diode'"):
        array_bench(plan, x[0], supply, load="diode")


def test_on_the_contracts_currents_the_delivered_levels_are_the_softwares():
    from codesign.mapping.reference import software_states
    from codesign.validation.staged import delivered_levels

    plan = load_checked(MAPS / "mirror")
    x = first_test_sequences(MAPS / "mirror", 2)[0]
    zs, hs = software_states(plan, x)
    layer = plan.layers[0]
    beta = layer.beta
    i_in = plan.chip.i_bias_a + zs[0] / beta * plan.chip.i_unit_a
    alpha = layer.alpha
    k = delivered_levels(plan, i_in)
    np.testing.assert_array_equal(k, np.rint(hs[0] / alpha))
    assert np.any(k != 0)
    # a row whose current sits one unit of beta lower every step takes other levels
    assert np.any(delivered_levels(plan, i_in - plan.chip.i_unit_a) != k)


def test_a_staged_sweep_point_keeps_the_arrays_errors(tmp_path):
    """The point's record holds the stage-1 currents against the contract (units of I_unit)."""
    from codesign.validation.sweep.points import build_tasks, compute

    shutil.copytree(MAPS / "mirror", tmp_path / "map")
    (tmp_path / "plan.toml").write_text('job = "network_cosim"\nmap_dirs = ["map"]\nsequences = 1\n'
                                        'mirror_array = "staged"\n')
    plan = load_plan(tmp_path / "plan.toml")
    record = compute(build_tasks(plan, 600)[0])
    figures = record["figures"]
    assert record["status"] == "done" and figures["mirror_array"] == "staged" and figures["array_load"] == "comparators"
    assert 0 < figures["array"]["rms_error"] < 0.1 and figures["array"]["near_threshold_points"] > 0
    # the levels the golden model takes on the delivered currents, and who each departure is down to
    k = {name: np.array([t[name] for t in figures["traces"]]) for name in ("k_software", "k_circuit", "k_delivered")}
    assert k["k_delivered"].shape == k["k_software"].shape
    assert figures["delivered_level_agreement"] == pytest.approx(np.mean(k["k_delivered"] == k["k_software"]))
    assert figures["units_on_delivered_level_agreement"] == pytest.approx(np.mean(k["k_delivered"] == k["k_circuit"]))
    assert figures["delivered_level_agreement"] > 0.9  # the plain chip's array keeps the software's levels
    coupled = tmp_path / "coupled.toml"
    coupled.write_text('job = "network_cosim"\nmap_dirs = ["map"]\nsequences = 1\n')
    assert build_tasks(load_plan(coupled), 600)[0].key != build_tasks(plan, 600)[0].key


def test_the_arrays_load_is_in_a_staged_points_key_and_the_whole_comparators_by_default(tmp_path):
    """A plan says which load its chips' arrays are solved with (a Monte Carlo chip is another draw
    with fewer devices); without the key its points keep the keys they were stored under."""
    from codesign.validation.sweep.plan import ARRAY_LOADS as PLAN_LOADS
    from codesign.validation.sweep.points import build_tasks
    from codesign.validation.synapses import ARRAY_LOADS

    shutil.copytree(MAPS / "mirror", tmp_path / "map")
    base = 'job = "network_cosim"\nmap_dirs = ["map"]\nsequences = 1\nmirror_array = "staged"\nmirror_trim = "rows"\n'
    keys = {}
    for name, extra in [("default", ""), ("whole", 'array_load = "comparators"\n'),
                        ("diode", 'array_load = "input_stage"\n')]:
        (tmp_path / f"{name}.toml").write_text(base + extra)
        task = build_tasks(load_plan(tmp_path / f"{name}.toml"), 600)[0]
        keys[name] = (task.key, task.trim_key, task.array_load)
    assert keys["default"] == keys["whole"] and keys["default"][2] == "comparators"
    assert keys["diode"][0] != keys["whole"][0] and keys["diode"][1] != keys["whole"][1]
    assert keys["diode"][2] == "input_stage"
    assert PLAN_LOADS == ARRAY_LOADS  # the plan names them without importing the simulator's side
