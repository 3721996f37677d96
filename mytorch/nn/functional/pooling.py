"""Pooling: max, average, power-average, adaptive and unpooling, one N-d front each.

The fronts check arguments, lift 1-D to a height-1 2-D problem, build the window geometry
(mytorch.ops.window) and run the Functions of mytorch.ops.pool (max, average) and
mytorch.ops.resample (adaptive average), or with `auto=True` a Tensor-op composite that
autograd differentiates. 1-, 2- and 3-D ops are the same code with `nd` set; layers call the
`*_nd` fronts with their own name for errors.
"""
import math

import numpy as np

from mytorch import dtypes
from mytorch.backend import array_module
from mytorch.nn.functional._util import check_float
from mytorch.ops import nn as N
from mytorch.ops.conv import pad_tensor, taps_tensor
from mytorch.ops.pool import AvgPoolNd, MaxPoolNd
from mytorch.ops.resample import GlobalAvgPool, Separable
from mytorch.ops.window import (
    adaptive_matrix,
    adaptive_ranges,
    avg_divisor,
    geom,
    max_indices,
    ntuple,
)
from mytorch.tensor import Tensor

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_avg_pool_nd", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
           "avg_pool2d", "avg_pool3d", "avg_pool_nd", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "lp_pool_nd", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool_nd",
           "max_unpool1d", "max_unpool2d", "max_unpool3d", "max_unpool_nd"]


# ---------------------------------------------------------------------------------------
# max and average pooling

def _check_input(op, nd, x):
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(x.shape)}")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")


def _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Check a pooling call; -> (batched input, geometry, unbatched). 1-D runs as height 1."""
    _check_input(op, nd, x)
    kernel = ntuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else ntuple(stride, nd, "stride", op)
    pad = ntuple(padding, nd, "padding", op)
    dil = ntuple(dilation, nd, "dilation", op)
    for p, k in zip(pad, kernel):
        if 2 * p > k:  # torch's rule, dilation or not
            raise ValueError(f"{op}: padding {pad} should be at most half of the kernel size "
                             f"{kernel}")
    if nd == 1:
        kernel, stride, pad, dil = (1,) + kernel, (1,) + stride, (0,) + pad, (1,) + dil
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x = x.unsqueeze(2)
    g = geom(op, tuple(x.shape[2:]), kernel, stride, tuple((p, p) for p in pad), dil,
             ceil_mode)
    return x, g, unbatched


def _pool_out(y, nd, unbatched):
    if nd == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def max_pool_nd(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                auto=False):
    """The front of max_pool1d/2d/3d and nn.MaxPool*d; `op` names the caller in errors."""
    x, g, unbatched = _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    if auto:
        taps = taps_tensor(pad_tensor(x, g, -np.inf), g)  # (N, C, K, *out)
        y, arg = taps.max(dim=2)
        out = (y, Tensor._wrap(max_indices(array_module(arg.data), arg.data, g)))
    else:
        out = MaxPoolNd.apply(x, g, return_indices)
    if not return_indices:
        return _pool_out(out[0] if isinstance(out, tuple) else out, nd, unbatched)
    return tuple(_pool_out(t, nd, unbatched) for t in out)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, auto=False):
    """1-D max pooling over (N, C, L); stride defaults to kernel_size. With return_indices,
    also returns the argmax positions within L."""
    return max_pool_nd("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                       ceil_mode, return_indices, auto)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, auto=False):
    """2-D max pooling over (N, C, H, W); stride defaults to kernel_size. With return_indices,
    also returns flat argmax indices into each H*W plane.

    >>> y = F.max_pool2d(x, 2)          # (N, C, H//2, W//2)
    """
    return max_pool_nd("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                       ceil_mode, return_indices, auto)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, auto=False):
    """3-D max pooling over (N, C, D, H, W); stride defaults to kernel_size. With
    return_indices, also returns flat argmax indices into each D*H*W volume.

    >>> y = F.max_pool3d(x, 2)          # (N, C, D//2, H//2, W//2)
    """
    return max_pool_nd("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                       ceil_mode, return_indices, auto)


def avg_pool_nd(op, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override, auto=False):
    """The front of avg_pool1d/2d/3d and nn.AvgPool*d; `op` names the caller in errors."""
    x, g, unbatched = _pool_args(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    div = avg_divisor(array_module(x.data), g, count_include_pad, divisor_override, x.dtype)
    if auto:
        taps = taps_tensor(pad_tensor(x, g), g)
        y = taps.sum(dim=2) / (Tensor._wrap(div) if hasattr(div, "shape") else float(div))
    else:
        y = AvgPoolNd.apply(x, g, div)
    return _pool_out(y, nd, unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, auto=False):
    """1-D average pooling over (N, C, L); stride defaults to kernel_size."""
    return avg_pool_nd("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, None, auto)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, auto=False):
    """2-D average pooling over (N, C, H, W); stride defaults to kernel_size.

    >>> y = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    """
    return avg_pool_nd("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, auto)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, auto=False):
    """3-D average pooling over (N, C, D, H, W); stride defaults to kernel_size.

    >>> y = F.avg_pool3d(x, 3, stride=2, padding=1, count_include_pad=False)
    """
    return avg_pool_nd("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, auto)


def lp_pool_nd(op, nd, input, norm_type, kernel_size, stride, ceil_mode):
    """The front of lp_pool1d/2d/3d and nn.LPPool*d: (sum of x^p over each window)^(1/p)."""
    ks = ntuple(kernel_size, nd, "kernel_size", op)
    y = avg_pool_nd(op, nd, input ** norm_type, ks, ks if stride is None else stride, 0,
                    ceil_mode, True, None, False)
    return (y.sign() * y.abs().relu()).mul(math.prod(ks)) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, L)."""
    return lp_pool_nd("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, H, W)."""
    return lp_pool_nd("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, D, H, W)."""
    return lp_pool_nd("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# ---------------------------------------------------------------------------------------
# adaptive pooling

def _adaptive_size(op, nd, spatial, output_size):
    """output_size (int, or nd entries with None = keep that size) -> tuple of nd ints."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise ValueError(f"{op}: output_size must have {nd} "
                             f"{'element' if nd == 1 else 'elements'}, got {output_size!r}")
        out = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    else:
        out = (int(output_size),) * nd
    if min(out) < 1 or min(spatial) < 1:
        raise ValueError(f"{op}: output size {out} and input spatial size {spatial} must be "
                         "positive")
    return out


def _adaptive_auto_dim(x, dim, n_out):
    from mytorch.ops.shape import cat
    start, end = adaptive_ranges(x.shape[dim], n_out)
    parts = []
    for a, b in zip(start, end):
        sl = [slice(None)] * x.ndim
        sl[dim] = slice(int(a), int(b))
        parts.append(x[tuple(sl)].mean(dim=dim, keepdim=True))
    return cat(parts, dim=dim)


def adaptive_avg_pool_nd(op, nd, x, output_size, auto=False):
    """The front of adaptive_avg_pool1d/2d/3d, nn.AdaptiveAvgPool*d and 'area' interpolation.

    The last two axes are one separable map (`Separable`, or a mean for 1x1); a 3-D input's
    depth axis is one more matmul on top."""
    _check_input(op, nd, x)
    out = _adaptive_size(op, nd, tuple(x.shape[-nd:]), output_size)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x, out = x.unsqueeze(2), (1,) + out
    if auto:
        y = x
        for dim in range(x.ndim - 1, 1, -1):  # last axis first, as the separable path
            y = _adaptive_auto_dim(y, dim, out[dim - 2])
        return _pool_out(y, nd, unbatched)
    n, c = x.shape[:2]
    lead = x.shape[2:-2]  # (D,) for 3-D, () otherwise
    y = x.reshape(n, c * math.prod(lead), *x.shape[-2:]) if lead else x
    if out[-2:] == (1, 1):
        y = GlobalAvgPool.apply(y)
    else:
        xp = array_module(x.data)
        h, w = y.shape[2:]
        mh = None if nd == 1 else xp.asarray(adaptive_matrix(h, out[-2], x.dtype))
        y = Separable.apply(y, mh, xp.asarray(adaptive_matrix(w, out[-1], x.dtype)))
    if lead:  # depth: (N, C, D, Ho*Wo) -> (N, C, Do, Ho*Wo)
        md = Tensor._wrap(array_module(x.data).asarray(adaptive_matrix(lead[0], out[0], x.dtype)))
        y = (md @ y.reshape(n, c, lead[0], -1)).reshape(n, c, *out)
    return _pool_out(y, nd, unbatched)


def adaptive_avg_pool1d(input, output_size, auto=False):
    """Average pooling of (N, C, L) to a fixed length; window i spans
    [floor(i*L/out), ceil((i+1)*L/out))."""
    return adaptive_avg_pool_nd("adaptive_avg_pool1d", 1, input, output_size, auto)


def adaptive_avg_pool2d(input, output_size, auto=False):
    """Average pooling of (N, C, H, W) to a fixed (out_h, out_w) (int, pair, None = keep).

    >>> F.adaptive_avg_pool2d(x, 1).shape   # (N, C, 1, 1)
    """
    return adaptive_avg_pool_nd("adaptive_avg_pool2d", 2, input, output_size, auto)


def adaptive_avg_pool3d(input, output_size, auto=False):
    """Average pooling of (N, C, D, H, W) to a fixed (out_d, out_h, out_w) (int, triple,
    None = keep that size).

    >>> F.adaptive_avg_pool3d(x, 1).shape   # (N, C, 1, 1, 1)
    """
    return adaptive_avg_pool_nd("adaptive_avg_pool3d", 3, input, output_size, auto)


def _adaptive_max(op, nd, input, output_size, return_indices):
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(input.shape)}")
    check_float(input, op)
    spatial = tuple(input.shape[-nd:])
    out = _adaptive_size(op, nd, spatial, output_size)
    lead = tuple(input.shape[:-nd])
    h, w = (1,) + spatial if nd == 1 else spatial
    oh, ow = (1,) + out if nd == 1 else out
    y, idx = N.AdaptiveMaxPool2d.apply(input.reshape(-1, h, w), adaptive_ranges(h, oh),
                                       adaptive_ranges(w, ow))
    y, idx = y.reshape(*lead, *out), idx.reshape(*lead, *out)
    return (y, idx) if return_indices else y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over windows [floor(i*L/out), ceil((i+1)*L/out)) of (N, C, L) or (C, L)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) or (C, H, W) to `output_size` (int or pair; None keeps that
    size); with return_indices also the argmax as flat indices into each H*W plane.

    >>> y, idx = F.adaptive_max_pool2d(x, (2, 2), return_indices=True)
    """
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def max_unpool_nd(op, nd, input, indices, kernel_size, stride, padding, output_size):
    if input.ndim not in (nd + 1, nd + 2) or tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: expected input of {nd + 1} or {nd + 2} dims and indices of "
                           f"the same shape, got {tuple(input.shape)} and "
                           f"{tuple(indices.shape)}")
    ks = ntuple(kernel_size, nd, "kernel_size", op)
    st = ntuple(ks if stride is None else stride, nd, "stride", op)
    pd = ntuple(padding, nd, "padding", op)
    spatial = tuple(input.shape[-nd:])
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(spatial, st, pd, ks))
    if output_size is None:
        out = default
    else:
        out = tuple(output_size)
        if len(out) not in (nd, nd + 2):
            raise ValueError(f"{op}: output_size must have {nd} or {nd + 2} elements, got "
                             f"{out}")
        out = out[-nd:]
        for o, d, s in zip(out, default, st):
            if not d - s < o < d + s:
                raise ValueError(f"{op}: invalid output_size {tuple(output_size)} (expected "
                                 f"each spatial size within (default - stride, default + "
                                 f"stride) of {default})")
    lead = tuple(input.shape[:-nd])
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    numel = math.prod(out)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= numel):
        raise IndexError(f"{op}: indices out of range for output size {out}")
    xp = array_module(input.data)
    flat_idx = Tensor._wrap(xp.asarray(idx, dtype=np.int64).reshape(*lead, -1))
    base = Tensor._wrap(xp.zeros(lead + (numel,), input.dtype))
    y = base.scatter(-1, flat_idx, input.reshape(*lead, -1))
    return y.reshape(*lead, *out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool1d(return_indices=True): values placed at their argmax positions,
    zeros elsewhere. (N, C, L) -> (N, C, L_out)."""
    return max_unpool_nd("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d(return_indices=True). (N, C, H, W) -> (N, C, H_out, W_out).

    >>> y, i = F.max_pool2d(x, 2, return_indices=True); F.max_unpool2d(y, i, 2)
    """
    return max_unpool_nd("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool3d(return_indices=True). (N, C, D, H, W) -> (N, C, D_out, H_out,
    W_out)."""
    return max_unpool_nd("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                         output_size)
