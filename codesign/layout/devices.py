"""Transistor and tap columns: the drawn elements of a device row.

A transistor is drawn with horizontal diffusion and vertical poly gates, its
diffusion bottom at y = 0. Each source/drain region has a column of licons
under a li1 strip and one mcon up to met1; each gate runs up past the
diffusion to a poly contact in the row's gate band (y = band). Every terminal
ends in a met1 `Stub` that the router extends to its track. A wide device is
split into fingers (sources and drains alternate, W adds up, LVS combines
them back). All sizes come from the rule table (`codesign.layout.rules`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from codesign.layout.circuit import Device
from codesign.layout.gds import Shapes
from codesign.layout.rules import rule

GRID = 5  # manufacturing grid, nm
LICON = rule("licon.1")
MCON = rule("ct.1")
END = rule("licon.5c")  # diff beyond the outer licons
STUB_PITCH = 400  # met1 stub to stub: via pad 260 + m1.2 spacing 140
M1_HALF = MCON // 2 + rule("m1.4")  # half width of a met1 stub (mcon + enclosure)
GATE_LICON_ABOVE_DIFF = 250  # licon.14 (190) and licon.9 (psdm edge at +125, 110) with margin
FINGER_MAX_W = 4000  # wider devices are split into fingers
TAP_W = LICON + 2 * rule("licon.7")  # tap square side
DIFF_GAP = rule("difftap.3")
TAP_GAP = 300  # tap to diff: difftap.3 with room for the implant boundary (n/psd.7)


def snap(v: float) -> int:
    return int(math.ceil(round(v, 6) / GRID) * GRID)


@dataclass(frozen=True)
class Stub:
    """A terminal's met1 anchor: the router runs met1 from it to the net's track."""

    net: str
    x: int
    y0: int
    y1: int


@dataclass(frozen=True)
class Element:
    """A drawn column (device or tap), in its own coordinates (x from 0, diffusion bottom at y = 0)."""

    shapes: Shapes
    stubs: tuple[Stub, ...]
    width: int
    height: int  # diffusion / tap height
    is_tap: bool
    gate_xs: tuple[int, ...] = ()  # gate centres (for the row's npc strip)


def fingers(d: Device) -> tuple[int, list[int]]:
    """(L, finger widths) in nm; widths on the grid, adding up to W."""
    w, length = snap(d.w_um * 1000), snap(d.l_um * 1000)
    nf = max(1, math.ceil(w / FINGER_MAX_W))
    each = (w // nf) // GRID * GRID
    return length, [each] * (nf - 1) + [w - each * (nf - 1)]


def contact_column(s: Shapes, cx: int, y0: int, y1: int) -> int:
    """Licons stacked over [y0, y1] at centre cx under a li1 strip; returns the lowest licon's bottom."""
    pitch = LICON + rule("licon.2")
    n = max(1, (y1 - y0 + rule("licon.2")) // pitch)
    first = y0 + ((y1 - y0 - (n * pitch - rule("licon.2"))) // 2) // GRID * GRID
    for k in range(n):
        s.rect("licon", cx - LICON // 2, first + k * pitch, cx + LICON // 2, first + k * pitch + LICON)
    li_ext = rule("li.5") + GRID
    s.rect("li1", cx - LICON // 2, first - li_ext, cx + LICON // 2, first + (n - 1) * pitch + LICON + li_ext)
    return first


def mcon_stub(s: Shapes, net: str, cx: int, y: int) -> Stub:
    """An mcon with its met1 pad at (cx, y..y+MCON): the terminal's anchor."""
    s.rect("mcon", cx - MCON // 2, y, cx + MCON // 2, y + MCON)
    y0, y1 = y - rule("m1.5"), y + MCON + rule("m1.5")
    s.rect("met1", cx - M1_HALF, y0, cx + M1_HALF, y1)
    return Stub(net, cx, y0, y1)


def gate_gap(length: int) -> int:
    """Licon to gate spacing: licon.11 at least, more for short gates so that the gate's
    stub stays a stub pitch away from the source and drain stubs."""
    return max(rule("licon.11"), snap(STUB_PITCH - LICON / 2 - length / 2))


def transistor(d: Device, band: int) -> Element:
    """One transistor (all its fingers) with its gate contacts centred at y = band."""
    length, widths = fingers(d)
    drain, gate, source, _ = d.nets
    sg = gate_gap(length)
    pitch = LICON + 2 * sg + length
    s, stubs, gate_xs = Shapes(), [], []
    nf = len(widths)
    width = 2 * END + (nf + 1) * LICON + nf * (2 * sg + length)
    # fingers of unequal W (only the last may differ): one diffusion each side of its gate
    for k in range(nf + 1):
        cx = END + LICON // 2 + k * pitch
        h = min(widths[max(0, k - 1)], widths[min(k, nf - 1)])
        lo = contact_column(s, cx, rule("licon.5a"), h - rule("licon.5a"))
        stubs.append(mcon_stub(s, source if k % 2 == 0 else drain, cx, lo))
    for k, w in enumerate(widths):
        x0 = END + LICON + sg + k * pitch
        left = 0 if k == 0 else x0 - sg - LICON // 2
        right = width if k == nf - 1 else x0 + length + sg + LICON // 2
        s.rect("diff", left, 0, right, w)
        s.rect("poly", x0, -rule("poly.8"), x0 + length, band)
        gx = snap(x0 + length / 2 - GRID / 2)
        gate_xs.append(gx)
        half_pad = LICON // 2 + rule("licon.8")
        s.rect("poly", gx - half_pad, band - LICON // 2 - rule("licon.8a"), gx + half_pad,
               band + LICON // 2 + rule("licon.8a"))
        s.rect("licon", gx - LICON // 2, band - LICON // 2, gx + LICON // 2, band + LICON // 2)
        s.rect("li1", gx - LICON // 2, band - LICON // 2 - rule("li.5") - GRID, gx + LICON // 2,
               band + LICON // 2 + rule("li.5") + GRID)
        stubs.append(mcon_stub(s, gate, gx, band - MCON // 2))
    return Element(s, tuple(stubs), width, max(widths), False, tuple(gate_xs))


def tap(net: str) -> Element:
    """A tap square (its implant and well come from the row) tied to `net`."""
    s = Shapes()
    s.rect("tap", 0, 0, TAP_W, TAP_W)
    lo = contact_column(s, TAP_W // 2, rule("licon.7"), TAP_W - rule("licon.7"))
    return Element(s, (mcon_stub(s, net, TAP_W // 2, lo),), TAP_W, TAP_W, True)


def band_y(max_height: int) -> int:
    """Centre of a row's gate contacts for the row's tallest diffusion."""
    return snap(max_height + GATE_LICON_ABOVE_DIFF + LICON / 2)
