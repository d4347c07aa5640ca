"""Design-rule check of a GDS cell with KLayout's Python module (`klayout.db`).

Checks the rule table `codesign.layout.rules.RULES` (a documented subset of
the sky130 periphery rules) on the flattened cell and returns each violation
with its rule and place. Derived layers (gates, implanted diffusions, poly
contacts, ...) are built here from the drawn ones, as the rule text defines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb

from codesign.layout.rules import DBU_UM, LAYERS, RULES, Rule


@dataclass(frozen=True)
class Violation:
    rule: str
    x_um: float  # centre of the flagged place
    y_um: float
    what: str

    def __str__(self) -> str:
        return f"{self.rule} at ({self.x_um:.3f}, {self.y_um:.3f}) um: {self.what}"


def load(path: Path, cell: str | None = None) -> tuple[kdb.Layout, kdb.Cell]:
    layout = kdb.Layout()
    layout.read(str(path))
    top = layout.cell(cell) if cell else layout.top_cell()
    if top is None:
        raise ValueError(f"{path}: no cell {cell!r}")
    return layout, top


def drawn_layers(layout: kdb.Layout, top: kdb.Cell) -> dict[str, kdb.Region]:
    out = {}
    for name, spec in LAYERS.items():
        if name.endswith("_label"):
            continue
        index = layout.find_layer(spec.gds_layer, spec.gds_datatype)
        region = kdb.Region() if index is None else kdb.Region(top.begin_shapes_rec(index))
        out[name] = region.merged()
    return out


def derived_layers(r: dict[str, kdb.Region]) -> dict[str, kdb.Region]:
    d = dict(r)
    d["difftap"] = (r["diff"] + r["tap"]).merged()
    d["gate"] = r["poly"] & r["diff"]
    d["field_poly"] = r["poly"] - r["diff"]
    d["pdiff"] = r["diff"] & r["psdm"]
    d["ndiff"] = r["diff"] & r["nsdm"]
    d["ptap"] = r["tap"] & r["psdm"]
    d["ntap"] = r["tap"] & r["nsdm"]
    d["pdiff_all"] = d["difftap"] & r["psdm"]
    d["ndiff_all"] = d["difftap"] & r["nsdm"]
    d["implant"] = (r["nsdm"] + r["psdm"]).merged()
    licon = _unmerged(r["licon"])
    d["licon"] = licon
    d["diff_licon"] = licon.interacting(r["diff"])
    d["tap_licon"] = licon.interacting(r["tap"])
    d["difftap_licon"] = licon.interacting(d["difftap"])
    d["poly_licon"] = licon.interacting(r["poly"]).not_interacting(d["difftap"])
    for via in ("mcon", "via", "via2", "via3"):
        d[via] = _unmerged(r[via])
    d["capm_via3"] = d["via3"].interacting(r["capm"])  # a via3 across the plate's edge fails capm.4
    d["m3_via3"] = d["via3"].not_interacting(r["capm"])
    # gate edges: along the diffusion border (endcaps) and along source/drain (inside the diffusion)
    gate_edges = d["gate"].edges()
    d["gate_end"] = gate_edges.inside_part(r["poly"])
    d["gate_sd"] = gate_edges.inside_part(r["diff"])
    return d


def _unmerged(region: kdb.Region) -> kdb.Region:
    """Cut layers checked shape by shape (touching cuts would merge into one)."""
    out = kdb.Region()
    for poly in region.each():
        out.insert(poly)
    out.merged_semantics = False
    return out


def _at(shapes, rule: Rule, what: str) -> list[Violation]:
    """One violation at the centre of each flagged shape (edge pair, polygon or edge)."""
    out = []
    for shape in shapes.each():
        c = shape.bbox().center()
        out.append(Violation(rule.name, c.x * DBU_UM, c.y * DBU_UM, f"{rule.what}: {what}"))
    return out


def _pairs(edge_pairs: kdb.EdgePairs, rule: Rule) -> list[Violation]:
    return _at(edge_pairs, rule, f"below {rule.value / 1000:g} um")


def check_rule(rule: Rule, d: dict[str, kdb.Region]) -> list[Violation]:
    a, v = d[rule.layer], rule.value
    b = d.get(rule.other)
    metrics = kdb.Metrics.Projection
    if rule.kind == "width":
        return _pairs(a.width_check(v, False, metrics), rule)
    if rule.kind == "space":
        return _pairs(a.space_check(v, False, metrics), rule)
    if rule.kind == "area":
        return _at(a.with_area(0, v, False), rule, f"area below {v / 1e6:g} um^2")
    if rule.kind == "exact":
        bad = [p for p in a.each() if not (p.is_box() and p.bbox().width() == v and p.bbox().height() == v)]
        return _at(kdb.Region(bad), rule, f"not a {v / 1000:g} um square")
    if rule.kind == "separation":
        if rule.name == "poly.4":  # field poly abuts its own gate's diffusion: not a spacing, any other abutment is
            near = a.separation_check(b, v, False, metrics,
                                      zero_distance_mode=kdb.ZeroDistanceMode.NeverIncludeZeroDistance)
            abutting = (a.edges() & b.edges()) - d["gate"].edges()
            return (_pairs(near, rule) + _at(a & b, rule, "poly over tap")
                    + _at(abutting, rule, "poly abuts diff or tap"))
        return _pairs(a.separation_check(b, v, False, metrics), rule) + _at(a & b, rule, "overlaps")
    if rule.kind == "overlap":
        return _at(a & b, rule, f"{rule.layer} overlaps {rule.other}")
    if rule.kind == "inside":
        return _at(a - b, rule, f"{rule.layer} outside {rule.other}")
    if rule.kind == "enclosure":
        outside = _at(a.not_inside(b), rule, f"not inside {rule.other}")
        if v == 0:
            return outside
        return outside + _pairs(b.enclosing_check(a, v, False, metrics), rule)
    if rule.kind == "enclosure_one":
        # by v on both sides in x or on both sides in y (the rule's "one of two adjacent sides"
        # read as one direction, as via and contact enclosures are drawn); a shape sized by v
        # keeps its centre, which names the shape it came from
        def centres(region: kdb.Region) -> set:
            return {(p.bbox().center().x, p.bbox().center().y) for p in region.each()}

        sized = {}
        for axis, (dx, dy) in (("x", (v, 0)), ("y", (0, v))):
            grown = kdb.Region()
            for p in a.each():
                grown.insert(p.sized(dx, dy, 2))
            grown.merged_semantics = False
            sized[axis] = centres(grown.not_inside(b))
        bad = [p for p in a.each() if (p.bbox().center().x, p.bbox().center().y) in sized["x"] & sized["y"]]
        return _at(kdb.Region(bad), rule, f"under {v / 1000:g} um in both directions")
    if rule.kind == "extension":
        # the region b-edges extended outwards by v must lie in layer a
        grown = b.extended_out(v)
        return _at(grown - a, rule, f"{rule.layer} extends less than {v / 1000:g} um")
    if rule.kind == "gate_width":
        return _at(d["gate_sd"].with_length(0, v, False), rule, f"below {v / 1000:g} um")
    raise ValueError(f"{rule.name}: unknown rule kind {rule.kind!r}")


def check(path: Path, cell: str | None = None, rules: tuple[Rule, ...] = RULES) -> list[Violation]:
    """Every violation of `rules` in the cell (default: the top cell) of a GDS file."""
    layout, top = load(path, cell)
    d = derived_layers(drawn_layers(layout, top))
    out: list[Violation] = []
    for rule in rules:
        out += check_rule(rule, d)
    return out
