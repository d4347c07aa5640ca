"""The mirror synapse array's own supply current (codesign.validation.power.mirror_array_extra_current,
the part of a network's power that mapped_unit_power does not count) against ngspice: the whole
array of the golden mirror map with every unit input held at the replicas' voltage, the supply
current (the rails' ideal regulators counted as drawing from it, as on a chip) less the currents the
unit inputs take."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from codesign.mapping.synapses import mirror_array, mirror_netlist
from codesign.netlist import identifier, number
from codesign.validation.benches import header
from codesign.validation.cosim import load_checked
from codesign.validation.ngspice import run
from codesign.validation.power import mirror_array_extra_current

MIRROR = Path(__file__).parent / "golden" / "maps" / "mirror"


def _measured_extra_a(plan, x: np.ndarray) -> float:
    layer, supply = plan.layers[0], plan.chip.supply()
    p, names = mirror_array(plan, layer), [identifier(u.name, "unit name") for u in layer.units]
    lines = header("mirror_supply", supply, "synapse") + [f"Vdd vdd 0 {number(supply.vdd_v, 'vdd_v', positive=True)}"]
    lines += mirror_netlist(p, names, [number(float(v), "x") for v in x])
    lines += [f"Vm_{n} in_{n} 0 {number(p.v_replica_v, 'v')}" for n in names]  # a unit input near i_bias
    rails = [f"e.xsyn_r_{n}.erail" for n in names]  # each row's rail regulator (an ideal buffer)
    lines += [".save i(vdd) " + " ".join(f"i({r})" for r in rails) + " " + " ".join(f"i(vm_{n})" for n in names),
              ".op", ".end"]
    res = run("\n".join(lines) + "\n", name="mirror_supply", timeout_s=120)
    supply_a = -float(res.i("vdd")[-1]) - sum(float(res.i(r)[-1]) for r in rails)
    into_units = sum(float(res.i(f"vm_{n}")[-1]) for n in names)
    return supply_a - into_units


# The golden map's array as mapped (single-ended, one device per code), and the same network on a
# differential front end with each row's 1 / beta_i mostly in device counts.
ARRAYS = {"as mapped": {}, "differential, device counts": {"mirror_front_end": "differential", "i_xbias_a": 0.2e-9,
                                                           "mirror_row_gain_min": 0.7}}


@pytest.mark.parametrize("array", ARRAYS)
@pytest.mark.parametrize("frame", [0, 7])
def test_the_arrays_own_current_is_what_kirchhoff_gives(frame, array):
    from codesign.validation.report import test_sequences

    plan = load_checked(MIRROR)
    plan = dataclasses.replace(plan, chip=dataclasses.replace(plan.chip, **ARRAYS[array]))
    x = test_sequences(MIRROR, 1)[0][0, frame]
    p = mirror_array(plan, plan.layers[0])
    predicted = mirror_array_extra_current(p, x[None, :])
    measured = _measured_extra_a(plan, x)
    assert predicted["total_a"] > p.i_xbias_a and predicted["columns_a"] > 0
    # the mirrors copy within a few per cent (docs/mapping.md); the accounting must hold to that
    assert measured == pytest.approx(predicted["total_a"], rel=0.05)
