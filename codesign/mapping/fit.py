"""Does a trained network fit a chip? Every reason it does not, each naming the
recipe or chip key to change."""

from __future__ import annotations

import numpy as np

from codesign.chip import ChipSpec
from codesign.hardware.kinds import KINDS


class DoesNotFit(ValueError):
    """The network cannot go on this chip; the message lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("the network does not fit the chip:\n  - " + "\n  - ".join(problems))
        self.problems = problems


def check_fit(recipe, model, chip: ChipSpec) -> list[str]:
    """Every reason `model` (trained by `recipe`) does not fit `chip`; empty if it fits."""
    cfg, problems, kind = recipe.model, [], chip.kind
    if cfg.cell in ("lru", "mingru"):
        return [f"model.cell = {cfg.cell!r}: a baseline with no memory-unit circuit; only cmru and bmru map"]
    if cfg.cell == "alpha_cmru":
        return ["model.cell = 'alpha_cmru': input-dependent increments need a per-step packet DAC, which is not "
                "built; only cmru (eps 0) and bmru / annealed cmru (eps 1) map"]
    if cfg.skip:
        problems.append("model.skip: skip connections between layers are not built; retrain with model.skip = false")
    if cfg.layers * chip.t_layer_s > chip.clock_period_s:
        problems.append(f"clock_period_s: {cfg.layers} layers take their turns of {chip.t_layer_s:g} s one after "
                        f"another, {cfg.layers * chip.t_layer_s:g} s, more than the period "
                        f"{chip.clock_period_s:g} s (shorten t_compare_s or lengthen clock_period_s)")
    eps = float(model.eps)
    if eps != kind.eps:
        have = [k for k in KINDS.values() if k.eps == eps]
        hint = (f"map with a chip of eps = {eps:g} ({have[0].name} hardware), e.g. --chip-set eps={eps:g}, or "
                f"retrain with an [eps] schedule ending at {kind.eps:g} (e.g. training/cmru_to_bmru.toml)" if have
                else "no hardware kind implements it: anneal to an eps a kind implements "
                     f"({', '.join(f'{k.eps:g} {k.name}' for k in KINDS.values())}), e.g. "
                     "training/cmru_to_bmru.toml")
        problems.append(f"eps: the network runs at eps = {eps:g}, the chip's {kind.name} hardware implements "
                        f"eps = {kind.eps:g} (chip key eps): {hint}")
    else:
        problems += kind.fit_problems(cfg, chip)
    for index, layer in enumerate(model.layers):
        alpha = layer.log_alpha.detach().exp().double().numpy()
        i_step = alpha * chip.i_unit_a
        for i in np.nonzero((i_step < chip.i_step_min_a) | (i_step > chip.i_step_max_a))[0]:
            problems.append(f"i_step_min_a / i_step_max_a: layer{index} unit {i} has alpha = {alpha[i]:.4g}, "
                            f"readout current {i_step[i]:.3g} A outside [{chip.i_step_min_a:g}, "
                            f"{chip.i_step_max_a:g}] A")
    return problems
