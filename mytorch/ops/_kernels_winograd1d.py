"""numba loops for the 1-D Winograd F(4, 3) transforms in mytorch.ops.winograd1d.

Each loop has an array-module reference in winograd1d.py (`input_transform_reference`, ...)
that CuPy and the tests use. The matrices of winograd1d.F4 are written out here, so their zeros
and unit entries cost nothing. Each input (gradient) row goes through a zero-bordered scratch
row of the padded length (it stays in L1): neither the input is padded nor its gradient cropped
as whole arrays.

Layouts: rows are (n, C, L) (the conv's height-1 axis dropped); transformed tensors are
(6, channels, tiles) with tiles ordered (n, tile). The tile axis may be longer than the tiles
(the drivers keep it odd, as winograd.py does); the loops leave the rest alone.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays

# The matrices' entries as float32: numba computes an int literal times a float32 in float64
# (half the vector width, and a rounding the float32 references do not make); times a float64
# they stay float64.
TWO, FOUR, FIVE, EIGHT = (np.float32(k) for k in (2, 4, 5, 8))


@functools.cache
def _compiled():
    # numba is imported on first use, so `import mytorch` stays fast; cache=True keeps the
    # machine code on disk between processes.
    from numba import njit

    @njit(cache=True, nogil=True)
    def input_transform(x, row, v, pl):
        # x (n, C, L) at offset pl in row (4T+2, zero borders) -> v (6, C, n*T) = B^T d per tile
        n, c, L = x.shape
        T = (row.shape[0] - 2) // 4
        row[:] = 0
        for b in range(n):
            for ci in range(c):
                src = x[b, ci]
                for s in range(L):
                    row[pl + s] = src[s]
                v0, v1, v2, v3, v4, v5 = v[0, ci], v[1, ci], v[2, ci], v[3, ci], v[4, ci], \
                    v[5, ci]
                t0 = b * T
                for t in range(T):
                    s = 4 * t
                    d0, d1, d2, d3, d4, d5 = row[s], row[s + 1], row[s + 2], row[s + 3], \
                        row[s + 4], row[s + 5]
                    v0[t0 + t] = FOUR * d0 - FIVE * d2 + d4
                    v1[t0 + t] = d3 + d4 - FOUR * (d1 + d2)
                    v2[t0 + t] = d4 - d3 + FOUR * (d1 - d2)
                    v3[t0 + t] = d4 - d2 + TWO * (d3 - d1)
                    v4[t0 + t] = d4 - d2 + TWO * (d1 - d3)
                    v5[t0 + t] = FOUR * d1 - FIVE * d3 + d5
        return v

    @njit(cache=True, nogil=True)
    def output_transform(m, row, y):
        # m (6, O, n*T) -> y (n, O, Lo) = A^T m per tile, through row (4T,), cropped to Lo
        n, o, Lo = y.shape
        T = row.shape[0] // 4
        for b in range(n):
            t0 = b * T
            for oi in range(o):
                m0, m1, m2, m3, m4, m5 = m[0, oi], m[1, oi], m[2, oi], m[3, oi], m[4, oi], \
                    m[5, oi]
                for t in range(T):
                    a0, a1, a2, a3, a4, a5 = m0[t0 + t], m1[t0 + t], m2[t0 + t], m3[t0 + t], \
                        m4[t0 + t], m5[t0 + t]
                    s = 4 * t
                    p, q = a1 + a2, a1 - a2
                    r, u = a3 + a4, a3 - a4
                    row[s] = a0 + p + r
                    row[s + 1] = q + TWO * u
                    row[s + 2] = p + FOUR * r
                    row[s + 3] = q + EIGHT * u + a5
                dst = y[b, oi]
                for s in range(Lo):
                    dst[s] = row[s]
        return y

    @njit(cache=True, nogil=True)
    def output_adjoint(gy, row, dm):
        # gy (n, O, Lo) zero-extended in row (4T,) -> dm (6, O, n*T) = A gy per tile
        n, o, Lo = gy.shape
        T = row.shape[0] // 4
        row[:] = 0
        for b in range(n):
            t0 = b * T
            for oi in range(o):
                src = gy[b, oi]
                for s in range(Lo):
                    row[s] = src[s]
                d0, d1, d2, d3, d4, d5 = dm[0, oi], dm[1, oi], dm[2, oi], dm[3, oi], \
                    dm[4, oi], dm[5, oi]
                for t in range(T):
                    s = 4 * t
                    g0, g1, g2, g3 = row[s], row[s + 1], row[s + 2], row[s + 3]
                    e, f = g0 + g2, g1 + g3
                    h, k = g0 + FOUR * g2, TWO * g1 + EIGHT * g3
                    d0[t0 + t] = g0
                    d1[t0 + t] = e + f
                    d2[t0 + t] = e - f
                    d3[t0 + t] = h + k
                    d4[t0 + t] = h - k
                    d5[t0 + t] = g3
        return dm

    @njit(cache=True, nogil=True)
    def input_adjoint(dv, row, gx, pl):
        # dv (6, C, n*T) -> gx (n, C, L) = B dv per tile, summed in row (4T+2,) where tiles
        # overlap, padding dropped
        n, c, L = gx.shape
        T = (row.shape[0] - 2) // 4
        for b in range(n):
            t0 = b * T
            for ci in range(c):
                v0, v1, v2, v3, v4, v5 = dv[0, ci], dv[1, ci], dv[2, ci], dv[3, ci], \
                    dv[4, ci], dv[5, ci]
                # Tile t's six values land on row[4t:4t+6]: its first four are written, then
                # its last two are added onto the next tile's first two. Two passes without a
                # dependence from one tile to the next, so that both vectorize.
                for t in range(T):
                    a0, a1, a2, a3, a4, a5 = v0[t0 + t], v1[t0 + t], v2[t0 + t], v3[t0 + t], \
                        v4[t0 + t], v5[t0 + t]
                    s = 4 * t
                    row[s] = FOUR * a0
                    row[s + 1] = FOUR * (a2 - a1 + a5) + TWO * (a4 - a3)
                    row[s + 2] = -FIVE * a0 - FOUR * (a1 + a2) - a3 - a4
                    row[s + 3] = a1 - a2 + TWO * (a3 - a4) - FIVE * a5
                row[4 * T] = 0
                row[4 * T + 1] = 0
                for t in range(T):
                    s = 4 * t
                    row[s + 4] += v0[t0 + t] + v1[t0 + t] + v2[t0 + t] + v3[t0 + t] + v4[t0 + t]
                    row[s + 5] += v5[t0 + t]
                dst = gx[b, ci]
                for s in range(L):
                    dst[s] = row[pl + s]
        return gx

    return input_transform, output_transform, output_adjoint, input_adjoint


def input_transform(x, out, pl, padded):
    """x (n, C, L) -> out (6, C, tiles...) (see the module docstring); `padded` is 4T+2."""
    return _compiled()[0](x, np.empty(padded, x.dtype), out, pl)


def output_transform(m, out):
    """m (6, O, tiles...) -> out (n, O, Lo)."""
    T = -(-out.shape[2] // 4)
    return _compiled()[1](m, np.empty(4 * T, m.dtype), out)


def output_adjoint(gy, out):
    """gy (n, O, Lo) -> out (6, O, tiles...)."""
    T = -(-gy.shape[2] // 4)
    return _compiled()[2](gy, np.empty(4 * T, gy.dtype), out)


def input_adjoint(dv, out, pl, padded):
    """dv (6, C, tiles...) -> out (n, C, L)."""
    return _compiled()[3](dv, np.empty(padded, dv.dtype), out, pl)
