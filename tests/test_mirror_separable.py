"""A single-layer network on the mirror synapse array runs one netlist per unit: each unit's
netlist keeps the array's columns whole and only the unit's own row (docs/mapping.md, "Mirror
synapse array"). Netlist contents (no ngspice); the units' input currents with the other rows
left out against the whole array; a short co-simulation against the whole network netlist.

The figures docs/mapping.md quotes for the other rows' gate load (the first 2 test sequences of
the golden mirror map, 40 steps each; the keyword-spotting map's first units) come from this
file's deck:

    .venv/bin/python tests/test_mirror_separable.py 2 40 [MAP_DIR [UNITS]]
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from codesign.hardware.cells import comparator
from codesign.mapping.netlists import network_netlist, separable
from codesign.mapping.synapses import mirror_array, mirror_netlist
from codesign.netlist import identifier, number
from codesign.validation.benches import header, step_pwl, tran
from codesign.validation.cosim import REFERENCE, TIGHT, SolverOptions, cosim_network, load_checked, network_groups
from codesign.validation.ngspice import run
from codesign.validation.report import test_sequences as first_test_sequences
from codesign.validation.synapses import TRAN_TOLERANCES

MAPS = Path(__file__).parent / "golden" / "maps"
MIRROR = MAPS / "mirror"


def _row_lines(text: str, name: str) -> list[str]:
    """The lines of a netlist that belong to the mirror-array row of unit `name`."""
    return [ln for ln in text.splitlines()
            if ln.startswith((f"Xsyn_r_{name} ", f"Isyn_rr_{name} ", f"Isyn_b_{name} ", f"Xsyn_{name}_"))]


# ---------- netlists (no ngspice) ----------

def test_a_single_layer_mirror_network_is_separable_and_two_layers_are_not():
    plan = load_checked(MIRROR)
    assert plan.chip.synapses == "mirror" and separable(plan)
    assert network_groups(plan, TIGHT) == [(u,) for u in plan.units]
    two = load_checked(MAPS / "twolayer")
    assert not separable(two) and network_groups(two, TIGHT) == [None]
    with pytest.raises(ValueError, match="separable"):
        network_netlist(two, units=two.units[:1])


def test_a_units_netlist_holds_the_whole_columns_and_only_its_own_row():
    plan = load_checked(MIRROR)
    whole = (MIRROR / "network.spice").read_text()
    names = [u.name for u in plan.units]
    n_in = plan.layers[0].n_in
    shared = ["Vsyn_rep ", "Vsyn_cn ", "Isyn_xref ", "Xsyn_cref "] + [f"Bsyn_fe{j} " for j in range(n_in)] \
        + [f"Xsyn_c{j} " for j in range(n_in)]
    codes = mirror_array(plan, plan.layers[0]).codes
    for u in plan.units:
        text = network_netlist(plan, units=(u,))
        own = _row_lines(text, u.name)
        assert own == _row_lines(whole, u.name) and len(own) >= 4  # row, its reference, fixed current, synapses
        for other in names:
            if other != u.name:
                assert other not in text  # neither its row, nor its unit
        for start in shared:  # front end, columns, reference column: as in the whole netlist
            assert [ln for ln in text.splitlines() if ln.startswith(start)] == \
                   [ln for ln in whole.splitlines() if ln.startswith(start)] != []
        assert "By0 " not in text  # no readout: the bench sums the units' output currents
        # the other rows' synapse pfets stay on each column as one gate load
        for j in range(n_in):
            others = int(sum(abs(c[j]) for v, c in zip(plan.units, codes) if v != u))
            load = [ln for ln in text.splitlines() if ln.startswith(f"Xsyn_l{j} ")]
            assert load == ([f"Xsyn_l{j} syn_vrep syn_x{j} vdd vdd mru_syn_unit w=1 l=1 count={others}"]
                            if others else []), (load, others)
    # all rows asked for: the whole array, line for line
    p = mirror_array(plan, plan.layers[0])
    inputs = [f"v(x{j})" for j in range(n_in)]
    assert mirror_netlist(p, names, inputs, rows=list(range(len(names)))) == mirror_netlist(p, names, inputs)
    with pytest.raises(ValueError, match="rows"):
        mirror_netlist(p, names, inputs, rows=[0, 0])


# ---------- ngspice ----------

def _array_bench(plan, x: np.ndarray, rows: list[int], gate_load: bool = False) -> str:
    """Layer 0's mirror array (columns whole, the given rows) into one comparator per row (the
    unit's real input stage), x [T, n_in] stepped once per clock period as in the network.
    gate_load: the other rows' synapse pfets kept as a gate load only (drain at the replicas'
    drain voltage, source and bulk at vdd). Gear integration (the currents through the 0 V
    sources ring under the trapezoidal rule) at the synapse characterization's tolerances."""
    c, layer = plan.chip, plan.layers[0]
    p, names = mirror_array(plan, layer), [identifier(u.name, "unit name") for u in layer.units]
    supply = c.supply()
    lines = header("mirror_rows", supply, "logic", "comparator", "synapse")
    lines += [TRAN_TOLERANCES + " method=gear",
              f"Vdd vdd 0 {number(supply.vdd_v, 'vdd_v', positive=True)}"]
    lines += mirror_netlist(p, names, [f"v(x{j})" for j in range(layer.n_in)], rows=rows, other_rows_load=gate_load,
                            vdd_v=supply.vdd_v)
    for r in rows:
        n = names[r]
        lines += [f"Vm_{n} in_{n} inc_{n} 0",
                  comparator(layer.units[r].comparator, f"cmp_{n}", f"inc_{n}", f"up_{n}", f"dn_{n}")]
    for j in range(layer.n_in):
        lines.append(f"Vx{j} x{j} 0 {step_pwl(list(map(float, x[:, j])), c.clock_period_s, 1e-6, 'x')}")
    saves = [f"i(vm_{names[r]})" for r in rows] + _columns(p)
    lines += [".save " + " ".join(saves), tran(len(x) * c.clock_period_s, c.t_compare_s / 20), ".end"]
    return "\n".join(lines) + "\n"


def _columns(p) -> list[str]:
    """The column voltages of a mirror array, the reference column's last."""
    return [f"v({node})" for node, _ in p.columns] + ["v(syn_xref)"]


def rows_alone_against_whole(plan, x: np.ndarray, gate_load: bool = False, units: int | None = None) -> list[dict]:
    """Per unit: its row alone with the columns (or with the other rows' gate load) against the
    whole array on x [T, n_in]. Figures: the largest column-voltage difference at the ends of
    the compare phases (where the comparator decides) and anywhere, the latest time into a
    clock period it exceeds 1 uV, and the largest input-current difference at the compare
    phases' ends in units of I_unit."""
    c, layer = plan.chip, plan.layers[0]
    period, steps = c.clock_period_s, len(x)
    t_cmp = np.arange(steps) * period + c.t_compare_s - 2e-6
    grid = np.linspace(0.0, steps * period, steps * 2000 + 1)
    whole = run(_array_bench(plan, x, list(range(len(layer.units)))), name="mirror_rows_whole", timeout_s=600)
    columns = _columns(mirror_array(plan, layer))
    figures = []
    for r, u in enumerate(layer.units[:units]):
        alone = run(_array_bench(plan, x, [r], gate_load), name="mirror_rows_alone", timeout_s=600)

        def diff(key, t, a=alone):
            return np.abs(np.interp(t, a["time"], a[key]) - np.interp(t, whole["time"], whole[key]))

        dv = np.max([diff(k, grid) for k in columns], axis=0)
        late = grid[dv > 1e-6] % period
        figures.append({"unit": u.name, "dv_compare_v": max(diff(k, t_cmp).max() for k in columns),
                        "dv_anywhere_v": float(dv.max()), "above_1uv_until_s": float(late.max()) if late.size else 0.0,
                        "di_compare": float(diff(f"i(vm_{identifier(u.name, 'unit name')})", t_cmp).max()
                                            / c.i_unit_a)})
    return figures


def test_the_other_rows_change_no_units_input_current_at_a_decision():
    """The columns are driven by ideal front-end currents: the other rows only add gate
    capacitance, which slows a column's step for a fraction of a millisecond; by the end of
    the compare phase (2 ms) every column voltage and every unit's input current is the whole
    array's (measured up to 0.007 uV and 1.1e-5 I_unit over 2 x 40 steps, docs/mapping.md)."""
    plan = load_checked(MIRROR)
    x = first_test_sequences(MIRROR, 1)[0][0, :4]  # the cue (x0 = 1 -> -0.2) and three steps of distractors
    for f in rows_alone_against_whole(plan, x):
        assert f["dv_compare_v"] < 1e-7 and f["di_compare"] < 1e-4, f
        assert f["above_1uv_until_s"] < 1e-3, f  # settled long before the decision


def test_one_netlist_per_unit_gives_the_whole_netlists_levels_and_outputs():
    """The golden mirror map, one test sequence, 6 steps, the same solver settings both ways."""
    plan = load_checked(MIRROR)
    x = first_test_sequences(MIRROR, 1)[0][:, :6]
    split = cosim_network(plan, x, workers=1, options=SolverOptions(one_unit_per_netlist=True))
    whole = cosim_network(plan, x, workers=1, options=REFERENCE)
    np.testing.assert_array_equal(split.layers[0].k_circuit, whole.layers[0].k_circuit)
    # measured 3e-5 of 12.9 over 2 x 40 steps (docs/results.md, "Simulation speed")
    np.testing.assert_allclose(split.y_circuit, whole.y_circuit, atol=1e-3 * np.abs(whole.y_circuit).max())


if __name__ == "__main__":  # the figures of docs/mapping.md: python tests/test_mirror_separable.py SEQUENCES STEPS
    sequences, n_steps = (int(a) for a in sys.argv[1:3])
    map_dir = Path(sys.argv[3]) if len(sys.argv) > 3 else MIRROR
    first_units = int(sys.argv[4]) if len(sys.argv) > 4 else None
    mirror_plan = load_checked(map_dir)
    xs = first_test_sequences(map_dir, sequences)[0][:, :n_steps]
    for load in (False, True):
        rows = [f for seq in xs for f in rows_alone_against_whole(mirror_plan, seq, load, first_units)]
        print(f"{'other rows as gate load' if load else 'row alone'} ({sequences} x {n_steps} steps): columns at the "
              f"compare ends {max(f['dv_compare_v'] for f in rows) * 1e6:.3f} uV, anywhere "
              f"{max(f['dv_anywhere_v'] for f in rows) * 1e3:.2f} mV, above 1 uV until "
              f"{max(f['above_1uv_until_s'] for f in rows) * 1e3:.2f} ms into a step; input currents at the "
              f"compare ends {max(f['di_compare'] for f in rows):.1e} I_unit")
