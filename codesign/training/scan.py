"""The scan: h_t = clip(a_t * h_{t-1} + b_t, lo_t, hi_t) over time, in one place.

Maps h -> clip(a*h + b, lo, hi) with a >= 0 are closed under composition:

    g(f(h)) = clip(a2*a1*h + a2*b1 + b2, g(lo1), g(hi1))

so the recurrence is an associative scan. Two executions of the same algorithm:

- `_blocked_forward` / `_blocked_backward` (CPU, numba): the three-phase blocked
  scan. Phase 1 composes each time block into one map, in parallel over
  (batch, block); phase 2 chains the block maps; phase 3 replays each block from
  its start state, in parallel again. The backward pass is the same blocked scan
  run in reverse on the (affine, unclipped) adjoint recurrence. In eager PyTorch
  on CPU the cost of a scan is kernel launches and autograd nodes, so fusing it
  is what makes it fast (see benchmarks/scan_speed.py).
- `_DoublingScan` (any device, pure torch): Hillis-Steele, log2(T) rounds of
  composition over the whole tensor; its backward is the same adjoint as a
  reverse `linear_scan`, so both backends agree on every subgradient. The
  portable path for GPUs.

`mru_scan` in `codesign.training.unit` builds (a, b, lo, hi) from the unit's
parameters and calls `clip_affine_scan`. `linear_scan` (complex too) serves
the LRU baseline.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

BLOCK = 32  # time steps per block: long enough to amortize phase 2, short enough to balance


@numba.njit(inline="always")
def _apply(a, b, lo, hi, x):
    # a == 0 makes the map constant; guards 0 * inf = nan when x is an infinite bound.
    y = b if a == 0.0 else a * x + b
    return min(max(y, lo), hi)


@numba.njit(parallel=True, cache=True)
def _blocked_forward(a, b, lo, hi, h0, block):
    n_batch, n_time, n_unit = a.shape
    n_block = (n_time + block - 1) // block
    # Phase 1: each block's composed map (A, B, L, H).
    sa = np.empty((n_batch, n_block, n_unit), a.dtype)
    sb = np.empty_like(sa)
    sl = np.empty_like(sa)
    sh = np.empty_like(sa)
    for job in numba.prange(n_batch * n_block):
        i, k = job // n_block, job % n_block
        for d in range(n_unit):
            ca, cb, cl, ch = 1.0, 0.0, -np.inf, np.inf
            for t in range(k * block, min(n_time, (k + 1) * block)):
                at, bt, lt, ht = a[i, t, d], b[i, t, d], lo[i, t, d], hi[i, t, d]
                cl = _apply(at, bt, lt, ht, cl)
                ch = _apply(at, bt, lt, ht, ch)
                cb = at * cb + bt
                ca = at * ca
            sa[i, k, d], sb[i, k, d], sl[i, k, d], sh[i, k, d] = ca, cb, cl, ch
    # Phase 2: chain block maps to get each block's start state.
    start = np.empty_like(sa)
    for i in numba.prange(n_batch):
        for d in range(n_unit):
            h = h0[i, d]
            for k in range(n_block):
                start[i, k, d] = h
                h = _apply(sa[i, k, d], sb[i, k, d], sl[i, k, d], sh[i, k, d], h)
    # Phase 3: replay each block from its start state.
    out = np.empty_like(a)
    for job in numba.prange(n_batch * n_block):
        i, k = job // n_block, job % n_block
        for d in range(n_unit):
            h = start[i, k, d]
            for t in range(k * block, min(n_time, (k + 1) * block)):
                h = _apply(a[i, t, d], b[i, t, d], lo[i, t, d], hi[i, t, d], h)
                out[i, t, d] = h
    return out


@numba.njit(inline="always")
def _adjoint_step(a, b, lo, hi, h_prev, g_out, flow, straight_through):
    """One step back: the gradient reaching pre-clip p_t, and what goes to lo/hi."""
    carry = g_out + flow
    p = a * h_prev + b
    if straight_through or (lo <= p <= hi):  # torch.clamp's convention: ties pass
        return carry, 0.0, 0.0
    if p < lo:
        return 0.0, carry, 0.0
    return 0.0, 0.0, carry


@numba.njit(parallel=True, cache=True)
def _blocked_backward(a, b, lo, hi, h0, h, g, block, straight_through):
    n_batch, n_time, n_unit = a.shape
    n_block = (n_time + block - 1) // block
    # The adjoint is affine in the flow v entering a block from its right end:
    # flow out of its left end = P*v + Q. Phase 1 finds (P, Q) per block.
    sp = np.empty((n_batch, n_block, n_unit), a.dtype)
    sq = np.empty_like(sp)
    for job in numba.prange(n_batch * n_block):
        i, k = job // n_block, job % n_block
        for d in range(n_unit):
            cp, cq = 1.0, 0.0
            for t in range(min(n_time, (k + 1) * block) - 1, k * block - 1, -1):
                h_prev = h[i, t - 1, d] if t > 0 else h0[i, d]
                p = a[i, t, d] * h_prev + b[i, t, d]
                inside = straight_through or (lo[i, t, d] <= p <= hi[i, t, d])
                m = 1.0 if inside else 0.0
                cq = a[i, t, d] * m * (cq + g[i, t, d])
                cp = a[i, t, d] * m * cp
            sp[i, k, d], sq[i, k, d] = cp, cq
    flow_in = np.empty_like(sp)
    g_h0 = np.empty_like(h0)
    for i in numba.prange(n_batch):
        for d in range(n_unit):
            v = 0.0
            for k in range(n_block - 1, -1, -1):
                flow_in[i, k, d] = v
                v = sp[i, k, d] * v + sq[i, k, d]
            g_h0[i, d] = v
    g_a = np.empty_like(a)
    g_b = np.empty_like(a)
    g_lo = np.empty_like(a)
    g_hi = np.empty_like(a)
    for job in numba.prange(n_batch * n_block):
        i, k = job // n_block, job % n_block
        for d in range(n_unit):
            v = flow_in[i, k, d]
            for t in range(min(n_time, (k + 1) * block) - 1, k * block - 1, -1):
                h_prev = h[i, t - 1, d] if t > 0 else h0[i, d]
                gp, gl, gu = _adjoint_step(a[i, t, d], b[i, t, d], lo[i, t, d], hi[i, t, d],
                                           h_prev, g[i, t, d], v, straight_through)
                g_a[i, t, d] = gp * h_prev
                g_b[i, t, d] = gp
                g_lo[i, t, d] = gl
                g_hi[i, t, d] = gu
                v = a[i, t, d] * gp
    return g_a, g_b, g_lo, g_hi, g_h0


class _BlockedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, lo, hi, h0, straight_through):
        arrays = [x.detach().contiguous().numpy() for x in (a, b, lo, hi, h0)]
        h = torch.from_numpy(_blocked_forward(*arrays, BLOCK))
        ctx.save_for_backward(a, b, lo, hi, h0, h)
        ctx.straight_through = straight_through
        return h

    @staticmethod
    def backward(ctx, g):
        arrays = [x.detach().contiguous().numpy() for x in (*ctx.saved_tensors, g)]
        grads = _blocked_backward(*arrays, BLOCK, ctx.straight_through)
        return (*(torch.from_numpy(x) for x in grads), None)


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
    """Forward by doubling; backward is the same adjoint as `_blocked_backward`,
    as a reverse linear scan, so both backends agree on every subgradient."""

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
    """h_t = clip(a_t h_{t-1} + b_t, lo_t, hi_t) for t = 1..T, all [B, T, D].

    a >= 0. h0: [B, D] or None (zeros). straight_through: the clip passes
    gradients as identity. backend: "blocked" (CPU, numba), "torch"
    (doubling, any device) or "auto" (blocked on CPU).
    """
    a, b, lo, hi = torch.broadcast_tensors(a, b, lo, hi)
    if h0 is None:
        h0 = torch.zeros(a.shape[0], a.shape[2], dtype=a.dtype, device=a.device)
    if backend == "auto":
        backend = "blocked" if a.device.type == "cpu" else "torch"
    if backend not in ("blocked", "torch"):
        raise ValueError(f"unknown scan backend {backend!r}; use 'auto', 'blocked' or 'torch'")
    scan = _BlockedScan if backend == "blocked" else _DoublingScan
    return scan.apply(a, b, lo, hi, h0, bool(straight_through))
