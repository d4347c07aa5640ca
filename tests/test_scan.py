"""The scan equals the golden model, and its gradients equal a sequential loop's."""

import numpy as np
import pytest
import torch

from codesign.mru import reference
from codesign.training import clip_affine_scan, mru_scan, mru_sequential

BACKENDS = ["blocked", "torch"]


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
    got = mru_scan(t(z), t(alpha), t(beta), eps, None if bound is None else t(bound),
                   None if h0 is None else t(h0), backend=backend)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6, rtol=0)
    if bound is not None and eps < 0.5:  # the cumulative cases really clip
        assert np.isclose(np.abs(want).max(axis=(0, 1)), bound).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_on_unbatched_input_and_per_unit_eps(backend):
    z, alpha, beta = _case(5)
    eps = np.linspace(0, 1, z.shape[-1])
    want = reference(z[0], alpha, beta, eps, 2.0)
    got = mru_scan(torch.tensor(z[0]), torch.tensor(alpha), torch.tensor(beta),
                   torch.tensor(eps), 2.0, backend=backend)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6, rtol=0)


def test_cmru_state_stays_on_levels():
    z, alpha, beta = _case(9, steps=300)
    levels = 3
    h = mru_scan(torch.tensor(z), torch.tensor(alpha), torch.tensor(beta), 0.0,
                 torch.tensor(levels * alpha)).numpy()
    k = h / alpha
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.abs(np.round(k)).max() == levels


def _grads(fn, z, alpha, beta, bound, h0, eps, **kw):
    leaves = [torch.tensor(x, requires_grad=True) for x in (z, alpha, beta, bound, h0)]
    h = fn(*leaves[:3], eps, leaves[3], leaves[4], **kw)
    weights = torch.linspace(-1, 1, h.numel(), dtype=h.dtype).reshape(h.shape)
    (h * weights).sum().backward()
    return h.detach().numpy(), [x.grad.numpy() for x in leaves]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("eps", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("surrogate", ["triangle", "sigmoid"])
def test_scan_gradients_equal_sequential_loop(backend, eps, surrogate):
    z, alpha, beta = _case(11, steps=50, per_step_alpha=True)
    bound = np.full(z.shape[-1], 1.1)
    h0 = np.linspace(-0.5, 0.5, z.shape[-1])
    opts = dict(surrogate_width=0.7, surrogate=surrogate)
    h_seq, g_seq = _grads(mru_sequential, z, alpha, beta, bound, h0, eps, **opts)
    h_scan, g_scan = _grads(mru_scan, z, alpha, beta, bound, h0, eps, backend=backend, **opts)
    np.testing.assert_allclose(h_scan, h_seq, atol=1e-9)
    for name, gs, gp in zip(["z", "alpha", "beta", "bound", "h0"], g_seq, g_scan):
        np.testing.assert_allclose(gp, gs, atol=1e-8, err_msg=f"gradient of {name}")
        if name not in ("h0", "bound") or eps < 1:  # BMRU states never reach 1.1
            assert np.abs(gs).max() > 0, f"gradient of {name} is all zero: the case tests nothing"


def test_straight_through_clip_passes_gradient():
    a = torch.ones(1, 4, 1, dtype=torch.float64)
    b = torch.full((1, 4, 1), 1.0, dtype=torch.float64, requires_grad=True)
    lo, hi = torch.full_like(a, -1.5), torch.full_like(a, 1.5)
    masked = torch.autograd.grad(clip_affine_scan(a, b, lo, hi)[0, -1, 0], b)[0]
    straight = torch.autograd.grad(clip_affine_scan(a, b, lo, hi, straight_through=True)[0, -1, 0], b)[0]
    assert masked.flatten().tolist() == [0, 0, 0, 0]  # clipped at 1.5 from step 2 on
    assert straight.flatten().tolist() == [1, 1, 1, 1]


def test_float32_and_block_boundaries():
    # T not a multiple of the block, and longer than several blocks.
    z, alpha, beta = _case(3, batch=2, steps=1000, units=3)
    want = reference(z, alpha, beta, 0.0, 2.0)
    got = mru_scan(torch.tensor(z, dtype=torch.float32), torch.tensor(alpha, dtype=torch.float32),
                   torch.tensor(beta, dtype=torch.float32), 0.0, 2.0)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want, atol=1e-4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="z must be"):
        mru_scan(torch.zeros(5), 1.0, 0.5)
    with pytest.raises(ValueError, match="surrogate"):
        mru_scan(torch.zeros(4, 2), 1.0, 0.5, surrogate="box")
    with pytest.raises(ValueError, match="backend"):
        mru_scan(torch.zeros(4, 2), 1.0, 0.5, backend="gpu")
