"""A sweep plan: a TOML file read like a recipe (frozen dataclasses through
`codesign.config.from_dict`; an unknown key, a wrong type or a value out of
range is a ConfigError naming the key), and the points it names.

    job = "level_trips"              # cell jobs: level_trips | hysteresis | packets | retention
                                     # map-folder jobs: unit_cosim | network_cosim | unit_power
    chip = "sky130_subthreshold"     # cell jobs: a preset or a chip file (relative to the plan)
    chip_set = { levels = 1 }        # cell jobs: chip keys overridden
    corners = ["tt", "ss"]           # default: the chip's corners
    temperatures_c = [27, 85]        # default: the chip's temp_c
    supplies = [-0.1, 0, 0.1]        # relative to the chip's vdd_v; default [0]
    map_dirs = ["runs/x/map"]        # map-folder jobs: map folders (inside the plan's folder)
    sequences = 4                    # cosim jobs: test sequences 0..3, one point each
    mirror_array = "staged"          # network_cosim, mirror-array chips: the array solved first, then
                                     # each unit alone (codesign.validation.staged); default "coupled"
    array_load = "input_stage"       # staged: the array's operating points (stage 1 and the row trims)
                                     # loaded by each comparator's input diode alone, the same DC load
                                     # (codesign.validation.synapses.ARRAY_LOADS); default
                                     # "comparators", the whole comparators, as points stored before
    mirror_trim = "rows"             # staged: each chip's array trimmed at test first, two DACs per
                                     # row (codesign.validation.array_trim); default "none"
    comparator_trim = "test"         # network_cosim: the comparators' threshold trims set at test on
                                     # each chip (codesign.validation.comparator_trim); default "chip",
                                     # the chip file's; "units": each unit's own, on its own trip
                                     # points (staged only)
    trim_table = "temperature"       # trims set at test at each point's temperature (a sensor and a
                                     # table on the chip); default "none": set at 27 C
    readout_zero = "reset"           # network_cosim, one unit per netlist: each unit's readout zeroed
                                     # on its own output at power-on reset; default "reference", the
                                     # ideal L alpha I_unit (codesign.validation.cosim.READOUT_ZERO)
    solver = "first_pass"            # cosim jobs: the first ngspice run is the verdict, departures
                                     # not solved again (codesign.validation.cosim.SOLVERS); default
                                     # "cascade", each departure solved down the tolerance cascade
    retention_steps = 1000           # retention: idle clock steps at the chip's clock (integrator hardware)
    monte_carlo = { samples = 200, seed = 1 }  # Monte Carlo chips seed..seed+199 at every point
    [targets]                        # thresholds a finished point is judged against

Jobs: the cell jobs run a bench of `codesign.validation.characterize` on the
chip's cells (level_trips: the level comparators' DC sweeps; hysteresis: the
comparator's loop; packets: charge packets at the 1 kHz cell clock; retention:
`retention_steps` idle steps at the chip's clock, integrator hardware only).
The map-folder jobs run on each map folder's netlists with its manifest's chip
(unit_cosim, network_cosim: one test sequence per point; unit_power: every
unit's power as mapped, `codesign.validation.power`, no sequences). A key only
some jobs read (map_dirs, sequences, solver, mirror_array, array_load, mirror_trim,
comparator_trim, trim_table, readout_zero, retention_steps; chip and chip_set for the map-folder jobs) is refused,
naming it, when given for another.

Points are the product of the axes, or an explicit list:

    points = [{ corner = "ss", temp_c = 85, supply = -0.1, mc_seed = 3 }, ...]

Map folders and chip files must lie inside the plan's folder (its subfolders
included), and each map folder must hold a manifest.json.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from codesign.chip import DEFAULT_PRESET, PRESETS, ChipSpec, chip_from_dict
from codesign.config import ConfigError, from_dict, limits, path_inside, read_file
from codesign.hardware.params import MC_SEED_MAX, TEMP_RANGE_C, VDD_RANGE_V
from codesign.pdk import corners as known_corners
from codesign.validation.commands import MAX_STEPS as MAX_RETENTION_STEPS
from codesign.validation.ngspice import MAX_TIMEOUT_S

COSIM_JOBS = ("unit_cosim", "network_cosim")  # map folders driven by their test sequences
MAP_JOBS = COSIM_JOBS + ("unit_power",)  # the jobs on map folders (each folder's manifest names the chip)
CELL_JOBS = ("level_trips", "hysteresis", "packets", "retention")  # the jobs on a chip spec's cells
JOBS = MAP_JOBS + CELL_JOBS
# Keys only some jobs read: given for another job they are refused, so a plan never looks like it set
# something the job ignores.
JOB_KEYS = {"map_dirs": MAP_JOBS, "sequences": COSIM_JOBS, "retention_steps": ("retention",),
            "mirror_array": ("network_cosim",), "array_load": ("network_cosim",), "mirror_trim": ("network_cosim",),
            "comparator_trim": ("network_cosim",), "trim_table": ("network_cosim",),
            "readout_zero": ("network_cosim",), "solver": COSIM_JOBS}
MIRROR_ARRAY = ("coupled", "staged")  # network_cosim on a mirror-array chip: codesign.validation.staged
MIRROR_TRIM = ("none", "rows")  # staged: the chip's array as drawn, or trimmed per row at test (array_trim)
# the chip file's threshold trims, set at test on a replica, or on each unit's own comparator (comparator_trim)
COMPARATOR_TRIM = ("chip", "test", "units")
TRIM_TABLE = ("none", "temperature")  # trims set at 27 C, or at each point's temperature
READOUT_ZERO = ("reference", "reset")  # network_cosim: codesign.validation.cosim.READOUT_ZERO
SOLVER = ("cascade", "first_pass")  # cosim jobs: codesign.validation.cosim.SOLVERS
ARRAY_LOADS = ("comparators", "input_stage")  # staged: codesign.validation.synapses.ARRAY_LOADS
AXES = ("corners", "temperatures_c", "supplies", "map_dirs", "sequences", "monte_carlo")
MAX_POINTS = 10_000
MAX_AXIS_VALUES = 1_000
MAX_SEQUENCES = 1_000
MAX_MC_SAMPLES = 10_000
_TEMP = limits(*TEMP_RANGE_C)
_SUPPLY = limits(-0.5, 0.5)


@dataclass(frozen=True)
class SweepTargets:
    """What a finished point must reach; judged when the report is written, so changing a
    target re-judges the cached points without simulating them again."""

    min_level_agreement: float = field(default=0.999, metadata=limits(0, 1))  # cosim: worst unit
    min_decision_agreement: float = field(default=1.0, metadata=limits(0, 1))  # network_cosim
    # level_trips: |trip point - boundary| in levels; at half a level the restore picks the wrong level.
    max_trip_error_levels: float = field(default=0.25, metadata=limits(0, 10))
    # hysteresis: |trip current / target threshold - 1| of the up and dn thresholds.
    max_threshold_error_rel: float = field(default=0.05, metadata=limits(0, 10))
    # packets: |packet / level - 1| of the unsaturated steps; the restore picks the wrong level at 0.5.
    max_packet_error_rel: float = field(default=0.25, metadata=limits(0, 10))
    # packets: steps whose restored level differs from the ideal counter's.
    max_wrong_levels: int = field(default=0, metadata=limits(0, 1000))
    # retention: |level - v(vc)| just before a restore, in levels; the restore picks the wrong level at 0.5.
    # (The level must also be kept: restored to the one it started at after the last step.)
    max_droop_levels: float = field(default=0.25, metadata=limits(0, 10))
    # unit_power: the most power one mapped unit may draw (codesign validate --max-unit-power).
    max_unit_power_w: float = field(default=10e-9, metadata=limits(0, 1e-3, lo_open=True))


@dataclass(frozen=True)
class MonteCarlo:
    """`monte_carlo = { samples = 200, seed = 1 }`: every point of the other axes on Monte Carlo
    chips seed, seed+1, ..., seed+samples-1 (device mismatch drawn by ngspice, codesign.validation.montecarlo)."""

    samples: int = field(default=0, metadata=limits(1, MAX_MC_SAMPLES))
    seed: int = field(default=1, metadata=limits(1, MC_SEED_MAX))

    def seeds(self) -> range:
        return range(self.seed, self.seed + self.samples)


@dataclass(frozen=True)
class PointEntry:
    """One entry of an explicit `points = [...]` list; absent values take the chip's."""

    corner: str | None = field(default=None, metadata=limits(choices=tuple(known_corners())))
    temp_c: float | None = field(default=None, metadata=_TEMP)
    supply: float = field(default=0.0, metadata=_SUPPLY)
    sequence: int | None = field(default=None, metadata=limits(0, MAX_SEQUENCES - 1))  # cosim jobs
    map_dir: str | None = None  # map-folder jobs
    mc_seed: int | None = field(default=None, metadata=limits(1, MC_SEED_MAX))  # Monte Carlo chip


@dataclass(frozen=True)
class PlanFile:
    job: str = field(default="", metadata=limits(choices=JOBS))
    chip: str = DEFAULT_PRESET
    chip_set: dict = field(default_factory=dict)
    corners: tuple[str, ...] = field(default=(), metadata=limits(choices=tuple(known_corners())))
    temperatures_c: tuple[float, ...] = field(default=(), metadata=_TEMP)
    supplies: tuple[float, ...] = field(default=(0.0,), metadata=_SUPPLY)
    map_dirs: tuple[str, ...] = ()
    sequences: int = field(default=1, metadata=limits(1, MAX_SEQUENCES))
    retention_steps: int = field(default=1000, metadata=limits(1, MAX_RETENTION_STEPS))
    mirror_array: str = field(default="coupled", metadata=limits(choices=MIRROR_ARRAY))
    array_load: str = field(default="comparators", metadata=limits(choices=ARRAY_LOADS))
    mirror_trim: str = field(default="none", metadata=limits(choices=MIRROR_TRIM))
    comparator_trim: str = field(default="chip", metadata=limits(choices=COMPARATOR_TRIM))
    trim_table: str = field(default="none", metadata=limits(choices=TRIM_TABLE))
    readout_zero: str = field(default="reference", metadata=limits(choices=READOUT_ZERO))
    solver: str = field(default="cascade", metadata=limits(choices=SOLVER))
    points: tuple[PointEntry, ...] = ()
    monte_carlo: MonteCarlo | None = None
    targets: SweepTargets = field(default_factory=SweepTargets)
    timeout_s: float = field(default=600.0, metadata=limits(0, MAX_TIMEOUT_S, lo_open=True))  # one ngspice run


@dataclass(frozen=True)
class Point:
    """One point, every value resolved (absolute supply, the chip's defaults filled in)."""

    job: str
    corner: str
    temp_c: float
    supply: float  # relative change of the chip's vdd_v
    vdd_v: float
    sequence: int | None = None  # cosim jobs
    map_dir: str | None = None  # map-folder jobs
    mc_seed: int | None = None  # Monte Carlo chip; None: the plain corner

    def axes(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Plan:
    path: Path
    text: str  # the file as written, echoed in the report
    settings: PlanFile
    points: tuple[Point, ...]
    chip: ChipSpec | None  # cell jobs

    @property
    def job(self) -> str:
        return self.settings.job


def _inside(name: str, key: str, folder: Path) -> Path:
    """A path the plan names (a chip file, a map folder), never the plan's folder itself."""
    if not name:
        raise ConfigError(f"{key}: '' must be a path inside the plan's folder {folder}")
    return path_inside(name, key, folder, "plan's")


def _resolve_chip(settings: PlanFile, folder: Path) -> ChipSpec:
    if settings.chip in PRESETS:
        data = {"preset": settings.chip}
    else:
        try:
            data = read_file(_inside(settings.chip, "chip", folder))
        except ConfigError as err:
            raise ConfigError(f"chip: {err}" if not str(err).startswith("chip:") else str(err)) from None
    return chip_from_dict({**data, **settings.chip_set}, "chip_set" if settings.chip_set else "chip")


def _map_dir(name: str, key: str, folder: Path) -> str:
    path = _inside(name, key, folder)
    if not (path / "manifest.json").is_file():
        raise ConfigError(f"{key}: {path} is not a map folder (no manifest.json); write it with codesign map")
    return str(path)


def _map_chip(map_dir: str) -> ChipSpec:
    from codesign.manifest import load_manifest

    return load_manifest(map_dir)[0].chip


def _jobs_text(jobs: tuple[str, ...]) -> str:
    return f"the job{'s' if len(jobs) > 1 else ''} {', '.join(jobs)}"


def _check_points(settings: PlanFile) -> None:
    on_maps = settings.job in MAP_JOBS
    for i, p in enumerate(settings.points):
        if p.sequence is not None and settings.job not in COSIM_JOBS:
            raise ConfigError(f"points[{i}].sequence: only for {_jobs_text(COSIM_JOBS)} (job is {settings.job!r})")
        if p.map_dir is not None and not on_maps:
            raise ConfigError(f"points[{i}].map_dir: only for {_jobs_text(MAP_JOBS)} (job is {settings.job!r})")
        if on_maps and p.map_dir is None:
            raise ConfigError(f"points[{i}].map_dir: missing (a {settings.job} point needs its map folder)")


def _check_job_keys(settings: PlanFile, given: set[str]) -> None:
    on_maps = settings.job in MAP_JOBS
    for key, jobs in JOB_KEYS.items():
        if key in given and settings.job not in jobs:
            raise ConfigError(f"{key}: only for {_jobs_text(jobs)} (job is {settings.job!r})")
    for key in ("chip", "chip_set"):
        if key in given and on_maps:
            raise ConfigError(f"{key}: {settings.job} uses the chip of each map folder's manifest; remove {key}")
    _check_points(settings)
    mc = settings.monte_carlo
    if mc is not None and mc.samples == 0:  # the default stands for "not given"
        raise ConfigError("monte_carlo.samples: missing (how many Monte Carlo chips)")
    if mc is not None and mc.seed + mc.samples - 1 > MC_SEED_MAX:
        raise ConfigError(f"monte_carlo.seed: chips {mc.seed}..{mc.seed + mc.samples - 1} pass the largest "
                          f"seed {MC_SEED_MAX}")
    if settings.points and given & set(AXES):
        raise ConfigError(f"points: give either the axes ({', '.join(AXES)}) or a points list, not both")
    if on_maps and not settings.points and not settings.map_dirs:
        raise ConfigError("map_dirs: list at least one map folder (written by codesign map)")
    for key in ("corners", "temperatures_c", "supplies", "map_dirs"):
        values = getattr(settings, key)
        if len(values) > MAX_AXIS_VALUES:
            raise ConfigError(f"{key}: {len(values)} values, at most {MAX_AXIS_VALUES}")
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(f"{key}: {twice[0]!r} is listed twice")


def _check_chip(job: str, chip: ChipSpec) -> None:
    """Refuse a chip the job has no bench for."""
    if job == "retention" and chip.hardware != "integrator":
        raise ConfigError(f"chip: retention holds a level on the integrator's capacitor between restores; this "
                          f"chip has {chip.hardware} hardware (eps = {chip.eps:g}), whose state is a latch: "
                          f"use an integrator chip (eps = 0)")


def _check_staged(map_dirs: set[str]) -> None:
    """mirror_array = "staged" solves a mirror array apart from its units: single-layer mirror maps only."""
    from codesign.manifest import load_manifest

    for map_dir in sorted(map_dirs):
        plan = load_manifest(map_dir)[0]
        if plan.chip.synapses != "mirror" or len(plan.layers) != 1:
            raise ConfigError(f"mirror_array: 'staged' needs single-layer maps on a mirror synapse array; {map_dir} "
                              f"has {len(plan.layers)} layer(s) on {plan.chip.synapses!r} synapses")


def _check_readout_zero(map_dirs: set[str], readout_zero: str) -> None:
    """A readout zeroed on each unit's own output sums the units' currents apart: single-layer maps only."""
    from codesign.manifest import load_manifest

    for map_dir in sorted(map_dirs):
        layers = len(load_manifest(map_dir)[0].layers)
        if layers != 1:
            raise ConfigError(f"readout_zero: {readout_zero!r} reads each unit's own output, single-layer maps "
                              f"only; {map_dir} has {layers} layers")


def _point(job: str, chip: ChipSpec, corner, temp_c, supply: float, sequence=None, map_dir=None,
           mc_seed=None) -> Point:
    vdd_v = chip.vdd_v * (1 + supply)
    if not VDD_RANGE_V[0] <= vdd_v <= VDD_RANGE_V[1]:
        raise ConfigError(f"supplies: {supply:+g} of vdd_v {chip.vdd_v:g} V gives {vdd_v:g} V, outside "
                          f"[{VDD_RANGE_V[0]:g}, {VDD_RANGE_V[1]:g}] V")
    corner = corner or chip.corners[0]
    if corner.endswith("_mm"):  # without a seed ngspice would draw a new chip on every run
        raise ConfigError(f"corners: {corner!r}: give the plain corner {corner[:-3]!r}, and monte_carlo (or a "
                          f"point's mc_seed) for Monte Carlo chips, which load the _mm models")
    return Point(job, corner, float(chip.temp_c if temp_c is None else temp_c),
                 float(supply), vdd_v, sequence, map_dir, mc_seed)


def _seeds(s: PlanFile) -> tuple:
    return tuple(s.monte_carlo.seeds()) if s.monte_carlo else (None,)


def _axis_points(s: PlanFile, chip: ChipSpec | None, folder: Path) -> list[Point]:
    if s.job in CELL_JOBS:
        combos = itertools.product(s.corners or chip.corners, s.temperatures_c or (chip.temp_c,), s.supplies,
                                   _seeds(s))
        return [_point(s.job, chip, c, t, v, mc_seed=k) for c, t, v, k in combos]
    out = []
    sequences = range(s.sequences) if s.job in COSIM_JOBS else (None,)
    for i, name in enumerate(s.map_dirs):
        map_dir = _map_dir(name, f"map_dirs[{i}]", folder)
        mchip = _map_chip(map_dir)
        combos = itertools.product(s.corners or mchip.corners, s.temperatures_c or (mchip.temp_c,), s.supplies,
                                   _seeds(s), sequences)
        out += [_point(s.job, mchip, c, t, v, n, map_dir, k) for c, t, v, k, n in combos]
    return out


def _listed_points(s: PlanFile, chip: ChipSpec | None, folder: Path) -> list[Point]:
    out = []
    for i, p in enumerate(s.points):
        if s.job in CELL_JOBS:
            out.append(_point(s.job, chip, p.corner, p.temp_c, p.supply, mc_seed=p.mc_seed))
        else:
            map_dir = _map_dir(p.map_dir, f"points[{i}].map_dir", folder)
            sequence = (p.sequence or 0) if s.job in COSIM_JOBS else None
            out.append(_point(s.job, _map_chip(map_dir), p.corner, p.temp_c, p.supply, sequence, map_dir, p.mc_seed))
    return out


def _count(s: PlanFile, chip: ChipSpec | None) -> int:
    """Points the axes name, counted before any map folder is read."""
    if s.points:
        return len(s.points)
    n = len(s.supplies) * max(len(s.corners), 1) * max(len(s.temperatures_c), 1) * len(_seeds(s))
    if s.job in CELL_JOBS:
        return n * (len(chip.corners) if not s.corners else 1)
    return n * len(s.map_dirs) * (s.sequences if s.job in COSIM_JOBS else 1)


def load_plan(path: str | Path) -> Plan:
    """The checked plan and its points; ConfigError names the key (prefixed by the file)."""
    path = Path(path)
    data = read_file(path)
    try:
        settings = from_dict(PlanFile, data)
        if not settings.job:
            raise ConfigError(f"job: missing; one of {', '.join(JOBS)}")
        _check_job_keys(settings, set(data))
        chip = _resolve_chip(settings, path.parent) if settings.job in CELL_JOBS else None
        if chip is not None:
            _check_chip(settings.job, chip)
        count = _count(settings, chip)
        if count > MAX_POINTS:
            raise ConfigError(f"points: the plan names {count} points, at most {MAX_POINTS}")
        make = _listed_points if settings.points else _axis_points
        points = make(settings, chip, path.parent)
        if len(points) > MAX_POINTS:  # the map folders' own corners counted too
            raise ConfigError(f"points: the plan names {len(points)} points, at most {MAX_POINTS}")
        if settings.mirror_array == "staged":
            _check_staged({p.map_dir for p in points})
        elif settings.array_load != "comparators":
            raise ConfigError("array_load: loads a mirror array solved apart from its units; set "
                              "mirror_array = 'staged'")
        elif settings.mirror_trim != "none":
            raise ConfigError("mirror_trim: trims a mirror array solved apart from its units; set "
                              "mirror_array = 'staged'")
        elif settings.comparator_trim == "units":
            raise ConfigError("comparator_trim: 'units' trims each unit on its own netlist as the staged "
                              "co-simulation cuts it (its own Monte Carlo draw); set mirror_array = 'staged'")
        if settings.readout_zero != "reference":
            _check_readout_zero({p.map_dir for p in points}, settings.readout_zero)
        if settings.trim_table != "none" and settings.mirror_trim == "none" and settings.comparator_trim == "chip":
            raise ConfigError("trim_table: nothing is trimmed at test; set mirror_trim = 'rows' or "
                              "comparator_trim = 'test' or 'units'")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return Plan(path, path.read_text(), settings, tuple(points), chip)
