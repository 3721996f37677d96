"""numba loops for im2col + GEMM with channels-last columns (mytorch.ops.conv_cl).

Columns are (N, Ho, Wo, kh, kw, C): one row per output position, each kernel offset's C input
channels a contiguous run. Each image goes through an (Hp, Wp, C) zero-bordered scratch image
(its interior a transposed copy of the (C, H, W) plane), after which every column row is kh
copies of kw*C contiguous values (dilation 1 along the width; otherwise kh*kw copies of C):
vector copies, where NCHW columns at stride 2 gather one element at a time. col2im is the
adjoint: the rows are added into a zeroed scratch image, whose interior is transposed back.

Each loop has an array-module reference in conv_cl.py that CuPy and the tests use.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    # The inline helpers are module globals, not closure variables (a cached kernel that calls
    # a closure's dispatcher misses numba's on-disk cache in every new process).
    global _to_hwc, _from_hwc
    from numba import njit  # imported on first use, as in _kernels_conv

    @njit(inline="always")
    def _to_hwc(src, hwc, pt, pl):
        # src (C, H, W) into the interior of hwc (Hp, Wp, C) at (pt, pl); channels innermost:
        # contiguous stores, strided loads
        c, h, w = src.shape
        for r in range(h):
            for s in range(w):
                dst = hwc[pt + r, pl + s]
                for k in range(c):
                    dst[k] = src[k, r, s]

    @njit(inline="always")
    def _from_hwc(hwc, dst, pt, pl):
        # dst (C, H, W) = the interior of hwc (Hp, Wp, C) at (pt, pl)
        c, h, w = dst.shape
        for r in range(h):
            for s in range(w):
                src = hwc[pt + r, pl + s]
                for k in range(c):
                    dst[k, r, s] = src[k]

    @njit(cache=True, nogil=True)
    def im2col(x, hwc, cols, pt, pl, sh, sw, dh, dw):
        # x (n, C, H, W) -> cols (n, Ho, Wo, kh, kw, C) through hwc (Hp, Wp, C), whose border
        # is zero on entry (the interior is overwritten for each image)
        n, c = x.shape[:2]
        ho, wo, kh, kw = cols.shape[1], cols.shape[2], cols.shape[3], cols.shape[4]
        hp, wp = hwc.shape[0], hwc.shape[1]
        rows = hwc.reshape(hp, wp * c)
        run = kw * c
        for b in range(n):
            _to_hwc(x[b], hwc, pt, pl)
            cb = cols[b].reshape(ho, wo, kh, run)
            for oh in range(ho):
                for ow in range(wo):
                    for i in range(kh):
                        src = rows[oh * sh + i * dh]
                        dst = cb[oh, ow, i]
                        if dw == 1:  # the kw offsets' channels are one run
                            s = src[ow * sw * c:ow * sw * c + run]
                            for q in range(run):
                                dst[q] = s[q]
                        else:
                            for j in range(kw):
                                s0 = (ow * sw + j * dw) * c
                                s = src[s0:s0 + c]
                                d = dst[j * c:(j + 1) * c]
                                for q in range(c):
                                    d[q] = s[q]

    @njit(cache=True, nogil=True)
    def col2im(cols, hwc, out, pt, pl, sh, sw, dh, dw):
        # cols (n, Ho, Wo, kh, kw, C) summed into out (n, C, H, W) (overwritten) through the
        # scratch image hwc (Hp, Wp, C)
        n, c = out.shape[:2]
        ho, wo, kh, kw = cols.shape[1], cols.shape[2], cols.shape[3], cols.shape[4]
        hp, wp = hwc.shape[0], hwc.shape[1]
        rows = hwc.reshape(hp, wp * c)
        run = kw * c
        zero = hwc.dtype.type(0)
        for b in range(n):
            hwc[:, :, :] = zero
            cb = cols[b].reshape(ho, wo, kh, run)
            for oh in range(ho):
                for ow in range(wo):
                    for i in range(kh):
                        dst = rows[oh * sh + i * dh]
                        src = cb[oh, ow, i]
                        if dw == 1:
                            d = dst[ow * sw * c:ow * sw * c + run]
                            for q in range(run):
                                d[q] += src[q]
                        else:
                            for j in range(kw):
                                d0 = (ow * sw + j * dw) * c
                                d = dst[d0:d0 + c]
                                s = src[j * c:(j + 1) * c]
                                for q in range(c):
                                    d[q] += s[q]
            _from_hwc(hwc, out[b], pt, pl)

    return {"im2col": im2col, "col2im": col2im}


def _scratch(c, g, dtype):
    return np.zeros((g.Hp, g.Wp, c), dtype)  # (Hp, Wp, C), zero border


def im2col(x, cols, g):
    """x (n, C, H, W) -> cols (n, Ho, Wo, kh, kw, C) for the 2-D geometry g."""
    _compiled()["im2col"](x, _scratch(x.shape[1], g, x.dtype), cols, g.pt, g.pl, g.sh, g.sw,
                          g.dh, g.dw)
    return cols


def col2im(cols, out, g):
    """cols (n, Ho, Wo, kh, kw, C) summed into out (n, C, H, W), which is overwritten."""
    _compiled()["col2im"](cols, _scratch(out.shape[1], g, out.dtype), out, g.pt, g.pl, g.sh,
                          g.sw, g.dh, g.dw)
    return out
