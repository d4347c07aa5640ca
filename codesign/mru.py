"""Golden model of the memory recurrent unit (docs/design.md ("The unit")).

    c_t = +1 if z_t > beta, -1 if z_t < -beta, else 0      (strict comparisons)
    h_t = clip((1 - eps*|c_t|) * h_{t-1} + alpha_t * c_t, -bound, +bound)

NumPy, float64, a plain loop over time: slow on purpose, so that it is obviously
the definition. Validation compares circuits against this function, and the
training scan is tested against it.
"""

from __future__ import annotations

import numpy as np


def comparator(z, beta):
    """Ternary hysteretic comparator: +1 above beta, -1 below -beta, 0 between."""
    z = np.asarray(z, dtype=np.float64)
    return (z > beta).astype(np.float64) - (z < -np.asarray(beta)).astype(np.float64)


def threshold_distance(z_beta):
    """How far each z / beta lies from the nearest threshold (+-1), in units of beta."""
    return np.abs(np.abs(np.asarray(z_beta, dtype=np.float64)) - 1.0)


def reference(z, alpha, beta, eps=0.0, bound=None, h0=None):
    """Run the unit sequentially over time.

    z: [T, D] or [B, T, D] pre-activations. alpha, beta, bound: broadcast
    against z (a per-unit [D] array, a per-step array shaped like z, or a
    scalar). eps: scalar or per-unit, in [0, 1]. bound None means no clip.
    h0: initial state broadcast against one step ([D] or [B, D]); default 0.
    Returns h with z's shape.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim not in (2, 3):
        raise ValueError(f"z must be [T, D] or [B, T, D], got shape {z.shape}")
    time_axis = z.ndim - 2
    T = z.shape[time_axis]
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), z.shape)
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), z.shape)
    eps_arr = np.asarray(eps, dtype=np.float64)
    if np.any(eps_arr < 0) or np.any(eps_arr > 1):
        raise ValueError(f"eps must lie in [0, 1], got {eps}")
    if np.any(beta <= 0):
        raise ValueError("beta must be > 0")
    if np.any(alpha < 0):
        raise ValueError("alpha must be >= 0")
    lim = None if bound is None else np.broadcast_to(np.asarray(bound, dtype=np.float64), z.shape)

    step_shape = z.shape[:time_axis] + z.shape[time_axis + 1:]
    h = np.zeros(step_shape) if h0 is None else np.broadcast_to(np.asarray(h0, dtype=np.float64), step_shape).copy()
    out = np.empty_like(z)
    for t in range(T):
        sl = (slice(None),) * time_axis + (t,)
        c = comparator(z[sl], beta[sl])
        h = (1.0 - eps_arr * np.abs(c)) * h + alpha[sl] * c
        if lim is not None:
            h = np.clip(h, -lim[sl], lim[sl])
        out[sl] = h
    return out
