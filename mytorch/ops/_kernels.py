"""CPU helpers for the layer primitives in mytorch.ops.nn.

`blocks` splits elementwise work so that a few block-sized temporaries stay in the L2 cache
(NumPy streams each ufunc over the whole array; on big arrays every pass goes to DRAM).
`embedding_grad` is a numba loop beside its NumPy reference `embedding_grad_reference`:
a sorted segment sum or `np.add.at` is 50-100x slower than the plain loop.
`layer_norm_forward` / `layer_norm_backward` are numba row loops beside their array-module
references: one pass per row in cache instead of ~10 NumPy passes over the whole array.
`softmax_forward` / `softmax_backward` (over the last dim) likewise; the forward's exp is
written out in arithmetic so that it vectorizes (numba's exp is a scalar libm call, ~8x slower).
"""
import functools
import math

import numpy as np

from mytorch.backend import array_module

BLOCK = 1 << 16  # elements per block: a handful of 256 KiB float32 temporaries


def blocks(xp, n_rows, width=1):
    """Row slices covering range(n_rows), each about BLOCK elements of rows `width` long.

    Only NumPy gains from blocking; other array modules get one slice (one kernel launch).
    """
    if xp is not np:
        return [slice(0, n_rows)]
    step = max(1, BLOCK // max(width, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def embedding_grad_reference(n_rows, idx, gy):
    """out[idx[i]] += gy[i] with repeats summed. idx (N,), gy (N, D) -> (n_rows, D)."""
    xp = array_module(gy)
    out = xp.zeros((n_rows,) + gy.shape[1:], gy.dtype)
    xp.add.at(out, idx, gy)
    return out


# Every `_compiled_*` below imports numba on its first call, so `import mytorch` stays fast;
# functools.cache builds the loops once per process, and cache=True loads their machine code
# from disk.


@functools.cache
def _compiled_rows_add():
    from numba import njit

    @njit(cache=True, nogil=True)
    def rows_add(out, idx, src):
        for i in range(idx.shape[0]):
            r = idx[i]
            for j in range(src.shape[1]):
                out[r, j] += src[i, j]

    return rows_add


def embedding_grad(n_rows, idx, gy):
    """Same as embedding_grad_reference; a numba loop for NumPy float32/float64 arrays."""
    if not (isinstance(gy, np.ndarray) and gy.dtype in (np.float32, np.float64)):
        return embedding_grad_reference(n_rows, idx, gy)
    out = np.zeros((n_rows,) + gy.shape[1:], gy.dtype)
    _compiled_rows_add()(out, np.ascontiguousarray(idx), np.ascontiguousarray(gy))
    return out


# ---------------------------------------------------------------- layer norm over rows


def layer_norm_forward_reference(x, w, b, eps):
    """Normalize x (..., N) over its last dim; w and b (N,) or None.
    Returns y shaped like x and mean, rstd (M,) over the M rows, all in x's dtype."""
    xp = array_module(x)
    n = x.shape[-1]
    x2 = x.reshape(-1, n)
    mean = x2.mean(axis=1)
    y = x2 - mean[:, None]
    var = xp.einsum("ij,ij->i", y, y)
    var *= 1.0 / n
    var += eps
    rstd = xp.sqrt(var, out=var)
    xp.reciprocal(rstd, out=rstd)
    y *= rstd[:, None]
    if w is not None:
        y *= w
    if b is not None:
        y += b
    return y.reshape(x.shape), mean, rstd


def layer_norm_backward_reference(x, gy, w, mean, rstd):
    """Grads of layer_norm_forward from x, gy (..., N) and the saved mean, rstd:
    gx shaped like x, gw (N,), gb (N,)."""
    n = x.shape[-1]
    x2, gy2 = x.reshape(-1, n), gy.reshape(-1, n)
    xhat = x2 - mean[:, None]
    xhat *= rstd[:, None]
    gw = (gy2 * xhat).sum(axis=0)
    gb = gy2.sum(axis=0)
    g = gy2 * w if w is not None else gy2.copy()  # d/dxhat
    m1 = g.mean(axis=1, keepdims=True)
    m2 = (g * xhat).mean(axis=1, keepdims=True)
    g -= m1
    xhat *= m2
    g -= xhat
    g *= rstd[:, None]
    return g.reshape(x.shape), gw, gb


@functools.cache
def _compiled_layer_norm():
    from numba import njit

    # reassoc (and no other fast-math flag) lets LLVM vectorize the row sums into per-lane
    # partial sums; without it every sum is a serial add chain, 3-4x slower
    opts = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})

    @njit(**opts)
    def forward(x, w, b, eps, y, mean, rstd):
        m, n = x.shape
        for i in range(m):
            xi, yi = x[i], y[i]
            s = 0.0  # float64 accumulators for the moments
            for j in range(n):
                s += xi[j]
            mean[i] = s / n
            mu = mean[i]  # rounded to x's dtype, so the loops below stay in it
            v = 0.0
            for j in range(n):
                d = xi[j] - mu
                v += d * d
            rstd[i] = 1.0 / np.sqrt(v / n + eps)
            r = rstd[i]
            for j in range(n):
                yi[j] = (xi[j] - mu) * r * w[j] + b[j]

    @njit(**opts)
    def backward(x, gy, w, mean, rstd, gx, gw, gb):
        # gw, gb: float64 (N,) accumulators, zeroed by the caller
        m, n = x.shape
        zero = np.zeros(1, x.dtype)[0]  # typed constants: int or float64 ones promote
        inv_n = np.full(1, 1.0 / n, x.dtype)[0]
        for i in range(m):
            xi, gi, gxi = x[i], gy[i], gx[i]
            mu, r = mean[i], rstd[i]
            s1 = zero  # row sums in x's dtype (per-lane partial sums)
            s2 = zero
            for j in range(n):
                xh = (xi[j] - mu) * r
                g = gi[j] * w[j]
                s1 += g
                s2 += g * xh
                gw[j] += gi[j] * xh
                gb[j] += gi[j]
            s1 *= inv_n
            s2 *= inv_n
            for j in range(n):
                xh = (xi[j] - mu) * r
                gxi[j] = r * (gi[j] * w[j] - s1 - xh * s2)

    return (forward, backward)


def _fits_row_kernel(x, *others):
    """NumPy float32/float64 arrays of one dtype (None entries skipped), x with N >= 1."""
    if type(x) is not np.ndarray or x.dtype not in (np.float32, np.float64) or x.shape[-1] == 0:
        return False
    return all(a is None or (type(a) is np.ndarray and a.dtype == x.dtype) for a in others)


def layer_norm_forward(x, w, b, eps):
    """Same as layer_norm_forward_reference; a numba row loop for NumPy float32/float64."""
    if not _fits_row_kernel(x, w, b):
        return layer_norm_forward_reference(x, w, b, eps)
    n = x.shape[-1]
    x2 = np.ascontiguousarray(x).reshape(-1, n)
    w = np.ones(n, x.dtype) if w is None else np.ascontiguousarray(w)
    b = np.zeros(n, x.dtype) if b is None else np.ascontiguousarray(b)
    y = np.empty(x.shape, x.dtype)
    mean, rstd = np.empty(x2.shape[0], x.dtype), np.empty(x2.shape[0], x.dtype)
    _compiled_layer_norm()[0](x2, w, b, float(eps), y.reshape(-1, n), mean, rstd)
    return y, mean, rstd


def layer_norm_backward(x, gy, w, mean, rstd):
    """Same as layer_norm_backward_reference; a numba row loop for NumPy float32/float64."""
    if not _fits_row_kernel(x, gy, w, mean, rstd):
        return layer_norm_backward_reference(x, gy, w, mean, rstd)
    n = x.shape[-1]
    x2 = np.ascontiguousarray(x).reshape(-1, n)
    gy2 = np.ascontiguousarray(gy).reshape(-1, n)
    w = np.ones(n, x.dtype) if w is None else np.ascontiguousarray(w)
    gx = np.empty(x.shape, x.dtype)  # the caller may hand it to x.grad as is
    gw, gb = np.zeros(n), np.zeros(n)
    _compiled_layer_norm()[1](x2, gy2, w, mean, rstd, gx.reshape(-1, n), gw, gb)
    return gx, gw.astype(x.dtype), gb.astype(x.dtype)


# ---------------------------------------------------------------- softmax over rows


def softmax_forward_reference(x):
    """Softmax of x (..., N) over its last dim, in row blocks that stay in cache."""
    xp = array_module(x)
    n = x.shape[-1]
    x2 = x.reshape(-1, n)
    y = xp.empty(x.shape, x.dtype)
    y2 = y.reshape(-1, n)
    ones = xp.ones(n, x.dtype)
    for b in blocks(xp, x2.shape[0], n):
        xb, yb = x2[b], y2[b]
        xp.subtract(xb, xb.max(axis=1, keepdims=True), out=yb)
        xp.exp(yb, out=yb)
        s = xp.matmul(yb, ones)  # row sums: a matvec beats a strided reduction
        xp.reciprocal(s, out=s)
        yb *= s[:, None]
    return y


def softmax_backward_reference(y, gy):
    """y * (gy - sum(gy * y)) over the last dim; y, gy (..., N)."""
    xp = array_module(y)
    n = y.shape[-1]
    y2, g2 = y.reshape(-1, n), gy.reshape(-1, n)
    gx = xp.empty(y.shape, y.dtype)
    gx2 = gx.reshape(-1, n)
    ones = xp.ones(n, y.dtype)
    for b in blocks(xp, y2.shape[0], n):
        yb, gb = y2[b], gx2[b]
        xp.multiply(g2[b], yb, out=gb)
        s = xp.matmul(gb, ones)
        xp.subtract(g2[b], s[:, None], out=gb)
        gb *= yb
    return gx


def _exp_table(ln2_hi, ln2_lo, underflow, degree, dtype):
    """The constants of the softmax loops' exp(t) = 2**n exp(r), at the _EXP_* positions:
    log2(e), ln2 split in a high part exact in n * ln2_hi and the rest, the underflow bound
    (results below it are 0), then the Taylor coefficients 1/k!, k = degree..0."""
    return np.array([1.4426950408889634, ln2_hi, ln2_lo, underflow]
                    + [1.0 / math.factorial(k) for k in range(degree, -1, -1)], dtype)


_EXP_LOG2E, _EXP_LN2_HI, _EXP_LN2_LO, _EXP_UNDERFLOW, _EXP_TAYLOR = range(5)
_EXP32_DEGREE, _EXP64_DEGREE = 7, 13
_SOFTMAX_EXP32 = _exp_table(0.693359375, -2.12194440e-4, -87.0, _EXP32_DEGREE, np.float32)
_SOFTMAX_EXP64 = _exp_table(6.93147180369123816490e-01, 1.90821492927058770002e-10, -708.0,
                            _EXP64_DEGREE, np.float64)


@functools.cache
def _compiled_softmax():
    from numba import njit

    # contract: FMAs in the exp polynomial (faster, and more accurate than np.exp here)
    opts = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})

    # Per row: the max (in 16 independent lanes), then y = exp(x - max) and its sum in one
    # vectorized pass, then y /= sum. exp(t), t <= 0: t = n ln2 + r (Cody-Waite, |r| <= ln2/2),
    # Taylor in r, 2**n from its exponent bits, 0 below the underflow bound (x - max may be
    # -inf), NaN kept.
    # One self-contained kernel per dtype: a cached kernel that calls another closure
    # dispatcher (or takes one as an argument) misses numba's cache in every new process.
    @njit(**opts)
    def forward32(x, y, c, row_max, row_sum):
        m, n = x.shape
        acc = np.empty(16, x.dtype)
        n16 = n - n % 16
        for i in range(m):
            xi, yi = x[i], y[i]
            acc[:] = xi[0]
            for j0 in range(0, n16, 16):
                for k in range(16):
                    acc[k] = max(acc[k], xi[j0 + k])
            mx = acc[0]
            for k in range(16):
                mx = max(mx, acc[k])
            for j in range(n16, n):
                mx = max(mx, xi[j])
            s = np.float32(0)
            for j in range(n):
                t = xi[j] - mx
                tc = t if t > c[_EXP_UNDERFLOW] else c[_EXP_UNDERFLOW]
                nf = np.floor(tc * c[_EXP_LOG2E] + np.float32(0.5))
                r = (t - nf * c[_EXP_LN2_HI]) - nf * c[_EXP_LN2_LO]
                p = c[_EXP_TAYLOR]
                for k in range(_EXP_TAYLOR + 1, _EXP_TAYLOR + _EXP32_DEGREE + 1):  # unrolled
                    p = p * r + c[k]
                e = p * np.int32((np.int32(nf) + 127) << 23).view(np.float32)
                yi[j] = np.float32(0) if t < c[_EXP_UNDERFLOW] else e
                s += yi[j]
            row_max[i], row_sum[i] = mx, s
            r = np.float32(1) / s
            for j in range(n):
                yi[j] *= r

    @njit(**opts)
    def forward64(x, y, c, row_max, row_sum):
        m, n = x.shape
        acc = np.empty(16, x.dtype)
        n16 = n - n % 16
        for i in range(m):
            xi, yi = x[i], y[i]
            acc[:] = xi[0]
            for j0 in range(0, n16, 16):
                for k in range(16):
                    acc[k] = max(acc[k], xi[j0 + k])
            mx = acc[0]
            for k in range(16):
                mx = max(mx, acc[k])
            for j in range(n16, n):
                mx = max(mx, xi[j])
            s = 0.0
            for j in range(n):
                t = xi[j] - mx
                tc = t if t > c[_EXP_UNDERFLOW] else c[_EXP_UNDERFLOW]
                nf = np.floor(tc * c[_EXP_LOG2E] + 0.5)
                r = (t - nf * c[_EXP_LN2_HI]) - nf * c[_EXP_LN2_LO]
                p = c[_EXP_TAYLOR]
                for k in range(_EXP_TAYLOR + 1, _EXP_TAYLOR + _EXP64_DEGREE + 1):  # unrolled
                    p = p * r + c[k]
                e = p * np.int64((np.int64(nf) + 1023) << 52).view(np.float64)
                yi[j] = 0.0 if t < c[_EXP_UNDERFLOW] else e
                s += yi[j]
            row_max[i], row_sum[i] = mx, s
            r = 1.0 / s
            for j in range(n):
                yi[j] *= r

    @njit(**opts)
    def backward(y, gy, gx):
        m, n = y.shape
        zero = np.zeros(1, y.dtype)[0]
        for i in range(m):
            yi, gi, gxi = y[i], gy[i], gx[i]
            s = zero
            for j in range(n):
                s += yi[j] * gi[j]
            for j in range(n):
                gxi[j] = yi[j] * (gi[j] - s)

    return (forward32, forward64, backward)


def softmax_forward(x):
    """Same as softmax_forward_reference; a numba row loop for NumPy float32/float64."""
    if not _fits_row_kernel(x):
        return softmax_forward_reference(x)
    return softmax_rows(np.ascontiguousarray(x).reshape(-1, x.shape[-1]))[0].reshape(x.shape)


def softmax_rows(x2):
    """(softmax, row max, row sum of exp(x - max)) of a contiguous 2-D NumPy float array, in
    one numba pass per row (cross-entropy takes its log-sum-exp from the last two)."""
    forward32, forward64, _ = _compiled_softmax()
    y = np.empty(x2.shape, x2.dtype)
    row_max = np.empty(x2.shape[0], x2.dtype)
    row_sum = np.empty(x2.shape[0], x2.dtype)
    kernel, consts = ((forward32, _SOFTMAX_EXP32) if x2.dtype == np.float32
                      else (forward64, _SOFTMAX_EXP64))
    kernel(x2, y, consts, row_max, row_sum)
    return y, row_max, row_sum


def softmax_backward(y, gy):
    """Same as softmax_backward_reference; a numba row loop for NumPy float32/float64."""
    if not _fits_row_kernel(y, gy):
        return softmax_backward_reference(y, gy)
    n = y.shape[-1]
    gx = np.empty(y.shape, y.dtype)  # owned: x.grad can take it over
    _compiled_softmax()[2](np.ascontiguousarray(y).reshape(-1, n),
                           np.ascontiguousarray(gy).reshape(-1, n), gx.reshape(-1, n))
    return gx


# ---------------------------------------------------------------- exact GELU

_GELU_CENTER = -0.6327561  # P(t) below lies in [-1.2656, 0]: exp(P) by Taylor around its middle
# erfc(a) = t exp(-a^2) exp(P(t)), t = 2/(2+a): the fit of mytorch.ops.nn (ERFC_COEFFS), P's
# coefficients highest first for Horner.
_ERFC_P = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
           0.09678418, 0.37409196, 1.00002368, -1.26551223)
_GELU_TAYLOR_DEGREE = 10
_GELU_CONSTS = (*_ERFC_P, 0.7071067811865476, 0.3989422804014327, _GELU_CENTER,
                math.exp(_GELU_CENTER),
                *(1.0 / math.factorial(n) for n in range(_GELU_TAYLOR_DEGREE, -1, -1)))
# Where each constant lies in _GELU_CONSTS (the loops get it as an array `k` of x's dtype):
_K_P = 0  # P's coefficients, up to _K_RSQRT2
_K_RSQRT2 = len(_ERFC_P)  # 1/sqrt(2)
_K_RSQRT_2PI = _K_RSQRT2 + 1  # 1/sqrt(2 pi)
_K_CENTER = _K_RSQRT2 + 2  # the Taylor center
_K_EXP_CENTER = _K_RSQRT2 + 3  # e^center
_K_TAYLOR = _K_RSQRT2 + 4  # 1/n! for n = 10..0, highest first, up to the end
_K_END = len(_GELU_CONSTS)
_K_ONE = _K_END - 1  # 1/0! = 1 in x's dtype


@functools.cache
def _compiled_gelu():
    """numba loops around one NumPy (SIMD) exp per direction -- numba's own exp is a scalar
    call. The only exp over the array is exp(-x^2/2): erfc's exp(P(t)) factor has P in a
    narrow range, so a degree-10 Taylor polynomial gives it to ~2e-10 relative, and the
    backward's normal pdf is that same exp(-x^2/2). Constants come as an array of the input's
    dtype, so float32 stays float32 (as the NumPy reference) and loops vectorize at full width.
    The polynomials' multiply-adds contract to FMAs (no reassociation): fwd+bwd of 8 Mi float32
    values 56 -> 43 ms (torch 46), no less accurate than torch's float32 kernel (a test)."""
    from numba import njit

    opts = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

    @njit(**opts)
    def neg_half_square(x, cap, out):
        # out = -a^2 with a = min(|x| / sqrt(2), cap), i.e. -x^2/2
        for i in range(x.shape[0]):
            a = min(abs(x[i]) * x.dtype.type(0.7071067811865476), cap)
            out[i] = -(a * a)

    # erfc(a) = t exp(-a^2) exp(P(t)) is written out in both loops below: a cached kernel
    # that calls another jitted closure misses numba's on-disk cache in every new process
    # (1-2 s of compiling, and a new cache file each time).
    @njit(**opts)
    def forward_finish(x, k, e, y):
        # y = max(x, 0) - a erfc(a) / sqrt(2)
        zero, cap = x.dtype.type(0), x.dtype.type(1e4)
        for i in range(x.shape[0]):
            a = min(abs(x[i]) * k[_K_RSQRT2], cap)
            t = (k[_K_ONE] + k[_K_ONE]) / (k[_K_ONE] + k[_K_ONE] + a)
            p = k[_K_P]
            for j in range(_K_P + 1, _K_RSQRT2):
                p = p * t + k[j]
            d = p - k[_K_CENTER]
            q = k[_K_TAYLOR]
            for j in range(_K_TAYLOR + 1, _K_END):
                q = q * d + k[j]
            erfc = t * e[i] * (k[_K_EXP_CENTER] * q)
            y[i] = max(x[i], zero) - a * erfc * k[_K_RSQRT2]

    @njit(**opts)
    def backward_finish(x, gy, k, e, gx):
        # Phi(-|x|) = erfc(a)/2; gelu'(x) = Phi(x) + x pdf(x), pdf = e / sqrt(2 pi)
        zero, one, half, cap = (x.dtype.type(0), x.dtype.type(1), x.dtype.type(0.5),
                                x.dtype.type(np.inf))
        for i in range(x.shape[0]):
            xi = x[i]
            a = min(abs(xi) * k[_K_RSQRT2], cap)
            t = (k[_K_ONE] + k[_K_ONE]) / (k[_K_ONE] + k[_K_ONE] + a)
            p = k[_K_P]
            for j in range(_K_P + 1, _K_RSQRT2):
                p = p * t + k[j]
            d = p - k[_K_CENTER]
            q = k[_K_TAYLOR]
            for j in range(_K_TAYLOR + 1, _K_END):
                q = q * d + k[j]
            c = half * (t * e[i] * (k[_K_EXP_CENTER] * q))
            phi = one - c if xi >= zero else c
            gx[i] = (phi + xi * e[i] * k[_K_RSQRT_2PI]) * gy[i]

    return (neg_half_square, forward_finish, backward_finish)


def gelu_fits(x):
    """True when the fused exact-GELU loops apply: a NumPy float32/float64 array."""
    return type(x) is np.ndarray and x.dtype in (np.float32, np.float64)


def gelu_forward(xf):
    """Exact GELU of a flat contiguous NumPy float array (see _compiled_gelu); a fresh array."""
    neg_half_square, finish, _ = _compiled_gelu()
    k = np.array(_GELU_CONSTS, xf.dtype)
    y = np.empty_like(xf)
    e = np.empty(min(BLOCK, xf.shape[0]), xf.dtype)
    for b in blocks(np, xf.shape[0]):
        eb = e[:b.stop - b.start]
        neg_half_square(xf[b], xf.dtype.type(1e4), eb)
        np.exp(eb, out=eb)
        finish(xf[b], k, eb, y[b])
    return y


def gelu_backward(xf, gf, shape):
    """d/dx exact GELU times the flat contiguous gradient gf, as a fresh array of `shape` that
    owns its memory (so the engine can hand it to a leaf without a copy)."""
    neg_half_square, _, finish = _compiled_gelu()
    k = np.array(_GELU_CONSTS, xf.dtype)
    out = np.empty(shape, xf.dtype)
    gx = out.reshape(-1)
    e = np.empty(min(BLOCK, xf.shape[0]), xf.dtype)
    for b in blocks(np, xf.shape[0]):
        eb = e[:b.stop - b.start]
        neg_half_square(xf[b], xf.dtype.type(np.inf), eb)
        np.exp(eb, out=eb)
        finish(xf[b], gf[b], k, eb, gx[b])
    return out


# ---------------------------------------------------------------- tanh GELU

# tanh(u) in float32 arithmetic that vectorizes (numba's tanh is a scalar libm call; NumPy's
# SIMD tanh needs its own pass over memory). |u| < _TANH_SMALL: u + u^3 Q(u^2), Q a degree-4
# least-squares fit of (tanh(u)/u - 1)/u^2 on Chebyshev nodes in the relative error of tanh
# (0.9 ulp at most); above it (1 - e)/(1 + e) with e = exp(-2|u|) by the softmax loops' exp
# (e <= 0.29, so no cancellation: 1.6 ulp at most); the sign of u put back.
_TANH_SMALL = 0.625
_TANH_Q = (-0.005691985599696636, 0.020626291632652283, -0.05373531952500343,
           0.13331381976604462, -0.3333328068256378)  # highest first, for Horner
_GELU_TANH_CONSTS = np.concatenate([
    _SOFTMAX_EXP32,
    np.array([_TANH_SMALL, *_TANH_Q, math.sqrt(2.0 / math.pi), 0.044715], np.float32)])
# Positions in _GELU_TANH_CONSTS after the exp table (_EXP_* positions):
_T_SMALL = len(_SOFTMAX_EXP32)
_T_Q = _T_SMALL + 1  # Q's coefficients, up to _T_SQRT_2_PI
_T_SQRT_2_PI = _T_Q + len(_TANH_Q)  # sqrt(2/pi)
_T_CUBIC = _T_SQRT_2_PI + 1  # 0.044715


@functools.cache
def _compiled_gelu_tanh():
    from numba import njit

    # contract: FMAs in the polynomials (no reassociation: the sums keep their order)
    opts = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

    # One loop nest for both directions (`grad` is loop-invariant, so LLVM splits the loop in
    # two; a second such flag in it stops it vectorizing): the tanh is written once. Per row of
    # x (M, N): h = x + b (b = -0.0 without a bias: x + -0.0 is x, signed zeros included),
    # u = sqrt(2/pi) (h + 0.044715 h^3) in the NumPy reference's order; forward
    # y = 0.5 h (1 + t); backward gx = gy (0.5 (1 + t) + 0.5 h (1 - t^2) sqrt(2/pi)
    # (1 + 3 * 0.044715 h^2)), t recomputed (cheaper than storing it), and gb += gx row after
    # row (the order of NumPy's gx.sum(axis=0)) while the row is in cache.
    @njit(**opts)
    def gelu_tanh32(x, b, gy, c, out, gb, grad, sum_b):
        one, half, two = np.float32(1), np.float32(0.5), np.float32(2)
        for i in range(x.shape[0]):
            xr, gr, outr = x[i], gy[i], out[i]
            for j in range(x.shape[1]):
                xi = xr[j] + b[j]
                u = ((xi * xi * c[_T_CUBIC] + one) * xi) * c[_T_SQRT_2_PI]
                a = abs(u)
                z = a * a
                q = c[_T_Q]
                for k in range(_T_Q + 1, _T_SQRT_2_PI):  # unrolled
                    q = q * z + c[k]
                small = a + a * z * q
                t = -two * a
                tc = t if t > c[_EXP_UNDERFLOW] else c[_EXP_UNDERFLOW]
                nf = np.floor(tc * c[_EXP_LOG2E] + half)
                r = (tc - nf * c[_EXP_LN2_HI]) - nf * c[_EXP_LN2_LO]
                p = c[_EXP_TAYLOR]
                for k in range(_EXP_TAYLOR + 1, _EXP_TAYLOR + _EXP32_DEGREE + 1):  # unrolled
                    p = p * r + c[k]
                e = p * np.int32((np.int32(nf) + 127) << 23).view(np.float32)
                e = np.float32(0) if t < c[_EXP_UNDERFLOW] else e
                th = small if a < c[_T_SMALL] else (one - e) / (one + e)
                th = -th if u < 0 else th
                if grad:
                    d = (xi * xi * (np.float32(3) * c[_T_CUBIC]) + one) * xi
                    d = d * (half * c[_T_SQRT_2_PI]) * (one - th * th)
                    outr[j] = (d + half * th + half) * gr[j]
                else:
                    outr[j] = (th + one) * xi * half
            # gb from the row just written, still in L1 (inside the loop above, a store to gb
            # stops it vectorizing)
            if grad and sum_b:
                for j in range(x.shape[1]):
                    gb[j] += outr[j]

    return gelu_tanh32


def gelu_tanh_fits(x, *others):
    """True when the fused tanh-GELU loops apply: NumPy float32 arrays (others: gy, a bias)."""
    return all(type(a) is np.ndarray and a.dtype == np.float32 for a in (x, *others))


def _rows_of(a, n):
    """a as C-contiguous (M, n) rows (a copy only when a is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1, n)


def _bias_or_zeros(x, b):
    """(n, bias): the rows' width (x's last dim) and b, or -0.0s (adding them changes nothing)."""
    n = x.shape[-1] if x.ndim else 1
    return n, (b if b is not None else np.full(n, -0.0, x.dtype))


def gelu_tanh_forward(x, b=None):
    """tanh GELU of x + b for a NumPy float32 x (..., N) and bias b (N,) or None, in one pass
    (see _compiled_gelu_tanh); a fresh C-contiguous array. The NumPy reference is
    mytorch.ops.nn.GeluTanh's blocked path (of x + b)."""
    y = np.empty(x.shape, x.dtype)
    if x.size:
        n, bias = _bias_or_zeros(x, b)
        x2 = _rows_of(x, n)
        _compiled_gelu_tanh()(x2, bias, x2, _GELU_TANH_CONSTS, y.reshape(-1, n), bias, False,
                              False)
    return y


def gelu_tanh_backward(x, gy, b=None):
    """(gx, gb): d/dx tanh GELU of x + b times gy (shaped like x; gx a fresh array that owns
    its memory), and with a bias its gradient, gx summed over all but the last dim (None
    without a bias), from the same pass."""
    gx = np.empty(x.shape, x.dtype)
    n, bias = _bias_or_zeros(x, b)
    gb = np.zeros(n, x.dtype)
    if x.size:
        _compiled_gelu_tanh()(_rows_of(x, n), bias, _rows_of(gy, n), _GELU_TANH_CONSTS,
                              gx.reshape(-1, n), gb, True, b is not None)
    return gx, (gb if b is not None else None)
