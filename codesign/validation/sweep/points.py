"""One point of a sweep: what a worker needs to compute it (`Task`), its
content hash (the cache key) and the computation itself (`compute`, run on a
Dask worker).

The key hashes everything that determines the result: for map-folder points
(cosim, unit_power) the netlist texts ngspice will run (stimuli, corner,
temperature, supply and the model file's path are in them) and the manifest;
for cell points the cell parameters, clock and bench settings (retention: its
step count) and the cell library's text; for every point the model library's content
hash (`codesign.pdk.expand_corner`; a Monte Carlo chip's is the `_mm`
library's), the ngspice settings, the corner, temperature and supply, the
Monte Carlo seed (absent for the plain corner, so those keys are unchanged)
and BENCH_VERSION (with a job's own record version where it has one). The ngspice timeout is not in it:
a finished result does not depend on it (failed points are rerun with
--retry-failed). Targets are not in it either: they are judged on the stored
figures when the report is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from codesign.chip import ChipSpec
from codesign.config import ConfigError
from codesign.validation.inputs import manifest_sha256 as _manifest_sha256
from codesign.validation.sweep.plan import CELL_JOBS, COSIM_JOBS, Plan, Point
from codesign.validation.unit import DEFAULT_Z

# Bump when a bench, or how its figures are computed, changes: every cached point is recomputed.
BENCH_VERSION = "sweep-bench-1"
# The cell benches' settings (the defaults of codesign.validation.characterize).
LEVEL_TRIPS_BENCH = {"sweep_v": 0.1, "step_v": 1e-3}
HYSTERESIS_BENCH = {"sweep_s": 0.2}
# On a Monte Carlo chip: montecarlo.wide_hysteresis_loop, +-4 beta*i_unit at the same slope.
HYSTERESIS_MC_BENCH = {"span_beta": 4.0, "sweep_s": 0.4}
# retention: the chip's real clock with slow edges, as codesign characterize --what retention (between
# edges only leakage moves, so the solver strides through the idle holds); ngspice runs of 1000 steps,
# each started from the voltage the last one ended on (characterize.retention's default).
RETENTION_CLOCK = {"t_edge_s": 20e-6}
RETENTION_BENCH = {"segment_steps": 1000}
# unit_power: the activity pattern of codesign validate --power (z in units of beta), twice.
UNIT_POWER_BENCH = {"z_beta": tuple(DEFAULT_Z), "repeats": 2}
# What a job's record holds, where it changed after BENCH_VERSION: in the key of that job's points only.
# cosim "levels-2": departures always solved down to reltol 1e-5 (a shortcut that stopped at 1e-4 let a flip through);
# network_cosim "outputs-3": the software's and the circuit's outputs are stored (task accuracy of a sweep)
# level_trips "one-chip-1": the 2L comparators in one netlist (in one netlist each, a Monte Carlo
# chip repeated one draw 2L times)
RECORD_VERSIONS = {"unit_cosim": "levels-2", "network_cosim": "outputs-3",  # the level traces are stored
                   "hysteresis": "in-beta-1",  # trip errors in beta*i_unit too
                   "level_trips": "one-chip-1"}


@dataclass(frozen=True)
class Task:
    point: Point
    key: str
    timeout_s: float
    chip: ChipSpec | None = None  # cell jobs
    manifest_sha256: str | None = None  # map-folder jobs: the manifest the key was computed from
    map_sequences: int | None = None  # cosim jobs: test sequences read from the map folder's task
    retention_steps: int | None = None  # retention: idle clock steps
    # ngspice processes inside one point (map-folder jobs run one netlist per unit): more than one
    # only when a local sweep has fewer points left than workers. Not in the key: results do not
    # depend on it.
    ngspice_workers: int = 1
    mirror_array: str = "coupled"  # network_cosim: "staged" solves a mirror array apart (codesign.validation.staged)
    array_load: str = "comparators"  # staged: what loads the array's rows at its operating points (ARRAY_LOADS)
    mirror_trim: str = "none"  # staged: "rows" trims each chip's array at test first (codesign.validation.array_trim)
    comparator_trim: str = "chip"  # "test" / "units": the comparators' thresholds trimmed at test (comparator_trim)
    trim_table: str = "none"  # "temperature": trims set at test at the point's temperature, not at 27 C
    readout_zero: str = "reference"  # network_cosim: codesign.validation.cosim.READOUT_ZERO
    solver: str = "cascade"  # cosim jobs: codesign.validation.cosim.SOLVERS
    # a chip trimmed at test: the content hash of its trimming (the netlists the trims follow from, the
    # DACs), the same for every point of one chip, whose trims are set once per sweep (`trim_chip`)
    trim_key: str | None = None
    # that chip's trims once set, not in the key: {"trims": TrimResult.summary (rows),
    # "comparator_trims": ComparatorTrim.summary or UnitComparatorTrims.summary}, each present when trimmed
    trims: dict | None = None


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


@lru_cache(maxsize=None)
def model_hash(corner: str) -> str:
    """Content hash of every model file the corner's library reads."""
    from codesign.pdk import expand_corner, locate_models

    return expand_corner(locate_models(), corner).source_hash


def _common(point: Point) -> dict:
    from codesign.pdk import pdk_description
    from codesign.validation.ngspice import RUNNER_SETTINGS

    out = {"bench_version": BENCH_VERSION, "job": point.job, "corner": point.corner, "temp_c": point.temp_c,
           "vdd_v": point.vdd_v, "models": model_hash(point.corner if point.mc_seed is None else f"{point.corner}_mm"),
           "ngspice_settings": {**pdk_description()["ngspice_settings"], **RUNNER_SETTINGS}}
    if point.mc_seed is not None:
        out["mc_seed"] = point.mc_seed
    if point.job in RECORD_VERSIONS:
        out["record_version"] = RECORD_VERSIONS[point.job]
    return out


def point_supply(point: Point, chip: ChipSpec):
    """The Supply a point simulates: the chip's at the point's corner, temperature and vdd, on its Monte Carlo chip."""
    return dataclasses.replace(chip.supply(point.corner, point.temp_c, point.vdd_v), mc_seed=point.mc_seed)


def packets_clock(chip: ChipSpec):
    """The cell benches' clock (as codesign characterize: 1 kHz, the chip's gap and restore)."""
    from codesign.validation.characterize import cell_clock

    return cell_clock(chip.clock(), chip.integrator().t_pkt_s)


def retention_clock(chip: ChipSpec):
    return dataclasses.replace(chip.clock(), **RETENTION_CLOCK)


def _integrator_key(chip: ChipSpec) -> dict:
    """The integrator's parameters in a cell point's key, without those added later while they stay at
    their template's defaults (such a point's netlist reads as before: its stored key holds)."""
    integrator = chip.integrator()
    params = dataclasses.asdict(integrator)
    if not integrator.readout_sizes():
        del params["readout_w_um"], params["readout_l_um"]
    return params


def _cell_content(point: Point, chip: ChipSpec, retention_steps: int) -> dict:
    from codesign.hardware.cells import cell_library

    if point.job == "level_trips":
        return {"params": _integrator_key(chip), "bench": LEVEL_TRIPS_BENCH,
                "cells": _sha256(cell_library("logic", "integrator"))}
    if point.job == "packets":
        return {"params": _integrator_key(chip), "clock": dataclasses.asdict(packets_clock(chip)),
                "cells": _sha256(cell_library("logic", "integrator"))}
    if point.job == "retention":
        return {"params": _integrator_key(chip), "clock": dataclasses.asdict(retention_clock(chip)),
                "bench": {"steps": retention_steps, **RETENTION_BENCH},
                "cells": _sha256(cell_library("logic", "integrator"))}
    return {"params": dataclasses.asdict(chip.comparator()),
            "bench": HYSTERESIS_BENCH if point.mc_seed is None else {"wide": HYSTERESIS_MC_BENCH},
            "cells": _sha256(cell_library("logic", "comparator"))}


@lru_cache(maxsize=8)
def _map_plan(map_dir: str, manifest_sha256: str):
    """The plan of a map folder, read once per process (build_tasks checks the folder's
    netlists at the start of every sweep)."""
    from codesign.validation.cosim import load_checked

    if _manifest_sha256(map_dir) != manifest_sha256:
        raise RuntimeError(f"{map_dir}/manifest.json changed since the sweep started")
    return load_checked(map_dir)


@lru_cache(maxsize=8)
def _mapped(map_dir: str, manifest_sha256: str, sequences: int):
    """(plan, test inputs x [sequences, T, n_in]) of a map folder, read once per process."""
    from codesign.validation.report import test_sequences

    return _map_plan(map_dir, manifest_sha256), test_sequences(map_dir, sequences)[0]


@lru_cache(maxsize=8)
def _calibration(map_dir: str, manifest_sha256: str):
    """The calibration vectors a chip of this map folder is trimmed on, read once per process."""
    from codesign.validation.array_trim import map_calibration_inputs

    return map_calibration_inputs(map_dir)


def trim_supply(point: Point, chip: ChipSpec, trim_table: str = "none"):
    """Where the point's chip is trimmed (`array_trim.supply_at_test`): at 27 C, or with a table
    of trims per temperature at the point's own temperature (the nominal supply either way)."""
    from codesign.validation.array_trim import supply_at_test

    return supply_at_test(chip, point.corner, point.mc_seed, point.temp_c if trim_table == "temperature" else 27.0)


def _trim_content(point: Point, plan, manifest: str, mirror_trim: str, comparator_trim: str,
                  trim_table: str, array_load: str = "comparators") -> list[str]:
    """What a chip's trims follow from: the row trims' calibration netlist (the chip, where it is
    trimmed, the calibration vectors) and DACs; the comparator trims' first loops (the replica's,
    or every unit's on its own draw) and DAC step."""
    from codesign.validation import comparator_trim as ct
    from codesign.validation.array_trim import TrimDac
    from codesign.validation.synapses import array_bench

    supply, out = trim_supply(point, plan.chip, trim_table), []
    if mirror_trim == "rows":
        x_cal = _calibration(point.map_dir, manifest)
        out += [array_bench(plan, x_cal, supply, load=array_load), repr(TrimDac()), "trim-rows-1"]
    if comparator_trim == "test":
        out += [ct.trim_bench(plan.chip, ct.replica_supply(supply)), repr(ct.STEP_BETA), ct.VERSION]
    elif comparator_trim == "units":
        out += [ct.unit_trim_bench(plan, u, supply) for u in plan.units] + [repr(ct.STEP_BETA), ct.UNITS_VERSION]
    return out


def _cosim_netlists(point: Point, plan, x, mirror_array: str, trim: list[str], solver: str,
                    array_load: str = "comparators") -> list[str]:
    """The netlists the point's co-simulation runs first (with the solver's options, which also
    name the tolerances a departure is solved again with). Staged: the array's netlist (the
    units' follow from its currents, the manifest and the options); trimmed, `trim` before it
    (`_trim_content`: the trims follow from it)."""
    from codesign.mapping.reference import software_states
    from codesign.validation.cosim import SOLVERS, network_bench, network_groups, solver_key, unit_bench, unit_groups
    from codesign.validation.staged import array_benches

    options = SOLVERS[solver]
    key = solver_key(options, plan.chip.kind)
    supply = point_supply(point, plan.chip)
    xs = x[point.sequence:point.sequence + 1]
    if mirror_array == "staged":
        return trim + array_benches(plan, xs, supply, load=array_load) + [key, "staged-3"]  # 3: the array's errors kept
    if point.job == "network_cosim":
        groups = network_groups(plan, options, supply)
        return [network_bench(plan, xs[0], supply, options, g) for g in groups] + [key]
    zs, _ = software_states(plan, xs)
    return [unit_bench(plan, dataclasses.replace(layer, units=g), zs[li][0], supply, options)
            for li, layer in enumerate(plan.layers) for g in unit_groups(layer, options)] + [key]


def _power_netlists(point: Point, plan) -> list[str]:
    """The netlists mapped_unit_power runs first at the point, one per unit (the pattern repeated as it
    does), and the solver options that also name the tolerances a unit off its levels is solved again with."""
    from codesign.validation.cosim import DEFAULT, solver_key
    from codesign.validation.power import power_bench

    supply = point_supply(point, plan.chip)
    zs = list(UNIT_POWER_BENCH["z_beta"]) * UNIT_POWER_BENCH["repeats"]
    return [power_bench(plan, u, supply, zs, DEFAULT) for u in plan.units] + [solver_key(DEFAULT, plan.chip.kind)]


def _key(content: dict) -> str:
    return _sha256(json.dumps(content, sort_keys=True))


def _cell_task(p: Point, plan: Plan, timeout_s: float) -> Task:
    steps = plan.settings.retention_steps if p.job == "retention" else None
    content = {**_common(p), **_cell_content(p, plan.chip, steps)}
    return Task(p, _key(content), timeout_s, chip=plan.chip, retention_steps=steps)


def _cosim_task(p: Point, timeout_s: float, manifest: str, sequences: int, settings) -> Task:
    try:
        mapped = _mapped(p.map_dir, manifest, sequences)
    except ValueError as err:  # fewer test sequences than asked, no training recipe
        raise ConfigError(f"sequences: {sequences} asked of {p.map_dir}: {err}") from None
    trim = _trim_content(p, mapped[0], manifest, settings.mirror_trim, settings.comparator_trim, settings.trim_table,
                         settings.array_load)
    mirror_array, solver = settings.mirror_array, settings.solver
    netlists = _cosim_netlists(p, *mapped, mirror_array, trim, solver, settings.array_load)
    content = {**_common(p), "manifest": manifest, "sequence": p.sequence, "netlists": [_sha256(t) for t in netlists]}
    if settings.readout_zero != "reference":  # keyed only when set: the points stored before it keep theirs
        content["readout_zero"] = settings.readout_zero
    trim_key = None
    if trim:  # the chip, not where it runs: every point of one chip shares its trims
        chip = {k: v for k, v in _common(p).items() if k not in ("job", "temp_c", "vdd_v")}
        trim_key = _key({**chip, "trim": [_sha256(t) for t in trim]})
    return Task(p, _key(content), timeout_s, manifest_sha256=manifest, map_sequences=sequences,
                mirror_array=mirror_array, array_load=settings.array_load, mirror_trim=settings.mirror_trim,
                comparator_trim=settings.comparator_trim,
                trim_table=settings.trim_table, readout_zero=settings.readout_zero, solver=solver, trim_key=trim_key)


def _unit_power_task(p: Point, timeout_s: float, manifest: str) -> Task:
    netlists = _power_netlists(p, _map_plan(p.map_dir, manifest))
    content = {**_common(p), "manifest": manifest, "bench": UNIT_POWER_BENCH,
               "netlists": [_sha256(t) for t in netlists]}
    return Task(p, _key(content), timeout_s, manifest_sha256=manifest)


def build_tasks(plan: Plan, timeout_s: float) -> list[Task]:
    """A Task with its key for each point of the plan (map folders are read and checked here)."""
    from codesign.validation.cosim import load_checked

    map_dirs = list(dict.fromkeys(p.map_dir for p in plan.points if p.map_dir is not None))
    manifests = {d: _manifest_sha256(d) for d in map_dirs}
    for d in map_dirs:  # every sweep checks its map folders' netlists again (NetlistEdited)
        load_checked(d)
    sequences = {}  # map_dir -> test sequences the cosim points need
    for p in plan.points:
        if p.job in COSIM_JOBS:
            sequences[p.map_dir] = max(sequences.get(p.map_dir, 0), p.sequence + 1)
    tasks = []
    for p in plan.points:
        if p.job in CELL_JOBS:
            tasks.append(_cell_task(p, plan, timeout_s))
        elif p.job in COSIM_JOBS:
            tasks.append(_cosim_task(p, timeout_s, manifests[p.map_dir], sequences[p.map_dir], plan.settings))
        else:
            tasks.append(_unit_power_task(p, timeout_s, manifests[p.map_dir]))
    return tasks


# ---------- on the worker ----------

def _level_trips(task: Task, supply) -> dict:
    from codesign.validation.characterize import level_comparator_trips

    ip = task.chip.integrator()
    errors = level_comparator_trips(ip, supply, timeout_s=task.timeout_s, **LEVEL_TRIPS_BENCH)
    # nan (the comparator never switched) stays nan: worse than any target
    return {"trip_errors_v": [float(e) for e in errors], "dv_level_v": ip.dv_level_v,
            "worst_trip_error_levels": float(max(abs(e) for e in errors) / ip.dv_level_v)}


def _hysteresis(task: Task, supply) -> dict:
    from codesign.validation.characterize import hysteresis_loop
    from codesign.validation.montecarlo import wide_hysteresis_loop

    try:
        if supply.mc_seed is None:
            h = hysteresis_loop(task.chip.comparator(), supply, timeout_s=task.timeout_s, **HYSTERESIS_BENCH)
        else:
            h = wide_hysteresis_loop(task.chip.comparator(), supply, timeout_s=task.timeout_s, **HYSTERESIS_MC_BENCH)
    except RuntimeError as err:
        if supply.mc_seed is None:
            raise
        # A Monte Carlo chip whose threshold lies outside the loop's sweep (+-4 beta*i_unit around
        # i_bias): a measured tail of the distribution, not a failure. nan misses every target.
        nan = float("nan")
        return {"switched": False, "reason": str(err)[:200], **dict.fromkeys(
            ("up_on_a", "up_off_a", "dn_on_a", "dn_off_a", "up_on_rel", "dn_on_rel", "up_on_in_beta",
             "dn_on_in_beta", "worst_threshold_error_rel"), nan)}
    e = h.errors()
    return {"up_on_a": h.up_on_a, "up_off_a": h.up_off_a, "dn_on_a": h.dn_on_a, "dn_off_a": h.dn_off_a,
            "up_on_rel": e["up_on_rel"], "dn_on_rel": e["dn_on_rel"], "up_on_in_beta": e["up_on_in_beta"],
            "dn_on_in_beta": e["dn_on_in_beta"],
            "worst_threshold_error_rel": max(abs(e["up_on_rel"]), abs(e["dn_on_rel"]))}


def ideal_levels(ip, direction: list[int]) -> list[int]:
    """The levels an ideal saturating counter reaches from level 0 after each step."""
    k, out = 0, []
    for d in direction:
        k = max(-ip.levels_per_side, min(ip.levels_per_side, k + d))
        out.append(k)
    return out


def _packets(task: Task, supply) -> dict:
    """Packet sizes up and down (unsaturated steps, relative to one level), the levels the restore
    kept against an ideal counter's, and the readout gain (least-squares slope of the readout
    current over the restored levels, relative to i_step_a)."""
    import numpy as np

    from codesign.validation.characterize import charge_packets

    ip = task.chip.integrator()
    pk = charge_packets(ip, packets_clock(task.chip), supply, timeout_s=task.timeout_s)
    L, dv = ip.levels_per_side, ip.dv_level_v
    d = np.array(pk.direction)
    free = np.array([-L <= k + s <= L for k, s in zip(pk.from_level, pk.direction)])
    size = pk.dv_v * d / dv  # packets in levels, signed along their direction
    restored = [int(round((v - ip.level_v(0)) / dv)) for v in pk.restored_v]
    ideal = ideal_levels(ip, pk.direction)
    kept = np.array([-L <= k <= L for k in restored])
    nan = float("nan")
    gain = nan
    if len(set(np.array(restored)[kept])) >= 2:
        gain = float(np.polyfit(np.array(restored)[kept], pk.readout_a[kept], 1)[0] / ip.i_step_a - 1)
    mean = lambda m: float(size[m].mean() - 1) if m.any() else nan  # noqa: E731
    return {"dv_v": [float(v) for v in pk.dv_v], "direction": pk.direction, "from_level": pk.from_level,
            "restored_level": restored, "ideal_level": ideal, "readout_a": [float(a) for a in pk.readout_a],
            "packet_up_rel": mean(free & (d > 0)), "packet_dn_rel": mean(free & (d < 0)),
            "worst_packet_error_rel": float(np.max(np.abs(size[free] - 1))) if free.any() else nan,
            "wrong_levels": int(sum(a != b for a, b in zip(restored, ideal))),
            "readout_gain_rel": gain, "dv_level_v": dv, "i_step_a": ip.i_step_a}


def _retention(task: Task, supply) -> dict:
    """The top level held through the idle steps: the level restored after the last one, and
    the worst droop just before a restore (in V and in levels)."""
    from codesign.validation.characterize import retention

    ip = task.chip.integrator()
    r = retention(ip, retention_clock(task.chip), supply, steps=task.retention_steps, timeout_s=task.timeout_s,
                  **RETENTION_BENCH)
    return {"steps": task.retention_steps, "level": r.level, "final_level": r.final_level,
            "kept": r.final_level == r.level, "worst_droop_v": r.worst_droop_v,
            "worst_droop_levels": r.worst_droop_v / ip.dv_level_v, "dv_level_v": ip.dv_level_v,
            "restored_first_v": float(r.restored_v[0]), "restored_last_v": float(r.restored_v[-1])}


def _unit_power(task: Task, supply) -> dict:
    """Every unit's power as mapped (power.mapped_unit_power: total, supply and readout, W)."""
    from codesign.validation.power import mapped_unit_power

    plan = _map_plan(task.point.map_dir, task.manifest_sha256)
    units = mapped_unit_power(plan, supply, workers=task.ngspice_workers, timeout_s=task.timeout_s, **UNIT_POWER_BENCH)
    units = [{k: v if k == "unit" else float(v) for k, v in u.items()} for u in units]
    return {"units": units, "worst_unit_power_w": max(u["total_w"] for u in units),
            "units_off_contract": sum(not u["follows_contract"] for u in units)}


def _trim(task: Task) -> dict:
    """The point's chip trimmed at test: {"trims": the rows' (array_trim.TrimResult.summary),
    "comparator_trims": the comparators' (comparator_trim.ComparatorTrim.summary, or
    UnitComparatorTrims.summary for each unit's own)}, each if asked."""
    from codesign.validation.array_trim import trim_array
    from codesign.validation.comparator_trim import replica_supply, trim_comparators, trim_unit_comparators

    p = task.point
    plan = _map_plan(p.map_dir, task.manifest_sha256)
    supply, out = trim_supply(p, plan.chip, task.trim_table), {}
    if task.mirror_trim == "rows":
        out["trims"] = trim_array(plan, _calibration(p.map_dir, task.manifest_sha256), supply,
                                  timeout_s=task.timeout_s, load=task.array_load).summary()
    if task.comparator_trim == "test":
        replica = trim_comparators(plan.chip, replica_supply(supply), timeout_s=task.timeout_s)
        out["comparator_trims"] = replica.summary()
    elif task.comparator_trim == "units":
        out["comparator_trims"] = trim_unit_comparators(plan, supply, workers=task.ngspice_workers,
                                                        timeout_s=task.timeout_s).summary()
    return out


def trim_chip(task: Task) -> dict:
    """A chip's trims for every point of it (run once per chip on a worker): what `_trim` returns,
    or the failure each of its points records (`_failure`)."""
    try:
        return _trim(task)
    except Exception as err:
        failure = _failure(err)
        return {**failure, "reason": f"trimming the chip at test: {failure['reason']}"}


def _cosim(task: Task, supply) -> dict:
    from codesign.validation.cosim import SOLVERS, cosim_network, cosim_units
    from codesign.validation.staged import cosim_network_staged

    p, options = task.point, SOLVERS[task.solver]
    plan, x = _mapped(p.map_dir, task.manifest_sha256, task.map_sequences)
    xs, delivered = x[p.sequence:p.sequence + 1], None
    if p.job == "unit_cosim":
        layers = cosim_units(plan, xs, supply, workers=task.ngspice_workers, timeout_s=task.timeout_s, options=options)
        out = {"solver": task.solver, "netlists_solved_tight": sum(c.solved_tight for c in layers)}
    else:
        row_trims, record = None, {}
        if task.trim_key is not None:  # the chip trimmed at test, then co-simulated with its trims
            from codesign.validation.array_trim import TrimResult
            from codesign.validation.comparator_trim import ComparatorTrim, UnitComparatorTrims

            trims = task.trims or _trim(task)
            record = {**trims, "trim_key": task.trim_key, "trim_table": task.trim_table}
            if "trims" in trims:
                row_trims, record["mirror_trim"] = TrimResult.from_summary(trims["trims"]).trims, "rows"
            if "comparator_trims" in trims:
                kind = UnitComparatorTrims if task.comparator_trim == "units" else ComparatorTrim
                plan = kind.from_summary(trims["comparator_trims"]).apply(plan)
                record["comparator_trim"] = task.comparator_trim
        if task.mirror_array == "staged":
            n = cosim_network_staged(plan, xs, supply, workers=task.ngspice_workers, timeout_s=task.timeout_s,
                                     options=options, trims=row_trims, readout_zero=task.readout_zero,
                                     array_load=task.array_load)
        else:
            n = cosim_network(plan, xs, supply, workers=task.ngspice_workers, timeout_s=task.timeout_s,
                              options=options, readout_zero=task.readout_zero)
        s, layers = n.summary(), n.layers
        out = {"solver": task.solver, "mirror_array": task.mirror_array, **record,
               "decision_agreement": s["decision_agreement"],
               "output_rmse": s["output_rmse"],
               "netlists_solved_tight": s["netlists_solved_tight"],
               "y_software": n.y_software[0].tolist(), "y_circuit": n.y_circuit[0].tolist()}
        if n.y_circuit_reference is not None:  # zeroed at reset: the reference readout's outputs beside
            out["readout_zero"], out["y_circuit_reference"] = task.readout_zero, n.y_circuit_reference[0].tolist()
        if n.row_currents_a is not None:  # staged: the array's currents against the contract (units of I_unit)
            out["array_load"] = task.array_load  # on a Monte Carlo chip each load is another draw of the array
            from codesign.validation.staged import delivered_levels
            from codesign.validation.synapses import against_contract

            array = against_contract(plan, xs[0], n.row_currents_a[0]).summary()
            out["array"] = {k: v for k, v in array.items() if k != "units"}
            # what the array and the units each did: the golden model's levels on the delivered currents
            # against the software's (the array's share of a departure), the circuit's against those
            delivered = delivered_levels(plan, n.row_currents_a)[0]  # [T, d]
            out["delivered_level_agreement"] = float((delivered == layers[0].k_software[0]).mean())
            out["units_on_delivered_level_agreement"] = float((delivered == layers[0].k_circuit[0]).mean())
    rows = [r for c in layers for r in c.per_unit()]
    # software and circuit levels of every unit on this sequence: the report overlays the worst points'
    traces = [{"layer": c.layer, "unit": name, "alpha": float(c.alpha[i]),
               "k_software": [int(k) for k in c.k_software[0, :, i]],
               "k_circuit": [int(k) for k in c.k_circuit[0, :, i]]}
              | ({} if delivered is None else {"k_delivered": [int(k) for k in delivered[:, i]]})
              for c in layers for i, name in enumerate(c.units)]
    return {**out, "worst_level_agreement": min(r["level_agreement"] for r in rows),
            "units": [{k: r[k] for k in ("unit", "level_agreement", "mismatched_steps", "first_divergence",
                                         "transition_agreement", "wrong_transitions", "farthest_wrong_transition")}
                      for r in rows], "traces": traces}


JOB_FUNCTIONS = {"level_trips": _level_trips, "hysteresis": _hysteresis, "packets": _packets,
                 "retention": _retention, "unit_cosim": _cosim, "network_cosim": _cosim, "unit_power": _unit_power}


def _cpu_s() -> tuple[float, float]:
    """(this process's CPU seconds, its finished children's): the Python side and ngspice."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def _failure(err: Exception) -> dict:
    """A failed point's fields: the reason, and for a simulator failure the kept netlist's path and
    text; for another error (e.g. a comparator that never switched), the traceback."""
    from codesign.validation.ngspice import NgspiceError

    if isinstance(err, NgspiceError):
        netlist = Path(err.netlist) if err.netlist else None
        return {"status": "failed", "error": type(err).__name__, "reason": str(err).split("\n--- ngspice log")[0],
                "kept_netlist": str(netlist) if netlist else None,
                "netlist_text": netlist.read_text() if netlist and netlist.is_file() else None}
    return {"status": "failed", "error": type(err).__name__, "reason": str(err),
            "traceback": traceback.format_exc(limit=6)}


def compute(task: Task, trims: dict | None = None) -> dict:
    """The point's record: status "done" with its figures, or "failed" with the reason (and, for a
    simulator failure, the kept netlist's path and text). Runs on a worker, one point at a time.
    trims: what `trim_chip` returned for the point's chip (the chip is trimmed here without it)."""
    p = task.point
    started, (own0, cpu0) = time.perf_counter(), _cpu_s()
    record = {"key": task.key, "axes": p.axes()}
    if trims is not None and "error" in trims:
        return {**record, "status": "failed", **trims, "seconds": None}
    if trims is not None:
        task = dataclasses.replace(task, trims=trims)
    try:
        supply = point_supply(p, task.chip or _map_plan(p.map_dir, task.manifest_sha256).chip)
        record.update(status="done", figures=JOB_FUNCTIONS[p.job](task, supply))
    except Exception as err:  # a simulator failure, or a bench that could not measure
        record.update(_failure(err))
    # ngspice runs in child processes this worker waits for: their CPU time is ngspice's, the
    # worker's own is the Python side of the point (bench, parsing, figures), whatever the load
    own, children = _cpu_s()
    record.update(seconds=time.perf_counter() - started, ngspice_cpu_s=children - cpu0, python_cpu_s=own - own0,
                  worker_pid=os.getpid())
    return record
