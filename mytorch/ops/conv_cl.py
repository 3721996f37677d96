"""im2col + GEMM with channels-last columns: the "im2colcl" candidate of conv_select.

mytorch.ops.conv's columns are (C*kh*kw, N*Ho*Wo): each row is one input channel under one
kernel offset, copied out of an NCHW plane, at stride 2 one gathered element at a time. Here
they are (N*Ho*Wo, kh*kw*C): a row per output position whose kernel offsets each hold a
contiguous run of the C input channels, copied out of a channels-last scratch image of each
image (mytorch.ops._kernels_conv_cl). With W the weight as (O, kh*kw*C) and L = Ho*Wo:

    forward          y^T (n*L, O) = cols (n*L, K) @ W^T, copied to y (n, O, L) transposed
    weight gradient  gW (O, K)    = sum over images of gy[i] (O, L) @ cols[i] (L, K)
    input gradient   gcols[i] (L, K) = gy[i]^T @ W (BLAS's transpose flag), then col2im

per batch chunk of about a megabyte of columns (`_CHUNK_ELEMS`), so that a chunk's columns,
product and transposed copy stay in the core's cache; the backward reads gy in its own layout
(no transposed copy of it). The forward keeps the whole batch's columns for the weight
gradient when they are small (`_KEEP_BYTES`), else the backward builds them again per chunk.

Measured (one thread, CPU time, batch 64, forward and backward of the layer, ms, interleaved
with torch in scripts/conv_speed.py): 16 -> 32 channels 3x3 stride 2 at 14x14, no bias (the
ConvNet's block 2): 1.65 against 2.2-2.5 for im2col (torch 1.7). Chunks of 4 MiB ran this
layer 1.66 ms against 1.55 ms at 1 MiB; keeping its 1.8 MB of columns 1.55 ms against 1.69 ms
building them again; the backward's per-image GEMMs on gy as it is 1.63 ms against 1.78 with
gy copied transposed for two whole-chunk GEMMs. 32 -> 64 at 28x28 stride 2 (14.5 MB of
columns): keeping them cost 19.8 ms against 19.0, and winograd2cl is faster there (conv_select
decides).

The numba loops run on NumPy float arrays; the array-module references here (a strided window
view copied, one slice-add per kernel offset) serve CuPy and the tests.
"""
from mytorch.backend import array_module
from mytorch.ops import _kernels_conv_cl as _kc
from mytorch.ops.window import Geom, batch_chunks, crop, offsets, pad, tap, windows

__all__ = ["applies", "col2im", "conv_backward", "conv_forward", "im2col"]

_CHUNK_ELEMS = 1 << 18  # column elements per batch chunk (1 MiB of float32)


def applies(g, groups):
    """Whether this path runs the geometry: 2-D (1-D as height 1), one group."""
    return isinstance(g, Geom) and groups == 1


# ---------------------------------------------------------------------------------------
# array-module references

def im2col_reference(x, g, out):
    """x (n, C, H, W) -> out (n, Ho, Wo, kh, kw, C): pad, then copy the window view."""
    out[...] = windows(pad(x, g), g).transpose(0, 4, 5, 2, 3, 1)
    return out


def col2im_reference(cols, g, out):
    """cols (n, Ho, Wo, kh, kw, C) summed into out (n, C, H, W) (overwritten): one strided
    slice-add per kernel offset into a zero-padded buffer."""
    xp = array_module(cols)
    gpad = xp.zeros(out.shape[:2] + g.padded, out.dtype)
    for i, j in offsets(g):
        tap(gpad, g, (i, j))[...] += cols[:, :, :, i, j].transpose(0, 3, 1, 2)
    out[...] = crop(gpad, g)
    return out


def im2col(x, g, out):
    """x (n, C, H, W) -> out (n, Ho, Wo, kh, kw, C), the channels-last columns."""
    if _kc.available(x, out):
        return _kc.im2col(x, out, g)
    return im2col_reference(x, g, out)


def col2im(cols, g, out):
    """Columns (n, Ho, Wo, kh, kw, C) summed into out (n, C, H, W), which is overwritten."""
    if _kc.available(cols, out):
        return _kc.col2im(cols, out, g)
    return col2im_reference(cols, g, out)


# ---------------------------------------------------------------------------------------
# GEMM drivers

def _weight(w):
    """w (O, C, kh, kw) -> (O, kh*kw*C), a column row's order."""
    return array_module(w).ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(w.shape[0], -1)


_KEEP_BYTES = 4 << 20  # the forward keeps columns up to this size for the weight gradient


def conv_forward(x, w, g, bias=None, keep=False):
    """x (N, C, H, W) contiguous, w (O, C, kh, kw) -> y (N, O, Ho, Wo), plus `bias` (O,) if
    given: per batch chunk one GEMM into (n*Ho*Wo, O), copied to y transposed (bias added on
    the way). With `keep` returns (y, kept): the whole batch's columns (flat) if they take at
    most _KEEP_BYTES, else None."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = w.shape[0]
    k, L = c * g.kh * g.kw, g.Ho * g.Wo
    wm = _weight(w)
    y = xp.empty((n, o, g.Ho, g.Wo), x.dtype)
    chunks = batch_chunks(n, k * L, _CHUNK_ELEMS)
    nb = chunks[0][1]
    want, keep = keep, keep and n * L * k * x.itemsize <= _KEEP_BYTES
    cbuf = xp.empty((n if keep else nb) * L * k, x.dtype)
    ybuf = xp.empty(nb * L * o, x.dtype)
    for a, e in chunks:
        m = e - a
        ca = cbuf[a * L * k:e * L * k] if keep else cbuf[:m * L * k]
        cols = im2col(x[a:e], g, ca.reshape(m, g.Ho, g.Wo, g.kh, g.kw, c))
        yt = ybuf[:m * L * o].reshape(m * L, o)
        xp.matmul(cols.reshape(m * L, k), wm.T, out=yt)
        yt = yt.reshape(m, L, o).transpose(0, 2, 1)
        ya = y[a:e].reshape(m, o, L)
        if bias is None:
            ya[...] = yt
        else:
            xp.add(yt, bias.reshape(o, 1), out=ya)
    if want:
        return y, (cbuf if keep else None)
    return y


def conv_backward(gy, w, g, x=None, need_x=True, kept=None):
    """gy (N, O, Ho, Wo) contiguous -> (gx (N, C, H, W) or None, gw (O, C, kh, kw) or None);
    the weight gradient needs the (contiguous) input `x`.

    `kept`: the columns `conv_forward` kept (read only), else they are built again per batch
    chunk. Both GEMMs read gy as stacked per-image (O, Ho*Wo) matrices, the input gradient's
    through BLAS's transpose flag, so gy is never copied transposed; the weight gradient sums
    per-image products."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    c = w.shape[1]
    k, L = c * g.kh * g.kw, g.Ho * g.Wo
    chunks = batch_chunks(n, k * L, _CHUNK_ELEMS)
    nb = chunks[0][1]
    cbuf = xp.empty(nb * L * k, gy.dtype)
    pbuf = xp.empty(nb * o * k, gy.dtype) if x is not None else None
    wm = _weight(w) if need_x else None
    gx = xp.empty((n, c, g.H, g.W), gy.dtype) if need_x else None
    cshape = (g.Ho, g.Wo, g.kh, g.kw, c)
    gwm = None
    g3 = gy.reshape(n, o, L)
    for a, e in chunks:
        m = e - a
        if x is not None:
            if kept is not None:
                cols = kept[a * L * k:e * L * k]
            else:
                cols = im2col(x[a:e], g, cbuf[:m * L * k].reshape((m,) + cshape))
            part = pbuf[:m * o * k].reshape(m, o, k)
            xp.matmul(g3[a:e], cols.reshape(m, L, k), out=part)
            if a == 0:
                gwm = part.sum(axis=0)
            else:
                gwm += part.sum(axis=0)
        if need_x:
            gcols = cbuf[:m * L * k].reshape(m, L, k)
            xp.matmul(g3[a:e].transpose(0, 2, 1), wm, out=gcols)
            col2im(gcols.reshape((m,) + cshape), g, gx[a:e])
    gw = None
    if gwm is not None:
        o, c, kh, kw = w.shape
        gw = xp.ascontiguousarray(gwm.reshape(o, kh, kw, c).transpose(0, 3, 1, 2))
    return gx, gw
