"""numba loops of mytorch.ops.winograd_t: Winograd F(m x m, 2x2) on the stride phases of a
4x4 stride-2 transposed convolution, with the batch innermost.

Every transformed tensor keeps the batch innermost ((a*a, channels + 1, tiles*N), see
winograd_t), as mytorch.ops.conv_chwn's columns do: each step of a transform is a loop over N
contiguous values (a batch of 64 is four AVX-512 vectors) whatever the tile count, and the
batched GEMMs read (channels, tiles*N) matrices. NCHW images meet this layout one channel at a
time through blocked transposes (as conv_chwn's) that read or write the rows in the transform's
order. The transforms are small matrix products with the scheme's matrices
(winograd_t.matrices) passed in, applied along one axis of the tile, then the other, each
output the sum of the matrix row's nonzero terms in one loop. The array-module references
beside them in winograd_t.py serve CuPy and the tests, with the same layouts.

Geometry (one axis, see winograd_t): a tile t reads the input rows b0 - 1 + t*m + i, i < a = m+1
(zero outside the input), held in an (nt*m + 1)-row zero-bordered scratch image at row t*m + i;
it yields phase r of the output's padded rows 2*(b0 + t*m + k) + r, k < m, kept where they fall
inside the output (row 2*(b0 + t*m + k) + r - pt).
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    # The helpers are module globals, not closure variables: a cached kernel that calls a
    # closure's dispatcher misses numba's on-disk cache in every new process.
    global _to_rows, _from_rows, _comb, _scratch_rows, _phase_rows
    from numba import njit  # imported on first use, as in _kernels_winograd

    @njit(cache=True, nogil=True)
    def _to_rows(a, out, rows):
        # out[rows[j]] = a[:, j] (a (N, P) -> rows of out (R, N)); rows[j] < 0: column j is
        # left out. Eight rows of `a` at a time, so that each row of out is written in runs
        # of eight (as conv_chwn's transpose): the layout change at the edge and the move
        # into the transform's order in one pass
        r, s = a.shape
        r8 = r - r % 8
        for i in range(0, r8, 8):
            a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
            a4, a5, a6, a7 = a[i + 4], a[i + 5], a[i + 6], a[i + 7]
            for j in range(s):
                if rows[j] >= 0:
                    d = out[rows[j], i:i + 8]
                    d[0], d[1], d[2], d[3] = a0[j], a1[j], a2[j], a3[j]
                    d[4], d[5], d[6], d[7] = a4[j], a5[j], a6[j], a7[j]
        for i in range(r8, r):
            for j in range(s):
                if rows[j] >= 0:
                    out[rows[j], i] = a[i, j]

    @njit(cache=True, nogil=True)
    def _from_rows(a, rows, out, add):
        # out[:, j] = a[rows[j]] + add (rows of a (R, N) -> out (N, P)); rows[j] < 0: zero + add
        n, s = out.shape
        zeros = np.zeros(n, a.dtype)
        s8 = s - s % 8
        for j in range(0, s8, 8):
            a0 = a[rows[j]] if rows[j] >= 0 else zeros
            a1 = a[rows[j + 1]] if rows[j + 1] >= 0 else zeros
            a2 = a[rows[j + 2]] if rows[j + 2] >= 0 else zeros
            a3 = a[rows[j + 3]] if rows[j + 3] >= 0 else zeros
            a4 = a[rows[j + 4]] if rows[j + 4] >= 0 else zeros
            a5 = a[rows[j + 5]] if rows[j + 5] >= 0 else zeros
            a6 = a[rows[j + 6]] if rows[j + 6] >= 0 else zeros
            a7 = a[rows[j + 7]] if rows[j + 7] >= 0 else zeros
            for i in range(n):
                d = out[i, j:j + 8]
                d[0], d[1], d[2], d[3] = a0[i] + add, a1[i] + add, a2[i] + add, a3[i] + add
                d[4], d[5], d[6], d[7] = a4[i] + add, a5[i] + add, a6[i] + add, a7[i] + add
        for j in range(s8, s):
            src = a[rows[j]] if rows[j] >= 0 else zeros
            for i in range(n):
                out[i, j] = src[i] + add

    @njit(inline="always")
    def _comb(dst, dr, dc, src, rs, cs, fs, nz, nu, rshift, cshift, add):
        # dst[dr, dc + u] (= or, with add, +=) sum over t < nz of fs[t] * src[rs[t] + rshift,
        # cs[t] + cshift + u], u < nu: vectors of N (the last axis), the terms summed in one
        # loop (one store). Every index but the innermost stays fixed along that loop: an
        # offset there (dst[d0 + k]) might be negative as far as numba knows, and its
        # wraparound test per element kept LLVM from vectorizing (3-8x slower); slices cost a
        # reference count each.
        n = dst.shape[2]
        f0, f1, f2, f3, f4 = fs[0], fs[1], fs[2], fs[3], fs[4]
        r0, r1, r2, r3, r4 = rs[0] + rshift, rs[1] + rshift, rs[2] + rshift, rs[3] + rshift, \
            rs[4] + rshift
        for u in range(nu):
            d = dc + u
            e = cshift + u
            c0, c1, c2, c3, c4 = cs[0] + e, cs[1] + e, cs[2] + e, cs[3] + e, cs[4] + e
            if add:
                if nz == 1:
                    for k in range(n):
                        dst[dr, d, k] += f0 * src[r0, c0, k]
                elif nz == 2:
                    for k in range(n):
                        dst[dr, d, k] += f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                elif nz == 3:
                    for k in range(n):
                        dst[dr, d, k] += (f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                                          + f2 * src[r2, c2, k])
                elif nz == 4:
                    for k in range(n):
                        dst[dr, d, k] += (f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                                          + f2 * src[r2, c2, k] + f3 * src[r3, c3, k])
                elif nz == 5:
                    for k in range(n):
                        dst[dr, d, k] += (f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                                          + f2 * src[r2, c2, k] + f3 * src[r3, c3, k]
                                          + f4 * src[r4, c4, k])
            else:
                if nz == 0:
                    for k in range(n):
                        dst[dr, d, k] = 0
                elif nz == 1:
                    for k in range(n):
                        dst[dr, d, k] = f0 * src[r0, c0, k]
                elif nz == 2:
                    for k in range(n):
                        dst[dr, d, k] = f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                elif nz == 3:
                    for k in range(n):
                        dst[dr, d, k] = (f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                                         + f2 * src[r2, c2, k])
                elif nz == 4:
                    for k in range(n):
                        dst[dr, d, k] = (f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                                         + f2 * src[r2, c2, k] + f3 * src[r3, c3, k])
                else:
                    for k in range(n):
                        dst[dr, d, k] = (f0 * src[r0, c0, k] + f1 * src[r1, c1, k]
                                         + f2 * src[r2, c2, k] + f3 * src[r3, c3, k]
                                         + f4 * src[r4, c4, k])

    @njit(cache=True, nogil=True)
    def _scratch_rows(h_in, w_in, q0, q1, m, th, tw):
        # row of the phase-form scratch image (see below) of each input position, -1 for
        # those no tile reads
        r1, c1 = th + 1, tw + 1
        where = np.full(h_in * w_in, -1, np.int64)
        for r in range(max(q0, 0), min(h_in, q0 + th * m + 1)):
            rr = r - q0
            for s in range(max(q1, 0), min(w_in, q1 + tw * m + 1)):
                ss = s - q1
                where[r * w_in + s] = ((rr % m) * r1 + rr // m) * m * c1 + (ss % m) * c1 \
                    + ss // m
        return where

    @njit(cache=True, nogil=True)
    def _phase_rows(h_out, w_out, b0h, b0w, pt, pl, m, th, tw):
        # row of each output position among the transform's tiles and phases, ordered
        # [(p*m + kh)*m + kw, t*tw + u] (every output position has one)
        where = np.full(h_out * w_out, -1, np.int64)
        for p in range(4):
            rh, rw = p // 2, p % 2
            for kh in range(m):
                for t in range(th):
                    h = 2 * (b0h + t * m + kh) + rh - pt
                    if h < 0 or h >= h_out:
                        continue
                    for kw in range(m):
                        for u in range(tw):
                            w = 2 * (b0w + u * m + kw) + rw - pl
                            if 0 <= w < w_out:
                                where[h * w_out + w] = ((p * m + kh) * m + kw) * th * tw \
                                    + t * tw + u
        return where

    # The input's scratch image is kept in "phase" form: row r = rq*m + ri and column
    # s = sq*m + sj at [ri*(th+1) + rq, sj*(tw+1) + sq], so that column j of the tiles of a row
    # (s = u*m + j, u < tw) are tw consecutive entries, and after the column step (rows
    # [(xw*m + ri)*(th+1) + rq], tiles u) row i of the tiles of a column are th consecutive
    # rows: the loops run over whole tile rows and columns, not one tile at a time. The
    # matrices have at most five nonzero entries in a row (m <= 4).

    @njit(cache=True, nogil=True, fastmath={"contract"})
    def input_transform(x, bt, v, q0, q1, m, th, tw):
        # x (N, C, H, W) -> v [xh*a + xw, ci, (t*tw + u)*N + image] = B^T d B per tile d (a x a,
        # m apart), tile (0, 0) at input row q0 and column q1
        n, c, h_in, w_in = x.shape
        a = bt.shape[0]
        r1, c1 = th + 1, tw + 1
        hw = h_in * w_in
        x2 = x.reshape(n, c * hw)
        v3 = v.reshape(a * a, v.shape[1] * th, tw * n)  # [xh*a + xw, ci*th + t, u*N + image]
        scratch = np.zeros((m * r1, m * c1, n), x.dtype)
        scratch2 = scratch.reshape(m * r1 * m * c1, n)
        where = _scratch_rows(h_in, w_in, q0, q1, m, th, tw)
        cols = np.empty((a * m * r1, tw, n), x.dtype)
        cols2 = cols.reshape(a * m * r1, 1, tw * n)  # each tile row one run
        rs, cs = np.zeros(5, np.int64), np.zeros(5, np.int64)
        fs = np.zeros(5, x.dtype)
        for ci in range(c):
            _to_rows(x2[:, ci * hw:(ci + 1) * hw], scratch2, where)
            for ri in range(m):
                for rq in range(r1 if ri == 0 else th):
                    for xw in range(a):
                        nz = 0
                        for j in range(a):
                            if bt[xw, j] != 0:
                                rs[nz], cs[nz], fs[nz] = ri * r1 + rq, (j % m) * c1 + j // m, \
                                    bt[xw, j]
                                nz += 1
                        _comb(cols, (xw * m + ri) * r1 + rq, 0, scratch, rs, cs, fs, nz, tw, 0, 0,
                              False)
            for xh in range(a):
                for xw in range(a):
                    nz = 0
                    for i in range(a):
                        if bt[xh, i] != 0:
                            rs[nz], cs[nz], fs[nz] = (xw * m + i % m) * r1 + i // m, 0, bt[xh, i]
                            nz += 1
                    for t in range(th):
                        _comb(v3, xh * a + xw, ci * th + t, cols2, rs, cs, fs, nz, 1, t, 0,
                              False)

    @njit(cache=True, nogil=True, fastmath={"contract"})
    def input_adjoint(dv, bt, out, q0, q1, m, th, tw):
        # dv (laid out as input_transform's v) -> out (N, C, H, W) (overwritten): B dv B^T per
        # tile, added where tiles overlap
        n, c, h_in, w_in = out.shape
        a = bt.shape[0]
        r1, c1 = th + 1, tw + 1
        hw = h_in * w_in
        out2 = out.reshape(n, c * hw)
        dv3 = dv.reshape(a * a, dv.shape[1] * th, tw * n)
        scratch = np.empty((m * r1, m * c1, n), out.dtype)
        scratch2 = scratch.reshape(m * r1 * m * c1, n)
        where = _scratch_rows(h_in, w_in, q0, q1, m, th, tw)
        cols = np.empty((a * m * r1, tw, n), out.dtype)
        cols2 = cols.reshape(a * m * r1, 1, tw * n)
        rs, cs = np.zeros(5, np.int64), np.zeros(5, np.int64)
        fs = np.zeros(5, out.dtype)
        zero = out.dtype.type(0)
        # Tiles overlap in their last row and column (i = m of tile t is i = 0 of tile t + 1):
        # the first write of each scratch entry stores, the second adds, so nothing is zeroed
        # first (in ascending i and j the i = 0 write comes first).
        for ci in range(c):
            for xw in range(a):
                for i in range(a):
                    nz = 0
                    for xh in range(a):
                        if bt[xh, i] != 0:
                            rs[nz], cs[nz], fs[nz] = xh * a + xw, ci * th, bt[xh, i]
                            nz += 1
                    for t in range(th):
                        _comb(cols2, (xw * m + i % m) * r1 + i // m + t, 0, dv3, rs, cs, fs, nz,
                              1, 0, t, i == m and t + 1 < th)
            for ri in range(m):
                for rq in range(r1 if ri == 0 else th):
                    for j in range(a):
                        nz = 0
                        for xw in range(a):
                            if bt[xw, j] != 0:
                                rs[nz], cs[nz], fs[nz] = (xw * m + ri) * r1 + rq, 0, bt[xw, j]
                                nz += 1
                        if j < m:
                            _comb(scratch, ri * r1 + rq, j * c1, cols, rs, cs, fs, nz, tw, 0, 0,
                                  False)
                        else:  # columns (u + 1)*m: on tile u + 1's column 0 but the last
                            _comb(scratch, ri * r1 + rq, 1, cols, rs, cs, fs, nz, tw - 1, 0, 0,
                                  True)
                            _comb(scratch, ri * r1 + rq, tw, cols, rs, cs, fs, nz, 1, 0, tw - 1,
                                  False)
            _from_rows(scratch2, where, out2[:, ci * hw:(ci + 1) * hw], zero)

    @njit(cache=True, nogil=True, fastmath={"contract"})
    def output_transform(z3, at, y, bias, b0h, b0w, pt, pl, th, tw):
        # z3 [xh*a + xw, 4*ci + p, (t*tw + u)*N + image] -> y (N, C, H, W) (overwritten) =
        # A^T z A per tile and phase p = 2*rh + rw, plus bias (C,)
        n, c, h_out, w_out = y.shape
        m, a = at.shape
        nt = th * tw
        hw = h_out * w_out
        y2 = y.reshape(n, c * hw)
        rows = np.empty((m * a, 1, nt * n), y.dtype)  # A^T down the columns: [kh*a + xw]
        res = np.empty((4 * m * m, 1, nt * n), y.dtype)  # [(p*m + kh)*m + kw, t*tw + u]
        res2 = res.reshape(4 * m * m * nt, n)
        where = _phase_rows(h_out, w_out, b0h, b0w, pt, pl, m, th, tw)
        rs, cs = np.zeros(5, np.int64), np.zeros(5, np.int64)
        fs = np.zeros(5, y.dtype)
        for ci in range(c):
            for p in range(4):
                for kh in range(m):
                    for xw in range(a):
                        nz = 0
                        for xh in range(a):
                            if at[kh, xh] != 0:
                                rs[nz], cs[nz], fs[nz] = xh * a + xw, 4 * ci + p, at[kh, xh]
                                nz += 1
                        _comb(rows, kh * a + xw, 0, z3, rs, cs, fs, nz, 1, 0, 0, False)
                for kh in range(m):
                    for kw in range(m):
                        nz = 0
                        for xw in range(a):
                            if at[kw, xw] != 0:
                                rs[nz], cs[nz], fs[nz] = kh * a + xw, 0, at[kw, xw]
                                nz += 1
                        _comb(res, (p * m + kh) * m + kw, 0, rows, rs, cs, fs, nz, 1, 0, 0,
                              False)
            _from_rows(res2, where, y2[:, ci * hw:(ci + 1) * hw], bias[ci])

    @njit(cache=True, nogil=True, fastmath={"contract"})
    def output_adjoint(gy, at, dz3, gb, b0h, b0w, pt, pl, th, tw):
        # gy (N, C, H, W) -> dz3 (laid out as output_transform's z3) = A g A^T per tile and
        # phase (g zero outside the output); gb (C,) float64 gets each channel's sum (the bias
        # gradient)
        n, c, h_out, w_out = gy.shape
        m, a = at.shape
        nt = th * tw
        hw = h_out * w_out
        gy2 = gy.reshape(n, c * hw)
        # [(p*m + kh)*m + kw, t*tw + u]; the entries past the output stay zero
        g = np.zeros((4 * m * m, 1, nt * n), gy.dtype)
        g2 = g.reshape(4 * m * m * nt, n)
        where = _phase_rows(h_out, w_out, b0h, b0w, pt, pl, m, th, tw)
        rows = np.empty((m * a, 1, nt * n), gy.dtype)  # [kh*a + xw]
        rs, cs = np.zeros(5, np.int64), np.zeros(5, np.int64)
        fs = np.zeros(5, gy.dtype)
        acc = np.empty(n, np.float64)
        for ci in range(c):
            _to_rows(gy2[:, ci * hw:(ci + 1) * hw], g2, where)
            acc[:] = 0  # one sum per image: independent adds that vectorize
            for q in range(g2.shape[0]):
                for k in range(n):
                    acc[k] += g2[q, k]
            gb[ci] = acc.sum()
            for p in range(4):
                for kh in range(m):
                    for xw in range(a):
                        nz = 0
                        for kw in range(m):
                            if at[kw, xw] != 0:
                                rs[nz], cs[nz], fs[nz] = (p * m + kh) * m + kw, 0, at[kw, xw]
                                nz += 1
                        _comb(rows, kh * a + xw, 0, g, rs, cs, fs, nz, 1, 0, 0, False)
                for xh in range(a):
                    for xw in range(a):
                        nz = 0
                        for kh in range(m):
                            if at[kh, xh] != 0:
                                rs[nz], cs[nz], fs[nz] = kh * a + xw, 0, at[kh, xh]
                                nz += 1
                        _comb(dz3, xh * a + xw, 4 * ci + p, rows, rs, cs, fs, nz, 1, 0, 0, False)

    @njit(cache=True, nogil=True, fastmath={"contract"})
    def filter_transform(w, kron, u):
        # w (O, C, 4, 4) -> u (a*a, 4C, O) = (G (x) G) taps, per channel c and phase p; the
        # taps of phase p = 2*rh + rw at kron's column 2*jh + jw are w[2(1-jh) + rh, 2(1-jw) + rw]
        o, c = w.shape[0], w.shape[1]
        taps = np.empty((4, o), w.dtype)
        for ci in range(c):
            for p in range(4):
                for t in range(4):
                    i, j = 2 * (1 - t // 2) + p // 2, 2 * (1 - t % 2) + p % 2
                    for k in range(o):
                        taps[t, k] = w[k, ci, i, j]
                for x in range(kron.shape[0]):
                    f0, f1, f2, f3 = kron[x, 0], kron[x, 1], kron[x, 2], kron[x, 3]
                    for k in range(o):
                        u[x, 4 * ci + p, k] = (f0 * taps[0, k] + f1 * taps[1, k]
                                               + f2 * taps[2, k] + f3 * taps[3, k])

    @njit(cache=True, nogil=True)
    def filter_taps_adjoint(taps, gw):
        # taps (4, 4C*O) = (G (x) G)^T du, [2*jh + jw, (4c + 2*rh + rw)*O + o] -> gw (O, C, 4, 4)
        # at [o, c, 2(1-jh) + rh, 2(1-jw) + rw]: the layout change that ended the reference's
        # adjoint (68 us of its 106 as a NumPy copy through flipped 6-D strides)
        o, c = gw.shape[0], gw.shape[1]
        for k in range(o):
            for ci in range(c):
                for p in range(4):
                    col = (4 * ci + p) * o + k
                    for t in range(4):
                        gw[k, ci, 2 * (1 - t // 2) + p // 2, 2 * (1 - t % 2) + p % 2] = \
                            taps[t, col]

    return {"input_transform": input_transform, "input_adjoint": input_adjoint,
            "output_transform": output_transform, "output_adjoint": output_adjoint,
            "filter_transform": filter_transform, "filter_taps_adjoint": filter_taps_adjoint}


def input_transform(x, bt, v3, q0, q1, m, th, tw):
    """x (N, C, H, W) -> v3 (a*a, >= C, th*tw*N): B^T d B of the a x a tiles m apart, tile
    (0, 0) at input row q0, column q1 (zero outside the input), at [xh*a + xw, c, (t*tw + u)*N
    + image]."""
    _compiled()["input_transform"](x, bt, v3, q0, q1, m, th, tw)
    return v3


def input_adjoint(dv3, bt, out, q0, q1, m, th, tw):
    """dv3 (as input_transform's v3) -> out (N, C, H, W) (overwritten): the adjoint of
    `input_transform`."""
    _compiled()["input_adjoint"](dv3, bt, out, q0, q1, m, th, tw)
    return out


def output_transform(z3, at, y, b0h, b0w, pt, pl, th, tw, bias=None):
    """z3 (a*a, >= 4C, th*tw*N) at [xh*a + xw, 4c + 2rh + rw, (t*tw + u)*N + image] -> y
    (N, C, H, W) (overwritten): A^T z A per tile and phase, cropped to y, plus `bias` (C,) if
    given."""
    b = np.zeros(y.shape[1], y.dtype) if bias is None else bias
    _compiled()["output_transform"](z3, at, y, b, b0h, b0w, pt, pl, th, tw)
    return y


def output_adjoint(gy, at, dz3, b0h, b0w, pt, pl, th, tw):
    """gy (N, C, H, W) -> (dz3 (as output_transform's z3), gy summed per channel (C,)
    float64): the adjoint of `output_transform` and the bias gradient."""
    gb = np.empty(gy.shape[1], np.float64)
    _compiled()["output_adjoint"](gy, at, dz3, gb, b0h, b0w, pt, pl, th, tw)
    return dz3, gb


def filter_transform(w, kron, u):
    """w (O, C, 4, 4) -> u (a*a, 4C, O): the filter transform (winograd_t.weight_transform)."""
    _compiled()["filter_transform"](w, kron, u)
    return u


def filter_taps_adjoint(taps, gw):
    """taps (4, 4C*O) = (G (x) G)^T du -> gw (O, C, 4, 4) (overwritten): the layout change of
    the filter transform's adjoint."""
    _compiled()["filter_taps_adjoint"](taps, gw)
    return gw
