"""Flat circuits for layout: a SPICE subcircuit of our templates, flattened to
its sky130 devices (the thing the layout draws and LVS compares against).

The templates are read with a small reader of their own form (`.subckt`
lines with default parameters, `X` instances with `name={param}` or numbers,
`+` continuations, `*` comments); anything else is refused by name. Ideal
sources (`I`, `E`, `V`) stand for the shared bias generator: they are not
drawn, and every node they touch becomes a pin of the laid-out cell.
Node `0` is the cell's ground `vss`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NFET, PFET, MIM = "sky130_fd_pr__nfet_01v8", "sky130_fd_pr__pfet_01v8", "sky130_fd_pr__cap_mim_m3_1"
DEVICE_PINS = {NFET: ("d", "g", "s", "b"), PFET: ("d", "g", "s", "b"), MIM: ("c0", "c1")}
GROUND = "vss"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class CircuitError(ValueError):
    """A netlist the layout stage cannot read or draw (names the subcircuit and line)."""


@dataclass(frozen=True)
class Device:
    name: str  # flattened instance path, e.g. "XIu.XMN"
    model: str  # NFET, PFET or MIM
    nets: tuple[str, ...]  # in DEVICE_PINS order
    w_um: float
    l_um: float


@dataclass(frozen=True)
class Circuit:
    name: str
    pins: tuple[str, ...]  # subcircuit ports, then the nodes of ideal sources, then vss
    devices: tuple[Device, ...]

    @property
    def nets(self) -> list[str]:
        return list(dict.fromkeys(n for d in self.devices for n in d.nets))


@dataclass(frozen=True)
class _Subckt:
    name: str
    ports: tuple[str, ...]
    defaults: dict
    lines: tuple[tuple[int, list[str]], ...]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("$")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("*"):
            continue
        if line.startswith("+") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line[1:])
        else:
            out.append((number, line.strip()))
    return out


def _split_params(tokens: list[str]) -> tuple[list[str], dict]:
    words, params = [], {}
    for t in tokens:
        if "=" in t:
            k, _, v = t.partition("=")
            params[k.lower()] = v
        else:
            words.append(t)
    return words, params


def parse_subckts(text: str) -> dict[str, _Subckt]:
    """Every `.subckt` of a netlist text, by name."""
    found: dict[str, _Subckt] = {}
    current = None
    for number, line in _logical_lines(text):
        tokens = line.replace(" = ", "=").split()
        head = tokens[0].lower()
        if head == ".subckt":
            words, defaults = _split_params(tokens[1:])
            current = (words[0], tuple(words[1:]), defaults, [])
        elif head == ".ends":
            if current is None:
                raise CircuitError(f"line {number}: .ends without .subckt")
            name, ports, defaults, body = current
            found[name] = _Subckt(name, ports, defaults, tuple(body))
            current = None
        elif current is not None:
            current[3].append((number, tokens))
    return found


def _value(text: str, scope: dict, where: str) -> float:
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        key = text[1:-1].strip().lower()
        if key not in scope:
            raise CircuitError(f"{where}: parameter {key!r} is not defined")
        return _value(scope[key], {}, where) if isinstance(scope[key], str) else float(scope[key])
    try:
        return float(text)
    except ValueError:
        raise CircuitError(f"{where}: cannot read the value {text!r} (numbers or {{param}} only)") from None


def flatten(text: str, top: str, name: str | None = None) -> Circuit:
    """The flat circuit of subcircuit `top` in netlist `text` (all its subcircuits in `text`)."""
    subckts = parse_subckts(text)
    if top not in subckts:
        raise CircuitError(f"no .subckt {top} in the netlist")
    devices: list[Device] = []
    external: list[str] = []

    def walk(sub: _Subckt, nets: dict, scope: dict, prefix: str, depth: int) -> None:
        if depth > 20:
            raise CircuitError(f"{sub.name}: subcircuits nest deeper than 20 levels")
        for number, tokens in sub.lines:
            where = f"{sub.name} line {number} ({tokens[0]})"
            words, params = _split_params(tokens)
            kind = words[0][0].upper()

            def net(n: str) -> str:
                if n == "0":
                    return GROUND
                return nets.get(n, f"{prefix}{n}")

            if kind in "IEVGFH":
                external.extend(net(n) for n in words[1:3])
                continue
            if kind != "X":
                raise CircuitError(f"{where}: only X instances and ideal sources can be laid out")
            model, nodes = words[-1], words[1:-1]
            values = {k: _value(v, scope, where) for k, v in params.items()}
            if model in DEVICE_PINS:
                if len(nodes) != len(DEVICE_PINS[model]):
                    raise CircuitError(f"{where}: {model} takes {len(DEVICE_PINS[model])} nodes")
                if "w" not in values or "l" not in values:
                    raise CircuitError(f"{where}: {model} needs w and l")
                for k in range(int(round(values.get("m", 1)))):
                    suffix = f"_m{k}" if values.get("m", 1) != 1 else ""
                    devices.append(Device(f"{prefix}{words[0]}{suffix}", model, tuple(net(n) for n in nodes),
                                          values["w"], values["l"]))
                continue
            if model not in subckts:
                raise CircuitError(f"{where}: no subcircuit {model!r} in the netlist")
            child = subckts[model]
            if len(nodes) != len(child.ports):
                raise CircuitError(f"{where}: {model} has {len(child.ports)} ports, {len(nodes)} nodes given")
            child_scope = {k: _value(v, scope, where) for k, v in child.defaults.items()}
            child_scope.update(values)
            walk(child, {p: net(n) for p, n in zip(child.ports, nodes)}, child_scope,
                 f"{prefix}{words[0]}.", depth + 1)

    sub = subckts[top]
    scope = {k: _value(v, {}, f"{top} defaults") for k, v in sub.defaults.items()}
    walk(sub, {p: p for p in sub.ports}, scope, "", 0)
    ports = tuple(GROUND if p == "0" else p for p in sub.ports)
    pins = tuple(dict.fromkeys(ports + tuple(external) + (GROUND,)))
    cname = name or top
    if not _NAME.match(cname):
        raise CircuitError(f"cell name {cname!r}: letters, digits and _ only")
    for d in devices:
        if d.model == NFET and d.nets[3] != GROUND:
            raise CircuitError(f"{cname}: nfet {d.name} has its body on {d.nets[3]}, not on vss (no isolated "
                               "p-wells in this process option)")
    return Circuit(cname, pins, tuple(devices))
