"""The scan: h_t = clip(a_t * h_{t-1} + b_t, lo_t, hi_t) over time, in one place.

Maps h -> clip(a*h + b, lo, hi) with a >= 0 are closed under composition:

    g(f(h)) = clip(a2*a1*h + a2*b1 + b2, g(lo1), g(hi1))

so the recurrence is an associative scan. Two executions of the same algorithm:

- "blocked" (CPU, numba kernels in `scan_kernels`): the three-phase blocked
  scan. Each batch row's steps are cut into blocks; phase 1 composes each
  block into one map, in parallel over (batch, block); phase 2 chains the
  block maps; phase 3 replays each block from its start state, in parallel
  again. The backward pass is the same blocked scan run in reverse on the
  (affine, unclipped) adjoint recurrence. A row is cut only as far as the
  numba threads need jobs (`_n_blocks`): with a batch that already keeps them
  busy it is one block, and phases 1 and 2 are skipped. In eager PyTorch on CPU
  the cost of a scan is kernel launches, autograd nodes and full-size
  temporaries, so everything runs inside the kernels: `clip_affine_scan` reads
  broadcast inputs (per-unit bounds) in place and sums their gradients in the
  kernel, and `mru_blocked_scan` also builds the unit's maps from z there (see
  benchmarks/scan_speed.py).
- `_DoublingScan` (any device, pure torch): Hillis-Steele, log2(T) rounds of
  composition over the whole tensor; its backward is the same adjoint as a
  reverse `linear_scan`, so both backends agree on every subgradient. The
  portable path for GPUs.

`mru_scan` in `codesign.training.unit` is `mru_blocked_scan` on the blocked
backend (the unit fused into the kernels); on the torch backend it builds
(a, b, lo, hi) from the unit's parameters and calls `clip_affine_scan`.
`linear_scan` (complex too) serves the LRU baseline.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from codesign.training import scan_kernels as kernels

JOBS_PER_THREAD = 4  # jobs per numba thread: enough to even out threads slowed by other processes
MIN_BLOCK = 32  # shortest block: phases 1 and 2 cost about one more pass, worth it only over enough steps
SURROGATE_SHAPES = {"triangle": kernels.TRIANGLE, "sigmoid": kernels.SIGMOID}


def _n_blocks(n_batch, n_time):
    """Blocks per batch row: enough jobs for the numba threads, none shorter than MIN_BLOCK."""
    wanted = -(-JOBS_PER_THREAD * numba.get_num_threads() // n_batch)
    return max(1, min(wanted, n_time // MIN_BLOCK))


def _compact(x, n_unit, dtype):
    """x (broadcasting against [B, T, D]) as the kernels read it: [1 or B, 1 or T, D], C order.
    Broadcast axes (size 1 or stride 0) stay size 1, so per-unit parameters are not copied per step."""
    x = x.detach().to(dtype)
    while x.dim() < 3:
        x = x[None]
    for axis in (0, 1):
        if x.stride(axis) == 0:
            x = x.narrow(axis, 0, 1)
    return x.expand(x.shape[0], x.shape[1], n_unit).contiguous().numpy()


def _numpy_dtype(dtype):
    return torch.empty((), dtype=dtype).numpy().dtype


def _start_states(h0, shape, dtype):
    """h0 as [B, D] for the kernels; None is zeros."""
    n_batch, _, n_unit = shape
    if h0 is None:
        return np.zeros((n_batch, n_unit), _numpy_dtype(dtype))
    return h0.detach().to(dtype).expand(n_batch, n_unit).contiguous().numpy()


def _grad_buffer(x, needed, shape, n_block, dtype):
    """The zeroed buffer the kernel adds x's gradient to: per step if x varies over time, else one
    partial sum per job (also when x needs no gradient: a small buffer nobody reads). numpy's zeros
    come from calloc: fresh pages are zero already, no pass over memory."""
    n_batch, n_time, n_unit = shape
    per_step = needed and x.dim() >= 2 and x.shape[-2] > 1
    return torch.from_numpy(np.zeros((n_batch, n_time, n_unit) if per_step else (n_batch * n_block, 1, n_unit),
                                     _numpy_dtype(dtype)))


def _grad_of(x, buffer, needed, n_batch, n_block):
    """x's gradient from its buffer: the jobs' partial sums added, then summed over x's broadcast axes."""
    if not needed:
        return None
    if buffer.shape[0] == n_batch * n_block and buffer.shape[1] == 1:
        buffer = buffer.view(n_batch, n_block, -1).sum(1, keepdim=True)
    return buffer.sum_to_size(x.shape)


class _BlockedScan(torch.autograd.Function):
    """The blocked scan of given maps; inputs may broadcast (per-unit lo and hi)."""

    @staticmethod
    def forward(ctx, a, b, lo, hi, h0, straight_through):
        shape = torch.broadcast_shapes(a.shape, b.shape, lo.shape, hi.shape)
        n_block, dtype = _n_blocks(shape[0], shape[1]), a.dtype
        h = torch.empty(shape, dtype=dtype)
        kernels.clip_affine_forward(*(_compact(x, shape[2], dtype) for x in (a, b, lo, hi)),
                                    _start_states(h0, shape, dtype), h.numpy(), n_block)
        ctx.save_for_backward(a, b, lo, hi, h0, h)
        ctx.straight_through, ctx.n_block = straight_through, n_block
        return h

    @staticmethod
    def backward(ctx, g):
        a, b, lo, hi, h0, h = ctx.saved_tensors
        maps, needed, n_block = (a, b, lo, hi), ctx.needs_input_grad[:4], ctx.n_block
        buffers = [_grad_buffer(x, need, h.shape, n_block, h.dtype) for x, need in zip(maps, needed)]
        g_h0 = torch.empty(h.shape[0], h.shape[2], dtype=h.dtype)
        kernels.clip_affine_backward(*(_compact(x, h.shape[2], h.dtype) for x in maps),
                                     _start_states(h0, h.shape, h.dtype), h.numpy(), _compact(g, h.shape[2], h.dtype),
                                     *(x.numpy() for x in buffers), g_h0.numpy(), n_block, ctx.straight_through)
        grads = [_grad_of(x, buf, need, h.shape[0], n_block) for x, buf, need in zip(maps, buffers, needed)]
        return (*grads, g_h0.sum_to_size(h0.shape) if ctx.needs_input_grad[4] else None, None)


class _UnitScan(torch.autograd.Function):
    """The unit's blocked scan with its maps built inside the kernels (see `mru_blocked_scan`)."""

    @staticmethod
    def forward(ctx, z, alpha, beta, eps, bound, noise, h0, leak, width, shape, straight_through):
        params = (alpha, beta, eps, bound, noise)
        full = torch.broadcast_shapes(z.shape, *(x.shape for x in params))
        n_block, dtype = _n_blocks(full[0], full[1]), z.dtype
        scalar = _numpy_dtype(dtype).type  # typed scalars: numba computes in z's dtype, as torch does
        h = torch.empty(full, dtype=dtype)
        kernels.unit_forward(z.detach().expand(full).contiguous().numpy(),
                             *(_compact(x, full[2], dtype) for x in params), scalar(1 - leak),
                             _start_states(h0, full, dtype), h.numpy(), n_block)
        ctx.save_for_backward(z, *params, h0, h)
        ctx.settings = n_block, scalar(1 - leak), scalar(width), shape, straight_through
        return h

    @staticmethod
    def backward(ctx, g):
        z, *params, h0, h = ctx.saved_tensors
        n_block, keep, width, shape, straight_through = ctx.settings
        inputs, needed = (z, *params), ctx.needs_input_grad[:6]
        buffers = [_grad_buffer(x, need, h.shape, n_block, h.dtype) for x, need in zip(inputs, needed)]
        g_h0 = torch.empty(h.shape[0], h.shape[2], dtype=h.dtype)
        kernels.unit_backward(z.detach().expand(h.shape).contiguous().numpy(),
                              *(_compact(x, h.shape[2], h.dtype) for x in params), keep,
                              _start_states(h0, h.shape, h.dtype), h.numpy(), _compact(g, h.shape[2], h.dtype),
                              *(x.numpy() for x in buffers), g_h0.numpy(), n_block, width, shape, straight_through)
        grads = [_grad_of(x, buf, need, h.shape[0], n_block) for x, buf, need in zip(inputs, buffers, needed)]
        g_h0 = g_h0.sum_to_size(h0.shape) if ctx.needs_input_grad[6] else None
        return (*grads, g_h0, None, None, None, None)


def mru_blocked_scan(z, alpha, beta, eps=0.0, bound=None, h0=None, surrogate_width=0.5,
                     surrogate="triangle", straight_through_clip=False, leak=0.0, h_noise=None):
    """`codesign.training.mru_scan` on the blocked backend (CPU), fused: the comparator, the
    maps, the clip and the scan, forward and backward, run inside two numba kernels, and
    per-unit parameters stay [D] there (their gradients are summed over B and T in the
    kernel). Same arguments, values and gradients as `mru_scan`; z is [T, D] or [B, T, D].
    """
    if z.dim() not in (2, 3):
        raise ValueError(f"z must be [T, D] or [B, T, D], got shape {tuple(z.shape)}")
    if surrogate not in SURROGATE_SHAPES:
        raise ValueError(f"surrogate must be one of {tuple(SURROGATE_SHAPES)}, got {surrogate!r}")
    if not surrogate_width > 0:
        raise ValueError(f"surrogate width must be > 0, got {surrogate_width}")
    if z.device.type != "cpu":
        raise ValueError(f"the blocked scan runs on CPU, z is on {z.device}; use backend='torch'")
    squeeze = z.dim() == 2
    zb = z[None] if squeeze else z

    def param(x, missing):  # broadcasting aligns a [T, D] parameter with [1, T, D], as unit.py's lift does
        return torch.as_tensor(missing if x is None else x, dtype=z.dtype, device=z.device)

    if h0 is not None:
        h0 = param(h0, None)
    h = _UnitScan.apply(zb, param(alpha, None), param(beta, None), param(eps, None), param(bound, torch.inf),
                        param(h_noise, 0.0), h0, float(leak), float(surrogate_width),
                        SURROGATE_SHAPES[surrogate], bool(straight_through_clip))
    return h[0] if squeeze else h


def clip(x, lo, hi):
    """clip with torch.clamp's gradient convention (ties go to x), also when lo == hi
    (where torch.clamp drops the gradient)."""
    return torch.where(x < lo, lo, torch.where(x > hi, hi, x))


def _apply_map(a, b, lo, hi, x):
    y = torch.where(a == 0, b, a * torch.nan_to_num(x, posinf=0.0, neginf=0.0) + b)
    y = torch.where((a != 0) & torch.isinf(x), x, y)  # a > 0 keeps an infinite bound
    return clip(y, lo, hi)


def _hillis_steele(a, b, lo, hi, h0):
    """Inclusive scan by doubling: after round r, position t holds maps t-2^r+1..t."""
    ca, cb, cl, ch = a, b, lo, hi
    n_time, shift = a.shape[1], 1
    while shift < n_time:
        ea, eb, el, eh = (_shift_right(x, shift, fill) for x, fill in
                          ((ca, 1.0), (cb, 0.0), (cl, -torch.inf), (ch, torch.inf)))
        ca, cb, cl, ch = (ca * ea, ca * eb + cb,
                          _apply_map(ca, cb, cl, ch, el), _apply_map(ca, cb, cl, ch, eh))
        shift *= 2
    return clip(ca * h0[:, None] + cb, cl, ch)


def _shift_right(x, shift, fill):
    """x delayed by `shift` steps along time, the first steps filled (identity maps)."""
    return torch.cat([torch.full_like(x[:, :shift], fill), x[:, :-shift]], 1)


def linear_scan(a, b):
    """x_t = a_t x_{t-1} + b_t from x_0 = 0, by doubling; any dtype (complex too), autograd."""
    n_time, shift = a.shape[1], 1
    while shift < n_time:
        a, b = a * _shift_right(a, shift, 1.0), a * _shift_right(b, shift, 0.0) + b
        shift *= 2
    return b


class _DoublingScan(torch.autograd.Function):
    """Forward by doubling; backward is the same adjoint as the blocked kernels'
    (`scan_kernels._adjoint`), as a reverse linear scan, so both backends agree on
    every subgradient."""

    @staticmethod
    def forward(ctx, a, b, lo, hi, h0, straight_through):
        h = _hillis_steele(a, b, lo, hi, h0)
        ctx.save_for_backward(a, b, lo, hi, h0, h)
        ctx.straight_through = straight_through
        return h

    @staticmethod
    def backward(ctx, g):
        a, b, lo, hi, h0, h = ctx.saved_tensors
        h_prev = torch.cat([h0[:, None], h[:, :-1]], 1)
        p = a * h_prev + b
        inside = torch.ones_like(p, dtype=torch.bool) if ctx.straight_through else (lo <= p) & (p <= hi)
        m = inside.to(a.dtype)
        # gp_t = m_t (g_t + a_{t+1} gp_{t+1}): a linear scan backwards in time.
        a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], 1)
        gp = linear_scan((m * a_next).flip(1), (m * g).flip(1)).flip(1)
        carry = g + a_next * torch.cat([gp[:, 1:], torch.zeros_like(gp[:, :1])], 1)
        outside = ~inside
        g_lo = torch.where(outside & (p < lo), carry, 0.0)
        g_hi = torch.where(outside & (p > hi), carry, 0.0)
        return gp * h_prev, gp, g_lo, g_hi, a[:, 0] * gp[:, 0], None


def clip_affine_scan(a, b, lo, hi, h0=None, straight_through=False, backend="auto"):
    """h_t = clip(a_t h_{t-1} + b_t, lo_t, hi_t) for t = 1..T; a, b, lo, hi broadcast to [B, T, D].

    a >= 0. h0: broadcasts to [B, D], or None (zeros). straight_through: the clip passes
    gradients as identity. backend: "blocked" (CPU, numba), "torch"
    (doubling, any device) or "auto" (blocked on CPU).
    """
    a = torch.as_tensor(a)
    b, lo, hi = (torch.as_tensor(x, dtype=a.dtype, device=a.device) for x in (b, lo, hi))
    if backend == "auto":
        backend = "blocked" if a.device.type == "cpu" else "torch"
    if backend not in ("blocked", "torch"):
        raise ValueError(f"unknown scan backend {backend!r}; use 'auto', 'blocked' or 'torch'")
    if backend == "blocked":
        return _BlockedScan.apply(a, b, lo, hi, h0, bool(straight_through))
    a, b, lo, hi = torch.broadcast_tensors(a, b, lo, hi)
    h0 = torch.zeros((), dtype=a.dtype, device=a.device) if h0 is None else h0
    return _DoublingScan.apply(a, b, lo, hi, h0.expand(a.shape[0], a.shape[2]), bool(straight_through))
