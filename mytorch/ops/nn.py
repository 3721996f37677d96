"""Hand-written layer primitives: the default (`auto=False`) path of mytorch.nn.

Each Function says in one line why it exists instead of a composite of Tensor ops.
Everything works on raw xp arrays and keeps the input's float dtype (Python float constants
only, so float32 stays float32).
"""
import math

import numpy as np

from mytorch.autograd.function import Function
from mytorch.autograd.row_grad import RowGrad
from mytorch.backend import array_module
from mytorch.ops import _kernels_batchnorm as kbn
from mytorch.ops import buffers
from mytorch.ops import cuda_kernels as ck
from mytorch.ops import cuda_misc_kernels as cmk
from mytorch.ops._kernels import (
    BLOCK,
    _fits_row_kernel,
    blocks,
    embedding_grad,
    gelu_backward,
    gelu_fits,
    gelu_forward,
    gelu_tanh_backward,
    gelu_tanh_fits,
    gelu_tanh_forward,
    layer_norm_backward,
    layer_norm_forward,
    softmax_backward,
    softmax_forward,
    softmax_rows,
)
from mytorch.ops.conv import col2im, im2col
from mytorch.ops.elementwise import _quiet

__all__ = []

SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT_2_PI = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715
_LOG_HALF = math.log(0.5)
_LOG_SQRT1_2 = math.log(SQRT1_2)

# erfc(a) = t * exp(-a*a + P(t)), t = 1 / (1 + a/2), a >= 0: Chebyshev fit with relative
# error below 1.2e-7 everywhere (Numerical Recipes, erfcc). Coefficients of P, highest first.
ERFC_COEFFS = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
               0.09678418, 0.37409196, 1.00002368, -1.26551223)


def erfc_nonneg(a):
    """erfc(a) for a >= 0 (an array), accurate to ~1e-7 relative; a fresh array."""
    xp = array_module(a)
    out = xp.empty_like(a)
    _erfc_into(a, out, xp.empty_like(a), xp.empty_like(a))
    return out


def _erfc_into(a, out, t, s, log_scale=0.0):
    """out = erfc(a) * exp(log_scale) for a >= 0; leaves t = 2 / (2 + a) and s = a * a."""
    xp = array_module(a)
    xp.add(a, 2.0, out=t)
    xp.divide(2.0, t, out=t)
    xp.multiply(t, ERFC_COEFFS[0], out=out)
    for c in ERFC_COEFFS[1:-1]:
        out += c
        out *= t
    out += ERFC_COEFFS[-1] + log_scale
    xp.multiply(a, a, out=s)
    out -= s
    xp.exp(out, out=out)
    out *= t
    return out


def _rows(x, n):
    """View x as (M, n) rows (a copy only when x is not contiguous enough)."""
    return x.reshape(-1, n)


def _along(dim, kernel, *arrays):
    """`kernel` (a fused one, over the last dim) applied along `dim` of `arrays`: when `dim`
    is not the last, it is moved there for the kernel (a transposed copy) and back."""
    if dim == arrays[0].ndim - 1:
        return kernel(*arrays)
    xp = array_module(arrays[0])
    return xp.moveaxis(kernel(*(xp.moveaxis(a, dim, -1) for a in arrays)), -1, dim)


# ---------------------------------------------------------------- linear / embedding / dropout


class Linear(Function):
    """y = x @ W.T + b. One matmul each way, and x is saved once as a (M, in) view."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        out_f, in_f = weight.shape
        x2 = _rows(x, in_f)
        y = buffers.matmul(x2, weight.T)  # GPT-2's logits: a reused buffer, no fresh pages
        if bias is not None:
            y += bias
        if y.dtype != x.dtype:  # bfloat16: ml_dtypes' matmul accumulates in float32
            y = y.astype(x.dtype)
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        ctx.has_bias = bias is not None
        return y.reshape(x.shape[:-1] + (out_f,))

    @staticmethod
    def backward(ctx, gy):
        x2, weight = ctx.saved_tensors
        xp = array_module(gy)
        g2 = _rows(gy, weight.shape[0])
        needs = ctx.needs_input_grad
        gx = xp.matmul(g2, weight).reshape(ctx.x_shape) if needs[0] else None
        gw = buffers.matmul(g2.T, x2) if needs[1] else None
        gb = g2.sum(axis=0) if ctx.has_bias and needs[2] else None
        return gx, gw, gb

    @staticmethod
    def composite(x, weight, bias=None):  # create_graph: backward saves a reshaped x
        y = x.matmul(weight.transpose(0, 1))
        return y if bias is None else y + bias

    @staticmethod
    def rebuilt_inputs(ctx):
        return (0,)  # x is the saved (M, in) rows, reshaped

    @staticmethod
    def rebuild_input(ctx, i):
        return ctx.saved_tensors[0].reshape(ctx.x_shape)


class Embedding(Function):
    """weight[idx]. The gradient adds each gy row into its weight row (no dense one-hot); on
    CUDA float arrays that is one deterministic kernel (mytorch.ops.cuda_misc_kernels).

    When the weight is a leaf (a parameter) and the lookups are at most half as many as its
    rows, the NumPy gradient goes to it as a RowGrad: only the rows the batch touched, which
    the engine adds in place into the weight's gradient (no dense (num_embeddings, D) array;
    see mytorch.autograd.row_grad)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, weight, idx, padding_idx=None):
        ctx.idx, ctx.n_rows, ctx.padding_idx = idx, weight.shape[0], padding_idx
        return weight[idx]

    @staticmethod
    def backward(ctx, gy):
        if ck.fits(gy) and gy.size:
            return cmk.embedding_backward(ctx.n_rows, ctx.idx, gy, ctx.padding_idx), None
        # Rows pay off when the lookups touch a small part of the table (GPT-2: 512 tokens,
        # 50257 rows); a small table looked up many times is cheaper to fill densely.
        if type(gy) is np.ndarray and gy.dtype.kind == "f" and \
                2 * ctx.idx.size <= ctx.n_rows and ctx.rows_for_leaf(0):
            return RowGrad.from_lookup(ctx.n_rows, ctx.idx, gy, ctx.padding_idx), None
        dim = gy.shape[-1]
        gw = embedding_grad(ctx.n_rows, ctx.idx.reshape(-1), gy.reshape(-1, dim))
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None


class Dropout(Function):
    """x * mask with the mask pre-scaled by 1/(1-p): one multiply each way, one saved array."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.mask, None


class DropoutAdd(Function):
    """residual + x * mask (residual may be None), the mask made from (seed, element index)
    by a counter-based generator (mytorch.ops.cuda_misc_kernels): one kernel each way on CUDA,
    and backward regenerates the mask instead of keeping it (saves its memory)."""

    @staticmethod
    def forward(ctx, x, residual, p, seed):
        ctx.p, ctx.seed = p, seed
        if ck.fits(x, residual):
            return cmk.dropout_add_forward(x, residual, p, seed)
        return cmk.dropout_add_reference(x, residual, p, seed)

    @staticmethod
    def backward(ctx, gy):
        if not ctx.needs_input_grad[0]:
            gx = None
        elif ck.fits(gy):
            gx = cmk.dropout_backward(gy, ctx.p, ctx.seed)
        else:
            gx = cmk.dropout_backward_reference(gy, ctx.p, ctx.seed)
        return gx, gy

    @staticmethod
    def composite(x, residual, p, seed):  # create_graph: backward is a kernel
        a = x.data
        mask = cmk.dropout_mask_reference(array_module(a), a.shape, p, seed, a.dtype)
        y = x * type(x)._wrap(mask.astype(a.dtype))  # a constant: no gradient
        return y if residual is None else residual + y


def dropout_mask(x, p, rng):
    """Keep-mask for dropout, already scaled by 1/(1-p), in x's dtype."""
    # generators draw float32/64 only: fp16 and bf16 masks come from float32 draws
    draw = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    keep = rng.random(x.shape, dtype=draw) >= p
    mask = keep.astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


# ---------------------------------------------------------------- activations


class LeakyRelu(Function):
    """Saves a boolean mask (1 byte/element) instead of x."""

    @staticmethod
    def forward(ctx, x, slope=0.01):
        xp = array_module(x)
        pos = x > 0
        ctx.pos, ctx.slope = pos, slope
        return xp.where(pos, x, x * slope)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return xp.where(ctx.pos, gy, gy * ctx.slope)


class Silu(Function):
    """x * sigmoid(x), the sigmoid kept from forward so backward needs no exp."""

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))  # stable sigmoid: exp of a non-positive number only
        d = 1.0 + e
        s = xp.where(x >= 0, e.dtype.type(1), e)  # a typed 1: a Python float makes bf16 fp32
        s /= d
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, gy):
        x, s = ctx.saved_tensors
        g = 1.0 - s  # s * (1 + x * (1 - s))
        g *= x
        g += 1.0
        g *= s
        g *= gy
        return g

    @staticmethod
    def composite(x):  # create_graph: backward reads the sigmoid kept from forward
        return x * x.sigmoid()


def _scratch(xp, xf, k):
    """k block-sized buffers for the blocked loops over the flat array xf."""
    n = xf.shape[0] if xp is not np else min(BLOCK, xf.shape[0])
    return [xp.empty(n, xf.dtype) for _ in range(k)]


def _flat(a):
    return a.reshape(-1)


def _like(xp, gy, x):
    """gy as a flat array shaped like x (gy may arrive broadcast)."""
    if gy.shape != x.shape:
        gy = xp.broadcast_to(gy, x.shape)
    return _flat(gy)


class Gelu(Function):
    """x * Phi(x) with erf from a float-accurate rational fit. Saves only x: Phi is recomputed
    per cache-sized block in backward, which costs less than a round trip through memory.
    Both tails keep full relative accuracy: only Phi(-|x|) is ever computed."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        if ck.fits(x):
            return ck.gelu_forward(x)
        if gelu_fits(x):  # fused numba loops (this is their reference below)
            return gelu_forward(np.ascontiguousarray(x).reshape(-1)).reshape(x.shape)
        xp = array_module(x)
        xf = _flat(x)
        y = xp.empty_like(xf)
        a, t, s = _scratch(xp, xf, 3)
        for b in blocks(xp, xf.shape[0]):
            xb, yb = xf[b], y[b]
            n = yb.shape[0]
            ab, sb = a[:n], s[:n]
            xp.abs(xb, out=ab)
            ab *= SQRT1_2
            xp.minimum(ab, 1e4, out=ab)  # erfc is 0 there already; keeps 0 * inf out at x = inf
            # y = max(x, 0) - |x| Phi(-|x|), and |x| Phi(-|x|) = a erfc(a) / sqrt(2)
            _erfc_into(ab, yb, t[:n], sb, _LOG_SQRT1_2)
            yb *= ab
            xp.maximum(xb, 0.0, out=sb)
            xp.subtract(sb, yb, out=yb)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        if ck.fits(x, gy):
            return ck.gelu_backward(x, xp.broadcast_to(gy, x.shape))
        if gelu_fits(x) and gelu_fits(gy) and gy.dtype == x.dtype:
            gf = np.ascontiguousarray(np.broadcast_to(gy, x.shape)).reshape(-1)
            return gelu_backward(np.ascontiguousarray(x).reshape(-1), gf, x.shape)
        xf, gf = _flat(x), _like(xp, gy, x)
        gx = xp.empty_like(xf)
        a, t, s, c = _scratch(xp, xf, 4)
        for b in blocks(xp, xf.shape[0]):
            xb, g = xf[b], gx[b]
            n = g.shape[0]
            ab, tb, sb, cb = a[:n], t[:n], s[:n], c[:n]
            xp.abs(xb, out=ab)
            ab *= SQRT1_2
            _erfc_into(ab, cb, tb, sb, _LOG_HALF)  # Phi(-|x|); sb = x^2 / 2
            # Phi(x) = [x >= 0] - copysign(Phi(-|x|), x), exact for x < 0
            xp.copysign(cb, xb, out=cb)
            xp.copysign(0.5, xb, out=tb)
            tb += 0.5
            tb -= cb
            xp.negative(sb, out=sb)  # Phi(x) + x * pdf(x)
            xp.exp(sb, out=sb)
            xp.multiply(sb, xb, out=g)
            g *= _INV_SQRT_2PI
            g += tb
            g *= gf[b]
        return gx.reshape(x.shape)

    @staticmethod
    def composite(x):  # create_graph: backward writes into its buffers (out=)
        return x * 0.5 * (1.0 + (x * (1.0 / math.sqrt(2.0))).erf())


def _tanh_inner_into(xb, t):
    """t = tanh(sqrt(2/pi) (x + 0.044715 x^3))."""
    xp = array_module(xb)
    xp.multiply(xb, xb, out=t)
    t *= GELU_C
    t += 1.0
    t *= xb
    t *= SQRT_2_PI
    xp.tanh(t, out=t)
    return t


class GeluTanh(Function):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Saves only x: recomputing the tanh
    per cache-sized block is cheaper than writing it to memory and reading it back. NumPy
    float32 takes one fused numba pass each way (mytorch.ops._kernels.gelu_tanh_*, 3-4x
    faster); the blocked loops below are their reference and every other array's path."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        if ck.fits(x):
            return ck.gelu_forward(x, "tanh")
        if gelu_tanh_fits(x):
            return gelu_tanh_forward(x)
        xp = array_module(x)
        xf = _flat(x)
        y = xp.empty_like(xf)
        for b in blocks(xp, xf.shape[0]):
            xb, yb = xf[b], y[b]
            _tanh_inner_into(xb, yb)
            yb += 1.0
            yb *= xb
            yb *= 0.5
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        if ck.fits(x, gy):
            return ck.gelu_backward(x, xp.broadcast_to(gy, x.shape), "tanh")
        if gelu_tanh_fits(x, gy):
            return gelu_tanh_backward(x, xp.broadcast_to(gy, x.shape))[0]
        xf, gf = _flat(x), _like(xp, gy, x)
        gx = xp.empty_like(xf)
        t, s = _scratch(xp, xf, 2)
        for b in blocks(xp, xf.shape[0]):
            xb, d = xf[b], gx[b]
            n = d.shape[0]
            tb, sb = _tanh_inner_into(xb, t[:n]), s[:n]
            # 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3c x^2)
            xp.multiply(xb, xb, out=d)
            d *= 3.0 * GELU_C
            d += 1.0
            d *= xb
            d *= 0.5 * SQRT_2_PI
            xp.multiply(tb, tb, out=sb)
            xp.subtract(1.0, sb, out=sb)
            d *= sb
            tb *= 0.5
            d += tb
            d += 0.5
            d *= gf[b]
        return gx.reshape(x.shape)

    @staticmethod
    def composite(x):  # create_graph: backward writes into its buffers (out=)
        inner = (x + 0.044715 * x * x * x) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (1.0 + inner.tanh())


class BiasGelu(Function):
    """GELU(x + b) for x (..., N) and a bias b (N,), as one fused kernel each way: x + b is
    never stored, and backward sums the bias gradient while it writes gx. CUDA float arrays
    that `ck.fits` take mytorch.ops.cuda_kernels.bias_gelu_*; NumPy float32 with the tanh
    approximation the numba loop of mytorch.ops._kernels.gelu_tanh_*. F.bias_gelu runs
    `composite` (the reference) everywhere else (see `fits`)."""

    @staticmethod
    def fits(x, b, approximate):
        """Whether the arrays x, b take a fused kernel."""
        return ck.fits(x, b) or (approximate == "tanh" and gelu_tanh_fits(x, b))

    @staticmethod
    def forward(ctx, x, b, approximate):
        ctx.save_for_backward(x, b)
        ctx.approximate = approximate
        if type(x) is np.ndarray:
            return gelu_tanh_forward(x, b)
        return ck.bias_gelu_forward(x, b, approximate)

    @staticmethod
    def backward(ctx, gy):
        x, b = ctx.saved_tensors
        gy = array_module(x).broadcast_to(gy, x.shape).astype(x.dtype, copy=False)
        if type(x) is np.ndarray:
            gx, gb = gelu_tanh_backward(x, gy, b)
        else:
            gx, gb = ck.bias_gelu_backward(x, b, gy, ctx.approximate)
        return gx, gb, None

    @staticmethod
    def composite(x, b, approximate):  # create_graph, and every path but the fused one
        from mytorch.nn import functional as F
        return F.gelu(x + b, approximate=approximate)


def _logits_rebuildable(p):
    """(0,) where `_logits_of(p)` is exact enough for second derivatives: float32 and
    float64 (a 16-bit log would move the probabilities by its rounding)."""
    return (0,) if p.dtype in (np.float32, np.float64) else ()


def _logits_of(p):
    """Logits whose softmax is the saved probabilities p (softmax cannot see a per-row
    constant): log p, and for p = 0 a logit so low that exp underflows to 0 again."""
    xp = array_module(p)
    with _quiet(xp):
        z = xp.log(p)
    return xp.where(p > 0, z, p.dtype.type(2 * np.log(np.finfo(p.dtype).tiny)))


class Softmax(Function):
    """exp(x - max) / sum: saves only y; backward y * (gy - sum(gy * y)).
    Over the last dim: row loops in mytorch.ops._kernels (numba on NumPy floats). On CUDA
    float arrays, the fused kernels of mytorch.ops.cuda_kernels (any dim)."""

    @staticmethod
    def forward(ctx, x, dim):
        xp = array_module(x)
        ctx.dim, ctx.x_shape = dim, x.shape
        ctx.fused = ck.fits(x)
        if ctx.fused:
            y = _along(dim, ck.softmax_forward, x)
        elif dim != x.ndim - 1:
            y = x - x.max(axis=dim, keepdims=True)
            xp.exp(y, out=y)
            y /= y.sum(axis=dim, keepdims=True)
        else:
            y = softmax_forward(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        y, dim, shape = ctx.y, ctx.dim, ctx.x_shape
        if gy.shape != shape:
            gy = xp.broadcast_to(gy, shape)
        if ctx.fused:
            return _along(dim, ck.softmax_backward, y, gy.astype(y.dtype, copy=False))
        if dim != len(shape) - 1:
            g = gy * y
            s = g.sum(axis=dim, keepdims=True)
            xp.subtract(gy, s, out=g)
            g *= y
            return g
        return softmax_backward(y, gy)

    @staticmethod
    def composite(x, dim):  # create_graph: backward is a numba or CUDA kernel on the output
        e = (x - x.amax(dim, keepdim=True).detach()).exp()  # the shift cancels: no gradient
        return e / e.sum(dim, keepdim=True)

    @staticmethod
    def rebuilt_inputs(ctx):
        return _logits_rebuildable(ctx.y)

    @staticmethod
    def rebuild_input(ctx, i):
        return _logits_of(ctx.y)


class LogSoftmax(Function):
    """x - max - log(sum(exp(x - max))), stable; saves only y."""

    @staticmethod
    def forward(ctx, x, dim):
        xp = array_module(x)
        z = x - x.max(axis=dim, keepdims=True)
        lse = xp.log(xp.exp(z).sum(axis=dim, keepdims=True))
        z -= lse
        ctx.y, ctx.dim = z, dim
        return z

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        g = xp.exp(ctx.y)
        g *= gy.sum(axis=ctx.dim, keepdims=True)
        xp.subtract(gy, g, out=g)
        return g

    @staticmethod
    def composite(x, dim):  # create_graph: backward writes into its buffers (out=)
        z = x - x.amax(dim, keepdim=True).detach()  # the shift cancels: no gradient
        return z - z.exp().sum(dim, keepdim=True).log()

    @staticmethod
    def rebuilt_inputs(ctx):
        return (0,)  # the output is x shifted by a per-row constant: as good as x

    @staticmethod
    def rebuild_input(ctx, i):
        return ctx.y


# ---------------------------------------------------------------- normalization


class LayerNorm(Function):
    """Normalize over the trailing dims; saves x and per-row mean and 1/std only.
    On NumPy float arrays one numba pass per row each way (mytorch.ops._kernels); on CUDA
    float arrays one fused kernel each way (mytorch.ops.cuda_kernels)."""

    @staticmethod
    def forward(ctx, x, weight, bias, n, eps):
        x1 = x if x.shape[-1:] == (n,) else x.reshape(-1, n)  # (..., N)
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)
        ctx.fused = ck.fits(x1, w, b)  # backward follows: mean, rstd are then float32/64
        y, mean, rstd = (ck.layer_norm_forward if ctx.fused else layer_norm_forward)(
            x1, w, b, eps)
        ctx.save_for_backward(x1, mean, rstd, w)
        ctx.has_bias, ctx.x_shape = bias is not None, x.shape
        ctx.p_shape = next((p.shape for p in (weight, bias) if p is not None), None)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        x1, mean, rstd, w = ctx.saved_tensors
        if gy.shape != ctx.x_shape:
            gy = array_module(gy).broadcast_to(gy, ctx.x_shape)
        gy = gy.reshape(x1.shape)
        if ctx.fused:
            gx, gw, gb = ck.layer_norm_backward(x1, gy.astype(x1.dtype, copy=False), w, mean,
                                                rstd)
        else:
            gx, gw, gb = layer_norm_backward(x1, gy, w, mean, rstd)
        needs = ctx.needs_input_grad
        if gx.shape != ctx.x_shape:
            gx = gx.reshape(ctx.x_shape)  # a view: x.grad then gets a copy
        gx = gx if needs[0] else None
        gw = gw.reshape(ctx.p_shape) if w is not None and needs[1] else None
        gb = gb.reshape(ctx.p_shape) if ctx.has_bias and needs[2] else None
        return gx, gw, gb

    @staticmethod
    def composite(x, weight, bias, n, eps):  # create_graph: backward is a numba kernel
        x1 = x.reshape(-1, n)
        mu = x1.mean(-1, keepdim=True)
        d = x1 - mu
        y = d / ((d * d).mean(-1, keepdim=True) + eps).sqrt()
        if weight is not None:
            y = y * weight.reshape(-1)
        if bias is not None:
            y = y + bias.reshape(-1)
        return y.reshape(*x.shape)


class RMSNorm(Function):
    """x / sqrt(mean(x^2) + eps) * weight over the trailing k dims, with the fused CUDA kernels
    (mytorch.ops.cuda_kernels); saves x and the per-row 1/rms. F.rms_norm takes it for CUDA
    float arrays only: elsewhere it runs `composite`, the reference, as Tensor ops."""

    @staticmethod
    def forward(ctx, x, weight, k, eps):
        n = math.prod(x.shape[x.ndim - k:])
        x1 = x.reshape(-1, n)
        w = None if weight is None else weight.reshape(-1)
        y, rstd = ck.rms_norm_forward(x1, w, eps)
        ctx.save_for_backward(x1, rstd, w)
        ctx.x_shape, ctx.w_shape = x.shape, None if weight is None else weight.shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        x1, rstd, w = ctx.saved_tensors
        xp = array_module(x1)
        gy = xp.broadcast_to(gy, ctx.x_shape).reshape(x1.shape).astype(x1.dtype, copy=False)
        gx, gw = ck.rms_norm_backward(x1, gy, w, rstd)
        needs = ctx.needs_input_grad
        return (gx.reshape(ctx.x_shape) if needs[0] else None,
                gw.reshape(ctx.w_shape) if w is not None and needs[1] else None)

    @staticmethod
    def composite(x, weight, k, eps):  # create_graph (and every path but the fused one)
        dims = tuple(range(x.ndim - k, x.ndim))
        y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
        return y if weight is None else y * weight


def _channel_sum(x3):
    """Per-channel sum of x3 (N, C, L) -> (C,): two matrix-vector products, several times
    faster than x.sum(axis=(0, 2, 3)) at conv sizes."""
    xp = array_module(x3)
    n, _, length = x3.shape
    return xp.ones(n, x3.dtype) @ (x3 @ xp.ones(length, x3.dtype))


def _channel_dot(a3, b3):
    """Per-channel sum of a3 * b3, both (N, C, L) -> (C,), without the product temporary."""
    return array_module(a3).einsum("ncl,ncl->c", a3, b3)


def _expand(v, length):
    """(C,) -> (C * L,) to pair with an (N, C * L) view: one long inner loop per row instead
    of C short ones of length L (1.5-2x faster elementwise ops at small H * W)."""
    return array_module(v).repeat(v, length)


class BatchNorm(Function):
    """Per-channel normalization over (N, *spatial): batch statistics in training, given
    statistics in eval. Saves xhat and 1/std. Returns (y, mean, var), the statistics used
    (non-differentiable), so the caller can update running averages.
    Hand-written to save xhat only and to do 2 per-channel reductions each way (on an
    (N, C, L) view) instead of the 6 axis reductions of the composite. Training on C-contiguous
    NumPy float arrays runs the numba loops of mytorch.ops._kernels_batchnorm (each channel
    once through the cache, both ways); the array-module code below is their reference."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps, training):
        xp = array_module(x)
        n, c, length = x.shape[0], x.shape[1], math.prod(x.shape[2:])
        x2 = x.reshape(n, c * length)  # (N, C * L); L = 1 for (N, C) input
        count = n * length
        ctx.training, ctx.count, ctx.x_shape = training, count, x.shape
        ctx.has_bias = bias is not None
        if training and count and kbn.fits(x, *(a for a in (weight, bias) if a is not None)):
            y, xhat3, mean, var, rstd = kbn.forward(x.reshape(n, c, length), weight, bias, eps)
            ctx.mark_non_differentiable(mean, var)
            ctx.save_for_backward(xhat3, rstd, weight)
            return y.reshape(x.shape), mean, var
        if training:
            mean = _channel_sum(x2.reshape(n, c, length)) * (1.0 / count)
        xhat = x2 - _expand(mean, length)
        xhat3 = xhat.reshape(n, c, length)
        if training:
            var = _channel_dot(xhat3, xhat3) * (1.0 / count)
        ctx.mark_non_differentiable(mean, var)
        rstd = 1.0 / xp.sqrt(var + eps)  # (C,)
        xhat *= _expand(rstd, length)
        ctx.save_for_backward(xhat3, rstd, weight)
        y = xhat * _expand(weight, length) if weight is not None else xhat.copy()
        if bias is not None:
            y += _expand(bias, length)
        return y.reshape(x.shape), mean, var

    @staticmethod
    def backward(ctx, gy, _gmean=None, _gvar=None):
        xhat3, rstd, weight = ctx.saved_tensors
        n, c, length = xhat3.shape
        needs = ctx.needs_input_grad
        g3 = gy.reshape(n, c, length)
        train_gx = needs[0] and ctx.training
        w_needs = weight is not None and needs[1]
        if ctx.training and kbn.fits(xhat3) and type(gy) is np.ndarray and \
                gy.dtype == xhat3.dtype:
            k = rstd if weight is None else rstd * weight  # (C,)
            gx, gb_sum, gw_sum = kbn.backward(np.ascontiguousarray(g3), xhat3, k, needs[0])
            return (None if gx is None else gx.reshape(ctx.x_shape),
                    gw_sum if w_needs else None, gb_sum if ctx.has_bias and needs[2] else None)
        gb_sum = _channel_sum(g3) if train_gx or (ctx.has_bias and needs[2]) else None
        gw_sum = _channel_dot(g3, xhat3) if train_gx or w_needs else None
        gx = None
        if needs[0]:
            k = rstd if weight is None else rstd * weight  # (C,)
            gx = g3.reshape(n, c * length) * _expand(k, length)
            if ctx.training:
                # mean(gxhat) = k * sum(gy) / count, mean(gxhat * xhat) = k * sum(gy * xhat) / count
                inv = 1.0 / ctx.count
                gx -= xhat3.reshape(n, c * length) * _expand(gw_sum * k * inv, length)
                gx -= _expand(gb_sum * k * inv, length)
            gx = gx.reshape(ctx.x_shape)
        gw = gw_sum if w_needs else None
        gb = gb_sum if ctx.has_bias and needs[2] else None
        return gx, gw, gb

    @staticmethod
    def composite(x, weight, bias, mean, var, eps, training):  # create_graph: saves xhat
        c = x.shape[1]
        shape = (1, c) + (1,) * (x.ndim - 2)
        if training:
            dims = tuple(i for i in range(x.ndim) if i != 1)
            mean = x.mean(dims, keepdim=True)
            d = x - mean
            var = (d * d).mean(dims, keepdim=True)
        else:
            d = x - mean.reshape(*shape)
            var = var.reshape(*shape)
        y = d / (var + eps).sqrt()
        if weight is not None:
            y = y * weight.reshape(*shape)
        if bias is not None:
            y = y + bias.reshape(*shape)
        return y, mean.detach().reshape(c), var.detach().reshape(c)

    @staticmethod
    def rebuilt_inputs(ctx):  # in training the statistics cannot see a per-channel shift
        return (0,) if ctx.training else ()

    @staticmethod
    def rebuild_input(ctx, i):
        """x minus its batch mean: xhat / rstd."""
        xhat3, rstd, _ = ctx.saved_tensors
        return (xhat3 / rstd[:, None]).reshape(ctx.x_shape)


# ---------------------------------------------------------------- losses


def _reduce(loss, reduction, denom):
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction != "mean":
        return total
    with _quiet(array_module(total)):  # every target ignored: nan, as in PyTorch
        return total / denom


class CrossEntropy(Function):
    """Cross-entropy from logits (M, C) and class indices (M,): saves only softmax(x), never
    materializes log-probabilities; backward is (p - onehot) scaled. Stable (max-shifted)."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        xp = array_module(x)
        m, c = x.shape
        valid = target != ignore_index
        t = xp.where(valid, target, 0)
        rows = xp.arange(m)
        eps = label_smoothing
        if _fits_row_kernel(x) and not eps:
            # softmax, row max and sum of exp in one numba pass (no (M, C) temporaries)
            z, mx, s = softmax_rows(xp.ascontiguousarray(x))
            z_t = x[rows, t] - mx
        else:
            z = x - x.max(axis=1, keepdims=True)
            z_t = z[rows, t]
            if eps:
                z_sum = z.sum(axis=1) if weight is None else xp.matmul(z, weight)
            xp.exp(z, out=z)
            s = z.sum(axis=1)
            z /= s[:, None]  # z is now softmax(x)
        lse = xp.log(s)
        w_t = valid.astype(x.dtype) if weight is None else weight[t] * valid
        loss = (lse - z_t) * w_t
        if eps:  # the weights' sum stays on the device (float() would wait for it)
            w_sum = float(c) if weight is None else weight.sum().astype(x.dtype)
            smooth = (w_sum * lse - z_sum) * valid
            loss *= 1.0 - eps
            loss += smooth * (eps / c)
        if reduction == "mean":
            denom = w_t.sum()
            ctx.denom = denom
        else:
            denom = None
        ctx.save_for_backward(z)
        ctx.t, ctx.valid, ctx.w_t, ctx.weight = t, valid, w_t, weight
        ctx.eps, ctx.reduction = eps, reduction
        return _reduce(loss, reduction, denom).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        (p,) = ctx.saved_tensors
        xp = array_module(p)
        m, c = p.shape
        eps, weight, valid = ctx.eps, ctx.weight, ctx.valid
        if ctx.reduction == "none":
            scale = gy * valid
        elif ctx.reduction == "mean":
            # every target ignored: the loss is NaN and the gradient 0, as torch (chosen on
            # the device: `if valid.any()` would wait for it)
            with _quiet(xp):
                scale = valid * xp.where(valid.any(), gy / ctx.denom, gy * 0)
        else:
            scale = valid * gy
        scale = scale.astype(p.dtype, copy=False)
        nll_coef = scale * ctx.w_t if weight is not None else scale
        # (1-eps) w_t (p - onehot) + eps/C (p W - w), per row times scale
        if eps:
            if weight is None:
                k = float(c) * eps / c
            else:  # on the device, rounded as the Python float it replaces
                k = (weight.sum().astype(xp.float64) * eps / c).astype(p.dtype)
            row = nll_coef * (1.0 - eps) + scale * k
        else:
            row = nll_coef
        # the saved softmax is not needed after this: the gradient goes into its buffer
        g = xp.multiply(p, row[:, None], out=p if ctx.saved_last_use() else None)
        g[xp.arange(m), ctx.t] -= nll_coef * (1.0 - eps)
        if eps:
            if weight is None:
                g -= (scale * (eps / c))[:, None]
            else:
                g -= (scale * (eps / c))[:, None] * weight[None, :]
        return g, None

    @staticmethod
    def composite(x, target, weight, ignore_index, label_smoothing, reduction):
        # create_graph: backward reads the softmax kept from forward
        import mytorch.nn.functional as F
        from mytorch.tensor import Tensor
        target = target if isinstance(target, Tensor) else Tensor._wrap(target)
        weight = weight if weight is None or isinstance(weight, Tensor) else Tensor._wrap(weight)
        return F.cross_entropy(x, target, weight, ignore_index=ignore_index,
                               reduction=reduction, label_smoothing=label_smoothing, auto=True)

    @staticmethod
    def rebuilt_inputs(ctx):  # the loss and its derivatives see only softmax(x)
        return _logits_rebuildable(ctx.saved_tensors[0])

    @staticmethod
    def rebuild_input(ctx, i):
        return _logits_of(ctx.saved_tensors[0])


class MSE(Function):
    """mean((x - y)^2): saves only the difference."""

    @staticmethod
    def forward(ctx, x, y, reduction):
        d = x - y
        ctx.d, ctx.reduction = d, reduction
        return _reduce(d * d, reduction, d.size).astype(d.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        d = ctx.d
        if ctx.reduction == "mean":
            g = d * (2.0 * gy / d.size).astype(d.dtype)
        else:
            g = d * (2.0 * gy).astype(d.dtype, copy=False)
        needs = ctx.needs_input_grad
        return (g if needs[0] else None), (-g if needs[1] else None)

    @staticmethod
    def composite(x, y, reduction):  # create_graph: backward reads the difference from forward
        d = x - y
        return _reduce(d * d, reduction, d.numel())


class Pad(Function):
    """Constant padding (negative amounts crop): backward is a slice, not a scatter."""

    @staticmethod
    def forward(ctx, x, pads, value):
        xp = array_module(x)
        out_shape, src, dst = [], [], []
        for n, (lo, hi) in zip(x.shape, pads):
            size = n + lo + hi
            if size < 0:
                raise RuntimeError(f"pad: padding ({lo}, {hi}) makes a dim of size {n} negative")
            s0, s1 = max(-lo, 0), n - max(-hi, 0)
            d0 = max(lo, 0)
            out_shape.append(size)
            src.append(slice(s0, max(s1, s0)))
            dst.append(slice(d0, d0 + max(s1 - s0, 0)))
        y = xp.full(tuple(out_shape), value, dtype=x.dtype)
        y[tuple(dst)] = x[tuple(src)]
        ctx.src, ctx.dst, ctx.x_shape = tuple(src), tuple(dst), x.shape
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        gx = xp.zeros(ctx.x_shape, dtype=gy.dtype)
        gx[ctx.src] = gy[ctx.dst]
        return gx


# ---------------------------------------------------------------- more activations and losses


def _sigmoid(xp, z):
    """Stable sigmoid: exp of a non-positive number only."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0, e) / (1.0 + e)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, x itself where beta x > threshold. Hand-written because the
    stable composite relu(z) + log1p(exp(-|z|)) has the wrong gradient (0, not 1/2) at 0."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = array_module(x)
        z = x * beta
        y = (xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        return xp.where(z > threshold, x, y).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        z = x * ctx.beta
        return xp.where(z > ctx.threshold, gy, gy * _sigmoid(xp, z)).astype(gy.dtype, copy=False)


class BinaryCrossEntropy(Function):
    """Elementwise -(t log x + (1 - t) log(1 - x)), each log clamped at -100 as PyTorch.
    Hand-written for the clamped gradient (x - t) / max(x (1 - x), 1e-12): the composite's is
    NaN at x = 0 or 1."""

    @staticmethod
    def forward(ctx, x, t):
        xp = array_module(x)
        with _quiet(xp):  # log(0) = -inf, then clamped
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        ctx.save_for_backward(x, t)
        return ((t - 1.0) * log_1mx - t * log_x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        x, t = ctx.saved_tensors
        xp = array_module(x)
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = gy * (x - t) / xp.maximum((1.0 - x) * x, 1e-12)
        if ctx.needs_input_grad[1]:  # -logit(x), unclamped (infinite at 0 and 1) as PyTorch
            with _quiet(xp):
                gt = gy * (xp.log1p(-x) - xp.log(x))
        return gx, gt


# ---------------------------------------------------------------- unfold / fold


def _blocks_to_cols(xp, y, g, n, c):
    """(n, C*kh*kw, L) -> the conv column layout (C, kh, kw, n, Ho, Wo), contiguous."""
    y = y.reshape(n, c, g.kh, g.kw, g.Ho, g.Wo).transpose(1, 2, 3, 0, 4, 5)
    return xp.ascontiguousarray(y)


def _cols_to_blocks(cols, g, n, c):
    """The conv column layout (C, kh, kw, n, Ho, Wo) -> (n, C*kh*kw, L)."""
    y = cols.transpose(3, 0, 1, 2, 4, 5).reshape(n, c * g.kh * g.kw, g.Ho * g.Wo)
    return array_module(cols).ascontiguousarray(y)


class Unfold(Function):
    """(N, C, H, W) -> sliding blocks (N, C*kh*kw, L): conv's im2col; the gradient is col2im."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, g):
        xp = array_module(x)
        n, c = x.shape[:2]
        cols = xp.empty((c, g.kh, g.kw, n, g.Ho, g.Wo), x.dtype)
        im2col(xp.ascontiguousarray(x), g, cols)
        ctx.g, ctx.x_shape = g, x.shape
        return _cols_to_blocks(cols, g, n, c)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        n, c = ctx.x_shape[:2]
        gx = xp.zeros(ctx.x_shape, gy.dtype)
        return col2im(_blocks_to_cols(xp, gy, ctx.g, n, c), ctx.g, gx)


class Fold(Function):
    """Sliding blocks (N, C*kh*kw, L) summed into (N, C, H, W): conv's col2im; the gradient is
    im2col."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, g, c):
        xp = array_module(x)
        n = x.shape[0]
        y = xp.zeros((n, c, g.H, g.W), x.dtype)
        ctx.g, ctx.c = g, c
        return col2im(_blocks_to_cols(xp, x, g, n, c), g, y)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        g, n, c = ctx.g, gy.shape[0], ctx.c
        cols = xp.empty((c, g.kh, g.kw, n, g.Ho, g.Wo), gy.dtype)
        im2col(xp.ascontiguousarray(gy), g, cols)
        return _cols_to_blocks(cols, g, n, c), None, None


# ---------------------------------------------------------------- adaptive max pooling


class AdaptiveMaxPool2d(Function):
    """(M, H, W) -> (M, oh, ow) maxima over windows [floor(i*H/oh), ceil((i+1)*H/oh)) and their
    flat indices into H*W (int64). One vectorized argmax per output cell; the gradient goes to
    the (first) argmax, so backward needs only the indices."""

    @staticmethod
    def forward(ctx, x, hs, ws):
        xp = array_module(x)
        m, h, w = x.shape
        y = xp.empty((m, len(hs[0]), len(ws[0])), x.dtype)
        idx = xp.empty(y.shape, np.int64)
        rows = xp.arange(m)
        for i, (h0, h1) in enumerate(zip(*hs)):
            for j, (w0, w1) in enumerate(zip(*ws)):
                win = x[:, h0:h1, w0:w1].reshape(m, -1)
                a = win.argmax(1)
                y[:, i, j] = win[rows, a]
                idx[:, i, j] = (h0 + a // (w1 - w0)) * w + w0 + a % (w1 - w0)
        ctx.idx, ctx.x_shape = idx, x.shape
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    def backward(ctx, gy, _gidx=None):
        xp = array_module(gy)
        m, oh, ow = gy.shape
        gx = xp.zeros((m, ctx.x_shape[1] * ctx.x_shape[2]), gy.dtype)
        rows = xp.arange(m)
        for i in range(oh):
            for j in range(ow):  # one index per row in each cell: no repeated targets in an add
                gx[rows, ctx.idx[:, i, j]] += gy[:, i, j]
        return gx.reshape(ctx.x_shape), None, None
