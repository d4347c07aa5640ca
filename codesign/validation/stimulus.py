"""Unit-level stimulus sets: each mapped unit driven straight by a z sequence (its
synapses bypassed) against the golden model, so the dynamics a task's test
sequences rarely reach are exercised on purpose.

Sets (z in units of the unit's beta; `margin` is the relative distance kept
from the thresholds +-beta):
- random: z drawn uniformly, a third firing up, a third down, a third inside;
  never within margin of +-beta.
- saturation: runs up past the top level and down past the bottom, with short
  holds between: the clip at +-L and the restore at the extreme levels.
- holds: a change of one to L levels, then a long hold at z = 0: retention.
- threshold: from each extreme level, a step at beta*(1 - margin) (must hold)
  and one at beta*(1 + margin) (must fire), then random steps at those two
  distances: decisions a hair away from a threshold.
"""

from __future__ import annotations

import numpy as np

from codesign.manifest import NetworkPlan
from codesign.mru import reference

SETS = ("random", "saturation", "holds", "threshold")
STRONG = 2.0  # z of a step that fires surely (in units of beta)
HOLD_STEPS = 50  # the holds set: idle steps after each change


def _random(rng, steps: int, levels: int, margin: float, z_max: float) -> np.ndarray:
    kind = rng.integers(-1, 2, steps)  # -1 fires down, 0 stays inside, +1 fires up
    outside = 1 + margin + rng.random(steps) * (z_max - 1 - margin)
    inside = (rng.random(steps) * 2 - 1) * (1 - margin)
    return np.where(kind == 0, inside, kind * outside)


def _saturation(rng, steps: int, levels: int, margin: float, z_max: float) -> np.ndarray:
    run = 2 * levels + 2  # from one extreme past the other
    block = [STRONG] * run + [0.0] * 2 + [-STRONG] * run + [0.0] * 2
    return np.resize(np.array(block), steps)


def _holds(rng, steps: int, levels: int, margin: float, z_max: float) -> np.ndarray:
    z = []
    while len(z) < steps:
        z += [float(rng.choice([-1, 1])) * STRONG] * int(rng.integers(1, levels + 1)) + [0.0] * HOLD_STEPS
    return np.array(z[:steps])


def _threshold(rng, steps: int, levels: int, margin: float, z_max: float) -> np.ndarray:
    near, far = 1 - margin, 1 + margin
    z = [-STRONG] * (levels + 1) + [near, far, 0.0] + [STRONG] * (2 * levels + 1) + [-near, -far, 0.0]
    rest = max(steps - len(z), 0)
    z += list(rng.choice([-far, -near, near, far], rest))
    return np.array(z[:steps])


_MAKERS = {"random": _random, "saturation": _saturation, "holds": _holds, "threshold": _threshold}


def stimulus(name: str, sequences: int, steps: int, units: int, levels: int, margin: float, z_max: float,
             seed: int) -> np.ndarray:
    """z / beta [sequences, steps, units] of one set; each unit and sequence its own draw."""
    if name not in _MAKERS:
        raise ValueError(f"stimulus set: {name!r} is not one of {list(SETS)}")
    if not 0 < margin < 1 or 1 + margin >= z_max:
        raise ValueError(f"margin: must lie in (0, 1) with 1 + margin below the input range {z_max:.3g}, "
                         f"got {margin}")
    rng = np.random.default_rng([seed, SETS.index(name)])
    return np.stack([np.stack([_MAKERS[name](rng, steps, levels, margin, z_max) for _ in range(units)], -1)
                     for _ in range(sequences)])


def layer_stimulus(plan: NetworkPlan, layer_index: int, name: str, sequences: int, steps: int, margin: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(z, h) [N, T, d] of one layer's units under a set: z in the units' own scale, h from the golden model."""
    layer = plan.layers[layer_index]
    alpha, beta = layer.alpha, layer.beta
    z_lim = min(plan.chip.z_max, -plan.chip.z_min)  # what the input current carries both ways
    z_beta = stimulus(name, sequences, steps, len(layer.units), plan.levels, margin, z_lim, seed + 1000 * layer_index)
    z = z_beta * beta
    return z, reference(z, alpha, beta, plan.eps, plan.levels * alpha)
