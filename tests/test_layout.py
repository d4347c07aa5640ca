"""Layout stage: every cell DRC- and LVS-clean; each rule and each LVS mismatch is caught where it is."""

import dataclasses
from pathlib import Path

import pytest

from codesign.chip import load_chip
from codesign.cli import main
from codesign.layout import cells, drc, lvs
from codesign.layout.circuit import MIM
from codesign.layout.gds import Shapes, gds_cell, write_library
from codesign.layout.route import layout
from codesign.layout.rules import RULE_BY_NAME, RULES
from codesign.layout.write import best_layout

CHIP = load_chip()
KWS_CHIP = Path(__file__).resolve().parents[1] / "examples" / "kws" / "chip.toml"


def _cells():
    return [f() for f in cells.TEMPLATES.values()] + [cells.comparator_cell(CHIP.comparator()),
                                                      cells.integrator_cell(CHIP.integrator())]


def _write(tmp_path, name, shapes):
    return write_library(tmp_path / f"{name}.gds", [gds_cell(name, shapes)])


@pytest.mark.parametrize("circuit", _cells(), ids=lambda c: c.name)
def test_every_cell_is_drc_and_lvs_clean(tmp_path, circuit):
    c = best_layout(circuit)
    path = _write(tmp_path, circuit.name, c.shapes)
    assert drc.check(path) == []
    result = lvs.compare(path, circuit)
    assert result.match, str(result)
    assert result.extracted_devices == result.reference_devices


def test_the_integrator_has_its_capacitor_and_pins(tmp_path):
    circuit = cells.integrator_cell(CHIP.integrator())
    c = layout(circuit, 20000)
    assert {p.net for p in c.pins} == set(circuit.pins)
    assert any(r[0] == "capm" for r in c.shapes.rects) and c.cap_area_nm2 > 0


def test_the_capacitor_fills_the_rows_height_at_its_area_and_trunks_share_slots():
    circuit = cells.integrator_cell(CHIP.integrator())
    c = best_layout(circuit)
    cap = next(d for d in circuit.devices if d.model == MIM)
    (x0, y0, x1, y1), = [r[1:] for r in c.shapes.rects if r[0] == "capm"]
    assert y1 - y0 > x1 - x0 and y1 - y0 > cap.l_um * 1000
    assert abs((x1 - x0) * (y1 - y0) / (cap.w_um * cap.l_um * 1e6) - 1) < 0.005
    trunks = [r for r in c.shapes.rects if r[0] == "met3" and r[3] - r[1] == 300 and r[4] - r[2] > 1000]
    assert len({r[1] for r in trunks}) < len(trunks)  # some trunks of disjoint rows share an x


def test_pads_closer_than_m3_2_on_one_trunk_leave_no_notch(tmp_path):
    """The keyword-spotting chip's integrator (its level comparators' sizes) puts a capacitor strap's
    via3 pad 0.255 um below a track's via2 pad on one trunk, both wider than the trunk: the gap
    between them is filled, not left as a met3 notch."""
    chip = load_chip(KWS_CHIP)
    # the readout at the template's 1/4 um, as the chip was when the notch showed (4/16 um moves the pads)
    chip = dataclasses.replace(chip, readout_w_um=1.0, readout_l_um=4.0)
    circuit = cells.integrator_cell(chip.integrator())
    path = _write(tmp_path, circuit.name, best_layout(circuit).shapes)
    assert drc.check(path) == []
    assert lvs.compare(path, circuit).match


def test_lvs_adds_fingers_up_without_klayouts_combination(tmp_path, monkeypatch):
    """The integrator's wide transistors are drawn as fingers: LVS adds their W up on its own, so a
    refusal of KLayout's Netlist.combine_devices cannot fail a clean cell, and a finger too few shows."""
    circuit = cells.integrator_cell(load_chip(KWS_CHIP).integrator())
    path = _write(tmp_path, circuit.name, best_layout(circuit).shapes)

    def refuse(self):
        raise RuntimeError("Internal error: Terminal still connected after removing device")
    monkeypatch.setattr(lvs.kdb.Netlist, "combine_devices", refuse)
    result = lvs.compare(path, circuit)
    assert result.match and result.extracted_devices == result.reference_devices, str(result)
    wide = max((i for i, d in enumerate(circuit.devices) if d.model != MIM), key=lambda i: circuit.devices[i].w_um)
    devices = list(circuit.devices)
    devices[wide] = dataclasses.replace(devices[wide], w_um=devices[wide].w_um * 0.75)
    assert not lvs.compare(path, dataclasses.replace(circuit, devices=tuple(devices))).match


# ---- one deliberate violation per rule, drawn next to an inverter at X0 ----
X0 = 100_000
CUT_CONTEXT = {  # layers a lone cut needs around it so that only the broken rule fires: (layer, x, y enclosure)
    "licon": [("li1", 0, 80)], "mcon": [("li1", 0, 80), ("met1", 30, 150)],
    "via": [("met1", 55, 150), ("met2", 55, 150)], "via2": [("met2", 40, 150), ("met3", 65, 300)],
    "via3": [("met3", 60, 300), ("met4", 65, 300)],
}
CUT_SIZE = {"licon": 170, "mcon": 170, "via": 150, "via2": 200, "via3": 200}
LONE = {"diff": [("nsdm", 125)], "tap": [("psdm", 125)], "capm": [("met3", 140)]}  # context for lone shapes
WIDTH = {"diff": 150, "tap": 150, "poly": 150, "li1": 170, "met1": 140, "met2": 140, "met3": 300, "met4": 300,
         "nwell": 840, "nsdm": 380, "psdm": 380, "npc": 270, "capm": 1000}


def _box(s, layer, x0, y0, x1, y1, context=()):
    s.rect(layer, X0 + x0, y0, X0 + x1, y1)
    for other, e in context:
        s.rect(other, X0 + x0 - e, y0 - e, X0 + x1 + e, y1 + e)


def _cut(s, layer, x, size, span=None):
    """A cut at x (and a second one at `span` - size, under one shared context)."""
    s.rect(layer, X0 + x, 0, X0 + x + size, size)
    right = x + size if span is None else span
    if span is not None:
        s.rect(layer, X0 + span - size, 0, X0 + span, size)
    for other, ex, ey in CUT_CONTEXT[layer]:
        s.rect(other, X0 + x - ex, -ey, X0 + right + ex, size + ey)


def _breaker(rule):
    """Shapes breaking `rule` alone, around (X0, 0)."""
    s, v, layer = Shapes(), rule.value, rule.layer
    drawn = {"difftap": "diff"}.get(layer, layer)
    if rule.kind == "exact":
        _cut(s, layer, 0, v + 10)
    elif rule.kind == "space" and layer in CUT_SIZE:
        _cut(s, layer, 0, CUT_SIZE[layer], 2 * CUT_SIZE[layer] + v - 10)
    elif rule.kind == "width":
        length = max(2000, WIDTH[drawn] * 4)
        _box(s, drawn, 0, 0, v - 10, length, LONE.get(drawn, ()))
    elif rule.kind == "space":
        w = max(WIDTH[drawn], 400)
        if drawn == "diff":
            _box(s, "nsdm", -125, -125, 2 * w + v - 10 + 125, 1000 + 125)
            _box(s, "diff", 0, 0, w, 1000)
            _box(s, "diff", w + v - 10, 0, 2 * w + v - 10, 1000)
        else:
            for x in (0, w + v - 10):
                _box(s, drawn, x, 0, x + w, max(2000, 3 * w), LONE.get(drawn, ()))
    elif rule.kind == "area":
        w = WIDTH[layer] + 30
        _box(s, layer, 0, 0, w, (v - 5000) // w // 5 * 5)
    else:
        SPECIAL[rule.name](s)
    return s


def _gate(s, w, length, endcap, sd):
    _box(s, "nsdm", -125, -125, 2 * sd + length + 125, w + 125)
    _box(s, "diff", 0, 0, 2 * sd + length, w)
    _box(s, "poly", sd, -endcap, sd + length, w + endcap)


def _poly_contact(s, ex=50, ey=80, npc=100):
    """A poly contact at (0, 0): poly round the licon by ex, ey; npc round it by npc; li1 over it."""
    _box(s, "licon", 0, 0, 170, 170)
    _box(s, "poly", -ex, -ey, 170 + ex, 170 + ey)
    _box(s, "npc", -npc, -npc, 170 + npc, 170 + npc)
    _box(s, "li1", 0, -80, 170, 250)


def _pair(s, layer, size, space):
    """Two cuts in a row at (0, 0), `space` apart."""
    for x in (0, size + space):
        _box(s, layer, x, 0, x + size, size)


SPECIAL = {
    "difftap.2": lambda s: _gate(s, 400, 150, 130, 300),
    "poly.7": lambda s: _gate(s, 420, 150, 130, 200),
    "poly.8": lambda s: _gate(s, 420, 150, 100, 300),
    "difftap.8": lambda s: (_box(s, "nwell", -150, -150, 1000 + 150, 1000 + 150),
                            _box(s, "diff", 0, 0, 1000, 1000, [("psdm", 125)])),
    "difftap.9": lambda s: (_box(s, "nwell", 0, 0, 1000, 1000),
                            _box(s, "diff", 1300, 0, 2000, 1000, [("nsdm", 125)])),
    "m1.4": lambda s: (_box(s, "mcon", 0, 0, 170, 170), _box(s, "li1", 0, -80, 170, 250),
                       _box(s, "met1", -20, -150, 190, 320)),
    "via.4a": lambda s: (_box(s, "via", 0, 0, 150, 150), _box(s, "met1", -45, -300, 195, 450),
                         _box(s, "met2", -55, -300, 205, 450)),
    "m2.4": lambda s: (_box(s, "via", 0, 0, 150, 150), _box(s, "met1", -55, -300, 205, 450),
                       _box(s, "met2", -45, -300, 195, 450)),
    "m2.5": lambda s: (_box(s, "via", 0, 0, 150, 150), _box(s, "met1", -55, -300, 205, 450),
                       _box(s, "met2", -60, -60, 210, 210)),
    "li.5": lambda s: (_box(s, "licon", 0, 0, 170, 170), _box(s, "li1", -40, -40, 210, 210)),
    "nsd.8": lambda s: (_box(s, "nsdm", 0, 0, 1000, 1000), _box(s, "psdm", 500, 0, 1500, 1000)),
    "capm.3": lambda s: _box(s, "capm", 0, 0, 2000, 2000, [("met3", 100)]),
    # wells and implants
    "difftap.10": lambda s: (_box(s, "nwell", -170, -170, 1170, 1170),
                             _box(s, "tap", 0, 0, 1000, 1000, [("nsdm", 125)])),
    "difftap.11": lambda s: (_box(s, "tap", 0, 0, 1000, 1000, [("psdm", 125)]),
                             _box(s, "nwell", 1120, 0, 2120, 1000)),
    "nsd.5a": lambda s: (_box(s, "nsdm", -115, -125, 1125, 1125), _box(s, "diff", 0, 0, 1000, 1000)),
    "psd.5a": lambda s: (_box(s, "psdm", -115, -125, 1125, 1125), _box(s, "tap", 0, 0, 1000, 1000)),
    # the opposite implant abuts the 0.125 um enclosure, 0.125 um from the diffusion
    "nsd.7": lambda s: (_box(s, "tap", 0, 0, 1000, 1000, [("psdm", 125)]), _box(s, "nsdm", 1125, -125, 1725, 1125)),
    "psd.7": lambda s: (_box(s, "diff", 0, 0, 1000, 1000, [("nsdm", 125)]), _box(s, "psdm", 1125, -125, 1725, 1125)),
    "nsd.9": lambda s: _box(s, "diff", 0, 0, 1000, 1000),
    # poly, diffusion and their contacts
    "poly.4": lambda s: (_box(s, "diff", 0, 0, 1000, 1000, [("nsdm", 125)]), _box(s, "poly", 1065, 0, 1215, 2000)),
    "licon.5a": lambda s: (_box(s, "diff", -30, -200, 500, 370, [("nsdm", 125)]), _cut(s, "licon", 0, 170)),
    "licon.5c": lambda s: (_box(s, "diff", -50, -50, 220, 220, [("nsdm", 125)]), _cut(s, "licon", 0, 170)),
    "licon.7": lambda s: (_box(s, "tap", -100, -100, 270, 270, [("psdm", 125)]), _cut(s, "licon", 0, 170)),
    "licon.8": lambda s: _poly_contact(s, 40, 100),
    "licon.8a": lambda s: _poly_contact(s, 60, 60),
    "licon.9": lambda s: (_poly_contact(s), _box(s, "psdm", 270, -215, 870, 385)),
    "licon.11": lambda s: (_gate(s, 420, 150, 130, 300), _box(s, "licon", 80, 125, 250, 295),
                           _box(s, "li1", 80, 45, 250, 375)),
    "licon.14": lambda s: (_poly_contact(s), _box(s, "diff", 350, -415, 1350, 585, [("nsdm", 125)])),
    "licon.15": lambda s: _poly_contact(s, npc=90),
    "npc.4": lambda s: (_gate(s, 420, 150, 130, 300), _box(s, "npc", 200, 500, 550, 800)),
    # contacts and vias: too little metal round one cut, or round a row of two
    "ct.4": lambda s: (_box(s, "mcon", 0, 0, 170, 170), _box(s, "li1", 10, -80, 400, 250),
                       _box(s, "met1", -30, -150, 200, 320)),
    "m1.5": lambda s: (_pair(s, "mcon", 170, 190), _box(s, "li1", 0, -80, 530, 250),
                       _box(s, "met1", -40, -40, 570, 210)),
    "via.5a": lambda s: (_pair(s, "via", 150, 170), _box(s, "met1", -60, -60, 530, 210),
                         _box(s, "met2", -55, -150, 525, 300)),
    "via2.4": lambda s: (_box(s, "via2", 0, 0, 200, 200), _box(s, "met2", -100, -30, 300, 230),
                         _box(s, "met3", -300, -300, 500, 500)),
    "via2.5": lambda s: (_box(s, "via2", 0, 0, 200, 200), _box(s, "met2", -60, -60, 260, 260),
                         _box(s, "met3", -300, -300, 500, 500)),
    "m3.4": lambda s: (_box(s, "via2", 0, 0, 200, 200), _box(s, "met2", -40, -150, 240, 350),
                       _box(s, "met3", -55, -300, 255, 500)),
    "via3.4": lambda s: (_box(s, "via3", 0, 0, 200, 200), _box(s, "met3", -50, -300, 250, 500),
                         _box(s, "met4", -65, -300, 265, 500)),
    "via3.5": lambda s: (_pair(s, "via3", 200, 200), _box(s, "met3", -70, -70, 670, 270),
                         _box(s, "met4", -65, -300, 665, 500)),
    "m4.3": lambda s: (_box(s, "via3", 0, 0, 200, 200), _box(s, "met3", -60, -300, 260, 500),
                       _box(s, "met4", -55, -300, 255, 500)),
    # a via3 on the capacitor's top plate 0.13 um from its edge
    "capm.4": lambda s: (_box(s, "capm", -130, -1000, 1000, 1000, [("met3", 140)]),
                         _box(s, "via3", 0, 0, 200, 200), _box(s, "met4", -65, -300, 265, 500)),
}


def _covered():
    return [r for r in RULES if r.kind in ("exact", "space", "width", "area") or r.name in SPECIAL]


@pytest.fixture(scope="module")
def inverter():
    return layout(cells.inv(), 8000).shapes


def _reports_exactly_there(tmp_path, inverter, name, breaker):
    s = Shapes(list(inverter.rects), list(inverter.labels))
    s.extend(breaker)
    x0, y0, x1, y1 = breaker.bbox()
    found = drc.check(_write(tmp_path, "broken", s))
    assert {v.rule for v in found} == {name}, [str(v) for v in found]
    for v in found:
        assert x0 - 1 <= v.x_um * 1000 <= x1 + 1 and y0 - 1 <= v.y_um * 1000 <= y1 + 1, str(v)


@pytest.mark.parametrize("rule", _covered(), ids=lambda r: r.name)
def test_a_broken_cell_reports_exactly_that_rule_there(tmp_path, inverter, rule):
    _reports_exactly_there(tmp_path, inverter, rule.name, _breaker(rule))


OTHER_BREAKS = {  # further ways to break a rule that a plain spacing or enclosure check would miss
    "poly.4 poly abutting diff": ("poly.4", lambda s: (_box(s, "diff", 0, 0, 1000, 1000, [("nsdm", 125)]),
                                                       _box(s, "poly", 1000, 0, 1150, 2000))),
    "poly.4 poly ending on diff": ("poly.4", lambda s: (_box(s, "diff", 0, 0, 1000, 1000, [("nsdm", 125)]),
                                                        _box(s, "poly", 300, 1000, 450, 2000))),
    "poly.4 poly over tap": ("poly.4", lambda s: (_box(s, "tap", 0, 0, 1000, 1000, [("psdm", 125)]),
                                                  _box(s, "poly", 300, -500, 450, 1500))),
    "capm.4 via3 across the plate edge": ("capm.4", lambda s: (
        _box(s, "capm", 100, -1000, 2000, 1000, [("met3", 140)]),
        _box(s, "via3", 0, 0, 200, 200), _box(s, "met4", -65, -300, 265, 500))),
}


@pytest.mark.parametrize("case", OTHER_BREAKS)
def test_other_breaks_report_exactly_that_rule_there(tmp_path, inverter, case):
    name, draw = OTHER_BREAKS[case]
    breaker = Shapes()
    draw(breaker)
    _reports_exactly_there(tmp_path, inverter, name, breaker)


def test_every_rule_has_a_breaking_test():
    assert [r.name for r in RULES if r not in _covered()] == []
    assert all(name in RULE_BY_NAME for name in SPECIAL)
    assert all(name in RULE_BY_NAME for name, _ in OTHER_BREAKS.values())


# ---- LVS sees a changed W and swapped nets ----
@pytest.fixture(scope="module")
def nand2_gds(tmp_path_factory):
    circuit = cells.nand2()
    path = write_library(tmp_path_factory.mktemp("lvs") / "nand2.gds",
                         [gds_cell(circuit.name, layout(circuit, 8000).shapes)])
    return circuit, path


def test_lvs_reports_a_changed_width(nand2_gds):
    circuit, path = nand2_gds
    devices = list(circuit.devices)
    devices[0] = dataclasses.replace(devices[0], w_um=0.84)
    result = lvs.compare(path, dataclasses.replace(circuit, devices=tuple(devices)))
    assert not result.match
    assert any("W=0.84" in m for m in result.messages), result.messages


def test_lvs_reports_swapped_nets(nand2_gds):
    circuit, path = nand2_gds
    devices = list(circuit.devices)
    d = devices[2]  # XMP1 y a vdd vdd -> gate on b
    devices[2] = dataclasses.replace(d, nets=(d.nets[0], "b", *d.nets[2:]))
    result = lvs.compare(path, dataclasses.replace(circuit, devices=tuple(devices)))
    assert not result.match and result.messages


def test_lvs_reports_swapped_pin_labels(tmp_path):
    circuit = cells.inv()
    shapes = layout(circuit, 8000).shapes
    (la, ta, xa, ya), (lb, tb, xb, yb) = shapes.labels[0], shapes.labels[1]
    shapes.labels[0], shapes.labels[1] = (la, tb, xa, ya), (lb, ta, xb, yb)
    assert not lvs.compare(_write(tmp_path, circuit.name, shapes), circuit).match


# ---- the command ----
def test_layout_command_on_a_chip_checks_everything(tmp_path, capsys):
    assert main(["layout", "--chip", "sky130_latch", "--out", str(tmp_path), "--check"]) == 0
    text = (tmp_path / "layout.md").read_text()
    assert "mru_latch" in text and "MISMATCH" not in text and "violations" not in text
    assert (tmp_path / "mru_latch.png").stat().st_size > 1000
    assert (tmp_path / "sky130_latch.gds").exists() and (tmp_path / "mru_latch.json").exists()


def test_layout_command_refuses_bad_input(tmp_path, capsys):
    assert main(["layout", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "not a map folder" in capsys.readouterr().err
    assert main(["layout", "--chip", "sky130_latch", "--chip-set", "vdd_v=9", "--out", str(tmp_path / "o")]) == 2
    assert "vdd_v" in capsys.readouterr().err
