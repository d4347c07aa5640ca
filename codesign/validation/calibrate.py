"""`codesign calibrate --chip SPEC --out profile.toml`: the cells' Monte Carlo, turned into a
noise profile for training.

Three cell benches run on Monte Carlo chips through the sweep engine (one Dask
run, each point cached in WORK/points, so a calibration stopped half way resumes):

  hysteresis   the comparator's up and dn trip points        -> beta_mismatch_rel
  packets      packet sizes up and down, the readout gain     -> alpha_mismatch_rel (--alpha-from)
  level_trips  the level comparators' trip points vs boundary    (listed; no field of the profile)

Each job writes its sweep report in WORK/<job>/ (report.html, histograms). The
profile is a TOML file in the format `codesign.training.noise.load_noise_profile`
reads (a recipe names it: `[noise] profile = "profile.toml"`, inside the recipe's
folder): `preset` for the fields not measured, the measured fields, and comment
lines saying where each figure comes from (bench, chips, date, command).
WORK/calibration.json holds every statistic.

A trip point minus its threshold, in units of beta*i_unit, is a relative error
of the comparator's half-width beta (the hardware senses z in units of beta),
so its sigma is beta_mismatch_rel; the up and dn edges are pooled (training
draws one factor per unit for both). A packet's size relative to one level is
alpha's step; with the level restore it changes the state only when the restore
picks another level (counted: "steps restored to a wrong level"). The readout
gain (the slope of the readout current over the levels, relative to i_step) is
the scale the next layer sees the state at; `--alpha-from readout` takes alpha's
sigma from it instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from codesign.validation.ngspice import MAX_TIMEOUT_S

CAL_JOBS = ("hysteresis", "level_trips", "packets")
DEFAULT_SAMPLES = 200
BASE_PRESET = "sky130_typical"


def register(subparsers) -> None:
    from codesign.cli import add_chip_arguments

    p = subparsers.add_parser(
        "calibrate", help="Monte Carlo of the cells (comparator, packets, level comparators) -> a noise profile",
        description="Run the comparator, packet and level-comparator benches on Monte Carlo chips (device "
                    "mismatch, seeds SEED..SEED+N-1) through the sweep engine, cached and resumable in --work, "
                    "and write the measured sigmas as a noise profile training reads ([noise] profile = FILE). "
                    "Exit status 0 when every chip was measured, 1 when a point failed, 2 on bad input.")
    add_chip_arguments(p)
    p.add_argument("--out", type=Path, default=Path("runs/calibrate/profile.toml"),
                   help="the noise profile to write (.toml; default runs/calibrate/profile.toml)")
    p.add_argument("--work", type=Path, help="sweep folder: cache, reports (default: <out without .toml>_mc/)")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="Monte Carlo chips per bench (default 200)")
    p.add_argument("--seed", type=int, default=1, help="the first chip's seed (default 1)")
    p.add_argument("--corner", help="a plain process corner (default: the chip's first)")
    p.add_argument("--temp", type=float, help="temperature in C (default: the chip's temp_c)")
    p.add_argument("--base", default=BASE_PRESET,
                   help=f"noise preset for the fields not measured (default {BASE_PRESET})")
    p.add_argument("--alpha-from", choices=("packets", "readout"), default="packets",
                   help="alpha_mismatch_rel from the packet sizes (default) or the readout gain")
    p.add_argument("--workers", type=int, help="Dask worker processes (default: one per core)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one ngspice run may take (default 600)")
    p.add_argument("--retry-failed", action="store_true", help="run the points stored as failed again")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run)


def _check(args: argparse.Namespace):
    from codesign.cli import UserError, chip_from_args
    from codesign.hardware.params import MC_SEED_MAX, TEMP_RANGE_C
    from codesign.training.noise import PRESETS
    from codesign.validation.sweep.commands import MAX_WORKERS
    from codesign.validation.sweep.plan import MAX_MC_SAMPLES

    if not 2 <= args.samples <= MAX_MC_SAMPLES:
        raise UserError(f"--samples {args.samples}: must be in [2, {MAX_MC_SAMPLES}] (a sigma needs two chips)")
    if not 1 <= args.seed <= MC_SEED_MAX - args.samples + 1:
        raise UserError(f"--seed {args.seed}: must be in [1, {MC_SEED_MAX - args.samples + 1}]")
    if args.out.suffix != ".toml":
        raise UserError(f"--out {args.out}: the profile is a .toml file")
    if args.out.is_dir():
        raise UserError(f"--out {args.out}: is a folder; name the profile file")
    if args.base not in PRESETS:
        raise UserError(f"--base {args.base}: must be one of {', '.join(PRESETS)}")
    if args.temp is not None and not TEMP_RANGE_C[0] <= args.temp <= TEMP_RANGE_C[1]:
        raise UserError(f"--temp {args.temp:g}: must be in [{TEMP_RANGE_C[0]:g}, {TEMP_RANGE_C[1]:g}] C")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UserError(f"--workers {args.workers}: must be in [1, {MAX_WORKERS}]")
    if args.workers is not None and args.scheduler:
        raise UserError("--workers: the cluster at --scheduler has its own workers; give one of the two")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise UserError(f"--timeout {args.timeout:g}: must be in (0, {MAX_TIMEOUT_S}] seconds")
    chip = chip_from_args(args)
    if chip.eps != 0:
        raise UserError(f"--chip: calibrate measures the integrator hardware's cells (eps = 0); "
                        f"this chip is {chip.hardware} hardware")
    corner = args.corner or chip.corners[0]
    if corner not in ("tt", "ss", "ff", "sf", "fs"):
        raise UserError(f"--corner {corner}: a plain corner (tt ss ff sf fs); the chips load its _mm models")
    return chip, corner


def chip_toml(chip) -> str:
    """The resolved chip spec as a chip file, every value exact (repr of floats)."""
    lines = [f"# chip spec {chip.name}, resolved by codesign calibrate"]
    for f in dataclasses.fields(chip):
        v = getattr(chip, f.name)
        shown = repr(v) if isinstance(v, float) else json.dumps(list(v) if isinstance(v, tuple) else v)
        lines.append(f"{f.name} = {shown}")
    return "\n".join(lines) + "\n"


def plan_text(job: str, corner: str, temp_c: float, samples: int, seed: int, timeout_s: float) -> str:
    return (f"# written by codesign calibrate: the {job} bench on {samples} Monte Carlo chips\n"
            f'job = "{job}"\nchip = "chip.toml"\ncorners = ["{corner}"]\ntemperatures_c = [{temp_c!r}]\n'
            f"monte_carlo = {{ samples = {samples}, seed = {seed} }}\ntimeout_s = {timeout_s!r}\n")


class TooFewChips(RuntimeError):
    """A bench measured fewer than two chips: no sigma, no profile."""


def _pooled_sigma(a: list[float], b: list[float]) -> float:
    """Sigma of two samples pooled around their own means."""
    import numpy as np

    dev = [x - np.mean(a) for x in a] + [x - np.mean(b) for x in b]
    return float(np.sqrt(np.sum(np.square(dev)) / max(len(dev) - 2, 1)))


def measured(records: dict[str, list[dict]], alpha_from: str = "packets") -> dict:
    """The statistics of each bench and the profile fields they give; records per job (stored points)."""
    import numpy as np

    from codesign.validation.montecarlo import distributions

    def stats(job):
        return {d.key: {**d.stats(), "values": list(d.values)} for d in distributions(job, records[job])}

    hyst, trips, pk = stats("hysteresis"), stats("level_trips"), stats("packets")
    up, dn = hyst["up_on_in_beta"]["values"], [-v for v in hyst["dn_on_in_beta"]["values"]]
    both = [(r["figures"]["up_on_in_beta"], -r["figures"]["dn_on_in_beta"]) for r in records["hysteresis"]
            if r["status"] == "done" and all(math.isfinite(r["figures"][k]) for k in ("up_on_in_beta",
                                                                                      "dn_on_in_beta"))]
    corr = float(np.corrcoef(np.array(both).T)[0, 1]) if len(both) > 2 else math.nan
    pk_up, pk_dn = pk["packet_up_rel"]["values"], pk["packet_dn_rel"]["values"]
    for name, a, b in (("comparator trip points", up, dn), ("packet sizes", pk_up, pk_dn)):
        if min(len(a), len(b)) < 2:
            raise TooFewChips(f"{name}: fewer than two chips measured, no sigma; see the sweep reports")
    alpha = _pooled_sigma(pk_up, pk_dn) if alpha_from == "packets" else pk["readout_gain_rel"]["sigma"]
    wrong = [r["figures"]["wrong_levels"] for r in records["packets"] if r["status"] == "done"]
    return {"beta_mismatch_rel": _pooled_sigma(up, dn), "alpha_mismatch_rel": float(alpha),
            "up_dn_correlation": corr, "chips_with_wrong_levels": int(sum(w > 0 for w in wrong)),
            "hysteresis": hyst, "level_trips": trips, "packets": pk}


def _s(d: dict, scale: float = 1.0, unit: str = "") -> str:
    return (f"mean {d['mean'] * scale:+.3g}{unit}, sigma {d['sigma'] * scale:.3g}{unit}, "
            f"min {d['min'] * scale:+.3g}, max {d['max'] * scale:+.3g}")


def profile_text(m: dict, base: str, chip, corner: str, temp_c: float, samples: int, seed: int,
                 command: str, work: Path, alpha_from: str, when: datetime) -> str:
    """The profile: comment lines (sources) and the fields training reads."""
    h, pk, tr = m["hysteresis"], m["packets"], m["level_trips"]
    dv_mv = chip.integrator().dv_level_v * 1e3
    trips = "; ".join(f"boundary {int(k[-2]) + 1}: {_s(v, 1, ' mV')}" for k, v in tr.items())
    source = "packet size / level, up and dn pooled" if alpha_from == "packets" else "readout gain / i_step"
    lines = [
        f"# Noise profile measured by codesign calibrate on {when:%Y-%m-%d %H:%M} UTC.",
        f"# Command: {command}",
        f"# Chip: {chip.name} (as written in {work / 'chip.toml'}), corner {corner}, {temp_c:g} C, "
        f"vdd {chip.vdd_v:g} V; Monte Carlo chips {seed}..{seed + samples - 1} of each bench",
        "# (the corner's _mm models with .option seed=<chip>; a seed names a chip of one bench).",
        f"# Sweep reports and cache: {work}/<bench>/report.html, {work}/points; statistics: {work}/calibration.json.",
        "#",
        "# beta_mismatch_rel: sigma of the comparator's trip point minus its threshold in beta*i_unit (a",
        "#   fraction of beta), up and dn edges pooled; hysteresis bench (montecarlo.wide_hysteresis_loop,",
        f"#   input swept +-4 beta*i_unit in 0.4 s), {h['up_on_in_beta']['n']} of {samples} chips switched both ways.",
        f"#   trip - threshold, up: {_s(h['up_on_in_beta'])}; dn: {_s(h['dn_on_in_beta'])}",
        f"#   correlation of the up and dn half-width errors: {m['up_dn_correlation']:+.2f} (training draws one "
        "factor for both)",
        f"# alpha_mismatch_rel: sigma of the {source};",
        f"#   packets bench (characterize.charge_packets, 1 kHz clock), {pk['packet_up_rel']['n']} of {samples} "
        "chips measured.",
        f"#   up packets: {_s(pk['packet_up_rel'])}; dn packets: {_s(pk['packet_dn_rel'])}",
        f"#   readout gain / i_step - 1: {_s(pk['readout_gain_rel'])}",
        f"#   chips with a step restored to a wrong level: {m['chips_with_wrong_levels']} of {samples}",
        f"# Level comparators (no field of the profile; a level is {dv_mv:g} mV, the restore picks the wrong",
        f"#   level at half of it): level_trips bench (DC sweeps), trip - boundary: {trips}",
        f"# Not measured, from the preset {base!r}: weight_mismatch_rel, z_noise_std, h_noise_std and "
        "h_leak_per_step;",
        "#   weight_bits from the chip spec.",
        f'preset = "{base}"',
        f"beta_mismatch_rel = {min(m['beta_mismatch_rel'], 1.0):.4g}",
        f"alpha_mismatch_rel = {min(m['alpha_mismatch_rel'], 1.0):.4g}",
        f"weight_bits = {chip.weight_bits}",
    ]
    return "\n".join(lines) + "\n"


def _cached(work: Path, key: str, retry_failed: bool) -> bool:
    from codesign.validation.sweep.engine import read_record

    r = read_record(work, key)
    return r is not None and not (retry_failed and r["status"] == "failed")


def run(args: argparse.Namespace) -> int:
    from codesign.cli import UserError, output_folder
    from codesign.fsio import atomic_write_text, folder_lock
    from codesign.training.noise import load_noise_profile
    from codesign.validation.sweep.engine import Outcome, SchedulerUnreachable, run_sweep
    from codesign.validation.sweep.plan import load_plan
    from codesign.validation.sweep.points import build_tasks
    from codesign.validation.sweep.report import write_report

    chip, corner = _check(args)
    temp_c = chip.temp_c if args.temp is None else args.temp
    output_folder(args.out.parent)
    work = output_folder(args.work or args.out.with_name(args.out.stem + "_mc"))
    command = shlex.join(getattr(sys, "orig_argv", sys.argv))
    with folder_lock(work, "codesign calibrate"):
        atomic_write_text(work / "chip.toml", chip_toml(chip))
        plans = {}
        for job in CAL_JOBS:
            atomic_write_text(work / f"{job}.toml", plan_text(job, corner, temp_c, args.samples, args.seed,
                                                             args.timeout))
            plans[job] = load_plan(work / f"{job}.toml")
        tasks = {job: build_tasks(plan, args.timeout) for job, plan in plans.items()}
        cached = {job: sum(_cached(work, t.key, args.retry_failed) for t in ts) for job, ts in tasks.items()}
        try:
            outcome = run_sweep([t for ts in tasks.values() for t in ts], work, args.workers, args.scheduler,
                                args.retry_failed, args.quiet)
        except SchedulerUnreachable as err:
            raise UserError(str(err)) from None
        records, failed, at = {}, 0, 0
        for job in CAL_JOBS:
            n = len(tasks[job])
            part = Outcome(outcome.records[at:at + n], n - cached[job], cached[job], outcome.seconds)
            at += n
            records[job] = list(part.records)
            (work / job).mkdir(exist_ok=True)
            failed += write_report(work / job, plans[job], part, command)["counts"]["failed"]
        try:
            m = measured(records, args.alpha_from)
        except TooFewChips as err:
            print(f"codesign calibrate: error: {err} in {work}; no profile written", file=sys.stderr)
            return 1
        atomic_write_text(work / "calibration.json", json.dumps(
            {"command": command, "chip": chip.name, "corner": corner, "temp_c": temp_c, "samples": args.samples,
             "seed": args.seed, "alpha_from": args.alpha_from, **m}, indent=1, default=str))
        text = profile_text(m, args.base, chip, corner, temp_c, args.samples, args.seed, command, work,
                            args.alpha_from, datetime.now(timezone.utc))
        atomic_write_text(args.out, text)
    profile = load_noise_profile(args.out)  # what training will read: checked like a recipe's
    print(f"calibrate: {args.out}: beta_mismatch_rel {profile.beta_mismatch_rel:.4g}, alpha_mismatch_rel "
          f"{profile.alpha_mismatch_rel:.4g} ({args.samples} chips per bench, {failed} points failed; "
          f"reports in {work})")
    return 0 if failed == 0 else 1
