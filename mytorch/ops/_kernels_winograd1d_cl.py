"""numba loops for the 1-D Winograd F(4, 3) transforms with channels-last transformed tensors
(mytorch.ops.winograd1d_cl).

The loops of mytorch.ops._kernels_winograd1d keep the tiles innermost (6, C, tiles) and read
each tile's inputs 4 apart along a row. Here the channels are innermost, (6, tiles, C): every
step of a transform is a loop over a contiguous channel vector that stores one vector, which
LLVM vectorizes. Two things the timings forced: the loops index the arrays directly (v[k, u, j])
instead of taking a row view per tile (v0[u][j]: the views' reference counting made the input
transform 1.7x slower at 64 channels), and the constants are of the arrays' dtype (an int
literal times a float32 is a float64 in numba: converted back and forth, half-width vectors).

NCL rows meet this layout through a channels-last scratch of a whole image, (4T+2, C) for the
input (gradient), (4T, O) for the output gradient, transposed in 8 x 8 blocks (`_to_cl`,
`_from_cl`). The transposes are most of these loops' time: 64 channels at length 256, 8 images,
input transform 0.065 ms (tiles-last 0.092), input adjoint 0.077 (0.082), output adjoint 0.063
(0.036). The output transform, 0.075 against 0.036 here, is the tiles-last loop of
_kernels_winograd1d: the forward's GEMM writes M tiles-last (winograd1d_cl.ChannelsLastIn).

Each loop has an array-module reference in winograd1d_cl.py that CuPy and the tests use. Rows
are (n, C, L) (the conv's height-1 axis dropped); tiles are ordered (n, tile); the tile axis may
be longer than the tiles (the drivers keep it odd), the loops leave the rest alone.
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
    global _to_cl, _from_cl
    from numba import njit  # imported on first use, as in _kernels_winograd

    # NCL rows meet the channels-last scratch through these transposes, in 8 x 8 blocks of
    # constant size that LLVM unrolls: 0.36x the time of one strided loop over the whole
    # (64, 256) plane.

    @njit(inline="always")
    def _to_cl(src, dst, r0):
        # dst[r0 + s, k] = src[k, s] for src (C, L)
        c, L = src.shape
        c8, l8 = c - c % 8, L - L % 8
        for s0 in range(0, l8, 8):
            for k0 in range(0, c8, 8):
                for i in range(8):
                    for j in range(8):
                        dst[r0 + s0 + i, k0 + j] = src[k0 + j, s0 + i]
            for i in range(8):
                for k in range(c8, c):
                    dst[r0 + s0 + i, k] = src[k, s0 + i]
        for s in range(l8, L):
            for k in range(c):
                dst[r0 + s, k] = src[k, s]

    @njit(inline="always")
    def _from_cl(src, r0, dst):
        # dst[k, s] = src[r0 + s, k] for dst (C, L)
        c, L = dst.shape
        c8, l8 = c - c % 8, L - L % 8
        for k0 in range(0, c8, 8):
            for s0 in range(0, l8, 8):
                for j in range(8):
                    for i in range(8):
                        dst[k0 + j, s0 + i] = src[r0 + s0 + i, k0 + j]
            for j in range(8):
                for s in range(l8, L):
                    dst[k0 + j, s] = src[r0 + s, k0 + j]
        for k in range(c8, c):
            for s in range(L):
                dst[k, s] = src[r0 + s, k]

    @njit(cache=True, nogil=True)
    def input_transform(x, q, v, pl):
        # x (n, C, L) at row pl of q (4T+2, C; zero rows elsewhere) -> v (6, n*T, C) = B^T d
        n, c, L = x.shape
        T = (q.shape[0] - 2) // 4
        two, four, five = x.dtype.type(2), x.dtype.type(4), x.dtype.type(5)
        for b in range(n):
            _to_cl(x[b], q, pl)
            for t in range(T):
                r, u = 4 * t, b * T + t
                for j in range(c):
                    v[0, u, j] = (four * q[r, j] - five * q[r + 2, j]) + q[r + 4, j]
                for j in range(c):
                    v[1, u, j] = (q[r + 3, j] + q[r + 4, j]) - four * (q[r + 1, j] + q[r + 2, j])
                for j in range(c):
                    v[2, u, j] = (q[r + 4, j] - q[r + 3, j]) + four * (q[r + 1, j] - q[r + 2, j])
                for j in range(c):
                    v[3, u, j] = (q[r + 4, j] - q[r + 2, j]) + two * (q[r + 3, j] - q[r + 1, j])
                for j in range(c):
                    v[4, u, j] = (q[r + 4, j] - q[r + 2, j]) + two * (q[r + 1, j] - q[r + 3, j])
                for j in range(c):
                    v[5, u, j] = (four * q[r + 1, j] - five * q[r + 3, j]) + q[r + 5, j]

    @njit(cache=True, nogil=True)
    def output_adjoint(gy, z, dm):
        # gy (n, O, Lo) in z (4T, O; zero rows past Lo) -> dm (6, n*T, O) = A g per 4-output
        # tile g
        n, o, lo = gy.shape
        T = z.shape[0] // 4
        two, four, eight = gy.dtype.type(2), gy.dtype.type(4), gy.dtype.type(8)
        for b in range(n):
            _to_cl(gy[b], z, 0)
            for t in range(T):
                u, r = b * T + t, 4 * t
                for j in range(o):
                    dm[0, u, j] = z[r, j]
                for j in range(o):
                    dm[1, u, j] = (z[r, j] + z[r + 2, j]) + (z[r + 1, j] + z[r + 3, j])
                for j in range(o):
                    dm[2, u, j] = (z[r, j] + z[r + 2, j]) - (z[r + 1, j] + z[r + 3, j])
                for j in range(o):
                    dm[3, u, j] = (z[r, j] + four * z[r + 2, j]) + \
                        (two * z[r + 1, j] + eight * z[r + 3, j])
                for j in range(o):
                    dm[4, u, j] = (z[r, j] + four * z[r + 2, j]) - \
                        (two * z[r + 1, j] + eight * z[r + 3, j])
                for j in range(o):
                    dm[5, u, j] = z[r + 3, j]

    @njit(cache=True, nogil=True)
    def input_adjoint(dv, q, gx, pl):
        # dv (6, n*T, C) -> gx (n, C, L): the tiles' B dv summed in q (4T+2, C), whose rows
        # from pl are gx. Tile t reaches rows 4t..4t+5, tile t-1 rows 4t and 4t+1 too: each
        # row is written once, with both tiles' terms.
        n, c, L = gx.shape
        T = (q.shape[0] - 2) // 4
        two, four, five = dv.dtype.type(2), dv.dtype.type(4), dv.dtype.type(5)
        for b in range(n):
            u0 = b * T
            for j in range(c):
                q[0, j] = four * dv[0, u0, j]
            for j in range(c):
                q[1, j] = four * ((dv[2, u0, j] - dv[1, u0, j]) + dv[5, u0, j]) + \
                    two * (dv[4, u0, j] - dv[3, u0, j])
            for t in range(T):
                r, u = 4 * t, u0 + t
                if t > 0:  # rows 4t, 4t+1: (B e)_0, (B e)_1 of tile t, (B e)_4, (B e)_5 of t-1
                    for j in range(c):
                        q[r, j] = four * dv[0, u, j] + (((dv[0, u - 1, j] + dv[1, u - 1, j]) +
                                                         (dv[2, u - 1, j] + dv[3, u - 1, j])) +
                                                        dv[4, u - 1, j])
                    for j in range(c):
                        q[r + 1, j] = (four * ((dv[2, u, j] - dv[1, u, j]) + dv[5, u, j]) +
                                       two * (dv[4, u, j] - dv[3, u, j])) + dv[5, u - 1, j]
                for j in range(c):
                    q[r + 2, j] = -five * dv[0, u, j] - four * (dv[1, u, j] + dv[2, u, j]) - \
                        (dv[3, u, j] + dv[4, u, j])
                for j in range(c):
                    q[r + 3, j] = ((dv[1, u, j] - dv[2, u, j]) +
                                   two * (dv[3, u, j] - dv[4, u, j])) - five * dv[5, u, j]
            u = u0 + T - 1
            for j in range(c):
                q[4 * T, j] = ((dv[0, u, j] + dv[1, u, j]) + (dv[2, u, j] + dv[3, u, j])) + \
                    dv[4, u, j]
            for j in range(c):
                q[4 * T + 1, j] = dv[5, u, j]
            _from_cl(q, pl, gx[b])

    return input_transform, output_adjoint, input_adjoint


def input_transform(x, v, pl, padded):
    """x (n, C, L), zero-padded by pl at the start to `padded` (4T+2) -> v (6, n*T, C)."""
    _compiled()[0](x, np.zeros((padded, x.shape[1]), x.dtype), v, pl)
    return v


def _scratch(a):
    """The output side's (4T, O) scratch for a (n, O, Lo) array, zero past Lo."""
    return np.zeros((4 * -(-a.shape[2] // 4), a.shape[1]), a.dtype)


def output_adjoint(gy, dm):
    """gy (n, O, Lo) -> dm (6, n*T, O), gy zero-extended to whole tiles."""
    _compiled()[1](gy, _scratch(gy), dm)
    return dm


def input_adjoint(dv, out, pl, padded):
    """dv (6, n*T, C) -> out (n, C, L) (overwritten): the input gradient."""
    _compiled()[2](dv, np.empty((padded, out.shape[1]), dv.dtype), out, pl)
    return out
