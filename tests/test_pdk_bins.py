"""Only the model bins a netlist's transistors select: sizes read right, results unchanged."""

import dataclasses
import shutil

import numpy as np

from codesign.pdk import trimmed_library
from codesign.pdk.bins import _BIN, _devices, binned_library, device_sizes, with_needed_bins
from codesign.validation import ngspice
from codesign.validation.cosim import DEFAULT, load_checked, network_bench
from codesign.validation.report import test_sequences as first_sequences

NFET, PFET = "sky130_fd_pr__nfet_01v8", "sky130_fd_pr__pfet_01v8"
DEVICES = {NFET: {"w": 1.0, "l": 1.0, "nf": 1.0}, PFET: {"w": 1.0, "l": 1.0, "nf": 1.0},
           "sky130_fd_pr__cap_mim_m3_1": None}


def test_sizes_follow_parameters_down_the_hierarchy():
    netlist = f"""* bench
.subckt inner a b w_n=0.42 l_n=4
XM1 a b 0 0 {NFET} w={{w_n}} l={{l_n}}
XM2 a b 0 0 {PFET} w = 2 ; a comment must not swallow the next line's size
+ l=0.5
.ends inner
.subckt outer a lg=8
Xi a a inner l_n={{lg}}
Xj a a inner
.ends
Xtop n1 outer
Xtop2 n2 outer lg=1
XM3 n1 n2 0 0 {NFET}
XC1 n1 0 sky130_fd_pr__cap_mim_m3_1 w=10 l=10
.end
"""
    sizes = device_sizes(netlist, DEVICES)
    assert sizes == {NFET: {(0.42, 8.0), (0.42, 4.0), (0.42, 1.0), (1.0, 1.0)}, PFET: {(2.0, 0.5)}}


def test_a_size_it_cannot_read_keeps_every_bin():
    for line in (f"XM1 a b 0 0 {NFET} w={{2*w}} l=1", f"XM1 a b 0 0 {NFET} w=1u l=1",
                 f"XM1 a b 0 0 {NFET} w=2 l=1 nf=2", f"XM1 a b 0 0 {NFET} w={{undefined}} l=1",
                 "X1 a b cell_from_an_included_file"):
        assert device_sizes(f"* bench\n{line}\n.end\n", DEVICES) is None, line


def _bins(path):
    return [line.split()[1] for line in path.read_text().splitlines() if _BIN.match(line)]


def test_the_copy_keeps_the_bins_holding_each_size_and_both_sides_of_a_boundary(tmp_path):
    library = trimmed_library("tt")
    every = _bins(library)
    assert len(every) == 96  # 48 bins each for the nfet and the pfet
    copy = binned_library(library, {NFET: frozenset({(1.0, 4.0)}), PFET: frozenset({(0.6, 3.0)})})
    kept = _bins(copy)
    # l = 4 um and w = 1 um sit on bin edges: 2 x 2 nfet bins; l = 3, w = 0.6 inside one pfet bin
    assert len([b for b in kept if b.startswith("nshort")]) == 4
    assert len([b for b in kept if b.startswith("pshort")]) == 1
    assert binned_library(library, {NFET: frozenset({(1.0, 4.0)}), PFET: frozenset({(0.6, 3.0)})}) == copy
    devices = _devices(library, library.stat().st_mtime_ns)
    assert {name for name, defaults in devices.items() if defaults} == {NFET, PFET}  # the MIM capacitor: no bins


def test_a_bench_gives_the_same_vectors_with_only_its_bins_and_monte_carlo_keeps_all():
    """Real ngspice, the golden latch network for 3 steps: every vector equal bit for bit."""
    plan = load_checked("tests/golden/maps/latch")
    x = first_sequences("tests/golden/maps/latch", 1)[0][0, :3]
    bench = network_bench(plan, x, plan.chip.supply("tt"), DEFAULT)
    assert "_bins_" in with_needed_bins(bench)
    binned = ngspice.run(bench, name="bins_needed")  # run() loads only the needed bins
    with ngspice.every_model_bin():
        every = ngspice.run(bench, name="bins_every", keep=True)
    assert "_bins_" not in every.netlist.read_text()
    shutil.rmtree(every.netlist.parent)
    assert every.vectors.keys() == binned.vectors.keys()
    for name, values in every.vectors.items():
        assert np.array_equal(values, binned.vectors[name]), name
    chip = network_bench(plan, x, dataclasses.replace(plan.chip.supply("sf"), mc_seed=7), DEFAULT)
    assert with_needed_bins(chip) == chip
