"""Reductions against PyTorch: dim as int/tuple/None, keepdim, corrections, ties and zeros."""
import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check

DTYPES = [np.float32, np.float64]
DIMS = [None, 0, -1, (0, 2), (1,), (-1, 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "logsumexp", "amax", "amin"])
def test_reduce_dims(op, dim, keepdim, dtype, device):
    if op == "logsumexp" and dim is None:
        dim = (0, 1, 2)
    if dim is None:
        fn = (lambda x: getattr(x, op)()) if not keepdim else (
            lambda x: getattr(x, op)(dim=(0, 1, 2), keepdim=True))
    else:
        fn = lambda x: getattr(x, op)(dim, keepdim=keepdim)
    check(fn, [(2, 3, 4)], dtype=dtype, device=device)


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reduce_0d_and_size1(op, device):
    check(lambda x: getattr(x, op)(), [()], device=device)
    check(lambda x: getattr(x, op)(0), [()], device=device)
    check(lambda x: getattr(x, op)(1), [(3, 1, 2)], device=device)
    check(lambda x: getattr(x, op)(0, keepdim=True), [(1,)], device=device)


def test_reduce_noncontig(device):
    for op in ("sum", "mean", "logsumexp", "amax"):
        check(lambda x, op=op: getattr(x, op)(1), [(4, 6)], noncontig=True, device=device)


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)], ids=str)
@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_correction(op, dim, correction, device):
    check(lambda x: getattr(x, op)(dim=dim, correction=correction), [(4, 5)],
          dtype=np.float64, device=device)


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_unbiased(op, unbiased, device):
    check(lambda x: getattr(x, op)(1, unbiased=unbiased, keepdim=True), [(3, 5)], device=device)
    check(lambda x: getattr(x, op)(unbiased=unbiased), [(7,)], device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_dim_values_and_indices(op, dim, keepdim, device):
    out = check(lambda x: tuple(getattr(x, op)(dim, keepdim=keepdim)), [(4, 5)], device=device)
    _values, indices = getattr(mytorch.tensor(np.zeros((2, 2), np.float32)), op)(0)
    assert indices.dtype == mytorch.int64
    assert out[1].dtype == mytorch.int64


def test_max_named_fields():
    x = mytorch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    r = x.max(dim=1)
    assert r.values.tolist() == [5.0, 7.0] and r.indices.tolist() == [1, 0]
    assert x.max().item() == 7.0 and x.min().item() == 0.0


def test_max_all_ties_share_gradient():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check(lambda t: t.max(), inputs=[x])
    check(lambda t: t.amax(dim=1), inputs=[x])
    check(lambda t: t.min(), inputs=[x])


def test_max_binary_form(device):
    check(lambda a, b: a.max(b), [(3, 4), (4,)], device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax(op, dim, keepdim):
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    m = getattr(mytorch.tensor(x), op)(dim, keepdim=keepdim) if dim is not None else \
        getattr(mytorch.tensor(x), op)()
    t = getattr(torch.tensor(x), op)(dim, keepdim=keepdim) if dim is not None else \
        getattr(torch.tensor(x), op)()
    assert tuple(m.shape) == tuple(t.shape) and m.dtype == mytorch.int64
    np.testing.assert_array_equal(m.numpy(), t.numpy())


@pytest.mark.parametrize("dim", [None, 0, 1], ids=str)
def test_prod(dim, device):
    fn = (lambda x: x.prod()) if dim is None else (lambda x: x.prod(dim))
    check(fn, [(3, 4)], dtype=np.float64, device=device)
    check(lambda x: x.prod(1, keepdim=True), [(3, 4)], device=device)


@pytest.mark.parametrize("dim", [None, 0, 1], ids=str)
def test_prod_with_zeros(dim):
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, -2.0, 0.5]])
    fn = (lambda t: t.prod()) if dim is None else (lambda t: t.prod(dim))
    check(fn, inputs=[x])
    check(fn, inputs=[x.T.copy()])


def test_logsumexp_large_values():
    x = np.array([[1000.0, 1000.0, -5.0], [-1000.0, -2000.0, 3.0]], np.float32)
    check(lambda t: t.logsumexp(1), inputs=[x])
    check(lambda t: t.logsumexp(0, keepdim=True), inputs=[x])


def test_sum_of_ints_and_bools():
    for arr in (np.array([[1, 2], [3, 4]], np.int32), np.array([True, False, True])):
        m, t = mytorch.tensor(arr).sum(), torch.tensor(arr).sum()
        assert m.item() == t.item() and str(m.dtype) == str(t.dtype).replace("torch.", "")


def test_sum_dtype_argument():
    x = mytorch.tensor([1.0, 2.0])
    assert x.sum(dtype=mytorch.float64).dtype == mytorch.float64


def test_norm(device):
    check(lambda x: x.norm(), [(3, 4)], device=device)
    check(lambda x: x.norm(dim=1), [(3, 4)], dtype=np.float64, device=device)


def test_functional_forms():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for name in ("sum", "mean", "exp", "tanh", "abs"):
        np.testing.assert_allclose(getattr(mytorch, name)(mytorch.tensor(x)).numpy(),
                                   getattr(torch, name)(torch.tensor(x)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(mytorch.sum(mytorch.tensor(x), dim=1).numpy(),
                               torch.sum(torch.tensor(x), dim=1).numpy(), rtol=1e-5)


@pytest.mark.parametrize("fn", [
    lambda x: x.cumsum(1), lambda x: x.cumsum(dim=-1),
    lambda x: x.sort(dim=1).values, lambda x: x.sort(descending=True)[0],
    lambda x: x.topk(2).values, lambda x: x.topk(2, dim=0, largest=False)[0],
])
def test_cumsum_sort_topk(fn, device):
    check(fn, [(3, 4, 5)], device=device)


def test_sort_topk_indices_and_int_cumsum():
    a = np.random.default_rng(0).permutation(20).reshape(4, 5)  # distinct: indices are unique
    m, t = mytorch.tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(m.argsort(dim=0).numpy(), t.argsort(dim=0).numpy())
    np.testing.assert_array_equal(m.topk(3, dim=1).indices.numpy(),
                                  t.topk(3, dim=1).indices.numpy())
    np.testing.assert_array_equal(mytorch.sort(m, descending=True)[1].numpy(),
                                  torch.sort(t, descending=True)[1].numpy())
    c = mytorch.tensor(a, dtype=mytorch.int32).cumsum(0)
    assert c.dtype == np.int64
    np.testing.assert_array_equal(c.numpy(), torch.tensor(a, dtype=torch.int32).cumsum(0).numpy())
