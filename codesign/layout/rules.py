"""The one table of sky130 layers and design rules the layout stage draws and checks.

Every number here comes from the SkyWater sky130 documentation and names its
source: layer numbers from the layer table (skywater-pdk docs, "Layers"), rule
values from the periphery rules (skywater-pdk docs, "Periphery rules",
rules/periphery-rules.rst). The capm values are blank ("N/A") in that table;
they come from the open_pdks sky130 Magic tech file, as the PDK maintainers
point to. The generator (`codesign.layout.devices`, `codesign.layout.route`)
sizes its shapes from these values and the checker (`codesign.layout.drc`)
checks the same values, so a change here moves both.

Lengths are integers in nm (the GDS database unit is 1 nm); areas in nm^2.
"""

from __future__ import annotations

from dataclasses import dataclass

DBU_UM = 0.001  # one database unit in um
LAYER_SOURCE = "skywater-pdk docs, Layers (GDS layer/datatype)"
RULE_SOURCE = "skywater-pdk docs, Periphery rules"
CAPM_SOURCE = "open_pdks sky130 Magic tech file (capm values are N/A in the periphery table)"


@dataclass(frozen=True)
class Layer:
    name: str
    gds_layer: int
    gds_datatype: int
    what: str


LAYERS: dict[str, Layer] = {layer.name: layer for layer in [
    Layer("nwell", 64, 20, "n-well"),
    Layer("diff", 65, 20, "active diffusion (transistor source, drain, channel)"),
    Layer("tap", 65, 44, "well / substrate tap diffusion"),
    Layer("poly", 66, 20, "polysilicon gates"),
    Layer("licon", 66, 44, "local interconnect contact (diff/tap/poly to li1)"),
    Layer("npc", 95, 20, "nitride poly cut: opening over poly contacts"),
    Layer("nsdm", 93, 44, "n+ source/drain implant"),
    Layer("psdm", 94, 20, "p+ source/drain implant"),
    Layer("li1", 67, 20, "local interconnect"),
    Layer("mcon", 67, 44, "li1 to met1 contact"),
    Layer("met1", 68, 20, "metal 1"),
    Layer("via", 68, 44, "met1 to met2 via"),
    Layer("met2", 69, 20, "metal 2"),
    Layer("via2", 69, 44, "met2 to met3 via"),
    Layer("met3", 70, 20, "metal 3 (MIM capacitor bottom plate)"),
    Layer("via3", 70, 44, "met3 (or capm) to met4 via"),
    Layer("met4", 71, 20, "metal 4"),
    Layer("capm", 89, 44, "MIM capacitor top plate (over met3)"),
    Layer("met1_pin", 68, 16, "met1 pin"),
    Layer("met2_pin", 69, 16, "met2 pin"),
    Layer("met3_pin", 70, 16, "met3 pin"),
    Layer("met4_pin", 71, 16, "met4 pin"),
    Layer("met1_label", 68, 5, "met1 net label"),
    Layer("met2_label", 69, 5, "met2 net label"),
    Layer("met3_label", 70, 5, "met3 net label"),
    Layer("met4_label", 71, 5, "met4 net label"),
    Layer("boundary", 235, 4, "prBoundary: the cell outline for placement"),
]}


@dataclass(frozen=True)
class Rule:
    """One checked rule. `kind` says how `codesign.layout.drc` checks it:
    width, space, exact (every shape a square of this side), area (nm^2),
    enclosure (outer encloses inner by value all round), enclosure_one (by
    value on two opposite sides, "one of two adjacent sides"), separation
    (inner from outer), extension (outer beyond the gate edge), gate_width,
    overlap (inner must not touch outer), inside (inner only inside outer)."""

    name: str
    kind: str
    value: int
    layer: str  # a drawn layer or a derived one (see codesign.layout.drc.derived_layers)
    other: str = ""
    what: str = ""
    source: str = RULE_SOURCE


def _r(name, kind, value, layer, other="", what="", source=RULE_SOURCE) -> Rule:
    return Rule(name, kind, value, layer, other, what, source)


RULES: tuple[Rule, ...] = (
    _r("difftap.1", "width", 150, "difftap", what="width of diff or tap"),
    _r("difftap.2", "gate_width", 420, "gate", "diff", "channel width (W) of a transistor"),
    _r("difftap.3", "space", 270, "difftap", what="spacing of diff to diff, tap to tap, diff to tap"),
    _r("difftap.8", "enclosure", 180, "pdiff", "nwell", "enclosure of p+ diffusion by n-well"),
    _r("difftap.9", "separation", 340, "ndiff", "nwell", "spacing of n+ diffusion to n-well"),
    _r("difftap.10", "enclosure", 180, "ntap", "nwell", "enclosure of n+ tap by n-well"),
    _r("difftap.11", "separation", 130, "ptap", "nwell", "spacing of p+ tap to n-well"),
    _r("poly.1a", "width", 150, "poly", what="width of poly"),
    _r("poly.2", "space", 210, "poly", what="spacing of poly to poly"),
    _r("poly.4", "separation", 75, "field_poly", "difftap", "spacing of poly on field to diff"),
    _r("poly.7", "extension", 250, "diff", "gate_sd", "extension of diff beyond poly (source/drain)"),
    _r("poly.8", "extension", 130, "poly", "gate_end", "extension of poly beyond diff (endcap)"),
    _r("licon.1", "exact", 170, "licon", what="licon is a 0.17 um square"),
    _r("licon.2", "space", 170, "licon", what="spacing of licon to licon"),
    _r("licon.5a", "enclosure", 40, "diff_licon", "diff", "enclosure of licon by diff"),
    _r("licon.5c", "enclosure_one", 60, "diff_licon", "diff", "enclosure of licon by diff on one of two adjacent "
                                                              "sides"),
    _r("licon.7", "enclosure_one", 120, "tap_licon", "tap", "enclosure of licon by tap on one of two adjacent "
                                                            "sides"),
    _r("licon.8", "enclosure", 50, "poly_licon", "poly", "enclosure of poly licon by poly"),
    _r("licon.8a", "enclosure_one", 80, "poly_licon", "poly", "enclosure of poly licon by poly on one of two "
                                                              "adjacent sides"),
    _r("licon.9", "separation", 110, "poly_licon", "psdm", "spacing of poly licon to psdm"),
    _r("licon.11", "separation", 55, "difftap_licon", "gate", "spacing of licon on diff or tap to the gate"),
    _r("licon.14", "separation", 190, "poly_licon", "difftap", "spacing of poly licon to diff or tap"),
    _r("licon.15", "enclosure", 100, "poly_licon", "npc", "enclosure of poly licon by npc"),
    _r("npc.1", "width", 270, "npc", what="width of npc"),
    _r("npc.2", "space", 270, "npc", what="spacing of npc to npc"),
    _r("npc.4", "separation", 90, "npc", "gate", "spacing of npc to the gate"),
    _r("li.1", "width", 170, "li1", what="width of li1"),
    _r("li.3", "space", 170, "li1", what="spacing of li1 to li1"),
    _r("li.5", "enclosure_one", 80, "licon", "li1", "enclosure of licon by li1 on one of two adjacent sides"),
    _r("li.6", "area", 56100, "li1", what="minimum area of li1 (0.0561 um^2)"),
    _r("ct.1", "exact", 170, "mcon", what="mcon is a 0.17 um square"),
    _r("ct.2", "space", 190, "mcon", what="spacing of mcon to mcon"),
    _r("ct.4", "enclosure", 0, "mcon", "li1", "mcon inside li1"),
    _r("m1.1", "width", 140, "met1", what="width of met1"),
    _r("m1.2", "space", 140, "met1", what="spacing of met1 to met1"),
    _r("m1.4", "enclosure", 30, "mcon", "met1", "enclosure of mcon by met1"),
    # m1.5: a met1 rectangle under 0.06 um round a single mcon is below m1.6's area; broken alone on two mcons
    _r("m1.5", "enclosure_one", 60, "mcon", "met1", "enclosure of mcon by met1 on one of two adjacent sides"),
    _r("m1.6", "area", 83000, "met1", what="minimum area of met1 (0.083 um^2)"),
    _r("via.1a", "exact", 150, "via", what="via is a 0.15 um square"),
    _r("via.2", "space", 170, "via", what="spacing of via to via"),
    _r("via.4a", "enclosure", 55, "via", "met1", "enclosure of via by met1"),
    _r("via.5a", "enclosure_one", 85, "via", "met1", "enclosure of via by met1 on one of two adjacent sides"),
    _r("m2.1", "width", 140, "met2", what="width of met2"),
    _r("m2.2", "space", 140, "met2", what="spacing of met2 to met2"),
    _r("m2.4", "enclosure", 55, "via", "met2", "enclosure of via by met2"),
    _r("m2.5", "enclosure_one", 85, "via", "met2", "enclosure of via by met2 on one of two adjacent sides"),
    _r("m2.6", "area", 67600, "met2", what="minimum area of met2 (0.0676 um^2)"),
    _r("via2.1a", "exact", 200, "via2", what="via2 is a 0.2 um square"),
    _r("via2.2", "space", 200, "via2", what="spacing of via2 to via2"),
    _r("via2.4", "enclosure", 40, "via2", "met2", "enclosure of via2 by met2"),
    _r("via2.5", "enclosure_one", 85, "via2", "met2", "enclosure of via2 by met2 on one of two adjacent sides"),
    _r("m3.1", "width", 300, "met3", what="width of met3"),
    _r("m3.2", "space", 300, "met3", what="spacing of met3 to met3"),
    _r("m3.4", "enclosure", 65, "via2", "met3", "enclosure of via2 by met3"),
    _r("m3.6", "area", 240000, "met3", what="minimum area of met3 (0.24 um^2)"),
    _r("via3.1", "exact", 200, "via3", what="via3 is a 0.2 um square"),
    _r("via3.2", "space", 200, "via3", what="spacing of via3 to via3"),
    _r("via3.4", "enclosure", 60, "m3_via3", "met3", "enclosure of via3 (off capm) by met3"),
    # via3.5: a met3 rectangle under 0.09 um round a single via3 is below m3.6's area; broken alone on two via3s
    _r("via3.5", "enclosure_one", 90, "m3_via3", "met3", "enclosure of via3 (off capm) by met3 on one of two "
                                                         "adjacent sides"),
    _r("m4.1", "width", 300, "met4", what="width of met4"),
    _r("m4.2", "space", 300, "met4", what="spacing of met4 to met4"),
    _r("m4.3", "enclosure", 65, "via3", "met4", "enclosure of via3 by met4"),
    _r("m4.4a", "area", 240000, "met4", what="minimum area of met4 (0.24 um^2)"),
    _r("nwell.1", "width", 840, "nwell", what="width of n-well"),
    _r("nwell.2a", "space", 1270, "nwell", what="spacing of n-well to n-well"),
    _r("nsd.1", "width", 380, "nsdm", what="width of nsdm (n/psd.1)"),
    _r("nsd.2", "space", 380, "nsdm", what="spacing of nsdm to nsdm (n/psd.2)"),
    _r("psd.1", "width", 380, "psdm", what="width of psdm (n/psd.1)"),
    _r("psd.2", "space", 380, "psdm", what="spacing of psdm to psdm (n/psd.2)"),
    _r("nsd.5a", "enclosure", 125, "ndiff_all", "nsdm", "enclosure of n+ diff and tap by nsdm (n/psd.5a, 5b)"),
    _r("psd.5a", "enclosure", 125, "pdiff_all", "psdm", "enclosure of p+ diff and tap by psdm (n/psd.5a, 5b)"),
    _r("nsd.7", "separation", 130, "nsdm", "pdiff_all", "spacing of nsdm to p+ diff or tap (n/psd.7)"),
    _r("psd.7", "separation", 130, "psdm", "ndiff_all", "spacing of psdm to n+ diff or tap (n/psd.7)"),
    _r("nsd.8", "overlap", 0, "nsdm", "psdm", "nsdm and psdm must not overlap (n/psd.8)"),
    _r("nsd.9", "inside", 0, "difftap", "implant", "diff and tap enclosed by an implant (n/psd.9)"),
    _r("nsd.10a", "area", 265000, "nsdm", what="minimum area of nsdm (0.265 um^2)"),
    _r("psd.10b", "area", 255000, "psdm", what="minimum area of psdm (0.255 um^2)"),
    _r("capm.1", "width", 1000, "capm", what="width of capm", source=CAPM_SOURCE),
    _r("capm.2a", "space", 840, "capm", what="spacing of capm to capm", source=CAPM_SOURCE),
    _r("capm.3", "enclosure", 140, "capm", "met3", "enclosure of capm by met3 (bottom plate)", CAPM_SOURCE),
    _r("capm.4", "enclosure", 140, "capm_via3", "capm", "enclosure of via3 by capm", CAPM_SOURCE),
)

RULE_BY_NAME = {r.name: r for r in RULES}


def rule(name: str) -> int:
    """A rule's value in nm (the generator sizes its shapes with these)."""
    return RULE_BY_NAME[name].value
