"""Max and average pooling on arrays, one Function each for every rank.

Both loop over kernel offsets on a padded input (one strided slice per offset, see
mytorch.ops.window); 1-D pooling runs on a height-1 2-D view. On 2-D geometries max pooling
runs as numba loops (mytorch.ops._kernels_conv) on NumPy float arrays; the array-module
references here serve CuPy, 3-D geometries and the tests.
"""
import math

import numpy as np

from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops import _kernels_conv as _kc
from mytorch.ops.window import Geom, crop, max_indices, offsets, pad, tap

__all__ = ["AvgPoolNd", "MaxPoolNd"]


def _arg_dtype(xp, g):
    return xp.int8 if math.prod(g.kernel) < 128 else xp.int32


def _max_pool_reference(x, g):
    """(N, C, *size) -> y (N, C, *out) and the window offset of each first maximum."""
    xp = array_module(x)
    xpad = pad(x, g, -np.inf)
    y = arg = None
    for k, off in enumerate(offsets(g)):
        t = tap(xpad, g, off)
        if y is None:
            y = t.copy()
            arg = xp.zeros(y.shape, _arg_dtype(xp, g))
        else:
            better = t > y
            xp.maximum(y, t, out=y)
            arg = xp.where(better, arg.dtype.type(k), arg)
    return y, arg


def _max_pool_backward_reference(gy, arg, g):
    xp = array_module(gy)
    gpad = xp.zeros(gy.shape[:2] + g.padded, gy.dtype)
    zero = gy.dtype.type(0)
    for k, off in enumerate(offsets(g)):
        tap(gpad, g, off)[...] += xp.where(arg == k, gy, zero)
    return crop(gpad, g)


class MaxPoolNd(Function):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, g, want_indices):
        xp = array_module(x)
        x = xp.ascontiguousarray(x)
        if isinstance(g, Geom) and _kc.available(x):
            y = xp.empty(x.shape[:2] + (g.Ho, g.Wo), x.dtype)
            arg = xp.empty(y.shape, _arg_dtype(xp, g))
            _kc.max_pool(x, y, arg, g)
        else:
            y, arg = _max_pool_reference(x, g)
        ctx.arg, ctx.g, ctx.dtype = arg, g, x.dtype
        if not want_indices:
            return y
        idx = max_indices(xp, arg, g)
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    def backward(ctx, gy, _gidx=None):
        g, arg = ctx.g, ctx.arg
        xp = array_module(gy)
        gy = xp.ascontiguousarray(gy)
        if isinstance(g, Geom) and _kc.available(gy):
            make = xp.empty if _kc._is_2x2(g) else xp.zeros  # 2x2: every element written
            gx = make(gy.shape[:2] + (g.H, g.W), gy.dtype)
            return _kc.max_pool_backward(gy, arg, gx, g)
        return _max_pool_backward_reference(gy, arg, g)

    @staticmethod
    def composite(x, g, want_indices):  # create_graph: backward adds into strided views
        from mytorch.tensor import Tensor
        _, idx = MaxPoolNd.forward(object.__new__(MaxPoolNd), x.data, g, True)
        n, c = x.shape[:2]  # idx: flat positions in each spatial plane, (N, C, *out)
        flat = Tensor._wrap(idx.reshape(n, c, -1))
        y = x.reshape(n, c, -1).gather(2, flat).reshape(*idx.shape)
        return (y, Tensor._wrap(idx)) if want_indices else y

    @staticmethod
    def rebuilt_inputs(ctx):
        """Windows that do not overlap: an input with a 1 where each window's maximum was is
        as good as x for the composite's derivatives (overlapping ones keep x)."""
        g = ctx.g
        apart = all(s >= d * (k - 1) + 1 for k, s, d in zip(g.kernel, g.stride, g.dilation))
        return (0,) if apart else ()

    @staticmethod
    def rebuild_input(ctx, i):
        xp, g = array_module(ctx.arg), ctx.g
        n, c = ctx.arg.shape[:2]
        x = xp.zeros((n, c, math.prod(g.size)), ctx.dtype)
        xp.put_along_axis(x, max_indices(xp, ctx.arg, g).reshape(n, c, -1), 1, axis=2)
        return x.reshape((n, c) + tuple(g.size))


class AvgPoolNd(Function):
    """Sum over each window divided by `div` (a scalar or per output position)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, g, div):
        xp = array_module(x)
        xpad = pad(x, g)
        y = None
        for off in offsets(g):
            t = tap(xpad, g, off)
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
        for off in offsets(g):
            tap(gpad, g, off)[...] += gq
        return crop(gpad, g)
