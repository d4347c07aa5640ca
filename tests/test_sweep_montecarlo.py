"""Monte Carlo chips as an axis of sweep plans (refused by key, expanded to seeds, keyed by
seed), the packets job, and the HTML/Markdown report with its plots.

Real points: the comparator's hysteresis loop (under a second each) on three chips, one
packets bench and a one-unit co-simulation on a Monte Carlo chip."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from test_sweep import _one_unit_map, _plan, _results, _sweep

from codesign.config import ConfigError
from codesign.validation.sweep.engine import Outcome
from codesign.validation.sweep.plan import load_plan
from codesign.validation.sweep.points import build_tasks


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


MC = 'job = "hysteresis"\ncorners = ["tt"]\ntemperatures_c = [27]\n'


@pytest.mark.parametrize("text, message", [
    (MC + "monte_carlo = { samples = 0 }\n", "monte_carlo.samples: must be in [1, 10000], got 0"),
    (MC + "monte_carlo = { samples = 20000 }\n", "monte_carlo.samples: must be in [1, 10000]"),
    (MC + 'monte_carlo = { samples = "many" }\n', "monte_carlo.samples: must be an integer"),
    (MC + "monte_carlo = { samples = 2, seed = 0 }\n", "monte_carlo.seed: must be in [1, 2147483647]"),
    (MC + "monte_carlo = { samples = 2, seed = 1.5 }\n", "monte_carlo.seed: must be an integer"),
    (MC + "monte_carlo = { samples = 3, seed = 2147483646 }\n", "monte_carlo.seed: chips 2147483646..2147483648"),
    (MC + "monte_carlo = { seed = 4 }\n", "monte_carlo.samples: missing"),
    (MC + "monte_carlo = { samples = 2, seeds = 4 }\n", "monte_carlo.seeds: unknown key"),
    (MC + "monte_carlo = 200\n", "monte_carlo: must be a table"),
    ('job = "hysteresis"\ncorners = ["tt_mm"]\nmonte_carlo = { samples = 2 }\n', "corners: 'tt_mm': give the plain"),
    ('job = "hysteresis"\ncorners = ["ss_mm"]\n', "corners: 'ss_mm': give the plain corner 'ss', and monte_carlo"),
    ('job = "hysteresis"\nmonte_carlo = { samples = 2 }\npoints = [{ corner = "ss" }]\n', "points: give either"),
    ('job = "hysteresis"\npoints = [{ corner = "ss", mc_seed = 0 }]\n', "points[0].mc_seed: must be in"),
])
def test_bad_monte_carlo_plans_are_refused_naming_the_key(tmp_path, text, message):
    path = _plan(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_monte_carlo_axis_names_chips_and_keys_them_by_seed(tmp_path):
    plain = build_tasks(load_plan(_plan(tmp_path, MC, "plain.toml")), 60)
    mc = build_tasks(load_plan(_plan(tmp_path, MC + "monte_carlo = { samples = 3, seed = 5 }\n", "mc.toml")), 60)
    assert [t.point.mc_seed for t in mc] == [5, 6, 7]
    assert "mc_seed" not in plain[0].point.axes() and mc[0].point.axes()["mc_seed"] == 5
    assert len({t.key for t in mc} | {plain[0].key}) == 4  # the seed is part of the key
    listed = _plan(tmp_path, 'job = "hysteresis"\npoints = [{ corner = "tt", temp_c = 27, mc_seed = 6 }]\n', "l.toml")
    assert build_tasks(load_plan(listed), 60)[0].key == mc[1].key  # the same chip, however it is listed
    # 5 corners x 3 temperatures x 200 chips: counted with the samples
    big = load_plan(_plan(tmp_path, 'job = "level_trips"\ncorners = ["tt", "ss", "ff", "sf", "fs"]\n'
                                    'temperatures_c = [-40, 27, 85]\nmonte_carlo = { samples = 200 }\n', "big.toml"))
    assert len(big.points) == 3000 and {p.mc_seed for p in big.points} == set(range(1, 201))
    with pytest.raises(ConfigError, match="names 12000 points, at most 10000"):
        load_plan(_plan(tmp_path, 'job = "level_trips"\ncorners = ["tt", "ss", "ff", "sf", "fs"]\n'
                                  'temperatures_c = [-40, 27, 85]\nsupplies = [-0.1, 0.0, 0.1, 0.05]\n'
                                  'monte_carlo = { samples = 200 }\n', "huge.toml"))


def test_hysteresis_on_monte_carlo_chips_is_reproducible_and_reported(tmp_path, cluster):
    path = _plan(tmp_path, MC + "monte_carlo = { samples = 3, seed = 11 }\n")
    out, again = tmp_path / "out", tmp_path / "again"
    _sweep(path, "--out", out, "--scheduler", cluster.scheduler_address, "--quiet")
    _sweep(path, "--out", again, "--scheduler", cluster.scheduler_address, "--quiet")
    rows = _results(out)["rows"]
    assert [r["mc_seed"] for r in rows] == [11, 12, 13] and all(r["status"] != "failed" for r in rows)
    ups = [r["figures"]["up_on_a"] for r in rows]
    assert len(set(ups)) == 3  # three chips, three trip points
    assert [r["figures"] for r in _results(again)["rows"]] == [r["figures"] for r in rows]  # bit-identical
    for r in rows:  # the trip error in beta*i_unit is the trip error relative to the threshold, rescaled
        f = r["figures"]
        assert f["up_on_in_beta"] == pytest.approx(f["up_on_rel"] * 5, rel=1e-9)  # threshold 500 pA, beta*i_unit 100
    html = (out / "report.html").read_text()
    assert "<script" not in html.lower() and "Monte Carlo chips" in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert "mc_up_on_in_beta.png" in images and all((out / name).is_file() for name in images)
    md = (out / "report.md").read_text()
    assert "![Monte Carlo: up trip - threshold (beta*i_unit)](mc_up_on_in_beta.png)" in md
    assert "monte_carlo = { samples = 3, seed = 11 }" in md and _results(out)["command"] in md


def test_a_chip_that_never_switches_is_a_measurement_not_a_failure(monkeypatch):
    """Without ngspice: on a Monte Carlo chip a loop that found no edge gives nan figures (a target
    missed, the tail of the distribution); on the plain corner it stays an error."""
    import dataclasses

    from codesign.chip import load_chip
    from codesign.validation import characterize, montecarlo
    from codesign.validation.sweep import points
    from codesign.validation.sweep.plan import SweepTargets
    from codesign.validation.sweep.report import judge

    def no_edge(*args, **kwargs):
        raise RuntimeError("comparator did not switch both ways: up edges [], dn edges []")

    monkeypatch.setattr(characterize, "hysteresis_loop", no_edge)
    monkeypatch.setattr(montecarlo, "wide_hysteresis_loop", no_edge)
    chip = load_chip()
    task = points.Task(point=None, key="k", timeout_s=1, chip=chip)
    figures = points._hysteresis(task, dataclasses.replace(chip.supply(), mc_seed=3))
    assert figures["switched"] is False and math.isnan(figures["up_on_in_beta"])
    assert not judge("hysteresis", figures, SweepTargets())[0]["passed"]
    with pytest.raises(RuntimeError, match="did not switch"):
        points._hysteresis(task, chip.supply())


def test_packets_job_measures_packets_levels_and_readout_on_a_chip(tmp_path, cluster):
    path = _plan(tmp_path, 'job = "packets"\nchip_set = { levels = 1 }\npoints = [{ corner = "tt", mc_seed = 4 }]\n')
    out = tmp_path / "out"
    code = _sweep(path, "--out", out, "--scheduler", cluster.scheduler_address, "--quiet")
    (row,) = _results(out)["rows"]
    assert row["status"] in ("met", "not met") and code == (0 if row["status"] == "met" else 1)
    f = row["figures"]
    assert f["ideal_level"] == [-1, -1, 0, 1, 1, 0, -1, -1]  # from level 0: down 2, up 3, down 3 (L = 1)
    assert len(f["restored_level"]) == len(f["dv_v"]) == 8
    assert abs(f["packet_up_rel"]) < 0.5 and abs(f["packet_dn_rel"]) < 0.5 and abs(f["readout_gain_rel"]) < 0.5
    assert f["wrong_levels"] == sum(a != b for a, b in zip(f["restored_level"], f["ideal_level"]))


def test_cosim_on_a_monte_carlo_chip_keeps_the_level_traces(tmp_path, cluster):
    _one_unit_map(tmp_path / "map")
    mc = _plan(tmp_path, 'job = "network_cosim"\nmap_dirs = ["map"]\nmonte_carlo = { samples = 2, seed = 3 }\n')
    plain = build_tasks(load_plan(_plan(tmp_path, 'job = "network_cosim"\nmap_dirs = ["map"]\n', "p.toml")), 60)
    tasks = build_tasks(load_plan(mc), 60)
    assert [t.point.mc_seed for t in tasks] == [3, 4] and len({t.key for t in tasks} | {plain[0].key}) == 3
    one = _plan(tmp_path, 'job = "network_cosim"\npoints = [{ map_dir = "map", mc_seed = 3 }]\n', "one.toml")
    out = tmp_path / "out"
    _sweep(one, "--out", out, "--scheduler", cluster.scheduler_address, "--quiet")
    (row,) = _results(out)["rows"]
    assert row["status"] != "failed" and row["mc_seed"] == 3
    (trace,) = row["figures"]["traces"]
    assert len(trace["k_software"]) == len(trace["k_circuit"]) == 8
    agreement = sum(a == b for a, b in zip(trace["k_software"], trace["k_circuit"])) / 8
    assert agreement == pytest.approx(row["figures"]["worst_level_agreement"])
    assert (out / "worst_1.png").is_file() and "worst_1.png" in (out / "report.html").read_text()


def _record(corner, temp_c, seed, up):
    return {"key": f"{corner}{temp_c}{seed}", "axes": {"job": "hysteresis", "corner": corner, "temp_c": temp_c,
                                                       "supply": 0.0, "vdd_v": 1.2, "mc_seed": seed},
            "status": "done", "seconds": 1.0,
            "figures": {"up_on_rel": up, "dn_on_rel": -up, "up_on_in_beta": 5 * up, "dn_on_in_beta": -5 * up,
                        "worst_threshold_error_rel": abs(up)}}


def test_report_draws_heat_maps_temperature_lines_and_histograms(tmp_path):
    """Without ngspice: stored records of 2 corners x 2 temperatures x 3 chips, one failed."""
    from codesign.validation.sweep.report import write_report

    plan = load_plan(_plan(tmp_path, 'job = "hysteresis"\ncorners = ["tt", "ss"]\ntemperatures_c = [27, 85]\n'
                                     "monte_carlo = { samples = 3 }\n"))
    records = [_record(c, t, k, 0.01 * k * (2 if c == "ss" else 1)) for c in ("tt", "ss") for t in (27.0, 85.0)
               for k in (1, 2, 3)]
    records[-1] = {**records[-1], "status": "failed", "error": "NgspiceTimeout", "reason": "too slow"}
    result = write_report(tmp_path, plan, Outcome(tuple(records), 0, len(records), 0.0), "codesign sweep x")
    assert result["counts"]["failed"] == 1 and not result["all_met"]
    md = (tmp_path / "report.md").read_text()
    for name in ("heatmap_0.png", "heatmap_1.png", "temperature.png", "mc_up_on_in_beta.png",
                 "mc_dn_on_in_beta.png"):
        assert (tmp_path / name).stat().st_size > 1000 and f"]({name})" in md
    assert "NgspiceTimeout: too slow" in md and "NOT every point met" in md
    assert "| tt 27 C, vdd +0% | up trip - threshold (beta*i_unit) | 3 | 0.1 | 0.05 | 0.05 | 0.15 | 0 |" in md
    assert "| ss 85 C, vdd +0% | up trip - threshold (beta*i_unit) | 2 |" in md and "| 1 |" in md
    assert json.loads((tmp_path / "results.json").read_text())["rows"][-1]["status"] == "failed"
    assert Path(tmp_path / "report.html").read_text().count("<img") == md.count("![")
