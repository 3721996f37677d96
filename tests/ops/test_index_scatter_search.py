"""More indexing ops against PyTorch: scatter (src/value/reduce, in place), scatter_add_,
index_add, index_fill, masked_select/masked_scatter, take_along_dim, and the integer-valued
unique, bincount, histc, argwhere, searchsorted, bucketize."""
import re

import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check


def lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


def like(x, arr):
    """An array as a tensor of x's library (and device)."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(np.asarray(arr))
    return mytorch.tensor(np.asarray(arr), device=x.device)


def assert_same(m, t):
    """Values, shape and dtype of a mytorch result equal torch's."""
    ms = m if isinstance(m, tuple) else (m,)
    ts = t if isinstance(t, tuple) else (t,)
    assert len(ms) == len(ts)
    for a, b in zip(ms, ts):
        assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
        assert str(a.dtype) == str(b.dtype).replace("torch.", ""), (a.dtype, b.dtype)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


# A permutation per column: scatter without reduce must not repeat an index (torch leaves
# the winner unspecified).
PERM = np.array([[2, 0, 1, 1], [0, 1, 2, 0], [1, 2, 0, 2]])
REP = np.array([[0, 1, 1, 2], [0, 0, 2, 2], [2, 0, 0, 1]])     # repeated indices


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [
    lambda x, s: x.scatter(0, like(x, PERM), s),
    lambda x, s: x.scatter(0, like(x, PERM[:2, :3]), s[:2, :3]),  # index smaller than x
    lambda x, s: x.scatter(-2, like(x, PERM), src=s) * 2,
    lambda x, s: lib(x).scatter(x, 1, like(x, PERM[:, :3] % 3), s[:, :3]),
    lambda x, s: x.scatter(0, like(x, PERM), 1.5),
    lambda x, s: x.scatter(1, like(x, PERM[:, :2]), value=-2.0),
    lambda x, s: x.scatter_add(0, like(x, REP), s),
    lambda x, s: x.index_add(0, like(x, [2, 0, 2]), s),
    lambda x, s: x.index_add(1, like(x, [3, 3, 0, 1]), s[:3], alpha=-0.5),
    lambda x, s: lib(x).index_add(x, -1, like(x, [1, 1, 1, 1]), s, alpha=2),
    lambda x, s: x.index_fill(1, like(x, [0, 2, 2]), 7.0),
    lambda x, s: x.index_fill(0, like(x, [-1]), -3),
    lambda x, s: x.index_fill(1, like(x, [1, 3]), s[0, 0]),         # a 0-d tensor value
    lambda x, s: x.masked_select(like(x, PERM == 0)),
    lambda x, s: lib(x).masked_select(x, like(x, np.array([True, False, True, True]))),
    lambda x, s: x.masked_scatter(like(x, PERM == 0), s),
    lambda x, s: x.masked_scatter(like(x, np.array([True, False, True, False])), s),
    lambda x, s: x.take_along_dim(like(x, REP), 0),
    lambda x, s: x.take_along_dim(like(x, REP[:1]), -2),             # broadcast index rows
    lambda x, s: x.take_along_dim(like(x, [[3], [0], [0]]), 1),
    # flattened (torch views a non-contiguous input there and fails, so it gets a copy)
    lambda x, s: lib(x).take_along_dim(x.contiguous(), like(x, [5, 5, 0, 11])),
    lambda x, s: x.take_along_dim(x.argsort(1), 1),
], ids=lambda f: str(f.__code__.co_firstlineno))
def test_scatter_family(fn, dtype):
    check(fn, [(3, 4), (3, 4)], dtype=dtype)
    check(fn, [(3, 4), (3, 4)], dtype=dtype, noncontig=True)


def test_scatter_3d_and_broadcasting():
    idx = np.array([[[1, 0]], [[0, 1]]])                            # (2, 1, 2)
    check(lambda x, s: x.scatter(1, like(x, idx), s), [(2, 3, 2), (2, 1, 2)])
    check(lambda x, s: x.scatter_add(2, like(x, idx % 2), s), [(2, 3, 2), (2, 1, 2)])
    check(lambda x, s: x.index_add(1, like(x, [2, 2]), s), [(2, 3, 2), (2, 2, 2)])
    check(lambda x: x.take_along_dim(like(x, idx), 2), [(1, 3, 2)])
    check(lambda x, m: x.masked_select(m > 0), [(2, 1, 3), (4, 3)])
    check(lambda x, s: x.masked_scatter(like(x, np.array([[True], [False]])), s),
          [(2, 3), (7,)])


def test_scatter_src_larger_than_index():
    # Only the part of src that index covers is used (torch's own backward fails here, so
    # forward values are compared and the gradient is checked by hand).
    check(lambda x, s: x.scatter(0, like(x, PERM[:2, :3]), s), [(3, 4), (3, 4)], grad=False)
    check(lambda x, s: x.scatter_add(1, like(x, REP[:2, :3]), s), [(3, 4), (3, 4)], grad=False)
    x, s = mytorch.ones(3, 4, requires_grad=True), mytorch.ones(3, 4, requires_grad=True)
    x.scatter(0, mytorch.tensor(PERM[:2, :3]), s).sum().backward()
    assert s.grad.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    assert x.grad.sum().item() == 6


def test_size_one_and_0d():
    check(lambda x, s: x.scatter(0, like(x, [[0]]), s), [(1, 1), (1, 1)])
    check(lambda x, s: x.index_add(0, like(x, [0]), s), [(), ()])
    check(lambda x: x.index_fill(0, like(x, [0]), 2.0), [()])
    check(lambda x: x.take_along_dim(like(x, [[0, 0]]), 1), [(1, 1)])


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_values(reduce):
    rng = np.random.default_rng(0)
    x, s = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4))
    for idx in (REP, PERM):
        t = torch.from_numpy(x).scatter(0, torch.from_numpy(idx), torch.from_numpy(s),
                                        reduce=reduce)
        m = mytorch.tensor(x).scatter(0, mytorch.tensor(idx), mytorch.tensor(s), reduce=reduce)
        assert_same(m, t)
        t = torch.from_numpy(x).scatter(1, torch.from_numpy(idx), 3.0, reduce=reduce)
        m = mytorch.tensor(x).scatter(1, mytorch.tensor(idx), 3.0, reduce=reduce)
        assert_same(m, t)
    ti = torch.arange(6).reshape(2, 3).scatter(1, torch.tensor([[2, 2]]), 5, reduce=reduce)
    mi = mytorch.arange(6).reshape(2, 3).scatter(1, mytorch.tensor([[2, 2]]), 5, reduce=reduce)
    assert_same(mi, ti)


def test_scatter_reduce_has_no_gradient():
    x = mytorch.ones(3, 4, requires_grad=True)
    y = (x * 1).scatter(0, mytorch.tensor(REP), 2.0, reduce="add").sum()
    with pytest.raises(RuntimeError, match="reduce"):
        y.backward()


def test_in_place_forms():
    rng = np.random.default_rng(0)
    x, s = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4))
    cases = [
        lambda t, s: t.scatter_(0, lib(t).tensor(PERM), s),
        lambda t, s: t.scatter_(1, lib(t).tensor(REP), 2.0, reduce="multiply"),
        lambda t, s: t.scatter_(1, lib(t).tensor(REP), s, reduce="add"),
        lambda t, s: t.scatter_add_(0, lib(t).tensor(REP), s),
        lambda t, s: t.index_add_(0, lib(t).tensor([1, 1, 0]), s, alpha=3),
        lambda t, s: t.index_fill_(1, lib(t).tensor([2]), -1.0),
        lambda t, s: t.masked_scatter_(lib(t).tensor(PERM > 0), s),
    ]
    for fn in cases:
        t, m = torch.from_numpy(x.copy()), mytorch.tensor(x.copy())
        rt, rm = fn(t, torch.from_numpy(s)), fn(m, mytorch.tensor(s))
        assert rm is m and rt is t
        assert_same(m, t)


def test_in_place_forms_with_grad():
    def fn(x, s):
        y = x * 1.0
        y.scatter_(0, like(x, PERM), s)
        y.index_add_(1, like(x, [0, 0, 3, 1]), s, alpha=0.5)
        y.index_fill_(0, like(x, [1]), 0.25)
        y.masked_scatter_(like(x, REP == 0), s)
        y.scatter_add_(1, like(x, REP), s)
        return y
    check(fn, [(3, 4), (3, 4)], dtype=np.float64)


def test_integer_inputs():
    x = [[1, 2, 3], [4, 5, 6]]
    for name, args in [("scatter", (1, [[2, 0]], [[10, 20]])), ("index_add", (0, [1, 1], x)),
                       ("index_fill", (1, [0], 9)), ("masked_select", ([[True, False, True],
                                                                          [False] * 3],)),
                       ("take_along_dim", ([[0, 2]], 1))]:
        def conv(lib_, a):
            return lib_.tensor(a) if isinstance(a, list) else a
        t = getattr(torch.tensor(x), name)(*[conv(torch, a) for a in args])
        m = getattr(mytorch.tensor(x), name)(*[conv(mytorch, a) for a in args])
        assert_same(m, t)


@pytest.mark.parametrize("data", [
    [3, 1, 2, 1, 3, 3], [[2, 1], [2, 1], [0, 5]], [5], [], [[1.5, -0.5], [1.5, 2.0]],
    [[[1, 0], [0, 1]], [[1, 0], [1, 1]]]])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_unique(data, dim):
    t, m = torch.tensor(data), mytorch.tensor(data)
    if dim is not None and t.ndim == 1 and t.numel() == 0:
        return  # torch and numpy disagree on the empty case with a dim
    for flags in [(False, False), (True, False), (False, True), (True, True)]:
        kw = dict(sorted=True, return_inverse=flags[0], return_counts=flags[1], dim=dim)
        assert_same(m.unique(**kw), t.unique(**kw))
        assert_same(mytorch.unique(m, **kw), torch.unique(t, **kw))


@pytest.mark.parametrize("weights", [None, "float32", "float64", "int64"])
@pytest.mark.parametrize("data,minlength", [([0, 1, 1, 3, 3, 3], 0), ([2, 0], 6), ([], 0),
                                             ([], 3), ([4], 2)])
def test_bincount(data, minlength, weights):
    t, m = torch.tensor(data, dtype=torch.int64), mytorch.tensor(data, dtype=mytorch.int64)
    if weights is None:
        assert_same(m.bincount(minlength=minlength), t.bincount(minlength=minlength))
        assert_same(mytorch.bincount(m, None, minlength), torch.bincount(t, None, minlength))
        return
    w = np.arange(1, len(data) + 1).astype(weights) * (1.5 if weights != "int64" else 1)
    w = w.astype(weights)
    assert_same(m.bincount(mytorch.tensor(w), minlength),
                t.bincount(torch.from_numpy(w), minlength))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bins,lo,hi", [(4, 0, 4), (10, 0, 0), (3, -1, 1), (7, 0.1, 0.9),
                                        (1, 0, 0), (100, -2, 2)])
def test_histc(bins, lo, hi, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-2, 2, 200), [lo, hi, 0.5, 4.0, -1.0]]).astype(dtype)
    assert_same(mytorch.tensor(x).histc(bins, lo, hi), torch.from_numpy(x).histc(bins, lo, hi))
    assert_same(mytorch.histc(mytorch.tensor(x), bins=bins, min=lo, max=hi),
         torch.histc(torch.from_numpy(x), bins=bins, min=lo, max=hi))


def test_histc_constant_and_empty():
    for data in ([1.0, 1.0, 1.0], [], [-3.0]):
        assert_same(mytorch.tensor(data).histc(4), torch.tensor(data).histc(4))


@pytest.mark.parametrize("data", [[[0, 1], [2, 0]], [0.0, 1.5, 0.0], 3, 0, [], [[[True]]]])
def test_argwhere(data):
    assert_same(mytorch.tensor(data).argwhere(), torch.tensor(data).argwhere())
    assert_same(mytorch.argwhere(mytorch.tensor(data)), torch.argwhere(torch.tensor(data)))


SEQ = [1.0, 2.0, 2.0, 3.0, 5.0]


@pytest.mark.parametrize("seq,values", [
    (SEQ, [[0.0, 2.0, 2.5], [5.0, 6.0, 1.0]]),
    (SEQ, 2.0),
    (SEQ, [2.0]),
    ([[1.0, 3.0, 5.0], [0.0, 0.0, 4.0]], [[3.0, 0.0, 9.0, 1.0], [0.0, 4.0, 4.0, -1.0]]),
    ([[[1, 3]], [[2, 2]]], [[[3, 0, 2]], [[2, 1, 3]]]),
    ([1, 2, 3], [1.5, 2.5]),
    ([], [1.0]),
])
@pytest.mark.parametrize("kw", [{}, {"right": True}, {"side": "right"}, {"side": "left"},
                                {"out_int32": True}, {"right": True, "side": "right"}])
def test_searchsorted(seq, values, kw):
    tv = torch.tensor(values) if isinstance(values, list) else values
    mv = mytorch.tensor(values) if isinstance(values, list) else values
    assert_same(mytorch.searchsorted(mytorch.tensor(seq), mv, **kw),
         torch.searchsorted(torch.tensor(seq), tv, **kw))


def test_searchsorted_sorter():
    seq = [3.0, 1.0, 2.0, 5.0]
    srt = np.argsort(seq)
    for right in (False, True):
        assert_same(mytorch.searchsorted(mytorch.tensor(seq), mytorch.tensor([2.0, 4.0]),
                                         right=right, sorter=mytorch.tensor(srt)),
                    torch.searchsorted(torch.tensor(seq), torch.tensor([2.0, 4.0]), right=right,
                                       sorter=torch.from_numpy(srt)))


@pytest.mark.parametrize("values", [[[1.5, 2.0, 0.0], [9.0, 3.0, 1.0]], [], 2.0, 3])
@pytest.mark.parametrize("kw", [{}, {"right": True}, {"out_int32": True}])
def test_bucketize(values, kw):
    tv = torch.tensor(values) if isinstance(values, list) else values
    mv = mytorch.tensor(values) if isinstance(values, list) else values
    bounds = [1.0, 2.0, 3.0]
    assert_same(mytorch.bucketize(mv, mytorch.tensor(bounds), **kw),
         torch.bucketize(tv, torch.tensor(bounds), **kw))


def test_results_cut_from_graph():
    x = mytorch.tensor([1.0, 2.0, 2.0], requires_grad=True)
    for out in (x.unique(), x.histc(2), x.argwhere(),
                mytorch.searchsorted(x.detach(), x.detach())):
        assert not out.requires_grad


@pytest.mark.parametrize("call,fragment", [
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([[3]]), 1.0), "out of range"),
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([0]), 1.0), "same number of dims"),
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([[0, 1, 1, 1, 1]]), 1.0), "larger"),
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([[0.0]]), 1.0), "integer"),
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([[0, 1]]), mytorch.ones(1, 1)),
     "src shape"),
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([[0]]), mytorch.ones(1, 1).double()),
     "dtype"),
    (lambda: mytorch.ones(3, 4).scatter(0, mytorch.tensor([[0]]), 1.0, reduce="max"), "reduce"),
    (lambda: mytorch.ones(3, 4).index_add(0, mytorch.tensor([0]), mytorch.ones(2, 4)),
     "(2, 4)"),
    (lambda: mytorch.ones(3, 4).index_add(0, mytorch.tensor([5]), mytorch.ones(1, 4)),
     "out of range"),
    (lambda: mytorch.ones(3, 4).index_add(0, mytorch.tensor([0]), mytorch.ones(1, 4).double()),
     "dtype"),
    (lambda: mytorch.ones(3, 4).index_fill(1, mytorch.tensor([4]), 0.0), "out of range"),
    (lambda: mytorch.ones(3, 4).index_fill(1, mytorch.tensor([0]), mytorch.ones(2)), "0-d"),
    (lambda: mytorch.ones(3, 4).masked_select(mytorch.ones(3, 4)), "bool"),
    (lambda: mytorch.ones(3, 4).masked_select(mytorch.ones(3, dtype=mytorch.bool)), "(3, 4)"),
    (lambda: mytorch.ones(3).masked_scatter(mytorch.ones(3, dtype=mytorch.bool),
                                            mytorch.ones(2)), "only 2"),
    (lambda: mytorch.ones(3, 4).take_along_dim(mytorch.tensor([[0, 0]]), 0), "broadcast"),
    (lambda: mytorch.ones(3, 4).take_along_dim(mytorch.tensor([0]), 0), "same number"),
    (lambda: mytorch.ones(3, 4).take_along_dim(mytorch.tensor([[7]]), 1), "out of range"),
    (lambda: mytorch.tensor([[1, 2]]).bincount(), "1-D"),
    (lambda: mytorch.tensor([1, -2]).bincount(), "non-negative"),
    (lambda: mytorch.tensor([1, 2]).bincount(mytorch.ones(3)), "weights"),
    (lambda: mytorch.tensor([1, 2]).histc(), "floating"),
    (lambda: mytorch.ones(3).histc(4, 2, 1), "min"),
    (lambda: mytorch.searchsorted(mytorch.ones(2, 3), mytorch.ones(3, 3)), "(2, 3)"),
    (lambda: mytorch.searchsorted(mytorch.ones(3), mytorch.ones(3), right=True, side="left"),
     "contradict"),
    (lambda: mytorch.bucketize(mytorch.ones(3), mytorch.ones(2, 2)), "1-D"),
])
def test_bad_input(call, fragment):
    with pytest.raises((RuntimeError, IndexError, TypeError), match=re.escape(fragment)):
        call()
