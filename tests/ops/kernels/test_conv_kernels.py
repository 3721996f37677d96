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


def test_available_rejects_what_the_loops_do_not_take():
    a = np.zeros((2, 3, 4, 4), np.float32)
    assert kc.available(a)
    assert not kc.available(a.astype(np.float16))
    assert not kc.available(a.transpose(0, 1, 3, 2))
    assert not kc.available(a, a.astype(np.float64))
