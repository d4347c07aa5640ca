"""The cells the layout stage draws, one function per cell, each returning its flat circuit.

Template cells come from netlists/ at their default sizes; the comparator,
the integrator and the unit come at the sizes of a chip spec or a manifest,
through the same netlist generators the mapper uses (`codesign.hardware`), so
the layout always draws what is simulated. Every cell is laid out by the
generic generator (`codesign.layout.route.layout`), which keeps working when a
template changes or a new one appears.
"""

from __future__ import annotations

from codesign.hardware.cells import cell_library, comparator, integrator_subckt
from codesign.hardware.params import ComparatorParams, IntegratorParams
from codesign.layout.circuit import Circuit, flatten
from codesign.netlist import identifier

TEMPLATE_FILES = ("logic", "comparator", "integrator", "latch", "synapse")


def library_text(*extra: str) -> str:
    """Every shipped template plus extra subcircuit text (composed cells)."""
    return "\n".join([cell_library(*TEMPLATE_FILES), *extra])


def template_cell(name: str) -> Circuit:
    """A template subcircuit at its default sizes."""
    return flatten(library_text(), identifier(name, "cell name"))


def inv() -> Circuit:
    return template_cell("mru_inv")


def nand2() -> Circuit:
    return template_cell("mru_nand2")


def nor2() -> Circuit:
    return template_cell("mru_nor2")


def nand3() -> Circuit:
    return template_cell("mru_nand3")


def tgate() -> Circuit:
    return template_cell("mru_tgate")


def charge_pump() -> Circuit:
    return template_cell("mru_charge_pump")


def level_cmp() -> Circuit:
    return template_cell("mru_level_cmp")


def level_select() -> Circuit:
    return template_cell("mru_level_select")


def readout_branch() -> Circuit:
    return template_cell("mru_readout_branch")


def latch() -> Circuit:
    return template_cell("mru_latch")


def syn_unit() -> Circuit:
    return template_cell("mru_syn_unit")


def comparator_cell(p: ComparatorParams) -> Circuit:
    """The comparator at the chip's sizes (its bias currents become pins iup, ih, idn)."""
    inst = comparator(p, "cmp", "in", "up", "dn")
    text = "\n".join([".subckt mru_comparator_sized in up dn vdd vss", inst.replace(" 0 mru_comparator", " vss "
                                                                                   "mru_comparator"), ".ends"])
    return flatten(library_text(text), "mru_comparator_sized", "mru_comparator")


def integrator_cell(p: IntegratorParams) -> Circuit:
    """The integrator of L levels per side, with its hold capacitor."""
    name = f"mru_integrator_l{p.levels_per_side}"
    return flatten(library_text(integrator_subckt(p)), name)


# The template cells, by the name of their function (the `codesign layout --chip` set)
TEMPLATES = {f.__name__: f for f in (inv, nand2, nor2, nand3, tgate, charge_pump, level_cmp, level_select,
                                     readout_branch, latch, syn_unit)}


def unit_cell(plan, u) -> Circuit:
    """One unit of a mapped network (comparator, memory cell of the chip's kind, readout), as the
    mapper composes it (`codesign.mapping.netlists.unit_subckt`), from the same core generators."""
    kind = plan.chip.kind
    name = identifier(f"mru_unit_{u.name}", "unit name")
    body = "\n".join([comparator(u.comparator, "cmp", "in", "up", "dn"), kind.unit_body(plan, u)])
    text = "\n".join([f".subckt {name} {' '.join(kind.unit_pins(plan))}", body, f".ends {name}"])
    return flatten(library_text(kind.library(plan), text), name)


def chip_cells(chip) -> dict[str, Circuit]:
    """Every cell of a chip spec without a trained network: the templates, the sized
    comparator and the chip's memory cell."""
    out = {c.name: c for c in (f() for f in TEMPLATES.values())}
    comp = comparator_cell(chip.comparator())
    out[comp.name] = comp
    if chip.hardware == "integrator":
        integ = integrator_cell(chip.integrator())
        out[integ.name] = integ
    return out
