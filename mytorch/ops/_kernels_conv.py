"""numba loops for the CPU convolution and max-pool primitives in mytorch.ops.conv.

Each loop has an array-module reference in conv.py (`_im2col_reference`, ...) that CuPy and
non-float arrays use and the tests compare against. The references pad the input and copy or
slice-add one strided view per kernel offset (ten or more passes over memory, each a strided
NumPy copy); these loops make one pass. With unit horizontal stride they copy and add whole
rows between views of a zero-padded plane, which vectorizes; with a larger stride they gather
through a per-geometry table of plane offsets (`taps`, -1 on the padding), which beats row-wise
bounds arithmetic on the small strided images of the ConvNet. Accumulation order per element is
the reference's (kernel offsets in row-major order), so the results are bitwise equal.

Column layout: cols (C, kh, kw, N, Ho, Wo), i.e. (C*kh*kw, N*Ho*Wo) as a matrix: the whole batch
chunk is the right operand of one GEMM.
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    # numba is imported on first use, so `import mytorch` stays fast; cache=True keeps the
    # machine code on disk between processes.
    from numba import njit

    @njit(cache=True, nogil=True)
    def taps(h_in, w_in, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw):
        # (kh, kw, Ho*Wo): flat index into an (H, W) plane read by each kernel offset and
        # output position, -1 where the window lies on the padding
        idx = np.empty((kh, kw, ho * wo), np.int64)
        for i in range(kh):
            for j in range(kw):
                for oh in range(ho):
                    h = oh * sh - pt + i * dh
                    for ow in range(wo):
                        w = ow * sw - pl + j * dw
                        inside = 0 <= h < h_in and 0 <= w < w_in
                        idx[i, j, oh * wo + ow] = h * w_in + w if inside else -1
        return idx

    # The gather loops below index a plane's view and a row's view (not the flat arrays at
    # base + k) and load before they test for padding, so the copy is a select, not a branch
    # around a load: 1.2-1.8x faster on the ConvNet's stride-2 layers (e.g. col2im of the
    # 16 -> 32 layer at 14x14, batch 64: 0.53 -> 0.35 ms).
    @njit(cache=True, nogil=True)
    def im2col(x, out, idx):
        # x (N, C, H, W) -> out (C, kh, kw, N, Ho, Wo), both C-contiguous
        n, c, h_in, w_in = x.shape
        kh, kw, L = idx.shape
        xf, of = x.ravel(), out.ravel()
        zero = x.dtype.type(0)
        plane = h_in * w_in
        p = 0
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    ix = idx[i, j]
                    for b in range(n):
                        src = xf[(b * c + ci) * plane:(b * c + ci + 1) * plane]
                        dst = of[p:p + L]
                        for q in range(L):
                            k = ix[q]
                            v = src[max(k, 0)]
                            dst[q] = v if k >= 0 else zero
                        p += L

    @njit(cache=True, nogil=True)
    def col2im(cols, out, idx):
        # cols (C, kh, kw, N, Ho, Wo) summed into out (N, C, H, W)
        n, c, h_in, w_in = out.shape
        kh, kw, L = idx.shape
        cf, of = cols.ravel(), out.ravel()
        plane = h_in * w_in
        for b in range(n):
            for ci in range(c):
                dst = of[(b * c + ci) * plane:(b * c + ci + 1) * plane]
                for i in range(kh):
                    for j in range(kw):
                        ix = idx[i, j]
                        p = (((ci * kh + i) * kw + j) * n + b) * L
                        src = cf[p:p + L]
                        for q in range(L):
                            k = ix[q]
                            if k >= 0:
                                dst[k] += src[q]

    # Unit-stride rows: contiguous copies and adds between row views of a zero-padded plane.
    # Indexing a view by its range variable spares numba the negative-index wraparound that
    # keeps `flat[base + q]` loops scalar, so these vectorize.
    @njit(cache=True, nogil=True)
    def im2col_rows(xp, out, sh, dh, dw):
        # padded xp (N, C, Hp, Wp) -> out (C, kh, kw, N, Ho, Wo), stride (sh, 1)
        n, c = xp.shape[0], xp.shape[1]
        kh, kw, ho, wo = out.shape[1], out.shape[2], out.shape[4], out.shape[5]
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    for b in range(n):
                        plane = xp[b, ci]
                        dst = out[ci, i, j, b]
                        for oh in range(ho):
                            src = plane[oh * sh + i * dh, j * dw:]
                            row = dst[oh]
                            for ow in range(wo):
                                row[ow] = src[ow]

    @njit(cache=True, nogil=True)
    def col2im_rows(cols, gp, sh, dh, dw):
        # cols (C, kh, kw, N, Ho, Wo) summed into padded gp (N, C, Hp, Wp), stride (sh, 1)
        n, c = gp.shape[0], gp.shape[1]
        kh, kw, ho, wo = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
        for b in range(n):
            for ci in range(c):
                plane = gp[b, ci]
                for i in range(kh):
                    for j in range(kw):
                        src = cols[ci, i, j, b]
                        for oh in range(ho):
                            dst = plane[oh * sh + i * dh, j * dw:]
                            row = src[oh]
                            for ow in range(wo):
                                dst[ow] += row[ow]

    @njit(cache=True, nogil=True)
    def max_pool(x, y, arg, kh, kw, sh, sw, pt, pl, dh, dw):
        # x (N, C, H, W) -> y (N, C, Ho, Wo) and the window offset of the first maximum;
        # padding counts as -inf; NaN propagates like np.maximum.
        n, c, h_in, w_in = x.shape
        ho, wo = y.shape[2], y.shape[3]
        ninf = x.dtype.type(-np.inf)
        for b in range(n):
            for ci in range(c):
                plane = x[b, ci]
                for oh in range(ho):
                    for ow in range(wo):
                        best = ninf
                        k_best = 0
                        k = 0
                        for i in range(kh):
                            h = oh * sh - pt + i * dh
                            for j in range(kw):
                                w = ow * sw - pl + j * dw
                                v = ninf
                                if 0 <= h < h_in and 0 <= w < w_in:
                                    v = plane[h, w]
                                # selects, not a branch on the data (see max_pool_2x2)
                                k_best = k if v > best else k_best
                                best = v if v > best else best
                                if v != v:  # rare: a NaN propagates
                                    best = v
                                k += 1
                        y[b, ci, oh, ow] = best
                        arg[b, ci, oh, ow] = k_best

    @njit(cache=True, nogil=True)
    def max_pool_backward(gy, arg, out, kw, sh, sw, pt, pl, dh, dw):
        # gy (N, C, Ho, Wo) summed into out (N, C, H, W) at each window's argmax
        n, c, ho, wo = gy.shape
        h_in, w_in = out.shape[2], out.shape[3]
        for b in range(n):
            for ci in range(c):
                for oh in range(ho):
                    for ow in range(wo):
                        k = arg[b, ci, oh, ow]
                        h = oh * sh - pt + (k // kw) * dh
                        w = ow * sw - pl + (k % kw) * dw
                        if 0 <= h < h_in and 0 <= w < w_in:
                            out[b, ci, h, w] += gy[b, ci, oh, ow]

    # 2x2 windows at stride 2 without padding (the common case): no bounds checks, and the
    # comparisons are selects rather than branches (on random data a branch on `v > best`
    # mispredicts half the time, which made the general loop ten times slower). NaNs take a
    # separate, rarely taken branch.
    @njit(cache=True, nogil=True)
    def max_pool_2x2(x, y, arg):
        n, c = x.shape[0], x.shape[1]
        ho, wo = y.shape[2], y.shape[3]
        for b in range(n):
            for ci in range(c):
                for oh in range(ho):
                    r0, r1 = x[b, ci, 2 * oh], x[b, ci, 2 * oh + 1]
                    yr, ar = y[b, ci, oh], arg[b, ci, oh]
                    for ow in range(wo):
                        a, b_, c_, d = r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]
                        best, k = a, 0  # first maximum in row-major order, as selects
                        k = 1 if b_ > best else k
                        best = b_ if b_ > best else best
                        k = 2 if c_ > best else k
                        best = c_ if c_ > best else best
                        k = 3 if d > best else k
                        best = d if d > best else best
                        if (a != a) | (b_ != b_) | (c_ != c_) | (d != d):  # rare: a NaN
                            best, k = a, 0  # it propagates; the argmax stays before it
                            for t, v in enumerate((b_, c_, d)):
                                if best != best:
                                    break
                                if v > best:
                                    best, k = v, t + 1
                                elif v != v:
                                    best = v
                        yr[ow] = best
                        ar[ow] = k

    @njit(cache=True, nogil=True)
    def max_pool_2x2_backward(gy, arg, out):
        # out (N, C, H, W) (overwritten): gy at each window's argmax, zero elsewhere. One store
        # per window at an offset computed from the argmax (a branch on it would mispredict).
        n, c, ho, wo = gy.shape
        h_in, w_in = out.shape[2], out.shape[3]
        out[...] = 0
        of, gf, af = out.reshape(-1), gy.reshape(-1), arg.reshape(-1)
        for p in range(n * c):
            for oh in range(ho):
                base = (p * h_in + 2 * oh) * w_in  # window row's top-left element
                q = (p * ho + oh) * wo
                for ow in range(wo):
                    k = np.int64(af[q + ow])
                    of[base + 2 * ow + (k >> 1) * w_in + (k & 1)] = gf[q + ow]

    return {"taps": taps, "im2col": im2col, "col2im": col2im, "im2col_rows": im2col_rows,
            "col2im_rows": col2im_rows, "max_pool": max_pool,
            "max_pool_backward": max_pool_backward, "max_pool_2x2": max_pool_2x2,
            "max_pool_2x2_backward": max_pool_2x2_backward}


def _taps(g):
    return _compiled()["taps"](g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.dh,
                               g.dw)


def _padded(a, g):
    """(N, C, H, W) -> (N, C, Hp, Wp) with zeros around `a` (no copy without padding)."""
    if g.Hp == g.H and g.Wp == g.W:
        return a
    out = np.zeros(a.shape[:2] + (g.Hp, g.Wp), a.dtype)
    out[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W] = a
    return out


def im2col(x, out, g):
    """x (N, C, H, W) -> out (C, kh, kw, N, Ho, Wo) for geometry g (see conv.Geom)."""
    if g.sw == 1:  # row copies from a padded copy of x
        _compiled()["im2col_rows"](_padded(x, g), out, g.sh, g.dh, g.dw)
    else:
        _compiled()["im2col"](x, out, _taps(g))
    return out


def col2im(cols, out, g):
    """cols (C, kh, kw, N, Ho, Wo) added into out (N, C, H, W)."""
    if g.sw != 1:
        _compiled()["col2im"](cols, out, _taps(g))
    elif g.Hp == g.H and g.Wp == g.W:
        _compiled()["col2im_rows"](cols, out, g.sh, g.dh, g.dw)
    else:  # sum into a zero-padded buffer, then add its interior
        gp = np.zeros(out.shape[:2] + (g.Hp, g.Wp), out.dtype)
        _compiled()["col2im_rows"](cols, gp, g.sh, g.dh, g.dw)
        out += gp[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W]
    return out


def _is_2x2(g):
    """2x2 windows at stride 2, no padding or dilation, all inside the input."""
    return (g.kernel == (2, 2) and g.stride == (2, 2) and g.dilation == (1, 1)
            and g.lo == (0, 0) and 2 * g.Ho <= g.H and 2 * g.Wo <= g.W)


def max_pool(x, y, arg, g):
    """Fill y (N, C, Ho, Wo) and arg (same shape, window offsets) from x (N, C, H, W)."""
    if _is_2x2(g):
        _compiled()["max_pool_2x2"](x, y, arg)
    else:
        _compiled()["max_pool"](x, y, arg, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw)


def max_pool_backward(gy, arg, out, g):
    """Add gy into out (N, C, H, W) at the argmax positions (out is zero on entry, except for
    2x2 windows at stride 2: then it is overwritten and may start uninitialized)."""
    if _is_2x2(g):
        _compiled()["max_pool_2x2_backward"](gy, arg, out)
    else:
        _compiled()["max_pool_backward"](gy, arg, out, g.kw, g.sh, g.sw, g.pt, g.pl, g.dh,
                                         g.dw)
    return out
