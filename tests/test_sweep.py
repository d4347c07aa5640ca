"""The sweep engine: plans refused by key, points on a real Dask cluster, the
cache (resume after a rerun and after a SIGKILL), failed points and --retry-failed.

Points are the level comparators' DC sweeps on a one-level chip (2 short ngspice
runs each), so the whole file stays near a minute on a loaded 2-core machine."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codesign import cli
from codesign.config import ConfigError
from codesign.validation.sweep.commands import register
from codesign.validation.sweep.plan import MAX_POINTS, load_plan

ROOT = Path(__file__).resolve().parents[1]
FAST = 'job = "level_trips"\nchip_set = { levels = 1 }\ntemperatures_c = [27]\n'


def _plan(folder: Path, text: str, name: str = "plan.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _sweep(*argv) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sweep", *map(str, argv)])
    return args.run(args)


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


# ---------- plans ----------

@pytest.mark.parametrize("text, message", [
    ('job = "level_trips"\ncorner = "tt"\n', "corner: unknown key"),
    ('job = "level_trips"\ntemperatures_c = "hot"\n', "temperatures_c: must be a list"),
    ('job = "level_trips"\ntemperatures_c = [300]\n', "temperatures_c[0]: must be in [-55.0, 150.0], got 300.0"),
    ('job = "level_trips"\ncorners = ["xx"]\n', "corners[0]: must be one of"),
    ('job = "level_trips"\nsupplies = [0.9]\n', "supplies[0]: must be in [-0.5, 0.5], got 0.9"),
    ('job = "level_trips"\n[targets]\nmax_trip_error_levels = -1\n', "targets.max_trip_error_levels: must be"),
    ('job = "level_trips"\nchip_set = { levelz = 1 }\n', "chip_set.levelz: unknown key"),
    ('job = "dance"\n', "job: must be one of"),
    ('corners = ["tt"]\n', "job: missing"),
    ('job = "level_trips"\nsequences = 2\n', "sequences: only for the jobs unit_cosim, network_cosim"),
    ('job = "hysteresis"\nsolver = "first_pass"\n', "solver: only for the jobs unit_cosim, network_cosim"),
    ('job = "network_cosim"\nmap_dirs = ["map"]\nsolver = "fast"\n', "solver: must be one of"),
    ('job = "network_cosim"\nmap_dirs = ["nowhere"]\n', "map_dirs[0]: "),
    ('job = "network_cosim"\n', "map_dirs: list at least one map folder"),
    ('job = "level_trips"\ncorners = ["tt"]\npoints = [{ corner = "ss" }]\n', "points: give either the axes"),
    ('job = "level_trips"\npoints = [{ corner = "ss", tmp_c = 3 }]\n', "points[0].tmp_c: unknown key"),
    ('job = "level_trips"\ncorners = ["tt", "tt"]\n', "corners: 'tt' is listed twice"),
])
def test_bad_plans_are_refused_naming_the_key(tmp_path, text, message):
    path = _plan(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_point_count_is_limited_with_the_limit_named(tmp_path):
    temps = list(range(-50, 150, 1))  # 200 temperatures x 5 corners x 11 supplies
    supplies = [round(0.01 * k, 2) for k in range(-5, 6)]
    path = _plan(tmp_path, f'job = "hysteresis"\ncorners = ["tt", "ss", "ff", "sf", "fs"]\n'
                           f'temperatures_c = {temps}\nsupplies = {supplies}\n')
    with pytest.raises(ConfigError, match=f"names 11000 points, at most {MAX_POINTS}"):
        load_plan(path)


def test_plan_points_resolve_supplies_and_chip_defaults(tmp_path):
    plan = load_plan(_plan(tmp_path, 'job = "hysteresis"\nsupplies = [-0.1, 0.1]\n'
                                     'points = [{ supply = -0.1 }, { corner = "ss", temp_c = 85 }]\n'
                                     .replace("supplies = [-0.1, 0.1]\n", "")))
    assert [(p.corner, p.temp_c, round(p.vdd_v, 6)) for p in plan.points] == [("tt", 27.0, 1.08), ("ss", 85.0, 1.2)]
    smoke = load_plan(ROOT / "validation" / "smoke.toml")
    assert 1 <= len(smoke.points) <= 4 and smoke.job == "level_trips"


def test_bad_options_exit_2_through_the_command_line(tmp_path, capsys):
    path = _plan(tmp_path, FAST)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers 0: must be in [1, 512]" in capsys.readouterr().err
    assert cli.main(["sweep", str(_plan(tmp_path, 'job = "x"\n', "bad.toml")), "--out", str(tmp_path / "o")]) == 2
    assert "bad.toml: job: must be one of" in capsys.readouterr().err


# ---------- running ----------

def test_sweep_on_a_local_cluster_then_resume_recomputes_nothing(tmp_path, cluster):
    path = _plan(tmp_path, FAST + 'corners = ["tt", "ss"]\n')
    out = tmp_path / "out"
    assert _sweep(path, "--out", out, "--scheduler", cluster.scheduler_address, "--quiet") == 0
    first = _results(out)
    assert first["counts"] == {"points": 2, "met": 2, "not_met": 0, "failed": 0, "computed": 2, "from_cache": 0}
    assert [r["corner"] for r in first["rows"]] == ["tt", "ss"]
    assert all(r["figures"]["worst_trip_error_levels"] < 0.25 for r in first["rows"])
    assert len(list((out / "points").glob("*.json"))) == 2
    summary = (out / "summary.md").read_text()
    assert first["plan"] == path.read_text() and 'corners = ["tt", "ss"]' in summary  # the plan, echoed
    # Run again (no scheduler: nothing to compute starts no cluster)
    assert _sweep(path, "--out", out, "--quiet") == 0
    again = _results(out)
    assert again["counts"]["computed"] == 0 and again["counts"]["from_cache"] == 2
    assert [r["figures"] for r in again["rows"]] == [r["figures"] for r in first["rows"]]
    assert not (out / ".codesign.lock").exists()
    # Targets are judged on the stored figures: a stricter one re-judges without simulating
    strict = _plan(tmp_path, path.read_text() + "[targets]\nmax_trip_error_levels = 1e-6\n", "strict.toml")
    assert _sweep(strict, "--out", out, "--quiet") == 1
    judged = _results(out)
    assert judged["counts"]["computed"] == 0 and [r["status"] for r in judged["rows"]] == ["not met"] * 2


def test_failed_point_is_recorded_and_retry_failed_reruns_only_it(tmp_path, cluster):
    out, where = tmp_path / "out", ("--out", tmp_path / "out", "--scheduler", cluster.scheduler_address, "--quiet")
    assert _sweep(_plan(tmp_path, FAST + 'corners = ["tt"]\n', "one.toml"), *where) == 0
    two = _plan(tmp_path, FAST + 'corners = ["tt", "ss"]\n', "two.toml")
    assert _sweep(two, *where, "--timeout", "0.001") == 1  # ngspice cannot finish in a millisecond
    rows = _results(out)["rows"]
    assert [r["status"] for r in rows] == ["met", "failed"]
    assert rows[1]["error"] == "NgspiceTimeout" and "did not finish within 0.001 s" in rows[1]["reason"]
    assert Path(rows[1]["netlist"]).read_text().startswith("* level_cmp")
    assert "## Failed points" in (out / "summary.md").read_text()
    assert _sweep(two, *where) == 1  # without --retry-failed a failed point stays failed
    assert _results(out)["counts"]["computed"] == 0
    assert _sweep(two, *where, "--retry-failed") == 0
    n = _results(out)["counts"]
    assert (n["computed"], n["from_cache"], n["met"]) == (1, 1, 2)
    assert not list((out / "failed").glob("*.cir"))  # the failure's netlist goes with it


def test_a_killed_sweep_resumes_without_recomputing_finished_points(tmp_path, cluster):
    import psutil

    # Nine points of about a second each on two workers: the kill lands well before the last one
    # (with three, all could be stored in the instant between two polls on a loaded machine)
    path = _plan(tmp_path, 'job = "level_trips"\nchip_set = { levels = 1 }\ntemperatures_c = [-40, 27, 85]\n'
                           'corners = ["tt", "ss", "ff"]\n')
    out = tmp_path / "out"
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "codesign.validation.sweep", str(path), "--out", str(out),
                             "--workers", "2", "--quiet"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while not list((out / "points").glob("*.json")):
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "no point stored in time"
            time.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stored = {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
    assert 1 <= len(stored) < 9
    assert (out / ".codesign.lock").exists()  # left by the dead process; the rerun takes it over
    # Dask's worker processes end with their parent
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left running: {alive}"
    rerun = subprocess.run([sys.executable, "-m", "codesign.validation.sweep", str(path), "--out", str(out),
                            "--scheduler", cluster.scheduler_address, "--quiet"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "took over the lock" in rerun.stderr
    result = _results(out)
    assert result["command"].endswith(f"-m codesign.validation.sweep {path} --out {out} --scheduler "
                                      f"{cluster.scheduler_address} --quiet")
    assert result["counts"]["computed"] == 9 - len(stored) and result["counts"]["from_cache"] == len(stored)
    assert [r["status"] for r in result["rows"]] == ["met"] * 9
    assert {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json") if p.name in stored} == stored


# ---------- cosim points ----------

def _one_unit_map(folder: Path, steps: int = 8) -> Path:
    """A map folder of one unit (z = input channel 0, alpha 0.5, beta 0.4) on a short task."""
    import numpy as np
    import torch

    from codesign.chip import ChipSpec
    from codesign.mapping.mapper import plan_network
    from codesign.mapping.write import write_map
    from codesign.training.recipe import recipe_from_dict
    from codesign.training.tasks import make_task
    from codesign.training.trainer import build_model

    recipe = recipe_from_dict({
        "name": "one-unit",
        "task": {"name": "cue_recall", "params": {"T": steps, "n_classes": 2, "n_train": 4, "n_val": 4,
                                                  "n_test": 4}},
        "model": {"cell": "cmru", "hidden": 1, "levels": 2}})
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = build_model(recipe, task)
    with torch.no_grad():
        layer = model.layers[0]
        layer.input.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
        layer.input.bias.zero_()
        layer.log_alpha.fill_(np.log(0.5))
        layer.log_beta.fill_(np.log(0.4))
    write_map(plan_network(recipe, task, model, ChipSpec()), folder, recipe=recipe.to_dict())
    return folder


def test_cosim_points_are_keyed_by_their_netlists_and_run(tmp_path, cluster):
    import numpy as np

    from codesign.validation.sweep.points import build_tasks

    _one_unit_map(tmp_path / "map")
    path = _plan(tmp_path, 'job = "network_cosim"\nmap_dirs = ["map"]\nsequences = 2\n')
    tasks = build_tasks(load_plan(path), 60)
    assert [t.point.sequence for t in tasks] == [0, 1] and len({t.key for t in tasks}) == 2
    unit = build_tasks(load_plan(_plan(tmp_path, 'job = "unit_cosim"\nmap_dirs = ["map"]\n', "u.toml")), 60)
    assert unit[0].key not in {t.key for t in tasks}
    one = _plan(tmp_path, 'job = "network_cosim"\npoints = [{ map_dir = "map", sequence = 1 }]\n', "one.toml")
    assert build_tasks(load_plan(one), 60)[0].key == tasks[1].key  # the same point, however it is listed
    out = tmp_path / "out"
    code = _sweep(one, "--out", out, "--scheduler", cluster.scheduler_address, "--quiet")
    (row,) = _results(out)["rows"]
    assert row["status"] in ("met", "not met") and code == (0 if row["status"] == "met" else 1)
    figures = row["figures"]
    assert row["sequence"] == 1 and {"decision_agreement", "worst_level_agreement"} <= set(figures)
    # the outputs are stored, so a sweep gives the task's accuracy on the circuit
    y_sw, y_circuit = (np.asarray(figures[k], dtype=float) for k in ("y_software", "y_circuit"))
    assert y_sw.shape == y_circuit.shape and y_sw.size >= 1 and np.isfinite(y_sw).all() and np.isfinite(y_circuit).all()
    # a netlist edited after codesign map: refused before anything runs
    spice = tmp_path / "map" / "network.spice"
    spice.write_text(spice.read_text() + "* edited\n")
    with pytest.raises(Exception, match="re-run codesign map"):
        _sweep(one, "--out", out, "--quiet")


def test_a_first_pass_point_is_its_own_point_and_names_its_solver_options(tmp_path):
    """solver = "first_pass": the same netlists, solved once (no recheck), keyed apart from the cascade's."""
    from codesign.validation.cosim import DEFAULT, FIRST_PASS, SOLVERS
    from codesign.validation.sweep.plan import SOLVER
    from codesign.validation.sweep.points import build_tasks

    assert tuple(SOLVERS) == SOLVER and SOLVERS["cascade"] is DEFAULT
    assert FIRST_PASS.recheck is None and FIRST_PASS.lines() == DEFAULT.lines()  # the first pass as it is
    _one_unit_map(tmp_path / "map")
    tasks = {}
    for solver in SOLVER:
        for job in ("network_cosim", "unit_cosim"):
            path = _plan(tmp_path, f'job = "{job}"\nmap_dirs = ["map"]\nsolver = "{solver}"\n', f"{solver}-{job}.toml")
            (tasks[solver, job],) = build_tasks(load_plan(path), 60)
            assert tasks[solver, job].solver == solver
    assert len({t.key for t in tasks.values()}) == 4
    default = build_tasks(load_plan(_plan(tmp_path, 'job = "network_cosim"\nmap_dirs = ["map"]\n', "d.toml")), 60)
    assert default[0].key == tasks["cascade", "network_cosim"].key  # the default: cached points keep their keys


def test_a_readout_zeroed_at_reset_is_keyed_apart_and_the_default_keeps_its_keys(tmp_path):
    from codesign.validation.cosim import READOUT_ZERO
    from codesign.validation.sweep.plan import READOUT_ZERO as PLAN_READOUT_ZERO
    from codesign.validation.sweep.points import build_tasks

    assert READOUT_ZERO == PLAN_READOUT_ZERO
    _one_unit_map(tmp_path / "map")
    head = 'job = "network_cosim"\nmap_dirs = ["map"]\n'
    tasks = {z: build_tasks(load_plan(_plan(tmp_path, f'{head}readout_zero = "{z}"\n', f"{z}.toml")), 60)[0]
             for z in READOUT_ZERO}
    (default,) = build_tasks(load_plan(_plan(tmp_path, head, "default.toml")), 60)
    assert tasks["reset"].readout_zero == "reset" and tasks["reset"].key != tasks["reference"].key
    assert default.key == tasks["reference"].key  # points stored before the key existed keep theirs
    for text, message in [('job = "unit_cosim"\nmap_dirs = ["map"]\nreadout_zero = "reset"\n',
                           "readout_zero: only for the job network_cosim"),
                          (f'{head}readout_zero = "midscale"\n', "readout_zero: must be one of")]:
        with pytest.raises(ConfigError, match=message):
            load_plan(_plan(tmp_path, text, "bad.toml"))


def test_points_fewer_than_local_workers_share_the_idle_cores(tmp_path):
    from codesign.validation.sweep.engine import share_cores
    from codesign.validation.sweep.points import build_tasks

    _one_unit_map(tmp_path / "map")
    tasks = build_tasks(load_plan(_plan(tmp_path, 'job = "network_cosim"\nmap_dirs = ["map"]\nsequences = 2\n')), 60)
    assert [t.ngspice_workers for t in share_cores(tasks[:1], 4, None)] == [4]
    assert [t.ngspice_workers for t in share_cores(tasks, 5, None)] == [2, 2]
    assert [t.ngspice_workers for t in share_cores(tasks, 2, None)] == [1, 1]
    assert [t.ngspice_workers for t in share_cores(tasks[:1], 4, "tcp://elsewhere:8786")] == [1]
    assert [t.key for t in share_cores(tasks, 8, None)] == [t.key for t in tasks]  # the cache key does not change


def test_a_worker_that_dies_fails_its_point_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import dask
    from distributed import LocalCluster

    from codesign.validation.sweep import engine
    from codesign.validation.sweep.points import build_tasks

    def die(task, trims=None):  # local: pickled by value, so the worker runs it as written here
        os._exit(3)

    tasks = build_tasks(load_plan(_plan(tmp_path, FAST + 'corners = ["tt"]\n')), 60)
    monkeypatch.setattr(engine, "compute", die)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        outcome = engine.run_sweep(tasks, tmp_path / "out", scheduler=c.scheduler_address, quiet=True)
    (record,) = outcome.records
    assert record["status"] == "failed" and record["error"] == "KilledWorker" and "died" in record["reason"]
    assert engine.read_record(tmp_path / "out", tasks[0].key)["status"] == "failed"  # stored


def test_points_run_in_the_plans_order_each_chip_trimmed_before_its_first(tmp_path, monkeypatch):
    import dataclasses

    from codesign.fsio import write_entry
    from codesign.validation.sweep import engine
    from codesign.validation.sweep.points import build_tasks

    log = tmp_path / "order.txt"

    def started(entry: str) -> None:  # local: pickled by value, so the worker runs it as written here
        with open(log, "a") as f:
            f.write(entry + "\n")
        time.sleep(0.3)

    def trim(task):
        started(f"trim {task.trim_key}")
        return {}

    def point(task, trims=None):
        started(f"point {task.point.corner}")
        return {"key": task.key, "axes": task.point.axes(), "status": "done", "figures": {}, "seconds": 0.3}

    tasks = build_tasks(load_plan(_plan(tmp_path, FAST + 'corners = ["tt", "ss", "ff", "sf", "fs"]\n')), 60)
    chips = ["a", "b", "a", "c", "b"]  # two utterances of chips a and b, one of c, utterance-major
    tasks = [dataclasses.replace(t, trim_key=k) for t, k in zip(tasks, chips)]
    monkeypatch.setattr(engine, "trim_chip", trim)
    monkeypatch.setattr(engine, "compute", point)
    write_entry(tmp_path / "out" / "trims" / "a.json", b"{}")  # chip a trimmed by an earlier run
    engine.run_sweep(tasks, tmp_path / "out", workers=1, quiet=True)  # the sweep's own local cluster
    order = log.read_text().split("\n")[:-1]
    assert order[0] == "point tt" and "trim a" not in order  # the first point waits for no trim
    assert [e for e in order if e.startswith("point")] == [f"point {t.point.corner}" for t in tasks]
    for k in "bc":  # each chip trimmed once, before its first point
        first = order.index(f"point {tasks[chips.index(k)].point.corner}")
        assert order.count(f"trim {k}") == 1 and order.index(f"trim {k}") < first


@pytest.mark.parametrize("text,message", [
    ('job = "network_cosim"\nmap_dirs = ["../elsewhere"]\n', "map_dirs[0]: '../elsewhere' must be a path inside"),
    ('job = "network_cosim"\nmap_dirs = ["/etc"]\n', "map_dirs[0]: '/etc' must be a path inside"),
    ('job = "level_trips"\nchip = "/etc/passwd"\n', "chip: '/etc/passwd' must be a path inside"),
    ('job = "level_trips"\nchip = ""\n', "chip: '' must be a path inside"),
    ('job = "level_trips"\nchip = "a\\u0000b"\n', "chip: 'a\\x00b' must be a path inside"),
    ('job = "network_cosim"\nmap_dirs = ["\\u0000"]\n', "map_dirs[0]: '\\x00' must be a path inside"),
])
def test_paths_in_a_plan_stay_inside_its_folder(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_plan(_plan(tmp_path, text))
