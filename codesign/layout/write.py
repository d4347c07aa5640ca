"""Lay out a set of cells into a folder: one GDS, abstract (JSON) and PNG per cell,
one library GDS, optionally the placed network, and the checks (DRC, LVS)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codesign.layout import drc, lvs
from codesign.layout.circuit import Circuit
from codesign.layout.gds import gds_cell, write_library
from codesign.layout.place import Placement
from codesign.layout.route import CellLayout, layout

ROW_COUNTS = tuple(k / 2 for k in range(2, 33))  # 1, 1.5, 2, ... 16 rows per group
ASPECT = 1.25  # longest side over shortest side of the preferred layouts


def best_layout(circuit: Circuit) -> CellLayout:
    """The smallest of the layouts with the devices cut into 1 to 16 rows per group (in half steps), among
    those no more than ASPECT times longer than wide (or tall) when there are any."""
    from codesign.layout.devices import transistor

    total = sum(transistor(d, 0).width + 400 for d in circuit.devices if not d.model.endswith("mim_m3_1"))
    tries = [layout(circuit, max(4000, int(total / n))) for n in ROW_COUNTS]
    square = [c for c in tries if max(c.width_um, c.height_um) <= ASPECT * min(c.width_um, c.height_um)]
    return min(square or tries, key=lambda c: (c.area_um2, c.rows))


def abstract(c: CellLayout, circuit: Circuit) -> dict:
    x0, y0, x1, y1 = c.boundary
    return {
        "cell": c.name, "width_um": c.width_um, "height_um": c.height_um, "area_um2": round(c.area_um2, 3),
        "origin_um": [x0 / 1000, y0 / 1000], "rows": c.rows, "devices": len(circuit.devices),
        "device_area_um2": round(c.device_area_nm2 / 1e6, 3), "capacitor_area_um2": round(c.cap_area_nm2 / 1e6, 3),
        "pins": [{"name": p.net, "layer": p.layer, "box_um": [p.x0_nm / 1000, p.y0_nm / 1000, p.x1_nm / 1000,
                                                              p.y1_nm / 1000]} for p in c.pins],
    }


@dataclass
class Written:
    layouts: dict[str, CellLayout]
    checks: dict[str, dict]  # cell -> {"drc": [...], "lvs": "..."}

    @property
    def failures(self) -> int:
        return sum(bool(v["drc"]) + (not v.get("lvs_clean", True)) for v in self.checks.values())


def write_cells(circuits: list[Circuit], out: Path, library: str, check: bool,
                placement=None, previews: bool = True) -> Written:
    """Each circuit laid out into out/<cell>.gds, .json, .png; all into out/<library>.gds.
    placement: a function of the layouts returning (top cell name, Placement) to add the network."""
    from codesign.layout.render import render

    layouts, gds_cells, checks = {}, {}, {}
    for circuit in circuits:
        c = best_layout(circuit)
        layouts[circuit.name] = c
        gds_cells[circuit.name] = gds_cell(circuit.name, c.shapes)
        path = write_library(out / f"{circuit.name}.gds", [gds_cells[circuit.name]], circuit.name)
        (out / f"{circuit.name}.json").write_text(json.dumps(abstract(c, circuit), indent=1) + "\n")
        if previews:
            render(path, circuit.name, out / f"{circuit.name}.png")
        if check:
            result = lvs.compare(path, circuit)
            checks[circuit.name] = {"drc": [str(v) for v in drc.check(path)], "lvs_clean": result.match,
                                    "lvs": str(result)}
    tops = list(gds_cells.values())
    if placement is not None:
        name, p = placement(layouts)
        top = gds_cell(name, p.shapes, [(gds_cells[n], x, y) for n, x, y in p.offsets])
        tops.append(top)
        path = write_library(out / f"{name}.gds", [top], name)
        if previews:
            render(path, name, out / f"{name}.png")
        if check:
            checks[name] = {"drc": [str(v) for v in drc.check(path, name)]}
        layouts[name] = p
    write_library(out / f"{library}.gds", tops, library)
    if check:
        (out / "checks.json").write_text(json.dumps(checks, indent=1) + "\n")
    return Written(layouts, checks)


def report(w: Written, title: str, command: str) -> str:
    """layout.md: areas of the cells, what dominates, the checks."""
    lines = [f"# Layout: {title}", "", f"Produced by: `{command}`", "",
             "| cell | width x height (um) | area (um^2) | rows | transistor columns (um^2) | capacitor (um^2) |",
             "|---|---|---|---|---|---|"]
    for name, c in w.layouts.items():
        if isinstance(c, Placement):
            x0, y0, x1, y1 = c.boundary
            lines.append(f"| {name} (placed row) | {(x1 - x0) / 1000:.2f} x {(y1 - y0) / 1000:.2f} | "
                         f"{c.area_um2:.0f} | 1 | | |")
            continue
        lines.append(f"| {name} | {c.width_um:.2f} x {c.height_um:.2f} | {c.area_um2:.0f} | {c.rows} | "
                     f"{c.device_area_nm2 / 1e6:.0f} | {c.cap_area_nm2 / 1e6:.0f} |")
    if w.checks:
        lines += ["", "## Checks", ""]
        for name, v in w.checks.items():
            drc_text = "DRC clean" if not v["drc"] else f"DRC {len(v['drc'])} violations"
            lvs_text = "" if "lvs_clean" not in v else (", LVS clean" if v["lvs_clean"] else ", LVS MISMATCH")
            lines.append(f"- {name}: {drc_text}{lvs_text}")
    return "\n".join(lines) + "\n"
