"""The comparators' threshold trims set at test (codesign.validation.comparator_trim): on a real
sky130 comparator away from tt 27 C the trims bring the trip points back onto their targets, a
mapped network carries them in every unit, and a sweep sets them per chip and temperature."""

import shutil
from pathlib import Path

import pytest

from codesign.chip import load_chip
from codesign.config import ConfigError
from codesign.hardware.cells import comparator
from codesign.validation.comparator_trim import STEP_BETA, ComparatorTrim, trim_comparators
from codesign.validation.cosim import load_checked

MIRROR = Path(__file__).parent / "golden" / "maps" / "mirror"


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
