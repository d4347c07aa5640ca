"""The retention and unit_power jobs of the sweep engine: plans refused by key, points and
their keys, a real retention point (20 idle steps at tt 27 C) and a real unit_power point on
the golden CMRU map, each through a local cluster of one worker, and their report plots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_sweep import _plan, _results, _sweep

from codesign.chip import ChipSpec
from codesign.config import ConfigError
from codesign.validation.sweep.engine import Outcome
from codesign.validation.sweep.plan import load_plan
from codesign.validation.sweep.points import build_tasks

CMRU = Path(__file__).parent / "golden" / "maps" / "cmru"
RETENTION = 'job = "retention"\ncorners = ["tt"]\ntemperatures_c = [27]\nretention_steps = 20\n'
UNIT_POWER = 'job = "unit_power"\nmap_dirs = ["map"]\ncorners = ["tt"]\ntemperatures_c = [27]\n'


def _with_map(folder: Path) -> Path:
    """The golden CMRU map copied into `folder` as map/ (a plan names folders inside its own only)."""
    shutil.copytree(CMRU, folder / "map")
    return folder


@pytest.mark.parametrize("text, message", [
    ('job = "packets"\nretention_steps = 10\n', "retention_steps: only for the job retention (job is 'packets')"),
    ('job = "unit_power"\nmap_dirs = ["map"]\nretention_steps = 10\n', "retention_steps: only for the job retention"),
    ('job = "retention"\nretention_steps = 0\n', "retention_steps: must be in [1, 1000000], got 0"),
    ('job = "retention"\nretention_steps = 2000000\n', "retention_steps: must be in [1, 1000000], got 2000000"),
    ('job = "retention"\nretention_steps = 1.5\n', "retention_steps: must be an integer"),
    ('job = "retention"\nchip = "sky130_latch"\n', "chip: retention holds a level on the integrator's capacitor"),
    ('job = "retention"\nchip_set = { eps = 1.0 }\n', "this chip has latch hardware (eps = 1)"),
    ('job = "retention"\nmap_dirs = ["map"]\n', "map_dirs: only for the jobs unit_cosim, network_cosim, unit_power"),
    ('job = "unit_power"\nmap_dirs = ["map"]\nsequences = 2\n',
     "sequences: only for the jobs unit_cosim, network_cosim (job is 'unit_power')"),
    ('job = "unit_power"\npoints = [{ map_dir = "map", sequence = 1 }]\n', "points[0].sequence: only for the jobs"),
    ('job = "unit_power"\npoints = [{ corner = "ss" }]\n', "points[0].map_dir: missing"),
    ('job = "unit_power"\n', "map_dirs: list at least one map folder"),
    ('job = "unit_power"\nmap_dirs = ["map"]\nchip_set = { levels = 1 }\n', "chip_set: unit_power uses the chip"),
    ('job = "unit_power"\nmap_dirs = ["map"]\n[targets]\nmax_unit_power_w = 0\n', "targets.max_unit_power_w: must"),
    ('job = "retention"\n[targets]\nmax_droop_levels = -1\n', "targets.max_droop_levels: must be in [0, 10]"),
])
def test_bad_plans_of_the_new_jobs_are_refused_naming_the_key(tmp_path, text, message):
    path = _plan(_with_map(tmp_path), text)
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_unit_power_points_have_no_sequence_and_are_keyed_by_what_they_simulate(tmp_path):
    _with_map(tmp_path)
    grid = build_tasks(load_plan(_plan(tmp_path, 'job = "unit_power"\nmap_dirs = ["map"]\ncorners = ["tt", "ss"]\n'
                                                 'temperatures_c = [27]\nsupplies = [-0.1, 0.0]\n')), 60)
    assert [(t.point.corner, t.point.supply) for t in grid] == [("tt", -0.1), ("tt", 0.0), ("ss", -0.1), ("ss", 0.0)]
    assert all(t.point.sequence is None and "sequence" not in t.point.axes() for t in grid)
    assert len({t.key for t in grid}) == 4
    listed = _plan(tmp_path, 'job = "unit_power"\npoints = [{ map_dir = "map", corner = "ss", temp_c = 27 }]\n',
                   "listed.toml")
    assert build_tasks(load_plan(listed), 60)[0].key == grid[3].key  # the same point, however it is listed
    cosim = load_plan(_plan(tmp_path, UNIT_POWER.replace("unit_power", "unit_cosim"), "c.toml"))
    assert [p.sequence for p in cosim.points] == [0]  # the cosim jobs' points keep their sequence


def test_a_retention_point_keeps_its_level_and_is_keyed_by_its_steps(tmp_path):
    path = _plan(tmp_path, RETENTION)
    plan = load_plan(path)
    (task,) = build_tasks(plan, 60)
    assert plan.settings.retention_steps == task.retention_steps == 20
    assert load_plan(_plan(tmp_path, RETENTION.replace("retention_steps = 20\n", ""), "d.toml")) \
        .settings.retention_steps == 1000
    longer = build_tasks(load_plan(_plan(tmp_path, RETENTION.replace("= 20", "= 21"), "longer.toml")), 60)
    assert longer[0].key != task.key
    out = tmp_path / "out"
    assert _sweep(path, "--out", out, "--workers", "1", "--quiet") == 0
    (row,) = _results(out)["rows"]
    f = row["figures"]
    assert row["status"] == "met" and row["key"] == task.key
    assert f["kept"] is True and f["steps"] == 20
    assert f["final_level"] == f["level"] == ChipSpec().integrator().levels_per_side
    assert 0 < f["worst_droop_levels"] < 0.05  # a 0.25-level target: well inside
    assert f["worst_droop_levels"] == pytest.approx(f["worst_droop_v"] / f["dv_level_v"])
    assert [t["name"] for t in row["targets"]] == ["level kept (1 yes, 0 no)",
                                                   "worst droop before a restore (levels)"]
    assert (out / "heatmap_1.png").is_file()


def test_unit_power_of_the_golden_cmru_map_is_judged_against_its_target(tmp_path):
    path = _plan(_with_map(tmp_path), UNIT_POWER)
    out = tmp_path / "out"
    assert _sweep(path, "--out", out, "--workers", "1", "--quiet") == 0
    (row,) = _results(out)["rows"]
    units, worst = row["figures"]["units"], row["figures"]["worst_unit_power_w"]
    assert row["status"] == "met" and "sequence" not in row
    assert [u["unit"] for u in units] == [f"layer0_u{i}" for i in range(4)]
    for u in units:
        assert 0 < u["total_w"] < 10e-9 and u["alpha"] > 0
        assert u["total_w"] == pytest.approx(u["supply_w"] + u["readout_w"])
    assert worst == max(u["total_w"] for u in units)
    assert f"worst unit power {worst * 1e9:.4g} nW (<= 10 nW)" in (out / "summary.md").read_text()
    # a stricter target re-judges the stored figures without simulating
    strict = _plan(tmp_path, UNIT_POWER + "[targets]\nmax_unit_power_w = 1e-9\n", "strict.toml")
    assert _sweep(strict, "--out", out, "--quiet") == 1
    judged = _results(out)
    assert judged["counts"]["computed"] == 0 and judged["rows"][0]["status"] == "not met"


@pytest.mark.parametrize("job, figures", [
    ("retention", {"kept": True, "worst_droop_levels": 0.01}),
    ("unit_power", {"worst_unit_power_w": 4e-9}),
])
def test_report_draws_heat_maps_and_temperature_lines_of_the_new_jobs(tmp_path, job, figures):
    """Without ngspice: stored records of 2 corners x 2 temperatures (two map folders for unit_power)."""
    from codesign.validation.sweep.report import write_report

    maps = ["m1", "m2"] if job == "unit_power" else [None]
    for m in filter(None, maps):
        _with_map(tmp_path / m)
    where = 'map_dirs = ["m1/map", "m2/map"]\n' if job == "unit_power" else ""
    plan = load_plan(_plan(tmp_path, f'job = "{job}"\n{where}corners = ["tt", "ss"]\ntemperatures_c = [27, 85]\n'))
    records = [{"key": f"{p.corner}{p.temp_c}{i}", "axes": p.axes(), "status": "done", "seconds": 1.0,
                "figures": {k: v * (1 + p.temp_c / 100) if isinstance(v, float) else v for k, v in figures.items()}}
               for i, p in enumerate(plan.points)]
    write_report(tmp_path, plan, Outcome(tuple(records), 0, len(records), 0.0), "codesign sweep x")
    md = (tmp_path / "report.md").read_text()
    for name in ("heatmap_0.png", "temperature.png"):
        assert (tmp_path / name).stat().st_size > 1000 and f"]({name})" in md
    if job == "unit_power":
        assert "worst unit power (nW), worst of each cell (<= 10 is met)" in md
        assert "the worst unit power against temperature" in md
    else:
        assert "(heatmap_1.png)" in md and "the worst droop against temperature" in md


def test_a_cell_points_key_leaves_out_the_readout_sizes_at_their_defaults_and_changes_with_them(tmp_path):
    """Points stored before the readout's sizes were chip fields keep their keys; other sizes are
    another point."""
    from codesign.validation.sweep.points import _integrator_key

    assert "readout_w_um" not in _integrator_key(ChipSpec()) and "readout_l_um" not in _integrator_key(ChipSpec())
    assert _integrator_key(ChipSpec(readout_w_um=4.0, readout_l_um=16.0))["readout_l_um"] == 16.0
    packets = 'job = "packets"\ncorners = ["tt"]\ntemperatures_c = [27]\n'
    (plain,) = build_tasks(load_plan(_plan(tmp_path, packets)), 60)
    (larger,) = build_tasks(load_plan(_plan(tmp_path, packets + "chip_set = { readout_l_um = 16.0 }\n", "l.toml")), 60)
    assert plain.key != larger.key
