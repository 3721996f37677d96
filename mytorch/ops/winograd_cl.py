"""Stride-2 Winograd F(2x2, 3x3) (winograd.F2S2) with channels-last transformed tensors: the
"winograd2cl" candidate of conv_select.

The arithmetic is winograd.F2S2's (6.25 multiplies per output and channel pair instead of 9);
only the layout differs. winograd.py keeps transformed tensors as (P, C, tiles), which its
loops fill one scalar at a time, and at stride 2 those loops cost as much as the GEMMs they
save (a 32 -> 64 channel layer at 28x28, batch 64: 4.3 ms of transforms around 6.5 ms of
GEMMs in the forward). Here they are (P, tiles, C): the transforms run on contiguous channel
vectors (mytorch.ops._kernels_winograd_cl), and the GEMMs take the same operands with the
transpose flags of BLAS, (P, tiles, C) @ (P, C, O) -> (P, tiles, O). Backward is, as in
winograd.py, the adjoint: dV = dM @ U (input gradient), dU = dM^T @ V (weight gradient).

The numba loops run on NumPy float arrays; the array-module references here (winograd.py's
references on transposed views) serve CuPy and the tests. Work goes in batch chunks, as in
winograd.py.
"""
from mytorch.backend import array_module
from mytorch.ops import _kernels_winograd_cl as _kc
from mytorch.ops import winograd
from mytorch.ops.winograd import F2S2

__all__ = ["applies", "conv_backward", "conv_forward"]

P = F2S2.positions  # 25 transform positions

# NumPy asks the kernel for huge pages for arrays of 4 MiB and more: the drivers' scratch is
# allocated in one piece of at least this many elements, so that a fresh call takes a few page
# faults instead of one per 4 KiB (eight 1.3 MB transformed chunks cost 1.6 ms of faults, one
# 10 MB array 0.3 ms).
_HUGE_ELEMS = 1 << 20


def _workspace(xp, sizes, dtype):
    """Flat buffers of the given sizes, carved from one allocation of at least _HUGE_ELEMS
    (itemsize 4) or the same bytes."""
    total = max(sum(sizes), _HUGE_ELEMS * 4 // dtype.itemsize)
    flat = xp.empty(total, dtype)
    out, start = [], 0
    for size in sizes:
        out.append(flat[start:start + size])
        start += size
    return out


def applies(g, groups):
    """Whether this path runs the geometry: 3x3, stride 2, dilation 1, one group."""
    return winograd.schemes(g, groups).get("winograd2") is F2S2


# ---------------------------------------------------------------------------------------
# array-module references: winograd.py's, on (P, C, tiles) views of the channels-last tensors

def input_transform_reference(x, g, out):
    """x (n, C, H, W) -> out (P, n*th*tw, C) = B^T d B for each 5x5 tile d."""
    xp = array_module(x)
    v = xp.empty((P, x.shape[1], out.shape[1]), x.dtype)
    winograd.input_transform_reference(x, g, v, F2S2)
    out[...] = v.transpose(0, 2, 1)
    return out


def output_transform_reference(m, g, out):
    """m (P, n*th*tw, O) -> out (n, O, Ho, Wo) = A^T m A per tile, cropped at the edges."""
    return winograd.output_transform_reference(m.transpose(0, 2, 1), g, out, F2S2)


def output_adjoint_reference(gy, g, out):
    """gy (n, O, Ho, Wo) -> out (P, n*th*tw, O) = A gy A^T per zero-extended 2x2 tile."""
    xp = array_module(gy)
    dm = xp.empty((P, gy.shape[1], out.shape[1]), gy.dtype)
    winograd.output_adjoint_reference(gy, g, dm, F2S2)
    out[...] = dm.transpose(0, 2, 1)
    return out


def input_adjoint_reference(dv, g, out):
    """dv (P, n*th*tw, C) -> out (n, C, H, W) = B dv B^T per tile, summed, padding dropped."""
    return winograd.input_adjoint_reference(dv.transpose(0, 2, 1), g, out, F2S2)


# The dispatchers take transformed buffers (P, tp, channels) whose tile axis may be longer
# than the n*th*tw tiles; the references see only the tiles.

def _padded(g):
    return winograd._padded_size(*winograd._tiles(g, F2S2), F2S2)


def _ntiles(g, n):
    th, tw = winograd._tiles(g, F2S2)
    return n * th * tw


def _input_transform(x, g, out):
    if _kc.available(x, out):
        return _kc.input_transform(x, out, g.pt, g.pl, _padded(g))
    return input_transform_reference(x, g, out[:, :_ntiles(g, x.shape[0])])


def _output_transform(m, g, out):
    if _kc.available(m, out):
        return _kc.output_transform(m, out)
    return output_transform_reference(m[:, :_ntiles(g, out.shape[0])], g, out)


def _output_adjoint(gy, g, out):
    if _kc.available(gy, out):
        return _kc.output_adjoint(gy, out)
    return output_adjoint_reference(gy, g, out[:, :_ntiles(g, gy.shape[0])])


def _input_adjoint(dv, g, out):
    if _kc.available(dv, out):
        return _kc.input_adjoint(dv, out, g.pt, g.pl, _padded(g))
    return input_adjoint_reference(dv[:, :_ntiles(g, out.shape[0])], g, out)


# ---------------------------------------------------------------------------------------
# convolution drivers (the interface of winograd.conv_forward / winograd.conv_backward)

def conv_forward(x, w, g, keep=False):
    """x (N, C, H, W) contiguous, w (O, C, 3, 3) -> y (N, O, Ho, Wo), no bias.

    With `keep`, returns (y, vs): vs the transformed input, one array per batch chunk, when it
    takes at most winograd._KEEP_BYTES (else None), so the weight gradient need not transform
    x again."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = w.shape[0]
    L = _ntiles(g, 1)
    ut = winograd.weight_transform(w, F2S2).transpose(0, 2, 1)  # (P, C, O)
    y = xp.empty((n, o) + g.out, x.dtype)
    chunks = winograd._chunks(n, P * (c + o) * L)
    tb = winograd._tile_axis(chunks[0][1] * L)
    kept = keep and P * c * (n * L + len(chunks)) * x.itemsize <= winograd._KEEP_BYTES
    # the kept chunks lie one after the other in the first buffer
    vsize = sum(P * winograd._tile_axis((b - a) * L) * c for a, b in chunks) if kept else \
        P * tb * c
    vbuf, mbuf = _workspace(xp, (vsize, P * tb * o), x.dtype)
    vs = []
    for a, b in chunks:
        t = (b - a) * L
        tp = winograd._tile_axis(t)
        v = vbuf[:P * tp * c].reshape(P, tp, c)
        if kept:
            vbuf = vbuf[P * tp * c:]
        v[:, t:] = 0
        _input_transform(x[a:b], g, v)
        vs.append(v)
        m = mbuf[:P * tp * o].reshape(P, tp, o)
        xp.matmul(v, ut, out=m)
        _output_transform(m, g, y[a:b])
    if not keep:
        return y
    return y, (vs if kept else None)


def conv_backward(gy, w, g, x=None, need_x=True, vs=None):
    """gy (N, O, Ho, Wo) contiguous -> (gx (N, C, H, W) or None, gw (O, C, 3, 3) or None);
    the weight gradient needs the forward input `x`, or `vs`, its transform kept by
    `conv_forward` (read only: a retained graph may run backward again)."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    c = w.shape[1]
    L = _ntiles(g, 1)
    u = winograd.weight_transform(w, F2S2) if need_x else None  # (P, O, C)
    chunks = winograd._chunks(n, P * (c + o) * L)  # the forward's chunks, as `vs` holds them
    tb = winograd._tile_axis(chunks[0][1] * L)
    vbuf, mbuf = _workspace(xp, (P * tb * c, P * tb * o), gy.dtype)
    gx = xp.empty((n, c) + g.size, gy.dtype) if need_x else None
    need_w = x is not None or vs is not None
    du = xp.empty((P, o, c), gy.dtype) if need_w else None
    dub = xp.empty_like(du) if need_w and len(chunks) > 1 else du
    for i, (a, b) in enumerate(chunks):
        t = (b - a) * L
        tp = winograd._tile_axis(t)
        dm = mbuf[:P * tp * o].reshape(P, tp, o)
        dm[:, t:] = 0  # the padding tiles add nothing to the weight gradient
        _output_adjoint(gy[a:b], g, dm)
        v = vbuf[:P * tp * c].reshape(P, tp, c)
        if need_w:
            if vs is not None:
                xv = vs[i]
            else:
                v[:, t:] = 0
                _input_transform(x[a:b], g, v)
                xv = v
            xp.matmul(dm.transpose(0, 2, 1), xv, out=du if a == 0 else dub)
            if a:
                du += dub
        if need_x:
            xp.matmul(dm, u, out=v)
            _input_adjoint(v, g, gx[a:b])
    gw = None if du is None else winograd.weight_transform_adjoint(du, F2S2)
    return gx, None if gw is None else gw.astype(gy.dtype, copy=False)
