"""The scan equals the golden model, and its gradients equal a sequential loop's."""

import functools

import numpy as np
import pytest
import torch

from codesign.mru import reference
from codesign.training import clip_affine_scan, mru_scan, mru_sequential
from codesign.training import scan as scan_module
from codesign.training.scan import clip, mru_blocked_scan

# mru_scan on each backend, and "fused": the blocked backend's unit kernels called directly.
BACKENDS = ["blocked", "torch", "fused"]


def _mru(backend):
    return mru_blocked_scan if backend == "fused" else functools.partial(mru_scan, backend=backend)


def _case(seed, batch=3, steps=77, units=5, per_step_alpha=False):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(batch, steps, units))
    beta = rng.uniform(0.2, 1.0, units)
    alpha = rng.uniform(0.1, 1.0, (batch, steps, units) if per_step_alpha else units)
    # Put some z exactly on the thresholds: comparisons are strict, so these are silent.
    z[:, ::7, :] = beta * rng.choice([-1.0, 1.0], size=(batch, len(range(0, steps, 7)), units))
    return z, alpha, beta


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("eps", [0.0, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("bound", [None, 1.3, "per-unit"])
@pytest.mark.parametrize("per_step_alpha", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_scan_equals_reference(backend, eps, bound, per_step_alpha, with_h0):
    z, alpha, beta = _case(int(eps * 100) + with_h0, per_step_alpha=per_step_alpha)
    if bound == "per-unit":
        bound = np.linspace(0.5, 2.0, z.shape[-1])
    h0 = np.linspace(-0.8, 0.8, z.shape[-1]) if with_h0 else None
    want = reference(z, alpha, beta, eps, bound, h0)
    t = torch.tensor
    got = _mru(backend)(t(z), t(alpha), t(beta), eps, None if bound is None else t(bound),
                        None if h0 is None else t(h0))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6, rtol=0)
    if bound is not None and eps < 0.5:  # the cumulative cases really clip
        assert np.isclose(np.abs(want).max(axis=(0, 1)), bound).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_on_unbatched_input_and_per_unit_eps(backend):
    z, alpha, beta = _case(5)
    eps = np.linspace(0, 1, z.shape[-1])
    want = reference(z[0], alpha, beta, eps, 2.0)
    got = _mru(backend)(torch.tensor(z[0]), torch.tensor(alpha), torch.tensor(beta), torch.tensor(eps), 2.0)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cmru_state_stays_on_levels(backend):
    z, alpha, beta = _case(9, steps=300)
    levels = 3
    h = _mru(backend)(torch.tensor(z), torch.tensor(alpha), torch.tensor(beta), 0.0,
                      torch.tensor(levels * alpha)).numpy()
    k = h / alpha
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.abs(np.round(k)).max() == levels


def _grads(fn, z, alpha, beta, bound, h0, eps, dtype=torch.float64, **kw):
    leaves = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in (z, alpha, beta, bound, h0)]
    h = fn(*leaves[:3], eps, leaves[3], leaves[4], **kw)
    weights = torch.linspace(-1, 1, h.numel(), dtype=h.dtype).reshape(h.shape)
    (h * weights).sum().backward()
    return h.detach().numpy(), [x.grad.numpy() for x in leaves]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("eps", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("surrogate", ["triangle", "sigmoid"])
@pytest.mark.parametrize("per_step_alpha", [False, True])
def test_scan_gradients_equal_sequential_loop(backend, eps, surrogate, per_step_alpha):
    z, alpha, beta = _case(11, steps=50, per_step_alpha=per_step_alpha)
    bound = np.full(z.shape[-1], 1.1)
    h0 = np.linspace(-0.5, 0.5, z.shape[-1])
    opts = dict(surrogate_width=0.7, surrogate=surrogate)
    h_seq, g_seq = _grads(mru_sequential, z, alpha, beta, bound, h0, eps, **opts)
    h_scan, g_scan = _grads(_mru(backend), z, alpha, beta, bound, h0, eps, **opts)
    np.testing.assert_allclose(h_scan, h_seq, atol=1e-9)
    for name, gs, gp in zip(["z", "alpha", "beta", "bound", "h0"], g_seq, g_scan):
        np.testing.assert_allclose(gp, gs, atol=1e-8, err_msg=f"gradient of {name}")
        if name not in ("h0", "bound") or eps < 1:  # BMRU states never reach 1.1
            assert np.abs(gs).max() > 0, f"gradient of {name} is all zero: the case tests nothing"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("eps", [0.0, 1.0])
def test_float32_gradients_equal_sequential_loop(backend, eps):
    # Per-unit alpha, beta and bound: the blocked kernels sum their gradients over batch and time.
    z, alpha, beta = _case(12, batch=4, steps=120, units=6)
    bound, h0 = 4 * alpha, np.linspace(-0.3, 0.3, z.shape[-1])
    h_seq, g_seq = _grads(mru_sequential, z, alpha, beta, bound, h0, eps, dtype=torch.float32)
    h_scan, g_scan = _grads(_mru(backend), z, alpha, beta, bound, h0, eps, dtype=torch.float32)
    assert h_scan.dtype == np.float32 and all(g.dtype == np.float32 for g in g_scan)
    np.testing.assert_allclose(h_scan, h_seq, atol=1e-6)
    for name, gs, gp in zip(["z", "alpha", "beta", "bound", "h0"], g_seq, g_scan):
        scale = np.abs(gs).max()
        assert scale > 0 or (name in ("h0", "bound") and eps == 1), f"gradient of {name} is all zero"
        np.testing.assert_allclose(gp, gs, rtol=1e-5, atol=1e-5 * scale, err_msg=f"gradient of {name}")


@pytest.mark.parametrize("backend", ["blocked", "fused"])
@pytest.mark.parametrize("n_blocks", [1, 3, 7, 101])
def test_blocked_scan_is_the_same_for_any_number_of_blocks(backend, n_blocks, monkeypatch):
    # 101 steps: blocks of unequal length, down to one step per block.
    monkeypatch.setattr(scan_module, "_n_blocks", lambda n_batch, n_time: n_blocks)
    z, alpha, beta = _case(13, batch=2, steps=101, per_step_alpha=True)
    bound, h0 = np.full(z.shape[-1], 1.2), np.linspace(-0.5, 0.5, z.shape[-1])
    for eps in (0.0, 0.5, 1.0):
        h_seq, g_seq = _grads(mru_sequential, z, alpha, beta, bound, h0, eps)
        h_scan, g_scan = _grads(_mru(backend), z, alpha, beta, bound, h0, eps)
        np.testing.assert_allclose(h_scan, h_seq, atol=1e-9)
        for name, gs, gp in zip(["z", "alpha", "beta", "bound", "h0"], g_seq, g_scan):
            np.testing.assert_allclose(gp, gs, atol=1e-8, err_msg=f"gradient of {name}, eps={eps}")


@pytest.mark.parametrize("straight_through", [False, True])
@pytest.mark.parametrize("per_step_alpha", [False, True])
def test_fused_kernels_with_leak_noise_and_trained_eps_equal_the_torch_path(straight_through, per_step_alpha):
    # What mru_sequential has no arguments for: leak, h_noise, a per-unit eps with a gradient.
    z, alpha, beta = _case(15, steps=90, per_step_alpha=per_step_alpha)
    rng = np.random.default_rng(15)
    arrays = (z, alpha, beta, rng.uniform(0, 0.3, z.shape[-1]), np.full(z.shape[-1], 0.8),
              np.linspace(-0.5, 0.5, z.shape[-1]), rng.normal(scale=0.05, size=z.shape))
    weights = torch.linspace(-1, 1, z.size, dtype=torch.float64).reshape(z.shape)
    results = []
    for mru in (functools.partial(mru_scan, backend="torch"), mru_blocked_scan):
        leaves = [torch.tensor(x, requires_grad=True) for x in arrays]
        z_, alpha_, beta_, eps_, bound_, h0_, noise_ = leaves
        h = mru(z_, alpha_, beta_, eps_, bound_, h0_, surrogate_width=0.6, straight_through_clip=straight_through,
                leak=0.01, h_noise=noise_)
        results.append((h.detach(), torch.autograd.grad((h * weights).sum(), leaves)))
    (want, want_grads), (got, got_grads) = results
    torch.testing.assert_close(got, want, atol=1e-9, rtol=0)
    for name, gw, gg in zip(["z", "alpha", "beta", "eps", "bound", "h0", "h_noise"], want_grads, got_grads):
        if name != "bound" or not straight_through:  # straight through, the bound gets no gradient
            assert gw.abs().max() > 0, f"gradient of {name} is all zero: the case tests nothing"
        torch.testing.assert_close(gg, gw, atol=1e-8, rtol=1e-9, msg=f"gradient of {name}")


def _loop(a, b, lo, hi, h0):
    """clip_affine_scan written as a loop over time, for autograd."""
    a, b, lo, hi = torch.broadcast_tensors(a, b, lo, hi)
    h, out = h0.expand(a.shape[0], a.shape[2]), []
    for t in range(a.shape[1]):
        h = clip(a[:, t] * h + b[:, t], lo[:, t], hi[:, t])
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("backend", ["blocked", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_affine_scan_gradients_with_broadcast_inputs(backend, dtype):
    # lo per unit, hi per step shared by all units, h0 per unit: gradients summed to those shapes.
    rng = np.random.default_rng(14)
    batch, steps, units = 3, 70, 4
    leaves = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in (
        rng.uniform(0.0, 1.0, (batch, steps, units)), rng.normal(size=(batch, steps, units)),
        -rng.uniform(0.5, 1.5, units), rng.uniform(0.5, 1.5, (steps, 1)), rng.normal(size=units))]
    weights = torch.linspace(-1, 1, batch * steps * units, dtype=dtype).reshape(batch, steps, units)
    want = _loop(*leaves)
    want_grads = torch.autograd.grad((want * weights).sum(), leaves)
    got = clip_affine_scan(*leaves, backend=backend)
    got_grads = torch.autograd.grad((got * weights).sum(), leaves)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
    for name, gw, gg in zip(["a", "b", "lo", "hi", "h0"], want_grads, got_grads):
        assert gg.shape == gw.shape and gw.abs().max() > 0, name
        torch.testing.assert_close(gg, gw, atol=tol * gw.abs().max().item(), rtol=tol, msg=f"gradient of {name}")


def test_straight_through_clip_passes_gradient():
    a = torch.ones(1, 4, 1, dtype=torch.float64)
    b = torch.full((1, 4, 1), 1.0, dtype=torch.float64, requires_grad=True)
    lo, hi = torch.full_like(a, -1.5), torch.full_like(a, 1.5)
    masked = torch.autograd.grad(clip_affine_scan(a, b, lo, hi)[0, -1, 0], b)[0]
    straight = torch.autograd.grad(clip_affine_scan(a, b, lo, hi, straight_through=True)[0, -1, 0], b)[0]
    assert masked.flatten().tolist() == [0, 0, 0, 0]  # clipped at 1.5 from step 2 on
    assert straight.flatten().tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_and_block_boundaries(backend):
    # T not a multiple of the block, and longer than several blocks.
    z, alpha, beta = _case(3, batch=2, steps=1001, units=3)
    want = reference(z, alpha, beta, 0.0, 2.0)
    got = _mru(backend)(torch.tensor(z, dtype=torch.float32), torch.tensor(alpha, dtype=torch.float32),
                        torch.tensor(beta, dtype=torch.float32), 0.0, 2.0)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want, atol=1e-4)


@pytest.mark.parametrize("mru", [mru_scan, mru_blocked_scan])
def test_bad_arguments_are_named(mru):
    with pytest.raises(ValueError, match="z must be"):
        mru(torch.zeros(5), 1.0, 0.5)
    with pytest.raises(ValueError, match="surrogate"):
        mru(torch.zeros(4, 2), 1.0, 0.5, surrogate="box")
    with pytest.raises(ValueError, match="surrogate width"):
        mru(torch.zeros(4, 2), 1.0, 0.5, surrogate_width=0.0)
    with pytest.raises(ValueError, match="backend"):
        mru_scan(torch.zeros(4, 2), 1.0, 0.5, backend="gpu")
