"""Winograd F(2x2, 3x3) with channels-last transformed tensors, at stride 1 (winograd.F2) and
stride 2 (winograd.F2S2): the "winograd2cl" candidate of conv_select.

The arithmetic is winograd.py's (4 multiplies per output and channel pair at stride 1, 6.25 at
stride 2, instead of 9); only the layout differs. winograd.py keeps transformed tensors as
(P, C, tiles), which its loops fill one scalar at a time (a row of an image holds too few tiles
for SIMD), and those loops cost nearly as much as the GEMMs they save (stride 2, a 32 -> 64
channel layer at 28x28, batch 64: 4.3 ms of transforms around 6.5 ms of GEMMs in the
forward; stride 1, 64 -> 64 at 14x14: 10.5 ms around 13.7 ms, forward and backward). Here
they are (P, tiles, C): the transforms run on contiguous channel vectors
(mytorch.ops._kernels_winograd_cl), and the GEMMs take the same operands with the transpose
flags of BLAS, (P, tiles, C) @ (P, C, O) -> (P, tiles, O). Backward is, as in winograd.py,
the adjoint: dV = dM @ U (input gradient), dU = dM^T @ V (weight gradient).

Measured (one thread, CPU time, batch 64, ms). Stride 2, 32 -> 64 channels at 28x28, per
8-image chunk: input transform 0.15 (tiles-last 0.31), output transform 0.12 (0.27), output
adjoint 0.15 (0.26), input adjoint 0.22 (0.38); the layer's forward and backward 21 ms against
31 ms for F2S2 tiles-last and 30 ms for im2col (torch: 24 ms). At 7x7 outputs (16 -> 32 at
14x14) the 2x2 tiles cover 8x8, a third more GEMM work, and im2col stays faster; conv_select
decides. Stride 1, 64 -> 64 at 14x14, per 2-image chunk: input transform 0.030 (tiles-last
0.046), output transform 0.020 (0.030), output adjoint 0.020 (0.034), input adjoint 0.033
(0.058); the layer's forward and backward took 0.95x torch's time against 1.36x for F2
tiles-last (32 -> 64 at 28x28: 0.88x against 1.28x). Stride-1 chunks are a quarter of
winograd._CHUNK_ELEMS: at 1 Mi elements instead of 4 the layer took 17.4 ms instead of 21.0
(64 -> 64 at 14x14, 2 images per chunk) and 40.7 instead of 48.7 (32 -> 64 at 28x28, one
image). Stride-2 chunks are half of it (4 images of the 32 -> 64 layer at 28x28 instead of 8:
the GEMMs on (P, 196, C) operands ran 1.2x faster than on (P, 392, C) ones alone, the layer
17.7 ms instead of 18.5, interleaved conv_speed ratios 0.95-1.09 against 1.09-1.11).

The stride-2 transforms work on a whole tile row at once (see mytorch.ops._kernels_winograd_cl):
per 8-image chunk of the 32 -> 64 layer, output adjoint 0.215 -> 0.115 ms and input adjoint
0.222 -> 0.164 against the per-tile loops (input and output transforms 0.11-0.12 -> 0.12-0.13);
at 16 -> 32 on 14x14 (37 images) all four faster, 0.11 -> 0.10, 0.084 -> 0.071,
0.21 -> 0.08 and 0.23 -> 0.16.

At stride 2 the output adjoint repeats itself: A g = (g0, g0 + g1, g1, g0, g1) along each
axis, so dM has 9 distinct positions of 25. The backward keeps only those (ChannelsLastS2), and
its GEMMs read them through strided views: the 32 -> 64 layer at 28x28, batch 64, forward and
backward, took 0.94x the time of the 25-plane dM (17.2 ms against 18.5, interleaved in one
process, medians of 15 rounds).

The numba loops run on NumPy float arrays; the array-module references here (winograd.py's
references on transposed views) serve CuPy and the tests. The chunked drivers are winograd.py's
(`winograd.run_forward`), on a Plan with the ChannelsLast layout.
"""
import numpy as np

from mytorch.backend import array_module
from mytorch.ops import _kernels_winograd_cl as _kc
from mytorch.ops import winograd

__all__ = ["applies", "conv_backward", "conv_forward", "plan", "scheme"]


def scheme(g):
    """The scheme of a geometry this path runs: winograd.F2 at stride 1, F2S2 at stride 2."""
    return winograd.SCHEMES[g.sh]["winograd2"]


def applies(g, groups):
    """Whether this path runs the geometry: 3x3, stride 1 or 2, dilation 1, one group."""
    return "winograd2" in winograd.schemes(g, groups)


# ---------------------------------------------------------------------------------------
# array-module references: winograd.py's, on (P, C, tiles) views of the channels-last tensors

def input_transform_reference(x, g, out):
    """x (n, C, H, W) -> out (P, n*th*tw, C) = B^T d B for each a x a tile d."""
    xp = array_module(x)
    s = scheme(g)
    v = xp.empty((s.positions, x.shape[1], out.shape[1]), x.dtype)
    winograd.input_transform_reference(x, g, v, s)
    out[...] = v.transpose(0, 2, 1)
    return out


def output_transform_reference(m, g, out, bias=None):
    """m (P, n*th*tw, O) -> out (n, O, Ho, Wo) = A^T m A per tile, cropped at the edges, plus
    `bias` (O,) if given."""
    winograd.output_transform_reference(m.transpose(0, 2, 1), g, out, scheme(g))
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    return out


def output_adjoint_reference(gy, g, out):
    """gy (n, O, Ho, Wo) -> out (P, n*th*tw, O) = A gy A^T per zero-extended 2x2 tile; at
    stride 2 `out` may hold only the 9 distinct positions (see ChannelsLastS2)."""
    xp = array_module(gy)
    s = scheme(g)
    dm = xp.empty((s.positions, gy.shape[1], out.shape[1]), gy.dtype)
    winograd.output_adjoint_reference(gy, g, dm, s)
    if out.shape[0] == ChannelsLastS2.DISTINCT ** 2 and s.stride == 2:
        dm = dm.reshape((s.a, s.a) + dm.shape[1:])[:3, :3].reshape((-1,) + dm.shape[1:])
    out[...] = dm.transpose(0, 2, 1)
    return out


def _matmul(xp, a, b, out):
    """out = a @ b into a strided view `out`: NumPy writes it directly, other array modules
    get a copy (their matmul's `out` need not take strided views)."""
    if xp is np:
        np.matmul(a, b, out=out)
    else:
        out[...] = xp.matmul(a, b)


class ChannelsLastS2(winograd.ChannelsLast):
    """winograd.ChannelsLast for F2S2 whose output adjoint keeps only its distinct positions:
    A g = (g0, g0 + g1, g1, g0, g1) along each axis, so rows and columns 3, 4 of dM repeat 0
    and 2, and dM is (9, tiles, O) instead of (25, tiles, O). The backward GEMMs read it through
    strided views, in four blocks of positions (rows 0..2 or 3..4 by columns 0..2 or 3..4), the
    repeated rows and columns being rows and columns 0 and 2 of the 3x3, every other one (the
    layer's time: see the module docstring)."""
    DISTINCT = 3
    _BLOCKS = ((slice(0, 3), slice(0, 3)), (slice(3, 5), slice(0, 3, 2)))
    _ROW = (0, 1, 2, 0, 2)  # dM's row (column) of each of the 5

    def adjoint_view(self, buf, channels, tp):
        return buf[:9 * channels * tp].reshape(9, tp, channels)

    def _blocks(self, dm):
        """(dM block view, (rows, columns) of the 5x5 positions) for the four blocks."""
        d = dm.reshape((3, 3) + dm.shape[1:])
        for rows, drows in self._BLOCKS:
            for cols, dcols in self._BLOCKS:
                yield d[drows, dcols], (rows, cols)

    def input_grad(self, xp, u, dm, dv):
        u5, dv5 = u.reshape((5, 5) + u.shape[1:]), dv.reshape((5, 5) + dv.shape[1:])
        for d, ij in self._blocks(dm):
            _matmul(xp, d, u5[ij], dv5[ij])

    def weight_grad(self, xp, dm, v, du):
        v5, du5 = v.reshape((5, 5) + v.shape[1:]), du.reshape((5, 5) + du.shape[1:])
        for d, ij in self._blocks(dm):
            _matmul(xp, d.swapaxes(-1, -2), v5[ij], du5[ij])

    def tile_sum(self, dm, p):
        return dm[3 * self._ROW[p // 5] + self._ROW[p % 5]].sum(axis=0)


def input_adjoint_reference(dv, g, out):
    """dv (P, n*th*tw, C) -> out (n, C, H, W) = B dv B^T per tile, summed, padding dropped."""
    return winograd.input_adjoint_reference(dv.transpose(0, 2, 1), g, out, scheme(g))


# The dispatchers take transformed buffers (P, tp, channels) whose tile axis may be longer
# than the n*th*tw tiles; the references see only the tiles.

def _padded(g):
    s = scheme(g)
    return winograd._padded_size(*winograd._tiles(g, s), s)


def _ntiles(g, n):
    th, tw = winograd._tiles(g, scheme(g))
    return n * th * tw


def _input_transform(x, g, out, padded=None):
    if _kc.available(x, out):
        return _kc.input_transform(x, out, g.sh, g.pt, g.pl, padded or _padded(g))
    return input_transform_reference(x, g, out[:, :_ntiles(g, x.shape[0])])


def _output_transform(m, g, out, bias=None):
    if _kc.available(m, out):
        return _kc.output_transform(m, out, g.sh, bias)
    return output_transform_reference(m[:, :_ntiles(g, out.shape[0])], g, out, bias)


def _output_adjoint(gy, g, out):
    if _kc.available(gy, out):
        return _kc.output_adjoint(gy, out, g.sh)
    return output_adjoint_reference(gy, g, out[:, :_ntiles(g, gy.shape[0])])


def _input_adjoint(dv, g, out, padded=None):
    if _kc.available(dv, out):
        return _kc.input_adjoint(dv, out, g.sh, g.pt, g.pl, padded or _padded(g))
    return input_adjoint_reference(dv[:, :_ntiles(g, out.shape[0])], g, out)


# ---------------------------------------------------------------------------------------
# convolution drivers: winograd.py's chunked ones, on a channels-last Plan

# A batch chunk's transformed tensors hold this share of winograd._CHUNK_ELEMS, by stride
# (see the module docstring).
_CHUNK_SHARE = {1: 4, 2: 2}


def plan(g, bias=None):
    """The winograd.Plan of the geometry's scheme (`scheme`) with channels-last transformed
    tensors; the forward's output transform adds `bias` (O,) if given."""
    s = scheme(g)
    chunk_elems = winograd._CHUNK_ELEMS // _CHUNK_SHARE[s.stride]
    padded = _padded(g)  # once, not per chunk
    layout = ChannelsLastS2(s.positions) if s.stride == 2 else \
        winograd.ChannelsLast(s.positions)
    return winograd.Plan(layout, _ntiles(g, 1),
                         lambda w: winograd.weight_transform(w, s),
                         lambda du: winograd.weight_transform_adjoint(du, s),
                         lambda x, v: _input_transform(x, g, v, padded),
                         lambda m, y: _output_transform(m, g, y, bias),
                         lambda gy, dm: _output_adjoint(gy, g, dm),
                         lambda dv, gx: _input_adjoint(dv, g, gx, padded), chunk_elems,
                         winograd.tile_sum_position(s))


def conv_forward(x, w, g, keep=False, bias=None):
    """x (N, C, H, W) contiguous, w (O, C, 3, 3) -> y (N, O, Ho, Wo), plus `bias` (O,) if
    given (see winograd.run_forward: with `keep` also the transformed input, or None).

    At stride 1 nothing is kept: the transformed input is 4x the size of x, and transforming x
    again in the backward cost less than writing it out and reading it back (64 -> 64 channels
    at 14x14, batch 64: the layer took 17.4 ms instead of 18.4)."""
    if keep and scheme(g).stride == 1:
        return winograd.run_forward(x, w, g, plan(g, bias)), None
    return winograd.run_forward(x, w, g, plan(g, bias), keep)


def conv_backward(gy, w, g, x=None, need_x=True, vs=None, gb=None):
    """gy (N, O, Ho, Wo) contiguous -> (gx (N, C, H, W) or None, gw (O, C, 3, 3) or None), and
    the bias gradient into `gb` (O,) if given (see winograd.run_backward)."""
    return winograd.run_backward(gy, w, g, plan(g), x, need_x, vs, gb)
