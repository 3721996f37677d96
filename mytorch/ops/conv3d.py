"""3-D convolution and pooling over (N, C, D, H, W).

The 2-D scheme of mytorch.ops.conv with one more spatial axis: convolution runs conv.py's
drivers (`ConvNd`, `ConvTransposeNd`) on a 3-D geometry, whose im2col fills columns
(C*kd*kh*kw, n*Do*Ho*Wo) from a read-only strided window view and whose col2im adds one
strided slice per kernel offset into a padded buffer (never `np.add.at`). Max and
average pooling loop over kernel offsets the same way. Adaptive average pooling is a
separable linear map built from Tensor matmuls (autograd derives its gradient).
"""
import itertools
import math
from collections import namedtuple

import numpy as np

from mytorch.amp import autocast_mode as _amp
from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops.conv import ConvNd, ConvTransposeNd, _as_strided, _check_float, _conv_pads, _pair

__all__ = ["adaptive_avg_pool3d", "avg_pool3d", "conv3d", "conv_transpose3d", "max_pool3d"]

# Batch-chunk limits of the conv drivers for 3-D (see conv.py): column buffers per chunk of
# about this many elements, and no column matrix kept from forward for backward.
_CHUNK_ELEMS = 1 << 20
_KEEP_COLS_BYTES = 0


# ---------------------------------------------------------------------------------------
# geometry

class Geom3(namedtuple("Geom3", "size lo hi padded kernel stride dilation out")):
    """One 3-D sliding-window problem: input `size` (D, H, W) zero-padded by `lo` before and
    `hi` after each axis into `padded`; kernel, stride, dilation; output size `out`. All
    3-tuples. With `im2col`/`col2im` and the chunk limits it serves conv.py's conv drivers as
    their 2-D Geom does."""
    __slots__ = ()
    chunk_elems = property(lambda g: _CHUNK_ELEMS)
    keep_cols_bytes = property(lambda g: _KEEP_COLS_BYTES)

    def im2col(self, x, out):
        return _im2col(x, self, out)

    def col2im(self, cols, out):
        return _col2im(cols, self, out)


def _geom3(op, size, kernel, stride, pads, dilation, ceil_mode=False):
    """Output size of a 3-D window op; `pads` is ((lo, hi),) * 3."""
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: kernel size {kernel}, stride {stride} and dilation {dilation} "
                         "must be positive")
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {pads}")
    out, padded = [], []
    for n, (lo, hi), k, s, d in zip(size, pads, kernel, stride, dilation):
        span = n + lo + hi - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + lo:
            o -= 1  # the last window must start inside the input or the left padding
        if o < 1:
            raise RuntimeError(
                f"{op}: kernel size {tuple(kernel)} (dilation {tuple(dilation)}) is larger than "
                f"the padded input {tuple(n + lo + hi for n, (lo, hi) in zip(size, pads))} "
                f"(input spatial size {tuple(size)}, padding {pads})")
        out.append(o)
        # The padded extent actually read by the windows (ceil_mode may reach past `hi`).
        padded.append(max(n + lo + hi, (o - 1) * s + d * (k - 1) + 1))
    lo = tuple(p[0] for p in pads)
    hi = tuple(p - n - a for p, n, a in zip(padded, size, lo))
    return Geom3(tuple(size), lo, hi, tuple(padded), tuple(kernel), tuple(stride),
                 tuple(dilation), tuple(out))


def _inner(g):
    """Index of the unpadded input inside a padded (N, C, *padded) array."""
    return (slice(None), slice(None)) + tuple(slice(a, a + n) for a, n in zip(g.lo, g.size))


def _pad(a, g, value=0):
    """(N, C, D, H, W) -> (N, C, *g.padded) filled with `value` around `a` (no copy if none)."""
    if g.padded == g.size:
        return a
    xp = array_module(a)
    out = xp.full(a.shape[:2] + g.padded, value, a.dtype)
    out[_inner(g)] = a
    return out


def _crop(a, g):
    if g.padded == g.size:
        return a
    return array_module(a).ascontiguousarray(a[_inner(g)])


def _windows(a, g):
    """Padded (N, C, Dp, Hp, Wp) -> read-only view (N, C, kd, kh, kw, Do, Ho, Wo)."""
    s = a.strides
    shape = a.shape[:2] + g.kernel + g.out
    strides = (s[0], s[1]) + tuple(s[2 + i] * g.dilation[i] for i in range(3)) \
        + tuple(s[2 + i] * g.stride[i] for i in range(3))
    return _as_strided(array_module(a), a, shape, strides)


def _offsets(g):
    return itertools.product(*(range(k) for k in g.kernel))


def _tap(a, g, off):
    """The (N, C, Do, Ho, Wo) strided slice of padded `a` under kernel offset `off`."""
    return a[(slice(None), slice(None)) + tuple(
        slice(i * d, i * d + s * (o - 1) + 1, s)
        for i, d, s, o in zip(off, g.dilation, g.stride, g.out))]


# ---------------------------------------------------------------------------------------
# im2col / col2im on arrays (Geom3's, for conv.py's drivers)

def _im2col(x, g, out):
    """x (n, C, D, H, W) -> out (C, kd, kh, kw, n, Do, Ho, Wo): pad, copy the window view."""
    out[...] = _windows(_pad(x, g), g).transpose(1, 2, 3, 4, 0, 5, 6, 7)
    return out


def _col2im(cols, g, out):
    """cols (C, kd, kh, kw, n, Do, Ho, Wo) summed into out (n, C, D, H, W) (zero on entry)."""
    xp = array_module(cols)
    gpad = xp.zeros(out.shape[:2] + g.padded, out.dtype)
    for off in _offsets(g):
        _tap(gpad, g, off)[...] += cols[(slice(None),) + off].transpose(1, 0, 2, 3, 4)
    out += _crop(gpad, g)
    return out


# ---------------------------------------------------------------------------------------
# functional convolution

def _conv3d(op, x, weight, bias, stride, padding, dilation, groups, transposed=False,
            output_padding=0):
    """Shared front of conv3d and conv_transpose3d: check arguments, dispatch."""
    if x.ndim not in (4, 5):
        raise RuntimeError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got "
                           f"input of shape {tuple(x.shape)}")
    if weight.ndim != 5:
        raise RuntimeError(f"{op}: expected a 5-D weight, got shape {tuple(weight.shape)}")
    _check_float(op, x, weight, bias)
    groups = int(groups)
    if groups < 1 or weight.shape[0] % groups:
        raise RuntimeError(f"{op}: groups={groups} must be positive and divide the weight's "
                           f"first dim (weight of shape {tuple(weight.shape)})")
    w_in = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.shape[-4] != w_in:
        raise RuntimeError(f"{op}: expected input with {w_in} channels (weight of shape "
                           f"{tuple(weight.shape)}, groups={groups}), got input of shape "
                           f"{tuple(x.shape)}")
    c_out = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise RuntimeError(f"{op}: expected bias of shape ({c_out},), got {tuple(bias.shape)}")
    unbatched = x.ndim == 4
    if unbatched:
        x = x.unsqueeze(0)
    kernel = tuple(weight.shape[2:])
    stride = _pair(stride, 3, "stride", op)
    dilation = _pair(dilation, 3, "dilation", op)
    if transposed and isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple, got {padding!r}")
    pads = _conv_pads(padding, kernel, dilation, stride, op)
    if not transposed:
        g = _geom3(op, tuple(x.shape[2:]), kernel, stride, pads, dilation)
        y = ConvNd.apply(x, weight, bias, g, groups)
    else:
        opad = _pair(output_padding, 3, "output_padding", op)
        for o, s, d in zip(opad, stride, dilation):
            if o >= max(s, d):
                raise ValueError(f"{op}: output_padding {opad} must be smaller than either "
                                 f"stride {stride} or dilation {dilation}")
        size = tuple((n - 1) * s - lo - hi + d * (k - 1) + o + 1 for n, (lo, hi), k, s, d, o
                     in zip(x.shape[2:], pads, kernel, stride, dilation, opad))
        if min(size) < 1:
            raise RuntimeError(f"{op}: input of shape {tuple(x.shape)} gives an empty output "
                               f"{size} (kernel {kernel}, stride {stride}, padding {pads})")
        # The conv that maps an input of `size` back to x's spatial size.
        g = _geom3(op, size, kernel, stride, pads, dilation)
        g = g._replace(out=tuple(x.shape[2:]))  # output_padding < dilation may add one
        y = ConvTransposeNd.apply(x, weight, bias, g, groups)
    return y.squeeze(0) if unbatched else y


@_amp.low_precision_op("conv3d")
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution: input (N, C_in, D, H, W), weight (C_out, C_in/groups, kd, kh, kw)
    -> (N, C_out, D_out, H_out, W_out). padding: int, triple, 'valid' or 'same'.

    >>> y = F.conv3d(x, w, b, stride=2, padding=1)
    """
    return _conv3d("conv3d", input, weight, bias, stride, padding, dilation, groups)


@_amp.low_precision_op("conv_transpose3d")
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution: input (N, C_in, D, H, W), weight
    (C_in, C_out/groups, kd, kh, kw); D_out = (D - 1)*stride - 2*padding + dilation*(kd - 1)
    + output_padding + 1, likewise H_out and W_out.

    >>> y = F.conv_transpose3d(x, w, stride=2)     # doubles D, H and W for a 2-kernel
    """
    return _conv3d("conv_transpose3d", input, weight, bias, stride, padding, dilation, groups,
                   transposed=True, output_padding=output_padding)


# ---------------------------------------------------------------------------------------
# pooling

def _arg_dtype(xp, g):
    return xp.int8 if math.prod(g.kernel) < 128 else xp.int32


class MaxPool3d(Function):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, g, want_indices):
        xp = array_module(x)
        xpad = _pad(x, g, -np.inf)
        y = arg = None
        for k, off in enumerate(_offsets(g)):
            t = _tap(xpad, g, off)
            if y is None:
                y = t.copy()
                arg = xp.zeros(y.shape, _arg_dtype(xp, g))
            else:
                better = t > y
                xp.maximum(y, t, out=y)
                arg = xp.where(better, arg.dtype.type(k), arg)
        ctx.arg, ctx.g = arg, g
        if not want_indices:
            return y
        idx = _max_indices(xp, arg, g)
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    def backward(ctx, gy, _gidx=None):
        g, arg = ctx.g, ctx.arg
        xp = array_module(gy)
        gpad = xp.zeros(gy.shape[:2] + g.padded, gy.dtype)
        zero = gy.dtype.type(0)
        for k, off in enumerate(_offsets(g)):
            _tap(gpad, g, off)[...] += xp.where(arg == k, gy, zero)
        return _crop(gpad, g)


def _max_indices(xp, arg, g):
    """Window offsets -> flat indices into each unpadded (D, H, W) volume (PyTorch's layout)."""
    arg = arg.astype(xp.int64)
    kd, kh, kw = g.kernel
    parts = (arg // (kh * kw), (arg // kw) % kh, arg % kw)
    idx = 0
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = -1
        start = xp.arange(g.out[axis], dtype=xp.int64).reshape(shape) * g.stride[axis]
        pos = start - g.lo[axis] + parts[axis] * g.dilation[axis]
        idx = idx * g.size[axis] + pos
    return idx


class AvgPool3d(Function):
    """Sum over each window divided by `div` (a scalar or per output position)."""

    @staticmethod
    def forward(ctx, x, g, div):
        xp = array_module(x)
        xpad = _pad(x, g)
        y = None
        for off in _offsets(g):
            t = _tap(xpad, g, off)
            y = t.copy() if y is None else xp.add(y, t, out=y)
        ctx.g, ctx.div = g, div
        y /= div
        return y

    @staticmethod
    def backward(ctx, gy):
        g = ctx.g
        xp = array_module(gy)
        gq = gy / ctx.div
        gpad = xp.zeros(gy.shape[:2] + g.padded, gy.dtype)
        for off in _offsets(g):
            _tap(gpad, g, off)[...] += gq
        return _crop(gpad, g)


def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim not in (4, 5):
        raise RuntimeError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got "
                           f"input of shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    kernel = _pair(kernel_size, 3, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _pair(stride, 3, "stride", op)
    pad = _pair(padding, 3, "padding", op)
    dil = _pair(dilation, 3, "dilation", op)
    if any(2 * p > k for p, k in zip(pad, kernel)):  # torch's rule, dilation aside
        raise ValueError(f"{op}: padding {pad} should be at most half of the kernel size "
                         f"{kernel}")
    unbatched = x.ndim == 4
    if unbatched:
        x = x.unsqueeze(0)
    g = _geom3(op, tuple(x.shape[2:]), kernel, stride, tuple((p, p) for p in pad), dil,
               ceil_mode)
    return x, g, unbatched


def _max_pool3d(op, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, g, unbatched = _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    out = MaxPool3d.apply(x, g, return_indices)
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    return tuple(t.squeeze(0) for t in out) if unbatched else out


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling over (N, C, D, H, W); stride defaults to kernel_size. With
    return_indices, also returns flat argmax indices into each D*H*W volume.

    >>> y = F.max_pool3d(x, 2)          # (N, C, D//2, H//2, W//2)
    """
    return _max_pool3d("max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def _avg_divisor(xp, g, count_include_pad, divisor_override, dtype):
    """Per-output divisors (Do, Ho, Wo), PyTorch's rule: windows are clipped to input+padding
    (ceil_mode overhang never counts); without count_include_pad, to the input."""
    if divisor_override:
        return dtype.type(divisor_override)
    sizes = []
    for n_in, lo, n_out, k, s in zip(g.size, g.lo, g.out, g.kernel, g.stride):
        start = np.arange(n_out) * s - lo
        end = np.minimum(start + k, n_in + lo)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n_in) - np.maximum(start, 0))
    div = sizes[0][:, None, None] * sizes[1][None, :, None] * sizes[2][None, None, :]
    return xp.asarray(div.astype(dtype))


def _avg_pool3d(op, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
    x, g, unbatched = _pool_args(op, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    div = _avg_divisor(array_module(x.data), g, count_include_pad, divisor_override, x.dtype)
    y = AvgPool3d.apply(x, g, div)
    return y.squeeze(0) if unbatched else y


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling over (N, C, D, H, W); stride defaults to kernel_size.

    >>> y = F.avg_pool3d(x, 3, stride=2, padding=1, count_include_pad=False)
    """
    return _avg_pool3d("avg_pool3d", input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override)


def _adaptive_matrix(n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix: row i spans [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    i = np.arange(n_out)
    start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    m = np.zeros((n_out, n_in))
    for r, (a, b) in enumerate(zip(start, end)):
        m[r, a:b] = 1.0 / (b - a)
    return m.astype(dtype)


def _adaptive_avg3d(op, x, output_size):
    from mytorch.tensor import Tensor
    if x.ndim not in (4, 5):
        raise RuntimeError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got "
                           f"input of shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    spatial = tuple(x.shape[-3:])
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 3:
            raise ValueError(f"{op}: output_size must have 3 elements, got {output_size!r}")
        out = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    else:
        out = (int(output_size),) * 3
    if min(out) < 1 or min(spatial) < 1:
        raise ValueError(f"{op}: output size {out} and input spatial size {spatial} must be "
                         "positive")
    xp = array_module(x.data)
    md, mh, mw = (Tensor._wrap(xp.asarray(_adaptive_matrix(n, o, x.dtype)))
                  for n, o in zip(spatial, out))
    lead = tuple(x.shape[:-3])
    d, (do, ho, wo) = spatial[0], out
    y = x @ mw.transpose(0, 1)                                   # (..., D, H, Wo)
    y = mh @ y                                                   # (..., D, Ho, Wo)
    y = md @ y.reshape(lead + (d, ho * wo))                      # (..., Do, Ho*Wo)
    return y.reshape(lead + (do, ho, wo))


def adaptive_avg_pool3d(input, output_size):
    """Average pooling of (N, C, D, H, W) to a fixed (out_d, out_h, out_w) (int, triple,
    None = keep that size).

    >>> F.adaptive_avg_pool3d(x, 1).shape   # (N, C, 1, 1, 1)
    """
    return _adaptive_avg3d("adaptive_avg_pool3d", input, output_size)
