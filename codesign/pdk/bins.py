"""Load only the model bins a netlist's transistors select.

sky130's nfet_01v8 and pfet_01v8 are subcircuits that hold 48 binned BSIM4
models each (one per range of L and W), and ngspice copies every model of a
subcircuit into each instance it expands: expanding the 4-unit golden CMRU
network took 5.3 s with every bin and 0.9 s with its own (docs/results.md,
"Simulation speed"; `benchmarks/model_bins.py`). A transistor uses exactly
one bin, the one whose [lmin, lmax] x [wmin, wmax] holds its L and W, so a
library holding only the bins of the sizes in the netlist gives the same
models to every device: the same results, bit for bit (tested).

`device_sizes` reads the (W, L) of every transistor from the netlist's own
subcircuit hierarchy: literal numbers and `{name}` parameters passed down
instance by instance. Anything it cannot resolve (an expression, a size
with a unit suffix, fingers) returns None and the run keeps every bin.
On a boundary both neighbouring bins are kept, so whichever of them ngspice
takes is there. `with_needed_bins` swaps the trimmed library that a bench
includes for that copy; `codesign.validation.ngspice.run` calls it.

Monte Carlo corners (`_mm`) keep every bin: ngspice draws a random number
for each process term of every model card it copies (multiplied by zero
there, but drawn), so fewer bins would shift every later draw and chip k
would become another chip (measured: the latch map's chip 7 at sf, outputs
1.4 V apart after 8 steps). The chips measured so far stay the same chips.
A bench written after that carries the line MC_OVER_NEEDED_BINS and gets the
needed bins under Monte Carlo too: with every bin the 12,733-device mirror
array of the keyword-spotting map took 11.5 min and 4.6 GB to expand.
"""

from __future__ import annotations

import hashlib
import re
import threading
from functools import lru_cache
from pathlib import Path

from codesign.fsio import read_entry, write_entry
from codesign.pdk.trim import _logical_lines as statements
from codesign.pdk.trim import cache_dir

BINS_FORMAT_VERSION = "1"  # bump when the selection rule changes
_TOLERANCE = 1e-6  # relative, on a bin's edges: a size on a boundary keeps both bins
_UNRESOLVED = None
_WRITING = threading.Lock()  # runs start from several threads (run_many)

_EQUALS = re.compile(r"\s*=\s*")
_BIN = re.compile(r"^\.model\s+(\S+)\.\d+\s.*?\blmin\s*=\s*(\S+)\s+lmax\s*=\s*(\S+)\s+wmin\s*=\s*(\S+)\s+"
                  r"wmax\s*=\s*(\S+)", re.I)
_TRIMMED = re.compile(r'^\.include\s+"([^"]+)"\s*$', re.I | re.M)
_NOMINAL_LIBRARY = re.compile(r"^sky130_(?!.*_mm_)[a-z]+_[0-9a-f]{16}\.spice$")  # trimmed, not Monte Carlo
_MC_LIBRARY = re.compile(r"^sky130_[a-z]+_mm_[0-9a-f]{16}\.spice$")  # trimmed, Monte Carlo
# A bench whose Monte Carlo chips are defined over the bins in use carries this line: its chip k is
# the draws ngspice takes with only those bins loaded (another chip than with every bin, as valid,
# and as reproducible). Benches written before keep every bin, so their chips stay the same chips.
MC_OVER_NEEDED_BINS = "* Monte Carlo chip drawn over the model bins in use (codesign.pdk.bins)"

Sizes = dict[str, frozenset[tuple[float, float]]]  # device subcircuit -> {(w_um, l_um)}


def _logical_lines(text: str) -> list[str]:
    """Lower-cased statements as the trimmer reads them (comments cut per physical line, then
    continuation lines joined), `$` comments cut too, `k = v` as `k=v`."""
    text = "\n".join(line.split("$ ")[0] for line in text.lower().splitlines())
    return [_EQUALS.sub("=", line) for line in statements(text)]


def _value(token: str, scope: dict[str, float | None]) -> float | None:
    if token.startswith("{") and token.endswith("}"):
        return scope.get(token[1:-1].strip(), _UNRESOLVED)
    try:
        return float(token)
    except ValueError:
        return _UNRESOLVED


def _params(tokens: list[str], scope: dict[str, float | None]) -> dict[str, float | None]:
    return {k: _value(v, scope) for k, _, v in (t.partition("=") for t in tokens if "=" in t)}


@lru_cache(maxsize=8)
def _devices(library: Path, _mtime_ns: int) -> dict[str, dict[str, float | None] | None]:
    """The library's subcircuits: a binned device's default parameters, None for the others."""
    devices, current, binned = {}, None, False
    for line in _logical_lines(library.read_text()):
        head = line.split()
        if head[0] == ".subckt":
            current, binned, defaults = head[1], False, {}
            devices[current] = None
        elif head[0] == ".param" and current is not None:
            defaults.update(_params(head[1:], {}))
        elif head[0] == ".model" and current is not None and _BIN.match(line):
            binned = True
        elif head[0] == ".ends" and current is not None:
            if binned:
                devices[current] = defaults
            current = None
    return devices


def device_sizes(netlist: str, devices: dict[str, dict[str, float | None] | None]) -> Sizes | None:
    """(W, L) in um of every instance of the binned `devices` in the netlist; None where one is not a
    plain number or a subcircuit is neither in the netlist nor in the library (its devices unseen)."""
    subckts: dict[str, tuple[dict, list[list[str]]]] = {}
    top: list[list[str]] = []
    body: list[list[str]] | None = None
    for line in _logical_lines(netlist):
        tokens = line.split()
        if tokens[0] == ".subckt":
            body = []
            subckts[tokens[1]] = (_params(tokens[2:], {}), body)
        elif tokens[0] == ".ends":
            body = None
        elif tokens[0].startswith("x"):
            (top if body is None else body).append(tokens)
    found: dict[str, set] = {}
    seen: set = set()

    def walk(lines: list[list[str]], scope: dict[str, float | None]) -> bool:
        for tokens in lines:
            names = [t for t in tokens[1:] if "=" not in t]
            if not names:
                continue
            cell, given = names[-1], _params(tokens[1:], scope)
            if devices.get(cell) is not None:
                size = {**devices[cell], **given}
                w_um, l_um, nf = size.get("w"), size.get("l"), size.get("nf", 1.0)
                if w_um is None or l_um is None or nf != 1.0:
                    return False
                found.setdefault(cell, set()).add((w_um, l_um))
            elif cell in subckts:
                defaults, inner = subckts[cell]
                inner_scope = {**defaults, **given}
                key = (cell, tuple(sorted(inner_scope.items())))
                if key not in seen:
                    seen.add(key)
                    if not walk(inner, inner_scope):
                        return False
            elif cell not in devices:
                return False
        return True

    if not walk(top, {}):
        return None
    return {cell: frozenset(s) for cell, s in found.items()}


def _inside(value_um: float, low_m: float, high_m: float) -> bool:
    return low_m * (1 - _TOLERANCE) <= value_um * 1e-6 <= high_m * (1 + _TOLERANCE)


def _holds(size_um: tuple[float, float], edges_m: tuple[float, ...]) -> bool:
    """Whether a bin's [lmin, lmax] x [wmin, wmax] (metres) holds (W, L) in um (the library's scale)."""
    (w_um, l_um), (lmin, lmax, wmin, wmax) = size_um, edges_m
    return _inside(l_um, lmin, lmax) and _inside(w_um, wmin, wmax)


def binned_library(library: Path, sizes: Sizes) -> Path:
    """A copy of `library` whose device subcircuits keep only the bins `sizes` select (cached)."""
    lines = library.read_text().splitlines()
    kept, current = [], None
    for line in lines:
        head = line.split(None, 2)
        word = head[0].lower() if head else ""
        if word == ".subckt":
            current = head[1].lower()
        elif word == ".ends":
            current = None
        match = _BIN.match(line) if word == ".model" and current in sizes else None
        if match and not any(_holds(s, tuple(map(float, match.groups()[1:]))) for s in sizes[current]):
            continue
        kept.append(line)
    text = "\n".join(kept) + "\n"
    key = hashlib.sha256(f"{BINS_FORMAT_VERSION}|{text}".encode()).hexdigest()[:16]
    target = library.with_name(f"{library.stem}_bins_{key}.spice")
    with _WRITING:
        if read_entry(target) is None:
            write_entry(target, text.encode())
    return target


def with_needed_bins(netlist: str, cache: Path | None = None) -> str:
    """`netlist` with each included trimmed library of the project's cache replaced by the copy
    holding only the bins its transistors select; unchanged where sizes cannot be resolved."""
    folder = (cache or cache_dir()).resolve()
    over_needed = MC_OVER_NEEDED_BINS in netlist.splitlines()
    swaps = {}
    for match in _TRIMMED.finditer(netlist):
        path = Path(match.group(1))
        trimmable = _NOMINAL_LIBRARY.match(path.name) or (_MC_LIBRARY.match(path.name) and over_needed)
        if path.parent != folder or not trimmable or not path.is_file():
            continue
        devices = _devices(path, path.stat().st_mtime_ns)
        sizes = device_sizes(netlist, devices)
        if sizes is None:
            return netlist
        swaps[match.group(0)] = f'.include "{binned_library(path, sizes)}"'
    for old, new in swaps.items():
        netlist = netlist.replace(old, new)
    return netlist
