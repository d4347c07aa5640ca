"""Running a sweep's points on Dask, each point cached in `<out>/points/<key>.json`.

Distribution, scheduling and a dead worker's tasks are Dask's
(`dask.distributed`): a LocalCluster of one single-threaded worker process per
core (each runs one ngspice at a time), or an existing cluster named by its
scheduler address. What is done here: skip the points whose entry is stored,
submit the rest, store each record as it arrives (a verified entry,
`codesign.fsio.write_entry`, written atomically), so a sweep killed half way
and started again recomputes nothing that finished. A failed point is stored
too, with its reason and the netlist ngspice failed on (copied to
`<out>/failed/<key>.cir`); it is run again only with `retry_failed`.
A chip trimmed at test (`mirror_trim = "rows"`, `comparator_trim = "test"` or `"units"`) is trimmed
once, in a task its points wait for (`trim_chip`), its trims stored as they arrive
(`<out>/trims/<trim key>.json`, a verified entry), or not at all when the out folder or a
stored point of that chip holds them: a sweep killed after trimming chips, before any of
their points finished, does not trim them again. On its own local cluster the points run in the
plan's order (task priorities; the scheduler's queue off, which would release them in its own).

Workers of an existing cluster must see the model files and map folders at
the same paths (a shared file system); records travel back to this process,
which alone writes the out folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from codesign.fsio import atomic_write_text, read_entry, write_entry
from codesign.validation.sweep.points import Task, compute, trim_chip

CONNECT_TIMEOUT_S = 10  # a scheduler that does not answer within this is taken as absent


class SchedulerUnreachable(ConnectionError):
    """--scheduler names no running Dask scheduler."""


@dataclass(frozen=True)
class Outcome:
    records: tuple[dict, ...]  # one per task, in the plan's order
    computed: int  # points simulated by this run
    from_cache: int  # points read from <out>/points
    seconds: float


def entry_path(out: Path, key: str) -> Path:
    return out / "points" / f"{key}.json"


def read_record(out: Path, key: str) -> dict | None:
    data = read_entry(entry_path(out, key))
    return None if data is None else json.loads(data)


def store_record(out: Path, record: dict) -> dict:
    """Write the record's entry; a failed point's netlist text goes to its own file."""
    record = dict(record)
    text = record.pop("netlist_text", None)
    netlist = out / "failed" / f"{record['key']}.cir"
    if text is not None:
        netlist.parent.mkdir(exist_ok=True)
        atomic_write_text(netlist, text)
        record["netlist"] = str(netlist)
    elif record["status"] == "done":  # a retried point that now finished
        netlist.unlink(missing_ok=True)
    write_entry(entry_path(out, record["key"]), json.dumps(record, indent=1).encode())
    return record


@contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A Client of the cluster at `scheduler`, or of a LocalCluster started (and stopped) here."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise SchedulerUnreachable(f"--scheduler {scheduler}: no Dask scheduler answers there ({err})") from None
        with client:
            yield client
        return
    # The scheduler's HTTP server on a free port: the fixed 8787 clashes between sweeps run side by side.
    # Every ready task goes to a worker at once (no queue on the scheduler, whose release order
    # ignores the priorities `_compute` sets): a worker then runs its tasks in the plan's order.
    with dask.config.set({"distributed.scheduler.worker-saturation": math.inf}), \
            LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                         dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def _killed(task: Task, err: BaseException) -> dict:
    """The record of a point whose worker died (Dask gave up on it) or was lost."""
    return {"key": task.key, "axes": task.point.axes(), "status": "failed", "error": type(err).__name__,
            "reason": f"the worker running it died or was lost: {err}", "seconds": None}


class _Bar:
    """Points done / failed / remaining, with tqdm's estimate, on stderr."""

    def __init__(self, total: int, done: int, failed: int, quiet: bool):
        from tqdm import tqdm

        self.done, self.failed, self.total = done, failed, total
        self.bar = tqdm(total=total, initial=done + failed, desc="sweep", unit="point", file=sys.stderr,
                        disable=quiet, dynamic_ncols=True)
        self._show()

    def _show(self):
        self.bar.set_postfix_str(f"done {self.done}, failed {self.failed}, "
                                 f"remaining {self.total - self.done - self.failed}")

    def add(self, record: dict):
        if record["status"] == "done":
            self.done += 1
        else:
            self.failed += 1
        self.bar.update()
        self._show()

    def close(self):
        self.bar.close()


def run_sweep(tasks: list[Task], out: Path, workers: int | None = None, scheduler: str | None = None,
              retry_failed: bool = False, quiet: bool = False) -> Outcome:
    """Every task's record: stored ones read back, the others computed on Dask and stored.
    The caller holds the out folder's lock."""
    started = time.perf_counter()
    stored = {t.key: read_record(out, t.key) for t in tasks}
    todo = {}
    for t in tasks:  # a point listed twice is computed once
        r = stored[t.key]
        if r is None or (retry_failed and r["status"] == "failed"):
            todo.setdefault(t.key, t)
    kept = [r for k, r in stored.items() if r is not None and k not in todo]
    bar = _Bar(len(stored), sum(r["status"] == "done" for r in kept), sum(r["status"] != "done" for r in kept),
               quiet)
    try:
        if todo:
            _compute(list(todo.values()), out, stored, bar, workers, scheduler)
    finally:
        bar.close()
    return Outcome(tuple(stored[t.key] for t in tasks), len(todo), len(stored) - len(todo),
                   time.perf_counter() - started)


def share_cores(todo: list[Task], workers: int | None, scheduler: str | None) -> list[Task]:
    """On a local cluster with fewer points than workers, each point runs its ngspice netlists on
    the cores that would idle (a remote cluster's size is not ours to read: one each there)."""
    cores = workers or os.cpu_count() or 1
    if scheduler or not todo or len(todo) >= cores:
        return todo
    return [dataclasses.replace(t, ngspice_workers=cores // len(todo)) for t in todo]


def _known_trims(stored: dict) -> dict:
    """trim_key -> the trims (as `trim_chip` returns them) of the chips a stored point already holds."""
    return {r["figures"]["trim_key"]: {k: r["figures"][k] for k in ("trims", "comparator_trims") if k in r["figures"]}
            for r in stored.values() if r and r["status"] == "done" and r["figures"].get("trim_key")}


def _trims_path(out: Path, trim_key: str) -> Path:
    return out / "trims" / f"{trim_key}.json"


def _saved_trims(out: Path) -> dict:
    """trim_key -> the trims of the chips trimmed into this out folder before (`_save_trims`)."""
    entries = {f.stem: read_entry(f) for f in sorted((out / "trims").glob("*.json"))}
    return {key: json.loads(data) for key, data in entries.items() if data is not None}


def _save_trims(out: Path, trim_key: str, future) -> None:
    """A chip's trims as they arrive (a failed trim is not kept: its points record the failure)."""
    try:
        trims = future.result()
    except Exception:  # a lost worker: the points waiting for it record that
        return
    if trims.get("status") != "failed":
        path = _trims_path(out, trim_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_entry(path, json.dumps(trims).encode())


def _compute(todo: list[Task], out: Path, stored: dict, bar: _Bar, workers, scheduler) -> None:
    from distributed import as_completed

    todo = share_cores(todo, workers, scheduler)

    with dask_client(workers, scheduler) as client:
        # A fresh Dask key per submission: a shared scheduler never hands back another
        # client's result; the cache in <out>/points decides what is recomputed.
        # Points run in the plan's order (Dask's own order among ready tasks is not it), a chip's
        # trim ranked just above the point before its first, so that the first is ready when its
        # turn comes: a sweep stopped part way holds the plan's first points. Submitted in that
        # order too: an idle worker starts the first task it is handed.
        trims, trimming, futures = {**_saved_trims(out), **_known_trims(stored)}, {}, {}
        for i, t in enumerate(todo):  # each chip trimmed once, as on a tester; its points wait for the trims
            if t.trim_key is not None and t.trim_key not in trims:
                trims[t.trim_key] = client.submit(trim_chip, t, pure=False, priority=3 - 2 * i,
                                                  key=f"sweep-trim-{t.trim_key[:16]}-{os.urandom(4).hex()}")
                trimming[trims[t.trim_key]] = t.trim_key
            futures[client.submit(compute, t, trims.get(t.trim_key), pure=False, priority=-2 * i,
                                  key=f"sweep-point-{t.key[:16]}-{os.urandom(4).hex()}")] = t
        for future in as_completed([*trimming, *futures]):
            if future in trimming:
                _save_trims(out, trimming[future], future)
                continue
            task = futures[future]
            try:
                record = future.result()
            except Exception as err:  # KilledWorker, a lost worker: Dask already retried as configured
                record = _killed(task, err)
            stored[task.key] = store_record(out, record)
            bar.add(record)
