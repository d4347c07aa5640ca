"""Per-chip row trims of the mirror synapse array (codesign.validation.array_trim): the netlist
carries them, the fit recovers a row's offset and gain on the DACs' grid, and on a real Monte
Carlo chip the trimmed array is closer to its contract than the untrimmed one."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from codesign.mapping.synapses import RowTrims, mirror_array, mirror_netlist
from codesign.validation.array_trim import TrimDac, calibration_inputs, fit_row_trims, synapse_share, trim_array
from codesign.validation.cosim import load_checked
from codesign.validation.report import training_inputs
from codesign.validation.synapses import ideal_currents

MIRROR = Path(__file__).parent / "golden" / "maps" / "mirror"


def _lines(plan, trims=None):
    layer = plan.layers[0]
    return mirror_netlist(mirror_array(plan, layer), [u.name for u in layer.units],
                          [f"v(x{j})" for j in range(layer.n_in)], vdd_v=1.8, trims=trims)


def _value(lines, prefix):
    return float(next(ln for ln in lines if ln.startswith(prefix)).split()[-1])


def test_the_netlist_carries_a_rows_trims_and_none_leaves_it_as_mapped():
    plan = load_checked(MIRROR)
    names = [u.name for u in plan.layers[0].units]
    d = len(names)
    assert _lines(plan) == _lines(plan, RowTrims.none(d))
    scales = tuple(1.0 + 0.01 * (i + 1) for i in range(d))
    offsets = tuple(1e-12 * (i + 1) for i in range(d))
    trimmed = _lines(plan, RowTrims(scales, offsets))
    for i, n in enumerate(names):
        assert _value(trimmed, f"Isyn_rr_{n} ") == pytest.approx(_value(_lines(plan), f"Isyn_rr_{n} ") * scales[i])
    p = mirror_array(plan, plan.layers[0])
    n0 = names[0]
    fixed = p.i_fixed_a[0] + offsets[0]
    line = next(ln for ln in trimmed if ln.startswith(f"Isyn_b_{n0} "))
    assert float(line.split()[-1]) == pytest.approx(abs(fixed))
    assert line.split()[1:3] == (["vdd", f"in_{n0}"] if fixed >= 0 else [f"in_{n0}", "0"])


@pytest.mark.parametrize("scales, offsets, message", [
    ((1.0,), (0.0, 0.0), "gains for"), ((0.0,), (0.0,), "positive"), ((1.0,), (float("nan"),), "finite")])
def test_row_trims_are_checked(scales, offsets, message):
    with pytest.raises(ValueError, match=message):
        RowTrims(scales, offsets)


def test_the_fit_recovers_each_rows_offset_and_gain_on_the_dacs_grid():
    plan = load_checked(MIRROR)
    c = plan.chip
    x = calibration_inputs(training_inputs(MIRROR, 50))
    d = len(plan.layers[0].units)
    offset = np.linspace(-0.3, 0.3, d)  # I_unit
    gain = np.linspace(-0.08, 0.12, d)  # the rows' synapses carry (1 + gain) x the contract
    measured = ideal_currents(plan, x) + (offset + gain * synapse_share(plan, x)) * c.i_unit_a
    dac = TrimDac()
    trims = fit_row_trims(plan, x, measured, RowTrims.none(d), dac)
    np.testing.assert_allclose(trims.ref_scale, 1 / (1 + gain), atol=dac.gain_step / 2 + 1e-12)
    np.testing.assert_allclose(np.array(trims.offset_a) / c.i_unit_a, -offset, atol=dac.offset_step_i_unit / 2 + 1e-12)
    # on the grid, and the range clips: a DAC of 3 bits reaches +-3 steps
    small = TrimDac(offset_step_i_unit=0.01, gain_step=0.01, bits=3)
    clipped = fit_row_trims(plan, x, measured, RowTrims.none(d), small)
    assert np.abs(np.array(clipped.offset_a) / c.i_unit_a).max() == pytest.approx(0.03)
    steps = (np.array(clipped.ref_scale) - 1) / 0.01
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-9)
    assert np.abs(steps).max() == pytest.approx(3)


def test_a_monte_carlo_chip_trimmed_at_test_is_closer_to_its_contract():
    """ngspice, the golden mirror array on Monte Carlo chip 1: two rounds, three DC sweeps."""
    plan = load_checked(MIRROR)
    x = calibration_inputs(training_inputs(MIRROR, 50))
    chip = dataclasses.replace(plan.chip.supply(), mc_seed=1)
    result = trim_array(plan, x, chip, rounds=2)
    before, *_, after = result.rms_error_i_unit
    assert len(result.rms_error_i_unit) == 3
    assert after < 0.5 * before, result.rms_error_i_unit
    assert any(s != 1.0 for s in result.trims.ref_scale) and any(o != 0.0 for o in result.trims.offset_a)


@pytest.mark.parametrize("text, message", [
    ('job = "network_cosim"\nmap_dirs = ["map"]\nmirror_trim = "rows"\n', "set mirror_array = 'staged'"),
    ('job = "unit_cosim"\nmap_dirs = ["map"]\nmirror_trim = "rows"\n', "mirror_trim: only for the job"),
    ('job = "network_cosim"\nmap_dirs = ["map"]\nmirror_array = "staged"\nmirror_trim = "all"\n', "mirror_trim"),
    ('job = "network_cosim"\nmap_dirs = ["map"]\ntrim_table = "temperature"\n', "trim_table: nothing is trimmed"),
    ('job = "unit_cosim"\nmap_dirs = ["map"]\ncomparator_trim = "test"\n', "comparator_trim: only for the job"),
    ('job = "network_cosim"\nmap_dirs = ["map"]\ncomparator_trim = "tt"\n', "comparator_trim"),
    ('job = "network_cosim"\nmap_dirs = ["map"]\ncomparator_trim = "units"\n', "comparator_trim: 'units'.*staged"),
    ('job = "network_cosim"\nmap_dirs = ["map"]\ncomparator_trim = "test"\ntrim_table = "supply"\n', "trim_table"),
])
def test_trim_keys_are_refused_where_they_cannot_apply(tmp_path, text, message):
    from codesign.config import ConfigError
    from codesign.validation.sweep.plan import load_plan

    shutil.copytree(MIRROR, tmp_path / "map")
    (tmp_path / "plan.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_plan(tmp_path / "plan.toml")


def test_a_trimmed_monte_carlo_point_records_its_trims_and_is_its_own_point(tmp_path):
    """ngspice: the golden mirror map's Monte Carlo chip 1, staged, trimmed at test, one test sequence."""
    from codesign.validation.sweep.plan import load_plan
    from codesign.validation.sweep.points import build_tasks, compute, trim_chip

    shutil.copytree(MIRROR, tmp_path / "map")
    head = 'job = "network_cosim"\nmirror_array = "staged"\npoints = [{ map_dir = "map", sequence = 0, mc_seed = 1 }]\n'
    (tmp_path / "trimmed.toml").write_text(head + 'mirror_trim = "rows"\n')
    (tmp_path / "as_drawn.toml").write_text(head)
    trimmed, as_drawn = (build_tasks(load_plan(tmp_path / f"{n}.toml"), 600)[0] for n in ("trimmed", "as_drawn"))
    assert trimmed.key != as_drawn.key and as_drawn.trim_key is None
    trims = trim_chip(trimmed)  # as a sweep does: the chip trimmed once, its points handed the trims
    record = compute(trimmed, trims)
    figures = record["figures"]
    assert record["status"] == "done" and figures["mirror_trim"] == "rows"
    assert figures["trims"] == trims["trims"] and figures["trim_key"] == trimmed.trim_key
    rms = figures["trims"]["calibration_rms_error_i_unit"]
    assert len(rms) == 3 and rms[-1] < 0.5 * rms[0]
    assert len(figures["trims"]["ref_scale"]) == len(figures["units"])
    # the array as co-simulated is the trimmed one: near its contract on the test sequence too
    assert figures["array"]["rms_error"] < rms[0]


def test_every_point_of_one_chip_shares_its_trims_and_a_failed_trim_fails_its_points(tmp_path):
    """A chip is its corner and Monte Carlo draw, trimmed at 27 C: its points at other temperatures,
    supplies and sequences share one trim key; another draw or corner has its own. A trim that
    failed is each of its points' failure, with the reason, and nothing is simulated."""
    from codesign.validation.sweep.plan import load_plan
    from codesign.validation.sweep.points import build_tasks, compute

    shutil.copytree(MIRROR, tmp_path / "map")
    rows = [("tt", 27, 0, 0, 1), ("tt", 85, 0.1, 1, 1), ("tt", -40, 0, 0, None), ("ss", 27, 0, 0, 1),
            ("tt", 27, 0, 0, 2)]  # corner, temp_c, supply, sequence, mc_seed
    points = ", ".join(f'{{ map_dir = "map", corner = "{c}", temp_c = {t}, supply = {v}, sequence = {n}'
                       + (f", mc_seed = {k} }}" if k else " }") for c, t, v, n, k in rows)
    (tmp_path / "plan.toml").write_text(f'job = "network_cosim"\nmirror_array = "staged"\nmirror_trim = "rows"\n'
                                        f"points = [{points}]\n")
    keys = [t.trim_key for t in build_tasks(load_plan(tmp_path / "plan.toml"), 600)]
    assert keys[0] == keys[1] and len(set(keys)) == 4 and None not in keys
    task = build_tasks(load_plan(tmp_path / "plan.toml"), 600)[0]
    record = compute(task, {"error": "NgspiceError", "reason": "trimming the chip at test: timed out"})
    assert record["status"] == "failed" and record["reason"] == "trimming the chip at test: timed out"
    assert record["key"] == task.key and "figures" not in record


def test_a_sweep_started_again_takes_a_chips_trims_from_its_stored_points():
    from codesign.validation.sweep.engine import _known_trims

    trims = {"ref_scale": [1.01], "offset_a": [-2e-12], "calibration_rms_error_i_unit": [0.2, 0.01, 0.01]}
    stored = {"a": {"status": "done", "figures": {"mirror_trim": "rows", "trim_key": "k1", "trims": trims}},
              "b": None, "c": {"status": "failed", "reason": "timed out"},
              "d": {"status": "done", "figures": {"mirror_array": "staged"}}}  # a chip as drawn
    assert _known_trims(stored) == {"k1": {"trims": trims}}
    comparators = {"up_trim_a": 1e-12, "dn_trim_a": 2e-12, "trips_before_in_beta": [0.05, 0.04],
                   "trips_after_in_beta": [0.0, 0.001]}
    stored["e"] = {"status": "done", "figures": {"trim_key": "k2", "comparator_trims": comparators}}
    assert _known_trims(stored) == {"k1": {"trims": trims}, "k2": {"comparator_trims": comparators}}


def test_a_sweep_trims_each_chip_once_and_hands_its_points_the_trims(tmp_path, monkeypatch):
    """The engine alone (an in-process cluster, trimming and co-simulation stubbed): one trim per
    chip however many points it has, each point run with its own chip's trims, and a sweep started
    again with a new point of a trimmed chip takes that chip's trims from the stored points, or,
    with no point stored, from the trims the out folder kept."""
    from distributed import LocalCluster

    from codesign.validation.sweep import engine, points
    from codesign.validation.sweep.plan import load_plan

    shutil.copytree(MIRROR, tmp_path / "map")
    d = len(load_checked(MIRROR).layers[0].units)
    trimmed = []

    def trim(task):
        trimmed.append(task.point.mc_seed)
        return {"trims": {"ref_scale": [1.0] * d, "offset_a": [0.0] * d,
                          "calibration_rms_error_i_unit": [float(task.point.mc_seed)]}}

    def cosim(task, supply):
        seen = task.trims["trims"]["calibration_rms_error_i_unit"]
        return {**task.trims, "trim_key": task.trim_key, "chip_seen": seen}

    monkeypatch.setattr(points, "_trim", trim)
    monkeypatch.setitem(points.JOB_FUNCTIONS, "network_cosim", cosim)
    head = 'job = "network_cosim"\nmirror_array = "staged"\nmirror_trim = "rows"\npoints = ['
    chips = [(0, 27, 1), (1, 85, 1), (0, 27, 2), (1, -40, 2)]  # sequence, temp_c, mc_seed

    def sweep(listed):
        text = head + ", ".join(f'{{ map_dir = "map", sequence = {n}, temp_c = {t}, mc_seed = {k} }}'
                                for n, t, k in listed)
        (tmp_path / "plan.toml").write_text(text + "]\n")
        tasks = points.build_tasks(load_plan(tmp_path / "plan.toml"), 60)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as c:
            return engine.run_sweep(tasks, tmp_path / "out", scheduler=c.scheduler_address, quiet=True)

    outcome = sweep(chips)
    assert sorted(trimmed) == [1, 2]
    assert [r["figures"]["chip_seen"] for r in outcome.records] == [[1.0], [1.0], [2.0], [2.0]]
    outcome = sweep(chips + [(2, 27, 1)])
    assert sorted(trimmed) == [1, 2] and outcome.computed == 1 and outcome.records[-1]["figures"]["chip_seen"] == [1.0]
    # killed after trimming, before any point was stored: the trims stored as they came are taken
    assert len(list((tmp_path / "out" / "trims").glob("*.json"))) == 2
    shutil.rmtree(tmp_path / "out" / "points")
    outcome = sweep(chips)
    assert sorted(trimmed) == [1, 2] and outcome.computed == 4
    assert [r["figures"]["chip_seen"] for r in outcome.records] == [[1.0], [1.0], [2.0], [2.0]]
