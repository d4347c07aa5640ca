"""The examples' own files stay valid as the toolkit moves: examples/kws's recipe and chip load
through the same checks as a user's, the chip carries the features' range, and the sweep plan
run.py writes is a valid plan of one network_cosim point per utterance."""

import importlib.util
import shutil
from pathlib import Path

import numpy as np

from codesign.chip import load_chip
from codesign.training.recipe import load_recipe
from codesign.validation.sweep.plan import load_plan

KWS = Path(__file__).resolve().parents[1] / "examples" / "kws"
MIRROR = Path(__file__).parent / "golden" / "maps" / "mirror"


def _run_module(name: str = "run"):
    spec = importlib.util.spec_from_file_location(f"kws_{name}", KWS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_kws_recipe_and_chip_load_and_fit_together():
    recipe = load_recipe(KWS / "recipe.toml")
    assert recipe.task.name == "kws_multi" and recipe.model.hidden <= 16 and recipe.model.layers == 1
    chip = load_chip(KWS / "chip.toml")
    assert chip.synapses == "mirror" and chip.levels == recipe.model.levels
    # the standardized MFCC of the kws_multi clips span about [-7.3, 6.6], their deltas [-4.8, 4.9]
    assert chip.x_min <= -7.3 and chip.x_max >= 6.6


def test_run_writes_plans_of_tt_pvt_and_trimmed_monte_carlo_points(tmp_path):
    shutil.copytree(MIRROR, tmp_path / "map")
    run = _run_module()
    (path,) = run.write_plans(tmp_path, 3)
    plan = load_plan(path)
    assert plan.settings.job == "network_cosim" and plan.settings.mirror_array == "staged"
    assert plan.settings.readout_zero == "reset"  # each unit's readout zeroed on its own output at reset
    assert (plan.settings.mirror_trim, plan.settings.comparator_trim) == ("rows", "test")  # trimmed at test
    assert [(p.corner, p.temp_c, p.sequence, p.mc_seed) for p in plan.points] == [("tt", 27, n, None) for n in range(3)]
    nominal, hot_cold, drawn = (load_plan(p) for p in run.write_plans(tmp_path, 2, chips=3, chip_utterances=2,
                                                                     pvt=True))
    for trimmed in (nominal, hot_cold):  # rows and comparators at the point's temperature
        assert (trimmed.settings.mirror_trim, trimmed.settings.comparator_trim) == ("rows", "test")
        assert trimmed.settings.trim_table == "temperature"
    assert {nominal.settings.readout_zero, hot_cold.settings.readout_zero, drawn.settings.readout_zero} == {"reset"}
    # the arrays' operating points with each row loaded by its comparator's input diode
    assert {nominal.settings.array_load, hot_cold.settings.array_load, drawn.settings.array_load} == {"input_stage"}
    # a Monte Carlo chip: each unit's comparator on its own trip points, at 27 C
    assert (drawn.settings.mirror_trim, drawn.settings.comparator_trim, drawn.settings.trim_table) == \
        ("rows", "units", "none")
    # the chips are screened by the first pass, the worst PVT points solved down the cascade
    assert (drawn.settings.solver, hot_cold.settings.solver, nominal.settings.solver) == \
        ("first_pass", "cascade", "cascade")
    assert all(p.mc_seed is None for p in nominal.points + hot_cold.points) and all(p.mc_seed for p in drawn.points)
    assert [(p.sequence, p.corner) for p in hot_cold.points] == [(0, "sf"), (0, "ff"), (1, "sf"), (1, "ff")]
    full = nominal.points + hot_cold.points + drawn.points
    assert len(full) == 2 + 2 * 2 + 3 * 2
    assert {(p.corner, p.temp_c) for p in full if p.mc_seed is None} == {("tt", 27), *run.PVT_POINTS}
    assert [(p.sequence, p.mc_seed) for p in full if p.mc_seed][:4] == [(0, 1), (0, 2), (0, 3), (1, 1)]
    rows = [{"corner": p.corner, "temp_c": p.temp_c, "sequence": p.sequence, "mc_seed": p.mc_seed,
             "status": "met", "figures": {"y_software": [0, 1], "y_circuit": [0, 1] if p.mc_seed != 3 else [1, 0],
                                          "worst_level_agreement": 0.9}} for p in full]
    tt, pvt, chips = run.split_rows(rows)
    assert len(tt) == 2 and set(pvt) == set(run.PVT_POINTS) and sorted(chips) == [1, 2, 3]
    labels = np.ones(5, int)
    assert run.on_utterances(chips[3], labels)["circuit_accuracy"] == 0.0
    assert run.on_utterances(chips[1], labels)["decisions_identical"] == 1.0
    text = run.robustness_lines({"pvt": [], "monte_carlo": [{"mc_seed": k, **run.on_utterances(r, labels)}
                                                          for k, r in chips.items()]})
    assert "3 chips, 6 utterances; circuit accuracy mean / worst chip | 66.7% / 0.0% |" in text[0]


def test_the_report_splits_the_power_into_simulated_and_estimated(tmp_path):
    budget = {"bias_master_w": 3e-9, "reference_w": 0.24e-9, "ladder_w": 0.12e-9, "rail_regulators_w": 3.84e-9,
              "total_w": 7.2e-9,
              "budget": {"reference_branches": 2, "ladder_current_a": 100e-12, "regulator_quiescent_a": 200e-12}}
    power = {"units_w": 58e-9, "clock_lines_w": 0.44e-9, "synapse_array_w": 43e-9, "simulated_w": 101.44e-9,
             "shared_budget": budget, "total_w": 108.64e-9, "energy_per_inference_j": 110e-9}
    r = {"date": "2026-12-01", "command": "run.py", "software_accuracy_test_set": 0.43,
         "software_accuracy_mapped_test_set": 0.42, "utterances": 1, "failed": 1, "software_accuracy": None,
         "power": power, "targets": [{"name": "whole-network power", "op": "<", "threshold": 1e-6,
                                      "value": power["total_w"], "passed": True}]}
    _run_module().write_report(tmp_path, r, 101)
    text = (tmp_path / "report.md").read_text()
    assert "| whole network (simulated 101.4 nW + estimated) | 108.6 nW |" in text
    assert "rail regulators 3.8 nW | 7.2 nW |" in text and "clock lines" in text
    assert "the reference is 2 branches at I_unit, the ladder 100 pA, each row rail's regulator a 200 pA tail" in text


def _record(sequence: int, y_circuit: list, levels: list, seconds: float, mc_seed=None) -> dict:
    units = [{"level_agreement": a, "wrong_transitions": int(a < 1), "farthest_wrong_transition": -0.02 if a < 1
              else None} for a in levels]
    return {"key": f"k{sequence}-{mc_seed}", "status": "met", "seconds": seconds,
            "axes": {"corner": "tt", "temp_c": 27.0, "sequence": sequence, **({"mc_seed": mc_seed} if mc_seed else {})},
            "figures": {"y_software": [0, 1, 0], "y_circuit": y_circuit, "worst_level_agreement": min(levels),
                        "delivered_level_agreement": 0.9, "units_on_delivered_level_agreement": 0.8, "units": units}}


def test_progress_reads_the_verified_points_of_a_run_and_sums_them_up(tmp_path):
    """A --full run part way: the stored points of its sweeps, a damaged one left out, summed per point."""
    import json

    from codesign.fsio import write_entry

    progress = _run_module("progress")
    records = [_record(0, [0, 1, 0], [1.0, 0.9], 300), _record(1, [1, 0, 0], [0.8, 1.0], 500),
               _record(0, [0, 1, 0], [1.0, 1.0], 400, mc_seed=2), _record(3, [0, 1, 0], [1.0, 1.0], 1)]
    records[0]["figures"]["traces"] = [{"k_software": [0, 1, 1, 1, 0], "k_circuit": [0, 2, 2, 1, 0]}]
    records[1]["figures"]["traces"] = [{"k_software": [0, 1, 1, 1, 0], "k_circuit": [1, 1, 1, 1, -1]},
                                       {"k_software": [0, 0, 0], "k_circuit": [0, 0, 0]}]
    records[1]["figures"]["output_rmse"] = 0.5
    folders = ["sweep", "sweep", "sweep_montecarlo", "sweep"]
    for r, folder in zip(records, folders):
        write_entry(tmp_path / folder / "points" / f"{r['key']}.json", json.dumps(r).encode())
    (tmp_path / "sweep" / "points" / "k3-None.json").write_text("{}")  # not what its hash says: no measurement
    rows = progress.stored_rows(tmp_path)
    assert sorted((r["sequence"], r["mc_seed"] or 0) for r in rows) == [(0, 0), (0, 2), (1, 0)]
    assert (tmp_path / "sweep" / "points" / "k3-None.json").read_text() == "{}"  # a reader deletes nothing
    tt, _, chips = _run_module().split_rows(rows)
    labels = np.array([1, 1, 1, 1])
    text = progress.line("tt 27 C", tt, labels)
    assert text.startswith("| tt 27 C | 2 (0 failed) | 100.0% / 50.0% | 50.0% (differ: 1 (software margin 1.00, "
                           "outputs' RMS error 0.50)) | 92.5% / 90.0% |")
    # departures: frames 1-2 of utterance 0's unit, frame 0 and frame 4 of utterance 1's first unit
    assert text.endswith("| 90.0% / 80.0% | 2 (2.0% of beta) | 3: 1 / 2 frames | 300-500 s (mean 400) |")
    chip = progress.line("chip 2", chips[2], labels)
    assert "| 1 (0 failed) | 100.0% / 100.0% | 100.0% (differ: none) |" in chip and "| none |" in chip
    assert [(r["sequence"], r["mc_seed"]) for r in progress.same_utterances(rows, [{"sequence": 1}])] == [(1, None)]
    # a group read on the first pass says so; the cascade's, the default, says nothing
    chips[2][0]["figures"]["solver"] = "first_pass"
    assert (progress.solver_note(chips[2]), progress.solver_note(tt)) == (" (first pass)", "")
    tt[0]["figures"]["solver"] = "first_pass"
    assert progress.solver_note(tt) == " (cascade, first pass)"


def test_progress_never_pools_the_points_of_two_map_folders():
    """The same network on two arrays (a map and its remap): each map's tt, PVT and chips apart."""
    progress = _run_module("progress")
    rows = [{"corner": "tt", "temp_c": 27.0, "mc_seed": None, "map_dir": "/a/run/map", "sequence": 0},
            {"corner": "tt", "temp_c": 27.0, "mc_seed": None, "map_dir": "/b/run/map_nfet", "sequence": 0},
            {"corner": "ff", "temp_c": 85.0, "mc_seed": None, "map_dir": "/b/run/map_nfet", "sequence": 1},
            {"corner": "tt", "temp_c": 27.0, "mc_seed": 1, "map_dir": "/a/run/map", "sequence": 2},
            {"corner": "tt", "temp_c": 27.0, "mc_seed": 1, "map_dir": "/b/run/map_nfet", "sequence": 3}]
    groups = progress.point_groups(rows)
    assert [(name, [r["sequence"] for r in g]) for name, g in groups] == [
        ("tt 27 C", [0]), ("Monte Carlo chip 1", [2]),
        ("tt 27 C, map_nfet", [0]), ("ff 85 C, map_nfet", [1]), ("Monte Carlo chip 1, map_nfet", [3])]
    # one chip's array solved under the input-stage load is another draw: apart from the whole comparators'
    rows.append({**rows[3], "sequence": 4, "figures": {"array_load": "input_stage"}})
    assert [(name, [r["sequence"] for r in g]) for name, g in progress.point_groups(rows)][1:3] == [
        ("Monte Carlo chip 1, comparators load", [2]), ("Monte Carlo chip 1, input-stage load", [4])]


def test_progress_tells_early_steps_from_missed_ones():
    """A step taken with |z| just inside beta and one not taken with |z| past it: one of each side,
    judged from the circuit's own level before (the later steps follow it, not the software)."""
    progress = _run_module("progress")
    z = np.array([[[0.5], [0.99], [1.2], [0.3], [-1.01]]])  # one utterance, 5 frames, one unit
    record = _record(0, [0, 1, 0], [0.6], 300)
    record["sequence"] = 0
    record["figures"]["traces"] = [{"unit": "u0", "k_software": [0, 0, 1, 1, 0], "k_circuit": [0, 1, 1, 1, 0]}]
    text = progress.wrong_sides([record], z, np.ones(1), np.ones(1), eps=0.0, levels=2)
    assert text == "1 (median 0.9900) / 1 (median 1.2000)"
    record["figures"]["traces"][0]["k_circuit"] = [0, 0, 1, 1, 0]
    assert progress.wrong_sides([record], z, np.ones(1), np.ones(1), eps=0.0, levels=2) == "0 / 0"


def test_progress_draws_the_report_figures_of_the_tt_points(tmp_path):
    """--plots: the confusion matrices, the outputs and the raster of the chosen utterance; an utterance
    not finished is refused (exit 1) rather than drawn from another."""
    progress = _run_module("progress")
    tt = [_record(n, y, [1.0], 300) for n, y in enumerate(([0, 1, 0], [1, 0, 0], [0, 0, 1]))]
    for r in tt:
        r["sequence"] = r["axes"]["sequence"]
        r["figures"]["traces"] = [{"k_software": [0, 1, 1, -1], "k_circuit": [0, 1, r["sequence"], -1]}] * 2
    names, labels = ["yes", "no", "_silence_"], np.array([1, 0, 2])
    assert progress.write_plots(tmp_path / "figures", tt, labels, names, raster=2) == 0
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["confusion.png", "outputs.png",
                                                                         "state_raster.png"]
    assert all(p.stat().st_size > 10_000 for p in (tmp_path / "figures").iterdir())
    assert progress.write_plots(tmp_path / "other", tt, labels, names, raster=7) == 1
    assert not (tmp_path / "other").exists()


def test_run_draws_the_mapped_chip_in_software_and_reports_it(tmp_path):
    """The report's Monte Carlo in software: the golden mirror chip's device sigmas from ngspice
    (Monte Carlo chips 1-2), a few chips drawn on its held-out utterances, the rows it prints."""
    shutil.copytree(MIRROR, tmp_path / "map")
    run = _run_module()
    run.MODEL_CHIPS = 4
    m = run.drawn_in_software(tmp_path / "map", 6)
    assert (m["chips"], m["utterances"]) == (4, 6)
    s = m["sigmas"]
    assert 0.03 < s["unit_pfet_sigma_rel"] < 0.4 and 0 < s["row_nfet_sigma_rel"] < s["unit_pfet_sigma_rel"]
    assert 0 < s["readout_mirror_sigma_rel"] < 0.4 and s["readout_gain_sigma_rel"] == 0
    for k in ("accuracy", "decisions_identical", "level_agreement"):
        mean, low, high = m[k]
        assert 0 <= low <= mean <= high <= 1, (k, m[k])
    assert m["level_agreement"][0] < 1  # the drawn chips leave the software somewhere
    text = "\n".join(run.robustness_lines({"drawn_in_software": m}))
    assert "4 chips drawn x 6 utterances" in text and "unit pfet, row mirror, readout mirror pair" in text
