"""Netlist assembly: a plan becomes network.spice and one file per unit.

The unit subcircuit is the comparator plus the memory cell of the chip's
hardware kind (`codesign.hardware.kinds`); this module never branches on the
kind. Synapse arrays are behavioural (ideal weighted current sums) unless the
chip says synapses = "mirror": then layer 0's is built from sky130 current
mirrors (`codesign.mapping.synapses`). The readout is behavioural.
"""

from __future__ import annotations

import dataclasses
import re

from codesign.hardware.cells import cell_library, clock_sources, latched_comparator
from codesign.manifest import LayerPlan, NetworkPlan, UnitPlan
from codesign.netlist import identifier, number

_COMMENT_SAFE = re.compile(r"[A-Za-z0-9_.,:;=+*/()\- ]*")


def comment(text: str) -> str:
    if not _COMMENT_SAFE.fullmatch(text):
        raise ValueError(f"netlist comment: {text!r} has characters other than letters, digits and _.,:;=+*/()- ")
    return f"* {text}" if text else "*"


def _header(plan: NetworkPlan, what: str) -> list[str]:
    c = plan.chip
    return [
        comment(f"{what}"),
        comment(f"produced by: codesign map, from run: {plan.source}"),
        comment(f"chip: {identifier(c.name, 'chip.name')}, vdd {number(c.vdd_v, 'vdd_v')} V, "
                f"i_unit {number(c.i_unit_a, 'i_unit_a')} A, clock {number(c.clock_period_s, 'clock')} s, "
                f"{c.hardware} hardware, L = {plan.levels}, eps = {number(plan.eps, 'eps')}"),
        comment("rebuild with codesign.mapping.mapper.build_netlists(load_manifest(folder)), see manifest.json"),
    ]


def unit_subckt(plan: NetworkPlan, u: UnitPlan) -> str:
    """`.subckt mru_unit_<name>`: the unit's comparator, memory cell, and their bias currents."""
    name = identifier(f"mru_unit_{u.name}", "unit name")
    kind = plan.chip.kind
    return "\n".join([
        comment(f"unit {u.name}: alpha = {number(u.alpha, 'alpha')}, beta = {number(u.beta, 'beta')}; "
                f"input sensed in units of beta: thresholds {number(u.comparator.i_dn_threshold_a, 'i')} A, "
                f"{number(u.comparator.i_up_threshold_a, 'i')} A; readout {number(u.i_step_a, 'i_step')} A per level"),
        f".subckt {name} {' '.join(kind.unit_pins(plan))}",
        latched_comparator(u.comparator, "cmp", "in", "up", "dn", kind.transfer_clock),
        kind.unit_body(plan, u),
        f".ends {name}",
    ])


def library(plan: NetworkPlan) -> str:
    """Cell templates plus the composed subcircuits the unit subcircuits use."""
    text = plan.chip.kind.library(plan)
    return text + "\n" + cell_library("synapse") if plan.chip.synapses == "mirror" else text


def layer_clocks(layer: int) -> tuple[str, str]:
    """The clock nodes (phi_t, phi_r) of a layer's units: layer 0 keeps the plain names."""
    return ("phi_t", "phi_r") if layer == 0 else (f"phi_t_l{layer}", f"phi_r_l{layer}")


def unit_instance(plan: NetworkPlan, u: UnitPlan, inp: str, out: str) -> str:
    """An instance of unit u with its per-unit nodes named after it, on its layer's clocks."""
    n = identifier(u.name, "unit name")
    nodes = plan.chip.kind.instance_nodes(plan, u, inp, out, *layer_clocks(u.layer))
    return f"X{n} {' '.join(nodes)} mru_unit_{n}"


def shared_sources(plan: NetworkPlan, vdd_v: float | None = None) -> list[str]:
    """Supply, clocks (one set per layer, each delayed by the layers before it: staggered
    phases) and the kind's shared references: shared by all units. vdd_v: the supply the
    bench runs at (default the chip's); clocks swing rail to rail, the references (from the
    bias generator) stay where the chip spec puts them."""
    c = plan.chip
    vdd = c.vdd_v if vdd_v is None else vdd_v
    clocks = [clock_sources(c.clock(), c.t_transfer_s, vdd, *layer_clocks(i), delay_s=i * c.t_layer_s)
              for i in range(len(plan.layers))]
    return [f"Vdd vdd 0 {number(vdd, 'vdd_v', positive=True)}"] + c.kind.shared_sources(plan, clocks, vdd)


def state_expr(plan: NetworkPlan, u: UnitPlan) -> str:
    """h of unit u (software units) from its readout current: I_out / I_unit - L * alpha
    (the netlist's form of `state_from_current`)."""
    n = identifier(u.name, "unit name")
    return (f"(-i(vo_{n})/{number(plan.chip.i_unit_a, 'i_unit_a', positive=True)}"
            f"-{number(plan.levels * u.alpha, 'L*alpha')})")


def state_from_current(plan: NetworkPlan, u: UnitPlan, i_vo_a):
    """h of unit u from the current i(vo_<unit>) (numbers or arrays): what `state_expr` computes in the netlist."""
    return -i_vo_a / plan.chip.i_unit_a - plan.levels * u.alpha


def separable(plan: NetworkPlan) -> bool:
    """Whether each unit can be simulated with the network's sources but without the other units:
    any single-layer network (the readout is behavioural and instantaneous). With behavioural
    synapses the units share only ideal sources. A mirror array (chip.synapses = "mirror")
    shares its input columns and reference column, but those nodes are driven by the ideal
    front-end currents and each row feeds only its own unit: a unit's netlist keeps the
    columns whole, its own row, and the other rows' synapse pfets as one gate load per column
    (they slow a column's steps; measured: docs/mapping.md, "Mirror synapse array"). Deeper
    layers read the units before them: a network of several layers is one netlist."""
    return len(plan.layers) == 1


def _weighted_sum(terms: list[tuple[float, str]], constant: float, field: str) -> str:
    parts = [number(constant, field)] + [f"({number(w, field)})*{s}" for w, s in terms if w != 0.0]
    return "+".join(parts)


def synapse_array(plan: NetworkPlan, layer: LayerPlan, inputs: list[str], rows: list[int] | None = None,
                  vdd_v: float | None = None) -> list[str]:
    """The synapse array of `layer`: the chip's kind (`chip.synapses`) for layer 0, behavioural
    for deeper layers (their inputs are readout currents; no mirror array takes them).
    rows: only the rows (unit indices) of these units (default all); a mirror array keeps its
    columns whole and is sized from the whole layer. vdd_v: the supply the bench sets (default
    the chip's), from which a mirror array's operating-point hints are taken."""
    if plan.chip.synapses == "mirror" and layer is plan.layers[0]:
        from codesign.mapping.synapses import mirror_array, mirror_netlist

        p = mirror_array(plan, layer)
        lines = [comment(f"synapse array of {layer.name}: sky130 current mirrors, M_c = {p.m_column} "
                         "(front end, rail regulators and bias currents ideal; docs/mapping.md)")]
        if rows is not None:  # why the other rows may go: `separable`
            lines.append(comment("all columns, only the rows of the units below (the other rows as one gate "
                                 "load per column)"))
        vdd_v = plan.chip.vdd_v if vdd_v is None else vdd_v
        return lines + mirror_netlist(p, [u.name for u in layer.units], inputs, rows=rows, vdd_v=vdd_v)
    if rows is not None:
        layer = dataclasses.replace(layer, units=tuple(layer.units[i] for i in rows),
                                    weight=tuple(layer.weight[i] for i in rows),
                                    bias=tuple(layer.bias[i] for i in rows))
    return behavioural_synapse_array(plan, layer, inputs)


def behavioural_synapse_array(plan: NetworkPlan, layer: LayerPlan, inputs: list[str]) -> list[str]:
    """Behavioural synapse array: each unit's input current i_bias + (W x + b) / beta * I_unit,
    kept in [i_in_min_a, i_in_max_a] (the comparator's decision is unchanged by that)."""
    c = plan.chip
    lines = [comment(f"synapse array of {layer.name}: ideal weighted current sums (DACs not built)")]
    for u, row, bias in zip(layer.units, layer.weight, layer.bias):
        z = _weighted_sum(list(zip(row, inputs)), bias, f"{layer.name} synapse")
        i = (f"max({number(c.i_in_min_a, 'i_in_min_a')},min({number(c.i_in_max_a, 'i_in_max_a')},"
             f"{number(c.i_bias_a, 'i_bias_a')}+{number(c.i_unit_a / u.beta, 'i_unit/beta')}*({z})))")
        lines.append(f"Bsyn_{identifier(u.name, 'unit name')} vdd in_{u.name} I={i}")
    return lines


def network_netlist(plan: NetworkPlan, vdd_v: float | None = None, units: tuple[UnitPlan, ...] | None = None) -> str:
    """The whole network: library, unit subcircuits, shared sources, synapse arrays, units, readout.

    Inputs are the voltages of nodes x0..x{n-1} (1 V = 1 unit of input); outputs
    are the voltages of y0..y{m-1} (1 V = 1 unit of output). The simulation bench
    adds the device models, the input sources and the analysis (and may set the supply, vdd_v).
    `units` (a separable network only): just these units with their synapse rows and the
    shared sources (a mirror array's front end, input columns and reference column whole),
    no readout; a bench computes y from their output currents (`state_from_current`), which
    is what the readout's sources do."""
    rows = None
    if units is not None:
        if not separable(plan):
            raise ValueError("units: only a single-layer network is separable")
        rows = [u.index for u in units]
        what = f"units {', '.join(u.name for u in units)} of the network with their synapse rows (no readout)"
    else:
        what = "network netlist (hierarchical: one subcircuit per unit)"
    members = [layer.units if units is None else tuple(units) for layer in plan.layers]  # per layer
    lines = _header(plan, what) + [library(plan)]
    lines += [unit_subckt(plan, u) for layer_units in members for u in layer_units]
    lines += [comment("shared by all units: supply, level ladder, clocks")] + shared_sources(plan, vdd_v)
    inputs = [f"v(x{j})" for j in range(plan.layers[0].n_in)]
    for layer, layer_units in zip(plan.layers, members):
        lines += synapse_array(plan, layer, inputs, rows, vdd_v)
        for u in layer_units:
            n = identifier(u.name, "unit name")
            lines += [unit_instance(plan, u, f"in_{n}", f"out_{n}"),
                      f"Vo_{n} out_{n} 0 {number(plan.chip.v_out_v, 'v_out_v')}"]
        inputs = [state_expr(plan, u) for u in layer.units]
    if units is None:
        pooled = ", averaged over the frame ends by the bench" if plan.readout.mode == "mean" else ""
        lines.append(comment(f"readout ({plan.readout.mode}): y = W_r h + b_r, behavioural (1 V = 1 unit){pooled}"))
        for j, (row, bias) in enumerate(zip(plan.readout.weight, plan.readout.bias)):
            lines.append(f"By{j} y{j} 0 V={_weighted_sum(list(zip(row, inputs)), bias, 'readout')}")
    return "\n".join(lines) + "\n"


def unit_netlist(plan: NetworkPlan, u: UnitPlan) -> str:
    """One unit's file: header and its subcircuit (the templates it uses are in network.spice)."""
    return "\n".join(_header(plan, f"unit {u.name} (layer {u.layer}, index {u.index})")
                     + [unit_subckt(plan, u)]) + "\n"


def build_netlists(plan: NetworkPlan) -> dict[str, str]:
    """{file name inside the map folder: netlist text}."""
    files = {"network.spice": network_netlist(plan)}
    files.update({u.file: unit_netlist(plan, u) for u in plan.units})
    return files
