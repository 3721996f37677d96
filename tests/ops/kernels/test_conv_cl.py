"""im2col + GEMM with channels-last columns (mytorch.ops.conv_cl, the "im2colcl" algorithm):
the numba im2col / col2im against their array-module references (odd sizes, H != W, padding
0/1/2 and asymmetric, strides 1/2/3 and mixed, dilation, 1x1 and non-square kernels, float32
and float64), col2im as im2col's exact adjoint, the drivers against mytorch.ops.conv's im2col
(bias, no bias, kept and rebuilt columns, several batch chunks, input or weight gradient
alone) and through the references (the CuPy path), and the conv layers forced onto it against
PyTorch (forward and backward) with a float64 gradcheck."""
import numpy as np
import pytest
import torch.nn.functional as TF

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from mytorch.ops import conv as C
from mytorch.ops import conv_cl as CL
from mytorch.ops.window import geom
from tests.helpers import check


@pytest.fixture
def algo(request, monkeypatch):
    """Force the conv algorithm named by the test's parameter."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", request.param)
    return request.param


# (x shape, kernel, stride, ((top, bottom), (left, right)), dilation)
GEOMS = [((2, 3, 8, 8), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
         ((3, 2, 7, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
         ((2, 4, 6, 5), (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
         ((1, 3, 5, 6), (3, 3), (2, 2), ((2, 0), (0, 1)), (1, 1)),
         ((2, 5, 9, 7), (2, 3), (2, 1), ((0, 1), (2, 0)), (1, 1)),
         ((1, 2, 11, 10), (3, 3), (3, 2), ((2, 2), (2, 2)), (2, 2)),
         ((2, 3, 10, 8), (3, 2), (1, 2), ((1, 1), (0, 0)), (1, 3)),
         ((2, 16, 14, 14), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
         ((3, 1, 4, 7), (1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1)),
         ((1, 2, 1, 9), (1, 3), (1, 2), ((0, 0), (1, 1)), (1, 1))]  # 1-D as height 1


def _geom(xs, kernel, stride, pads, dilation):
    return geom("test", xs[2:], kernel, stride, pads, dilation)


def _cols_shape(xs, g):
    return (xs[0], g.Ho, g.Wo, g.kh, g.kw, xs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GEOMS, ids=range(len(GEOMS)))
def test_kernels_match_reference(case, dtype):
    rng = np.random.default_rng(0)
    g = _geom(*case)
    xs = case[0]
    x = rng.standard_normal(xs).astype(dtype)
    got = CL.im2col(x, g, np.full(_cols_shape(xs, g), np.nan, dtype))
    want = CL.im2col_reference(x, g, np.empty_like(got))
    np.testing.assert_array_equal(got, want)  # copies: exact

    cols = rng.standard_normal(_cols_shape(xs, g)).astype(dtype)
    got = CL.col2im(cols, g, np.full(xs, np.nan, dtype))  # overwritten, not added to
    want = CL.col2im_reference(cols, g, np.full(xs, np.nan, dtype))
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-13}
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("case", GEOMS, ids=range(len(GEOMS)))
def test_col2im_is_the_adjoint_of_im2col(case):
    rng = np.random.default_rng(1)
    g = _geom(*case)
    xs = case[0]
    x = rng.standard_normal(xs)
    cols = rng.standard_normal(_cols_shape(xs, g))
    lhs = np.vdot(CL.im2col(x, g, np.empty_like(cols)), cols)
    np.testing.assert_allclose(lhs, np.vdot(x, CL.col2im(cols, g, np.empty(xs))), rtol=1e-12)


def test_applies_to_2d_one_group():
    g = _geom(*GEOMS[0])
    assert CL.applies(g, 1) and not CL.applies(g, 2)
    g3 = geom("t", (4, 4, 4), (3, 3, 3), (1, 1, 1), ((1, 1),) * 3, (1, 1, 1))
    assert not CL.applies(g3, 1)


def _operands(case, o, seed):
    rng = np.random.default_rng(seed)
    g = _geom(*case)
    xs = case[0]
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((o, xs[1]) + g.kernel).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    gy = rng.standard_normal((xs[0], o) + g.out).astype(np.float32)
    return g, x, w, b, gy


@pytest.mark.parametrize("keep_bytes", [0, 1 << 30])
@pytest.mark.parametrize("chunk_elems", [1, 1 << 30])
@pytest.mark.parametrize("case", GEOMS, ids=range(len(GEOMS)))
def test_drivers_match_im2col(case, chunk_elems, keep_bytes, monkeypatch):
    """Forward (with and without bias) and both gradients equal mytorch.ops.conv's im2col, in
    one batch chunk or one per image, with the columns kept by the forward or built again;
    each gradient alone as well."""
    monkeypatch.setattr(CL, "_CHUNK_ELEMS", chunk_elems)
    monkeypatch.setattr(CL, "_KEEP_BYTES", keep_bytes)
    g, x, w, b, gy = _operands(case, 5, 2)
    tol = {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(CL.conv_forward(x, w, g, b), C._im2col_forward(x, w, g, 1, b=b),
                               **tol)
    y, kept = CL.conv_forward(x, w, g, None, keep=True)
    np.testing.assert_allclose(y, C._im2col_forward(x, w, g, 1), **tol)
    assert (kept is not None) == (keep_bytes > 0)
    gx, gw = C._im2col_backward(gy, w, g, 1, x, True)
    got = CL.conv_backward(gy, w, g, x, True, kept)
    np.testing.assert_allclose(got[0], gx, **tol)
    np.testing.assert_allclose(got[1], gw, rtol=1e-5, atol=1e-4)
    assert got[1].flags.c_contiguous and got[1].shape == w.shape
    got = CL.conv_backward(gy, w, g, x, False, kept)
    assert got[0] is None
    np.testing.assert_allclose(got[1], gw, rtol=1e-5, atol=1e-4)
    got = CL.conv_backward(gy, w, g, None, True)
    assert got[1] is None
    np.testing.assert_allclose(got[0], gx, **tol)


def test_kept_columns_are_read_only_in_backward():
    """A retained graph runs backward twice on the same kept columns."""
    g, x, w, b, gy = _operands(GEOMS[1], 4, 3)
    y, kept = CL.conv_forward(x, w, g, b, keep=True)
    before = kept.copy()
    first = CL.conv_backward(gy, w, g, x, True, kept)
    second = CL.conv_backward(gy, w, g, x, True, kept)
    np.testing.assert_array_equal(kept, before)
    for a, c in zip(first, second):
        np.testing.assert_array_equal(a, c)


def test_reference_drivers_match_numba(monkeypatch):
    """The whole conv through the array-module references (the CuPy path) equals the numba
    one."""
    g, x, w, b, gy = _operands(GEOMS[4], 6, 4)
    y = CL.conv_forward(x, w, g, b)
    y2, kept = CL.conv_forward(x, w, g, b, keep=True)
    grads = CL.conv_backward(gy, w, g, x, True, kept)
    monkeypatch.setattr(CL._kc, "available", lambda *arrays: False)
    tol = {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(CL.conv_forward(x, w, g, b), y, **tol)
    y3, kept3 = CL.conv_forward(x, w, g, b, keep=True)
    np.testing.assert_allclose(kept3, kept)
    for got, want in zip(CL.conv_backward(gy, w, g, x, True), grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


# (x shape, out channels, stride, padding, dilation, bias)
LAYER_CASES = [((2, 8, 7, 9), 6, 2, 1, 1, True), ((3, 9, 6, 6), 4, 2, 0, 1, False),
               ((2, 16, 14, 14), 8, 2, 1, 1, False), ((1, 8, 5, 4), 3, 2, (2, 0), 1, True),
               ((2, 3, 13, 10), 5, 1, 1, 1, True), ((1, 1, 9, 11), 4, 3, 2, 2, True),
               ((2, 5, 8, 8), 7, (2, 1), (1, 0), (1, 2), False)]


@pytest.mark.parametrize("algo", ["im2colcl"], indirect=True)
@pytest.mark.parametrize("case", LAYER_CASES, ids=range(len(LAYER_CASES)))
def test_conv2d_matches_torch(case, algo, device):
    xs, o, s, p, d, bias = case
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, s, p, d), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, s, p, d), device=device)


@pytest.mark.parametrize("algo", ["im2colcl"], indirect=True)
def test_conv2d_other_kernels_and_conv1d_match_torch(algo, device):
    check(lambda x, w, b: F.conv2d(x, w, b, 2, (1, 0)), [(2, 4, 9, 8), (5, 4, 2, 3), (5,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 2, (1, 0)), device=device)
    check(lambda x, w: F.conv2d(x, w, None, 2), [(3, 6, 7, 5), (4, 6, 1, 1)],
          torch_fn=lambda x, w: TF.conv2d(x, w, None, 2), device=device)
    check(lambda x, w, b: F.conv1d(x, w, b, 2, 1), [(2, 5, 17), (4, 5, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv1d(x, w, b, 2, 1), device=device)


@pytest.mark.parametrize("algo", ["im2colcl"], indirect=True)
def test_conv_transpose2d_matches_torch(algo, device):
    """A transposed conv's drivers are the conv's (its forward is the input gradient)."""
    check(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1), [(2, 6, 5, 4), (6, 3, 3, 3),
                                                                 (3,)],
          torch_fn=lambda x, w, b: TF.conv_transpose2d(x, w, b, 2, 1, 1), device=device)


@pytest.mark.parametrize("algo", ["im2colcl"], indirect=True)
def test_chunked_batches_and_float64(algo, monkeypatch):
    monkeypatch.setattr(CL, "_CHUNK_ELEMS", 300)  # several batch chunks
    check(lambda x, w, b: F.conv2d(x, w, b, 2, 1), [(5, 8, 9, 7), (4, 8, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 2, 1), dtype=np.float64)
    monkeypatch.setattr(CL, "_KEEP_BYTES", 0)  # the weight gradient builds the columns again
    check(lambda x, w: F.conv2d(x, w, None, 2, 0), [(5, 8, 10, 10), (4, 8, 3, 3)],
          torch_fn=lambda x, w: TF.conv2d(x, w, None, 2, 0), dtype=np.float64)


@pytest.mark.parametrize("algo", ["im2colcl"], indirect=True)
def test_gradcheck(algo):
    rng = np.random.default_rng(5)
    x = mytorch.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = mytorch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = mytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1), (x, w, b))
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, (1, 2), (2, 0), (2, 1)), (x, w))
    wt = mytorch.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1), (x, wt))


@pytest.mark.parametrize("algo", ["im2colcl"], indirect=True)
def test_falls_back_where_it_does_not_apply(algo):
    """Groups and 3-D convolutions take the usual choice when im2colcl is forced."""
    check(lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 2), [(2, 4, 7, 6), (6, 2, 3, 3), (6,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 2, 1, 1, 2))
    check(lambda x, w: F.conv3d(x, w, None, 2, 1), [(1, 2, 5, 4, 6), (3, 2, 3, 3, 3)],
          torch_fn=lambda x, w: TF.conv3d(x, w, None, 2, 1))
