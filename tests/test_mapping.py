"""Chip spec, fit checks, quantization, netlists and the manifest (no ngspice here)."""

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from codesign.chip import PRESETS, ChipSpec, chip_from_dict, describe, load_chip
from codesign.cli import main as cli_main
from codesign.config import ConfigError
from codesign.manifest import load_manifest
from codesign.mapping.mapper import (
    DoesNotFit,
    build_netlists,
    check_fit,
    plan_network,
    software_outputs,
    software_states,
    task_metric,
    write_map,
)
from codesign.training.recipe import recipe_from_dict
from codesign.training.tasks import make_task
from codesign.training.trainer import build_model, load_run, train

TINY = {
    "name": "tiny",
    "task": {"name": "cue_recall", "params": {"T": 30, "n_classes": 2, "n_train": 64, "n_val": 32, "n_test": 32}},
    "model": {"cell": "cmru", "hidden": 3, "levels": 2},
    "train": {"epochs": 3, "batch_size": 16, "lr": 0.01},
}


def _recipe(**model):
    data = json.loads(json.dumps(TINY))
    data["model"].update(model)
    return recipe_from_dict(data)


def _untrained(**model):
    recipe = _recipe(**model)
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    return recipe, task, build_model(recipe, task)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(_recipe(), out, progress=False)
    return out


# ---------- chip spec ----------

def test_shipped_chip_files_are_their_presets():
    assert load_chip("chips/sky130_subthreshold.toml") == ChipSpec() == load_chip(None)
    for name in PRESETS:
        assert load_chip(f"chips/{name}.toml") == load_chip(name)
        assert load_chip(name).name == name


def test_a_chip_file_is_a_preset_plus_overrides_and_chip_show_round_trips(tmp_path):
    chip = load_chip("chips/example_slow_clock.toml", ["t_gap_s=50e-6"])
    assert chip == ChipSpec(name="sky130_slow_clock", clock_period_s=20e-3, t_compare_s=4e-3, t_gap_s=50e-6)
    shown = tmp_path / "shown.toml"
    shown.write_text(describe(chip))  # the printed spec is itself a chip file
    assert load_chip(shown) == chip
    assert "t_compare_s = 0.004    # s" in describe(chip)


@pytest.mark.parametrize("text,message", [
    ("", "empty chip spec"),
    ('preset = "sky130_nope"\n', "chip.preset: must be one of"),
    ('name = "my chip"\n', "chip.name: must be a name"),
])
def test_chip_files_that_say_nothing_or_nonsense_are_refused(tmp_path, text, message):
    path = tmp_path / "chip.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_chip(path)


def test_chip_overrides_name_the_key():
    with pytest.raises(ConfigError, match="chip.t_compare_s: must be in"):
        load_chip(None, ["t_compare_s=5"])
    with pytest.raises(ConfigError, match="--chip-set"):
        load_chip(None, ["t_compare_s"])
    assert load_chip("sky130_latch", ["t_latch_transfer_s=300e-6"]).t_transfer_s == 300e-6


@pytest.mark.parametrize("data,key", [
    ({"vdd_v": 5.0}, "chip.vdd_v"),
    ({"weight_bits": "six"}, "chip.weight_bits"),
    ({"levles": 2}, "chip.levles: unknown key"),
    ({"eps": 0.5}, "eps = 0.5: no hardware kind implements it"),
    ({"corners": ["tt", "xx"]}, "corners"),
    ({"i_in_min_a": 350e-12}, "i_in_min_a"),
    ({"t_compare_s": 9.6e-3}, "chip: t_compare_s: compare 0.0096 s + transfer 0.00015 s"),
    ({"clock_period_s": 1e-3}, "chip: t_compare_s"),  # the default compare phase needs a longer period
    ({"t_compare_s": 1e-6}, "chip.t_compare_s: must be in"),
])
def test_bad_chip_values_are_refused_naming_the_key(data, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        chip_from_dict(data)


def test_compare_time_must_fit_the_period_with_transfer_gap_and_restore():
    chip = ChipSpec()
    room = chip.clock_period_s - chip.t_transfer_s - 100e-6 - 200e-6 - 1e-6  # gap, restore, edge
    assert ChipSpec(t_compare_s=room - 1e-6).clock().phases(chip.t_transfer_s)[0] == pytest.approx(room - 1e-6)
    with pytest.raises(ValueError, match="t_compare_s"):
        ChipSpec(t_compare_s=room + 1e-6)
    assert ChipSpec(clock_period_s=1e-3, t_compare_s=200e-6).t_compare_s == 200e-6  # 1 kHz with a short compare


def test_latch_preset_is_the_default_on_latch_hardware():
    latch = load_chip("sky130_latch")
    assert latch.hardware == "latch"
    assert dataclasses.replace(latch, name=ChipSpec().name, eps=0.0) == ChipSpec()


def test_chip_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("levels = 0\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: chip\.levels"):
        load_chip(bad)


# ---------- fit ----------

def test_cmru_fits_the_default_chip_and_not_latch_hardware():
    recipe, _, model = _untrained()
    assert check_fit(recipe, model, ChipSpec()) == []
    problems = check_fit(recipe, model, ChipSpec(eps=1.0))
    assert len(problems) == 1
    assert "the chip's latch hardware implements eps = 1 (chip key eps)" in problems[0]
    assert "--chip-set eps=0" in problems[0] and "cmru_to_bmru" in problems[0]


def test_annealed_network_fits_latch_hardware_only():
    recipe, _, model = _untrained(cell="bmru", levels=1)
    assert check_fit(recipe, model, ChipSpec(eps=1.0)) == []
    assert any("integrator hardware" in p for p in check_fit(recipe, model, ChipSpec()))
    recipe, _, model = _untrained()
    model.set_eps(1.0)  # a cmru annealed to eps = 1
    assert check_fit(recipe, model, ChipSpec(eps=1.0)) == []
    model.set_eps(0.4)
    assert any("eps = 0.4" in p and "no hardware kind implements it" in p
               for p in check_fit(recipe, model, ChipSpec(eps=1.0)))


@pytest.mark.parametrize("cell,reason", [("lru", "baseline"), ("mingru", "baseline"),
                                         ("alpha_cmru", "per-step packet DAC")])
def test_unmappable_cells_are_refused_with_a_reason(cell, reason):
    recipe, task, model = _untrained(cell=cell)
    problems = check_fit(recipe, model, ChipSpec())
    assert len(problems) == 1 and reason in problems[0]
    with pytest.raises(DoesNotFit, match=reason):
        plan_network(recipe, task, model, ChipSpec())


def test_levels_capacitor_budget_and_alpha_range_are_checked():
    recipe, _, model = _untrained()
    assert any("model.levels = 2" in p and "levels = 3" in p and "--chip-set levels=2" in p
               for p in check_fit(recipe, model, ChipSpec(levels=3)))
    assert any(p.startswith("c_budget_f") for p in check_fit(recipe, model, ChipSpec(c_budget_f=300e-15)))
    with torch.no_grad():
        model.layers[0].log_alpha[1] = np.log(50.0)  # 5 nA per level
    problems = check_fit(recipe, model, ChipSpec())
    assert len(problems) == 1 and "unit 1" in problems[0] and "i_step" in problems[0]


# ---------- quantization ----------

def test_quantization_error_is_at_most_half_a_step(run_dir):
    recipe, task, model = load_run(run_dir)
    chip = ChipSpec(weight_bits=4)
    plan = plan_network(recipe, task, model, chip)
    w = np.array(plan.layers[0].weight)
    q = plan.quantization["layer0.W"]
    assert q["step"] == pytest.approx(np.abs(model.layers[0].input.weight.detach().numpy()).max() / 7)
    np.testing.assert_allclose(w / q["step"], np.rint(w / q["step"]), atol=1e-5)  # on the grid
    assert len(np.unique(np.abs(np.rint(w / q["step"])))) <= 8  # 4 bits: |code| <= 7
    for name, figures in plan.quantization.items():
        if figures["bits"] is not None:
            assert 0 < figures["max_abs_error"] <= 0.5 * figures["step"] * (1 + 1e-6), name
    assert plan.quantization["layer0.alpha"]["max_abs_error"] == 0  # analog bias currents


def test_network_trained_at_the_chip_resolution_maps_its_weights_exactly(tmp_path):
    data = json.loads(json.dumps(TINY))
    data["noise"] = {"weight_bits": 6}
    recipe = recipe_from_dict(data)
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = build_model(recipe, task)
    with torch.no_grad():
        from codesign.training.noise import quantize_weights
        model.layers[0].input.weight.copy_(quantize_weights(model.layers[0].input.weight, 6))
    plan = plan_network(recipe, task, model, ChipSpec(weight_bits=6))
    assert plan.quantization["layer0.W"]["max_abs_error"] < 1e-7


# ---------- netlists and manifest ----------

def test_manifest_round_trip_rebuilds_identical_netlists(run_dir, tmp_path):
    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, ChipSpec())
    files = write_map(plan, tmp_path, recipe=recipe.to_dict())
    loaded, loaded_files = load_manifest(tmp_path)
    assert loaded == plan and loaded_files == files
    rebuilt = build_netlists(loaded)
    assert sorted(rebuilt) == sorted(["network.spice", *files["units"]])
    for name, text in rebuilt.items():
        assert (tmp_path / name).read_text() == text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # every synapse listed: 3 units x (3 inputs + bias) and 2 outputs x 3 units
    assert len(manifest["plan"]["synapses"]) == 3 * 4 + 2 * 3
    assert manifest["recipe"]["name"] == "tiny"
    # the transfer phase starts after the chip's compare time
    assert f"PULSE(0 1.2 {ChipSpec().t_compare_s:g} " in (tmp_path / "network.spice").read_text()


def test_manifest_without_compare_time_loads_as_built_with_200_us(run_dir, tmp_path):
    recipe, task, model = load_run(run_dir)
    old = plan_network(recipe, task, model, ChipSpec(t_compare_s=200e-6))  # what the fixed clock built
    write_map(old, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["plan"]["chip"]["t_compare_s"]  # written before the key existed
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    loaded, _ = load_manifest(tmp_path)
    assert loaded.chip.t_compare_s == 200e-6 and loaded == old
    for name, text in build_netlists(loaded).items():
        assert (tmp_path / name).read_text() == text


def test_netlists_are_readable_checked_and_have_no_control_blocks(run_dir):
    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, ChipSpec())
    texts = build_netlists(plan)
    net = texts["network.spice"]
    assert net.startswith("* network netlist") and "produced by: codesign map" in net
    for text in texts.values():
        low = text.lower()
        assert ".control" not in low and ".endc" not in low and "shell" not in low and ".include" not in low
    for u in plan.units:
        assert f".subckt mru_unit_{u.name} " in net and f"X{u.name} in_{u.name} " in net
        assert f"Iint_bir vdd int_ir {u.memory.i_step_a:.12g}" in texts[u.file]
    assert net.count("Bsyn_") == 3 and net.count("\nBy") == 2


def test_bad_values_never_reach_a_netlist(run_dir):
    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, ChipSpec())
    layer = plan.layers[0]
    nan_weights = ((float("nan"),) + layer.weight[0][1:],) + layer.weight[1:]
    bad = dataclasses.replace(plan, layers=(dataclasses.replace(layer, weight=nan_weights),))
    with pytest.raises(ValueError, match="not finite"):
        build_netlists(bad)
    with pytest.raises(ValueError, match="netlist comment"):
        build_netlists(dataclasses.replace(plan, source="x\n.control\nshell rm -rf /\n.endc"))
    unit = dataclasses.replace(layer.units[0], name="u 1")
    with pytest.raises(ValueError, match="not an identifier"):
        build_netlists(dataclasses.replace(plan, layers=(dataclasses.replace(layer, units=(unit,) + layer.units[1:]),)))


@pytest.mark.parametrize("pool", ["last", "mean"])
def test_mapped_software_network_keeps_the_trained_accuracy(run_dir, tmp_path, pool):
    if pool != "last":
        train(_recipe(readout_pool=pool), run_dir := tmp_path / "run", progress=False)
    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, ChipSpec(weight_bits=12))
    assert plan.readout.mode == pool
    write_map(plan, tmp_path / "map")
    assert load_manifest(tmp_path / "map")[0] == plan
    _, hs = software_states(plan, task.x_test.double().numpy())
    mapped = task_metric(plan.loss, software_outputs(plan, hs[-1]), task.y_test.numpy())
    with torch.no_grad():
        trained = (model(task.x_test).argmax(-1) == task.y_test).float().mean().item()
    assert abs(mapped - trained) <= 1 / len(task.x_test)


def test_map_command_writes_the_folder_and_refuses_bad_specs(run_dir, tmp_path, capsys):
    out = tmp_path / "map"
    assert cli_main(["map", str(run_dir), "--out", str(out)]) == 0
    assert {"network.spice", "manifest.json", "quantization.md", "map_summary.json"} <= {p.name for p in out.iterdir()}
    assert "| layer0.W | 6 |" in (out / "quantization.md").read_text()
    assert cli_main(["map", str(run_dir), "--chip", "sky130_latch", "--out", str(tmp_path / "m2")]) == 2
    assert "latch hardware implements eps = 1" in capsys.readouterr().err
    assert cli_main(["map", str(run_dir), "--chip-set", "levels=3", "--out", str(tmp_path / "m4")]) == 2
    assert "--chip-set levels=2" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("vdd_v = 9\n")
    assert cli_main(["map", str(run_dir), "--chip", str(bad), "--out", str(tmp_path / "m3")]) == 2
    assert "chip.vdd_v" in capsys.readouterr().err


def test_map_refuses_a_folder_another_command_holds(run_dir, tmp_path, capsys):
    from codesign.fsio import folder_lock

    out = tmp_path / "map"
    with folder_lock(out, "codesign map (the other one)"):
        assert cli_main(["map", str(run_dir), "--out", str(out)]) == 2
    assert "codesign map (the other one)" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()
    assert cli_main(["map", str(run_dir), "--out", str(out)]) == 0  # released: the same command now runs


def test_map_reports_test_steps_inside_the_pvt_decision_window(run_dir, tmp_path, capsys):
    from codesign.mapping.write import PVT_DECISION_WINDOW, near_threshold_mapped, pvt_warning

    out = tmp_path / "map"
    assert cli_main(["map", str(run_dir), "--out", str(out)]) == 0
    summary = json.loads((out / "map_summary.json").read_text())
    near = summary["test_near_threshold_mapped"]
    assert 0.0 <= near["0.01"] <= near[f"{PVT_DECISION_WINDOW:g}"] <= 1.0
    assert ("decision window" in capsys.readouterr().err) == (near[f"{PVT_DECISION_WINDOW:g}"] > 0)
    # the figure counts z against each unit's own beta
    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, ChipSpec())
    beta = plan.layers[0].beta
    z = np.stack([beta * 1.02, beta * 1.2, -beta * 0.97, beta * 0.5])[None]  # [1, 4 steps, d]
    assert near_threshold_mapped(plan, [z]) == {"0.01": 0.0, "0.05": 0.5}
    assert pvt_warning({"test_near_threshold_mapped": {"0.05": 0.0}}) is None
    assert "12.50%" in pvt_warning({"test_near_threshold_mapped": {"0.05": 0.125}})


def test_a_chip_outside_the_characterized_grid_is_warned_of_by_chip_show_and_map(run_dir, tmp_path, capsys):
    from codesign.chip import outside_characterized

    assert all(outside_characterized(load_chip(name)) == [] for name in PRESETS)  # the presets are inside
    assert outside_characterized(ChipSpec(temp_c=85.0, vdd_v=1.32, corners=("tt", "sf"))) == []
    hot = ChipSpec(temp_c=100.0, vdd_v=1.0, corners=("tt", "ss_mm"))
    warnings = outside_characterized(hot)
    assert [w.split(" ")[1] for w in warnings] == ["temp_c", "vdd_v", "corners"]
    assert "temp_c = 100 C lies outside the characterized -40 .. 85 C" in warnings[0]
    shown = tmp_path / "hot.toml"
    shown.write_text(describe(hot))
    assert "# warning: vdd_v = 1 V" in shown.read_text() and load_chip(shown) == hot  # still a chip file
    assert cli_main(["map", str(run_dir), "--chip-set", "temp_c=100", "--out", str(tmp_path / "map")]) == 0
    assert "temp_c = 100 C lies outside" in capsys.readouterr().err
