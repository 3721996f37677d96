"""More shape ops against PyTorch: roll, repeat_interleave, diag/diagonal/diag_embed/trace,
tile, rot90, movedim, select, broadcast_to/broadcast_tensors, meshgrid, hstack/vstack, unbind."""
import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check


def lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


def like(x, arr):
    """An integer array as a tensor of x's library (and device)."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(np.asarray(arr))
    return mytorch.tensor(np.asarray(arr), device=x.device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [
    lambda x: x.roll(1),
    lambda x: x.roll(-7),
    lambda x: x.roll(2, 1),
    lambda x: x.roll((1, -1), (0, -1)),
    lambda x: x.roll((1, 1), (2, 2)),
    lambda x: lib(x).roll(x, 5, dims=-2),
    lambda x: x.repeat_interleave(2),
    lambda x: x.repeat_interleave(3, dim=1),
    lambda x: x.repeat_interleave(like(x, [1, 0, 2]), dim=-2),
    lambda x: lib(x).repeat_interleave(x, like(x, [2]), dim=0),
    lambda x: x.diagonal(),
    lambda x: x.diagonal(1),
    lambda x: x.diagonal(-1, 2, 0),
    lambda x: x.diagonal(offset=2, dim1=-1, dim2=-2),
    lambda x: lib(x).diagonal(x, 5, 1, 2),              # past the edge: empty
    lambda x: x.diag_embed(),
    lambda x: x.diag_embed(1, 0, 2),
    lambda x: x.diag_embed(-2, dim1=-1, dim2=1),
    lambda x: x.tile(2),
    lambda x: x.tile((2, 1, 3)),
    lambda x: x.tile(2, 1, 1, 2),
    lambda x: x.rot90(),
    lambda x: x.rot90(2),
    lambda x: x.rot90(3, (1, 2)),
    lambda x: x.rot90(-1, (2, 0)),
    lambda x: x.rot90(4),
    lambda x: x.movedim(0, -1),
    lambda x: x.movedim((0, 1), (2, 0)),
    lambda x: lib(x).movedim(x, -1, 0),
    lambda x: lib(x).moveaxis(x, (2, 0), (0, 1)),
    lambda x: x.swapdims(0, 2),
    lambda x: lib(x).swapdims(x, -1, 0),
    lambda x: lib(x).swapaxes(x, 1, 2),
    lambda x: x.select(1, 2),
    lambda x: x.select(-1, -1),
    lambda x: lib(x).select(x, 0, 1),
    lambda x: lib(x).broadcast_to(x[:, :1], (5, 3, 2, 4)),
    lambda x: lib(x).unbind(x, 1),
    lambda x: lib(x).unbind(x, -1),
], ids=lambda f: str(f.__code__.co_firstlineno))
def test_shape_ops_3d(fn, dtype):
    check(fn, [(3, 3, 4)], dtype=dtype)
    check(fn, [(3, 3, 4)], dtype=dtype, noncontig=True)


@pytest.mark.parametrize("fn", [
    lambda x: lib(x).diag(x),
    lambda x: lib(x).diag(x, 1),
    lambda x: lib(x).diag(x, -2),
    lambda x: x.diag(4),
    lambda x: lib(x).trace(x),
    lambda x: x.trace(),
    lambda x: x.roll(3),
    lambda x: x.tile((2, 2)),
    lambda x: x.rot90(1, [1, 0]),
], ids=lambda f: str(f.__code__.co_firstlineno))
@pytest.mark.parametrize("shape", [(4,), (3, 4), (4, 3), (1, 1), (1,)])
def test_matrix_and_vector(fn, shape):
    try:
        fn(torch.zeros(shape))
    except RuntimeError:  # torch refuses (e.g. trace of a vector): so must we
        with pytest.raises(RuntimeError):
            fn(mytorch.zeros(shape))
        return
    check(fn, [shape], dtype=np.float64)
    check(fn, [shape], noncontig=True)


def test_size_one_dims_and_0d():
    check(lambda x: x.roll(1, 1), [(2, 1, 3)])
    check(lambda x: x.roll(1), [()])
    check(lambda x: x.repeat_interleave(3), [()])
    check(lambda x: x.repeat_interleave(2, dim=1), [(2, 1, 3)])
    check(lambda x: x.diagonal(0, 1, 2), [(2, 1, 3)])
    check(lambda x: x.tile(3), [()])
    check(lambda x: x.movedim(1, 0), [(2, 1, 3)])
    check(lambda x: x.select(1, 0), [(2, 1, 3)])


def test_repeat_interleave_counts_only_and_ints():
    for counts in ([1, 2, 0, 3], [0], []):
        t = torch.repeat_interleave(torch.tensor(counts, dtype=torch.int64))
        m = mytorch.repeat_interleave(mytorch.tensor(counts, dtype=mytorch.int64))
        assert m.tolist() == t.tolist() and str(m.dtype) == "int64"
    x = [[1, 2], [3, 4]]
    t = torch.tensor(x).repeat_interleave(torch.tensor([1, 2]), dim=0)
    m = mytorch.tensor(x).repeat_interleave(mytorch.tensor([1, 2]), dim=0)
    assert m.tolist() == t.tolist() and m.dtype == mytorch.int64
    t = torch.tensor(x, dtype=torch.int32).repeat_interleave(2)
    m = mytorch.tensor(x, dtype=mytorch.int32).repeat_interleave(2)
    assert m.tolist() == t.tolist() and m.dtype == mytorch.int32


@pytest.mark.parametrize("shapes", [
    [(3,), (2, 3)], [(2, 1), (1, 4)], [(1,), (3, 1, 2), (2,)], [(), (2, 2)], [(4,)]])
def test_broadcast_tensors(shapes):
    check(lambda *xs: lib(xs[0]).broadcast_tensors(*xs), shapes)
    assert mytorch.broadcast_shapes(*shapes) == tuple(torch.broadcast_shapes(*shapes))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize("shapes", [[(3,), (4,)], [(2,), (3,), (4,)], [(5,)], [(), (3,)],
                                    [(1,), (2,)]])
def test_meshgrid(shapes, indexing):
    check(lambda *xs: lib(xs[0]).meshgrid(*xs, indexing=indexing), shapes, dtype=np.float64)
    check(lambda *xs: lib(xs[0]).meshgrid(list(xs), indexing=indexing), shapes)


@pytest.mark.parametrize("op", ["hstack", "vstack", "row_stack"])
@pytest.mark.parametrize("shapes", [[(3,), (2,)], [(2, 3), (2, 1)], [(), ()], [(3,), ()]])
def test_hstack_vstack(op, shapes):
    def fn(*xs):
        return getattr(lib(xs[0]), op)(list(xs))
    try:
        fn(*[torch.zeros(s) for s in shapes])
    except RuntimeError:
        with pytest.raises(RuntimeError):
            fn(*[mytorch.zeros(s) for s in shapes])
        return
    check(fn, shapes)


def test_vstack_of_rows_and_matrices():
    check(lambda a, b: lib(a).vstack([a, b]), [(3,), (2, 3)])
    check(lambda a, b: lib(a).hstack((a, b)), [(2, 3, 1), (2, 2, 1)], noncontig=True)


def test_integer_results_keep_dtype():
    for name, args in [("roll", (1,)), ("tile", ((2,),)), ("rot90", ()), ("diagonal", ()),
                       ("movedim", (0, 1)), ("select", (0, 1)), ("diag_embed", ())]:
        t = getattr(torch.arange(6).reshape(2, 3), name)(*args)
        m = getattr(mytorch.arange(6).reshape(2, 3), name)(*args)
        assert m.tolist() == t.tolist() and str(m.dtype) == "int64", name
    assert mytorch.arange(9).reshape(3, 3).trace().item() == 12


def test_diagonal_is_a_view_that_writes_through():
    t, m = torch.zeros(3, 4), mytorch.zeros(3, 4)
    t.diagonal(1).fill_(2.0)
    m.diagonal(1).fill_(2.0)
    t.diagonal().add_(1.0)
    m.diagonal().add_(1.0)
    assert m.tolist() == t.tolist()


def test_meshgrid_matches_numpy_values():
    x, y = mytorch.tensor([1, 2, 3]), mytorch.tensor([4, 5])
    gx, gy = mytorch.meshgrid(x, y, indexing="xy")
    nx, ny = np.meshgrid([1, 2, 3], [4, 5], indexing="xy")
    assert gx.tolist() == nx.tolist() and gy.tolist() == ny.tolist()


@pytest.mark.parametrize("call,fragment", [
    (lambda: mytorch.ones(2, 3).roll((1, 2), (0,)), "roll"),
    (lambda: mytorch.ones(2, 3).roll((1, 2)), "roll"),
    (lambda: mytorch.ones(2, 3).roll(1, 2), "roll"),
    (lambda: mytorch.ones(2, 3).repeat_interleave(mytorch.tensor([1, 2]), dim=1), "(2, 3)"),
    (lambda: mytorch.ones(2, 3).repeat_interleave(-1), "negative"),
    (lambda: mytorch.ones(2, 3).repeat_interleave(mytorch.tensor([1.0, 2.0]), dim=0), "int"),
    (lambda: mytorch.ones(2, 3, 4).diag(), "(2, 3, 4)"),
    (lambda: mytorch.ones(3).diagonal(), "diagonal"),
    (lambda: mytorch.ones(2, 3).diagonal(0, 1, -1), "diagonal"),
    (lambda: mytorch.ones(3).trace(), "trace"),
    (lambda: mytorch.ones(3).rot90(), "rot90"),
    (lambda: mytorch.ones(2, 3).rot90(1, (0, 0)), "rot90"),
    (lambda: mytorch.ones(2, 3).rot90(1, (0, 1, 2)), "rot90"),
    (lambda: mytorch.ones(2, 3).movedim((0, 1), 0), "movedim"),
    (lambda: mytorch.ones(2, 3).movedim((0, 0), (0, 1)), "movedim"),
    (lambda: mytorch.ones(2, 3).movedim(2, 0), "movedim"),
    (lambda: mytorch.ones(2, 3).select(1, 3), "select"),
    (lambda: mytorch.ones(2, 3).select(2, 0), "select"),
    (lambda: mytorch.broadcast_tensors(mytorch.ones(2, 3), mytorch.ones(4)), "(2, 3)"),
    (lambda: mytorch.broadcast_shapes((2, 3), (4,)), "broadcast_shapes"),
    (lambda: mytorch.meshgrid(mytorch.ones(2, 2), mytorch.ones(2)), "meshgrid"),
    (lambda: mytorch.meshgrid(mytorch.ones(2), mytorch.ones(2, dtype=mytorch.float64)),
     "meshgrid"),
    (lambda: mytorch.vstack([mytorch.ones(2, 3), mytorch.ones(2, 4)]), "cat"),
])
def test_bad_input(call, fragment):
    with pytest.raises((RuntimeError, IndexError, ValueError), match=__import__("re").escape(
            fragment)):
        call()


def test_meshgrid_bad_indexing():
    with pytest.raises(ValueError, match="indexing"):
        mytorch.meshgrid(mytorch.ones(2), indexing="yx")
