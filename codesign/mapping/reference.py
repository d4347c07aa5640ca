"""The mapped network in software: the reference the circuits are compared with.

The golden model (`codesign.mru.reference`) run on the plan's quantized
parameters, and how outputs become decisions.
"""

from __future__ import annotations

import numpy as np

from codesign.manifest import LayerPlan, NetworkPlan, pool_states
from codesign.mru import reference


def layer_arrays(layer: LayerPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w, b = np.array(layer.weight), np.array(layer.bias)
    return w, b, layer.alpha, layer.beta


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
    """Readout of the last layer's states h [B, T, d]: [B, T, n_out] (per_step) or [B, n_out] (last, mean)."""
    return pool_states(plan.readout.mode, h_last) @ np.array(plan.readout.weight).T + np.array(plan.readout.bias)


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
