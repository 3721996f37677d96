"""Transposed 2-D convolution with the batch innermost: the "chwn" candidate of conv_select.

The im2col path (mytorch.ops.conv) orders its columns (C, kh, kw, N, Ho, Wo): on small images
every copy in im2col and every add in col2im is a run of Wo values (7 on the bench's 7x7
DCGAN layer), and at stride 2 those runs are strided too, so the loops go through an index
table element by element. Here the columns are ordered (C, kh, kw, Ho, Wo, N) instead, the
layout cuda-convnet called CHWN: every copy and add moves N contiguous values (a batch of 64
is eight AVX vectors) whatever the stride, padding or dilation. The GEMMs keep their shapes
(only their column order changes), so they run at the same speed.

Both layout changes at the edges are folded into the loops: `col2im` gathers the taps of one
output channel into an (H*W, N) buffer and writes it out in NCHW, adding the bias; `im2col`
first moves one input channel to (H*W, N) in a buffer, summing it for the bias gradient. The
GEMM operands on the other side, x (N, O, Ho, Wo) and the input gradient, are transposed to and
from (O, Ho, Wo, N) as plain 2-D transposes; the forward keeps its transposed x for the weight
gradient.

Measured (one thread, CPU time, ConvTranspose2d 64->32 4x4 stride 2 on b64 7x7, best of 21):
col2im 0.77 ms instead of 2.5 and im2col 0.84 ms instead of 1.5 (both with the layout change
at the edge folded in); the layer's forward and backward ran 1.5x faster than on the im2col
path (10.5 ms against 16-18), 1.4x on b8 32->16 32x32 and 1.5x on a 3x3 stride-2 layer.
conv_select times this against the im2col path per shape and keeps the faster. With a batch
of one the runs are single values and it loses (2.2 ms against 1.35 on b1 64->32 16x16).

`col2im` writes every output (the first tap is stored, the others added, in row-major kernel
order, as the reference sums into zeros), so its results equal the reference's bitwise. The
numba loops take NumPy float arrays; the array-module references beside them serve CuPy and
the tests.
"""
import functools

import numpy as np

from mytorch.backend import array_module, host_float_arrays
from mytorch.ops.window import Geom, batch_chunks, crop, offsets, pad, tap, windows

__all__ = ["applies", "col2im", "im2col", "transpose_backward", "transpose_forward"]

# Batch chunk: at most this many column elements (64 MiB of float32) at once. Larger than
# conv.py's chunks, since splitting the batch shortens every run of N values.
_CHUNK_ELEMS = 1 << 24


def applies(g, groups):
    """Whether this path runs the geometry: any 2-D one (1-D runs as height 1)."""
    return isinstance(g, Geom)


@functools.cache
def _compiled():
    from numba import njit  # imported on first use, as in _kernels_conv

    # `transpose` is a module global, not a closure variable: im2col and col2im call it, and a
    # cached kernel that calls a closure's dispatcher misses numba's on-disk cache in every new
    # process (both recompiled each time)
    global transpose

    @njit(cache=True, nogil=True)
    def transpose(a, out, add):
        # out (S, R) = a (R, S).T + add; out may be a strided view. Eight rows of `a` at a
        # time, so each row of out is written in runs of eight (twice as fast as square blocks)
        r, s = a.shape
        r8 = r - r % 8
        for i in range(0, r8, 8):
            a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
            a4, a5, a6, a7 = a[i + 4], a[i + 5], a[i + 6], a[i + 7]
            for j in range(s):
                d = out[j, i:i + 8]
                d[0], d[1], d[2], d[3] = a0[j] + add, a1[j] + add, a2[j] + add, a3[j] + add
                d[4], d[5], d[6], d[7] = a4[j] + add, a5[j] + add, a6[j] + add, a7[j] + add
        for i in range(r8, r):
            for j in range(s):
                out[j, i] = a[i, j] + add

    @njit(cache=True, nogil=True)
    def im2col(x, cols, gb, sh, sw, pt, pl, dh, dw):
        # x (N, C, H, W) -> cols (C, kh, kw, Ho, Wo, N); gb (C,) float64 gets each channel's
        # sum (the bias gradient when x is an output gradient)
        n, c, h_in, w_in = x.shape
        kh, kw, ho, wo = cols.shape[1], cols.shape[2], cols.shape[3], cols.shape[4]
        hw = h_in * w_in
        x2 = x.reshape(n, c * hw)
        plane = np.empty((hw, n), x.dtype)  # one channel, batch innermost
        acc = np.empty(n, np.float64)
        for ci in range(c):
            transpose(x2[:, ci * hw:(ci + 1) * hw], plane, x.dtype.type(0))
            acc[:] = 0  # one sum per image: independent adds that vectorize
            for p in range(hw):
                for b in range(n):
                    acc[b] += plane[p, b]
            gb[ci] = acc.sum()
            for i in range(kh):
                for j in range(kw):
                    for oh in range(ho):
                        h = oh * sh - pt + i * dh
                        for ow in range(wo):
                            w = ow * sw - pl + j * dw
                            dst = cols[ci, i, j, oh, ow]
                            if 0 <= h < h_in and 0 <= w < w_in:
                                src = plane[h * w_in + w]
                                for b in range(n):
                                    dst[b] = src[b]
                            else:
                                for b in range(n):
                                    dst[b] = 0

    @njit(cache=True, nogil=True)
    def col2im(cols, out, bias, nh, ih, oh, nw, jw, ow):
        # cols (C, kh, kw, Ho, Wo, N) summed into out (N, C, H, W) (overwritten), plus bias
        # (C,): each output gathers the taps that land on it. Row h is reached by nh[h] taps:
        # kernel row ih[h, t] of output row oh[h, t], t < nh[h] (nw, jw, ow: the columns).
        c, n = cols.shape[0], cols.shape[5]
        h_in, w_in = out.shape[2], out.shape[3]
        hw = h_in * w_in
        out2 = out.reshape(n, c * hw)
        plane = np.empty((hw, n), cols.dtype)  # one channel, batch innermost
        for ci in range(c):
            for h in range(h_in):
                for w in range(w_in):
                    dst = plane[h * w_in + w]
                    first = True
                    for t in range(nh[h]):
                        i, r = ih[h, t], oh[h, t]
                        for u in range(nw[w]):
                            src = cols[ci, i, jw[w, u], r, ow[w, u]]
                            if first:
                                for b in range(n):
                                    dst[b] = src[b]
                                first = False
                            else:
                                for b in range(n):
                                    dst[b] += src[b]
                    if first:  # no tap lands here
                        for b in range(n):
                            dst[b] = 0
            transpose(plane, out2[:, ci * hw:(ci + 1) * hw], bias[ci])

    return {"im2col": im2col, "col2im": col2im, "transpose": transpose}


@functools.lru_cache(maxsize=256)
def _sources(size, lo, k, s, d, n_out):
    """The taps that reach each input index h along one axis: (count (size,), kernel index
    (size, k), output index (size, k)), the first count[h] entries of each row in kernel
    order (listing only these made col2im 1.2x faster than testing every tap). Cached per
    axis geometry: building them took as long as a small col2im."""
    u = np.arange(size)[:, None] + lo - np.arange(k)[None, :] * d  # = output index * s
    valid = (u >= 0) & (u % s == 0) & (u // s < n_out)
    count = valid.sum(axis=1)
    # valid taps first, in kernel order (a stable sort on "not valid")
    order = np.argsort(~valid, axis=1, kind="stable")
    return count, order, np.take_along_axis(u // s, order, axis=1)


# ---------------------------------------------------------------------------------------
# array-module references: the window view and one strided slice-add per kernel offset

def _im2col_reference(x, g, cols):
    cols[...] = windows(pad(x, g), g).transpose(1, 2, 3, 4, 5, 0)
    return cols


def _col2im_reference(cols, g, out):
    xp = array_module(cols)
    gpad = xp.zeros(out.shape[:2] + g.padded, out.dtype)
    for i, j in offsets(g):
        tap(gpad, g, (i, j))[...] += cols[:, i, j].transpose(3, 0, 1, 2)
    out[...] = crop(gpad, g)
    return out


def im2col(x, g, cols, sums=False):
    """x (N, C, H, W) -> cols (C, kh, kw, Ho, Wo, N), the windows with the batch innermost.
    With `sums`, returns (cols, x summed over all but the channel axis) (the bias gradient when
    x is an output gradient; the loop adds it up while it reads x anyway)."""
    if host_float_arrays(x, cols):
        gb = np.empty(x.shape[1], np.float64)
        _compiled()["im2col"](x, cols, gb, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw)
        return (cols, gb.astype(x.dtype)) if sums else cols
    _im2col_reference(x, g, cols)
    return (cols, x.sum(axis=(0, 2, 3))) if sums else cols


def col2im(cols, g, out, bias=None):
    """cols (C, kh, kw, Ho, Wo, N) summed into out (N, C, H, W), which is overwritten (the
    adjoint of `im2col`), plus `bias` (C,) if given."""
    if host_float_arrays(cols, out):
        b = np.zeros(out.shape[1], out.dtype) if bias is None else bias
        _compiled()["col2im"](cols, out, b, *_sources(g.H, g.pt, g.kh, g.sh, g.dh, g.Ho),
                              *_sources(g.W, g.pl, g.kw, g.sw, g.dw, g.Wo))
        return out
    _col2im_reference(cols, g, out)
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    return out


def _batch_last(x):
    """(n, O, Ho, Wo) -> contiguous (O, Ho*Wo*n)."""
    n, o = x.shape[:2]
    xp = array_module(x)
    out = xp.empty((x.size // n, n), x.dtype)
    if host_float_arrays(x):
        _compiled()["transpose"](x.reshape(n, -1), out, x.dtype.type(0))
    else:
        out[...] = x.reshape(n, -1).T
    return out.reshape(o, -1)


def _batch_first(a, out):
    """a (O, Ho*Wo*n) -> out (n, O, Ho, Wo) (contiguous)."""
    n = out.shape[0]
    if host_float_arrays(a, out):
        _compiled()["transpose"](a.reshape(-1, n), out.reshape(n, -1), a.dtype.type(0))
    else:
        out.reshape(n, -1)[...] = a.reshape(-1, n).T
    return out


# ---------------------------------------------------------------------------------------
# GEMM drivers of the transposed convolution. `g` is the geometry of the convolution whose
# input gradient it is: x (N, O, Ho, Wo) -> y (N, C, H, W), w (O, C/groups, kh, kw).

def transpose_forward(x, w, g, groups, b=None):
    """conv_transpose(x, w) + b -> (y, kept): kept holds x's batch chunks in the GEMM's
    layout (O, Ho*Wo*n), which the weight gradient reads again."""
    n, o = x.shape[:2]
    c = w.shape[1] * groups
    xp = array_module(x)
    k, L = c * g.kh * g.kw, g.Ho * g.Wo
    # W^T copied contiguous: OpenBLAS ran this GEMM 1.13x faster than on the transposed view
    wt = xp.ascontiguousarray(w.reshape(groups, o // groups, k // groups).transpose(0, 2, 1))
    y = xp.empty((n, c, g.H, g.W), x.dtype)
    kept = []
    for a, e in batch_chunks(n, k * L, _CHUNK_ELEMS):
        m = e - a
        xt = _batch_last(x[a:e]).reshape(groups, o // groups, L * m)
        cols = xp.empty((groups, k // groups, L * m), x.dtype)
        for q in range(groups):
            xp.matmul(wt[q], xt[q], out=cols[q])
        col2im(cols.reshape(c, g.kh, g.kw, g.Ho, g.Wo, m), g, y[a:e], b)
        kept.append(xt)
    return y, kept


def transpose_backward(gy, w, g, groups, x=None, kept=None, need=(True, True, False)):
    """Gradients (gx, gw, gb) of conv_transpose(x, w) + b from gy (N, C, H, W), each None
    unless `need` asks for it: gx is the convolution of gy, gw the product of x with gy's
    columns (both share one im2col), gb is summed by the im2col loop. x is read from `kept`
    (transpose_forward's) when given, else from `x`."""
    n, c = gy.shape[:2]
    o = w.shape[0]
    xp = array_module(gy)
    k, L = c * g.kh * g.kw, g.Ho * g.Wo
    wm = w.reshape(groups, o // groups, k // groups)
    gx = xp.empty((n, o, g.Ho, g.Wo), gy.dtype) if need[0] else None
    gw = xp.zeros((groups, o // groups, k // groups), gy.dtype) if need[1] else None
    gb = xp.zeros(c, gy.dtype) if need[2] else None
    for t, (a, e) in enumerate(batch_chunks(n, k * L, _CHUNK_ELEMS)):
        m = e - a
        cols, sums = im2col(gy[a:e], g, xp.empty((c, g.kh, g.kw, g.Ho, g.Wo, m), gy.dtype),
                            sums=True)
        cols = cols.reshape(groups, k // groups, L * m)
        if need[1]:
            xt = kept[t] if kept is not None else \
                _batch_last(x[a:e]).reshape(groups, o // groups, L * m)
            for q in range(groups):  # as cols @ x^T, 1.1x faster than x @ cols^T
                gw[q] += xp.matmul(cols[q], xt[q].T).T
        if need[0]:
            gxt = xp.empty((groups, o // groups, L * m), gy.dtype)
            for q in range(groups):
                xp.matmul(wm[q], cols[q], out=gxt[q])
            _batch_first(gxt.reshape(o, L * m), gx[a:e])
        if need[2]:
            gb += sums
    return gx, None if gw is None else gw.reshape(w.shape), gb
