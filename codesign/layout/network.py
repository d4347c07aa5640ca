"""What `codesign layout MAPDIR` draws: every cell a mapped network's units use (at the
sizes in its manifest), one cell per unit, and the units placed in a row."""

from __future__ import annotations

from pathlib import Path

from codesign.layout import cells
from codesign.layout.circuit import Circuit, parse_subckts
from codesign.layout.place import place_row
from codesign.manifest import load_manifest
from codesign.netlist import identifier


def _clocks(layer: int) -> tuple[str, str]:
    # the network's clock nodes per layer (layer 0 keeps the plain names), as network.spice names them
    return ("phi_t", "phi_r") if layer == 0 else (f"phi_t_l{layer}", f"phi_r_l{layer}")


def used_cells(plan) -> list[Circuit]:
    """The sub-cells a unit instantiates (transitively), each as its own cell."""
    u = plan.units[0]
    unit = cells.unit_cell(plan, u)
    text = cells.library_text(plan.chip.kind.library(plan))
    subckts = parse_subckts(text)
    seen, todo = [], ["mru_comparator", *_children(subckts, plan.chip.kind.unit_body(plan, u))]
    while todo:
        name = todo.pop(0)
        if name in seen or name not in subckts:
            continue
        seen.append(name)
        todo += _children(subckts, "\n".join(" ".join(t) for _, t in subckts[name].lines))
    out = []
    for name in seen:
        out.append(cells.comparator_cell(u.comparator) if name == "mru_comparator"
                   else cells.flatten(text, name))
    return out + [unit]


def _children(subckts, text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        words = [w for w in line.split() if "=" not in w]
        if words and words[0][:1].upper() == "X" and words[-1] in subckts:
            names.append(words[-1])
    return names


def network_job(map_dir: Path):
    """(circuits, placement function, title, library name) for a map folder."""
    plan, _ = load_manifest(map_dir)
    kind = plan.chip.kind
    circuits = used_cells(plan)[:-1] + [cells.unit_cell(plan, u) for u in plan.units]
    pins = kind.unit_pins(plan)

    def placement(layouts):
        row = []
        for u in plan.units:
            n = identifier(u.name, "unit name")
            nodes = dict(zip(pins, kind.instance_nodes(plan, u, f"in_{n}", f"out_{n}", *_clocks(u.layer))))
            nodes.update({p.net: f"{n}_{p.net}" for p in layouts[f"mru_unit_{n}"].pins if p.net not in nodes})
            nodes["vss"] = "vss"
            row.append((layouts[f"mru_unit_{n}"], nodes))
        return "mru_network", place_row(row)

    return circuits, placement, f"network of {len(plan.units)} units ({plan.chip.name})", "network"
