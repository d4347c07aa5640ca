"""Placement of a network: its units in one row, boundaries abutting, with the
lines they share (supplies, clocks, reference ladder, reset) running through
the whole row as met4 buses above them; each unit's own pins (input, output,
state, bias inputs) continue on met3 to the top edge."""

from __future__ import annotations

from dataclasses import dataclass

from codesign.layout.gds import Shapes
from codesign.layout.route import V3, CellLayout
from codesign.layout.rules import rule

BUS_WIDTH = 400
BUS_PITCH = 800
PIN_LENGTH = 600


@dataclass
class Placement:
    shapes: Shapes  # the buses and pin extensions of the top cell
    offsets: list[tuple[str, int, int]]  # (cell name, x, y) of each unit
    boundary: tuple[int, int, int, int]
    buses: list[str]

    @property
    def area_um2(self) -> float:
        x0, y0, x1, y1 = self.boundary
        return (x1 - x0) * (y1 - y0) / 1e6


def place_row(units: list[tuple[CellLayout, dict[str, str]]]) -> Placement:
    """units: (layout, pin -> network node). Nodes that more than one unit uses become buses."""
    count: dict[str, int] = {}
    for _, nodes in units:
        for node in set(nodes.values()):
            count[node] = count.get(node, 0) + 1
    buses = [n for n in dict.fromkeys(n for _, nodes in units for n in nodes.values()) if count[n] > 1]
    s, offsets, x = Shapes(), [], 0
    top = max(c.boundary[3] - c.boundary[1] for c, _ in units)
    bus_y = {n: top + BUS_PITCH + k * BUS_PITCH for k, n in enumerate(buses)}
    upper = top + BUS_PITCH * (len(buses) + 1) + PIN_LENGTH
    for cell, nodes in units:
        bx0, by0, bx1, by1 = cell.boundary
        dx, dy = x - bx0, -by0
        offsets.append((cell.name, dx, dy))
        for pin in cell.pins:
            node = nodes.get(pin.net, pin.net)
            px0, px1, ptop = pin.x0_nm + dx, pin.x1_nm + dx, pin.y1_nm + dy
            if node in bus_y:
                y = bus_y[node]
                s.rect("met3", px0, ptop - 100, px1, y + V3 + rule("via3.5"))
                cx = (px0 + px1) // 2
                s.rect("met3", cx - V3 - rule("via3.4"), y - V3 - rule("via3.5"), cx + V3 + rule("via3.4"),
                       y + V3 + rule("via3.5"))
                s.rect("via3", cx - V3, y - V3, cx + V3, y + V3)
            else:
                s.rect("met3", px0, ptop - 100, px1, upper)
                s.rect("met3_pin", px0, upper - PIN_LENGTH, px1, upper)
                s.label("met3_label", node, (px0 + px1) // 2, upper - PIN_LENGTH // 2)
        x += bx1 - bx0
    for node, y in bus_y.items():
        s.rect("met4", 0, y - BUS_WIDTH // 2, x, y + BUS_WIDTH // 2)
        s.rect("met4_pin", 0, y - BUS_WIDTH // 2, PIN_LENGTH, y + BUS_WIDTH // 2)
        s.label("met4_label", node, PIN_LENGTH // 2, y)
    boundary = (0, 0, x, upper)
    s.rect("boundary", *boundary)
    return Placement(s, offsets, boundary, buses)
