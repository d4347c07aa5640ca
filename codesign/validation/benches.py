"""Test-bench assembly shared by the characterizations: header, supply, stimuli."""

from __future__ import annotations

from codesign.hardware.cells import cell_library
from codesign.hardware.params import Supply
from codesign.netlist import identifier, node, number
from codesign.pdk import model_statement


def header(title: str, supply: Supply, *libraries: str) -> list[str]:
    """Models of the corner, temperature, leakage-accurate gmin, cell templates."""
    return [
        f"* {identifier(title, 'bench title')}",
        model_statement(supply.corner),
        f".temp {number(supply.temp_c, 'temp_c')}",
        ".option gmin=1e-15",  # the default 1e-12 S would swamp femtoampere leakage
        cell_library(*libraries),
    ]


def supply_source(name: str, nd: str, supply: Supply) -> str:
    vdd = number(supply.vdd_v, "vdd_v", positive=True)
    return f"V{identifier(name, 'supply name')} {node(nd, 'supply node')} 0 {vdd}"


def step_pwl(values: list[float], period_s: float, t_edge_s: float, field: str) -> str:
    """PWL holding values[k] during step k (edges at the step starts).

    A constant sequence becomes a DC value: ngspice scans PWL points linearly
    at every time point, so thousands of idle points made long runs quadratic.
    """
    if all(v == values[0] for v in values):
        return f"DC {number(values[0], field)}"
    pts = [f"0 {number(values[0], field)}"]
    for k, v in enumerate(values):
        pts.append(f"{number(k * period_s + t_edge_s, 'time')} {number(v, field)}")
        pts.append(f"{number((k + 1) * period_s, 'time')} {number(v, field)}")
    return f"PWL({' '.join(pts)})"


def tran(stop_s: float, max_step_s: float) -> str:
    """Transient to stop_s with steps up to max_step_s. The print step is a
    tenth of it: with both equal, ngspice 39 took 10-40x more time points."""
    step = number(max_step_s / 10, "max_step_s", positive=True)
    return f".tran {step} {number(stop_s, 'stop_s', positive=True)} 0 {number(max_step_s, 'max_step_s', positive=True)}"
