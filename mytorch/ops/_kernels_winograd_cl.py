"""numba loops for Winograd F(2x2, 3x3) with channels-last transformed tensors
(mytorch.ops.winograd_cl): winograd.F2 at stride 1, winograd.F2S2 at stride 2.

The loops of mytorch.ops._kernels_winograd keep the tiles innermost (P, C, tiles); a row of an
image holds only a handful of tiles (7 at 14x14 stride 1 or 28x28 stride 2), too few to fill a
SIMD register, so those loops run one scalar at a time. Here the channels are innermost,
(P, tiles, C), and every step of a transform is a loop over a contiguous channel vector, which
LLVM vectorizes. NCHW images meet this layout once per image: the input (gradient) goes through
an (Hq, Wq, C) zero-bordered scratch image (at stride 2 its columns split by phase modulo 4,
(Hq, 4, tw+1, C), so that one column of every tile in a tile row is one contiguous run and each
step covers the whole tile row), the output (gradient) is read and written with a stride across
channels (one scalar per output element, not P).

Each loop has an array-module reference in winograd_cl.py that CuPy and the tests use. The
transforms are the 1-D maps of the scheme written out, applied first along one axis of the
tile, then along the other. Stride 2 (5x5 tiles 4 apart, P = 25): B^T d = (d0 - d2, d2,
d4 - d2, d1, d3), A^T m = (m0 + m1 + m3, m1 + m2 + m4). Stride 1 (4x4 tiles 2 apart, P = 16):
B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3), A^T m = (m0 + m1 + m2, m1 - m2 - m3); its tiles
overlap by two rows, so the row step of the input transform and of its adjoint runs once per
tile row on whole scratch-image rows (Wq*C long vectors) instead of once per tile. Transform
position i*a+j holds row i, column j; tiles are ordered (n, tile row, tile column); the tile
axis may be longer than the tiles (the drivers keep it odd), the loops leave the rest alone.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    # The inline helpers are module globals, not closure variables: a cached kernel that
    # calls a closure's dispatcher misses numba's on-disk cache in every new process
    # (it recompiled all of them each time: seconds on a conv layer's first call).
    global _to_hwc, _from_hwc, _to_phase4, _from_phase4, _b_row, _add, _sub, _bt, _at, _a, _b_add, \
        _b_columns
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

    @njit(inline="always")
    def _from_hwc(hwc, dst, pt, pl):
        # dst (C, H, W) = hwc's interior at (pt, pl); zero where hwc does not reach
        h, w = min(dst.shape[1], hwc.shape[0] - pt), min(dst.shape[2], hwc.shape[1] - pl)
        for r in range(h):
            for s in range(w):
                src = hwc[pt + r, pl + s]
                for k in range(dst.shape[0]):
                    dst[k, r, s] = src[k]
        if h < dst.shape[1] or w < dst.shape[2]:
            dst[:, h:, :] = 0
            dst[:, :, w:] = 0

    # ---- stride 2 (winograd.F2S2): 5x5 tiles 4 apart, 25 positions
    #
    # A tile row's tiles are transformed together: each step is one loop over the tw tiles' C
    # channels at once (tw*C contiguous values), not one per tile (C values, with the index
    # arithmetic and runtime alias checks of a loop around each). For that the scratch image
    # holds its columns by phase modulo 4, (Hq, 4, tw+1, C): a tile u's column 4u+s lies at
    # [s % 4, u + s // 4], so column s of every tile in the row is one run of tw*C values.
    # Measured (one thread, per 8-image chunk of the benchmark's 32 -> 64 layer at 28x28): the
    # output adjoint took 0.126 ms against 0.221 per tile.

    # B^T as (plus, minus) row pairs: output i is d[PLUS[i]] - d[MINUS[i]] (no minus: -1)
    plus, minus = np.array((0, 2, 4, 1, 3)), np.array((2, -1, 2, -1, -1))

    @njit(inline="always")
    def _to_phase4(src, ph, pt, pl):
        # src (C, H, W) into ph (Hq, 4, W4, C) at (pt, pl), column s of the padded image at
        # [s % 4, s // 4]; rows/columns past the 4*(W4-1)+1 columns are read by no tile
        c = src.shape[0]
        h = min(src.shape[1], ph.shape[0] - pt)
        w = min(src.shape[2], 4 * (ph.shape[2] - 1) + 1 - pl)
        for r in range(h):
            for s in range(w):
                col = pl + s
                dst = ph[pt + r, col % 4, col // 4]
                for k in range(c):
                    dst[k] = src[k, r, s]

    @njit(inline="always")
    def _from_phase4(ph, dst, pt, pl):
        # dst (C, H, W) = the interior of ph at (pt, pl); zero where ph does not reach
        h = min(dst.shape[1], ph.shape[0] - pt)
        w = min(dst.shape[2], 4 * (ph.shape[2] - 1) + 1 - pl)
        for r in range(h):
            for s in range(w):
                col = pl + s
                src = ph[pt + r, col % 4, col // 4]
                for k in range(dst.shape[0]):
                    dst[k, r, s] = src[k]
        if h < dst.shape[1] or w < dst.shape[2]:
            dst[:, h:, :] = 0
            dst[:, :, w:] = 0

    @njit(cache=True, nogil=True)
    def input_transform(x, ph, v, pt, pl):
        # x (n, C, H, W) padded into ph (4th+1, 4, tw+1, C) -> v (25, n*th*tw, C) = B^T d B:
        # B^T down the tile row's 5 image rows (whole rows), then along each tile's columns
        n, c = x.shape[:2]
        hq, w4 = ph.shape[0], ph.shape[2]
        th, tw = (hq - 1) // 4, w4 - 1
        R, L = 4 * w4 * c, tw * c
        rows = ph.reshape(hq, R)
        vf = v.reshape(v.shape[0], v.shape[1] * c)
        e = np.empty((5, R), x.dtype)  # B^T d for the rows that are differences
        for b in range(n):
            _to_phase4(x[b], ph, pt, pl)
            for a in range(th):
                t0 = (b * th + a) * tw * c
                for i in range(5):
                    ei = rows[4 * a + plus[i]]
                    if minus[i] >= 0:
                        rm, ei = rows[4 * a + minus[i]], e[i]
                        rp = rows[4 * a + plus[i]]
                        for q in range(R):
                            ei[q] = rp[q] - rm[q]
                    for k in range(5):
                        out = vf[5 * i + k, t0:t0 + L]
                        op = (plus[k] % 4 * w4 + plus[k] // 4) * c
                        sp = ei[op:op + L]
                        if minus[k] >= 0:
                            om = (minus[k] % 4 * w4 + minus[k] // 4) * c
                            sm = ei[om:om + L]
                            for q in range(L):
                                out[q] = sp[q] - sm[q]
                        else:
                            for q in range(L):
                                out[q] = sp[q]

    @njit(cache=True, nogil=True)
    def output_transform(m, y, bias):
        # m (25, n*th*tw, O) -> y (n, O, Ho, Wo) = A^T m A per tile + bias (O,), cropped to
        # Ho x Wo; A^T m = (m0 + m1 + m3, m1 + m2 + m4)
        n, o, ho, wo = y.shape
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        L = tw * o
        mf = m.reshape(m.shape[0], m.shape[1] * o)
        p = np.empty((2, 5, L), m.dtype)  # A^T down each of the 5 columns of the row's tiles
        z = np.empty((2, 2, L), m.dtype)  # the 2x2 output tiles
        for b in range(n):
            yb = y[b]
            for a in range(th):
                t0 = (b * th + a) * tw * o
                for j in range(5):
                    m0, m1, m2 = mf[j, t0:t0 + L], mf[5 + j, t0:t0 + L], mf[10 + j, t0:t0 + L]
                    m3, m4 = mf[15 + j, t0:t0 + L], mf[20 + j, t0:t0 + L]
                    p0, p1 = p[0, j], p[1, j]
                    for q in range(L):
                        p0[q] = m0[q] + m1[q] + m3[q]
                    for q in range(L):
                        p1[q] = m1[q] + m2[q] + m4[q]
                for i in range(2):  # then A^T along both rows
                    q0, q1, q2, q3, q4 = p[i, 0], p[i, 1], p[i, 2], p[i, 3], p[i, 4]
                    z0, z1 = z[i, 0], z[i, 1]
                    for q in range(L):
                        z0[q] = q0[q] + q1[q] + q3[q]
                    for q in range(L):
                        z1[q] = q1[q] + q2[q] + q4[q]
                for i in range(min(2, ho - 2 * a)):
                    for j in range(2):
                        zij = z[i, j]
                        for u in range(min(tw, (wo - j + 1) // 2)):
                            zu = zij[u * o:(u + 1) * o]
                            for k in range(o):
                                yb[k, 2 * a + i, 2 * u + j] = zu[k] + bias[k]

    @njit(cache=True, nogil=True)
    def output_adjoint(gy, dm):
        # gy (n, O, Ho, Wo) -> dm (25, n*th*tw, O) = A g A^T per 2x2 tile g (zero past Ho x Wo);
        # A g = (g0, g0 + g1, g1, g0, g1) down both columns, then the same along the 5 rows.
        # With dm (9, n*th*tw, O) only the distinct positions, rows and columns 0..2 (3 and 4
        # repeat 0 and 2).
        n, o, ho, wo = gy.shape
        distinct = dm.shape[0] == 9
        side = 3 if distinct else 5
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        L = tw * o
        dmf = dm.reshape(dm.shape[0], dm.shape[1] * o)
        g = np.empty((2, 2, L), gy.dtype)  # the row's 2x2 tiles, (row, column, tile, O)
        s = np.empty((2, L), gy.dtype)  # their row sums g[0, j] + g[1, j]
        zero = gy.dtype.type(0)
        for b in range(n):
            gb = gy[b]
            for a in range(th):
                for i in range(2):
                    for j in range(2):
                        gij = g[i, j]
                        nu = min(tw, (wo - j + 1) // 2) if 2 * a + i < ho else 0
                        for u in range(nu):
                            gu = gij[u * o:(u + 1) * o]
                            for k in range(o):
                                gu[k] = gb[k, 2 * a + i, 2 * u + j]
                        for q in range(nu * o, L):
                            gij[q] = zero
                for j in range(2):
                    g0, g1, sj = g[0, j], g[1, j], s[j]
                    for q in range(L):
                        sj[q] = g0[q] + g1[q]
                t0 = (b * th + a) * tw * o
                for i in range(side):
                    if i == 0 or i == 3:
                        c0, c1 = g[0, 0], g[0, 1]
                    elif i == 1:
                        c0, c1 = s[0], s[1]
                    else:
                        c0, c1 = g[1, 0], g[1, 1]
                    p0 = side * i
                    d0, d1, d2 = dmf[p0, t0:t0 + L], dmf[p0 + 1, t0:t0 + L], \
                        dmf[p0 + 2, t0:t0 + L]
                    for q in range(L):
                        d0[q] = c0[q]
                    for q in range(L):
                        d1[q] = c0[q] + c1[q]
                    for q in range(L):
                        d2[q] = c1[q]
                    if not distinct:
                        d3, d4 = dmf[p0 + 3, t0:t0 + L], dmf[p0 + 4, t0:t0 + L]
                        for q in range(L):
                            d3[q] = c0[q]
                        for q in range(L):
                            d4[q] = c1[q]

    @njit(inline="always")
    def _b_row(dvf, p0, t0, L, w4, c, out):
        # B along the columns of one row of the tile row's tiles: positions p0..p0+4 of dvf
        # (at t0, L = tw*C values each) -> out, a phase-split image row (4, w4, C) flat, as
        # (d0, d3, d1 - d0 - d2, d4) in the tile's columns 0..3 and d2 added into column 4,
        # the next tile's column 0 (columns past the last tile's are left alone)
        d0, d1, d2 = dvf[p0, t0:t0 + L], dvf[p0 + 1, t0:t0 + L], dvf[p0 + 2, t0:t0 + L]
        d3, d4 = dvf[p0 + 3, t0:t0 + L], dvf[p0 + 4, t0:t0 + L]
        o0, o1 = out[0:L], out[w4 * c:w4 * c + L]
        o2, o3 = out[2 * w4 * c:2 * w4 * c + L], out[3 * w4 * c:3 * w4 * c + L]
        for q in range(L):
            o0[q] = d0[q]
        for q in range(L, L + c):
            out[q] = 0
        o4 = out[c:L + c]
        for q in range(L):
            o4[q] += d2[q]
        for q in range(L):
            o1[q] = d3[q]
        for q in range(L):
            o2[q] = d1[q] - d0[q] - d2[q]
        for q in range(L):
            o3[q] = d4[q]

    @njit(cache=True, nogil=True)
    def input_adjoint(dv, ph, out, pt, pl):
        # dv (25, n*th*tw, C) -> out (n, C, H, W): the tiles' B dv B^T summed in ph
        # (4th+1, 4, tw+1, C), whose interior at (pt, pl) is out; zero where no tile reaches.
        # B along the columns of each of a tile row's 5 rows (whole image rows), then down
        # them: B e = (e0, e3, e1 - e0 - e2, e4, e2), row 4 shared with the next tile row's
        # row 0. Every image row is written (row 0 first), none needs zeroing.
        n, c = out.shape[:2]
        hq, w4 = ph.shape[0], ph.shape[2]
        th, tw = (hq - 1) // 4, w4 - 1
        R, L = 4 * w4 * c, tw * c
        rows = ph.reshape(hq, R)
        dvf = dv.reshape(dv.shape[0], dv.shape[1] * c)
        e = np.zeros((3, R), dv.dtype)  # rows 0, 1, 2 of the tiles' B along the columns
        e0, e1, e2 = e[0], e[1], e[2]
        for b in range(n):
            for a in range(th):
                t0 = (b * th + a) * tw * c
                _b_row(dvf, 0, t0, L, w4, c, e0)
                _b_row(dvf, 5, t0, L, w4, c, e1)
                _b_row(dvf, 10, t0, L, w4, c, e2)
                _b_row(dvf, 15, t0, L, w4, c, rows[4 * a + 1])
                _b_row(dvf, 20, t0, L, w4, c, rows[4 * a + 3])
                r0, r2, r4 = rows[4 * a], rows[4 * a + 2], rows[4 * a + 4]
                if a == 0:
                    for q in range(R):
                        r0[q] = e0[q]
                else:
                    for q in range(R):
                        r0[q] += e0[q]
                for q in range(R):
                    r2[q] = e1[q] - e0[q] - e2[q]
                for q in range(R):
                    r4[q] = e2[q]
            _from_phase4(ph, out[b], pt, pl)

    s2 = {"input_transform": input_transform, "output_transform": output_transform,
          "output_adjoint": output_adjoint, "input_adjoint": input_adjoint}

    # ---- stride 1 (winograd.F2): 4x4 tiles 2 apart, 16 positions

    # The 1-D maps, one loop per output vector: a map chosen by an index inside the tile loop
    # (one helper for the four rows of A, say) was left unvectorized, 10x slower.

    @njit(inline="always")
    def _add(p, q, out):
        for j in range(out.shape[0]):
            out[j] = p[j] + q[j]

    @njit(inline="always")
    def _sub(p, q, out):
        for j in range(out.shape[0]):
            out[j] = p[j] - q[j]

    @njit(inline="always")
    def _bt(d0, d1, d2, d3, o0, o1, o2, o3):
        # B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
        for j in range(o0.shape[0]):
            o0[j] = d0[j] - d2[j]
        for j in range(o1.shape[0]):
            o1[j] = d1[j] + d2[j]
        for j in range(o2.shape[0]):
            o2[j] = d2[j] - d1[j]
        for j in range(o3.shape[0]):
            o3[j] = d1[j] - d3[j]

    @njit(inline="always")
    def _at(m0, m1, m2, m3, o0, o1):
        # A^T m = (m0 + m1 + m2, m1 - m2 - m3)
        for j in range(o0.shape[0]):
            o0[j] = m0[j] + m1[j] + m2[j]
        for j in range(o1.shape[0]):
            o1[j] = m1[j] - m2[j] - m3[j]

    @njit(inline="always")
    def _a(g0, g1, o0, o1, o2, o3):
        # A g = (g0, g0 + g1, g0 - g1, -g1)
        for j in range(o0.shape[0]):
            o0[j] = g0[j]
        for j in range(o1.shape[0]):
            o1[j] = g0[j] + g1[j]
        for j in range(o2.shape[0]):
            o2[j] = g0[j] - g1[j]
        for j in range(o3.shape[0]):
            o3[j] = -g1[j]

    @njit(inline="always")
    def _b_add(e0, e1, e2, e3, o0, o1, o2, o3):
        # o += B e = (e0, e1 - e2 + e3, e1 + e2 - e0, -e3)
        for j in range(o0.shape[0]):
            o0[j] += e0[j]
        for j in range(o1.shape[0]):
            o1[j] += (e1[j] - e2[j]) + e3[j]
        for j in range(o2.shape[0]):
            o2[j] += (e1[j] + e2[j]) - e0[j]
        for j in range(o3.shape[0]):
            o3[j] -= e3[j]

    @njit(inline="always")
    def _b_columns(d0, d1, d2, d3, t0, tw, out):
        # out (2tw+2, C): B along the columns of the tile row's tiles t0..t0+tw-1 (rows of
        # d0..d3 (tiles, C), one row of dv each), summed where they overlap. Column 2u takes
        # tile u's (B d)_0 and tile u-1's (B d)_2, column 2u+1 their (B d)_1 and (B d)_3:
        # written once each (adding into a zeroed row ran 7x slower at 32 channels).
        c = out.shape[1]
        for u in range(tw + 1):
            o0, o1 = out[2 * u], out[2 * u + 1]
            t = t0 + u
            if u == 0:
                for j in range(c):
                    o0[j] = d0[t, j]
                for j in range(c):
                    o1[j] = (d1[t, j] - d2[t, j]) + d3[t, j]
            elif u == tw:
                for j in range(c):
                    o0[j] = (d1[t - 1, j] + d2[t - 1, j]) - d0[t - 1, j]
                for j in range(c):
                    o1[j] = -d3[t - 1, j]
            else:
                for j in range(c):
                    o0[j] = d0[t, j] + ((d1[t - 1, j] + d2[t - 1, j]) - d0[t - 1, j])
                for j in range(c):
                    o1[j] = ((d1[t, j] - d2[t, j]) + d3[t, j]) - d3[t - 1, j]

    @njit(cache=True, nogil=True)
    def input_transform1(x, hwc, v, pt, pl):
        # x (n, C, H, W) padded into hwc (2th+2, 2tw+2, C) -> v (16, n*th*tw, C) = B^T d B
        n, c = x.shape[:2]
        hq, wq = hwc.shape[0], hwc.shape[1]
        th, tw = (hq - 2) // 2, (wq - 2) // 2
        rows = hwc.reshape(hq, wq * c)
        e = np.empty((4, wq, c), x.dtype)  # B^T down the 4 rows of a tile row, every column
        ef = e.reshape(4, wq * c)
        for b in range(n):
            _to_hwc(x[b], hwc, pt, pl)
            for a in range(th):
                r = 2 * a
                _bt(rows[r], rows[r + 1], rows[r + 2], rows[r + 3], ef[0], ef[1], ef[2], ef[3])
                t0 = (b * th + a) * tw
                for i in range(4):  # then B^T along each tile's 4 columns
                    ei, v0, v1, v2, v3 = e[i], v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]
                    for u in range(tw):
                        _sub(ei[2 * u], ei[2 * u + 2], v0[t0 + u])
                    for u in range(tw):
                        _add(ei[2 * u + 1], ei[2 * u + 2], v1[t0 + u])
                    for u in range(tw):
                        _sub(ei[2 * u + 2], ei[2 * u + 1], v2[t0 + u])
                    for u in range(tw):
                        _sub(ei[2 * u + 1], ei[2 * u + 3], v3[t0 + u])

    # The output (gradient) side meets NCHW through a channels-last scratch of whole rows, with
    # the loop over the scratch's strided side innermost (per tile, with strided stores into
    # y, the output transform took twice as long). The output transform fills a band of tile
    # rows (about 32 KiB, in L1) before writing it to y channel by channel, in runs of whole
    # rows: per tile row it took 1.2x as long at 64 channels, 14x14, in the layer, and a whole
    # image's band (in L2) 1.7x as long alone at 28x28. The output adjoint reads gy into
    # one tile row's 2 rows; bands read channel by channel ran slower there.

    @njit(cache=True, nogil=True)
    def output_transform1(m, y, bias):
        # m (16, n*th*tw, O) -> y (n, O, Ho, Wo) = A^T m A per tile + bias (O,), cropped to
        # Ho x Wo
        n, o, ho, wo = y.shape
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        mf = m.reshape(16, m.shape[1] * o)
        p = np.empty((2, 4, tw, o), m.dtype)  # A^T down each of the tiles' 4 columns
        pf = p.reshape(2, 4, tw * o)
        band = max(1, 32768 // (4 * tw * o * m.itemsize))  # tile rows
        z = np.empty((2 * band, 2 * tw, o), m.dtype)  # the band's output rows
        for b in range(n):
            yb = y[b]
            for a0 in range(0, th, band):
                for a in range(a0, min(a0 + band, th)):
                    t0 = (b * th + a) * tw
                    lo, hi = t0 * o, (t0 + tw) * o
                    for j in range(4):
                        _at(mf[j, lo:hi], mf[4 + j, lo:hi], mf[8 + j, lo:hi], mf[12 + j, lo:hi],
                            pf[0, j], pf[1, j])
                    for i in range(2):  # then A^T along the rows
                        pi, zi = p[i], z[2 * (a - a0) + i]
                        for u in range(tw):
                            _at(pi[0, u], pi[1, u], pi[2, u], pi[3, u], zi[2 * u], zi[2 * u + 1])
                r0, r1 = 2 * a0, min(2 * (a0 + band), ho)
                for k in range(o):
                    bk = bias[k]
                    for r in range(r0, r1):
                        dst, zr = yb[k, r], z[r - r0]
                        for s in range(wo):
                            dst[s] = zr[s, k] + bk

    @njit(cache=True, nogil=True)
    def output_adjoint1(gy, dm):
        # gy (n, O, Ho, Wo) -> dm (16, n*th*tw, O) = A g A^T per 2x2 tile g (zero past Ho x Wo)
        n, o, ho, wo = gy.shape
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        g = np.empty((2, 2 * tw, o), gy.dtype)  # the tile row's 2 rows of gy, zero-extended
        h = np.empty((4, 2 * tw, o), gy.dtype)  # A down each column
        gf, hf = g.reshape(2, 2 * tw * o), h.reshape(4, 2 * tw * o)
        zero = gy.dtype.type(0)
        for b in range(n):
            gb = gy[b]
            for a in range(th):
                for r in range(2):
                    gr = g[r]
                    if 2 * a + r < ho:
                        for s in range(wo):
                            dst = gr[s]
                            for k in range(o):
                                dst[k] = gb[k, 2 * a + r, s]
                        gr[wo:] = zero
                    else:
                        gr[:] = zero
                _a(gf[0], gf[1], hf[0], hf[1], hf[2], hf[3])
                t0 = (b * th + a) * tw
                for i in range(4):  # then A along each tile's 4 rows
                    hi, d0, d1, d2, d3 = h[i], dm[4 * i], dm[4 * i + 1], dm[4 * i + 2], \
                        dm[4 * i + 3]
                    for u in range(tw):
                        t = t0 + u
                        _a(hi[2 * u], hi[2 * u + 1], d0[t], d1[t], d2[t], d3[t])

    @njit(cache=True, nogil=True)
    def input_adjoint1(dv, hwc, out, pt, pl):
        # dv (16, n*th*tw, C) -> out (n, C, H, W): the tiles' B dv B^T summed in hwc (Hq, Wq, C),
        # whose interior at (pt, pl) is out
        n, c = out.shape[:2]
        hq, wq = hwc.shape[0], hwc.shape[1]
        th, tw = (hq - 2) // 2, (wq - 2) // 2
        rows = hwc.reshape(hq, wq * c)
        e = np.empty((4, wq, c), dv.dtype)  # B along the columns of each of dv's 4 rows
        ef = e.reshape(4, wq * c)
        zero = dv.dtype.type(0)
        for b in range(n):
            hwc[:, :, :] = zero
            for a in range(th):
                t0 = (b * th + a) * tw
                for i in range(4):
                    _b_columns(dv[4 * i], dv[4 * i + 1], dv[4 * i + 2], dv[4 * i + 3], t0, tw,
                               e[i])
                r = 2 * a  # then B down the rows, added into the image's rows
                _b_add(ef[0], ef[1], ef[2], ef[3], rows[r], rows[r + 1], rows[r + 2],
                       rows[r + 3])
            _from_hwc(hwc, out[b], pt, pl)

    s1 = {"input_transform": input_transform1, "output_transform": output_transform1,
          "output_adjoint": output_adjoint1, "input_adjoint": input_adjoint1}
    return {1: s1, 2: s2}  # by stride


def _scratch(padded, c, stride, dtype, make):
    """The scratch image of `padded` (Hq, Wq) with C channels: (Hq, Wq, C) at stride 1, its
    columns by phase modulo 4 at stride 2, (Hq, 4, (Wq - 1) / 4 + 1, C)."""
    if stride == 1:
        return make(padded + (c,), dtype)
    return make((padded[0], 4, (padded[1] - 1) // 4 + 1, c), dtype)


def input_transform(x, v, stride, pt, pl, padded):
    """x (n, C, H, W), zero-padded by (pt, pl) at the top left to `padded` ((2th+2, 2tw+2) at
    stride 1, (4th+1, 4tw+1) at stride 2) -> v (P, n*th*tw, C)."""
    _compiled()[stride]["input_transform"](
        x, _scratch(padded, x.shape[1], stride, x.dtype, np.zeros), v, pt, pl)
    return v


def output_transform(m, y, stride, bias=None):
    """m (P, n*th*tw, O) -> y (n, O, Ho, Wo), the 2x2 tiles cropped to Ho x Wo, plus `bias`
    (O,) if given (added in the same pass, instead of one more over y)."""
    b = np.zeros(y.shape[1], y.dtype) if bias is None else bias
    _compiled()[stride]["output_transform"](m, y, b)
    return y


def output_adjoint(gy, dm, stride):
    """gy (n, O, Ho, Wo) -> dm (P, n*th*tw, O), gy zero-extended to whole 2x2 tiles."""
    _compiled()[stride]["output_adjoint"](gy, dm)
    return dm


def input_adjoint(dv, out, stride, pt, pl, padded):
    """dv (P, n*th*tw, C) -> out (n, C, H, W) (overwritten): the input gradient."""
    _compiled()[stride]["input_adjoint"](
        dv, _scratch(padded, out.shape[1], stride, dv.dtype, np.empty), out, pt, pl)
    return out
