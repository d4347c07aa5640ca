"""Files that are never half written, folders with one writer, cache entries that are checked.

- `atomic_write_bytes/text/json`: a temporary file in the same folder, fsync,
  os.replace: a reader (or a crash) sees the old content or the new, never a prefix.
- `folder_lock(folder, what)`: one writer per folder. The lock is a file
  `.codesign.lock` created with O_CREAT|O_EXCL and holding who took it; a second
  writer gets FolderLocked naming the holder. A lock left by a dead process on
  this host is taken over (and said so on stderr); one on another host is not.
- `write_entry` / `read_entry`: a cache file plus `<file>.sha256` (sha256sum
  format, so `sha256sum -c` checks it by hand). A file that does not match its
  hash is reported on stderr, deleted and never returned, so it is rebuilt.
  `check_entry` checks the same way and only says why: for a stored
  measurement, which is kept for inspection rather than rebuilt.

This module imports nothing from the stages: every stage may use it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import socket
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".codesign.lock"


# ---------- atomic writes ----------

def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj, *, indent: int = 1, sort_keys: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys))


# ---------- folder lock ----------

class FolderLocked(ValueError):
    """Another process holds the folder's lock; the message names it."""


def _command_line() -> str:
    """This process's command as typed: `python -m codesign ...`, not .../__main__.py."""
    program = Path(sys.argv[0])
    head = ["python", "-m", program.parent.name] if program.name == "__main__.py" else [program.name]
    return shlex.join(head + sys.argv[1:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _read_holder(lock: Path) -> dict | None:
    """The lock's record; None if the file is gone. An unreadable record is {}."""
    try:
        record = json.loads(lock.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _describe(holder: dict) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('what')}: "
            f"{holder.get('command')!r}), started {holder.get('started')}")


def _is_stale(holder: dict) -> bool:
    """Held by a process of this host that no longer runs."""
    pid = holder.get("pid")
    return (holder.get("host") == socket.gethostname() and isinstance(pid, int)
            and not _pid_alive(pid))


def _refuse(folder: Path, lock: Path, holder: dict) -> FolderLocked:
    if not holder:
        return FolderLocked(f"{folder} is locked by {lock}, whose record is unreadable (being written "
                            f"right now, or damaged); if no codesign process works in this folder, "
                            f"delete {lock}")
    return FolderLocked(f"{folder} is in use by {_describe(holder)}; wait for it to finish or use "
                        f"another folder (if that process is gone, delete {lock})")


def _create(lock: Path, record: dict) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record))
        f.flush()
        os.fsync(f.fileno())
    return True


def _take_over(folder: Path, lock: Path, stale: dict) -> None:
    """Move a stale lock away, once. Takers of one folder queue on a kernel lock
    of the folder (freed if a taker dies), so two of them cannot both move the
    lock of a dead holder and then each create their own."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        if _read_holder(lock) != stale:  # somebody else was faster: judge again
            return
        moved = lock.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.rename(lock, moved)  # atomic: exactly one taker moves a given lock file
        except FileNotFoundError:
            return
        if _read_holder(moved) != stale:  # (only where flock does nothing) a live lock: put it back
            try:
                os.link(moved, lock)
            finally:
                moved.unlink()
            return
        moved.unlink()
        print(f"codesign: took over the lock of {folder}: its holder, {_describe(stale)}, "
              f"is no longer running", file=sys.stderr)
    finally:
        os.close(dir_fd)  # also frees the flock


@contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold `folder`'s lock for the body; FolderLocked if another process holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    record = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
              "command": _command_line(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
              "token": uuid.uuid4().hex}
    for _ in range(10):  # a lock that vanishes between our looks: look again
        if _create(lock, record):
            break
        holder = _read_holder(lock)
        if holder is None:
            continue
        if not _is_stale(holder):
            raise _refuse(folder, lock, holder)
        _take_over(folder, lock, holder)
    else:
        raise FolderLocked(f"{folder}: could not take {lock} (it keeps changing hands)")
    try:
        yield lock
    finally:
        if (_read_holder(lock) or {}).get("token") == record["token"]:  # only if still ours
            lock.unlink(missing_ok=True)


# ---------- verified cache entries ----------

def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_entry(path: str | Path, data: bytes) -> None:
    """Write a cache file and its hash. The hash goes first: a reader never
    finds finished data next to a missing hash, even while this runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(_sidecar(path), f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    atomic_write_bytes(path, data)


def check_entry(path: str | Path) -> tuple[bytes | None, str | None]:
    """(bytes, None) if the file matches its hash; else (None, why it does not), touching
    nothing. Nothing there at all: (None, None)."""
    path = Path(path)
    sidecar = _sidecar(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, ("the file is missing (its hash is there)" if sidecar.exists() else None)
    try:
        recorded = sidecar.read_text().split()[0]
    except (FileNotFoundError, IndexError, UnicodeDecodeError):
        return None, f"it has no hash file {sidecar.name}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        return None, (f"its content ({len(data)} bytes, sha256 {actual[:12]}...) does not match "
                      f"{sidecar.name} ({recorded[:12]}...)")
    return data, None


def read_entry(path: str | Path) -> bytes | None:
    """The cache file's bytes if they match their hash; else None (and a line on
    stderr saying why, and the bad file deleted). Nothing there at all: None, quietly."""
    data, why = check_entry(path)
    if why is not None:
        _report(Path(path), why)
        Path(path).unlink(missing_ok=True)
    return data


def _report(path: Path, why: str) -> None:
    print(f"codesign: cache file {path} not used: {why}; rebuilding it", file=sys.stderr)
