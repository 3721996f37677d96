"""numba loops for stride-2 Winograd F(2x2, 3x3) with channels-last transformed tensors
(mytorch.ops.winograd_cl).

The loops of mytorch.ops._kernels_winograd keep the tiles innermost (P, C, tiles); at stride 2
a row of an image holds only a handful of tiles (7 at 28x28), too few to fill a SIMD register,
so those loops run one scalar at a time. Here the channels are innermost, (25, tiles, C), and
every step of a transform is a loop over a contiguous channel vector, which LLVM vectorizes.
NCHW images meet this layout once per image: the input (gradient) goes through an
(Hq, Wq, C) zero-bordered scratch image, the output (gradient) is read and written with a
stride across channels (one scalar per output element, not 25).

Each loop has an array-module reference in winograd_cl.py that CuPy and the tests use. The
transforms are the 1-D maps of winograd.F2S2 written out (`_bt5` ..., as in
_kernels_winograd): B^T d = (d0 - d2, d2, d4 - d2, d1, d3), A^T m = (m0 + m1 + m3,
m1 + m2 + m4), applied first along one axis of the 5x5 tile, then along the other. Transform
position i*5+j holds row i, column j; tiles are ordered (n, tile row, tile column); the tile
axis may be longer than the tiles (the drivers keep it odd), the loops leave the rest alone.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    from numba import njit  # imported on first use, as in _kernels_winograd

    @njit(inline="always")
    def _to_hwc(src, hwc, pt, pl):
        # src (C, H, W) into hwc (Hq, Wq, C) at (pt, pl); rows/columns past hwc are read by no
        # tile. The channel loop is innermost: contiguous stores, strided loads.
        c = src.shape[0]
        h, w = min(src.shape[1], hwc.shape[0] - pt), min(src.shape[2], hwc.shape[1] - pl)
        for r in range(h):
            for s in range(w):
                dst = hwc[pt + r, pl + s]
                for k in range(c):
                    dst[k] = src[k, r, s]

    # B^T as (plus, minus) row pairs: output i is d[PLUS[i]] - d[MINUS[i]] (no minus: -1). Every
    # inner loop below stores one vector, so LLVM's runtime alias checks stay few and it
    # vectorizes (five stores in one loop were left scalar).
    plus, minus = np.array((0, 2, 4, 1, 3)), np.array((2, -1, 2, -1, -1))

    @njit(cache=True, nogil=True)
    def input_transform(x, hwc, v, pt, pl):
        # x (n, C, H, W) padded into hwc (4th+1, 4tw+1, C) -> v (25, n*th*tw, C) = B^T d B
        n, c = x.shape[:2]
        hq, wq = hwc.shape[0], hwc.shape[1]
        th, tw = (hq - 1) // 4, (wq - 1) // 4
        for b in range(n):
            _to_hwc(x[b], hwc, pt, pl)
            for a in range(th):
                for i in range(5):
                    rp = hwc[4 * a + plus[i]]
                    rm = hwc[4 * a + max(minus[i], 0)]
                    for k in range(5):
                        vik = v[5 * i + k]
                        for u in range(tw):
                            t = (b * th + a) * tw + u
                            o = vik[t]
                            s, sm = 4 * u + plus[k], 4 * u + max(minus[k], 0)
                            pp, pm, mp, mm = rp[s], rp[sm], rm[s], rm[sm]
                            if minus[i] >= 0 and minus[k] >= 0:
                                for j in range(c):
                                    o[j] = (pp[j] - pm[j]) - (mp[j] - mm[j])
                            elif minus[i] >= 0:
                                for j in range(c):
                                    o[j] = pp[j] - mp[j]
                            elif minus[k] >= 0:
                                for j in range(c):
                                    o[j] = pp[j] - pm[j]
                            else:
                                for j in range(c):
                                    o[j] = pp[j]

    @njit(cache=True, nogil=True)
    def output_transform(m, y, bias):
        # m (25, n*th*tw, O) -> y (n, O, Ho, Wo) = A^T m A per tile + bias (O,), cropped to
        # Ho x Wo
        n, o, ho, wo = y.shape
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        p = np.empty((2, 5, o), m.dtype)  # A^T down each of the 5 columns
        z = np.empty((2, 2, o), m.dtype)  # the 2x2 output tile
        for b in range(n):
            yb = y[b]
            for a in range(th):
                for u in range(tw):
                    t = (b * th + a) * tw + u
                    for j in range(5):
                        m0, m1, m2, m3, m4 = m[j, t], m[5 + j, t], m[10 + j, t], m[15 + j, t], \
                            m[20 + j, t]
                        p0, p1 = p[0, j], p[1, j]
                        for k in range(o):
                            p0[k] = m0[k] + m1[k] + m3[k]
                            p1[k] = m1[k] + m2[k] + m4[k]
                    for i in range(2):  # then A^T along both rows
                        q0, q1, q2, q3, q4 = p[i, 0], p[i, 1], p[i, 2], p[i, 3], p[i, 4]
                        z0, z1 = z[i, 0], z[i, 1]
                        for k in range(o):
                            z0[k] = q0[k] + q1[k] + q3[k]
                            z1[k] = q1[k] + q2[k] + q4[k]
                    for i in range(min(2, ho - 2 * a)):
                        for j in range(min(2, wo - 2 * u)):
                            zij = z[i, j]
                            for k in range(o):
                                yb[k, 2 * a + i, 2 * u + j] = zij[k] + bias[k]

    # A as its rows' (first, second) tile entries: row i of A g is g[FIRST[i]] + g[SECOND[i]]
    a_first, a_second = np.array((0, 0, 1, 0, 1)), np.array((-1, 1, -1, -1, -1))

    @njit(cache=True, nogil=True)
    def output_adjoint(gy, dm):
        # gy (n, O, Ho, Wo) -> dm (25, n*th*tw, O) = A g A^T per 2x2 tile g (zero past Ho x Wo)
        n, o, ho, wo = gy.shape
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        g = np.empty((2, 2, o), gy.dtype)  # the 2x2 tile
        zero = gy.dtype.type(0)
        for b in range(n):
            gb = gy[b]
            for a in range(th):
                for u in range(tw):
                    t = (b * th + a) * tw + u
                    for i in range(2):
                        for j in range(2):
                            gij = g[i, j]
                            if 2 * a + i < ho and 2 * u + j < wo:
                                for k in range(o):
                                    gij[k] = gb[k, 2 * a + i, 2 * u + j]
                            else:
                                gij[:] = zero
                    # A = (g0, g0 + g1, g1, g0, g1) down both columns, then along the 5 rows:
                    # output (i, k) sums g[r, s] over r in rows i of A and s in rows k of A
                    for i in range(5):
                        ra, rb = a_first[i], a_second[i]
                        for k in range(5):
                            out = dm[5 * i + k, t]
                            sa, sb = a_first[k], a_second[k]
                            p, q = g[ra, sa], g[ra, max(sb, 0)]
                            r, z = g[max(rb, 0), sa], g[max(rb, 0), max(sb, 0)]
                            if rb >= 0 and sb >= 0:
                                for j in range(o):
                                    out[j] = (p[j] + q[j]) + (r[j] + z[j])
                            elif rb >= 0:
                                for j in range(o):
                                    out[j] = p[j] + r[j]
                            elif sb >= 0:
                                for j in range(o):
                                    out[j] = p[j] + q[j]
                            else:
                                for j in range(o):
                                    out[j] = p[j]

    # B as (plus, minus, minus) entries: row r of B e is e[PLUS[r]] - e[MINUS0[r]] - e[MINUS1[r]]
    # (no minus: -1); B_ROWS[r]: the first position of dv's row PLUS[r] (row 2 is computed)
    b_plus, b_minus0, b_minus1 = np.array((0, 3, 1, 4, 2)), np.array((-1, -1, 0, -1, -1)), \
        np.array((-1, -1, 2, -1, -1))
    b_rows = np.array((0, 15, -1, 20, 10))

    @njit(cache=True, nogil=True)
    def input_adjoint(dv, hwc, out, pt, pl):
        # dv (25, n*th*tw, C) -> out (n, C, H, W): the tiles' B dv B^T summed in hwc (Hq, Wq, C),
        # whose interior at (pt, pl) is out; zero where no tile reaches
        n, c, h_in, w_in = out.shape
        hq, wq = hwc.shape[0], hwc.shape[1]
        th, tw = (hq - 1) // 4, (wq - 1) // 4
        h, w = min(h_in, hq - pt), min(w_in, wq - pl)
        zero = dv.dtype.type(0)
        e2 = np.empty((5, tw, c), dv.dtype)  # row 2 of B dv (rows 0, 1, 3, 4 are rows of dv)
        for b in range(n):
            hwc[:, :, :] = zero
            for a in range(th):
                t0 = (b * th + a) * tw
                # B e = (e0, e3, e1 - e0 - e2, e4, e2) down each column k of every tile in the
                # row, then along the rows, added into the image
                for k in range(5):
                    for u in range(tw):
                        d0, d1, d2, ek = dv[k, t0 + u], dv[5 + k, t0 + u], dv[10 + k, t0 + u], \
                            e2[k, u]
                        for j in range(c):
                            ek[j] = d1[j] - d0[j] - d2[j]
                for r in range(5):
                    row = hwc[4 * a + r]
                    i = b_rows[r]
                    for s in range(5):
                        kp, km0, km1 = b_plus[s], b_minus0[s], b_minus1[s]
                        for u in range(tw):
                            acc = row[4 * u + s]
                            if r == 2:  # from e2 (the tile's row 2 of B dv)
                                ep, e0, e1 = e2[kp, u], e2[max(km0, 0), u], e2[max(km1, 0), u]
                            else:  # from dv's row i // 5
                                ep = dv[i + kp, t0 + u]
                                e0, e1 = dv[i + max(km0, 0), t0 + u], dv[i + max(km1, 0), t0 + u]
                            if km0 >= 0:
                                for j in range(c):
                                    acc[j] += ep[j] - e0[j] - e1[j]
                            else:
                                for j in range(c):
                                    acc[j] += ep[j]
            ob = out[b]  # the interior back to (C, H, W), zero where no tile reached
            for r in range(h):
                for s in range(w):
                    src = hwc[pt + r, pl + s]
                    for k in range(c):
                        ob[k, r, s] = src[k]
            if h < h_in or w < w_in:
                ob[:, h:, :] = zero
                ob[:, :, w:] = zero

    return {"input_transform": input_transform, "output_transform": output_transform,
            "output_adjoint": output_adjoint, "input_adjoint": input_adjoint}


def input_transform(x, v, pt, pl, padded):
    """x (n, C, H, W), zero-padded by (pt, pl) at the top left to `padded` (4th+1, 4tw+1)
    -> v (25, n*th*tw, C)."""
    _compiled()["input_transform"](x, np.zeros(padded + x.shape[1:2], x.dtype), v, pt, pl)
    return v


def output_transform(m, y, bias=None):
    """m (25, n*th*tw, O) -> y (n, O, Ho, Wo), the 2x2 tiles cropped to Ho x Wo, plus `bias`
    (O,) if given (added in the same pass, instead of one more over y)."""
    b = np.zeros(y.shape[1], y.dtype) if bias is None else bias
    _compiled()["output_transform"](m, y, b)
    return y


def output_adjoint(gy, dm):
    """gy (n, O, Ho, Wo) -> dm (25, n*th*tw, O), gy zero-extended to whole 2x2 tiles."""
    _compiled()["output_adjoint"](gy, dm)
    return dm


def input_adjoint(dv, out, pt, pl, padded):
    """dv (25, n*th*tw, C) -> out (n, C, H, W) (overwritten): the input gradient."""
    _compiled()["input_adjoint"](dv, np.empty(padded + out.shape[1:2], dv.dtype), out, pt, pl)
    return out
