"""Winograd F(m x m, 2x2) on the stride phases of a 4x4 stride-2 transposed convolution
(mytorch.ops.winograd_t): its matrices, the numba loops against their array-module references,
and the drivers against conv.py's im2col drivers."""
import numpy as np
import pytest

from mytorch.ops import conv as C
from mytorch.ops import winograd_t as WT
from mytorch.ops.window import geom, with_out

# (y shape (N, C, H, W), padding (pt, pb), (pl, pr), x size (Ho, Wo) or None): the convolution
# whose input gradient the transposed convolution is, as F.conv_transpose2d builds it
GEOMS = [
    ((3, 5, 14, 14), (1, 1), (1, 1), None),   # the DCGAN/U-Net upsampler (7x7 -> 14x14)
    ((2, 3, 9, 7), (0, 0), (0, 0), None),     # no padding, odd sizes
    ((2, 4, 11, 8), (2, 2), (1, 1), (6, 4)),  # output_padding on the height (x one row taller)
    ((1, 2, 4, 4), (1, 1), (1, 1), (2, 2)),
    ((4, 3, 6, 9), (3, 3), (0, 0), (4, 3)),   # padding crops most of the full output
    ((2, 2, 26, 30), (1, 1), (2, 2), None),   # several tiles per axis
]


def _geom(shape, ph, pw, out):
    g = geom("conv_transpose2d", shape[2:], (4, 4), (2, 2), (ph, pw), (1, 1))
    return g if out is None else with_out(g, out)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_matrices_compute_the_2_tap_correlation(m):
    at, g, bt = WT.matrices(m)
    assert at.shape == (m, m + 1) and g.shape == (m + 1, 2) and bt.shape == (m + 1, m + 1)
    assert np.array_equal(bt, np.round(bt))  # B^T scaled to integers
    rng = np.random.default_rng(m)
    for _ in range(5):
        d, w = rng.standard_normal(m + 1), rng.standard_normal(2)
        want = np.array([w[0] * d[k] + w[1] * d[k + 1] for k in range(m)])
        np.testing.assert_allclose(at @ ((g @ w) * (bt @ d)), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ph, pw, out", GEOMS)
def test_loops_match_reference(shape, ph, pw, out, dtype):
    rng = np.random.default_rng(0)
    g = _geom(shape, ph, pw, out)
    n, c = shape[:2]
    o = 3
    b0h, b0w, th, tw, m = WT._plan(g)
    at, _, bt = (mat.astype(dtype) for mat in WT.matrices(m))
    a, nt = m + 1, th * tw
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)

    x = rng.standard_normal((n, o, g.Ho, g.Wo)).astype(dtype)
    vshape = (a * a, o + 1, nt * n)
    got = WT.input_transform(x, bt, np.full(vshape, np.nan, dtype), b0h - 1, b0w - 1, m, th, tw)
    want = WT._input_transform_reference(x, bt, np.full(vshape, np.nan, dtype), b0h - 1, b0w - 1,
                                         m, th, tw)
    np.testing.assert_allclose(got[:, :-1], want[:, :-1], **tol)

    dv = rng.standard_normal(vshape).astype(dtype)
    got = WT.input_adjoint(dv, bt, np.full(x.shape, np.nan, dtype), b0h - 1, b0w - 1, m, th, tw)
    want = WT._input_adjoint_reference(dv, bt, np.full(x.shape, np.nan, dtype), b0h - 1, b0w - 1,
                                       m, th, tw)
    np.testing.assert_allclose(got, want, **tol)
    # the adjoint: <B^T d B, dv> = <d, B dv B^T>
    v = WT._input_transform_reference(x, bt, np.zeros(vshape, dtype), b0h - 1, b0w - 1, m, th, tw)
    np.testing.assert_allclose(np.vdot(v[:, :-1], dv[:, :-1]), np.vdot(x, got), rtol=1e-4)

    zshape = (a * a, 4 * c + 1, nt * n)
    z = rng.standard_normal(zshape).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    yshape = (n, c) + shape[2:]
    got = WT.output_transform(z, at, np.full(yshape, np.nan, dtype), b0h, b0w, g.pt, g.pl, th,
                              tw, bias)
    want = WT._output_transform_reference(z, at, np.full(yshape, np.nan, dtype), b0h, b0w, g.pt,
                                          g.pl, th, tw, bias)
    np.testing.assert_allclose(got, want, **tol)

    gy = rng.standard_normal(yshape).astype(dtype)
    got, gb = WT.output_adjoint(gy, at, np.full(zshape, np.nan, dtype), b0h, b0w, g.pt, g.pl, th,
                                tw)
    want, wb = WT._output_adjoint_reference(gy, at, np.full(zshape, np.nan, dtype), b0h, b0w,
                                            g.pt, g.pl, th, tw)
    np.testing.assert_allclose(got[:, :-1], want[:, :-1], **tol)
    np.testing.assert_allclose(gb, wb, **tol)
    assert gb.dtype == dtype
    # the adjoint: <A^T z A, gy> = <z, A gy A^T>
    y0 = WT._output_transform_reference(z, at, np.empty(yshape, dtype), b0h, b0w, g.pt, g.pl, th,
                                        tw)
    np.testing.assert_allclose(np.vdot(y0, gy), np.vdot(z[:, :-1], got[:, :-1]), rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [2, 4])
def test_weight_loops_match_reference(m, dtype):
    rng = np.random.default_rng(m)
    w = rng.standard_normal((7, 3, 4, 4)).astype(dtype)
    gm = WT.matrices(m)[1].astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(WT.weight_transform(w, gm), WT._weight_transform_reference(w, gm),
                               **tol)
    du = rng.standard_normal(((m + 1) ** 2, 12, 7)).astype(dtype)
    np.testing.assert_allclose(WT.weight_adjoint(du, gm, 7),
                               WT._weight_adjoint_reference(du, gm, 7), **tol)


def test_weight_transform_and_its_adjoint():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3, 4, 4))
    _, gm, _ = WT.matrices(4)
    u = WT.weight_transform(w, gm)
    assert u.shape == (25, 12, 5)
    np.testing.assert_allclose(WT.weight_transform(w, gm, transposed=True),
                               u.transpose(0, 2, 1), rtol=1e-13, atol=1e-13)
    # phase (rh, rw) = (1, 0) of channel pair (o, c) = (2, 1): G W_p G^T
    wp = np.array([[w[2, 1, 2 * (1 - jh) + 1, 2 * (1 - jw)] for jw in range(2)]
                   for jh in range(2)])
    np.testing.assert_allclose(u[:, 1 * 4 + 2, 2].reshape(5, 5), gm @ wp @ gm.T, rtol=1e-13)
    du = rng.standard_normal(u.shape)
    np.testing.assert_allclose(np.vdot(u, du), np.vdot(w, WT.weight_adjoint(du, gm, 5)),
                               rtol=1e-12)


@pytest.mark.parametrize("shape, ph, pw, out", GEOMS)
def test_drivers_match_im2col(shape, ph, pw, out):
    """The transposed conv's forward and its three gradients (float64) against conv.py's im2col
    drivers, with the forward's transforms kept and computed again, and partial gradients."""
    rng = np.random.default_rng(1)
    g = _geom(shape, ph, pw, out)
    n, c = shape[:2]
    x = rng.standard_normal((n, 4, g.Ho, g.Wo))  # the transposed conv's input
    w = rng.standard_normal((4, c, 4, 4))
    b = rng.standard_normal(c)
    gy = rng.standard_normal(shape)
    want_y = C._im2col_backward(x, w, g, 1)[0] + b.reshape(-1, 1, 1)
    want_gx = C._im2col_forward(gy, w, g, 1)
    want_gw = C._im2col_backward(x, w, g, 1, gy, need_x=False)[1]
    y, kept = WT.transpose_forward(x, w, g, b)
    np.testing.assert_allclose(y, want_y, rtol=1e-11, atol=1e-11)
    for kept_or_none in (kept, None):
        gx, gw, gb = WT.transpose_backward(gy, w, g, x, kept_or_none, (True, True, True))
        np.testing.assert_allclose(gx, want_gx, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(gw, want_gw, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), rtol=1e-12)
    gx, gw, gb = WT.transpose_backward(gy, w, g, x, kept, (False, True, False))
    assert gx is None and gb is None
    np.testing.assert_allclose(gw, want_gw, rtol=1e-11, atol=1e-11)
    gx, gw, gb = WT.transpose_backward(gy, w, g, None, None, (True, False, False))
    assert gw is None and gb is None
    np.testing.assert_allclose(gx, want_gx, rtol=1e-11, atol=1e-11)


def test_reused_buffers_are_not_handed_out_while_in_use():
    """The transformed tensors come from reused buffers: one still referred to (the forward's
    kept transform of a second layer of the same shape) is not handed out again."""
    rng = np.random.default_rng(2)
    g = _geom((2, 3, 14, 14), (1, 1), (1, 1), None)
    x1, x2 = rng.standard_normal((2, 2, 4, 7, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    _, kept1 = WT.transpose_forward(x1, w, g)
    _, kept2 = WT.transpose_forward(x2, w, g)
    assert not np.shares_memory(kept1[0], kept2[0])
    gy = rng.standard_normal((2, 3, 14, 14)).astype(np.float32)
    gw1 = WT.transpose_backward(gy, w, g, x1, kept1, (False, True, False))[1]
    np.testing.assert_allclose(gw1, WT.transpose_backward(gy, w, g, x1, None,
                                                          (False, True, False))[1], rtol=1e-6)
