"""Lay out any flat circuit: rows of transistors, met2 tracks, met3 trunks, MIM capacitors.

Placement: the nfets in rows over the substrate, the pfets in rows inside an
n-well (one set of rows per body net), each row cut to a target width with a
tap at its start and every TAP_EVERY nm; rows alternate p and n.
Routing, correct by construction:
- every terminal has its own met1 stub at its own x (stubs are a stub pitch
  apart), running vertically to one horizontal met2 track of its row;
- a row's tracks are shared by nets whose x-spans do not overlap (left-edge
  channel assignment);
- a net that leaves its row (pins, nets in several rows, capacitor plates)
  gets a vertical met3 trunk, joined to each of its tracks by via2; nets of
  disjoint row ranges share a trunk x; pins end at the top edge of the cell
  with a met3 pin and label;
- a MIM capacitor (met3 plate under capm) sits right of the rows, drawn as tall
  as the rows at its area; met4 straps join its plates to their trunks through via3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codesign.layout.circuit import MIM, NFET, PFET, Circuit, CircuitError
from codesign.layout.devices import (
    DIFF_GAP,
    GRID,
    TAP_GAP,
    Element,
    Stub,
    band_y,
    snap,
    tap,
    transistor,
)
from codesign.layout.gds import Shapes
from codesign.layout.rules import rule

TAP_EVERY = 10_000  # a tap at least this often along a row (latch-up; well and substrate held)
TRACK_PITCH = 420  # met2 tracks: via pads 260 (via1) / 280 (via2) tall, m2.2 140 between
TRUNK_PITCH = 700  # met3 trunks: via2 pad 330, m3.2 300 between
EDGE = 700  # boundary margin: half the n-well spacing (nwell.2a) so cells abut cleanly
PIN_LENGTH = 600
V1 = rule("via.1a") // 2
V2 = rule("via2.1a") // 2
V3 = rule("via3.1") // 2
IMPLANT = rule("nsd.5a")
WELL = rule("difftap.8")


@dataclass
class Row:
    kind: str  # "n" or "p"
    bulk: str
    shapes: Shapes = field(default_factory=Shapes)
    stubs: list[Stub] = field(default_factory=list)
    band: int = 0
    width: int = 0
    height: int = 0  # tallest element
    tracks: dict[str, int] = field(default_factory=dict)  # net -> track index
    y: int = 0  # offset of the row's local y = 0 in the cell
    well_top: int = 0  # top of the row's n-well (p rows)

    @property
    def top(self) -> int:
        return self.band + LICON_HALF + rule("licon.15")

    @property
    def bottom(self) -> int:
        deepest = self.band - max(self.tracks.values(), default=0) * TRACK_PITCH - rule("via.5a") - V1
        return min(deepest, -WELL if self.kind == "p" else -rule("poly.8"), -IMPLANT)


LICON_HALF = rule("licon.1") // 2


@dataclass(frozen=True)
class Pin:
    net: str
    layer: str
    x0_nm: int
    y0_nm: int
    x1_nm: int
    y1_nm: int


@dataclass
class CellLayout:
    name: str
    shapes: Shapes
    boundary: tuple[int, int, int, int]
    pins: list[Pin]
    rows: int
    device_area_nm2: int  # diffusion + gates + contacts of the transistors (their columns)
    cap_area_nm2: int  # capacitors with their plates and straps

    @property
    def width_um(self) -> float:
        return (self.boundary[2] - self.boundary[0]) / 1000

    @property
    def height_um(self) -> float:
        return (self.boundary[3] - self.boundary[1]) / 1000

    @property
    def area_um2(self) -> float:
        return self.width_um * self.height_um


def _groups(circuit: Circuit) -> list[tuple[str, str, list]]:
    """(kind, bulk, devices) in order of first appearance: pfets by body net, then nfets."""
    groups: dict[tuple[str, str], list] = {}
    for d in circuit.devices:
        if d.model == PFET:
            groups.setdefault(("p", d.nets[3]), []).append(d)
    nfets = [d for d in circuit.devices if d.model == NFET]
    if nfets:
        groups[("n", nfets[0].nets[3])] = nfets
    return [(k, b, ds) for (k, b), ds in groups.items()]


def _fill_rows(kind: str, bulk: str, devices: list, target: int) -> list[Row]:
    """Cut a group into rows of about `target` nm, drawing each row with its own gate band."""
    rows, current, x = [], [], 0
    for d in devices:
        w = transistor(d, 0).width
        if current and x + w > target:
            rows.append(current)
            current, x = [], 0
        current.append(d)
        x += w + DIFF_GAP
    if current:
        rows.append(current)
    return [_draw_row(kind, bulk, ds) for ds in rows]


def _draw_row(kind: str, bulk: str, devices: list) -> Row:
    row = Row(kind, bulk)
    tall = max(max(transistor(d, 0).height for d in devices), tap(bulk).height)
    row.band = band_y(tall)
    placed: list[tuple[Element, int]] = []
    x, last_tap = 0, None
    for d in devices:
        if last_tap is None or x - last_tap > TAP_EVERY:
            t = tap(bulk)
            x += TAP_GAP if placed else 0
            placed.append((t, x))
            last_tap, x = x, x + t.width + TAP_GAP
        else:
            x += DIFF_GAP
        e = transistor(d, row.band)
        placed.append((e, x))
        x += e.width
    row.width, row.height = x, tall
    dev_implant, tap_implant = ("nsdm", "psdm") if kind == "n" else ("psdm", "nsdm")
    gates = []
    for i, (e, ex) in enumerate(placed):
        row.shapes.extend(e.shapes, ex, 0)
        row.stubs += [Stub(s.net, s.x + ex, s.y0, s.y1) for s in e.stubs]
        gates += [g + ex for g in e.gate_xs]
        left = ex - IMPLANT if i == 0 else snap((placed[i - 1][1] + placed[i - 1][0].width + ex) / 2)
        right = ex + e.width + IMPLANT if i == len(placed) - 1 else snap((ex + e.width + placed[i + 1][1]) / 2)
        row.shapes.rect(tap_implant if e.is_tap else dev_implant, left, -IMPLANT, right, tall + IMPLANT)
    if kind == "p":
        row.well_top = max(tall + WELL, rule("nwell.1") - WELL)
        row.shapes.rect("nwell", -WELL, -WELL, x + WELL, row.well_top)
    npc = LICON_HALF + rule("licon.15")
    row.shapes.rect("npc", min(gates) - npc, row.band - npc, max(gates) + npc, row.band + npc)
    return row


def _assign_tracks(row: Row, trunk_x: dict[str, int]) -> None:
    """Left-edge channel assignment of the row's nets to tracks."""
    spans: dict[str, list[int]] = {}
    for s in row.stubs:
        spans.setdefault(s.net, []).append(s.x)
    intervals = []
    for net, xs in spans.items():
        xs = xs + ([trunk_x[net]] if net in trunk_x else [])
        intervals.append((min(xs) - VIA2_PAD_X, max(xs) + VIA2_PAD_X, net))
    ends: list[int] = []
    for lo, hi, net in sorted(intervals):
        for k, end in enumerate(ends):
            if end + rule("m2.2") <= lo:
                ends[k] = hi
                row.tracks[net] = k
                break
        else:
            ends.append(hi)
            row.tracks[net] = len(ends) - 1


VIA2_PAD_X = V2 + rule("via2.5")  # 185: the widest met2 pad on a track


def _route_row(row: Row, s: Shapes, trunk_x: dict[str, int]) -> dict[str, list[int]]:
    """Stubs, vias and tracks of one row into s (cell coordinates); returns net -> track ys used by trunks."""
    y_of = {net: row.y + row.band - k * TRACK_PITCH for net, k in row.tracks.items()}
    xs: dict[str, list[int]] = {}
    for st in row.stubs:
        ty = y_of[st.net]
        s.rect("met1", st.x - _M1, min(row.y + st.y0, ty - _M1_PAD_Y), st.x + _M1,
               max(row.y + st.y1, ty + _M1_PAD_Y))
        s.rect("met1", st.x - V1 - rule("via.4a"), ty - _M1_PAD_Y, st.x + V1 + rule("via.4a"), ty + _M1_PAD_Y)
        s.rect("via", st.x - V1, ty - V1, st.x + V1, ty + V1)
        s.rect("met2", st.x - V1 - rule("m2.5"), ty - V1 - rule("m2.4"), st.x + V1 + rule("m2.5"),
               ty + V1 + rule("m2.4"))
        xs.setdefault(st.net, []).append(st.x)
    used: dict[str, list[int]] = {}
    for net, ty in y_of.items():
        pts = xs[net] + ([trunk_x[net]] if net in trunk_x else [])
        s.rect("met2", min(pts), ty - _M2_HALF, max(pts), ty + _M2_HALF)
        # pads closer than m2.2 along a track would leave a notch: fill it at pad height
        pads = sorted([(x - V1 - rule("m2.5"), x + V1 + rule("m2.5")) for x in xs[net]]
                      + ([(trunk_x[net] - VIA2_PAD_X, trunk_x[net] + VIA2_PAD_X)] if net in trunk_x else []))
        for (_, right), (left, _) in zip(pads, pads[1:]):
            if 0 < left - right < rule("m2.2"):
                s.rect("met2", right - GRID, ty - V1 - rule("m2.4"), left + GRID, ty + V1 + rule("m2.4"))
        if net in trunk_x:
            tx = trunk_x[net]
            s.rect("met2", tx - VIA2_PAD_X, ty - V2 - rule("via2.4"), tx + VIA2_PAD_X, ty + V2 + rule("via2.4"))
            s.rect("via2", tx - V2, ty - V2, tx + V2, ty + V2)
            s.rect("met3", tx - V2 - rule("m3.4"), ty - V2 - rule("m3.4"), tx + V2 + rule("m3.4"),
                   ty + V2 + rule("m3.4"))
            used.setdefault(net, []).append(ty)
    return used


_M3_PAD_HALF = max(V2 + rule("m3.4"), V3 + rule("via3.4"))  # the wider of a trunk's via2 and via3 pads
_M1 = rule("ct.1") // 2 + rule("m1.4")
_M1_PAD_Y = V1 + rule("via.5a")
_M2_HALF = rule("m2.1") // 2


def _cap_sides(d, height: int) -> tuple[int, int]:
    """Width and height of the top plate: the template's w x l, or, when the rows leave more height
    than l, the same area drawn taller and narrower (up to CAP_MAX_SIDE, no narrower than CAP_MIN_SIDE)."""
    side, side_l = snap(d.w_um * 1000), snap(d.l_um * 1000)
    if side < rule("capm.1") or side_l < rule("capm.1"):
        raise CircuitError(f"{d.name}: MIM capacitor side {min(side, side_l)} nm is below capm.1")
    area = d.w_um * d.l_um * 1e6
    tall = snap(min(height, CAP_MAX_SIDE))
    if tall > side_l and area / tall >= CAP_MIN_SIDE:
        side = snap(area / tall)
        side, side_l = side, snap(area / side)
    return side, side_l


CAP_MAX_SIDE = 30_000  # the MIM model's largest side
CAP_MIN_SIDE = 2_000


def _capacitor(s: Shapes, d, x0: int, y0: int, height: int) -> tuple[int, dict[str, int], int]:
    """A MIM capacitor with its bottom-plate tab left of it, its top plate at most `height` tall where the
    area allows; returns (right edge, net -> strap y, area)."""
    side, side_l = _cap_sides(d, height - 2 * rule("capm.3"))
    top_net, bottom_net = d.nets
    tab = 1000
    cx0, cy0 = x0 + tab + rule("capm.3"), y0 + rule("capm.3")
    s.rect("capm", cx0, cy0, cx0 + side, cy0 + side_l)
    s.rect("met3", cx0 - rule("capm.3"), cy0 - rule("capm.3"), cx0 + side + rule("capm.3"),
           cy0 + side_l + rule("capm.3"))
    s.rect("met3", x0, cy0 - rule("capm.3"), cx0, cy0 - rule("capm.3") + 600)  # the tab
    # via3 array on the top plate, capm.4 from its edge, met4 over it
    pitch = 2 * V3 + rule("via3.2")
    inner = rule("capm.4")
    nx, ny = (side - 2 * inner + rule("via3.2")) // pitch, (side_l - 2 * inner + rule("via3.2")) // pitch
    ox = cx0 + (side - (nx * pitch - rule("via3.2"))) // 2 // GRID * GRID
    oy = cy0 + (side_l - (ny * pitch - rule("via3.2"))) // 2 // GRID * GRID
    for i in range(nx):
        for j in range(ny):
            s.rect("via3", ox + i * pitch, oy + j * pitch, ox + i * pitch + 2 * V3, oy + j * pitch + 2 * V3)
    m4 = rule("m4.3")
    s.rect("met4", ox - m4, oy - m4, ox + nx * pitch - rule("via3.2") + m4, oy + ny * pitch - rule("via3.2") + m4)
    # the tab's via3 and the two strap heights (the router draws the straps to the trunks)
    tab_via = (x0 + 200, cy0 - rule("capm.3") + 200)
    s.rect("via3", tab_via[0], tab_via[1], tab_via[0] + 2 * V3, tab_via[1] + 2 * V3)
    straps = {bottom_net: (tab_via[1] + V3, tab_via[0] + 2 * V3 + m4),
              top_net: (oy + (ny - 1) * pitch + V3, ox)}
    area = (side + 2 * rule("capm.3") + tab) * (side_l + 2 * rule("capm.3"))
    return cx0 + side + rule("capm.3"), straps, area


def _strap(s: Shapes, tx: int, y: int, x_end: int) -> None:
    """A met4 strap from trunk x tx to x_end at height y, with its via3 onto the trunk."""
    half = V3 + rule("m4.3")
    s.rect("met4", tx - half, y - half - 100, x_end, y + half + 100)
    s.rect("via3", tx - V3, y - V3, tx + V3, y + V3)
    s.rect("met3", tx - V3 - rule("via3.4"), y - V3 - rule("via3.5"), tx + V3 + rule("via3.4"),
           y + V3 + rule("via3.5"))


def layout(circuit: Circuit, target_width_nm: int) -> CellLayout:
    """The layout of a flat circuit with rows cut at about target_width_nm."""
    if not circuit.devices:
        raise CircuitError(f"{circuit.name}: no devices to lay out")
    caps = [d for d in circuit.devices if d.model == MIM]
    p_rows, n_rows = [], []
    for kind, bulk, devices in _groups(circuit):
        (p_rows if kind == "p" else n_rows).extend(_fill_rows(kind, bulk, devices, target_width_nm))
    rows = [r for pair in zip(p_rows + [None] * len(n_rows), n_rows + [None] * len(p_rows)) for r in pair if r]
    # which nets leave their row, and where their trunks go
    rows_of: dict[str, set[int]] = {}
    for i, r in enumerate(rows):
        for st in r.stubs:
            rows_of.setdefault(st.net, set()).add(i)
    cap_nets = [n for d in caps for n in d.nets]
    trunk_nets = [n for n in dict.fromkeys(list(circuit.pins) + list(rows_of) + cap_nets)
                  if n in circuit.pins or len(rows_of.get(n, ())) > 1 or n in cap_nets]
    unused = [p for p in circuit.pins if p not in rows_of and p not in cap_nets]
    trunk_nets = [n for n in trunk_nets if n not in unused]
    width = max(r.width for r in rows)
    trunk_x = _trunk_slots(trunk_nets, rows, width, cap_nets, list(circuit.pins))
    for r in rows:
        _assign_tracks(r, trunk_x)
    s = Shapes()
    y = 0
    for i, r in enumerate(rows):
        if i:
            above = rows[i - 1]
            gap = 400
            if above.kind == "p" and r.kind == "p":
                gap = max(gap, rule("nwell.2a") + 20 - (r.top - r.well_top) - (-WELL - above.bottom))
            y = above.y + above.bottom - gap - r.top
        r.y = y
        s.extend(r.shapes, 0, y)
    used: dict[str, list[int]] = {}
    pads: dict[str, list[tuple[int, int]]] = {}  # net -> y spans of the met3 pads on its trunk
    for r in rows:
        for net, ys in _route_row(r, s, trunk_x).items():
            used.setdefault(net, []).extend(ys)
            pads.setdefault(net, []).extend((y - V2 - rule("m3.4"), y + V2 + rule("m3.4")) for y in ys)
    right = max(max(r.width for r in rows), max(trunk_x.values(), default=0) + TRUNK_PITCH)
    cap_area, cy = 0, rows[-1].y + rows[-1].bottom
    each = (rows[0].top - cy - 2000 * (len(caps) - 1)) // max(1, len(caps))  # the rows' height shared
    for d in caps:
        edge, straps, area = _capacitor(s, d, right + TRUNK_PITCH, cy, each)
        cap_area += area
        for net, (sy, x_end) in straps.items():
            _strap(s, trunk_x[net], sy, x_end)
            used.setdefault(net, []).append(sy)
            pads.setdefault(net, []).append((sy - V3 - rule("via3.5"), sy + V3 + rule("via3.5")))
        cy += _cap_sides(d, each - 2 * rule("capm.3"))[1] + 2 * rule("capm.3") + 2000
    x0, y0, x1, y1 = s.bbox()
    top = y1 + EDGE + PIN_LENGTH
    pins = []
    for net in trunk_nets:
        tx, ys = trunk_x[net], used.get(net, [])
        lo = min(ys) - V2 - rule("m3.4")
        hi = top if net in circuit.pins else max(ys) + V2 + rule("m3.4")
        s.rect("met3", tx - rule("m3.1") // 2, lo, tx + rule("m3.1") // 2, hi)
        # pads wider than the trunk and closer than m3.2 along it would leave a notch: fill it
        spans = sorted(pads.get(net, []))
        for (_, below), (above, _) in zip(spans, spans[1:]):
            if 0 < above - below < rule("m3.2"):
                s.rect("met3", tx - _M3_PAD_HALF, below - GRID, tx + _M3_PAD_HALF, above + GRID)
        if net in circuit.pins:
            pin = Pin(net, "met3", tx - rule("m3.1") // 2, top - PIN_LENGTH, tx + rule("m3.1") // 2, top)
            s.rect("met3_pin", pin.x0_nm, pin.y0_nm, pin.x1_nm, pin.y1_nm)
            s.label("met3_label", net, tx, top - PIN_LENGTH // 2)
            pins.append(pin)
    x0, y0, x1, _ = s.bbox()
    boundary = (x0 - EDGE, y0 - EDGE, x1 + EDGE, top)
    s.rect("boundary", *boundary)
    device_area = sum(snap(d.w_um * 1000) * (transistor(d, 0).width) for d in circuit.devices if d.model != MIM)
    return CellLayout(circuit.name, s, boundary, pins, len(rows), device_area, cap_area)


def _trunk_slots(nets: list[str], rows: list[Row], width: int, cap_nets: list[str],
                 pins: list[str]) -> dict[str, int]:
    """A trunk x for each net: the nearest slot to the middle of its stubs that is free over the net's
    rows (nets of disjoint row ranges share a slot; a pin's range runs up to the top edge);
    capacitor nets right of the rows, one slot each."""
    xs: dict[str, list[int]] = {}
    span: dict[str, tuple[int, int]] = {}
    for i, r in enumerate(rows):
        for st in r.stubs:
            xs.setdefault(st.net, []).append(st.x)
            lo, hi = span.get(st.net, (i, i))
            span[st.net] = (min(lo, i), max(hi, i))
    n_slots = max(1, width // TRUNK_PITCH)
    taken: list[list[tuple[int, int]]] = [[] for _ in range(n_slots)]
    out = {}
    order = sorted(nets, key=lambda n: (n in cap_nets, sum(xs.get(n, [0])) / max(1, len(xs.get(n, [0])))))
    for net in order:
        lo, hi = span.get(net, (len(rows), len(rows)))
        lo = -1 if net in pins else lo
        fits = [] if net in cap_nets else [
            k for k, ivs in enumerate(taken) if all(hi < a or b < lo for a, b in ivs)]
        if fits:
            want = sum(xs[net]) / len(xs[net]) / TRUNK_PITCH if net in xs else n_slots
            k = min(fits, key=lambda j: abs(j - want))
        else:
            k = len(taken)
            taken.append([])
        taken[k].append((lo, len(rows) if net in cap_nets else hi))
        out[net] = k * TRUNK_PITCH + TRUNK_PITCH // 2
    return out
