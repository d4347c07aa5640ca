"""Draw the schematic pictures of docs/circuits.md with schemdraw.

    .venv/bin/python docs/schematics.py          # writes docs/img/comparator.png, docs/img/unit.png

The pictures are drawn from the netlists in netlists/ by hand (device names
as there); the netlists stay the reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import schemdraw  # noqa: E402
import schemdraw.elements as elm  # noqa: E402
import schemdraw.logic as logic  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"


def comparator(path: Path) -> Path:
    """mru_comparator (netlists/comparator.spice): input diode and two copies, up half, dn half."""
    with schemdraw.Drawing(file=str(path), show=False, dpi=130) as d:
        d.config(fontsize=10, unit=2)
        d.add(elm.Line().at((-1.0, 0)).to((23.0, 0)).label("vdd", loc="left", halign="right"))
        # input current I_in = I_bias + z I_unit, out of vdd into the nfet diode XMNin
        d.add(elm.SourceI().at((0, 0)).down().length(3.0).label("$I_{in}=I_{bias}+z\\,I_{unit}$", loc="bottom",
                                                                  fontsize=9))
        n_in = d.add(elm.Dot().label("in", loc="left"))
        mn_in = d.add(elm.NFet(anchor="drain").theta(0).at(n_in.center).label("XMNin", loc="left", fontsize=9))
        d.add(elm.Line().at(mn_in.gate).up().toy(n_in.center[1]))
        d.add(elm.Line().left().tox(n_in.center[0]))
        d.add(elm.Ground().at(mn_in.source))
        rail_y = -5.6  # the copies' gate line runs below the grounds
        d.add(elm.Line().at(mn_in.gate).toy(rail_y))
        d.add(elm.Line().right().tox(16.0 - 1.37).label("gate line of the copies", loc="bottom", fontsize=8))
        for x_sw, x, copy, node, thr, thr_gate, hyst, sw, sw_gate in (
                (3.5, 7.0, "XMNu", "xu", "XMPu", "iup", "XMPuh", "XMSu", "up"),
                (12.5, 16.0, "XMNd", "xd", "XMPd2", "idn", "XMPdh", "XMSd", "dnb")):
            p_thr = d.add(elm.PFet(anchor="source").theta(0).at((x, 0)).reverse().label(thr, loc="right", fontsize=9))
            d.add(elm.Line(l=0.3).at(p_thr.gate).left().label(thr_gate, loc="left", fontsize=9))
            d.add(elm.Line().at(p_thr.drain).down().toy(-3.0))
            n = d.add(elm.Dot().label(node, loc="top", ofst=(0.3, 0)))
            mn = d.add(elm.NFet(anchor="drain").theta(0).at(n.center).reverse().label(copy, loc="right", fontsize=9))
            d.add(elm.Line().at(mn.gate).toy(rail_y))
            d.add(elm.Dot())
            d.add(elm.Ground().at(mn.source))
            # the I_hyst branch: pfet copy of ih in series with a pfet switch into the node
            p_h = d.add(elm.PFet(anchor="source").theta(0).at((x_sw, 0)).reverse().label(hyst, loc="right", fontsize=9))
            d.add(elm.Line(l=0.3).at(p_h.gate).left().label("ih", loc="left", fontsize=9))
            p_s = d.add(elm.PFet(anchor="source").theta(0).at(p_h.drain).reverse().label(sw, loc="right", fontsize=9))
            d.add(elm.Line(l=0.3).at(p_s.gate).left().label(sw_gate, loc="left", fontsize=9))
            d.add(elm.Line().at(p_s.drain).toy(-3.0))
            d.add(elm.Line().tox(x))
            inv = d.add(logic.Not().at((x + 1.0, -3.0)).right().anchor("in1"))
            d.add(elm.Line().at(n.center).to(inv.in1))
            if node == "xu":
                d.add(elm.Line(l=0.5).at(inv.out).right().label("up", loc="right"))
            else:
                d.add(elm.Line(l=0.5).at(inv.out).right().label("dnb", loc="top", fontsize=8))
                inv2 = d.add(logic.Not().right().anchor("in1"))
                d.add(elm.Line(l=0.5).at(inv2.out).right().label("dn", loc="right"))
        d.add(elm.Label().at((-1.0, 1.6)).label(
            "up half: XMPu sources $I_{bias}+\\beta I_{unit}-I_{hyst}$, XMPuh $I_{hyst}$ while up = 0;  "
            "dn half: XMPd2 sources $I_{bias}-\\beta I_{unit}$, XMPdh $I_{hyst}$ once fired.", halign="left", fontsize=9))
        d.add(elm.Label().at((-1.0, 0.9)).label(
            "iup, idn, ih: gates of the pfet diodes of the bias currents (XMPua, XMPd, XMPh; not drawn). "
            "Default chip: $I_{hyst}$ = 0.", halign="left", fontsize=9))
    return path


def unit(path: Path) -> Path:
    """Block diagram of one CMRU unit: comparator, charge pump, hold capacitor, level restore, readout."""
    with schemdraw.Drawing(file=str(path), show=False, dpi=130) as d:
        d.config(fontsize=10, unit=2)
        d.add(elm.Line(l=1.2).right().label("$I_{in}$ (synapse sum)", loc="top", fontsize=9))
        cmp = d.add(elm.Ic(pins=[elm.IcPin(side="left", anchorname="in"), elm.IcPin(side="right", slot="2/2", anchorname="o_up"),
                                 elm.IcPin(side="right", slot="1/2", anchorname="o_dn")],
                           size=(2.4, 2.2), label="ternary\ncomparator\n$\\pm\\beta$").anchor("in"))
        pump = d.add(elm.Ic(pins=[elm.IcPin(side="left", slot="2/2", anchorname="i_up"),
                                  elm.IcPin(side="left", slot="1/2", anchorname="i_dn"),
                                  elm.IcPin(side="right", anchorname="vc"),
                                  elm.IcPin(side="top", anchorname="phi_t")],
                            size=(2.6, 2.2), label="charge pump\n$\\pm I_{pkt} T_{pkt}$\n(steered)")
                     .at((cmp.o_up[0] + 2.5, cmp.o_up[1])).anchor("i_up"))
        d.add(elm.Line().at(cmp.o_up).to(pump.i_up).label("up", loc="top", fontsize=8))
        d.add(elm.Line().at(cmp.o_dn).to(pump.i_dn).label("dn", loc="bottom", fontsize=8))
        d.add(elm.Line(l=0.5).at(pump.phi_t).up().label("$\\phi_t$", loc="right"))
        d.add(elm.Line(l=1.2).at(pump.vc).right())
        vc = d.add(elm.Dot().label("vc", loc="top"))
        d.add(elm.Capacitor().down().label("$C_{hold}$ 150 fF\n(MIM)", loc="bottom", fontsize=8))
        d.add(elm.Ground())
        d.add(elm.Line(l=1.5).at(vc.center).right())
        lvl = d.add(elm.Ic(pins=[elm.IcPin(side="left", anchorname="vc"), elm.IcPin(side="right", anchorname="q"),
                                 elm.IcPin(side="top", anchorname="phi_r"), elm.IcPin(side="bottom", anchorname="lad")],
                           size=(4.0, 2.6), label="2L level comparators\n+ 2L+1 level selects\n(restore to the level\n"
                                                "whose window holds vc)").anchor("vc"))
        d.add(elm.Line(l=0.5).at(lvl.phi_r).up().label("$\\phi_r$", loc="right"))
        d.add(elm.Line(l=0.5).at(lvl.lad).down().label("level / boundary ladder (shared)", loc="bottom", fontsize=8))
        d.add(elm.Line(l=1.8).at(lvl.q).right().label("thermometer q", loc="top", fontsize=8))
        rd = d.add(elm.Ic(pins=[elm.IcPin(side="left", anchorname="q"), elm.IcPin(side="right", anchorname="out")],
                          size=(2.8, 2.0), label="readout\n2L branches of\n$\\alpha I_{unit}$").anchor("q"))
        d.add(elm.Line(l=2.4).at(rd.out).right().label("$I_{out} = (k+L)\\,\\alpha I_{unit}$", loc="top", fontsize=9))
    return path


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for path in (comparator(OUT / "comparator.png"), unit(OUT / "unit.png")):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
