"""The one runner for every simulation: ngspice in batch mode.

Why batch mode (`ngspice -b -r out.raw`) and not PySpice/shared library:
PySpice 1.5 does not support ngspice 39 (it warns and treats ngspice's
stderr as errors), and a separate process per run gives real timeouts,
isolation between runs (a crash or a leak ends with the process) and
parallelism over processes for free.

Each run gets its own folder holding the netlist, a `.spiceinit` with the
PDK's ngspice settings, the log and the binary raw file. On success the
folder is removed (unless kept); on any failure it is kept and the error
names the netlist inside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.netlist import identifier
from codesign.pdk import pdk_description
from codesign.pdk.bins import with_needed_bins


class NgspiceError(RuntimeError):
    """ngspice failed; `netlist` is the file kept for inspection."""

    def __init__(self, message: str, netlist: Path | None = None, log_tail: str = ""):
        where = f" (netlist kept at {netlist})" if netlist else ""
        tail = f"\n--- ngspice log (last lines) ---\n{log_tail}" if log_tail else ""
        super().__init__(f"{message}{where}{tail}")
        self.netlist = netlist


class NgspiceNotFound(NgspiceError):
    """The ngspice binary is not on PATH."""


class NgspiceTimeout(NgspiceError):
    """The run took longer than its timeout and was killed."""


class ModelsMissing(NgspiceError):
    """An included model file could not be read."""


class NoConvergence(NgspiceError):
    """The operating point or a time step did not converge."""


_MISSING_MODELS = re.compile(
    r"could not find include file|can't find model|unknown subckt", re.I)
# ngspice's echo of the device it found no bin for: `m.<path> d g s b <path>:<model> l= 3.2e+01 w= 4e+00 ...`
_UNBINNED = re.compile(r"error on line:\s*(\S+)\s.*?\bl=\s*(\S+)\s+w=\s*(\S+)", re.I | re.S)


def _unbinned_device(log: str) -> str:
    """`m.xu.xcp.xmnd (W 4 um, L 32 um)`: the transistor ngspice found no model bin for."""
    found = _UNBINNED.search(log)
    if not found:
        return "a transistor's W and L"
    name, l_um, w_um = found.groups()
    try:
        return f"{name} (W {float(w_um):g} um, L {float(l_um):g} um)"
    except ValueError:
        return name


_NO_CONVERGENCE = re.compile(r"timestep too small|no convergence|singular matrix|gmin stepping failed|"
                             r"source stepping failed|iteration limit reached", re.I)
_FATAL = re.compile(r"^\s*error\b|fatal error|simulation\(s\) aborted", re.I | re.M)


@dataclass(frozen=True)
class SimResult:
    """Vectors from the raw file (lower-case names as ngspice writes them)."""

    vectors: dict[str, np.ndarray]
    log: str
    elapsed_s: float
    netlist: Path | None = None  # set only when the run folder was kept

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.vectors[name.lower()]
        except KeyError:
            raise KeyError(f"no vector {name!r}; have {sorted(self.vectors)}") from None

    def v(self, node: str) -> np.ndarray:
        return self[f"v({node})"]

    def i(self, source: str) -> np.ndarray:
        """Current through a voltage source, positive flowing into its + node."""
        return self[f"i({source})"] if f"i({source})".lower() in self.vectors else self[f"{source}#branch"]


def read_raw(path: Path) -> dict[str, np.ndarray]:
    """Parse an ngspice binary raw file (real data; the last plot wins per name)."""
    data = path.read_bytes()
    vectors: dict[str, np.ndarray] = {}
    pos = 0
    while pos < len(data):
        marker = data.find(b"Binary:\n", pos)
        if marker < 0:
            break
        header = data[pos:marker].decode("latin-1").splitlines()
        fields = {}
        names: list[str] = []
        in_vars = False
        for line in header:
            if in_vars and line.startswith(("\t", " ")):
                names.append(line.split()[1].lower())
                continue
            in_vars = line.startswith("Variables:")
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "complex" in fields.get("Flags", ""):
            raise NgspiceError(f"complex raw data is not supported ({path})")
        n_vars, n_points = int(fields["No. Variables"]), int(fields["No. Points"])
        start = marker + len(b"Binary:\n")
        count = n_vars * n_points
        block = np.frombuffer(data, dtype="<f8", count=count, offset=start).reshape(n_points, n_vars)
        for k, name in enumerate(names):
            vectors[name] = block[:, k].copy()
        pos = start + 8 * count
    return vectors


_NOTEWORTHY = re.compile(r"error|warning|could not|can't|too small|singular|abort|converge|unknown", re.I)


def _excerpt(log: str, limit: int = 12) -> str:
    """The log lines that say what went wrong (errors first), else its last lines."""
    lines = [ln for ln in log.splitlines() if _NOTEWORTHY.search(ln)]
    return "\n".join(lines[:limit] if lines else log.strip().splitlines()[-limit:])


# Settings of ours, besides the PDK's. One OpenMP thread per ngspice: Debian's
# ngspice evaluates devices on OpenMP threads (2 here, whatever OMP_NUM_THREADS
# says); two such runs side by side on 2 cores spin against each other. Measured
# 2026-11-30, four level-comparator DC sweeps: 1.5 s one at a time, 11.2 s two at
# a time with the default threads, 0.9 s two at a time with one thread each
# (docs/results.md, "Simulation speed").
RUNNER_SETTINGS = {"num_threads": 1}
MAX_TIMEOUT_S = 7 * 86400  # the longest --timeout any command takes for one run


def _spiceinit() -> str:
    # No random seed here: ngspice 39 (Debian) reseeds from its process id
    # after reading .spiceinit, so `set rndseed`/`setseed` have no effect on
    # `agauss` draws. A Monte Carlo chip's seed goes into the netlist as
    # `.option seed=k` (codesign.validation.benches.header).
    lines = []
    for key, value in {**pdk_description()["ngspice_settings"], **RUNNER_SETTINGS}.items():
        if key.startswith("_"):
            continue
        lines.append(f"set {key}" if value is True else f"set {key}={value}")
    return "\n".join(lines) + "\n"


# ngspice killed with the process that started it: a sweep worker stopped by its cluster (or a
# killed job) would otherwise leave its ngspice running up to the run's timeout. util-linux's
# setpriv sets the parent-death signal and execs ngspice (no preexec_fn: runs start from threads).
_SETPRIV = shutil.which("setpriv")
_DIES_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []

_EVERY_BIN = threading.Event()


@contextmanager
def every_model_bin():
    """Runs started inside load every bin of the model library, as every run did before
    2026-12-01 (codesign.pdk.bins): for benchmarks that measure against that."""
    _EVERY_BIN.set()
    try:
        yield
    finally:
        _EVERY_BIN.clear()


def run(netlist: str, *, name: str = "run", timeout_s: float = 120.0, keep: bool = False,
        workdir_root: Path | None = None) -> SimResult:
    """Run one netlist (full text, ending in .end) and return its vectors."""
    name = identifier(name, "run name")
    binary = shutil.which("ngspice")
    folder = Path(tempfile.mkdtemp(prefix=f"codesign-{name}-", dir=workdir_root))
    cir = folder / f"{name}.cir"
    # ngspice copies every model bin of a device into each of its instances: load only those used
    cir.write_text(netlist if _EVERY_BIN.is_set() else with_needed_bins(netlist))
    (folder / ".spiceinit").write_text(_spiceinit())
    if binary is None:
        raise NgspiceNotFound("ngspice not found on PATH; install it (Debian: apt-get install ngspice)", cir)
    raw, log_path = folder / "out.raw", folder / "ngspice.log"
    started = time.perf_counter()
    try:
        proc = subprocess.run([*_DIES_WITH_PARENT, binary, "-b", "-r", raw.name, "-o", log_path.name, cir.name],
                              cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s,
                              env={**os.environ, "HOME": str(folder)})  # only our .spiceinit
    except subprocess.TimeoutExpired:
        raise NgspiceTimeout(f"ngspice did not finish within {timeout_s:g} s", cir) from None
    elapsed = time.perf_counter() - started
    log = (log_path.read_text(errors="replace") if log_path.exists() else "") + proc.stdout.decode(errors="replace")
    tail = _excerpt(log)
    # Classify only real failures: ngspice prints singular-matrix warnings
    # during gmin stepping and then often succeeds.
    failed = (proc.returncode != 0 or _FATAL.search(log) or "timestep too small" in log.lower()
              or not raw.exists() or raw.stat().st_size == 0)
    if failed:
        if "could not find a valid modelname" in log.lower():
            raise ModelsMissing(f"ngspice found no model bin for {_unbinned_device(log)}: a size outside the "
                                "PDK's bins", cir, tail)
        if _MISSING_MODELS.search(log):
            raise ModelsMissing("ngspice could not load the device models or a subcircuit", cir, tail)
        if _NO_CONVERGENCE.search(log):
            raise NoConvergence("ngspice did not converge", cir, tail)
        raise NgspiceError(f"ngspice failed (exit status {proc.returncode})", cir, tail)
    try:
        vectors = read_raw(raw)
    except (ValueError, KeyError, IndexError) as err:  # a truncated or garbled raw file
        raise NgspiceError(f"ngspice's output {raw} is unreadable ({type(err).__name__}: {err})", cir) from None
    if keep:
        return SimResult(vectors, log, elapsed, cir)
    shutil.rmtree(folder, ignore_errors=True)
    return SimResult(vectors, log, elapsed)


@dataclass(frozen=True)
class Job:
    """One netlist to run in `run_many`."""

    netlist: str
    name: str = "run"
    timeout_s: float = 120.0


def run_many(jobs: list[Job], workers: int | None = None, progress: str | None = None) -> list[SimResult]:
    """Run jobs in parallel, one ngspice process each; results in job order.

    Threads only wait on the subprocesses, so the parallelism is over
    ngspice processes. Default workers: the number of CPU cores. With
    `progress` (a label), a bar on stderr shows runs done / total, elapsed
    time and an estimate.
    """
    from concurrent.futures import as_completed

    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(jobs), desc=progress, unit="run", disable=progress is None, leave=True) as bar:
        futures = [pool.submit(run, j.netlist, name=j.name, timeout_s=j.timeout_s) for j in jobs]
        for f in as_completed(futures):
            if f.exception() is None:
                bar.update()
        return [f.result() for f in futures]


def parallel_map(func, items: list, workers: int | None = None) -> list:
    """func(item) for each item, `workers` at a time, results in order.

    For characterization sweeps: each call runs its own ngspice process(es).
    """
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))
