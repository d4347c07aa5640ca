"""Netlist generators of the unit's cells: plain functions of their parameters.

Conventions (docs/design.md, "Value conventions"):
- value -> current: bipolar around a bias, I = I_bias + value * I_unit,
  all currents flowing out of the supply (unipolar, always > 0).
- The unit's state h = k * alpha, |k| <= L, is held as a capacitor voltage
  V = V_mid + k * dv_level, restored every clock step to the nearest of
  2L+1 level voltages from a shared reference ladder.
- Bias currents and ladder voltages come from a bias generator shared by all
  units; benches model it with ideal sources drawing from the same supply.

Every generator returns netlist text made only of the shipped templates in
netlists/ and values checked by codesign.netlist.
"""

from __future__ import annotations

from codesign.hardware.params import ClockParams, ComparatorParams, IntegratorParams, LatchParams, mim_side_um
from codesign.netlist import identifier, instance, node, number, template


def cell_library(*names: str) -> str:
    """The template subcircuits a netlist needs (each once, in the order given)."""
    return "\n".join(template(n) for n in dict.fromkeys(names))


def current_source(name: str, frm: str, to: str, amps: float, field: str) -> str:
    """An ideal DC current source (stands for a bias-generator output)."""
    return f"I{identifier(name, field)} {node(frm, field)} {node(to, field)} {number(amps, field, minimum=0)}"


def comparator(p: ComparatorParams, name: str, inp: str, up: str, dn: str, vdd: str = "vdd") -> str:
    """One ternary comparator instance plus its three bias currents."""
    p.check()
    b = identifier(name, "comparator name")
    nodes = [inp, f"{b}_iup", f"{b}_ih", f"{b}_idn", up, dn, vdd, 0]
    sizes = {"w_in": p.wn_um, "l_in": p.ln_um, "w_ref": p.wp_um, "l_ref": p.lp_um}
    return "\n".join([
        instance(b, nodes, "mru_comparator", sizes, "comparator"),
        current_source(f"{b}_bup", f"{b}_iup", "0", p.i_up_threshold_a + p.i_up_trim_a - p.i_hyst_a,
                       "comparator.i_up"),
        current_source(f"{b}_bh", f"{b}_ih", "0", p.i_hyst_a, "comparator.i_hyst_a"),
        current_source(f"{b}_bdn", f"{b}_idn", "0", p.i_dn_threshold_a + p.i_dn_trim_a, "comparator.i_dn"),
    ])


def comparator_input(p: ComparatorParams, name: str, inp: str) -> str:
    """A comparator's input diode alone: the DC load the whole comparator puts on its input node
    (netlists/comparator_input.spice), for operating points where only that node's current is read."""
    p.check()
    return instance(identifier(name, "comparator name"), [inp, 0], "mru_comparator_input",
                    {"w_in": p.wn_um, "l_in": p.ln_um}, "comparator")


def latched_comparator(p: ComparatorParams, name: str, inp: str, up: str, dn: str, clk: str,
                       vdd: str = "vdd") -> str:
    """The comparator whose up / dn are sampled into a decision latch that holds them as
    logic levels while clk (the transfer phase) is high: what every unit uses."""
    b = identifier(name, "comparator name")
    return "\n".join([
        comparator(p, b, inp, f"{b}_up", f"{b}_dn", vdd),
        instance(f"{b}_dl", [f"{b}_up", f"{b}_dn", clk, up, dn, vdd, 0], "mru_decision_latch", {}, "decision latch"),
    ])


def instance_sizes(sizes: dict[str, float], what: str) -> str:
    """` w_d=... l_d=...`: an instance's sizes (those that leave its template's defaults)."""
    return "".join(f" {k}={number(v, f'{what} size', positive=True)}" for k, v in sizes.items())


def level_cmp_sizes(p: IntegratorParams) -> str:
    return instance_sizes(p.level_cmp_sizes(), "level_cmp")


def integrator_subckt(p: IntegratorParams) -> str:
    """`.subckt mru_integrator_l<L>`: charge pump, hold capacitor, 2L level
    comparators, 2L+1 level selects, readout branches (one per boundary)."""
    p.check()
    n = 2 * p.levels_per_side
    name = f"mru_integrator_l{p.levels_per_side}"
    levels = [f"lvl{m}" for m in range(n + 1)]
    bounds = [f"b{j}" for j in range(1, n + 1)]
    side = number(mim_side_um(p.c_hold_f), "c_hold_f", positive=True)
    lines = [
        f"* {n + 1}-level cumulative integrator, C_hold = {number(p.c_hold_f, 'c_hold_f')} F",
        f".subckt {name} up dn phi_t phi_r vc ipu ipd icmp ir out {' '.join(levels + bounds)} vdd vss",
        f"XCP up dn phi_t vc lvl{p.levels_per_side} ipu ipd vdd vss mru_charge_pump"
        + instance_sizes(p.pump_sizes(), "charge pump"),
        f"XCH vc vss sky130_fd_pr__cap_mim_m3_1 w={side} l={side}",
        "XMB icmp icmp vss vss sky130_fd_pr__nfet_01v8 w=1 l=4",
        f"XMR ir ir vss vss sky130_fd_pr__nfet_01v8 w={number(p.readout_w_um, 'readout_w_um', positive=True)} "
        f"l={number(p.readout_l_um, 'readout_l_um', positive=True)}",
    ]
    for j in range(1, n + 1):
        lines.append(f"XLC{j} vc b{j} q{j} qb{j} icmp vdd vss mru_level_cmp{level_cmp_sizes(p)}")
        lines.append(f"XRB{j} out q{j} ir vss mru_readout_branch" + instance_sizes(p.readout_sizes(), "readout"))
    for m in range(n + 1):
        above = f"q{m}" if m >= 1 else "vdd"  # V above the boundary below level m
        below = f"qb{m + 1}" if m < n else "vdd"  # V below the boundary above level m
        lines.append(f"XLS{m} lvl{m} vc phi_r {above} {below} vdd vss mru_level_select")
    lines.append(f".ends {name}")
    return "\n".join(lines)


def reference_ladder(p: IntegratorParams, prefix: str = "ref") -> str:
    """Level and boundary voltages, shared by all units (ideal sources here)."""
    b = identifier(prefix, "ladder prefix")
    n = 2 * p.levels_per_side
    lines = [f"V{b}_lvl{m} {b}_lvl{m} 0 {number(p.level_v(m - p.levels_per_side), 'level')}" for m in range(n + 1)]
    lines += [f"V{b}_b{j} {b}_b{j} 0 {number(p.level_v(j - p.levels_per_side) - p.dv_level_v / 2, 'boundary')}"
              for j in range(1, n + 1)]
    return "\n".join(lines)


def integrator(p: IntegratorParams, name: str, up: str, dn: str, phi_t: str, phi_r: str, vc: str, out: str,
               ladder: str = "ref", vdd: str = "vdd") -> str:
    """One integrator instance plus its bias currents (drawn from vdd)."""
    b = identifier(name, "integrator name")
    n = 2 * p.levels_per_side
    lad = identifier(ladder, "ladder prefix")
    nodes = [up, dn, phi_t, phi_r, vc, f"{b}_ipu", f"{b}_ipd", f"{b}_icmp", f"{b}_ir", out]
    nodes += [f"{lad}_lvl{m}" for m in range(n + 1)] + [f"{lad}_b{j}" for j in range(1, n + 1)] + [vdd, 0]
    return "\n".join([
        instance(b, nodes, f"mru_integrator_l{p.levels_per_side}", {}, "integrator"),
        current_source(f"{b}_bpu", f"{b}_ipu", "0", p.i_pkt_a, "integrator.i_pkt_a"),
        current_source(f"{b}_bpd", vdd, f"{b}_ipd", p.i_pkt_a, "integrator.i_pkt_a"),
        current_source(f"{b}_bcmp", vdd, f"{b}_icmp", p.i_cmp_a, "integrator.i_cmp_a"),
        current_source(f"{b}_bir", vdd, f"{b}_ir", p.i_step_a, "integrator.i_step_a"),
    ])


def clock_sources(c: ClockParams, t_transfer_s: float, vdd_v: float, phi_t: str = "phi_t", phi_r: str = "phi_r",
                  delay_s: float = 0.0) -> str:
    """Non-overlapping phase clocks as PULSE sources (shared by all units), the
    phases delayed by delay_s within the period (stacked layers, one after another)."""
    t_t, t_r = c.phases(t_transfer_s)
    t_t, t_r = t_t + delay_s, t_r + delay_s
    e, per, v = number(c.t_edge_s, "t_edge_s"), number(c.period_s, "period_s"), number(vdd_v, "vdd_v")
    width_t, width_r = number(t_transfer_s, "t_pkt_s"), number(c.t_restore_s, "t_restore_s")
    return "\n".join([
        f"V{identifier(phi_t, 'clock')} {phi_t} 0 PULSE(0 {v} {number(t_t, 't')} {e} {e} {width_t} {per})",
        f"V{identifier(phi_r, 'clock')} {phi_r} 0 PULSE(0 {v} {number(t_r, 't')} {e} {e} {width_r} {per})",
    ])


def latch(p: LatchParams, name: str, up: str, dn: str, phi: str, rstb: str, out: str, q: str, v: str,
          vdd: str = "vdd") -> str:
    """One latch unit instance plus its readout bias current."""
    b = identifier(name, "latch name")
    return "\n".join([
        instance(b, [up, dn, phi, rstb, f"{b}_ir", out, q, v, vdd, 0], "mru_latch", {}, "latch"),
        current_source(f"{b}_bir", vdd, f"{b}_ir", p.i_step_a, "latch.i_step_a"),
    ])
