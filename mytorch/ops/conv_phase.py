"""Strided 2-D convolution through the stride phases: the "phase" candidate of conv_select.

A convolution of stride (sh, sw) reads padded row oh*sh + i for kernel row i. Splitting the
zero-padded plane into its sh*sw phases, phase (rh, rw) holding the rows and columns congruent
to (rh, rw), turns that read into row oh + i//sh of phase i % sh: a stride-1 read. So with the
input split once (one strided copy), im2col copies whole contiguous rows, and col2im (the
transposed convolution's forward, the input gradient of a strided conv) adds whole rows into
the phases, then merges them back (one strided copy) instead of scatter-adding element by
element through an index table. For a kernel of k = 2s (the 4x4 stride-2 upsampler of DCGAN
and U-Net) each phase is a 2x2 stride-1 convolution, and no multiplications by inserted zeros
are done. The GEMMs are im2col's, and each output sums its kernel offsets in the same order,
so the results equal im2col's bitwise (for the same batch chunks).

Measured (one thread, CPU time, ConvTranspose2d 4x4 stride 2): on a 7x7 input (the bench's
b64 64->32) rows of 7 are too short for the per-row work to pay off and im2col stays faster;
on a 32x32 input (b8 32->16) the phases ran the layer's forward and backward 1.15x faster
(torch ratio 1.75 -> 1.53). conv_select times both per shape and pass and keeps the faster.

Layouts: phases (N, C, sh, sw, Hq, Wq) with Hq = ceil(Hp / sh) (a padded row h lies at
[h % sh, h // sh]); columns (C, kh, kw, N, Ho, Wo) as in mytorch.ops.conv. The numba loops run
on NumPy float arrays; the array-module references beside them (one strided slice per phase
or kernel offset) serve CuPy and the tests. The GEMM drivers mirror conv.py's im2col ones.
"""
import functools

from mytorch.backend import array_module, host_float_arrays
from mytorch.ops.window import Geom, batch_chunks

__all__ = ["applies", "col2im", "conv_backward", "conv_forward", "im2col", "merge", "split"]

_CHUNK_ELEMS = 1 << 20  # column elements per batch chunk, as in conv.py


def applies(g, groups):
    """Whether the phase path runs this geometry: 2-D (1-D as height 1), stride above 1,
    dilation 1 and a kernel that is a multiple of the stride on each axis (so every phase has
    the same taps, as for k = 2s)."""
    return (isinstance(g, Geom) and g.stride != (1, 1) and g.dilation == (1, 1)
            and g.kh % g.sh == 0 and g.kw % g.sw == 0)


def _phase_shape(n, c, g):
    return (n, c, g.sh, g.sw, -(-g.Hp // g.sh), -(-g.Wp // g.sw))


@functools.cache
def _compiled():
    from numba import njit  # imported on first use, as in _kernels_conv

    @njit(cache=True, nogil=True)
    def split(x, q, pt, pl):
        # x (N, C, H, W) -> q (N, C, sh, sw, Hq, Wq) (zero on entry), padded by (pt, pl)
        n, c, h_in, w_in = x.shape
        sh, sw = q.shape[2], q.shape[3]
        for b in range(n):
            for ci in range(c):
                for h in range(h_in):
                    rh, a = (h + pt) % sh, (h + pt) // sh
                    src = x[b, ci, h]
                    for rw in range(sw):
                        w0 = (rw - pl) % sw  # first column of this phase
                        dst = q[b, ci, rh, rw, a, (w0 + pl) // sw:]
                        for k in range((w_in - w0 + sw - 1) // sw):
                            dst[k] = src[w0 + k * sw]

    @njit(cache=True, nogil=True)
    def merge(q, out, pt, pl):
        # out (N, C, H, W) = the interior of the phases q (N, C, sh, sw, Hq, Wq)
        n, c, h_in, w_in = out.shape
        sh, sw = q.shape[2], q.shape[3]
        for b in range(n):
            for ci in range(c):
                for h in range(h_in):
                    rh, a = (h + pt) % sh, (h + pt) // sh
                    dst = out[b, ci, h]
                    for rw in range(sw):
                        w0 = (rw - pl) % sw
                        src = q[b, ci, rh, rw, a, (w0 + pl) // sw:]
                        for k in range((w_in - w0 + sw - 1) // sw):
                            dst[w0 + k * sw] = src[k]

    @njit(cache=True, nogil=True)
    def im2col(q, cols):
        # phases q (N, C, sh, sw, Hq, Wq) -> cols (C, kh, kw, N, Ho, Wo): row copies
        n, c, sh, sw = q.shape[0], q.shape[1], q.shape[2], q.shape[3]
        kh, kw, ho, wo = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    for b in range(n):
                        plane = q[b, ci, i % sh, j % sw]
                        dst = cols[ci, i, j, b]
                        for oh in range(ho):
                            src = plane[oh + i // sh, j // sw:]
                            row = dst[oh]
                            for ow in range(wo):
                                row[ow] = src[ow]

    @njit(cache=True, nogil=True)
    def col2im(cols, q):
        # cols (C, kh, kw, N, Ho, Wo) summed into phases q (N, C, sh, sw, Hq, Wq): row adds
        n, c, sh, sw = q.shape[0], q.shape[1], q.shape[2], q.shape[3]
        kh, kw, ho, wo = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
        for b in range(n):
            for ci in range(c):
                for i in range(kh):
                    for j in range(kw):
                        plane = q[b, ci, i % sh, j % sw]
                        src = cols[ci, i, j, b]
                        for oh in range(ho):
                            dst = plane[oh + i // sh, j // sw:]
                            row = src[oh]
                            for ow in range(wo):
                                dst[ow] += row[ow]

    return {"split": split, "merge": merge, "im2col": im2col, "col2im": col2im}


# ---------------------------------------------------------------------------------------
# array-module references: one strided slice per phase or kernel offset

def _phase_slices(size, lo, s, r):
    """(source slice of the unpadded axis, destination slice in the phase) for phase r."""
    first = (r - lo) % s  # first unpadded index in phase r
    count = max(0, -(-(size - first) // s))
    start = (first + lo) // s
    return slice(first, size, s), slice(start, start + count)


def _split_reference(x, q, g):
    for rh in range(g.sh):
        hs, hd = _phase_slices(g.H, g.pt, g.sh, rh)
        for rw in range(g.sw):
            ws, wd = _phase_slices(g.W, g.pl, g.sw, rw)
            q[:, :, rh, rw, hd, wd] = x[:, :, hs, ws]
    return q


def _merge_reference(q, out, g):
    for rh in range(g.sh):
        hs, hd = _phase_slices(g.H, g.pt, g.sh, rh)
        for rw in range(g.sw):
            ws, wd = _phase_slices(g.W, g.pl, g.sw, rw)
            out[:, :, hs, ws] = q[:, :, rh, rw, hd, wd]
    return out


def _tap(q, g, i, j):
    """Phase view read by kernel offset (i, j): (N, C, Ho, Wo)."""
    a, b = i // g.sh, j // g.sw
    return q[:, :, i % g.sh, j % g.sw, a:a + g.Ho, b:b + g.Wo]


def _im2col_reference(q, cols, g):
    for i in range(g.kh):
        for j in range(g.kw):
            cols[:, i, j] = _tap(q, g, i, j).swapaxes(0, 1)
    return cols


def _col2im_reference(cols, q, g):
    for i in range(g.kh):
        for j in range(g.kw):
            _tap(q, g, i, j)[...] += cols[:, i, j].swapaxes(0, 1)
    return q


def split(x, g):
    """x (N, C, H, W) -> its zero-padded phases (N, C, sh, sw, Hq, Wq)."""
    xp = array_module(x)
    q = xp.zeros(_phase_shape(x.shape[0], x.shape[1], g), x.dtype)
    if host_float_arrays(x):
        _compiled()["split"](x, q, g.pt, g.pl)
        return q
    return _split_reference(x, q, g)


def merge(q, g):
    """Phases (N, C, sh, sw, Hq, Wq) -> their unpadded interior (N, C, H, W)."""
    xp = array_module(q)
    out = xp.empty(q.shape[:2] + (g.H, g.W), q.dtype)
    if host_float_arrays(q):
        _compiled()["merge"](q, out, g.pt, g.pl)
        return out
    return _merge_reference(q, out, g)


def im2col(q, g, cols):
    """Phases q -> cols (C, kh, kw, N, Ho, Wo), conv.im2col's result for the same input."""
    if host_float_arrays(q, cols):
        _compiled()["im2col"](q, cols)
        return cols
    return _im2col_reference(q, cols, g)


def col2im(cols, g, q):
    """cols (C, kh, kw, N, Ho, Wo) added into phases q (the adjoint of `im2col`)."""
    if host_float_arrays(cols, q):
        _compiled()["col2im"](cols, q)
        return q
    return _col2im_reference(cols, q, g)


# ---------------------------------------------------------------------------------------
# GEMM drivers (same contracts as conv._im2col_forward / conv._im2col_backward)

def conv_forward(x, w, g, groups):
    """x (N, C, H, W) contiguous, w (O, C/groups, kh, kw) -> y (N, O, Ho, Wo), no bias."""
    n, c = x.shape[:2]
    xp = array_module(x)
    o = w.shape[0]
    k, L = c * g.kh * g.kw, g.Ho * g.Wo
    wm = w.reshape(groups, o // groups, k // groups)
    y = xp.empty((n, o, g.Ho, g.Wo), x.dtype)
    for a, b in batch_chunks(n, k * L, _CHUNK_ELEMS):
        m = b - a
        cols = im2col(split(x[a:b], g), g, xp.empty((c, g.kh, g.kw, m, g.Ho, g.Wo), x.dtype))
        cols = cols.reshape(groups, k // groups, m * L)
        yt = xp.empty((groups, o // groups, m * L), x.dtype)
        for q in range(groups):
            xp.matmul(wm[q], cols[q], out=yt[q])
        y[a:b] = yt.reshape(o, m, g.Ho, g.Wo).swapaxes(0, 1)
    return y


def conv_backward(gy, w, g, groups, x=None, need_x=True):
    """Conv gradients (gx or None, gw or None) from gy (N, O, Ho, Wo); gw only with the
    contiguous input `x`. With need_x and no x this is the transposed convolution of gy."""
    n, o = gy.shape[:2]
    c = w.shape[1] * groups
    xp = array_module(gy)
    k, L = c * g.kh * g.kw, g.Ho * g.Wo
    wm = w.reshape(groups, o // groups, k // groups)
    gx = xp.empty((n, c, g.H, g.W), gy.dtype) if need_x else None
    gw = xp.zeros((groups, o // groups, k // groups), gy.dtype) if x is not None else None
    for a, b in batch_chunks(n, k * L, _CHUNK_ELEMS):
        m = b - a
        cshape = (c, g.kh, g.kw, m, g.Ho, g.Wo)
        gt = gy[a:b].reshape(m, o, L).transpose(1, 0, 2).reshape(groups, o // groups, m * L)
        if x is not None:
            cols = im2col(split(x[a:b], g), g, xp.empty(cshape, gy.dtype))
            cols = cols.reshape(groups, k // groups, m * L)
            for q in range(groups):
                gw[q] += xp.matmul(gt[q], cols[q].T)
        if need_x:
            gcols = xp.empty((groups, k // groups, m * L), gy.dtype)
            for q in range(groups):
                xp.matmul(wm[q].T, gt[q], out=gcols[q])
            phases = xp.zeros(_phase_shape(m, c, g), gy.dtype)
            gx[a:b] = merge(col2im(gcols.reshape(cshape), g, phases), g)
    return gx, None if gw is None else gw.reshape(w.shape)
