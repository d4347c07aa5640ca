"""The comparators' threshold trims set at test (codesign.validation.comparator_trim): on a real
sky130 comparator away from tt 27 C the trims bring the trip points back onto their targets, a
mapped network carries them in every unit, and a sweep sets them per chip and temperature."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from codesign.chip import load_chip
from codesign.config import ConfigError
from codesign.hardware.cells import comparator
from codesign.validation.characterize import hysteresis_loop, loop_points
from codesign.validation.comparator_trim import (
    SLOW,
    STEP_BETA,
    ComparatorTrim,
    UnitComparatorTrims,
    UnitTrim,
    trim_comparators,
    trim_unit_comparators,
    unit_trim_bench,
)
from codesign.validation.cosim import current_bench, load_checked

MIRROR = Path(__file__).parent / "golden" / "maps" / "mirror"
CMRU = Path(__file__).parent / "golden" / "maps" / "cmru"


def test_the_trim_loop_reads_the_trip_points_a_slow_loop_reads_where_a_fast_one_reads_them_late():
    """ngspice: the matched comparator (decisions in about a millisecond) at tt 27 C. The plain 0.2 s
    loop sees each trip after the ramp has passed it; the trims' loop, slow within 0.1 beta of a
    threshold, reads what a loop 16 times slower throughout reads."""
    chip = load_chip("sky130_matched")
    p, supply = chip.comparator(), chip.supply("tt", 27.0)
    errors = lambda **kw: np.array([hysteresis_loop(p, supply, **kw).errors()[k]  # noqa: E731
                                    for k in ("up_on_in_beta", "dn_on_in_beta")])
    fast, windows, slow = errors(), errors(slow=SLOW), errors(sweep_s=3.2)
    assert np.all(np.abs(fast - slow) > 0.005)  # read late: up too high, dn too low
    assert fast[0] > slow[0] and fast[1] < slow[1]
    assert np.all(np.abs(windows - slow) < 0.002)
    times, currents, turn = loop_points(p, slow=SLOW)
    assert times[-1] == pytest.approx(0.4 + 2 * 0.2 * 0.2 / 4 * (SLOW.factor - 1))  # two windows of 0.2 of 4 beta
    assert currents.max() == currents[times == turn][0]


def test_trims_set_at_a_cold_slow_corner_put_the_trip_points_back_on_target():
    """ngspice: the matched comparator at sf -40 C trips several % of beta high on the tt trims."""
    chip = load_chip("sky130_matched")
    trim = trim_comparators(chip, chip.supply("sf", -40.0))
    assert max(abs(e) for e in trim.trips_before_in_beta) > 0.02
    assert max(abs(e) for e in trim.trips_after_in_beta) < STEP_BETA + 0.003  # a DAC step and the loop's resolution
    step_a = STEP_BETA * chip.i_unit_a
    for trimmed, first in ((trim.up_trim_a, chip.comparator_up_trim_a), (trim.dn_trim_a, chip.comparator_dn_trim_a)):
        assert trimmed != first and abs(trimmed / step_a - round(trimmed / step_a)) < 1e-6  # on the DAC's grid
    assert ComparatorTrim.from_summary(trim.summary()) == trim


def test_a_mapped_network_takes_the_trims_in_every_unit_and_refuses_one_out_of_range():
    plan = load_checked(MIRROR)
    trim = ComparatorTrim(-2.5e-12, 1.5e-12, (0.05, 0.04), (0.0, 0.0))
    trimmed = trim.apply(plan)
    assert (trimmed.chip.comparator_up_trim_a, trimmed.chip.comparator_dn_trim_a) == (-2.5e-12, 1.5e-12)
    for before, after in zip(plan.units, trimmed.units):
        assert (after.comparator.i_up_trim_a, after.comparator.i_dn_trim_a) == (-2.5e-12, 1.5e-12)
        assert comparator(after.comparator, "c", "i", "u", "d") != comparator(before.comparator, "c", "i", "u", "d")
        assert after.comparator.wn_um == before.comparator.wn_um and after.beta == before.beta
    with pytest.raises(ConfigError, match="comparator_up_trim_a"):
        ComparatorTrim(80e-12, 0.0, (0.0, 0.0), (0.0, 0.0)).apply(plan)


def _plan(tmp_path, extra: str, rows) -> list:
    from codesign.validation.sweep.plan import load_plan
    from codesign.validation.sweep.points import build_tasks

    points = ", ".join(f'{{ map_dir = "map", corner = "{c}", temp_c = {t}, sequence = {n} }}' for c, t, n in rows)
    head = 'job = "network_cosim"\nmirror_array = "staged"\n'
    (tmp_path / "plan.toml").write_text(f"{head}{extra}\npoints = [{points}]\n")
    return build_tasks(load_plan(tmp_path / "plan.toml"), 600)


def test_a_trim_table_trims_each_temperature_apart_and_comparator_trims_are_their_own_points(tmp_path):
    shutil.copytree(MIRROR, tmp_path / "map")
    rows = [("tt", 27, 0), ("tt", 27, 1), ("tt", 85, 0), ("ss", 85, 0)]
    at_27 = _plan(tmp_path, 'mirror_trim = "rows"', rows)
    table = _plan(tmp_path, 'mirror_trim = "rows"\ntrim_table = "temperature"', rows)
    both = _plan(tmp_path, 'mirror_trim = "rows"\ncomparator_trim = "test"\ntrim_table = "temperature"', rows)
    only_cmp = _plan(tmp_path, 'comparator_trim = "test"', rows)
    assert [t.key for t in at_27] == [t.key for t in _plan(tmp_path, 'mirror_trim = "rows"\ntrim_table = "none"', rows)]
    assert at_27[0].trim_key == at_27[2].trim_key != at_27[3].trim_key  # set at 27 C: one trim per corner
    for tasks in (table, both):  # a table: each temperature trimmed apart, sequences share
        assert tasks[0].trim_key == tasks[1].trim_key and len({t.trim_key for t in tasks}) == 3
    # at 27 C a table's entry is the trim at 27 C: the same point; elsewhere the trims differ
    assert [a.key == b.key for a, b in zip(at_27, table)] == [True, True, False, False]
    keys = [{t.key for t in tasks} for tasks in (table, both, only_cmp)]
    assert all(not a & b for i, a in enumerate(keys) for b in keys[i + 1:])
    assert only_cmp[0].trim_key is not None
    assert (only_cmp[0].mirror_trim, only_cmp[0].comparator_trim) == ("none", "test")


def test_a_point_trimmed_at_its_temperature_runs_its_units_on_the_comparator_trims_set_there(tmp_path, monkeypatch):
    """ngspice: the golden mirror map at ss 85 C, its rows and comparators trimmed at 85 C, one
    test sequence, staged; the co-simulation is watched (not replaced) to see the plan it runs."""
    from codesign.validation import staged
    from codesign.validation.sweep import points

    shutil.copytree(MIRROR, tmp_path / "map")
    task = _plan(tmp_path, 'mirror_trim = "rows"\ncomparator_trim = "test"\ntrim_table = "temperature"',
                 [("ss", 85, 0)])[0]
    trims = points.trim_chip(task)
    assert set(trims) == {"trims", "comparator_trims"}
    cmp = trims["comparator_trims"]
    assert max(abs(e) for e in cmp["trips_after_in_beta"]) < max(abs(e) for e in cmp["trips_before_in_beta"])
    seen, real = {}, staged.cosim_network_staged

    def watched(plan, xs, supply, **kw):
        seen.update(plan=plan, supply=supply, trims=kw.get("trims"))
        return real(plan, xs, supply, **kw)

    monkeypatch.setattr(staged, "cosim_network_staged", watched)
    record = points.compute(task, trims)
    figures = record["figures"]
    assert record["status"] == "done", record.get("reason")
    assert figures["comparator_trims"] == cmp and figures["trims"] == trims["trims"]
    named = (figures["comparator_trim"], figures["mirror_trim"], figures["trim_table"])
    assert named == ("test", "rows", "temperature")
    assert {(u.comparator.i_up_trim_a, u.comparator.i_dn_trim_a) for u in seen["plan"].units} == \
        {(cmp["up_trim_a"], cmp["dn_trim_a"])}
    assert list(seen["trims"].ref_scale) == trims["trims"]["ref_scale"] and seen["supply"].temp_c == 85


def test_a_monte_carlo_chips_comparator_trims_come_from_a_replica_without_mismatch(tmp_path):
    """The replica's own draw would hand its offset to every unit: it is measured without mismatch,
    so chips of one corner and temperature share the comparator part of their trimming."""
    from codesign.validation.sweep.plan import Point
    from codesign.validation.sweep.points import _manifest_sha256, _trim_content

    shutil.copytree(MIRROR, tmp_path / "map")
    map_dir = str(tmp_path / "map")
    plan, manifest = load_checked(map_dir), _manifest_sha256(map_dir)
    drawn, plain = (Point("network_cosim", "tt", 85.0, 0.0, plan.chip.vdd_v, map_dir=map_dir, sequence=0, mc_seed=k)
                    for k in (3, None))
    assert _trim_content(drawn, plan, manifest, "none", "test", "temperature") == \
        _trim_content(plain, plan, manifest, "none", "test", "temperature")
    rows = [_trim_content(p, plan, manifest, "rows", "test", "temperature") for p in (drawn, plain)]
    assert rows[0][0] != rows[1][0] and rows[0][3:] == rows[1][3:]  # the array's rows: each chip its own


def test_each_units_comparator_is_trimmed_on_its_own_monte_carlo_draw():
    """ngspice: the golden CMRU map's four units on Monte Carlo chip 3 at tt 27 C, whose comparators
    trip up to half a beta off target (their own mismatch, which a replica cannot see)."""
    plan = load_checked(CMRU)
    supply = dataclasses.replace(plan.chip.supply(), mc_seed=3)
    trims = trim_unit_comparators(plan, supply)
    assert [t.unit for t in trims.units] == [u.name for u in plan.units]
    assert trims.summary()["worst_before_in_beta"] > 0.3
    assert trims.summary()["worst_after_in_beta"] < STEP_BETA + 0.003  # a DAC step and the loop's resolution
    assert len({(t.up_trim_a, t.dn_trim_a) for t in trims.units}) == len(plan.units)  # each its own
    assert UnitComparatorTrims.from_summary(trims.summary()) == trims
    trimmed = trims.apply(plan)
    for u, t in zip(trimmed.units, trims.units):
        assert (u.comparator.i_up_trim_a, u.comparator.i_dn_trim_a) == (t.up_trim_a, t.dn_trim_a)
    assert trimmed.chip == plan.chip


def test_a_units_trim_bench_is_its_co_simulation_netlist_but_for_the_input_and_the_analysis():
    """The same devices in the same order under the same seed: the trims are measured on the draw
    the staged co-simulation simulates."""
    plan = load_checked(CMRU)
    supply = dataclasses.replace(plan.chip.supply(), mc_seed=5)
    u = plan.units[1]
    layer = dataclasses.replace(plan.layers[0], units=(u,))
    cosim = current_bench(plan, layer, np.full((3, 1), plan.chip.i_bias_a), supply)
    trim = unit_trim_bench(plan, u, supply)
    differ = [(a, b) for a, b in zip(cosim.splitlines(), trim.splitlines(), strict=True) if a != b]
    assert [a.split()[0] for a, _ in differ] == ["*", "Iin_layer0_u1", ".save", ".tran"]
    assert "x" + u.name.lower() + ".cmp_up" in differ[2][1]
    assert ".option seed=" in trim and trim != unit_trim_bench(plan, plan.units[2], supply)


def test_unit_trims_refuse_a_missing_unit_and_one_out_of_range():
    plan = load_checked(CMRU)
    some = [UnitTrim(u.name, 1e-12, -1e-12, (0.1, 0.1), (0.0, 0.0)) for u in plan.units]
    with pytest.raises(ValueError, match=plan.units[-1].name):
        UnitComparatorTrims(tuple(some[:-1])).apply(plan)
    far = UnitTrim(plan.units[2].name, 2e-9, 0.0, (0.1, 0.1), (0.0, 0.0))
    with pytest.raises(ConfigError, match=f"unit {plan.units[2].name} comparator trim.*i_up_trim_a"):
        UnitComparatorTrims((*some[:2], far, *some[3:])).apply(plan)


def test_a_sweep_trims_each_unit_of_each_chip_and_runs_the_point_on_those_trims(tmp_path, monkeypatch):
    """Every unit's trims follow from its own draw (chips differ, unlike the replica's); a point
    runs on the plan with each unit's own trims (the co-simulation watched, then stopped)."""
    from codesign.validation import staged
    from codesign.validation.sweep import points
    from codesign.validation.sweep.plan import Point

    shutil.copytree(MIRROR, tmp_path / "map")
    map_dir = str(tmp_path / "map")
    plan, manifest = load_checked(map_dir), points._manifest_sha256(map_dir)
    chips = [Point("network_cosim", "tt", 27.0, 0.0, plan.chip.vdd_v, map_dir=map_dir, sequence=0, mc_seed=k)
             for k in (3, 4)]
    content = [points._trim_content(p, plan, manifest, "none", "units", "none") for p in chips]
    assert content[0] != content[1] and len(content[0]) == len(plan.units) + 2
    task = _plan(tmp_path, 'comparator_trim = "units"', [("tt", 27, 0)])[0]
    assert task.comparator_trim == "units" and task.trim_key != _plan(tmp_path, 'comparator_trim = "test"',
                                                                      [("tt", 27, 0)])[0].trim_key
    own = UnitComparatorTrims(tuple(UnitTrim(u.name, k * 1e-12, -k * 1e-12, (0.1, 0.1), (0.0, 0.0))
                                    for k, u in enumerate(plan.units)))
    seen = {}

    def watched(plan, xs, supply, **kw):
        seen["plan"] = plan
        raise RuntimeError("watched")

    monkeypatch.setattr(staged, "cosim_network_staged", watched)
    points.compute(task, {"comparator_trims": own.summary()})
    assert [(u.comparator.i_up_trim_a, u.comparator.i_dn_trim_a) for u in seen["plan"].units] == \
        [(t.up_trim_a, t.dn_trim_a) for t in own.units]
