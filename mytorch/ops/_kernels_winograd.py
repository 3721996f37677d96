"""numba loops for the Winograd transforms in mytorch.ops.winograd: F(2x2, 3x3) and F(4x4, 3x3)
at stride 1, F(2x2, 3x3) at stride 2.

Each loop has an array-module reference in winograd.py (`input_transform_reference`, ...) that
CuPy and the tests use. The references are einsums over strided tile views (several passes and
temporaries); these loops read each tile once and keep the transform in registers or a small
scratch array, with the input transform done rows first over whole rows so the inner loop runs
over one row of tiles. Each input (gradient) plane goes through a zero-bordered scratch plane of
the padded size, so neither the input is padded nor its gradient cropped as whole arrays.

Layouts: transformed tensors are (a*a, channels, tiles) with tiles ordered (n, tile row, tile
column); position i*a+j holds row i, column j of the a x a transform (a = 4 for F(2x2), 6 for
F(4x4), 5 for F(2x2) at stride 2). The F(4x4) and stride-2 loops apply a 1-D transform (`_bt6`,
`_bt5` ...: the matrices of winograd.F4 and F2S2 written out, so the zeros and unit entries cost
nothing) first along one axis of the tile, then along the other. The tile axis may be longer
than the tiles (the drivers keep it odd, see winograd.py); the loops leave the rest alone.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays

# F4's matrix entries as float32: numba computes an int literal times a float32 in float64
# (half the vector width, and a rounding the float32 references do not make); times a float64
# they stay float64.
TWO, FOUR, FIVE, EIGHT = (np.float32(k) for k in (2, 4, 5, 8))


@functools.cache
def _compiled():
    # The inline helpers are module globals, not closure variables: a cached kernel that
    # calls a closure's dispatcher misses numba's on-disk cache in every new process
    # (it recompiled all of them each time: seconds on a conv layer's first call).
    global _load, _store, _bt6, _b6, _at6, _a4, _bt5, _b5, _at5, _a2
    # numba is imported on first use, so `import mytorch` stays fast; cache=True keeps the
    # machine code on disk between processes.
    from numba import njit

    # The input's planes go through one zero-bordered scratch plane of the padded size (it stays
    # in L1): no padded copy of the whole input, and none of the input gradient to crop.
    @njit(inline="always")
    def _load(src, plane, pt, pl):
        # src (H, W) into plane at (pt, pl); rows/columns past the plane are read by no tile
        h, w = min(src.shape[0], plane.shape[0] - pt), min(src.shape[1], plane.shape[1] - pl)
        for r in range(h):
            row, dst = src[r], plane[pt + r]
            for s in range(w):
                dst[pl + s] = row[s]

    @njit(inline="always")
    def _store(plane, dst, pt, pl):
        # dst (H, W) = plane's interior at (pt, pl); zero where no tile reached
        h, w = min(dst.shape[0], plane.shape[0] - pt), min(dst.shape[1], plane.shape[1] - pl)
        zero = dst.dtype.type(0)
        for r in range(dst.shape[0]):
            out = dst[r]
            if r < h:
                row = plane[pt + r]
                for s in range(w):
                    out[s] = row[pl + s]
                for s in range(w, dst.shape[1]):
                    out[s] = zero
            else:
                out[:] = zero

    @njit(cache=True, nogil=True)
    def input_transform(x, plane, v, pt, pl):
        # x (n, C, H, W) padded to plane (2th+2, 2tw+2) -> v (16, C, n*th*tw) = B^T d B
        n, c = x.shape[:2]
        hq, wq = plane.shape
        th, tw = (hq - 2) // 2, (wq - 2) // 2
        for b in range(n):
            for ci in range(c):
                _load(x[b, ci], plane, pt, pl)
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
    def input_adjoint(dv, plane, out, pt, pl):
        # dv (16, C, n*th*tw) -> out (n, C, H, W): sum over tiles of B dv B^T in plane
        n, c = out.shape[:2]
        hq, wq = plane.shape
        th, tw = (hq - 2) // 2, (wq - 2) // 2
        zero = plane.dtype.type(0)
        for b in range(n):
            for ci in range(c):
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
                _store(plane, out[b, ci], pt, pl)

    # F(4x4, 3x3): the 1-D maps of winograd.F4 (bt: B^T, b: its transpose, at: A^T, a: A)
    @njit(inline="always")
    def _bt6(d0, d1, d2, d3, d4, d5):
        return (FOUR * d0 - FIVE * d2 + d4, d3 + d4 - FOUR * (d1 + d2), FOUR * (d1 - d2) + d4 - d3,
                TWO * (d3 - d1) + d4 - d2, TWO * (d1 - d3) + d4 - d2, FOUR * d1 - FIVE * d3 + d5)

    @njit(inline="always")
    def _b6(e0, e1, e2, e3, e4, e5):
        return (FOUR * e0, FOUR * (e2 - e1 + e5) + TWO * (e4 - e3),
                -FIVE * e0 - FOUR * (e1 + e2) - e3 - e4, e1 - e2 + TWO * (e3 - e4) - FIVE * e5,
                e0 + e1 + e2 + e3 + e4, e5)

    @njit(inline="always")
    def _at6(m0, m1, m2, m3, m4, m5):
        return (m0 + m1 + m2 + m3 + m4, m1 - m2 + TWO * (m3 - m4), m1 + m2 + FOUR * (m3 + m4),
                m1 - m2 + EIGHT * (m3 - m4) + m5)

    @njit(inline="always")
    def _a4(g0, g1, g2, g3):
        return (g0, g0 + g1 + g2 + g3, g0 - g1 + g2 - g3, g0 + TWO * g1 + FOUR * g2 + EIGHT * g3,
                g0 - TWO * g1 + FOUR * g2 - EIGHT * g3, g3)

    @njit(cache=True, nogil=True)
    def input_transform4(x, plane, v, pt, pl):
        # x (n, C, H, W) padded to plane (4th+2, 4tw+2) -> v (36, C, n*th*tw) = B^T d B
        n, c = x.shape[:2]
        hq, wq = plane.shape
        th, tw = (hq - 2) // 4, (wq - 2) // 4
        rows = np.empty((6, wq), x.dtype)  # B^T applied down the 6 rows of one tile row
        for b in range(n):
            for ci in range(c):
                _load(x[b, ci], plane, pt, pl)
                for a in range(th):
                    r0, r1, r2, r3, r4, r5 = plane[4 * a], plane[4 * a + 1], \
                        plane[4 * a + 2], plane[4 * a + 3], plane[4 * a + 4], plane[4 * a + 5]
                    for s in range(wq):  # whole rows: contiguous, vectorizes
                        z = _bt6(r0[s], r1[s], r2[s], r3[s], r4[s], r5[s])
                        rows[0, s], rows[1, s], rows[2, s] = z[0], z[1], z[2]
                        rows[3, s], rows[4, s], rows[5, s] = z[3], z[4], z[5]
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        s = 4 * u
                        for i in range(6):
                            row = rows[i]
                            z = _bt6(row[s], row[s + 1], row[s + 2], row[s + 3], row[s + 4],
                                     row[s + 5])
                            k = 6 * i
                            v[k, ci, t], v[k + 1, ci, t], v[k + 2, ci, t] = z[0], z[1], z[2]
                            v[k + 3, ci, t], v[k + 4, ci, t], v[k + 5, ci, t] = z[3], z[4], z[5]

    @njit(cache=True, nogil=True)
    def output_transform4(m, y):
        # m (36, O, n*th*tw) -> y (n, O, 4th, 4tw) = A^T m A per tile
        n, o, h4, w4 = y.shape
        th, tw = h4 // 4, w4 // 4
        cols = np.empty((4, 6), m.dtype)  # A^T applied down each of the 6 columns
        for b in range(n):
            for oc in range(o):
                plane = y[b, oc]
                for a in range(th):
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        for j in range(6):
                            z = _at6(m[j, oc, t], m[6 + j, oc, t], m[12 + j, oc, t],
                                     m[18 + j, oc, t], m[24 + j, oc, t], m[30 + j, oc, t])
                            cols[0, j], cols[1, j], cols[2, j], cols[3, j] = z
                        s = 4 * u
                        for i in range(4):
                            row = plane[4 * a + i]
                            z = _at6(cols[i, 0], cols[i, 1], cols[i, 2], cols[i, 3], cols[i, 4],
                                     cols[i, 5])
                            row[s], row[s + 1], row[s + 2], row[s + 3] = z

    @njit(cache=True, nogil=True)
    def output_adjoint4(gy, dm):
        # gy (n, O, 4th, 4tw) -> dm (36, O, n*th*tw) = A g A^T per 4x4 tile g
        n, o, h4, w4 = gy.shape
        th, tw = h4 // 4, w4 // 4
        cols = np.empty((6, 4), gy.dtype)  # A applied down each of the 4 columns
        for b in range(n):
            for oc in range(o):
                plane = gy[b, oc]
                for a in range(th):
                    g0, g1, g2, g3 = plane[4 * a], plane[4 * a + 1], plane[4 * a + 2], \
                        plane[4 * a + 3]
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        s = 4 * u
                        for j in range(4):
                            z = _a4(g0[s + j], g1[s + j], g2[s + j], g3[s + j])
                            cols[0, j], cols[1, j], cols[2, j] = z[0], z[1], z[2]
                            cols[3, j], cols[4, j], cols[5, j] = z[3], z[4], z[5]
                        for i in range(6):
                            z = _a4(cols[i, 0], cols[i, 1], cols[i, 2], cols[i, 3])
                            k = 6 * i
                            dm[k, oc, t], dm[k + 1, oc, t], dm[k + 2, oc, t] = z[0], z[1], z[2]
                            dm[k + 3, oc, t], dm[k + 4, oc, t], dm[k + 5, oc, t] = \
                                z[3], z[4], z[5]

    @njit(cache=True, nogil=True)
    def input_adjoint4(dv, plane, out, pt, pl):
        # dv (36, C, n*th*tw) -> out (n, C, H, W): sum over tiles of B dv B^T in plane
        n, c = out.shape[:2]
        hq, wq = plane.shape
        th, tw = (hq - 2) // 4, (wq - 2) // 4
        zero = plane.dtype.type(0)
        cols = np.empty((6, 6), dv.dtype)  # B applied down each of the 6 columns
        for b in range(n):
            for ci in range(c):
                plane[:, :] = zero
                for a in range(th):
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        for j in range(6):
                            z = _b6(dv[j, ci, t], dv[6 + j, ci, t], dv[12 + j, ci, t],
                                    dv[18 + j, ci, t], dv[24 + j, ci, t], dv[30 + j, ci, t])
                            cols[0, j], cols[1, j], cols[2, j] = z[0], z[1], z[2]
                            cols[3, j], cols[4, j], cols[5, j] = z[3], z[4], z[5]
                        s = 4 * u
                        for i in range(6):
                            row = plane[4 * a + i]
                            z = _b6(cols[i, 0], cols[i, 1], cols[i, 2], cols[i, 3], cols[i, 4],
                                    cols[i, 5])
                            row[s] += z[0]
                            row[s + 1] += z[1]
                            row[s + 2] += z[2]
                            row[s + 3] += z[3]
                            row[s + 4] += z[4]
                            row[s + 5] += z[5]
                _store(plane, out[b, ci], pt, pl)

    # F(2x2, 3x3) at stride 2: 5x5 input tiles 4 apart; the 1-D maps of winograd.F2S2
    @njit(inline="always")
    def _bt5(d0, d1, d2, d3, d4):
        return d0 - d2, d2, d4 - d2, d1, d3

    @njit(inline="always")
    def _b5(e0, e1, e2, e3, e4):
        return e0, e3, e1 - e0 - e2, e4, e2

    @njit(inline="always")
    def _at5(m0, m1, m2, m3, m4):
        return m0 + m1 + m3, m1 + m2 + m4

    @njit(inline="always")
    def _a2(g0, g1):
        return g0, g0 + g1, g1, g0, g1

    @njit(cache=True, nogil=True)
    def input_transform_s2(x, plane, v, pt, pl):
        # x (n, C, H, W) padded to plane (4th+1, 4tw+1) -> v (25, C, n*th*tw) = B^T d B
        n, c = x.shape[:2]
        hq, wq = plane.shape
        th, tw = (hq - 1) // 4, (wq - 1) // 4
        rows = np.empty((5, wq), x.dtype)  # B^T applied down the 5 rows of one tile row
        for b in range(n):
            for ci in range(c):
                _load(x[b, ci], plane, pt, pl)
                for a in range(th):
                    r0, r1, r2, r3, r4 = plane[4 * a], plane[4 * a + 1], plane[4 * a + 2], \
                        plane[4 * a + 3], plane[4 * a + 4]
                    for s in range(wq):  # whole rows: contiguous, vectorizes
                        z = _bt5(r0[s], r1[s], r2[s], r3[s], r4[s])
                        rows[0, s], rows[1, s], rows[2, s], rows[3, s], rows[4, s] = z
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        s = 4 * u
                        for i in range(5):
                            row = rows[i]
                            z = _bt5(row[s], row[s + 1], row[s + 2], row[s + 3], row[s + 4])
                            k = 5 * i
                            v[k, ci, t], v[k + 1, ci, t], v[k + 2, ci, t] = z[0], z[1], z[2]
                            v[k + 3, ci, t], v[k + 4, ci, t] = z[3], z[4]

    @njit(cache=True, nogil=True)
    def output_transform_s2(m, y):
        # m (25, O, n*th*tw) -> y (n, O, 2th, 2tw) = A^T m A per tile
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
                        # A^T down each of the 5 columns, then along the 2 rows
                        p0, q0 = _at5(m[0, oc, t], m[5, oc, t], m[10, oc, t], m[15, oc, t],
                                      m[20, oc, t])
                        p1, q1 = _at5(m[1, oc, t], m[6, oc, t], m[11, oc, t], m[16, oc, t],
                                      m[21, oc, t])
                        p2, q2 = _at5(m[2, oc, t], m[7, oc, t], m[12, oc, t], m[17, oc, t],
                                      m[22, oc, t])
                        p3, q3 = _at5(m[3, oc, t], m[8, oc, t], m[13, oc, t], m[18, oc, t],
                                      m[23, oc, t])
                        p4, q4 = _at5(m[4, oc, t], m[9, oc, t], m[14, oc, t], m[19, oc, t],
                                      m[24, oc, t])
                        y0[2 * u], y0[2 * u + 1] = _at5(p0, p1, p2, p3, p4)
                        y1[2 * u], y1[2 * u + 1] = _at5(q0, q1, q2, q3, q4)

    @njit(cache=True, nogil=True)
    def output_adjoint_s2(gy, dm):
        # gy (n, O, 2th, 2tw) -> dm (25, O, n*th*tw) = A g A^T per 2x2 tile g
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
                        # A down both columns, then A along each of the 5 rows
                        c0 = _a2(g0[2 * u], g1[2 * u])
                        c1 = _a2(g0[2 * u + 1], g1[2 * u + 1])
                        for i in range(5):
                            z = _a2(c0[i], c1[i])
                            k = 5 * i
                            dm[k, oc, t], dm[k + 1, oc, t], dm[k + 2, oc, t] = z[0], z[1], z[2]
                            dm[k + 3, oc, t], dm[k + 4, oc, t] = z[3], z[4]

    @njit(cache=True, nogil=True)
    def input_adjoint_s2(dv, plane, out, pt, pl):
        # dv (25, C, n*th*tw) -> out (n, C, H, W): sum over tiles of B dv B^T in plane
        n, c = out.shape[:2]
        hq, wq = plane.shape
        th, tw = (hq - 1) // 4, (wq - 1) // 4
        zero = plane.dtype.type(0)
        cols = np.empty((5, 5), dv.dtype)  # B applied down each of the 5 columns
        for b in range(n):
            for ci in range(c):
                plane[:, :] = zero
                for a in range(th):
                    t0 = (b * th + a) * tw
                    for u in range(tw):
                        t = t0 + u
                        for j in range(5):
                            z = _b5(dv[j, ci, t], dv[5 + j, ci, t], dv[10 + j, ci, t],
                                    dv[15 + j, ci, t], dv[20 + j, ci, t])
                            cols[0, j], cols[1, j], cols[2, j], cols[3, j], cols[4, j] = z
                        s = 4 * u
                        for i in range(5):
                            row = plane[4 * a + i]
                            z = _b5(cols[i, 0], cols[i, 1], cols[i, 2], cols[i, 3], cols[i, 4])
                            row[s] += z[0]
                            row[s + 1] += z[1]
                            row[s + 2] += z[2]
                            row[s + 3] += z[3]
                            row[s + 4] += z[4]
                _store(plane, out[b, ci], pt, pl)

    # by (tile size m, stride)
    return {(2, 1): {"input_transform": input_transform, "output_transform": output_transform,
                     "output_adjoint": output_adjoint, "input_adjoint": input_adjoint},
            (4, 1): {"input_transform": input_transform4, "output_transform": output_transform4,
                     "output_adjoint": output_adjoint4, "input_adjoint": input_adjoint4},
            (2, 2): {"input_transform": input_transform_s2,
                     "output_transform": output_transform_s2,
                     "output_adjoint": output_adjoint_s2, "input_adjoint": input_adjoint_s2}}


def input_transform(x, v, m, stride, pt, pl, padded):
    """x (n, C, H, W), zero-padded by (pt, pl) at the top left to `padded` (step*th + a - step,
    step*tw + a - step) -> v (a*a, C, n*th*tw), for the scheme of tile size m at `stride`
    (step = m * stride, a = (m - 1) * stride + 3)."""
    _compiled()[m, stride]["input_transform"](x, np.zeros(padded, x.dtype), v, pt, pl)
    return v


def output_transform(mt, y, m, stride=1):
    """mt (a*a, O, n*th*tw) -> y (n, O, Ho, Wo), the m x m tiles cropped to Ho x Wo."""
    th, tw = -(-y.shape[2] // m), -(-y.shape[3] // m)
    if m * th == y.shape[2] and m * tw == y.shape[3]:
        _compiled()[m, stride]["output_transform"](mt, y)
    else:
        full = np.empty(y.shape[:2] + (m * th, m * tw), y.dtype)
        _compiled()[m, stride]["output_transform"](mt, full)
        y[...] = full[:, :, :y.shape[2], :y.shape[3]]
    return y


def output_adjoint(gy, dm, m, stride=1):
    """gy (n, O, Ho, Wo) -> dm (a*a, O, n*th*tw), gy zero-extended to whole m x m tiles."""
    th, tw = -(-gy.shape[2] // m), -(-gy.shape[3] // m)
    if m * th != gy.shape[2] or m * tw != gy.shape[3]:
        full = np.zeros(gy.shape[:2] + (m * th, m * tw), gy.dtype)
        full[:, :, :gy.shape[2], :gy.shape[3]] = gy
        gy = full
    _compiled()[m, stride]["output_adjoint"](gy, dm)
    return dm


def input_adjoint(dv, out, m, stride, pt, pl, padded):
    """dv (a*a, C, n*th*tw) -> out (n, C, H, W) (overwritten): the input gradient, the tiles
    summed in a `padded` plane (see `input_transform`) whose interior is out."""
    _compiled()[m, stride]["input_adjoint"](dv, np.empty(padded, dv.dtype), out, pt, pl)
    return out
