"""numba loops for training-mode BatchNorm (mytorch.ops.nn.BatchNorm) on NumPy float arrays.

The array-module path in BatchNorm makes about six passes over the activation each way (channel
sums, the centred copy, its scaling, the affine output; in backward two reductions and three
elementwise passes over (N, C * L)). These loops go channel by channel over an (N, C, L) view:
one channel of a ConvNet activation (64 x 14 x 14 floats, 50 KB) stays in the L1/L2 cache
while its statistics, x-hat and output are made, so the activation comes from memory once.
Sums accumulate in float64, so the statistics are at least as accurate as the reference's
float32 BLAS sums; the reductions may be vectorized in any order (fastmath "reassoc").
The tests compare both ways with the reference (tests/ops/kernels/test_nn_kernels.py).
"""
import functools

import numpy as np


def fits(*arrays):
    """True when the loops apply: C-contiguous NumPy float32/float64 arrays of one dtype."""
    a = arrays[0]
    return all(type(b) is np.ndarray and b.dtype == a.dtype and b.flags.c_contiguous
               for b in arrays) and a.dtype in (np.float32, np.float64)


@functools.cache
def _compiled():
    from numba import njit  # imported on first use, so `import mytorch` stays fast

    opts = dict(cache=True, nogil=True, error_model="numpy",
                fastmath={"reassoc", "contract"})

    @njit(**opts)
    def forward(x, w, b, eps, xhat, y, stats):
        # x, xhat, y (N, C, L); w, b (C,); stats (3, C) <- mean, biased var, 1/sqrt(var + eps)
        n, c, length = x.shape
        inv_count = 1.0 / (n * length)
        for ci in range(c):
            s = 0.0
            for ni in range(n):
                row = x[ni, ci]
                for j in range(length):
                    s += np.float64(row[j])
            mean = s * inv_count
            ss = 0.0
            for ni in range(n):
                row = x[ni, ci]
                for j in range(length):
                    d = np.float64(row[j]) - mean
                    ss += d * d
            var = ss * inv_count
            rstd = 1.0 / np.sqrt(var + eps)
            stats[0, ci], stats[1, ci], stats[2, ci] = mean, var, rstd
            m, r = x.dtype.type(mean), x.dtype.type(rstd)
            wc, bc = w[ci], b[ci]
            for ni in range(n):
                row, hrow, yrow = x[ni, ci], xhat[ni, ci], y[ni, ci]
                for j in range(length):
                    h = (row[j] - m) * r
                    hrow[j] = h
                    yrow[j] = h * wc + bc

    @njit(**opts)
    def backward(g, xhat, k, gx, sums, need_gx):
        # g, xhat, gx (N, C, L); k (C,) = rstd * weight; sums (2, C) <- sum g, sum g * xhat;
        # gx = k (g - xhat * mean(g xhat) - mean(g)) when need_gx
        n, c, length = g.shape
        inv_count = 1.0 / (n * length)
        for ci in range(c):
            s, d = 0.0, 0.0
            for ni in range(n):
                grow, hrow = g[ni, ci], xhat[ni, ci]
                for j in range(length):
                    gv = np.float64(grow[j])
                    s += gv
                    d += gv * np.float64(hrow[j])
            sums[0, ci], sums[1, ci] = s, d
            if need_gx:
                kc = g.dtype.type(k[ci])
                a = g.dtype.type(d * k[ci] * inv_count)
                bb = g.dtype.type(s * k[ci] * inv_count)
                for ni in range(n):
                    grow, hrow, out = g[ni, ci], xhat[ni, ci], gx[ni, ci]
                    for j in range(length):
                        out[j] = grow[j] * kc - hrow[j] * a - bb

    return forward, backward


def forward(x3, weight, bias, eps):
    """(y, xhat, mean, var, rstd) of training-mode BatchNorm on x3 (N, C, L): y and xhat
    (N, C, L), the batch mean, biased variance and 1/sqrt(var + eps) (C,), all in x3's dtype.
    weight, bias (C,) or None."""
    c = x3.shape[1]
    w = np.ones(c, x3.dtype) if weight is None else weight
    b = np.zeros(c, x3.dtype) if bias is None else bias
    xhat, y = np.empty_like(x3), np.empty_like(x3)
    stats = np.empty((3, c), np.float64)
    _compiled()[0](x3, w, b, float(eps), xhat, y, stats)
    mean, var, rstd = stats.astype(x3.dtype)
    return y, xhat, mean, var, rstd


def backward(g3, xhat3, k, need_gx):
    """(gx or None, sum of g, sum of g * xhat) over (N, L) per channel, for g3 and xhat3
    (N, C, L) and k = rstd * weight (C,); the sums in g3's dtype."""
    gx = np.empty_like(g3) if need_gx else g3[:0]
    sums = np.empty((2, g3.shape[1]), np.float64)
    _compiled()[1](g3, xhat3, k.astype(np.float64), gx, sums, need_gx)
    gb_sum, gw_sum = sums.astype(g3.dtype)
    return (gx if need_gx else None), gb_sum, gw_sum
