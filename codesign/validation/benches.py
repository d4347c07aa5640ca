"""Test-bench assembly shared by the characterizations: header, supply, stimuli."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

from codesign.hardware.cells import cell_library
from codesign.hardware.params import MC_SEED_MAX, Supply
from codesign.netlist import identifier, node, number
from codesign.pdk import corners, model_statement


def mc_seed_option(seed: object) -> str:
    """`.option seed=<k>` for Monte Carlo chip k, from a checked integer only.

    The seed must be in the netlist: ngspice 39 reads it before expanding the
    subcircuits, where every `agauss` is drawn. `set rndseed` in .spiceinit
    is overridden by the batch-mode start-up, which seeds from the process id.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= MC_SEED_MAX:
        raise ValueError(f"mc_seed: must be an integer in [1, {MC_SEED_MAX}], got {seed!r}")
    return f".option seed={number(seed, 'mc_seed')}"


def unit_supply(supply: Supply, unit_names: Iterable[str]) -> Supply:
    """The supply of a netlist that holds units of a network without the rest (one netlist per unit).

    Every unit's netlist lists its devices in the same order, so under chip k's seed each would
    draw the same mismatch: a chip of identical units. Units cut out of chip k draw with a seed of
    their own, a hash of k and their names, the same on every run and worker. The plain corner
    (no seed) is returned unchanged."""
    if supply.mc_seed is None:
        return supply
    digest = hashlib.sha256("/".join([str(supply.mc_seed), *unit_names]).encode()).digest()
    return dataclasses.replace(supply, mc_seed=1 + int.from_bytes(digest[:8], "big") % MC_SEED_MAX)


def model_corner(supply: Supply) -> str:
    """The library section a bench loads: the corner, or its `_mm` variant for a Monte Carlo chip."""
    if supply.mc_seed is None:
        if supply.corner.endswith("_mm"):  # ngspice would seed its draws from the process id: no chip twice
            raise ValueError(f"corner: {supply.corner!r} draws mismatch; give the plain corner "
                             f"{supply.corner[:-3]!r} with a Monte Carlo seed (mc_seed) to name the chip")
        return supply.corner
    mismatch = f"{supply.corner}_mm"
    if supply.corner.endswith("_mm") or mismatch not in corners():
        plain = [c for c in corners() if f"{c}_mm" in corners()]
        raise ValueError(f"corner: {supply.corner!r} has no mismatch variant; with mc_seed give one of {plain}")
    return mismatch


def header(title: str, supply: Supply, *libraries: str) -> list[str]:
    """Models of the corner, temperature, leakage-accurate gmin, cell templates.

    With `supply.mc_seed` set, the corner's mismatch (`_mm`) models and the
    seed that fixes their per-device draws (see docs/circuits.md, "Monte Carlo chips").
    """
    lines = [
        f"* {identifier(title, 'bench title')}",
        model_statement(model_corner(supply)),
    ]
    if supply.mc_seed is not None:
        lines.append(mc_seed_option(supply.mc_seed))
    return lines + [
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
