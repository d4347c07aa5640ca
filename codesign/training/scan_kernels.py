"""Numba kernels of the blocked scan; `codesign.training.scan` describes the algorithm and
wraps these for autograd.

Two kernel pairs run the same three phases: `clip_affine_*` scans given maps
(a, b, lo, hi); `unit_*` builds the unit's maps from z and its parameters on
the fly and chains its gradients back to them, so no [B, T, D] coefficient or
coefficient gradient exists outside the kernel.

Conventions shared by all kernels:

- The T steps of each batch row are cut into `n_block` blocks (the last one
  may be shorter). A parallel job is one block of one row, all units at once:
  the innermost loops run over the unit axis, contiguous in memory.
- Inputs are 3-d C-contiguous arrays [1 or B, 1 or T, D]: a per-unit
  parameter is [1, 1, D] and is read in place by `_row`, never broadcast.
- A gradient buffer is [B, T, D] (one value per step) or [B * n_block, 1, D]
  (one partial sum over its steps per job, so no two jobs add to the same
  place); the caller sums the partials. Buffers start at zero.
"""

from __future__ import annotations

import numba
import numpy as np

TRIANGLE, SIGMOID = 0, 1  # surrogate shapes of the comparator's derivative


@numba.njit(inline="always")
def _row(x, i, t):
    """Row (i, t) of an array broadcast over its axes of size 1."""
    return x[min(i, x.shape[0] - 1), min(t, x.shape[1] - 1)]


@numba.njit(inline="always")
def _grad_row(g, i, t, job):
    """Where step (i, t) of `job` adds its gradient: its own row or the job's partial sum."""
    return g[i, t] if g.shape[1] > 1 else g[job, 0]


@numba.njit(inline="always")
def _block(job, n_block, n_time):
    """Batch row, block index and time range of one job."""
    i, k = job // n_block, job % n_block
    length = -(-n_time // n_block)
    return i, k, k * length, min(n_time, (k + 1) * length)


@numba.njit(inline="always")
def _h_prev(h, h0, i, t):
    return h[i, t - 1] if t > 0 else h0[i]


# ---------- the scan's steps, one row of units at a time ----------

@numba.njit(inline="always")
def _apply(a, b, lo, hi, x):
    # a == 0 makes the map constant; guards 0 * inf = nan when x is an infinite bound.
    y = b if a == 0 else a * x + b
    return min(max(y, lo), hi)


@numba.njit(inline="always")
def _identity_maps(maps):
    maps[0], maps[1], maps[2], maps[3] = 1, 0, -np.inf, np.inf


@numba.njit(inline="always")
def _compose(a, b, lo, hi, maps):
    """maps (A, B, L, H) := step after maps (phase 1 of the forward pass)."""
    for d in range(maps.shape[1]):
        maps[2, d] = _apply(a[d], b[d], lo[d], hi[d], maps[2, d])
        maps[3, d] = _apply(a[d], b[d], lo[d], hi[d], maps[3, d])
        maps[1, d] = a[d] * maps[1, d] + b[d]
        maps[0, d] = a[d] * maps[0, d]


@numba.njit(inline="always")
def _replay(a, b, lo, hi, h_prev, out):
    for d in range(out.shape[0]):
        out[d] = _apply(a[d], b[d], lo[d], hi[d], h_prev[d])


@numba.njit(parallel=True, cache=True)
def _chain_starts(maps, h0):
    """Phase 2: each block's start state, from h0 through the block maps before it."""
    n_batch, n_block, _, n_unit = maps.shape
    start = np.empty((n_batch, n_block, n_unit), maps.dtype)
    for i in numba.prange(n_batch):
        start[i, 0] = h0[i]
        for k in range(1, n_block):
            m = maps[i, k - 1]
            for d in range(n_unit):
                start[i, k, d] = _apply(m[0, d], m[1, d], m[2, d], m[3, d], start[i, k - 1, d])
    return start


@numba.njit(inline="always")
def _adjoint_compose(a, b, lo, hi, h_prev, g, pq, straight_through):
    """The adjoint is affine in the flow v entering a block from its right end: flow
    out of its left end = P v + Q. One step back: (P, Q) := (a m P, a m (Q + g))."""
    zero = pq.dtype.type(0)  # typed constants keep float32 arithmetic in float32, as in torch
    for d in range(pq.shape[1]):
        p = a[d] * h_prev[d] + b[d]
        am = a[d] if straight_through | ((lo[d] <= p) & (p <= hi[d])) else zero
        pq[0, d] = am * pq[0, d]
        pq[1, d] = am * (pq[1, d] + g[d])


@numba.njit(parallel=True, cache=True)
def _chain_flows(pq):
    """Phase 2 backwards: the flow entering each block from its right end."""
    n_batch, n_block, _, n_unit = pq.shape
    flow = np.zeros((n_batch, n_block, n_unit), pq.dtype)
    for i in numba.prange(n_batch):
        for k in range(n_block - 2, -1, -1):
            for d in range(n_unit):
                flow[i, k, d] = pq[i, k + 1, 0, d] * flow[i, k + 1, d] + pq[i, k + 1, 1, d]
    return flow


@numba.njit(inline="always")
def _adjoint(a, b, lo, hi, h_prev, g, v, adj, straight_through):
    """One step back: adj := (gradient at the pre-clip value p, to lo, to hi); v := flow to h_prev.
    `&` and `|`, not `and` and `or`: no branches, so the loop vectorizes."""
    zero = v.dtype.type(0)
    for d in range(v.shape[0]):
        carry = g[d] + v[d]
        p = a[d] * h_prev[d] + b[d]
        inside = straight_through | ((lo[d] <= p) & (p <= hi[d]))  # torch.clamp's convention: ties pass
        outside, below = not inside, p < lo[d]
        adj[0, d] = carry if inside else zero
        adj[1, d] = carry if outside & below else zero
        adj[2, d] = carry if outside & (not below) else zero
        v[d] = a[d] * adj[0, d]


# ---------- given maps ----------

@numba.njit(parallel=True, cache=True)
def clip_affine_forward(a, b, lo, hi, h0, out, n_block):
    """out[i, t] = clip(a h + b, lo, hi) at step (i, t) of h = out[i, t - 1] (h0 first)."""
    n_batch, n_time, n_unit = out.shape
    maps = np.empty((n_batch, n_block, 4, n_unit), out.dtype)
    if n_block > 1:  # phase 1: each block composed into one map
        for job in numba.prange(n_batch * n_block):
            i, k, t0, t1 = _block(job, n_block, n_time)
            _identity_maps(maps[i, k])
            for t in range(t0, t1):
                _compose(_row(a, i, t), _row(b, i, t), _row(lo, i, t), _row(hi, i, t), maps[i, k])
    start = _chain_starts(maps, h0)
    for job in numba.prange(n_batch * n_block):  # phase 3: replay each block from its start
        i, k, t0, t1 = _block(job, n_block, n_time)
        h_prev = start[i, k]
        for t in range(t0, t1):
            _replay(_row(a, i, t), _row(b, i, t), _row(lo, i, t), _row(hi, i, t), h_prev, out[i, t])
            h_prev = out[i, t]


@numba.njit(parallel=True, cache=True)
def clip_affine_backward(a, b, lo, hi, h0, h, g, g_a, g_b, g_lo, g_hi, g_h0, n_block, straight_through):
    """Adds the gradients of a, b, lo, hi to their buffers and writes h0's."""
    n_batch, n_time, n_unit = h.shape
    pq = np.empty((n_batch, n_block, 2, n_unit), h.dtype)
    if n_block > 1:
        for job in numba.prange(n_batch * n_block):
            i, k, t0, t1 = _block(job, n_block, n_time)
            pq[i, k, 0], pq[i, k, 1] = 1, 0
            for t in range(t1 - 1, t0 - 1, -1):
                _adjoint_compose(_row(a, i, t), _row(b, i, t), _row(lo, i, t), _row(hi, i, t),
                                 _h_prev(h, h0, i, t), _row(g, i, t), pq[i, k], straight_through)
    flow = _chain_flows(pq)
    for job in numba.prange(n_batch * n_block):
        i, k, t0, t1 = _block(job, n_block, n_time)
        v, adj = flow[i, k], np.empty((3, n_unit), h.dtype)
        for t in range(t1 - 1, t0 - 1, -1):
            h_prev = _h_prev(h, h0, i, t)
            _adjoint(_row(a, i, t), _row(b, i, t), _row(lo, i, t), _row(hi, i, t),
                     h_prev, _row(g, i, t), v, adj, straight_through)
            ga, gb = _grad_row(g_a, i, t, job), _grad_row(g_b, i, t, job)
            gl, gu = _grad_row(g_lo, i, t, job), _grad_row(g_hi, i, t, job)
            for d in range(n_unit):
                ga[d] += adj[0, d] * h_prev[d]
                gb[d] += adj[0, d]
                gl[d] += adj[1, d]
                gu[d] += adj[2, d]
        if k == 0:
            g_h0[i] = v


# ---------- the unit's maps, built from z ----------

@numba.njit(inline="always")
def _unit_maps(z, alpha, beta, eps, bound, noise, keep, i, t, rows):
    """rows := a, b, lo, hi, c, |c| of step (i, t), exactly as `codesign.training.unit` builds them:
    c = step(z - beta) - step(-z - beta), a = (1 - eps |c|) keep, b = alpha c + noise."""
    zr, al, be, ep, bo, no = z[i, t], _row(alpha, i, t), _row(beta, i, t), _row(eps, i, t), \
        _row(bound, i, t), _row(noise, i, t)
    one, zero = z.dtype.type(1), z.dtype.type(0)  # arithmetic stays in z's dtype, as in torch
    for d in range(zr.shape[0]):
        up = one if zr[d] - be[d] > 0 else zero
        down = one if -zr[d] - be[d] > 0 else zero
        c, fired = up - down, up + down
        rows[0, d] = (one - ep[d] * fired) * keep
        rows[1, d] = al[d] * c + no[d]
        rows[2, d], rows[3, d] = -bo[d], bo[d]
        rows[4, d], rows[5, d] = c, fired


@numba.njit(inline="always")
def _bumps(zr, be, width, shape, out):
    """out := the surrogate derivatives of step(z - beta) and step(-z - beta), as
    `codesign.training.unit._SurrogateStep` computes them. The shape is tested once per
    row, not per unit, so each loop vectorizes."""
    one, zero = out.dtype.type(1), out.dtype.type(0)
    if shape == TRIANGLE:  # unit area, support |x| < width
        for d in range(zr.shape[0]):
            out[0, d] = max(one - abs((zr[d] - be[d]) / width), zero) / width
            out[1, d] = max(one - abs((-zr[d] - be[d]) / width), zero) / width
    else:  # derivative of sigmoid(x / width)
        for d in range(zr.shape[0]):
            s_up = one / (one + np.exp(-((zr[d] - be[d]) / width)))
            s_down = one / (one + np.exp(-((-zr[d] - be[d]) / width)))
            out[0, d] = s_up * (one - s_up) / width
            out[1, d] = s_down * (one - s_down) / width


@numba.njit(parallel=True, cache=True)
def unit_forward(z, alpha, beta, eps, bound, noise, keep, h0, out, n_block):
    """The unit's states out[i, t]; bound = inf for no clip, noise = 0 for none."""
    n_batch, n_time, n_unit = out.shape
    maps = np.empty((n_batch, n_block, 4, n_unit), out.dtype)
    if n_block > 1:
        for job in numba.prange(n_batch * n_block):
            i, k, t0, t1 = _block(job, n_block, n_time)
            rows = np.empty((6, n_unit), out.dtype)
            _identity_maps(maps[i, k])
            for t in range(t0, t1):
                _unit_maps(z, alpha, beta, eps, bound, noise, keep, i, t, rows)
                _compose(rows[0], rows[1], rows[2], rows[3], maps[i, k])
    start = _chain_starts(maps, h0)
    for job in numba.prange(n_batch * n_block):
        i, k, t0, t1 = _block(job, n_block, n_time)
        rows, h_prev = np.empty((6, n_unit), out.dtype), start[i, k]
        for t in range(t0, t1):
            _unit_maps(z, alpha, beta, eps, bound, noise, keep, i, t, rows)
            _replay(rows[0], rows[1], rows[2], rows[3], h_prev, out[i, t])
            h_prev = out[i, t]


@numba.njit(parallel=True, cache=True)
def unit_backward(z, alpha, beta, eps, bound, noise, keep, h0, h, g,
                  g_z, g_alpha, g_beta, g_eps, g_bound, g_noise, g_h0,
                  n_block, width, shape, straight_through):
    """Adds the gradients of z and the parameters to their buffers and writes h0's: the
    scan's adjoint, then the chain rule through the maps and the comparator's surrogate."""
    n_batch, n_time, n_unit = h.shape
    pq = np.empty((n_batch, n_block, 2, n_unit), h.dtype)
    if n_block > 1:
        for job in numba.prange(n_batch * n_block):
            i, k, t0, t1 = _block(job, n_block, n_time)
            rows = np.empty((6, n_unit), h.dtype)
            pq[i, k, 0], pq[i, k, 1] = 1, 0
            for t in range(t1 - 1, t0 - 1, -1):
                _unit_maps(z, alpha, beta, eps, bound, noise, keep, i, t, rows)
                _adjoint_compose(rows[0], rows[1], rows[2], rows[3], _h_prev(h, h0, i, t), _row(g, i, t),
                                 pq[i, k], straight_through)
    flow = _chain_flows(pq)
    for job in numba.prange(n_batch * n_block):
        i, k, t0, t1 = _block(job, n_block, n_time)
        v, rows = flow[i, k], np.empty((6, n_unit), h.dtype)
        adj, bumps = np.empty((3, n_unit), h.dtype), np.empty((2, n_unit), h.dtype)
        for t in range(t1 - 1, t0 - 1, -1):
            h_prev = _h_prev(h, h0, i, t)
            _unit_maps(z, alpha, beta, eps, bound, noise, keep, i, t, rows)
            _adjoint(rows[0], rows[1], rows[2], rows[3], h_prev, _row(g, i, t), v, adj, straight_through)
            zr, al, be, ep = z[i, t], _row(alpha, i, t), _row(beta, i, t), _row(eps, i, t)
            _bumps(zr, be, width, shape, bumps)
            gz, gal, gbe = _grad_row(g_z, i, t, job), _grad_row(g_alpha, i, t, job), _grad_row(g_beta, i, t, job)
            gep, gbo, gno = _grad_row(g_eps, i, t, job), _grad_row(g_bound, i, t, job), _grad_row(g_noise, i, t, job)
            for d in range(n_unit):
                g_b, g_keep = adj[0, d], -(adj[0, d] * h_prev[d] * keep)  # g_keep: gradient of 1 - eps |c|
                gbo[d] += adj[2, d] - adj[1, d]  # hi = bound, lo = -bound
                gno[d] += g_b
                gal[d] += g_b * rows[4, d]
                gep[d] += g_keep * rows[5, d]
                g_c, g_fired = g_b * al[d], g_keep * ep[d]
                g_up, g_down = g_c + g_fired, g_fired - g_c  # c = up - down, |c| = up + down
                s_up, s_down = g_up * bumps[0, d], g_down * bumps[1, d]
                gz[d] += s_up - s_down
                gbe[d] -= s_up + s_down
        if k == 0:
            g_h0[i] = v
