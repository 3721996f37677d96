"""numba loops for the Winograd F(2x2, 3x3) transforms in mytorch.ops.winograd.

Each loop has an array-module reference in winograd.py (`input_transform_reference`, ...) that
CuPy and the tests use. The references are einsums over strided tile views (several passes and
temporaries); these loops read each tile once and keep the 4x4 transform in registers, with the
input transform done column by column so the inner loop runs over one row of tiles.

Layouts: transformed tensors are (16, channels, tiles) with tiles ordered (n, tile row, tile
column); position i*4+j holds row i, column j of the 4x4 transform. The tile axis may be longer
than the tiles (the drivers keep it odd, see winograd.py); the loops leave the rest alone.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    # numba is imported on first use, so `import mytorch` stays fast; cache=True keeps the
    # machine code on disk between processes.
    from numba import njit

    @njit(cache=True, nogil=True)
    def input_transform(q, v):
        # padded q (n, C, 2th+2, 2tw+2) -> v (16, C, n*th*tw) = B^T d B per tile
        n, c, hq, wq = q.shape
        th, tw = (hq - 2) // 2, (wq - 2) // 2
        for b in range(n):
            for ci in range(c):
                plane = q[b, ci]
                for a in range(th):
                    r0, r1, r2, r3 = plane[2 * a], plane[2 * a + 1], plane[2 * a + 2], \
                        plane[2 * a + 3]
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        s = 2 * u
                        # B^T d: combinations of the 4 rows, for each of the 4 columns
                        a0 = r0[s] - r2[s]
                        a1 = r0[s + 1] - r2[s + 1]
                        a2 = r0[s + 2] - r2[s + 2]
                        a3 = r0[s + 3] - r2[s + 3]
                        b0 = r1[s] + r2[s]
                        b1 = r1[s + 1] + r2[s + 1]
                        b2 = r1[s + 2] + r2[s + 2]
                        b3 = r1[s + 3] + r2[s + 3]
                        c0 = r2[s] - r1[s]
                        c1 = r2[s + 1] - r1[s + 1]
                        c2 = r2[s + 2] - r1[s + 2]
                        c3 = r2[s + 3] - r1[s + 3]
                        d0 = r1[s] - r3[s]
                        d1 = r1[s + 1] - r3[s + 1]
                        d2 = r1[s + 2] - r3[s + 2]
                        d3 = r1[s + 3] - r3[s + 3]
                        t = t0 + u
                        # (. ) B: the same combinations across the columns
                        v[0, ci, t] = a0 - a2
                        v[1, ci, t] = a1 + a2
                        v[2, ci, t] = a2 - a1
                        v[3, ci, t] = a1 - a3
                        v[4, ci, t] = b0 - b2
                        v[5, ci, t] = b1 + b2
                        v[6, ci, t] = b2 - b1
                        v[7, ci, t] = b1 - b3
                        v[8, ci, t] = c0 - c2
                        v[9, ci, t] = c1 + c2
                        v[10, ci, t] = c2 - c1
                        v[11, ci, t] = c1 - c3
                        v[12, ci, t] = d0 - d2
                        v[13, ci, t] = d1 + d2
                        v[14, ci, t] = d2 - d1
                        v[15, ci, t] = d1 - d3

    @njit(cache=True, nogil=True)
    def output_transform(m, y):
        # m (16, O, n*th*tw) -> y (n, O, 2th, 2tw) = A^T m A per tile
        n, o, h2, w2 = y.shape
        th, tw = h2 // 2, w2 // 2
        for b in range(n):
            for oc in range(o):
                plane = y[b, oc]
                for a in range(th):
                    y0, y1 = plane[2 * a], plane[2 * a + 1]
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        # A^T m: row 0 = m0 + m1 + m2, row 1 = m1 - m2 - m3 (per column)
                        p0 = m[0, oc, t] + m[4, oc, t] + m[8, oc, t]
                        p1 = m[1, oc, t] + m[5, oc, t] + m[9, oc, t]
                        p2 = m[2, oc, t] + m[6, oc, t] + m[10, oc, t]
                        p3 = m[3, oc, t] + m[7, oc, t] + m[11, oc, t]
                        q0 = m[4, oc, t] - m[8, oc, t] - m[12, oc, t]
                        q1 = m[5, oc, t] - m[9, oc, t] - m[13, oc, t]
                        q2 = m[6, oc, t] - m[10, oc, t] - m[14, oc, t]
                        q3 = m[7, oc, t] - m[11, oc, t] - m[15, oc, t]
                        y0[2 * u] = p0 + p1 + p2
                        y0[2 * u + 1] = p1 - p2 - p3
                        y1[2 * u] = q0 + q1 + q2
                        y1[2 * u + 1] = q1 - q2 - q3

    @njit(cache=True, nogil=True)
    def output_adjoint(gy, dm):
        # gy (n, O, 2th, 2tw) -> dm (16, O, n*th*tw) = A g A^T per 2x2 tile g
        n, o, h2, w2 = gy.shape
        th, tw = h2 // 2, w2 // 2
        for b in range(n):
            for oc in range(o):
                plane = gy[b, oc]
                for a in range(th):
                    g0, g1 = plane[2 * a], plane[2 * a + 1]
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        g00, g01 = g0[2 * u], g0[2 * u + 1]
                        g10, g11 = g1[2 * u], g1[2 * u + 1]
                        # A g: rows (g0, g0 + g1, g0 - g1, -g1); then the same on columns
                        s0, s1 = g00 + g10, g01 + g11
                        d0, d1 = g00 - g10, g01 - g11
                        dm[0, oc, t] = g00
                        dm[1, oc, t] = g00 + g01
                        dm[2, oc, t] = g00 - g01
                        dm[3, oc, t] = -g01
                        dm[4, oc, t] = s0
                        dm[5, oc, t] = s0 + s1
                        dm[6, oc, t] = s0 - s1
                        dm[7, oc, t] = -s1
                        dm[8, oc, t] = d0
                        dm[9, oc, t] = d0 + d1
                        dm[10, oc, t] = d0 - d1
                        dm[11, oc, t] = -d1
                        dm[12, oc, t] = -g10
                        dm[13, oc, t] = -g10 - g11
                        dm[14, oc, t] = g11 - g10
                        dm[15, oc, t] = g11

    @njit(cache=True, nogil=True)
    def input_adjoint(dv, q):
        # dv (16, C, n*th*tw) -> q (n, C, 2th+2, 2tw+2) = sum over tiles of B dv B^T
        n, c, hq, wq = q.shape
        th, tw = (hq - 2) // 2, (wq - 2) // 2
        zero = q.dtype.type(0)
        for b in range(n):
            for ci in range(c):
                plane = q[b, ci]
                plane[:, :] = zero
                for a in range(th):
                    r0, r1, r2, r3 = plane[2 * a], plane[2 * a + 1], plane[2 * a + 2], \
                        plane[2 * a + 3]
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        # B e for a column e = (e0..e3): (e0, e1 - e2 + e3, e1 + e2 - e0, -e3)
                        # rows first: h_k = (B dv)_k for each of the 4 columns j
                        h0j0, h0j1, h0j2, h0j3 = dv[0, ci, t], dv[1, ci, t], dv[2, ci, t], \
                            dv[3, ci, t]
                        e30, e31, e32, e33 = dv[12, ci, t], dv[13, ci, t], dv[14, ci, t], \
                            dv[15, ci, t]
                        v10, v11, v12, v13 = dv[4, ci, t], dv[5, ci, t], dv[6, ci, t], \
                            dv[7, ci, t]
                        v20, v21, v22, v23 = dv[8, ci, t], dv[9, ci, t], dv[10, ci, t], \
                            dv[11, ci, t]
                        h1j0 = v10 - v20 + e30
                        h1j1 = v11 - v21 + e31
                        h1j2 = v12 - v22 + e32
                        h1j3 = v13 - v23 + e33
                        h2j0 = v10 + v20 - h0j0
                        h2j1 = v11 + v21 - h0j1
                        h2j2 = v12 + v22 - h0j2
                        h2j3 = v13 + v23 - h0j3
                        s = 2 * u
                        # then the same map along each row, added into the plane
                        r0[s] += h0j0
                        r0[s + 1] += h0j1 - h0j2 + h0j3
                        r0[s + 2] += h0j1 + h0j2 - h0j0
                        r0[s + 3] -= h0j3
                        r1[s] += h1j0
                        r1[s + 1] += h1j1 - h1j2 + h1j3
                        r1[s + 2] += h1j1 + h1j2 - h1j0
                        r1[s + 3] -= h1j3
                        r2[s] += h2j0
                        r2[s + 1] += h2j1 - h2j2 + h2j3
                        r2[s + 2] += h2j1 + h2j2 - h2j0
                        r2[s + 3] -= h2j3
                        r3[s] -= e30
                        r3[s + 1] -= e31 - e32 + e33
                        r3[s + 2] -= e31 + e32 - e30
                        r3[s + 3] += e33

    return {"input_transform": input_transform, "output_transform": output_transform,
            "output_adjoint": output_adjoint, "input_adjoint": input_adjoint}


def input_transform(q, v):
    """Zero-padded q (n, C, 2th+2, 2tw+2) -> v (16, C, n*th*tw)."""
    _compiled()["input_transform"](q, v)
    return v


def output_transform(m, y):
    """m (16, O, n*th*tw) -> y (n, O, Ho, Wo), the tiles cropped to Ho x Wo."""
    th, tw = -(-y.shape[2] // 2), -(-y.shape[3] // 2)
    if 2 * th == y.shape[2] and 2 * tw == y.shape[3]:
        _compiled()["output_transform"](m, y)
    else:
        full = np.empty(y.shape[:2] + (2 * th, 2 * tw), y.dtype)
        _compiled()["output_transform"](m, full)
        y[...] = full[:, :, :y.shape[2], :y.shape[3]]
    return y


def output_adjoint(gy, dm):
    """gy (n, O, Ho, Wo) -> dm (16, O, n*th*tw), gy zero-extended to whole tiles."""
    th, tw = -(-gy.shape[2] // 2), -(-gy.shape[3] // 2)
    if 2 * th != gy.shape[2] or 2 * tw != gy.shape[3]:
        full = np.zeros(gy.shape[:2] + (2 * th, 2 * tw), gy.dtype)
        full[:, :, :gy.shape[2], :gy.shape[3]] = gy
        gy = full
    _compiled()["output_adjoint"](gy, dm)
    return dm


def input_adjoint(dv, q):
    """dv (16, C, n*th*tw) -> q (n, C, 2th+2, 2tw+2) (overwritten): padded input gradient."""
    _compiled()["input_adjoint"](dv, q)
    return q
