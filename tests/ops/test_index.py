"""Indexing ops against PyTorch: getitem/setitem in every form, masked_fill, tril/triu,
gather, scatter_add, index_select, one_hot. Repeated indices must accumulate gradients."""
import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check

IDX = np.array([0, 2, 2, 1, 0, 2])          # repeated indices
IDX2 = np.array([[1, 1], [0, 2]])
MASK = np.array([True, False, True, True])


def idx_for(x, arr):
    """The index array as a tensor of x's library (and device)."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(arr)
    return mytorch.tensor(arr, device=x.device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [
    lambda x: x[1],
    lambda x: x[-1],
    lambda x: x[1:3],
    lambda x: x[::2],
    lambda x: x[:, 1],
    lambda x: x[..., 2],
    lambda x: x[None],
    lambda x: x[:, None, 1:],
    lambda x: x[1, 2],
    lambda x: x[1, ..., None],
    lambda x: x[-3:, ::-1] if False else x[-3:, 1::2],
    lambda x: x[idx_for(x, IDX)],                       # repeated rows
    lambda x: x[:, idx_for(x, np.array([3, 3, 0]))],    # repeated columns
    lambda x: x[idx_for(x, IDX2)],                      # 2-D index array
    lambda x: x[idx_for(x, np.array([0, 2, 2])), idx_for(x, np.array([1, 1, 3]))],
    lambda x: x[idx_for(x, np.array([[0], [2]])), idx_for(x, np.array([1, 1, 3]))],
    lambda x: x[[1, 1, 0]],                            # a Python list
    lambda x: x[idx_for(x, np.array([-1, 0, -1]))],     # negative indices
    lambda x: x[1:, idx_for(x, np.array([0, 0]))],
    lambda x: x[idx_for(x, np.array([True, False, True]))],  # boolean row mask
    lambda x: x[:, idx_for(x, MASK)],
    lambda x: x[idx_for(x, np.arange(12).reshape(3, 4) % 3 == 0)],  # full mask
], ids=lambda f: f.__code__.co_firstlineno)
def test_getitem(fn, dtype, device):
    check(fn, [(3, 4)], dtype=dtype, device=device)


def test_getitem_3d_mixed(device):
    check(lambda x: x[idx_for(x, np.array([1, 0, 1])), :, idx_for(x, np.array([2, 2, 0]))],
          [(2, 3, 4)], device=device)
    check(lambda x: x[:, idx_for(x, np.array([1, 1])), 1:3], [(2, 3, 4)], device=device)
    check(lambda x: x[0, idx_for(x, np.array([2, 0, 2]))], [(2, 3, 4)], device=device)


def test_getitem_noncontig_and_0d(device):
    check(lambda x: x[idx_for(x, IDX[:3])], [(3, 4)], noncontig=True, device=device)
    check(lambda x: x[None], [()], device=device)
    check(lambda x: x[...], [()], device=device)


def test_getitem_with_int_tensor_scalar():
    x = mytorch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x[mytorch.tensor(1)].tolist() == [3.0, 4.0]


def _setitem_fn(key, value_shape=None, value=None):
    def fn(x, *v):
        y = x * 1.0  # a non-leaf that can be written in place
        y[key] = v[0] if v else value
        return y * 2
    return fn


@pytest.mark.parametrize("key,vshape", [
    ((1,), (4,)), ((slice(0, 2),), (2, 4)), ((slice(None), 1), (3,)),
    ((slice(None), slice(1, 3)), (1, 2)),  # broadcast value
    ((0, 0), ()),
])
def test_setitem_grads(key, vshape, device):
    check(_setitem_fn(key), [(3, 4), vshape], device=device)


def test_setitem_scalar_and_mask(device):
    check(_setitem_fn((slice(None), 2), value=5.0), [(3, 4)], device=device)

    def fn(x):
        y = x * 1.0
        mask = (y > 0.5)
        y[mask] = 0.0
        return y
    check(fn, [(3, 4)], device=device)


def test_setitem_int_array_key(device):
    def fn(x, v):
        y = x.clone()
        y[idx_for(x, np.array([0, 2]))] = v
        return y
    check(fn, [(3, 4), (2, 4)], device=device)


def test_setitem_without_grad_writes_in_place():
    x = mytorch.zeros(2, 3)
    x[0, 1] = 7
    x[1] = mytorch.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [[0.0, 7.0, 0.0], [1.0, 2.0, 3.0]]


def test_setitem_on_leaf_requiring_grad_raises():
    x = mytorch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0
    with mytorch.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("mshape", [(3, 4), (4,), (3, 1), ()], ids=str)
def test_masked_fill(mshape, device):
    mask = np.random.default_rng(1).random(mshape) > 0.5

    def fn(x):
        m = idx_for(x, mask) if mshape else idx_for(x, np.array(True))
        return x.masked_fill(m, -1e9).softmax(-1) if False else x.masked_fill(m, -3.5)
    check(fn, [(3, 4)], device=device)
    check(fn, [(3, 4)], dtype=np.float64, noncontig=True, device=device)


def test_masked_fill_inplace():
    x = mytorch.tensor([1.0, 2.0, 3.0])
    x.masked_fill_(x > 1.5, 0.0)
    assert x.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("diagonal", [0, 1, -1, 2])
@pytest.mark.parametrize("op", ["tril", "triu"])
def test_tril_triu(op, diagonal, device):
    check(lambda x: getattr(x, op)(diagonal), [(4, 5)], device=device)
    check(lambda x: getattr(x, op)(diagonal=diagonal), [(2, 3, 3)], dtype=np.float64,
          device=device)
    check(lambda x: getattr(x, op)(diagonal), [(4, 4)], noncontig=True, device=device)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim, device):
    index = np.array([[0, 1, 1], [2, 0, 0]]) if dim == 0 else np.array([[3, 3, 0], [1, 0, 2]])
    check(lambda x: x.gather(dim, idx_for(x, index)), [(3, 4)], device=device)
    check(lambda x: (torch if isinstance(x, torch.Tensor) else mytorch)
          .gather(x, dim, idx_for(x, index)), [(3, 4)], dtype=np.float64, device=device)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add(dim, device):
    index = np.array([[0, 1, 1], [1, 0, 1]])
    check(lambda x, s: x.scatter_add(dim, idx_for(x, index), s), [(2, 4), (2, 3)],
          device=device)
    check(lambda x, s: (torch if isinstance(x, torch.Tensor) else mytorch)
          .scatter_add(x, dim, idx_for(x, index), s), [(3, 3), (2, 3)], dtype=np.float64,
          device=device)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(dim, device):
    index = np.array([2, 0, 2, 2])
    check(lambda x: x.index_select(dim, idx_for(x, index)), [(3, 3)], device=device)
    check(lambda x: x.index_select(dim, idx_for(x, index[:1])), [(3, 4, 3)], dtype=np.float64,
          device=device)


def test_one_hot(device):
    labels = np.array([[0, 3], [2, 2]])
    m = mytorch.one_hot(mytorch.tensor(labels, device=device), 5)
    t = torch.nn.functional.one_hot(torch.from_numpy(labels), 5)
    assert m.dtype == mytorch.int64 and tuple(m.shape) == (2, 2, 5)
    np.testing.assert_array_equal(m.cpu().numpy(), t.numpy())
    np.testing.assert_array_equal(mytorch.one_hot(mytorch.tensor(labels)).numpy(),
                                  torch.nn.functional.one_hot(torch.from_numpy(labels)).numpy())


def test_embedding_like_gradient_accumulates():
    w = mytorch.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    w[mytorch.tensor([1, 1, 1, 0])].sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [3.0, 3.0], [0.0, 0.0]]


def test_nonzero_and_single_arg_where():
    a = np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 3.0]], np.float32)
    m, t = mytorch.tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(m.nonzero().numpy(), t.nonzero().numpy())
    assert m.nonzero().dtype == np.int64
    for got, want in zip(mytorch.where(m > 0), torch.where(t > 0)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for got, want in zip(mytorch.nonzero(m, as_tuple=True), torch.nonzero(t, as_tuple=True)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    x = m.clone()
    x[mytorch.where(m < 0)] = 9.0
    assert x[1, 0].item() == 9.0


def test_contains_isclose_logical():
    a = np.array([[0.0, 1.5], [-2.0, 3.0]], np.float32)
    m, t = mytorch.tensor(a), torch.tensor(a)
    assert (1.5 in m) == (1.5 in t) and (7.0 in m) == (7.0 in t)
    np.testing.assert_array_equal(mytorch.isclose(m, m + 1e-7).numpy(),
                                  torch.isclose(t, t + 1e-7).numpy())
    for name in ("logical_and", "logical_or", "logical_xor"):
        np.testing.assert_array_equal(getattr(mytorch, name)(m > 0, m < 2).numpy(),
                                      getattr(torch, name)(t > 0, t < 2).numpy())
    np.testing.assert_array_equal(mytorch.logical_not(m).numpy(), torch.logical_not(t).numpy())
