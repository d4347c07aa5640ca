"""Planning: a network that fits becomes a NetworkPlan (quantized, sized).

- Each unit senses its input in units of its own beta: the synapse row of unit
  i carries w_ij / beta_i * I_unit per unit of input, so every comparator has
  its characterized thresholds i_bias +- i_unit whatever beta was trained to.
- Weights and biases are DAC codes at the chip's resolution: symmetric, per
  tensor, by `codesign.training.noise.quantize_weights` (the function training
  evaluates with), so a network trained at that resolution maps with no error.
  alpha and beta are analog bias currents and are set exactly.
- The state is a level index k (|k| <= L, latch: k in -1, 0, 1); h = k * alpha,
  and alpha enters only the readout current alpha * I_unit per level.
"""

from __future__ import annotations

import numpy as np
import torch

from codesign.chip import ChipSpec
from codesign.manifest import LayerPlan, NetworkPlan, ReadoutPlan, UnitPlan
from codesign.mapping.fit import DoesNotFit, check_fit
from codesign.training.noise import quantize_weights


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
        raise DoesNotFit(problems)
    kind, comparator = chip.kind, chip.comparator()
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
        units = tuple(UnitPlan(name=f"{name}_u{i}", layer=index, index=i, alpha=float(alpha[i]), beta=float(beta[i]),
                               comparator=comparator, memory=kind.memory(chip, float(alpha[i])),
                               file=f"units/{name}_u{i}.spice") for i in range(len(alpha)))
        layers.append(LayerPlan(name, int(w.shape[1]), tuple(map(tuple, w.tolist())), tuple(b.tolist()), units))
    wr, report["readout.W"] = quantize(model.readout.weight, chip.weight_bits)
    br, report["readout.b"] = quantize(model.readout.bias, chip.weight_bits)
    plan = NetworkPlan(chip=chip, cell=recipe.model.cell, eps=float(model.eps), levels=kind.levels(chip),
                       task=task.name, loss=task.loss, source=source or f"{recipe.name} seed {recipe.seed}",
                       layers=tuple(layers),
                       readout=ReadoutPlan(model.readout_mode, tuple(map(tuple, wr.tolist())), tuple(br.tolist())),
                       quantization=report)
    if chip.synapses == "mirror":
        from codesign.mapping.synapses import fit_problems

        problems = fit_problems(plan, task)
        if problems:
            raise DoesNotFit(problems)
    return plan
