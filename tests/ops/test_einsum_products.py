"""More linear algebra against PyTorch: einsum (products, traces, diagonals, ellipses,
implicit outputs, broadcasting), dot, cross, addmm, baddbmm, mm/bmm/outer methods, cdist."""
import re

import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check


def lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),                     # implicit output
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ii", [(4, 4)]),                                # trace
    ("ii->i", [(4, 4)]),                             # diagonal
    ("iji->j", [(3, 2, 3)]),
    ("ii,ij->j", [(3, 3), (3, 4)]),
    ("ij,ij,ij->i", [(3, 4), (3, 4), (3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ijk,k", [(2, 3, 4), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(3, 4), (2, 4, 5)]),            # ellipsis of different lengths
    ("...ij,...jk", [(1, 3, 4), (2, 4, 5)]),         # broadcast ellipsis
    ("i...->...", [(3, 2, 4)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("b...,b->...", [(2, 3, 4), (2,)]),
    ("ij,ij->ij", [(1, 4), (3, 4)]),                 # size-1 labelled dim broadcasts
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),  # bilinear
    ("Ba,aB->", [(2, 3), (3, 2)]),                   # upper-case letters
    ("ab,Ab->aA", [(3, 2), (4, 2)]),
    (" i j , j k -> i k ", [(2, 3), (3, 2)]),        # spaces
    ("i,->i", [(3,), ()]),                           # a 0-d operand
    ("ij,jk->ik", [(3, 1), (1, 5)]),
    ("ij,jk->ik", [(3, 0), (0, 5)]),                 # empty contraction
])
def test_einsum(eq, shapes, dtype):
    def fn(*xs):
        return lib(xs[0]).einsum(eq, *xs)
    check(fn, shapes, dtype=dtype)
    check(fn, shapes, dtype=dtype, noncontig=True)


def test_einsum_list_operands_same_tensor_twice_and_ints():
    check(lambda a, b: lib(a).einsum("ij,jk->ik", [a, b]), [(3, 4), (4, 2)])
    check(lambda a: lib(a).einsum("ij,ij->", a, a), [(3, 4)])
    check(lambda a: lib(a).einsum("ij,jk->ik", a, a.t()), [(3, 4)])
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    m = mytorch.einsum("ij,jk->ik", mytorch.tensor(a), mytorch.tensor(b))
    t = torch.einsum("ij,jk->ik", torch.tensor(a), torch.tensor(b))
    assert m.tolist() == t.tolist() and str(m.dtype) == "int64"


def test_einsum_matches_matmul_on_a_large_case():
    check(lambda a, b: lib(a).einsum("bhqd,bhkd->bhqk", a, b), [(2, 3, 16, 8), (2, 3, 12, 8)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_and_matrix_methods(dtype):
    check(lambda a, b: a.dot(b), [(5,), (5,)], dtype=dtype)
    check(lambda a, b: lib(a).dot(a, b), [(1,), (1,)], dtype=dtype)
    check(lambda a, b: a.mm(b), [(3, 4), (4, 2)], dtype=dtype, noncontig=True)
    check(lambda a, b: a.bmm(b), [(2, 3, 4), (2, 4, 1)], dtype=dtype, noncontig=True)
    check(lambda a, b: a.outer(b), [(3,), (4,)], dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: a.cross(b, dim=1), [(4, 3), (4, 3)]),
    (lambda a, b: lib(a).cross(a, b, dim=0), [(3, 2), (3, 2)]),
    (lambda a, b: lib(a).cross(a, b, dim=-1), [(2, 4, 3), (2, 4, 3)]),
    (lambda a, b: lib(a).cross(a, b, dim=-1), [(1, 3), (5, 3)]),       # broadcast
    (lambda a, b: lib(a).linalg.cross(a, b) if lib(a) is torch else mytorch.cross(a, b, -1),
     [(3, 3), (3, 3)]),
    (lambda a, b: lib(a).cross(a, b, 2), [(2, 2, 3), (2, 2, 3)]),
])
def test_cross(fn, shapes, dtype):
    check(fn, shapes, dtype=dtype)
    check(fn, shapes, dtype=dtype, noncontig=True)


@pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim arg")
def test_cross_default_dim_is_the_first_of_size_3():
    check(lambda a, b: lib(a).cross(a, b), [(2, 3, 3), (2, 3, 3)])
    check(lambda a, b: a.cross(b), [(3, 4), (3, 4)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"beta": 0.5}, {"alpha": -2.0}, {"beta": 2, "alpha": 0.25}])
@pytest.mark.parametrize("in_shape", [(3, 5), (5,), (1, 5), (3, 1), ()])
def test_addmm(in_shape, kw, dtype):
    check(lambda c, a, b: lib(a).addmm(c, a, b, **kw), [in_shape, (3, 4), (4, 5)], dtype=dtype)
    check(lambda c, a, b: c.addmm(a, b, **kw) if c.ndim == 2 and c.shape[0] == 3 else
          lib(a).addmm(c, a, b, **kw), [in_shape, (3, 4), (4, 5)], dtype=dtype, noncontig=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"beta": 0.5, "alpha": 3}])
@pytest.mark.parametrize("in_shape", [(2, 3, 5), (3, 5), (2, 1, 5), ()])
def test_baddbmm(in_shape, kw, dtype):
    check(lambda c, a, b: lib(a).baddbmm(c, a, b, **kw), [in_shape, (2, 3, 4), (2, 4, 5)],
          dtype=dtype)
    check(lambda c, a, b: lib(a).baddbmm(c, a, b, **kw), [in_shape, (2, 3, 4), (2, 4, 5)],
          dtype=dtype, noncontig=True)


def test_beta_zero_ignores_nan_input():
    c = np.full((3, 5), np.nan, np.float32)
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    m = mytorch.addmm(mytorch.tensor(c), mytorch.tensor(a), mytorch.tensor(b), beta=0)
    t = torch.addmm(torch.from_numpy(c), torch.from_numpy(a), torch.from_numpy(b), beta=0)
    np.testing.assert_allclose(m.numpy(), t.numpy())
    c3 = np.full((2, 3, 5), np.nan, np.float32)
    m = mytorch.baddbmm(mytorch.tensor(c3), mytorch.ones(2, 3, 4), mytorch.ones(2, 4, 5), beta=0)
    assert not m.isnan().any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf"), 0.0])
@pytest.mark.parametrize("shapes", [
    [(4, 3), (5, 3)],
    [(2, 4, 3), (2, 6, 3)],
    [(2, 1, 4, 3), (3, 5, 3)],            # batch dims broadcast
    [(1, 3), (1, 3)],
    [(30, 2), (4, 2)],                    # P > 25: the matmul path for p=2
])
def test_cdist(shapes, p, dtype):
    def fn(a, b):
        return lib(a).cdist(a, b, p=p)
    check(fn, shapes, dtype=dtype)
    check(fn, shapes, dtype=dtype, noncontig=True)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist_compute_modes(mode):
    check(lambda a, b: lib(a).cdist(a, b, compute_mode=mode), [(6, 3), (4, 3)],
          dtype=np.float64)


def test_cdist_zero_distance_has_zero_gradient():
    x = np.array([[0.0, 1.0], [2.0, 2.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    for p in (2.0, 1.0, 3.0, float("inf")):
        check(lambda a, b: lib(a).cdist(a, b, p=p), inputs=[x, y])


@pytest.mark.parametrize("call,fragment", [
    (lambda: mytorch.einsum("ij,jk->ik", mytorch.ones(2, 3), mytorch.ones(4, 5)),
     "subscript j has size 4"),
    (lambda: mytorch.einsum("ij->ii", mytorch.ones(2, 2)), "more than once"),
    (lambda: mytorch.einsum("ij->k", mytorch.ones(2, 2)), "does not appear"),
    (lambda: mytorch.einsum("ij,j", mytorch.ones(2, 2)), "2 operand terms"),
    (lambda: mytorch.einsum("ijk", mytorch.ones(2, 2)), "has 3 subscripts"),
    (lambda: mytorch.einsum("ii", mytorch.ones(2, 3)), "sizes don't match"),
    (lambda: mytorch.einsum("i1", mytorch.ones(2, 3)), "invalid subscript"),
    (lambda: mytorch.einsum("i..j", mytorch.ones(2, 3)), "invalid term"),
    (lambda: mytorch.einsum("i,i", mytorch.ones(2), mytorch.ones(2).double()), "dtype"),
    (lambda: mytorch.einsum("i"), "at least one operand"),
    (lambda: mytorch.ones(2, 2).dot(mytorch.ones(2)), "1D"),
    (lambda: mytorch.ones(2).dot(mytorch.ones(3)), "inconsistent"),
    (lambda: mytorch.ones(2).dot(mytorch.ones(2).double()), "dtype"),
    (lambda: mytorch.ones(2, 4).cross(mytorch.ones(2, 4)), "size 3"),
    (lambda: mytorch.ones(2, 3).cross(mytorch.ones(2, 3), dim=0), "size 3"),
    (lambda: mytorch.ones(2, 3).cross(mytorch.ones(4, 3)), "broadcast"),
    (lambda: mytorch.ones(3).cross(mytorch.ones(3).double()), "dtype"),
    (lambda: mytorch.addmm(mytorch.ones(3), mytorch.ones(2, 3), mytorch.ones(2, 3)),
     "(2, 3)"),
    (lambda: mytorch.addmm(mytorch.ones(4, 3), mytorch.ones(2, 3), mytorch.ones(3, 3)),
     "(4, 3)"),
    (lambda: mytorch.addmm(mytorch.ones(3), mytorch.ones(2, 3), mytorch.ones(3, 3).double()),
     "dtype"),
    (lambda: mytorch.baddbmm(mytorch.ones(3), mytorch.ones(2, 2, 3), mytorch.ones(3, 3, 3)),
     "(2, 2, 3)"),
    (lambda: mytorch.cdist(mytorch.ones(3), mytorch.ones(2, 3)), "(3,)"),
    (lambda: mytorch.cdist(mytorch.ones(2, 3), mytorch.ones(2, 4)), "(2, 4)"),
    (lambda: mytorch.cdist(mytorch.ones(2, 2, 3), mytorch.ones(3, 2, 3)), "batch"),
    (lambda: mytorch.cdist(mytorch.ones(2, 3), mytorch.ones(2, 3), p=-1), "p must"),
    (lambda: mytorch.cdist(mytorch.ones(2, 3), mytorch.ones(2, 3).double()), "dtype"),
    (lambda: mytorch.cdist(mytorch.ones(2, 3), mytorch.ones(2, 3), compute_mode="x"),
     "compute_mode"),
])
def test_bad_input(call, fragment):
    with pytest.raises((RuntimeError, ValueError), match=re.escape(fragment)):
        call()
