"""The mapper: a trained network plus a chip spec become a plan, netlists and a
manifest (DESIGN.md section 3; choices in docs/mapping.md).

    check_fit(recipe, model, chip)      every reason the network does not fit, or nothing
    plan_network(recipe, task, model, chip)  -> NetworkPlan (quantized, sized)
    build_netlists(plan)                -> {file name: netlist text}
    write_map(plan, folder)             netlists, manifest.json, quantization.md

Mapping choices (ours):
- Each unit senses its input in units of its own beta: the synapse row of unit
  i carries w_ij / beta_i * I_unit per unit of input, so every comparator has
  its characterized thresholds i_bias +- i_unit whatever beta was trained to.
  The decision c = sign-with-dead-zone of z / beta is that of z against beta.
- Weights and biases are DAC codes at the chip's resolution: symmetric, per
  tensor, by `codesign.training.noise.quantize_weights` (the function training
  evaluates with), so a network trained at that resolution maps with no error.
  alpha and beta are analog bias currents and are set exactly.
- The state is a level index k (|k| <= L, latch: k in -1, 0, 1); h = k * alpha,
  and alpha enters only the readout current alpha * I_unit per level.
- Synapse arrays are behavioural (ideal weighted current sums) unless the chip
  says synapses = "mirror": then layer 0's is built from sky130 current mirrors
  (`codesign.mapping.synapses`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from codesign.chip import ChipSpec
from codesign.manifest import LayerPlan, NetworkPlan, ReadoutPlan, UnitPlan, write_manifest
from codesign.mapping import synapses as mirror
from codesign.mapping.cells import (LatchParams, cell_library, clock_sources,
                                    comparator, integrator, integrator_subckt, latch, reference_ladder)
from codesign.mru import reference
from codesign.netlist import identifier, number
from codesign.training.noise import quantize_weights

V_OUT_V = 0.6  # each readout output is held here (stands for the next stage's input diode)
_COMMENT_SAFE = re.compile(r"^[A-Za-z0-9_.,:;=+*/()\- ]*$")


class DoesNotFit(ValueError):
    """The network cannot go on this chip; the message lists every reason."""


def check_fit(recipe, model, chip: ChipSpec) -> list[str]:
    """Every reason `model` (trained by `recipe`) does not fit `chip`; empty if it fits."""
    cfg, problems = recipe.model, []
    if cfg.cell in ("lru", "mingru"):
        return [f"cell {cfg.cell!r}: a baseline with no memory-unit circuit; only cmru and bmru map"]
    if cfg.cell == "alpha_cmru":
        return ["cell 'alpha_cmru': input-dependent increments need a per-step packet DAC, which is not "
                "built; only cmru (eps 0) and bmru / annealed cmru (eps 1) map"]
    if cfg.skip:
        problems.append("model.skip: skip connections between layers are not built")
    if cfg.layers * chip.t_layer_s > chip.clock_period_s:
        problems.append(f"clock_period_s: {cfg.layers} layers take their turns of {chip.t_layer_s:g} s one after "
                        f"another, {cfg.layers * chip.t_layer_s:g} s, more than the period "
                        f"{chip.clock_period_s:g} s (shorten t_compare_s or lengthen the period)")
    eps = float(model.eps)
    if eps not in (0.0, 1.0):
        problems.append(f"eps = {eps:g}: the partial reset for 0 < eps < 1 is not built; anneal to 0 or 1")
    elif eps == 0.0 and chip.eps == 1.0:
        problems.append("eps: the network was trained for eps = 0 (cumulative CMRU) and the chip is latch "
                        "hardware (eps = 1); a CMRU cannot go on latch hardware without annealing: retrain "
                        "with an [eps] schedule ending at 1 (e.g. training/cmru_to_bmru.toml)")
    elif eps == 1.0 and chip.eps == 0.0:
        problems.append("eps: the network runs at eps = 1 (bistable) and the chip is integrator hardware "
                        "(eps = 0): use a chip spec with eps = 1 (latch hardware)")
    if chip.eps == 0.0 and eps == 0.0:
        if cfg.levels is None:
            problems.append("model.levels: the network was trained without a clip; the hardware always "
                            f"clips at L = {chip.levels}: retrain with levels = {chip.levels}")
        elif cfg.levels != chip.levels:
            problems.append(f"levels: the network was trained with L = {cfg.levels} levels per side, the "
                            f"chip's integrator has L = {chip.levels}")
        n_units = cfg.hidden * cfg.layers
        if n_units * chip.c_hold_f > chip.c_budget_f:
            problems.append(f"c_budget_f: {n_units} units x {chip.c_hold_f:g} F = {n_units * chip.c_hold_f:g} F "
                            f"exceeds the budget {chip.c_budget_f:g} F")
    for index, layer in enumerate(model.layers):
        alpha = layer.log_alpha.detach().exp().double().numpy()
        i_step = alpha * chip.i_unit_a
        for i in np.nonzero((i_step < chip.i_step_min_a) | (i_step > chip.i_step_max_a))[0]:
            problems.append(f"alpha: layer{index} unit {i} has alpha = {alpha[i]:.4g}, readout current "
                            f"{i_step[i]:.3g} A outside [i_step_min_a, i_step_max_a] = "
                            f"[{chip.i_step_min_a:g}, {chip.i_step_max_a:g}] A")
    return problems


def quantize(values: torch.Tensor, bits: int) -> tuple[np.ndarray, dict]:
    """Quantized values (float64) and the error figures of one tensor."""
    q = quantize_weights(values.detach().float(), bits).double().numpy()
    x = values.detach().double().numpy()
    err = q - x
    step = float(np.abs(x).max()) / (2 ** (bits - 1) - 1) if x.size else 0.0
    return q, {"bits": bits, "step": step, "max_abs": float(np.abs(x).max()),
               "max_abs_error": float(np.abs(err).max()), "rms_error": float(np.sqrt(np.mean(err**2))),
               "max_error_in_steps": float(np.abs(err).max() / step) if step else 0.0}


def plan_network(recipe, task, model, chip: ChipSpec, source: str = "") -> NetworkPlan:
    """Quantize and size a network that fits (raises DoesNotFit otherwise)."""
    problems = check_fit(recipe, model, chip)
    if problems:
        raise DoesNotFit("the network does not fit the chip:\n  - " + "\n  - ".join(problems))
    cmp = chip.comparator_params()
    report, layers = {}, []
    for index, layer in enumerate(model.layers):
        name = f"layer{index}"
        w, report[f"{name}.W"] = quantize(layer.input.weight, chip.weight_bits)
        b, report[f"{name}.b"] = quantize(layer.input.bias, chip.weight_bits)
        alpha = layer.log_alpha.detach().exp().double().numpy()
        beta = layer.log_beta.detach().exp().double().numpy()
        for pname, values in (("alpha", alpha), ("beta", beta)):
            report[f"{name}.{pname}"] = {"bits": None, "max_abs": float(values.max()), "max_abs_error": 0.0,
                                         "rms_error": 0.0, "note": "analog bias current, set exactly"}
        units = []
        for i in range(len(alpha)):
            uname = f"{name}_u{i}"
            on_latch = chip.eps == 1.0
            units.append(UnitPlan(
                name=uname, layer=index, index=i, alpha=float(alpha[i]), beta=float(beta[i]), comparator=cmp,
                integrator=None if on_latch else chip.integrator_params(float(alpha[i])),
                latch=LatchParams(i_step_a=float(alpha[i]) * chip.i_unit_a * chip.readout_trim) if on_latch else None,
                file=f"units/{uname}.spice"))
        layers.append(LayerPlan(name, int(w.shape[1]), tuple(map(tuple, w.tolist())), tuple(b.tolist()),
                                tuple(units)))
    wr, report["readout.W"] = quantize(model.readout.weight, chip.weight_bits)
    br, report["readout.b"] = quantize(model.readout.bias, chip.weight_bits)
    source = source or f"{recipe.name} seed {recipe.seed}"
    plan = NetworkPlan(chip=chip, cell=recipe.model.cell, eps=float(model.eps),
                       levels=1 if chip.eps == 1.0 else chip.levels, task=task.name, loss=task.loss,
                       source=source, layers=tuple(layers),
                       readout=ReadoutPlan(task.readout, tuple(map(tuple, wr.tolist())), tuple(br.tolist())),
                       quantization=report)
    problems = mirror.fit_problems(plan, task) if chip.synapses == "mirror" else []
    if problems:
        raise DoesNotFit("the network does not fit the chip:\n  - " + "\n  - ".join(problems))
    return plan


# ---------- the mapped network in software (the reference the circuits are compared with) ----------

def layer_arrays(layer: LayerPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w, b = np.array(layer.weight), np.array(layer.bias)
    return w, b, np.array([u.alpha for u in layer.units]), np.array([u.beta for u in layer.units])


def software_states(plan: NetworkPlan, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(z per layer, h per layer) of the mapped network on inputs x [B, T, n_in] (golden model)."""
    zs, hs, inp = [], [], np.asarray(x, dtype=np.float64)
    for layer in plan.layers:
        w, b, alpha, beta = layer_arrays(layer)
        z = inp @ w.T + b
        h = reference(z, alpha, beta, plan.eps, plan.levels * alpha)
        zs.append(z), hs.append(h)
        inp = h
    return zs, hs


def software_outputs(plan: NetworkPlan, h_last: np.ndarray) -> np.ndarray:
    """Readout of the last layer's states h [B, T, d]: [B, T, n_out] (per_step) or [B, n_out] (last)."""
    h = h_last if plan.readout.mode == "per_step" else h_last[:, -1]
    return h @ np.array(plan.readout.weight).T + np.array(plan.readout.bias)


def decisions(loss: str, y: np.ndarray) -> np.ndarray:
    """What the network decides from its outputs: class index (ce), bits (bce), values (mse)."""
    if loss == "ce":
        return y.argmax(-1)
    if loss == "bce":
        return (y > 0).astype(np.int64)
    return y


def task_metric(loss: str, y: np.ndarray, target: np.ndarray) -> float:
    d, t = decisions(loss, y), np.asarray(target)
    return float(np.mean((y - t) ** 2)) if loss == "mse" else float(np.mean(d == t))


# ---------- netlists ----------

def _comment(text: str) -> str:
    if not _COMMENT_SAFE.match(text):
        raise ValueError(f"netlist comment: {text!r} has characters other than letters, digits and _.,:;=+*/()- ")
    return f"* {text}" if text else "*"


def _header(plan: NetworkPlan, what: str) -> list[str]:
    c = plan.chip
    return [
        _comment(f"{what}"),
        _comment(f"produced by: codesign map, from run: {plan.source}"),
        _comment(f"chip: {identifier(c.name, 'chip.name')}, vdd {number(c.vdd_v, 'vdd_v')} V, "
                 f"i_unit {number(c.i_unit_a, 'i_unit_a')} A, clock {number(c.clock_period_s, 'clock')} s, "
                 f"{c.hardware} hardware, L = {plan.levels}, eps = {number(plan.eps, 'eps')}"),
        _comment("rebuild with codesign.mapping.mapper.build_netlists(load_manifest(folder)), see manifest.json"),
    ]


def unit_pins(plan: NetworkPlan) -> list[str]:
    if plan.chip.hardware == "latch":
        return ["in", "out", "q", "v", "phi_t", "rstb", "vdd"]
    n = 2 * plan.levels
    return (["in", "out", "vc", "phi_t", "phi_r"] + [f"ref_lvl{m}" for m in range(n + 1)]
            + [f"ref_b{j}" for j in range(1, n + 1)] + ["vdd"])


def unit_subckt(plan: NetworkPlan, u: UnitPlan) -> str:
    """`.subckt mru_unit_<name>`: the unit's comparator, integrator or latch, and their bias currents."""
    name = identifier(f"mru_unit_{u.name}", "unit name")
    body = [comparator(u.comparator, "cmp", "in", "up", "dn")]
    if u.integrator is not None:
        body.append(integrator(u.integrator, "int", "up", "dn", "phi_t", "phi_r", "vc", "out", ladder="ref"))
    else:
        body.append(latch(u.latch, "lat", "up", "dn", "phi_t", "rstb", "out", "q", "v"))
    return "\n".join([
        _comment(f"unit {u.name}: alpha = {number(u.alpha, 'alpha')}, beta = {number(u.beta, 'beta')}; "
                 f"input sensed in units of beta: thresholds {number(u.comparator.i_dn_threshold_a, 'i')} A, "
                 f"{number(u.comparator.i_up_threshold_a, 'i')} A; readout {number(u.i_step_a, 'i_step')} A per level"),
        f".subckt {name} {' '.join(unit_pins(plan))}",
        *body,
        f".ends {name}",
    ])


def library(plan: NetworkPlan) -> str:
    """Cell templates plus the composed integrator the unit subcircuits use."""
    if plan.chip.hardware == "latch":
        text = cell_library("logic", "comparator", "integrator", "latch")
    else:
        text = "\n".join([cell_library("logic", "comparator", "integrator"),
                          integrator_subckt(plan.units[0].integrator)])
    return text + "\n" + cell_library("synapse") if plan.chip.synapses == "mirror" else text


def layer_clocks(layer: int) -> tuple[str, str]:
    """The clock nodes (phi_t, phi_r) of a layer's units: layer 0 keeps the plain names."""
    return ("phi_t", "phi_r") if layer == 0 else (f"phi_t_l{layer}", f"phi_r_l{layer}")


def unit_instance(plan: NetworkPlan, u: UnitPlan, inp: str, out: str) -> str:
    """An instance of unit u with its per-unit nodes named after it, on its layer's clocks."""
    n = identifier(u.name, "unit name")
    phi_t, phi_r = layer_clocks(u.layer)
    if plan.chip.hardware == "latch":
        nodes = [inp, out, f"q_{n}", f"v_{n}", phi_t, "rstb", "vdd"]
    else:
        nodes = [inp, out, f"vc_{n}", phi_t, phi_r] + unit_pins(plan)[5:-1] + ["vdd"]
    return f"X{n} {' '.join(nodes)} mru_unit_{n}"


def shared_sources(plan: NetworkPlan) -> list[str]:
    """Supply, level ladder, clocks (and the power-on reset of latches): shared by all units."""
    c = plan.chip
    lines = [f"Vdd vdd 0 {number(c.vdd_v, 'vdd_v', positive=True)}"]
    clock = c.clock()  # the chip's compare time (ClockParams' own default is the characterization's)
    # One set of clocks per layer, each delayed by the layers before it (staggered phases).
    staggered = [(layer_clocks(l), l * c.t_layer_s) for l in range(len(plan.layers))]
    clocks = [clock_sources(clock, c.t_transfer_s, c.vdd_v, *nodes, delay_s=d) for nodes, d in staggered]
    if c.hardware == "latch":  # the latch has no restore phase: phi_t only
        v = number(c.vdd_v, "vdd_v")
        lines += [text.splitlines()[0] for text in clocks]
        lines.append(f"Vrst rstb 0 PWL(0 0 50e-6 0 60e-6 {v})")  # power-on reset: h_0 = 0
    else:
        lines += [reference_ladder(plan.units[0].integrator, "ref"), *clocks]
    return lines


def state_expr(plan: NetworkPlan, u: UnitPlan) -> str:
    """h of unit u (software units) from its readout current: I_out / I_unit - L * alpha."""
    n = identifier(u.name, "unit name")
    return (f"(-i(vo_{n})/{number(plan.chip.i_unit_a, 'i_unit_a', positive=True)}"
            f"-{number(plan.levels * u.alpha, 'L*alpha')})")


def _weighted_sum(terms: list[tuple[float, str]], constant: float, field: str) -> str:
    parts = [number(constant, field)] + [f"({number(w, field)})*{s}" for w, s in terms if w != 0.0]
    return "+".join(parts)


def synapse_array(plan: NetworkPlan, layer: LayerPlan, inputs: list[str]) -> list[str]:
    """The synapse array of `layer`: the chip's kind (`chip.synapses`) for layer 0, behavioural
    for deeper layers (their inputs are readout currents; no mirror array takes them)."""
    if plan.chip.synapses == "mirror" and layer is plan.layers[0]:
        p = mirror.mirror_array(plan, layer)
        return ([_comment(f"synapse array of {layer.name}: sky130 current mirrors, M_c = {p.m_column} "
                          "(front end, rail regulators and bias currents ideal; docs/mapping.md)")]
                + mirror.mirror_netlist(p, [u.name for u in layer.units], inputs))
    return behavioural_synapse_array(plan, layer, inputs)


def behavioural_synapse_array(plan: NetworkPlan, layer: LayerPlan, inputs: list[str]) -> list[str]:
    """Behavioural synapse array: each unit's input current i_bias + (W x + b) / beta * I_unit,
    kept in [i_in_min_a, i_in_max_a] (the comparator's decision is unchanged by that)."""
    c = plan.chip
    lines = [_comment(f"synapse array of {layer.name}: ideal weighted current sums (DACs not built)")]
    for u, row, bias in zip(layer.units, layer.weight, layer.bias):
        z = _weighted_sum(list(zip(row, inputs)), bias, f"{layer.name} synapse")
        i = (f"max({number(c.i_in_min_a, 'i_in_min_a')},min({number(c.i_in_max_a, 'i_in_max_a')},"
             f"{number(c.i_bias_a, 'i_bias_a')}+{number(c.i_unit_a / u.beta, 'i_unit/beta')}*({z})))")
        lines.append(f"Bsyn_{identifier(u.name, 'unit name')} vdd in_{u.name} I={i}")
    return lines


def network_netlist(plan: NetworkPlan) -> str:
    """The whole network: library, unit subcircuits, shared sources, synapse arrays, units, readout.

    Inputs are the voltages of nodes x0..x{n-1} (1 V = 1 unit of input); outputs
    are the voltages of y0..y{m-1} (1 V = 1 unit of output). The simulation bench
    adds the device models, the input sources and the analysis."""
    lines = _header(plan, "network netlist (hierarchical: one subcircuit per unit)") + [library(plan)]
    lines += [unit_subckt(plan, u) for u in plan.units]
    lines += [_comment("shared by all units: supply, level ladder, clocks")] + shared_sources(plan)
    inputs = [f"v(x{j})" for j in range(plan.layers[0].n_in)]
    for layer in plan.layers:
        lines += synapse_array(plan, layer, inputs)
        for u in layer.units:
            n = identifier(u.name, "unit name")
            lines += [unit_instance(plan, u, f"in_{n}", f"out_{n}"),
                      f"Vo_{n} out_{n} 0 {number(V_OUT_V, 'V_OUT_V')}"]
        inputs = [state_expr(plan, u) for u in layer.units]
    lines.append(_comment(f"readout ({plan.readout.mode}): y = W_r h + b_r, behavioural (1 V = 1 unit)"))
    for j, (row, bias) in enumerate(zip(plan.readout.weight, plan.readout.bias)):
        lines.append(f"By{j} y{j} 0 V={_weighted_sum(list(zip(row, inputs)), bias, 'readout')}")
    return "\n".join(lines) + "\n"


def unit_netlist(plan: NetworkPlan, u: UnitPlan) -> str:
    """One unit's file: header and its subcircuit (the templates it uses are in network.spice)."""
    return "\n".join(_header(plan, f"unit {u.name} (layer {u.layer}, index {u.index})")
                     + [unit_subckt(plan, u)]) + "\n"


def build_netlists(plan: NetworkPlan) -> dict[str, str]:
    files = {"network.spice": network_netlist(plan)}
    files.update({u.file: unit_netlist(plan, u) for u in plan.units})
    return files


def quantization_table(plan: NetworkPlan) -> str:
    rows = ["| parameter | bits | max abs | step | max error | max error / step | rms error |",
            "|---|---|---|---|---|---|---|"]
    for name, q in plan.quantization.items():
        if q["bits"] is None:
            rows.append(f"| {name} | analog | {q['max_abs']:.4g} | - | 0 | - | 0 |")
        else:
            rows.append(f"| {name} | {q['bits']} | {q['max_abs']:.4g} | {q['step']:.4g} | {q['max_abs_error']:.3g} "
                        f"| {q['max_error_in_steps']:.3f} | {q['rms_error']:.3g} |")
    return "\n".join(rows) + "\n"


def write_map(plan: NetworkPlan, folder: str | Path, extra: dict | None = None,
              recipe: dict | None = None) -> dict[str, str]:
    """Write netlists, manifest.json and quantization.md into folder; returns {role: file}."""
    folder = Path(folder)
    (folder / "units").mkdir(parents=True, exist_ok=True)
    texts = build_netlists(plan)
    for name, text in texts.items():
        (folder / name).write_text(text)
    (folder / "quantization.md").write_text(f"# Quantization ({plan.chip.weight_bits} bits, per tensor)\n\n"
                                            + quantization_table(plan))
    files = {"network": "network.spice", "units": [u.file for u in plan.units],
             "quantization": "quantization.md", **(extra or {})}
    write_manifest(plan, files, folder, recipe)
    return files
