"""Gradient clipping against torch.nn.utils."""
import math

import numpy as np
import pytest
import torch

import mytorch
from mytorch.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _pair(grads):
    mp, tp = [], []
    for g in grads:
        m = mytorch.zeros(*g.shape).requires_grad_()
        t = torch.zeros(*g.shape, requires_grad=True)
        if g is not None:
            m.grad = mytorch.tensor(g.copy())
            t.grad = torch.tensor(g.copy())
        mp.append(m)
        tp.append(t)
    return mp, tp


def _grads(scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf", 0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    mp, tp = _pair(_grads())
    m_total = clip_grad_norm_(mp, max_norm, norm_type=norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert isinstance(m_total, mytorch.Tensor) and m_total.shape == ()
    assert m_total.dtype == np.float32
    np.testing.assert_allclose(m_total.item(), t_total.item(), rtol=1e-5)
    for m, t in zip(mp, tp):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_single_tensor_missing_grads_and_generator():
    g = _grads()
    mp, tp = _pair(g)
    mp[1].grad, tp[1].grad = None, None
    m_total = clip_grad_norm_((p for p in mp), 1.0)
    t_total = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    np.testing.assert_allclose(m_total.item(), t_total.item(), rtol=1e-6)
    assert mp[1].grad is None
    one = mytorch.zeros(3).requires_grad_()
    one.grad = mytorch.tensor([3.0, 4.0, 0.0])
    assert clip_grad_norm_(one, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(one.grad.numpy(), [0.6, 0.8, 0.0], rtol=1e-5)
    assert clip_grad_norm_([mytorch.zeros(2).requires_grad_()], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_like_torch(bad):
    g = _grads()
    g[0][1, 1] = bad
    mp, tp = _pair(g)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(mp, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True)
    # The failed call changed nothing.
    np.testing.assert_array_equal(mp[2].grad.numpy(), g[2])
    m_total = clip_grad_norm_(mp, 1.0)
    t_total = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    np.testing.assert_equal(m_total.item(), t_total.item())
    for m, t in zip(mp, tp):  # nan coefficient -> all nan; inf norm -> zeros (nan where inf)
        np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())


def test_total_norm_helpers():
    g = _grads(3.0)
    mp, tp = _pair(g)
    total = get_total_norm([p.grad for p in mp], 2.0)
    t_total = torch.nn.utils.get_total_norm([p.grad for p in tp], 2.0)
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-6)
    clip_grads_with_norm_(mp, 1.0, total)
    torch.nn.utils.clip_grads_with_norm_(tp, 1.0, t_total)
    for m, t in zip(mp, tp):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_torch():
    g = _grads(2.0)
    g[1][0] = np.nan
    mp, tp = _pair(g)
    data_before = [m.grad.data for m in mp]
    assert clip_grad_value_(mp, 0.7) is None
    torch.nn.utils.clip_grad_value_(tp, 0.7)
    for m, t, d in zip(mp, tp, data_before):
        assert m.grad.data is d  # in place
        np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())
