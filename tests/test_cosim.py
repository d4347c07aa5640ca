"""Co-simulation in ngspice against the golden model: one unit, short sequences."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codesign.chip import ChipSpec
from codesign.manifest import READOUT_MODES, load_manifest
from codesign.mapping.mapper import check_fit, network_netlist, plan_network, software_states, write_map
from codesign.mru import reference
from codesign.training.recipe import recipe_from_dict
from codesign.training.tasks import make_task
from codesign.training.trainer import build_model
from codesign.validation.cosim import (
    DEFAULT,
    TIGHT,
    NetlistEdited,
    _end_times,
    cosim_network,
    cosim_units,
    load_checked,
    network_bench,
    unit_bench,
)
from codesign.validation.ngspice import run
from codesign.validation.report import test_sequences as first_test_sequences
from codesign.validation.stimulus import layer_stimulus

ONE_UNIT = {
    "name": "one-unit",
    "task": {"name": "cue_recall", "params": {"T": 30, "n_classes": 2, "n_train": 8, "n_val": 8, "n_test": 8}},
    "model": {"cell": "cmru", "hidden": 1, "levels": 2},
}
ALPHA, BETA = 0.5, 0.4
# z = x[:, 0]: up to saturation and beyond, holds in the dead zone (incl. 0.7 beta), down through
# all levels to -L and beyond, back up. Every value is at least 30 % of beta away from a threshold.
Z = [0.0, 1.2, 0.28, 1.2, 1.2, 1.2, 0.0, -0.28, -1.2, 0.1, -1.2, -1.2, -1.2, -1.2, -0.6, 0.0, 0.6, 2.5,
     -2.5, 0.0, 0.9, -0.2, 0.9, 0.9, 0.0]


def _one_unit_plan(chip, **model_changes):
    """One unit whose z is input channel 0, with alpha = ALPHA and beta = BETA."""
    data = json.loads(json.dumps(ONE_UNIT))
    data["model"].update(model_changes)
    recipe = recipe_from_dict(data)
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = build_model(recipe, task)
    with torch.no_grad():
        layer = model.layers[0]
        layer.input.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
        layer.input.bias.zero_()
        layer.log_alpha.fill_(np.log(ALPHA))
        layer.log_beta.fill_(np.log(BETA))
    return plan_network(recipe, task, model, chip)


@pytest.fixture(scope="module")
def plan():
    return _one_unit_plan(ChipSpec())


def _inputs():
    x = np.zeros((1, len(Z), 3))
    x[0, :, 0] = Z
    return x


def test_software_side_is_the_golden_model(plan):
    zs, hs = software_states(plan, _inputs())
    np.testing.assert_allclose(zs[0][0, :, 0], Z, atol=1e-12)
    want = reference(np.array(Z)[:, None], ALPHA, BETA, 0.0, 2 * ALPHA)
    np.testing.assert_array_equal(hs[0][0], want)
    assert set(np.rint(want[:, 0] / ALPHA)) == {-2, -1, 0, 1, 2}  # the sequence visits every level


def test_unit_circuit_follows_the_golden_model_step_by_step(plan):
    (c,) = cosim_units(plan, _inputs())
    np.testing.assert_array_equal(c.k_circuit[0, :, 0], c.k_software[0, :, 0])
    (row,) = c.per_unit()
    assert row["level_agreement"] == 1.0 and row["rmse"] == 0.0 and row["first_divergence"] == [None]


@pytest.mark.parametrize("mode", READOUT_MODES)
def test_network_circuit_gives_the_software_outputs_and_decision(plan, mode):
    plan = dataclasses.replace(plan, readout=dataclasses.replace(plan.readout, mode=mode))
    n = cosim_network(plan, _inputs())
    assert n.y_circuit.shape == n.y_software.shape == ((1, len(Z), 2) if mode == "per_step" else (1, 2))
    s = n.summary()
    assert s["decisions_identical"] and s["state_level_agreement"] == [1.0]
    # outputs come from the analog readout current: within 10 % of the largest output
    assert s["output_rmse"] < 0.1 * np.abs(n.y_software).max()


def test_edited_netlists_are_refused(plan, tmp_path):
    write_map(plan, tmp_path)
    assert load_checked(tmp_path) == plan
    unit = tmp_path / plan.units[0].file
    unit.write_text(unit.read_text().replace("Icmp_bh cmp_ih 0 0", "Icmp_bh cmp_ih 0 1e-9"))
    with pytest.raises(NetlistEdited, match="re-run codesign map"):
        load_checked(tmp_path)
    json.loads((tmp_path / "manifest.json").read_text())  # the manifest itself is untouched JSON


def test_latch_unit_follows_the_golden_model_at_eps_1():
    latch_plan = _one_unit_plan(ChipSpec(eps=1.0), cell="bmru", levels=1)
    z = [0.0, 0.0, 1.2, 0.0, 0.2, -1.2, -1.2, 0.0, 1.2, 0.0, -0.2, 0.9]
    x = np.zeros((1, len(z), 3))
    x[0, :, 0] = z
    (c,) = cosim_units(latch_plan, x)
    np.testing.assert_array_equal(c.k_software[0, :, 0], [0, 0, 1, 1, 1, -1, -1, -1, 1, 1, 1, 1])
    np.testing.assert_array_equal(c.k_circuit[0, :, 0], c.k_software[0, :, 0])


def test_two_layers_at_network_level_on_staggered_clocks():
    """Layer 1 (z1 = h0) compares on layer 0's restored state: its clocks run one layer-turn later."""
    data = json.loads(json.dumps(ONE_UNIT))
    data["model"]["layers"] = 2
    recipe = recipe_from_dict(data)
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = build_model(recipe, task)
    with torch.no_grad():
        for layer, w in zip(model.layers, ([[1.0, 0.0, 0.0]], [[1.0]])):
            layer.input.weight.copy_(torch.tensor(w))
            layer.input.bias.zero_()
            layer.log_alpha.fill_(np.log(ALPHA))
            layer.log_beta.fill_(np.log(BETA))  # z1 = h0 in {0, +-0.5, +-1}: 25 % or more from +-beta
    chip = ChipSpec()
    two = plan_network(recipe, task, model, chip)
    net = two.units[1]
    (instance,) = [line for line in network_netlist(two).splitlines() if line.startswith(f"X{net.name} ")]
    assert "phi_t_l1 phi_r_l1" in instance
    z = [0.0, 1.2, 0.0, 1.2, 0.0, -1.2, -1.2, -1.2, 0.0, 1.2, 0.0, 0.0]
    x = np.zeros((1, len(z), 3))
    x[0, :, 0] = z
    n = cosim_network(two, x)
    k0, k1 = (c.k_software[0, :, 0] for c in n.layers)
    assert len(set(k1)) >= 3  # layer 1 moves: it sees layer 0's new state within the same step
    for c in n.layers:
        np.testing.assert_array_equal(c.k_circuit, c.k_software)
    # more layers than the period holds are refused by name
    data["model"]["layers"] = 5
    deep = recipe_from_dict(data)
    problems = check_fit(deep, build_model(deep, task), chip)
    assert any(p.startswith("clock_period_s: 5 layers") for p in problems)


def _validate(plan, tmp_path, monkeypatch, *options):
    """`codesign validate` on a map folder of `plan`, driven by Z (the sequences of the test)."""
    from codesign.cli import main
    from codesign.validation import report

    folder = tmp_path / "map"
    write_map(plan, folder, recipe=recipe_from_dict(ONE_UNIT).to_dict())
    monkeypatch.setattr(report, "test_sequences", lambda map_dir, n: (_inputs(), None))
    code = main(["validate", str(folder), "--sequences", "1", "--level", "unit", "--quiet", "--out",
                 str(tmp_path / "v"), *options])
    return code, json.loads((tmp_path / "v" / "cosim.json").read_text())


def test_validate_exits_0_when_the_targets_are_met(plan, tmp_path, monkeypatch):
    code, result = _validate(plan, tmp_path, monkeypatch)
    assert code == 0 and result["targets_met"]
    assert result["targets"] == [{"name": "worst unit level agreement", "threshold": 0.999, "value": 1.0,
                                  "op": ">=", "passed": True}]


def test_validate_exits_1_when_a_target_is_not_met(tmp_path, monkeypatch, capsys):
    # A miscalibrated chip: the up threshold trimmed 50 pA (half of beta) low, so z = 0.7 beta
    # (steps 2 and 16 of Z) fires in the circuit and not in the software.
    bad = _one_unit_plan(ChipSpec(comparator_up_trim_a=-50e-12))
    code, result = _validate(bad, tmp_path, monkeypatch)
    assert code == 1 and not result["targets_met"]
    (target,) = result["targets"]
    assert not target["passed"] and target["value"] < 0.999
    assert "targets NOT met: worst unit level agreement" in capsys.readouterr().err
    # the threshold is an option: a lower bar passes the same run
    code, _ = _validate(bad, tmp_path, monkeypatch, "--min-level-agreement", str(target["value"]))
    assert code == 0


@pytest.mark.parametrize("loss,y_sw,y_c,identical,agreement", [
    ("ce", [[2.0, 1.0], [0.0, 1.0], [3.0, 0.0]], [[2.0, 1.0], [1.0, 0.0], [3.0, 0.0]], False, 2 / 3),
    ("ce", [[2.0, 1.0], [0.0, 1.0]], [[1.5, 1.0], [0.2, 1.0]], True, 1.0),
    ("bce", [[1.0, -1.0], [1.0, 1.0]], [[1.0, -1.0], [1.0, -0.1]], False, 0.5),  # one bit of one sequence
])
def test_decisions_are_compared_over_every_sequence(loss, y_sw, y_c, identical, agreement):
    from codesign.validation.cosim import NetworkComparison

    s = NetworkComparison(loss, "last", np.array(y_sw), np.array(y_c)).summary()
    assert s["decisions_identical"] is identical and s["decision_agreement"] == pytest.approx(agreement)
    assert s["sequences"] == len(y_sw)


def test_the_level_target_is_judged_on_the_worst_unit_of_every_level():
    from codesign.validation.report import Targets

    result = {"unit_level": [{"level_agreement": 1.0}, {"level_agreement": 0.5}],
              "network_level": {"units": [{"level_agreement": 0.75}], "decision_agreement": 0.9}}
    level, decision = Targets(min_level_agreement=0.6, min_decision_agreement=0.95).judge(result)
    assert (level["value"], level["passed"]) == (0.5, False)
    assert (decision["value"], decision["passed"]) == (0.9, False)
    assert [t["passed"] for t in Targets(0.5, 0.9).judge(result)] == [True, True]


def test_unit_circuit_follows_the_golden_model_at_ss_85_c(plan):
    """Away from tt 27 C with the trims chosen there: every step still on the software's level."""
    (c,) = cosim_units(plan, _inputs(), plan.chip.supply("ss", 85.0))
    np.testing.assert_array_equal(c.k_circuit[0, :, 0], c.k_software[0, :, 0])


def test_unit_circuit_follows_the_golden_model_at_sf_27_c(plan):
    """At sf the level comparator without its common-source stage restored level +1 to +2
    (docs/circuits.md, "Level comparators"): every step must be on the software's level."""
    (c,) = cosim_units(plan, _inputs(), plan.chip.supply("sf", 27.0))
    np.testing.assert_array_equal(c.k_circuit[0, :, 0], c.k_software[0, :, 0])


def test_solver_options_reach_the_bench_and_only_the_solver(plan):
    from codesign.validation.cosim import REFERENCE, TIGHT

    z = np.zeros((3, 1))
    ref, tight, default = (unit_bench(plan, plan.layers[0], z, plan.chip.supply(), o)
                           for o in (REFERENCE, TIGHT, DEFAULT))
    assert ".option reltol" not in ref and ".option bypass" not in ref
    assert tight.replace(".option reltol=0.0001\n", "") == ref  # nothing else changes
    assert default.replace(".option bypass=1\n", "") == ref


def test_a_departure_of_the_fast_pass_is_solved_again_down_to_gear():
    """The measured BMRU map at ss 85 C, unit 0's input 0 -> 1.6 beta -> 0 (the other units at 0):
    under trapezoidal integration its latch leaves +1 when the input falls (at reltol 1e-3 with
    bypass its valid flag drops, a reading the cell cannot make), and again at 1e-4 (TIGHT); only
    that netlist is solved again, and under gear at 1e-5 (FINEST, the verdict) it holds +1 as the
    golden model does."""
    from codesign.mru import reference
    from codesign.validation.cosim import FINEST, TIGHT, SolverOptions, cosim_layer

    plan = load_checked(Path(__file__).parent / "golden" / "maps" / "latch")
    layer = plan.layers[0]
    alpha, beta = layer.alpha, layer.beta
    z = np.zeros((1, 3, len(layer.units)))
    z[0, :, 0] = np.array([0.0, 1.6, 0.0]) * beta[0]
    h = reference(z, alpha, beta, plan.eps, plan.levels * alpha)
    supply = plan.chip.supply("ss", 85.0)
    fast = SolverOptions(one_unit_per_netlist=True, bypass=True)  # the default's first pass
    unit0 = dataclasses.replace(layer, units=layer.units[:1])
    loose = run(unit_bench(plan, unit0, z[0, :, :1], supply, fast), name="loose")
    k_loose = plan.chip.kind.read_levels(plan, loose, unit0.units, _end_times(plan, 3))
    assert k_loose[:, 0].tolist() == [0, 1, 0] and plan.chip.kind.impossible_readings(k_loose)[2, 0]
    checked = cosim_layer(plan, 0, z, h, supply, workers=2, options=dataclasses.replace(fast, recheck=TIGHT))
    assert FINEST.gear and TIGHT.recheck == FINEST
    assert checked.solved_tight == 2 and checked.level_agreement == 1.0  # 1e-4 flipped too: on to gear


def test_a_separable_network_runs_one_netlist_per_unit_with_the_same_outputs():
    """Single layer, behavioural synapses: each unit with its synapse row in its own netlist, the
    readout summed from their output currents, gives the whole netlist's levels and outputs."""
    from codesign.validation.cosim import TIGHT, network_groups

    folder = Path(__file__).parent / "golden" / "maps" / "cmru"
    plan = load_checked(folder)
    assert network_groups(plan, TIGHT) == [(u,) for u in plan.units]
    x = first_test_sequences(folder, 1)[0][:, :6]
    split = cosim_network(plan, x, workers=2, options=TIGHT)
    whole = cosim_network(plan, x, workers=2, options=dataclasses.replace(TIGHT, one_unit_per_netlist=False))
    np.testing.assert_array_equal(split.layers[0].k_circuit, whole.layers[0].k_circuit)
    # outputs are subthreshold readout currents: reltol 1e-4 on a ~1 V gate is ~0.1 mV, ~0.3 % of a current
    np.testing.assert_allclose(split.y_circuit, whole.y_circuit, atol=1e-2 * np.abs(whole.y_circuit).max())
    assert split.summary()["decisions_identical"] == whole.summary()["decisions_identical"]
    other = load_checked(Path(__file__).parent / "golden" / "maps" / "twolayer")  # layer 1 reads layer 0's units
    assert network_groups(other, TIGHT) == [None]
    with pytest.raises(ValueError, match="separable"):
        network_netlist(other, units=other.units[:1])


@pytest.mark.parametrize("chip, model", [(ChipSpec(), {}), (ChipSpec(eps=1.0), {"cell": "bmru", "levels": 1})],
                         ids=["integrator", "latch"])
def test_a_step_a_hair_from_a_threshold_moves_a_whole_level_or_none(chip, model):
    """From each extreme level, z = +-beta (1 +- 0.5 %): the level after the step is one of the
    two legal ones (held, or where the contract's firing takes it), and the state sits on a
    level, not between; every step far from a threshold follows the contract from the level the
    circuit was at (a hair's decision may differ from the software's, the step after may not)."""
    plan = _one_unit_plan(chip, **model)
    margin = 0.005
    z, _ = layer_stimulus(plan, 0, "threshold", 1, 4 * plan.levels + 12, margin, seed=3)
    (u,) = plan.units
    decision = [f"x{u.name}.up", f"x{u.name}.dn"]  # what the memory cell sees during the transfer phase
    # at ngspice's reltol 1e-3 the latch's valid flag cleared itself at a hair's step (read 0, a
    # state the unit cannot return to): solved at the cascade's first tight setting
    bench = unit_bench(plan, plan.layers[0], z[0], plan.chip.supply(), TIGHT)
    res = run(bench.replace(".save ", f".save v({decision[0]}) v({decision[1]}) "), name="threshold_steps")
    k = plan.chip.kind.read_levels(plan, res, plan.units, _end_times(plan, z.shape[1]))[:, 0]
    c = np.sign(z[0, :, 0]) * (np.abs(z[0, :, 0]) > u.beta)  # the contract's decision
    near = np.abs(np.abs(z[0, :, 0] / u.beta) - 1) <= margin + 1e-9
    assert near.sum() >= 8 and (~near).sum() >= 6
    for t in range(1, len(k)):
        fired = int(np.sign(z[0, t, 0]))
        step = (lambda kp, cc: kp if cc == 0 else cc) if plan.eps == 1 else (
            lambda kp, cc: int(np.clip(kp + cc, -plan.levels, plan.levels)))
        legal = {step(k[t - 1], fired), k[t - 1]} if near[t] else {step(k[t - 1], c[t])}
        assert k[t] in legal, f"step {t}: z/beta = {z[0, t, 0] / u.beta:+.4f} took level {k[t - 1]} to {k[t]}"
    t_t, _ = plan.chip.clock().phases(plan.chip.t_transfer_s)
    mid_transfer = np.arange(len(k)) * plan.chip.clock_period_s + t_t + plan.chip.t_transfer_s / 2
    for node in decision:  # a full logic level, never a partial one (the decision latch)
        v = np.interp(mid_transfer, res["time"], res.v(node))
        rail = np.minimum(v, plan.chip.vdd_v - v)
        assert rail.max() < 0.05 * plan.chip.vdd_v, f"{node} at {v[rail.argmax()]:.3f} V in transfer {rail.argmax()}"
    if plan.chip.hardware == "integrator":  # the hold capacitor sits on a level at every step end
        vc = np.interp(_end_times(plan, z.shape[1]), res["time"], res.v(f"vc_{u.name}"))
        off = (vc - u.memory.level_v(0)) / u.memory.dv_level_v - k
        assert np.abs(off).max() < 0.1, f"capacitor {np.abs(off).max():.2f} of a level away from its level"


def test_benches_run_at_the_supply_asked_for(plan):
    """The supply axis reaches the netlist: the rail and the clocks' swing, in both benches."""
    x = _inputs()[:, :5]
    low = dataclasses.replace(plan.chip.supply(), vdd_v=1.08)
    zs, _ = software_states(plan, x)
    for text in (unit_bench(plan, plan.layers[0], zs[0][0], low), network_bench(plan, x[0], low)):
        assert "\nVdd vdd 0 1.08\n" in text and "\nVdd vdd 0 1.2\n" not in text
        assert all(" PULSE(0 1.08 " in line for line in text.splitlines() if line.startswith("Vphi"))
    assert "\nVdd vdd 0 1.2\n" in network_bench(plan, x[0], plan.chip.supply())


@pytest.mark.parametrize("unit, sequence, steps, corner, temp_c, vdd_v", [(0, 0, 3, "ff", 85, 1.2),
                                                                       (1, 1, 12, "tt", 27, 1.08)])
def test_the_latch_unit_keeps_its_state_over_the_clock_edges(unit, sequence, steps, corner, temp_c, vdd_v):
    """The tight solver settings (what a departure is solved again with) on the measured BMRU
    map where looser ones failed: unit 0 at ff 85 C fires up at step 0 and must read +1 after
    it (under reltol 1e-2 its SR latch flipped on the falling edge of phi_t and read -1 for all
    100 steps); unit 1 at tt 27 C, 1.08 V, never fires in these steps (z / beta 0.74-0.80) and
    must stay at 0 (under 1e-3 its valid latch set itself on a falling edge at step 4)."""
    folder = Path(__file__).parent / "golden" / "maps" / "latch"
    plan, _ = load_manifest(folder)
    u = plan.layers[0].units[unit]
    x, _ = first_test_sequences(folder, sequence + 1)
    zs, hs = software_states(plan, x)
    layer = dataclasses.replace(plan.layers[0], units=(u,))
    supply = dataclasses.replace(plan.chip.supply(corner, temp_c), vdd_v=vdd_v)
    res = run(unit_bench(plan, layer, zs[0][sequence, :steps], supply, TIGHT), name="latch_edges")
    k = plan.chip.kind.read_levels(plan, res, [u], _end_times(plan, steps))[:, 0]
    np.testing.assert_array_equal(k, np.rint(hs[0][sequence, :steps, unit] / u.alpha))


def test_a_flip_the_solver_makes_is_not_taken_for_the_circuit():
    """The measured BMRU map, network level, unit 0 at tt -40 C (sequence 6): under reltol 1e-4
    with device bypass (a setting the cascade never uses) its valid latch clears itself at step 1
    and the unit reads 0 from then on (with the latch cell before q had its reset, its data latch
    flipped there instead, and one at sf 85 C, sequence 0, flipped under 1e-4 without bypass; that
    one no longer does). The default cascade gives the software's levels on every step."""
    from codesign.validation.cosim import TIGHT

    folder = Path(__file__).parent / "golden" / "maps" / "latch"
    plan = load_checked(folder)
    x = first_test_sequences(folder, 7)[0][6:7, :4]
    supply = plan.chip.supply("tt", -40.0)
    u = plan.units[0]
    flipping = dataclasses.replace(TIGHT, bypass=True, recheck=None)
    res = run(network_bench(plan, x[0], supply, flipping, (u,)), name="latch_flip")
    assert list(plan.chip.kind.read_levels(plan, res, [u], _end_times(plan, 4))[:, 0]) == [-1, 0, 0, 0]
    n = cosim_network(plan, x, supply, workers=2)
    assert n.layers[0].level_agreement == 1.0 and n.summary()["decisions_identical"]


def test_transitions_are_judged_from_the_circuits_own_level():
    """A hair's decision taken the other way puts an integrating unit one level off for good: the
    level agreement drops for every later step, the transition agreement only for that step."""
    from codesign.validation.cosim import Comparison

    z = np.array([1.2, 1.005, 0.0, 1.2, 0.0])[None, :, None]  # beta = 1
    ks = np.array([1, 2, 2, 2, 2])[None, :, None]
    kc = np.array([1, 1, 1, 2, 2])[None, :, None]  # did not fire at z = 1.005, followed the contract after
    c = Comparison("layer0", ("u0",), np.array([1.0]), np.array([1.0]), z, ks, kc, eps=0.0, levels=2)
    (row,) = c.per_unit()
    assert row["level_agreement"] == 0.6 and row["transition_agreement"] == 0.8
    assert row["wrong_transitions"] == 1 and row["farthest_wrong_transition"] == pytest.approx(0.005)
    latch = dataclasses.replace(c, eps=1.0, levels=1, k_software=np.array([1, 1, 1, 1, 1])[None, :, None],
                                k_circuit=np.array([1, -1, -1, 1, 1])[None, :, None])
    (row,) = latch.per_unit()  # step 1 went to -1 on z = +1.005: wrong; step 2 held it: right
    assert row["transition_agreement"] == 0.8 and row["farthest_wrong_transition"] == pytest.approx(0.005)



def test_a_departure_first_made_at_a_threshold_stands_and_one_far_from_it_is_solved_again():
    """The cascade re-solves a netlist only when some unit first leaves its expected levels on a
    step whose input lay farther than decided_within (a fraction of beta) from a threshold."""
    from codesign.mru import threshold_distance
    from codesign.validation.cosim import DEFAULT, TIGHT, _needs_recheck

    z_beta = np.array([[0.2, 1.5], [0.995, -1.2], [0.0, 0.0], [-1.3, 0.4]])  # [T, d], two units
    dist = threshold_distance(z_beta)
    np.testing.assert_allclose(dist, [[0.8, 0.5], [0.005, 0.2], [1.0, 1.0], [0.3, 0.6]])
    want = np.array([[0, 1], [0, 0], [0, 0], [-1, -1]])
    at_threshold = want.copy()
    at_threshold[1:3, 0] = 1  # unit 0 fired at 0.995 beta, one level up until the next trip
    far = want.copy()
    far[2, 1] = 1  # unit 1 jumped with no input at all
    assert DEFAULT.decided_within == TIGHT.decided_within == 0.01
    assert not _needs_recheck([at_threshold], [want], [z_beta], 0.01)
    assert _needs_recheck([at_threshold], [want], [z_beta], 0.001)  # tighter than the step's 0.5 %
    assert _needs_recheck([at_threshold], [want], None, 0.01)  # no distances: every departure
    assert _needs_recheck([far], [want], [z_beta], 0.01)
    both = at_threshold.copy()
    both[2, 1] = 1
    assert _needs_recheck([both], [want], [z_beta], 0.01)  # one far departure is enough
    assert not _needs_recheck([want], [want], [z_beta], 0.01)


def test_the_latch_kind_names_the_readings_its_cell_cannot_make():
    """Only the power-on reset clears a latch unit's valid flag: h = 0 after h != 0 is numerical.
    The integrator's levels can follow any path."""
    from codesign.hardware.kinds import kind_for_eps

    k = np.array([[0, 0], [0, 1], [1, 0], [0, -1], [-1, -1]])  # [T, d]
    np.testing.assert_array_equal(kind_for_eps(1.0).impossible_readings(k),
                                  [[0, 0], [0, 0], [0, 1], [1, 0], [0, 0]])
    assert not kind_for_eps(0.0).impossible_readings(k).any() and kind_for_eps(0.0).reading_rule is None


def test_with_its_inputs_the_latch_kind_holds_inside_the_thresholds_and_fires_beyond_them():
    """A latch changes only on a firing step (|z| > beta), to the sign of z. Readings against
    that on a step clear of the thresholds (25 % of beta inside or beyond) are numerical; within
    that margin the comparator's offset may decide either way."""
    from codesign.hardware.kinds import kind_for_eps

    latch = kind_for_eps(1.0)
    z_beta = np.array([[2.0], [0.3], [0.5], [-1.1], [-0.9], [-2.0], [0.05]])
    k = np.array([[1], [1], [-1], [-1], [1], [1], [1]])
    # step 2 flips with z 0.5 beta (no firing); step 5 holds +1 with z at -2 beta (a firing);
    # step 3 (-1.1) and step 4 (-0.9, a flip) lie within the margin of the threshold; step 6
    # holds what step 5 read
    np.testing.assert_array_equal(latch.impossible_readings(k, z_beta)[:, 0], [0, 0, 1, 0, 0, 1, 0])
    golden = np.rint(reference(z_beta, 1.0, 1.0, 1.0, 1.0)).astype(int)  # the BMRU on these inputs
    assert golden[:, 0].tolist() == [1, 1, 1, -1, -1, -1, -1] and not latch.impossible_readings(golden, z_beta).any()


def test_a_latch_reading_its_cell_cannot_make_is_solved_again():
    """Unit 9 of the annealed keyword-spotting BMRU (results/kws_bmru), alone on the first 30 steps
    of the currents its row delivered at utterance 0, comparator trimmed as at that point. Under
    FINEST (reltol 1e-5, gear) its valid flag drops at step 28 with nothing switching; the cascade
    from FINEST sees a reading the cell cannot make and takes RESOLVE's run (trtol 1), which holds
    it, as the first pass does."""
    from codesign.validation.comparator_trim import ComparatorTrim
    from codesign.validation.cosim import FINEST, RESOLVE, current_bench, solve_cascade, step_end_levels

    case = json.loads((Path(__file__).parent / "golden" / "latch_flag_drop.json").read_text())
    plan, _ = load_manifest(Path(__file__).parents[1] / "results" / "kws_bmru" / "map")
    plan = ComparatorTrim.from_summary(case["comparator_trims"]).apply(plan)
    layer = plan.layers[0]
    (unit,) = [u for u in layer.units if u.name == case["unit"]]
    i_in = np.array(case["i_in_a"])[:, None]
    steps, solo = len(i_in), dataclasses.replace(layer, units=(unit,))
    bench = lambda o: current_bench(plan, solo, i_in, plan.chip.supply(), o)  # noqa: E731

    def levels_of(_, r):
        return [step_end_levels(plan, r, [unit], steps)]

    (finest,) = levels_of(0, run(bench(FINEST), name="flag_finest"))
    assert finest[27:, 0].tolist() == [1, 0, 0]  # set at step 27, then read unset
    _, (held,), again = solve_cascade([bench], levels_of, lambda i: [finest], "flag", FINEST, 1, 600, None,
                                      kind=plan.chip.kind)
    assert again == 1 and RESOLVE.trtol == 1.0 and ".option reltol=1e-05 method=gear trtol=1" in bench(RESOLVE)
    assert held[0][27:, 0].tolist() == [1, 1, 1] and not plan.chip.kind.impossible_readings(held[0]).any()


def test_a_latch_flipped_far_inside_its_thresholds_is_solved_again():
    """Unit 7 of the annealed keyword-spotting BMRU (results/kws_bmru), alone on the first 16 steps
    of the currents its row delivered at utterance 6, comparator trimmed as at that point.
    FINEST flips it from -1 to +1 at step 12 with z at 0.34 beta (no firing); given the inputs,
    the cascade from FINEST takes RESOLVE's run, which holds -1 as the golden model does."""
    from codesign.validation.comparator_trim import ComparatorTrim
    from codesign.validation.cosim import FINEST, current_bench, solve_cascade, step_end_levels
    from codesign.validation.staged import delivered_levels, delivered_z_beta

    case = json.loads((Path(__file__).parent / "golden" / "latch_flip.json").read_text())
    plan, _ = load_manifest(Path(__file__).parents[1] / "results" / "kws_bmru" / "map")
    plan = ComparatorTrim.from_summary(case["comparator_trims"]).apply(plan)
    layer = plan.layers[0]
    (unit,) = [u for u in layer.units if u.name == case["unit"]]
    i_in = np.array(case["i_in_a"])[:, None]
    steps, solo = len(i_in), dataclasses.replace(layer, units=(unit,))
    one_unit = dataclasses.replace(plan, layers=(solo,))
    z_beta, golden = delivered_z_beta(one_unit, i_in), delivered_levels(one_unit, i_in[None])[0]
    bench = lambda o: current_bench(plan, solo, i_in, plan.chip.supply(), o)  # noqa: E731

    def levels_of(_, r):
        return [step_end_levels(plan, r, [unit], steps)]

    (finest,) = levels_of(0, run(bench(FINEST), name="flip_finest"))
    assert abs(z_beta[12, 0] - 0.34) < 0.01 and golden[11:13, 0].tolist() == [-1, -1]
    assert finest[11:13, 0].tolist() == [-1, 1] and plan.chip.kind.impossible_readings(finest, z_beta)[12, 0]
    _, (held,), again = solve_cascade([bench], levels_of, lambda i: [finest], "flip", FINEST, 1, 600, None,
                                      lambda i: [z_beta], kind=plan.chip.kind)
    assert again == 1 and held[0][:, 0].tolist() == golden[:, 0].tolist()


def test_a_solver_field_added_since_leaves_the_keys_of_stored_points():
    """Sweep points are keyed on the options' text: trtol appears only when set."""
    from codesign.hardware.kinds import kind_for_eps
    from codesign.validation.cosim import FINEST, RESOLVE, solver_key

    assert repr(FINEST) == ("SolverOptions(reltol=1e-05, one_unit_per_netlist=True, bypass=False, gear=True, "
                            "recheck=None, decided_within=0.0)")
    assert repr(RESOLVE) == repr(FINEST)[:-1] + ", trtol=1.0)"
    assert solver_key(DEFAULT, kind_for_eps(0.0)) == repr(DEFAULT)
    rule = "valid-flag-stays-set-1; follows-clear-inputs-0.25"  # a changed rule keys the latch's points anew
    assert solver_key(DEFAULT, kind_for_eps(1.0)).endswith(f"{rule}: {RESOLVE!r}")
