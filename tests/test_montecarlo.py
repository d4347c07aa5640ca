"""Monte Carlo chips: a seed names one chip (the same draws every run, on every
worker), different seeds differ, no seed is the plain corner, bad seeds are refused."""

import dataclasses

import numpy as np
import pytest

from codesign.config import ConfigError, from_dict
from codesign.hardware.params import Supply
from codesign.netlist import instance
from codesign.pdk import model_statement
from codesign.validation.benches import header, mc_seed_option
from codesign.validation.montecarlo import nfet_op
from codesign.validation.ngspice import parallel_map, run

TT = Supply(vdd_v=1.8, corner="tt", temp_c=27.0)
NFET = "sky130_fd_pr__nfet_01v8"


def test_same_seed_same_chip_on_every_worker():
    chip = dataclasses.replace(TT, mc_seed=7)
    first = nfet_op(chip)
    # Separate ngspice processes, two at once: bit-identical, not merely close.
    assert parallel_map(lambda _: nfet_op(chip), [0, 1], workers=2) == [first, first]


def test_different_seeds_different_chips():
    ops = [nfet_op(dataclasses.replace(TT, mc_seed=k)) for k in (7, 8, 9)]
    assert len({op.id_a for op in ops}) == 3
    assert len({op.vth_v for op in ops}) == 3


def test_no_seed_is_the_plain_corner():
    lines = header("b", TT)
    assert lines[1] == model_statement("tt")
    assert not any("seed" in line for line in lines)
    plain = nfet_op(TT)
    assert nfet_op(TT) == plain  # no random draw at all: the same on every run
    assert nfet_op(dataclasses.replace(TT, mc_seed=7)) != plain


def test_seeded_bench_loads_the_mismatch_models():
    lines = header("b", dataclasses.replace(TT, corner="sf", mc_seed=12))
    assert lines[1] == model_statement("sf_mm")
    assert lines[2] == ".option seed=12"


def _vth_of_devices(n: int, seed: int) -> list[float]:
    """Threshold of n identical nfets in one bench (Monte Carlo chip `seed`)."""
    net = header("pair", dataclasses.replace(TT, mc_seed=seed)) + ["Vg g 0 0.36", "Vd d 0 0.5"]
    net += [instance(f"M{k}", ["d", "g", 0, 0], NFET, {"w": 1, "l": 1}, "nfet") for k in range(n)]
    net += [".save " + " ".join(f"@m.xm{k}.m{NFET}[vth]" for k in range(n)), ".op", ".end"]
    res = run("\n".join(net) + "\n", name="pair")
    return [float(res.v(f"@m.xm{k}.m{NFET}[vth]")[0]) for k in range(n)]


def test_each_device_draws_its_own_offset_in_netlist_order():
    two, three = _vth_of_devices(2, seed=7), _vth_of_devices(3, seed=7)
    assert two[0] != two[1]  # identical devices, different draws
    assert three[:2] == two  # a device added after them leaves their draws alone


@pytest.mark.parametrize("seed", [-1, 0, 2**31, 10**40, True, 1.0, 2.5, "3", float("nan")])
def test_bad_seeds_are_refused_by_name(seed):
    with pytest.raises(ValueError, match="mc_seed"):
        Supply(vdd_v=1.8, corner="tt", temp_c=27.0, mc_seed=seed)
    with pytest.raises(ValueError, match="mc_seed"):
        mc_seed_option(seed)
    with pytest.raises(ConfigError, match="mc_seed"):
        from_dict(Supply, {"vdd_v": 1.8, "corner": "tt", "temp_c": 27.0, "mc_seed": seed})


def test_largest_seed_is_accepted():
    assert mc_seed_option(2**31 - 1) == ".option seed=2147483647"


@pytest.mark.parametrize("corner", ["tt_mm", "ll"])
def test_seed_needs_a_plain_corner_with_a_mismatch_variant(corner):
    with pytest.raises(ValueError, match="corner"):
        header("b", dataclasses.replace(TT, corner=corner, mc_seed=1))


def test_trip_point_distribution_keeps_chips_that_do_not_switch(monkeypatch):
    """Without ngspice: a chip whose threshold lies outside the loop's sweep is a
    NaN row; an ngspice failure is not swallowed."""
    from types import SimpleNamespace

    from codesign.chip import load_chip
    from codesign.validation import characterize
    from codesign.validation.montecarlo import trip_point_distribution
    from codesign.validation.ngspice import NgspiceError

    seen = []

    def fake_loop(p, supply, sweep_s):
        seen.append(supply)
        if supply.mc_seed == 2:
            raise RuntimeError("comparator did not switch both ways: up edges [], dn edges []")
        if supply.mc_seed == 3:
            raise NgspiceError("ngspice failed")
        errors = {"up_on_in_beta": 0.1 * supply.mc_seed, "dn_on_in_beta": -0.1}
        return SimpleNamespace(up_on_a=5e-10, dn_on_a=3e-10, errors=lambda: errors)

    monkeypatch.setattr(characterize, "hysteresis_loop", fake_loop)
    chip = load_chip()
    rows = trip_point_distribution(chip, "ss", [1, 2])
    assert [s.mc_seed for s in seen] == [1, 2] and {s.corner for s in seen} == {"ss"}
    assert rows[0].switched and rows[0].up_on_in_beta == pytest.approx(0.1)
    assert not rows[1].switched and rows[1].seed == 2
    with pytest.raises(NgspiceError):
        trip_point_distribution(chip, "tt", [3])


def test_the_matched_comparator_spreads_less_over_the_same_chips():
    # 16x the gate area: sigma of the trip points 4.5x smaller over 60 chips (docs/circuits.md,
    # "Comparator mismatch against device size"); 8 chips of each are enough to tell them apart
    import numpy as np

    from codesign.chip import load_chip
    from codesign.validation.montecarlo import wide_hysteresis_loop

    def up_trips(chip):
        def one(seed):
            return wide_hysteresis_loop(chip.comparator(), dataclasses.replace(chip.supply(), mc_seed=seed)).up_on_a
        return np.array(parallel_map(one, list(range(1, 9)), workers=2))

    default, matched = up_trips(load_chip("sky130_subthreshold")), up_trips(load_chip("sky130_matched"))
    assert matched.std() < default.std() / 2, (default, matched)
    assert abs(np.median(matched) - 500e-12) < 25e-12  # trimmed at tt 27 C: the spread is around the threshold


def test_units_cut_out_of_a_chip_draw_devices_of_their_own():
    """One netlist per unit lists every unit's devices in the same order: under the chip's own seed
    each unit would draw the same mismatch. Each unit's netlist carries a seed of its own, the same
    on every call; the whole network keeps the chip's seed; a mirror array stays whole."""
    from codesign.validation.benches import unit_supply
    from codesign.validation.cosim import DEFAULT, load_checked, network_bench, network_groups, unit_bench
    from codesign.validation.power import power_bench

    def seed_line(text):
        return next(line for line in text.splitlines() if line.startswith(".option seed="))

    plan = load_checked("tests/golden/maps/cmru")
    chip3 = dataclasses.replace(plan.chip.supply(), mc_seed=3)
    x = np.zeros((2, plan.layers[0].n_in))
    groups = network_groups(plan, DEFAULT, chip3)
    assert groups == [(u,) for u in plan.units]
    seeds = [seed_line(network_bench(plan, x, chip3, DEFAULT, g)) for g in groups]
    assert len(set(seeds)) == len(plan.units)
    assert seeds == [seed_line(network_bench(plan, x, chip3, DEFAULT, g)) for g in groups]  # the same chip again
    assert seed_line(network_bench(plan, x, chip3, DEFAULT)) == ".option seed=3"  # the network in one netlist
    assert seed_line(network_bench(plan, x, chip3, DEFAULT, tuple(plan.units))) == ".option seed=3"
    z = np.zeros((2, len(plan.units)))
    assert seed_line(unit_bench(plan, plan.layers[0], z, chip3)) == ".option seed=3"  # the whole layer
    one = dataclasses.replace(plan.layers[0], units=(plan.units[1],))
    assert seed_line(unit_bench(plan, one, z, chip3)) == seeds[1]  # unit 1 cut out: its own devices again
    # the power bench of a unit is that unit of the chip; chip 4's units are others
    u0 = plan.units[0]
    assert seed_line(power_bench(plan, u0, chip3, [0.0])) == seeds[0]
    assert unit_supply(dataclasses.replace(chip3, mc_seed=4), [u0.name]) != unit_supply(chip3, [u0.name])
    assert unit_supply(plan.chip.supply(), [u0.name]) == plan.chip.supply()  # no chip: the plain corner
    mirror = load_checked("tests/golden/maps/mirror")
    assert network_groups(mirror, DEFAULT, chip3) == [None]  # its columns are shared devices
    assert network_groups(mirror, DEFAULT, plan.chip.supply()) == [(u,) for u in mirror.units]


def test_a_chips_level_comparators_are_distinct_devices():
    """The 2L level comparators of one chip sit in one netlist: each draws its own offset (in a
    netlist of its own per boundary, chip k would repeat one draw 2L times)."""
    from codesign.chip import ChipSpec
    from codesign.validation.characterize import level_comparator_trips

    chip = ChipSpec()
    plain = level_comparator_trips(chip.integrator(), chip.supply())
    assert np.all(np.abs(plain) <= 2e-3)  # trimmed boundaries, no mismatch: within 2 mV
    errors = [level_comparator_trips(chip.integrator(), dataclasses.replace(chip.supply(), mc_seed=k)) for k in (5, 6)]
    assert all(len(set(np.round(e, 4))) > 1 for e in errors), errors  # different offsets within a chip
    assert not np.array_equal(errors[0], errors[1])
