"""The unit of docs/design.md ("The unit") in torch: exact forward, surrogate backward.

    c_t = step(z_t - beta) - step(-z_t - beta)          (hard in the forward pass)
    h_t = clip((1 - eps*|c_t|) h_{t-1} + alpha_t c_t, -bound, bound)

`mru_scan` runs it as a parallel scan (what trains); `mru_sequential` is the
same unit as a plain loop over time (what the scan is checked against).
"""

from __future__ import annotations

import torch

from codesign.training.scan import clip, clip_affine_scan, mru_blocked_scan

SURROGATES = ("triangle", "sigmoid")


class _SurrogateStep(torch.autograd.Function):
    """Heaviside step x > 0 whose derivative is a bump of the given width."""

    @staticmethod
    def forward(ctx, x, width, shape):
        ctx.save_for_backward(x)
        ctx.width, ctx.shape = width, shape
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        u = x / ctx.width
        if ctx.shape == "triangle":  # unit area, support |x| < width
            bump = torch.clamp(1 - u.abs(), min=0) / ctx.width
        else:  # derivative of sigmoid(x / width)
            s = torch.sigmoid(u)
            bump = s * (1 - s) / ctx.width
        return g * bump, None, None


def comparator(z, beta, width=0.5, surrogate="triangle"):
    """Ternary comparator c in {-1, 0, +1} and |c|, with surrogate gradients."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
    if not width > 0:
        raise ValueError(f"surrogate width must be > 0, got {width}")
    up = _SurrogateStep.apply(z - beta, width, surrogate)
    down = _SurrogateStep.apply(-z - beta, width, surrogate)
    return up - down, up + down  # beta > 0: at most one fires, so |c| = up + down


def _coefficients(z, alpha, beta, eps, bound, width, surrogate, leak=0.0, h_noise=None):
    c, fired = comparator(z, beta, width, surrogate)
    a = (1 - eps * fired) * (1 - leak)  # leak: the hardware's droop of h per step
    b = alpha * c if h_noise is None else alpha * c + h_noise
    if bound is None:
        inf = torch.full((), torch.inf, dtype=z.dtype, device=z.device)
        lo, hi = -inf, inf
    else:
        hi = torch.as_tensor(bound, dtype=z.dtype, device=z.device)
        lo = -hi
    return torch.broadcast_tensors(a, b, lo, hi)


def _prepare(z, alpha, beta, eps, bound, h0, width, surrogate, leak=0.0, h_noise=None):
    """Batch z to [B, T, D], broadcast the parameters, and build (a, b, lo, hi)."""
    if z.dim() not in (2, 3):
        raise ValueError(f"z must be [T, D] or [B, T, D], got shape {tuple(z.shape)}")
    squeeze = z.dim() == 2
    zb = z[None] if squeeze else z
    if h0 is not None:
        h0 = torch.as_tensor(h0, dtype=z.dtype, device=z.device).expand(zb.shape[0], zb.shape[2])

    def lift(x):  # per-step parameters of an unbatched z: [T, D] -> [1, T, D]
        if x is None:
            return None
        x = torch.as_tensor(x, dtype=z.dtype, device=z.device)
        return x[None] if squeeze and x.dim() >= 2 else x

    coefficients = _coefficients(zb, lift(alpha), lift(beta), lift(eps), lift(bound), width,
                                 surrogate, leak, lift(h_noise))
    return coefficients, h0, squeeze


def mru_scan(z, alpha, beta, eps=0.0, bound=None, h0=None, surrogate_width=0.5,
             surrogate="triangle", straight_through_clip=False, backend="auto",
             leak=0.0, h_noise=None):
    """The unit over time as an associative scan; differentiable.

    Same arguments and shapes as `codesign.mru.reference`, plus the surrogate
    (shape and width of dc/dz), whether the clip passes gradients straight
    through, the scan backend (see `clip_affine_scan`), and two hardware
    non-idealities that keep the recurrence affine: `leak` (fraction of h lost
    per step) and `h_noise` (added to h each step, shaped like z). On CPU the
    blocked backend is `mru_blocked_scan`: the whole unit in fused kernels.
    """
    if backend == "blocked" or (backend == "auto" and z.device.type == "cpu"):
        return mru_blocked_scan(z, alpha, beta, eps, bound, h0, surrogate_width, surrogate,
                                straight_through_clip, leak, h_noise)
    (a, b, lo, hi), h0, squeeze = _prepare(z, alpha, beta, eps, bound, h0, surrogate_width,
                                           surrogate, leak, h_noise)
    h = clip_affine_scan(a, b, lo, hi, h0, straight_through_clip, backend)
    return h[0] if squeeze else h


def mru_sequential(z, alpha, beta, eps=0.0, bound=None, h0=None, surrogate_width=0.5,
                   surrogate="triangle"):
    """The same unit as a loop over time in torch (autograd through every step)."""
    (a, b, lo, hi), h0, squeeze = _prepare(z, alpha, beta, eps, bound, h0, surrogate_width, surrogate)
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0
    out = []
    for t in range(a.shape[1]):
        h = clip(a[:, t] * h + b[:, t], lo[:, t], hi[:, t])
        out.append(h)
    h = torch.stack(out, 1)
    return h[0] if squeeze else h


def threshold_distance(z_rel: torch.Tensor) -> torch.Tensor:
    """Distance of z / beta to the nearer comparator threshold (+-1), in units of beta."""
    return (z_rel.abs() - 1).abs()


def threshold_margin_penalty(z_rel: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean of relu(1 - distance / margin): 1 for z exactly on a threshold, 0 beyond
    `margin` (a fraction of beta). Its gradient pushes z away from the nearer
    threshold, whichever side z is on, so the decision the network learned stays
    the one an analog comparator with finite resolution makes."""
    if not 0 < margin < 1:
        raise ValueError(f"threshold margin must be in (0, 1), got {margin}")
    return torch.relu(1 - threshold_distance(z_rel) / margin).mean()


def row_current_penalty(row_current: torch.Tensor, limit: float) -> torch.Tensor:
    """Mean of relu(row_current / limit - 1): 0 while a row carries at most `limit` I_unit,
    growing with the excess. Linear, so one row far over the limit (a unit whose beta
    shrank to almost nothing) pulls without swamping the task's loss."""
    if not limit > 0:
        raise ValueError(f"row current limit must be > 0 I_unit, got {limit}")
    return torch.relu(row_current / limit - 1).mean()
