"""Values written into netlists are checked; bad ones name their field."""

import math

import pytest

from codesign import netlist


@pytest.mark.parametrize("good", ["a", "X_1", "n0ut"])
def test_identifiers_pass(good):
    assert netlist.identifier(good, "f") == good


@pytest.mark.parametrize("bad", ["", "1a", "a b", "a;b", "a\n.end", "x{y}", "end", 3, None,
                                 "a\n", "a\r", "a\n\n", "\na", "a\t"])
def test_bad_identifiers_name_the_field(bad):
    with pytest.raises(ValueError, match="cell.name"):
        netlist.identifier(bad, "cell.name")


@pytest.mark.parametrize("keyword", ["end", "END", "End", "eNdS", "SUBCKT", "Param", "INCLUDE", "Lib",
                                     "ENDL", "Control", "ENDC"])
def test_spice_keywords_are_refused_in_any_case(keyword):
    with pytest.raises(ValueError, match=f"cell.name: '{keyword}' is a SPICE keyword"):
        netlist.identifier(keyword, "cell.name")


@pytest.mark.parametrize("card", [".end", ".END", ".control", ".Control", ".ENDS", ".include"])
def test_dot_cards_are_refused_as_names(card):
    with pytest.raises(ValueError, match="is not an identifier"):
        netlist.identifier(card, "cell.name")
    with pytest.raises(ValueError, match="is not a node name"):
        netlist.node(card, "cell.node")


@pytest.mark.parametrize("bad", ["a\n", "0\n", "n1\r", "a b", "-1", -1, "", True, 1.0])
def test_bad_nodes_are_refused(bad):
    with pytest.raises(ValueError, match="cell.node"):
        netlist.node(bad, "cell.node")


def test_a_final_newline_never_reaches_a_netlist_line():
    assert netlist.node("n1", "f") == "n1" and netlist.node(0, "f") == "0"
    with pytest.raises(ValueError, match="instance name"):
        netlist.instance("a\n", ["n1"], "sub", {}, "cell")
    with pytest.raises(ValueError, match="node"):
        netlist.instance("a", ["n1\n"], "sub", {}, "cell")
    with pytest.raises(ValueError, match="subcircuit"):
        netlist.instance("a", ["n1"], "sub\n", {}, "cell")
    with pytest.raises(ValueError, match="parameter name"):
        netlist.instance("a", ["n1"], "sub", {"w\n": 1.0}, "cell")


def test_numbers_are_finite_and_exact():
    assert netlist.number(1e-9, "i") == "1e-09"
    assert float(netlist.number(0.1 + 0.2, "x")) == pytest.approx(0.3, rel=1e-11)
    for bad in [math.nan, math.inf, -math.inf, "1", True, None, 1j]:
        with pytest.raises(ValueError, match="i_unit_a"):
            netlist.number(bad, "i_unit_a")
    with pytest.raises(ValueError, match="must be > 0"):
        netlist.number(0.0, "w_um", positive=True)


def test_instance_line_checks_everything():
    line = netlist.instance("cmp", ["inp", 0, "vdd"], "comparator", {"i_bias": 2e-9}, "comparator")
    assert line == "Xcmp inp 0 vdd comparator i_bias=2e-09"
    with pytest.raises(ValueError, match="comparator.i_bias"):
        netlist.instance("cmp", ["a"], "comparator", {"i_bias": math.nan}, "comparator")
    with pytest.raises(ValueError, match="node"):
        netlist.instance("cmp", ["a b"], "comparator", {}, "comparator")


def test_include_path_refuses_quotes(tmp_path):
    assert netlist.include_path(tmp_path / "m.spice", "models").startswith('"/')
    with pytest.raises(ValueError, match="models"):
        netlist.include_path(tmp_path / 'a"b', "models")


def test_templates_only_by_name():
    with pytest.raises(ValueError, match="template name"):
        netlist.template("../etc/passwd")


def test_numbers_below_their_minimum_or_not_positive_are_refused():
    assert netlist.number(0.0, "i", minimum=0) == "0"
    with pytest.raises(ValueError, match=r"i: -1e-12 must be >= 0"):
        netlist.number(-1e-12, "i", minimum=0)
