"""The one module that talks to gdstk: shapes in, GDS files out.

A cell is drawn as plain data (`Shapes`: rectangles and labels in nm on the
named layers of `codesign.layout.rules.LAYERS`); this module turns cells into
gdstk cells and libraries and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gdstk

from codesign.layout.rules import DBU_UM, LAYERS


@dataclass
class Shapes:
    """Rectangles (layer, x0, y0, x1, y1) and labels (layer, text, x, y), all in nm."""

    rects: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    labels: list[tuple[str, str, int, int]] = field(default_factory=list)

    def rect(self, layer: str, x0: int, y0: int, x1: int, y1: int) -> None:
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}")
        x0, x1 = sorted((int(x0), int(x1)))
        y0, y1 = sorted((int(y0), int(y1)))
        if x1 > x0 and y1 > y0:
            self.rects.append((layer, x0, y0, x1, y1))

    def label(self, layer: str, text: str, x: int, y: int) -> None:
        self.labels.append((layer, text, int(x), int(y)))

    def extend(self, other: Shapes, dx: int = 0, dy: int = 0) -> None:
        self.rects += [(n, x0 + dx, y0 + dy, x1 + dx, y1 + dy) for n, x0, y0, x1, y1 in other.rects]
        self.labels += [(n, t, x + dx, y + dy) for n, t, x, y in other.labels]

    def bbox(self, layers: tuple[str, ...] | None = None) -> tuple[int, int, int, int]:
        rs = [r for r in self.rects if layers is None or r[0] in layers]
        if not rs:
            return (0, 0, 0, 0)
        return (min(r[1] for r in rs), min(r[2] for r in rs), max(r[3] for r in rs), max(r[4] for r in rs))


def gds_cell(name: str, shapes: Shapes, children: list[tuple[gdstk.Cell, int, int]] = ()) -> gdstk.Cell:
    """A gdstk cell of the shapes (nm) plus references to child cells placed at (x, y) nm."""
    cell = gdstk.Cell(name)
    for layer, x0, y0, x1, y1 in shapes.rects:
        spec = LAYERS[layer]
        cell.add(gdstk.rectangle((x0 * DBU_UM, y0 * DBU_UM), (x1 * DBU_UM, y1 * DBU_UM),
                                 layer=spec.gds_layer, datatype=spec.gds_datatype))
    for layer, text, x, y in shapes.labels:
        spec = LAYERS[layer]
        cell.add(gdstk.Label(text, (x * DBU_UM, y * DBU_UM), layer=spec.gds_layer, texttype=spec.gds_datatype))
    for child, x, y in children:
        cell.add(gdstk.Reference(child, (x * DBU_UM, y * DBU_UM)))
    return cell


def write_library(path: Path, cells: list[gdstk.Cell], name: str = "codesign") -> Path:
    """Write cells (and every cell they reference) to one GDS file (units um, database unit 1 nm)."""
    lib = gdstk.Library(name, unit=1e-6, precision=DBU_UM * 1e-6)
    seen: set[str] = set()
    for cell in cells:
        for c in [cell, *cell.dependencies(True)]:
            if c.name not in seen:
                seen.add(c.name)
                lib.add(c)
    path = Path(path)
    lib.write_gds(str(path))
    return path
