"""Layout versus schematic with KLayout: extract the devices and nets of a GDS
cell (`klayout.db.LayoutToNetlist`) and compare them with the cell's flat
circuit (`klayout.db.NetlistComparer`): device count and type, W and L of each
transistor, each capacitor's value, and the connectivity. Pins are matched by
their labels. Fingers are added back into one device on both sides before the
comparison (`combine_parallel`).

Transistors: gate = poly over diff; nfets in diff under nsdm outside the
n-well (body: the substrate, tied to vss by the p taps), pfets in diff under
psdm inside the n-well (body: the well, tied by its n taps). MIM capacitors:
capm over met3, C = MIM_F_PER_UM2 x drawn area; the reference value is the
same area capacitance times the template's w x l (the model's edge bias is
the simulator's business, not the layout's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb

from codesign.hardware.params import MIM_F_PER_UM2
from codesign.layout.circuit import MIM, NFET, PFET, Circuit
from codesign.layout.rules import LAYERS

W_L_TOLERANCE = 0.005  # relative: the layout snaps W and L to the 5 nm grid
C_TOLERANCE = 0.01


@dataclass(frozen=True)
class LvsResult:
    cell: str
    match: bool
    extracted_devices: int
    reference_devices: int
    messages: tuple[str, ...]  # what differs, when it does

    def __str__(self) -> str:
        head = f"{self.cell}: LVS {'clean' if self.match else 'MISMATCH'} ({self.extracted_devices} devices " \
               f"extracted, {self.reference_devices} in the schematic)"
        return "\n".join([head, *(f"  {m}" for m in self.messages)])


def _tolerances(class_name: str) -> kdb.EqualDeviceParameters:
    """The parameters the comparer holds equal, and how closely: C for a capacitor, W and L for a transistor."""
    if class_name == MIM:
        return kdb.EqualDeviceParameters(kdb.DeviceClassCapacitor.PARAM_C, 0.0, C_TOLERANCE)
    eq = kdb.EqualDeviceParameters(kdb.DeviceClassMOS4Transistor.PARAM_W, 0.0, W_L_TOLERANCE)
    eq += kdb.EqualDeviceParameters(kdb.DeviceClassMOS4Transistor.PARAM_L, 0.0, W_L_TOLERANCE)
    return eq


def _device_class(name: str) -> kdb.DeviceClass:
    dc = kdb.DeviceClassCapacitor() if name == MIM else kdb.DeviceClassMOS4Transistor()
    dc.name = name
    return dc


def reference_netlist(circuit: Circuit) -> kdb.Netlist:
    """The flat circuit as a KLayout netlist (W, L in um; C in F), fingers combined."""
    nl = kdb.Netlist()
    classes = {name: _device_class(name) for name in (NFET, PFET, MIM)}
    for dc in classes.values():
        nl.add(dc)
    top = kdb.Circuit()
    top.name = circuit.name
    nl.add(top)
    nets = {}
    for name in circuit.nets + [p for p in circuit.pins if p not in circuit.nets]:
        net = top.create_net(name)
        nets[name] = net
    for d in circuit.devices:
        dev = top.create_device(classes[d.model], d.name)
        if d.model == MIM:
            dev.set_parameter(kdb.DeviceClassCapacitor.PARAM_C, MIM_F_PER_UM2 * d.w_um * d.l_um)
            dev.connect_terminal("A", nets[d.nets[0]])
            dev.connect_terminal("B", nets[d.nets[1]])
            continue
        dev.set_parameter(kdb.DeviceClassMOS4Transistor.PARAM_W, d.w_um)
        dev.set_parameter(kdb.DeviceClassMOS4Transistor.PARAM_L, d.l_um)
        for terminal, net in zip(("D", "G", "S", "B"), d.nets):
            dev.connect_terminal(terminal, nets[net])
    combine_parallel(nl)
    return nl


def combine_parallel(nl: kdb.Netlist) -> None:
    """Fingers back into one device: transistors of one type, L, gate, bulk and source/drain pair add their W;
    capacitors across one pair of nets add their C. Done here, not with `Netlist.combine_devices`, because
    KLayout 0.30 now and then stops that call with an internal error ("Terminal still connected after
    removing device") on a netlist it combines cleanly on the next try."""
    for circuit in nl.each_circuit():
        kept: dict[tuple, kdb.Device] = {}
        for device in list(circuit.each_device()):
            key, param = _parallel_key(device)
            if key not in kept:
                kept[key] = device
                continue
            first = kept[key]
            first.set_parameter(param, first.parameter(param) + device.parameter(param))
            circuit.remove_device(device)


def _parallel_key(device: kdb.Device) -> tuple[tuple, str]:
    """What a device shares with those it is parallel to, and the parameter that adds up."""
    def net(terminal: str) -> str | None:
        n = device.net_for_terminal(terminal)
        return n.expanded_name() if n is not None else None

    if device.device_class().name == MIM:
        return (MIM, frozenset((net("A"), net("B")))), "C"
    return (device.device_class().name, round(device.parameter("L"), 4), net("G"), net("B"),
            frozenset((net("S"), net("D")))), "W"


def extract(path: Path, cell: str | None = None) -> kdb.Netlist:
    """Devices and nets of a GDS cell."""
    layout = kdb.Layout()
    layout.read(str(path))
    top = layout.cell(cell) if cell else layout.top_cell()
    l2n = kdb.LayoutToNetlist(kdb.RecursiveShapeIterator(layout, top, []))

    def poly_layer(name: str) -> kdb.Region:
        spec = LAYERS[name]
        return l2n.make_polygon_layer(layout.layer(spec.gds_layer, spec.gds_datatype), name)

    def text_layer(name: str) -> kdb.Texts:
        spec = LAYERS[name]
        return l2n.make_text_layer(layout.layer(spec.gds_layer, spec.gds_datatype), name)

    r = {n: poly_layer(n) for n in ("nwell", "diff", "tap", "poly", "licon", "nsdm", "psdm", "li1", "mcon", "met1",
                                      "via", "met2", "via2", "met3", "via3", "met4", "capm")}
    labels = {n: text_layer(n) for n in ("met1_label", "met2_label", "met3_label")}
    gate = r["poly"] & r["diff"]
    pdiff = (r["diff"] & r["psdm"]) & r["nwell"]
    ndiff = (r["diff"] & r["nsdm"]) - r["nwell"]
    pgate, ngate = gate & pdiff, gate & ndiff
    psd, nsd = pdiff - pgate, ndiff - ngate
    ntap, ptap = r["tap"] & r["nsdm"], r["tap"] & r["psdm"]
    via3_cap = r["via3"] & r["capm"]
    via3_m3 = r["via3"] - r["capm"]
    bulk = kdb.Region(top.bbox())
    derived = dict(pgate=pgate, ngate=ngate, psd=psd, nsd=nsd, ntap=ntap, ptap=ptap, via3_cap=via3_cap,
                   via3_m3=via3_m3, bulk=bulk)
    for name, region in derived.items():
        l2n.register(region, name)
    l2n.extract_devices(kdb.DeviceExtractorMOS4Transistor(PFET),
                        {"SD": psd, "G": pgate, "P": r["poly"], "W": r["nwell"]})
    l2n.extract_devices(kdb.DeviceExtractorMOS4Transistor(NFET),
                        {"SD": nsd, "G": ngate, "P": r["poly"], "W": bulk})
    l2n.extract_devices(kdb.DeviceExtractorCapacitor(MIM, MIM_F_PER_UM2), {"P1": r["capm"], "P2": r["met3"]})
    for a, b in [("psd", "licon"), ("nsd", "licon"), ("ntap", "licon"), ("ptap", "licon"), ("poly", "licon"),
                 ("licon", "li1"), ("li1", "mcon"), ("mcon", "met1"), ("met1", "via"), ("via", "met2"),
                 ("met2", "via2"), ("via2", "met3"), ("met3", "via3_m3"), ("via3_m3", "met4"),
                 ("capm", "via3_cap"), ("via3_cap", "met4"), ("nwell", "ntap")]:
        l2n.connect(r.get(a, derived.get(a)), r.get(b, derived.get(b)))
    for name in ("nwell", "diff", "tap", "poly", "li1", "met1", "met2", "met3", "met4", "capm", "psd", "nsd", "ntap",
                 "ptap", "bulk"):
        l2n.connect(r.get(name, derived.get(name)))
    l2n.connect(r["met1"], labels["met1_label"])
    l2n.connect(r["met2"], labels["met2_label"])
    l2n.connect(r["met3"], labels["met3_label"])
    l2n.connect_global(ptap, "vss")
    l2n.connect_global(bulk, "vss")
    l2n.extract_netlist()
    nl = l2n.netlist().dup()  # the extractor owns its netlist; keep a copy
    combine_parallel(nl)
    nl.make_top_level_pins()
    nl.purge()
    return nl


def compare(path: Path, circuit: Circuit, cell: str | None = None) -> LvsResult:
    """LVS of a GDS cell against the flat circuit it was drawn from."""
    extracted = extract(path, cell)
    reference = reference_netlist(circuit)
    for nl in (extracted, reference):
        for dc in nl.each_device_class():
            dc.equal_parameters = _tolerances(dc.name)
    ca = next(extracted.each_circuit_top_down())
    cb = reference.circuit_by_name(circuit.name)
    ca.name = cb.name
    logger = _Collect()
    comparer = kdb.NetlistComparer(logger)
    for pin in circuit.pins:
        na, nb = ca.net_by_name(pin), cb.net_by_name(pin)
        if na is not None and nb is not None:
            comparer.same_nets(na, nb)
        elif nb is not None and any(True for _ in nb.each_terminal()):
            logger.messages.append(f"pin {pin}: no label in the layout")
    ok = comparer.compare(extracted, reference) and not logger.messages
    count = lambda c: sum(1 for _ in c.each_device())  # noqa: E731
    return LvsResult(circuit.name, ok, count(ca), count(cb), tuple(logger.messages[:20]))


class _Collect(kdb.GenericNetlistCompareLogger):
    """Keeps the comparer's mismatch messages (device, net, parameter) as text."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def device_mismatch(self, a, b, msg=""):
        self.messages.append(f"device mismatch: layout {_dev(a)} vs schematic {_dev(b)} {msg}".rstrip())

    def match_devices_with_different_parameters(self, a, b):
        self.messages.append(f"parameters differ: layout {_dev(a)} vs schematic {_dev(b)}")

    def match_devices_with_different_device_classes(self, a, b):
        self.messages.append(f"device types differ: layout {_dev(a)} vs schematic {_dev(b)}")

    def net_mismatch(self, a, b, msg=""):
        self.messages.append(f"net mismatch: layout {a.expanded_name() if a else '-'} vs schematic "
                             f"{b.expanded_name() if b else '-'} {msg}".rstrip())

    def circuit_mismatch(self, a, b, msg=""):
        self.messages.append(f"circuit mismatch {msg}".rstrip())


def _dev(d) -> str:
    if d is None:
        return "-"
    params = ", ".join(f"{p.name}={d.parameter(p.name):.4g}" for p in d.device_class().parameter_definitions()
                       if p.name in ("W", "L", "C"))
    return f"{d.device_class().name} {d.expanded_name()} ({params})"
