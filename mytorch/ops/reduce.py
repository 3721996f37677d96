"""Reductions: sum, mean, var, max/min (with and without dim), argmax/argmin, prod, logsumexp."""
from mytorch.autograd.function import Function
from mytorch.backend import array_module


def normalize_dims(dim, ndim, op):
    """dim (None, int or tuple) -> sorted tuple of non-negative axes, with a clear error.

    ndim: the number of dims, or the shape itself (then the error names it).
    """
    shape = ndim if isinstance(ndim, tuple) else None
    if shape is not None:
        ndim = len(shape)
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, int):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
        if not lo <= d <= hi:
            what = f"of shape {shape}" if shape is not None else f"with {ndim} dims"
            raise IndexError(f"{op}: dim {d} is out of range for a tensor {what} "
                             f"(expected a dim in [{lo}, {hi}])")
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim!r} names an axis twice")
    return tuple(sorted(out))


def _expand_back(gy, shape, axes, keepdim):
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts to `shape`."""
    if not keepdim and axes and len(shape):
        gy = gy.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return gy


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a] if shape else 1  # a 0-d tensor reduces over its one element
    return n


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes if x.ndim else None, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        gx = array_module(gy).empty(ctx.shape, gy.dtype)
        gx[...] = _expand_back(gy, ctx.shape, ctx.axes, ctx.keepdim)
        return gx


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.mean(axis=axes if x.ndim else None, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        g = _expand_back(gy, ctx.shape, ctx.axes, ctx.keepdim) / max(_count(ctx.shape, ctx.axes), 1)
        return array_module(gy).broadcast_to(g, ctx.shape)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        xp = array_module(x)
        ax = axes if x.ndim else None
        mean = x.mean(axis=ax, keepdims=True)
        d = x - mean
        n = _count(x.shape, axes)
        ctx.save_for_backward(d)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, n - correction
        with _quiet(xp):
            return (d * d).sum(axis=ax, keepdims=keepdim) / (n - correction)

    @staticmethod
    def backward(ctx, gy):
        (d,) = ctx.saved_tensors
        g = _expand_back(gy, d.shape, ctx.axes, ctx.keepdim)
        return g * d * (2 / ctx.denom) if ctx.denom > 0 else g * d * float("nan")


def _quiet(xp):
    return xp.errstate(divide="ignore", invalid="ignore") if xp.__name__ == "numpy" \
        else _Null()


class _Null:
    def __enter__(self):
        pass

    def __exit__(self, *a):
        return False


class Amax(Function):
    """max/min over axes, values only; ties share the gradient evenly (as PyTorch's amax)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, is_min=False):
        ax = axes if x.ndim else None
        y = x.min(axis=ax, keepdims=True) if is_min else x.max(axis=ax, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        mask = x == y
        count = mask.sum(axis=ctx.axes if x.ndim else None, keepdims=True)
        g = _expand_back(gy, x.shape, ctx.axes, ctx.keepdim)
        return mask * (g / count)


class MaxDim(Function):
    """max/min along one dim, returning (values, indices); the gradient goes to the index."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, is_min=False):
        xp = array_module(x)
        if x.ndim == 0:
            idx = xp.zeros((), xp.int64)
            ctx.mark_non_differentiable(idx)
            ctx.shape, ctx.dim, ctx.keepdim, ctx.idx = x.shape, None, keepdim, idx
            return x.copy(), idx
        idx = x.argmin(axis=dim) if is_min else x.argmax(axis=dim)
        idx = xp.expand_dims(idx, dim)
        vals = xp.take_along_axis(x, idx, axis=dim)
        if not keepdim:
            idx, vals = idx.squeeze(dim), vals.squeeze(dim)
        idx = idx.astype(xp.int64)
        ctx.mark_non_differentiable(idx)
        ctx.shape, ctx.dim, ctx.keepdim, ctx.idx = x.shape, dim, keepdim, idx
        return vals, idx

    @staticmethod
    def backward(ctx, gy, _gidx):
        xp = array_module(gy)
        if ctx.dim is None:
            return gy.copy()
        idx = ctx.idx if ctx.keepdim else xp.expand_dims(ctx.idx, ctx.dim)
        g = gy if ctx.keepdim else xp.expand_dims(gy, ctx.dim)
        gx = xp.zeros(ctx.shape, gy.dtype)
        xp.put_along_axis(gx, idx, g, axis=ctx.dim)
        return gx


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.save_for_backward(x)
        ctx.dim, ctx.keepdim = dim, keepdim
        if dim is None:
            return x.prod()
        return x.prod(axis=dim, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        # Product of all the *other* elements = exclusive cumprod from the left times the
        # one from the right: exact when some elements are zero.
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        if ctx.dim is None:
            flat = x.reshape(-1)
            return (gy * _prod_others(xp, flat, 0)).reshape(x.shape)
        g = gy if ctx.keepdim else xp.expand_dims(gy, ctx.dim)
        return g * _prod_others(xp, x, ctx.dim)


def _prod_others(xp, x, dim):
    if x.shape[dim] == 0:
        return xp.ones_like(x)
    ones = xp.ones_like(xp.take(x, [0], axis=dim))
    left = xp.cumprod(xp.concatenate([ones, xp.delete(x, -1, axis=dim)], axis=dim), axis=dim)
    rev = xp.flip(x, axis=dim)
    right = xp.cumprod(xp.concatenate([ones, xp.delete(rev, -1, axis=dim)], axis=dim), axis=dim)
    return left * xp.flip(right, axis=dim)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = array_module(x)
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        g = _expand_back(gy, x.shape, ctx.axes, ctx.keepdim)
        return g * array_module(x).exp(x - y)


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = array_module(x).cumsum(x, axis=dim)
        return y if x.dtype.kind == "f" else y.astype("int64")

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return xp.flip(xp.cumsum(xp.flip(gy, ctx.dim), axis=ctx.dim), ctx.dim)
