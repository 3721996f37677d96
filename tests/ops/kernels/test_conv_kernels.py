"""numba conv/pool loops (mytorch.ops._kernels_conv) against their array-module references."""
import numpy as np
import pytest

from mytorch.ops import _kernels_conv as kc
from mytorch.ops import conv as C
from mytorch.ops import pool as P
from mytorch.ops.window import geom

# (N, C, H, W), kernel, stride, padding ((pt, pb), (pl, pr)), dilation
GEOMS = [
    ((2, 3, 7, 9), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((3, 2, 8, 8), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
    ((2, 4, 9, 6), (2, 3), (2, 1), ((0, 1), (2, 0)), (1, 2)),
    ((1, 2, 5, 11), (1, 1), (1, 3), ((0, 0), (0, 0)), (1, 1)),
    ((2, 1, 6, 6), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)),
    ((2, 3, 10, 10), (3, 2), (3, 2), ((1, 1), (0, 0)), (2, 3)),
    ((2, 3, 6, 7), (2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1)),  # unit stride, no padding
]


def _geom(shape, kernel, stride, pads, dilation):
    return geom("test", shape[2:], kernel, stride, pads, dilation)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", GEOMS)
def test_im2col_col2im_match_reference(shape, kernel, stride, pads, dilation, dtype):
    rng = np.random.default_rng(0)
    g = _geom(shape, kernel, stride, pads, dilation)
    n, c = shape[:2]
    x = rng.standard_normal(shape).astype(dtype)
    cshape = (c, g.kh, g.kw, n, g.Ho, g.Wo)
    got = kc.im2col(x, np.full(cshape, np.nan, dtype), g)
    want = C._im2col_reference(x, g, np.empty(cshape, dtype))
    np.testing.assert_array_equal(got, want)

    cols = rng.standard_normal(cshape).astype(dtype)
    got = kc.col2im(cols, np.zeros(shape, dtype), g)
    want = C._col2im_reference(cols, g, np.zeros(shape, dtype))
    np.testing.assert_array_equal(got, want)  # same summation order: bitwise equal


@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", GEOMS[1:3] + GEOMS[5:6])
def test_strided_im2col_pads_with_zeros_whatever_the_input_holds(shape, kernel, stride, pads,
                                                               dilation):
    """The strided gather loads before it tests for padding (a select): infinities and NaNs in
    the input reach the columns only where the windows read them, as in the reference."""
    rng = np.random.default_rng(1)
    g = _geom(shape, kernel, stride, pads, dilation)
    n, c = shape[:2]
    x = rng.choice(np.array([np.inf, -np.inf, np.nan, 1.5], np.float32), size=shape)
    cshape = (c, g.kh, g.kw, n, g.Ho, g.Wo)
    got = kc.im2col(x, np.full(cshape, 7.0, np.float32), g)
    want = C._im2col_reference(x, g, np.empty(cshape, np.float32))
    np.testing.assert_array_equal(got, want)
    assert (got == 0).any()  # the padding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", GEOMS[:4])
def test_max_pool_matches_reference(shape, kernel, stride, pads, dilation, dtype):
    pads = tuple((min(lo, kernel[a] // 2), min(hi, kernel[a] // 2))
                 for a, (lo, hi) in enumerate(pads))
    g = _geom(shape, kernel, stride, pads, dilation)
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 3, shape).astype(dtype)  # many ties: first maximum must win
    x.flat[::7] = -np.inf
    x.flat[5] = np.nan
    y, arg = np.empty((shape[0], shape[1], g.Ho, g.Wo), dtype), None
    arg = np.empty(y.shape, P._arg_dtype(np, g))
    kc.max_pool(x, y, arg, g)
    y_ref, arg_ref = P._max_pool_reference(x, g)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)

    gy = rng.standard_normal(y.shape).astype(dtype)
    got = kc.max_pool_backward(gy, arg, np.zeros(shape, dtype), g)
    # overlapping windows sum in another order (per output, not per offset)
    np.testing.assert_allclose(got, P._max_pool_backward_reference(gy, arg, g), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 9, 7), (1, 2, 2, 2), (3, 1, 5, 3),
                                   (1, 1, 3, 4)])
def test_max_pool_2x2_matches_general_loop_and_reference(shape, dtype):
    """The 2x2 stride-2 loops (branch-free selects, NaNs apart) against the general loop and
    the reference: ties, infinities and NaNs first, middle and last in a window; odd sizes
    leave a row or column that no window covers."""
    g = _geom(shape, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
    assert kc._is_2x2(g)
    rng = np.random.default_rng(2)
    x = rng.integers(-2, 2, shape).astype(dtype)  # many ties: first maximum must win
    x.flat[::5] = -np.inf
    x.flat[3::11] = np.inf
    x.flat[1::13] = np.nan
    x.flat[0] = np.nan  # NaN first in its window
    ys = []
    for name in ("max_pool_2x2", "max_pool"):
        y = np.full((shape[0], shape[1], g.Ho, g.Wo), 7, dtype)
        arg = np.full(y.shape, 9, P._arg_dtype(np, g))
        args = () if name == "max_pool_2x2" else (2, 2, 2, 2, 0, 0, 1, 1)
        kc._compiled()[name](x, y, arg, *args)
        ys.append((y, arg))
    y_ref, arg_ref = P._max_pool_reference(x, g)
    for y, arg in ys:
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(arg, arg_ref)

    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    got = kc.max_pool_backward(gy, arg_ref, np.full(shape, np.nan, dtype), g)  # overwritten
    np.testing.assert_array_equal(got, P._max_pool_backward_reference(gy, arg_ref, g))
    general = np.zeros(shape, dtype)
    kc._compiled()["max_pool_backward"](gy, arg_ref, general, 2, 2, 2, 0, 0, 1, 1)
    np.testing.assert_array_equal(got, general)


def test_available_rejects_what_the_loops_do_not_take():
    a = np.zeros((2, 3, 4, 4), np.float32)
    assert kc.available(a)
    assert not kc.available(a.astype(np.float16))
    assert not kc.available(a.transpose(0, 1, 3, 2))
    assert not kc.available(a, a.astype(np.float64))


# Strided geometries whose kernel is a multiple of the stride (mytorch.ops.conv_phase): odd and
# even sizes, padding none/one/asymmetric/over a stride, 1-D as height 1, stride 3.
PHASE_GEOMS = [
    ((2, 3, 14, 14), (4, 4), (2, 2), ((1, 1), (1, 1)), (1, 1)),
    ((1, 2, 9, 7), (4, 4), (2, 2), ((0, 0), (0, 0)), (1, 1)),
    ((2, 3, 11, 8), (4, 2), (2, 2), ((2, 1), (0, 3)), (1, 1)),
    ((1, 2, 1, 13), (1, 4), (1, 2), ((0, 0), (1, 1)), (1, 1)),
    ((2, 2, 13, 10), (6, 3), (3, 3), ((2, 2), (1, 0)), (1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", PHASE_GEOMS)
def test_phase_loops_match_reference_and_im2col(shape, kernel, stride, pads, dilation, dtype):
    from mytorch.ops import conv_phase as PH
    rng = np.random.default_rng(0)
    g = _geom(shape, kernel, stride, pads, dilation)
    assert PH.applies(g, 1)
    n, c = shape[:2]
    x = rng.standard_normal(shape).astype(dtype)
    q = PH.split(x, g)
    np.testing.assert_array_equal(q, PH._split_reference(x, np.zeros_like(q), g))
    np.testing.assert_array_equal(PH.merge(q, g), x)  # merge undoes split
    np.testing.assert_array_equal(PH._merge_reference(q, np.empty_like(x), g), x)

    cshape = (c, g.kh, g.kw, n, g.Ho, g.Wo)
    got = PH.im2col(q, g, np.full(cshape, np.nan, dtype))
    np.testing.assert_array_equal(got, PH._im2col_reference(q, np.empty(cshape, dtype), g))
    np.testing.assert_array_equal(got, C._im2col_reference(x, g, np.empty(cshape, dtype)))

    cols = rng.standard_normal(cshape).astype(dtype)
    got = PH.col2im(cols, g, np.zeros_like(q))
    np.testing.assert_array_equal(got, PH._col2im_reference(cols, np.zeros_like(q), g))
    # kernel offsets summed in the same order as conv's col2im: bitwise equal
    np.testing.assert_array_equal(PH.merge(got, g),
                                  C._col2im_reference(cols, g, np.zeros(shape, dtype)))


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", PHASE_GEOMS)
def test_phase_gemm_drivers_equal_im2col(shape, kernel, stride, pads, dilation, groups,
                                         monkeypatch):
    """With the same batch chunks the phase candidate gives im2col's results bitwise (same
    GEMMs, same summation order); small chunks split the batch."""
    from mytorch.ops import conv_phase as PH
    monkeypatch.setattr(PH, "_CHUNK_ELEMS", 64)
    monkeypatch.setattr(C, "_CHUNK_ELEMS", 64)
    rng = np.random.default_rng(1)
    g = _geom(shape, kernel, stride, pads, dilation)
    n, c = shape[:2]
    x = rng.standard_normal((n, c * groups) + shape[2:])
    w = rng.standard_normal((4, c) + kernel)
    gy = rng.standard_normal((n, 4) + g.out)
    np.testing.assert_array_equal(PH.conv_forward(x, w, g, groups),
                                  C._im2col_forward(x, w, g, groups))
    for xx, need_x in ((x, True), (x, False), (None, True)):
        want = C._im2col_backward(gy, w, g, groups, xx, need_x)
        got = PH.conv_backward(gy, w, g, groups, xx, need_x)
        for a, b in zip(got, want):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)


# The batch-innermost transposed conv (mytorch.ops.conv_chwn) on every geometry above and the
# phase ones (strides 1-3, dilation, asymmetric and no padding, 1-D as height 1).
CHWN_GEOMS = GEOMS + PHASE_GEOMS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", CHWN_GEOMS)
def test_chwn_loops_match_reference(shape, kernel, stride, pads, dilation, dtype):
    from mytorch.ops import conv_chwn as CW
    rng = np.random.default_rng(0)
    g = _geom(shape, kernel, stride, pads, dilation)
    n, c = shape[:2]
    x = rng.standard_normal(shape).astype(dtype)
    cshape = (c, g.kh, g.kw, g.Ho, g.Wo, n)
    got, sums = CW.im2col(x, g, np.full(cshape, np.nan, dtype), sums=True)
    want = CW._im2col_reference(x, g, np.empty(cshape, dtype))
    np.testing.assert_array_equal(got, want)
    # the same windows as conv's im2col, batch moved innermost
    np.testing.assert_array_equal(
        got, C._im2col_reference(x, g, np.empty((c, g.kh, g.kw, n, g.Ho, g.Wo), dtype))
        .transpose(0, 1, 2, 4, 5, 3))
    # summed in float64, then rounded once
    np.testing.assert_allclose(sums, x.sum(axis=(0, 2, 3), dtype=np.float64),
                               rtol=6e-8 if dtype == np.float32 else 1e-13)
    assert sums.dtype == dtype

    cols = rng.standard_normal(cshape).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    got = CW.col2im(cols, g, np.full(shape, np.nan, dtype))  # overwrites every output
    want = CW._col2im_reference(cols, g, np.full(shape, np.nan, dtype))
    np.testing.assert_array_equal(got, want)  # same summation order: bitwise equal
    np.testing.assert_array_equal(
        got, C._col2im_reference(cols.transpose(0, 1, 2, 5, 3, 4), g, np.zeros(shape, dtype)))
    got = CW.col2im(cols, g, np.empty(shape, dtype), bias)
    np.testing.assert_array_equal(got, want + bias.reshape(-1, 1, 1))


@pytest.mark.parametrize("shape", [(3136, 64), (64, 49), (13, 5), (7, 8), (1, 9)])
def test_chwn_transpose_matches_numpy(shape):
    from mytorch.ops import conv_chwn as CW
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = np.full(shape[::-1], np.nan, np.float32)
    CW._compiled()["transpose"](a, out, np.float32(0.5))
    np.testing.assert_array_equal(out, a.T + np.float32(0.5))
    # into a strided view: the columns of one channel in an (N, C*H*W) array
    big = np.zeros((shape[1], 3 * shape[0]), np.float32)
    CW._compiled()["transpose"](a, big[:, shape[0]:2 * shape[0]], np.float32(0))
    np.testing.assert_array_equal(big[:, shape[0]:2 * shape[0]], a.T)
    assert not big[:, :shape[0]].any() and not big[:, 2 * shape[0]:].any()


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("shape, kernel, stride, pads, dilation", CHWN_GEOMS)
def test_chwn_gemm_drivers_match_im2col(shape, kernel, stride, pads, dilation, groups,
                                        monkeypatch):
    """The transposed conv's forward and all three gradients against conv.py's im2col
    drivers, with one batch chunk and with chunks of one image."""
    from mytorch.ops import conv_chwn as CW
    rng = np.random.default_rng(1)
    g = _geom(shape, kernel, stride, pads, dilation)
    n, c = shape[:2]
    x = rng.standard_normal((n, 4) + g.out)  # the transposed conv's input
    w = rng.standard_normal((4, c) + kernel)
    b = rng.standard_normal(c * groups)
    gy = rng.standard_normal((n, c * groups) + shape[2:])
    want_y = C._im2col_backward(x, w, g, groups)[0] + b.reshape(-1, 1, 1)
    want_gx = C._im2col_forward(gy, w, g, groups)
    want_gw = C._im2col_backward(x, w, g, groups, gy, need_x=False)[1]
    for chunk in (CW._CHUNK_ELEMS, 1):
        monkeypatch.setattr(CW, "_CHUNK_ELEMS", chunk)
        y, kept = CW.transpose_forward(x, w, g, groups, b)
        np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
        for kept_or_none in (kept, None):
            gx, gw, gb = CW.transpose_backward(gy, w, g, groups, x, kept_or_none)
            np.testing.assert_allclose(gx, want_gx, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(gw, want_gw, rtol=1e-12, atol=1e-12)
            assert gb is None
        gx, gw, gb = CW.transpose_backward(gy, w, g, groups, x, kept, (False, True, True))
        assert gx is None
        np.testing.assert_allclose(gw, want_gw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), rtol=1e-12)
