"""The one place where values become netlist text.

Every name written into a netlist passes `identifier`, every number passes
`number` (finite, real, formatted exactly), every file path passes
`include_path`. Nothing from a user reaches a netlist as raw text: callers
build lines only from these checked pieces and from the shipped templates in
netlists/. A bad value raises ValueError naming the field it came from.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path

NETLIST_DIR = Path(__file__).resolve().parents[1] / "netlists"

# Used with fullmatch only: `$` would also match before a final newline, and
# "a\n" would then pass and break the netlist line it is written into.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A node may also be a plain number ("0" is ground).
_NODE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
# Compared in lower case: SPICE keywords are case-insensitive (END, .Control).
SPICE_KEYWORDS = {"end", "ends", "subckt", "param", "include", "lib", "endl", "control", "endc"}


def identifier(value: object, field: str) -> str:
    """A SPICE name (instance, subcircuit, parameter): letters, digits, '_'."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not an identifier (letters, digits, '_', not starting with a digit)")
    if value.lower() in SPICE_KEYWORDS:
        raise ValueError(f"{field}: {value!r} is a SPICE keyword")
    return value


def node(value: object, field: str) -> str:
    """A node name: an identifier or a non-negative integer such as 0."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not _NODE.fullmatch(str(value)):
        raise ValueError(f"{field}: {value!r} is not a node name")
    return str(value)


def number(value: object, field: str, *, minimum: float | None = None, positive: bool = False) -> str:
    """A finite real number formatted for SPICE (no unit suffixes, 12 digits)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field}: {value!r} is not a real number")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{field}: {value!r} is not finite")
    if positive and x <= 0:
        raise ValueError(f"{field}: {value!r} must be > 0")
    if minimum is not None and x < minimum:
        raise ValueError(f"{field}: {value!r} must be >= {minimum}")
    return f"{x:.12g}"


def include_path(path: Path | str, field: str) -> str:
    """An absolute file path in double quotes; no quotes or line breaks inside."""
    text = str(Path(path).resolve())
    if any(c in text for c in "\"'\n\r\0"):
        raise ValueError(f"{field}: path {text!r} contains a quote or line break")
    return f'"{text}"'


def params(values: dict[str, object], field: str) -> str:
    """`name=value ...` for instance or subcircuit parameters, all checked."""
    return " ".join(
        f"{identifier(k, f'{field} parameter name')}={number(v, f'{field}.{k}')}" for k, v in values.items()
    )


def instance(name: str, nodes: list[object], subckt: str, values: dict[str, object], field: str) -> str:
    """An `X` subcircuit instance line with checked nodes and parameters."""
    checked_nodes = " ".join(node(n, f"{field} node") for n in nodes)
    line = f"X{identifier(name, f'{field} instance name')} {checked_nodes} {identifier(subckt, f'{field} subcircuit')}"
    tail = params(values, field)
    return f"{line} {tail}" if tail else line


def template(name: str) -> str:
    """A shipped cell template from netlists/ (by identifier, never by user path)."""
    path = NETLIST_DIR / f"{identifier(name, 'template name')}.spice"
    if not path.is_file():
        raise ValueError(f"template name: no netlists/{name}.spice")
    return path.read_text()
