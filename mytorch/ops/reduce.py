"""Reductions: sum, mean, var, max/min (with and without dim), argmax/argmin, prod, logsumexp,
norm, the cumulative ops, median/kthvalue/mode, sort and topk.

The public functions at the bottom (sum, mean, max, sort, ...) take and return Tensors and
check their arguments; the Tensor methods of the same names are those functions.
"""
import builtins

import numpy as np

from mytorch import dtypes
from mytorch.autograd import function as _fn
from mytorch.autograd.function import Function, NonDifferentiable
from mytorch.backend import array_module
from mytorch.ops import elementwise as E
from mytorch.ops.elementwise import sgn
from mytorch.promotion import floating


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


class Any(NonDifferentiable):
    @staticmethod
    def forward(x, axes, keepdim):
        return x.any(axis=axes, keepdims=keepdim)


class All(NonDifferentiable):
    @staticmethod
    def forward(x, axes, keepdim):
        return x.all(axis=axes, keepdims=keepdim)


class ArgExtreme(NonDifferentiable):
    """argmax or argmin (`name`) along axis (None: of all elements), as int64."""

    @staticmethod
    def forward(x, axis, keepdim, name):
        fn = getattr(x, name)
        if axis is None:
            out = fn()
            if keepdim:
                out = array_module(x).asarray(out).reshape((1,) * x.ndim)
            return array_module(x).asarray(out, dtype=np.int64)
        return fn(axis=axis, keepdims=keepdim).astype(np.int64)


class CountNonzero(NonDifferentiable):
    @staticmethod
    def forward(x, axes):
        return (x != 0).sum(axis=axes).astype(np.int64)


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
        n = builtins.max(_count(ctx.shape, ctx.axes), 1)
        g = _expand_back(gy, ctx.shape, ctx.axes, ctx.keepdim) / n
        return array_module(gy).broadcast_to(g, ctx.shape)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axes, correction, keepdim, full=False):
        xp = array_module(x)
        ax = axes if x.ndim else None
        mean = x.mean(axis=ax, keepdims=True)
        d = x - mean
        n = _count(x.shape, axes)
        denom = builtins.max(n - correction, 0)  # as PyTorch: inf or NaN when correction >= n
        ctx.save_for_backward(d)
        ctx.axes, ctx.keepdim, ctx.dof = axes, keepdim, n - correction
        ctx.at_mean = (x == mean) if full and n - correction <= 0 else None
        with _quiet(xp):
            return (d * d).sum(axis=ax, keepdims=keepdim) / denom

    @staticmethod
    def backward(ctx, gy):
        (d,) = ctx.saved_tensors
        g = _expand_back(gy, d.shape, ctx.axes, ctx.keepdim)
        xp = array_module(d)
        if ctx.at_mean is not None:  # PyTorch, over all dims: NaN where x is the mean, else inf
            return g * xp.where(ctx.at_mean, xp.nan, xp.inf).astype(d.dtype)
        # with a dim, PyTorch divides by n - correction unclamped (2 / 0 is inf)
        scale = 2 / ctx.dof if ctx.dof else float("inf")
        with _quiet(xp):
            return g * d * scale

    @staticmethod
    def composite(x, axes, correction, keepdim, full=False):  # create_graph: saves x - mean
        dims = axes if x.ndim else ()
        d = x - x.mean(dims, keepdim=True)
        n = _count(x.shape, axes)
        return (d * d).sum(dims, keepdim=keepdim) / builtins.max(n - correction, 0)

    @staticmethod
    def rebuilt_inputs(ctx):  # the saved x - mean: the variance cannot see the mean
        return (0,)

    @staticmethod
    def rebuild_input(ctx, i):
        return ctx.saved_tensors[0]


class Std(Function):
    """sqrt of the variance; the gradient where it is 0 is 0, as in PyTorch (not 0 * inf)."""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim, full=False):
        y = array_module(x).sqrt(Var.forward(ctx, x, axes, correction, keepdim, full))
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        with _quiet(xp):
            g = xp.where(ctx.y == 0, 0, gy / (2 * ctx.y)).astype(gy.dtype, copy=False)
        return Var.backward(ctx, g)

    @staticmethod
    def composite(x, axes, correction, keepdim, full=False):  # create_graph: saves x - mean
        return Var.composite(x, axes, correction, keepdim, full).sqrt()

    rebuilt_inputs = staticmethod(Var.rebuilt_inputs)
    rebuild_input = staticmethod(Var.rebuild_input)


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

    graph_constants = (1,)  # create_graph: the saved max only picks the tie mask

    @staticmethod
    def forward(ctx, x, axes, keepdim, is_min=False, share_nan=False):
        ax = axes if x.ndim else None
        y = x.min(axis=ax, keepdims=True) if is_min else x.max(axis=ax, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdim, ctx.share_nan = axes, keepdim, share_nan
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        mask = x == y
        if ctx.share_nan and x.dtype.kind == "f":  # max()/min() over all: NaNs share it
            mask |= array_module(x).isnan(x) & array_module(x).isnan(y)
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
            ctx.dtype, ctx.is_min = x.dtype, is_min
            return x.copy(), idx
        idx = x.argmin(axis=dim) if is_min else x.argmax(axis=dim)
        idx = xp.expand_dims(idx, dim)
        vals = xp.take_along_axis(x, idx, axis=dim)
        if not keepdim:
            idx, vals = idx.squeeze(dim), vals.squeeze(dim)
        idx = idx.astype(xp.int64)
        ctx.mark_non_differentiable(idx)
        ctx.shape, ctx.dim, ctx.keepdim, ctx.idx = x.shape, dim, keepdim, idx
        ctx.dtype, ctx.is_min = x.dtype, is_min
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

    @staticmethod
    def composite(x, dim, keepdim, is_min=False):  # create_graph: a gather at the argmax
        from mytorch.tensor import Tensor
        vals, idx = MaxDim.forward(object.__new__(MaxDim), x.data, dim, keepdim, is_min)
        return _gathered(x, idx, dim, keepdim), Tensor._wrap(idx)

    @staticmethod
    def rebuilt_inputs(ctx):
        return (0,)

    @staticmethod
    def rebuild_input(ctx, i):
        """An input with its extreme where forward found it: the gather is all the composite's
        derivatives see (+1 at the index for max, -1 for min, 0 elsewhere)."""
        xp = array_module(ctx.idx)
        x = xp.zeros(ctx.shape, ctx.dtype)
        if ctx.dim is not None:
            idx = ctx.idx if ctx.keepdim else xp.expand_dims(ctx.idx, ctx.dim)
            xp.put_along_axis(x, idx, -1 if ctx.is_min else 1, axis=ctx.dim)
        return x


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

    @staticmethod
    def composite(x, dim, keepdim):  # create_graph: backward uses exclusive cumprods
        if dim is None:
            x, dim = x.reshape(-1), 0
        y = x.narrow(dim, 0, 1)
        for i in range(1, x.shape[dim]):
            y = y * x.narrow(dim, i, 1)
        return y if keepdim else y.squeeze(dim)


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
        ax = axes if x.ndim else None
        m = x.max(axis=ax, keepdims=True) if x.size else xp.zeros_like(x.sum(ax, keepdims=True))
        m = xp.where(xp.isfinite(m), m, 0)
        with _quiet(xp):
            y = xp.log(xp.exp(x - m).sum(axis=ax, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        g = _expand_back(gy, x.shape, ctx.axes, ctx.keepdim)
        return g * array_module(x).exp(x - y)

    @staticmethod
    def composite(x, axes, keepdim):  # create_graph: backward reads the saved result
        m = x.detach().amax(axes, keepdim=True)  # the shift cancels: no gradient
        m = m.masked_fill(~m.isfinite(), 0.0)
        y = (x - m).exp().sum(axes, keepdim=True).log() + m
        return y if keepdim else y.squeeze(axes)


class Cumsum(Function):
    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = array_module(x).cumsum(x, axis=dim)
        return y if dtypes.is_floating(x.dtype) else y.astype("int64")

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return xp.flip(xp.cumsum(xp.flip(gy, ctx.dim), axis=ctx.dim), ctx.dim)


def _flip_cumsum(xp, g, dim):
    return xp.flip(xp.cumsum(xp.flip(g, dim), axis=dim), dim)


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = array_module(x).cumprod(x, axis=dim)
        ctx.save_for_backward(x, y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, gy):
        # dy_j/dx_k = y_j / x_k for j >= k: exact while no zero precedes k. Where x has zeros,
        # only positions up to the first zero get a gradient; the first zero's is the reverse
        # cumsum of gy times the cumprod with that zero replaced by one.
        x, y = ctx.saved_tensors
        xp, dim = array_module(x), ctx.dim
        if x.shape[dim] == 1:  # exact also for inf, as in PyTorch
            return gy
        zero = x == 0
        with _quiet(xp):
            if not zero.any():
                return _flip_cumsum(xp, gy * y, dim) / x
            # Products past a zero count as exactly 0, also where an inf or NaN follows (as in
            # PyTorch, so 0 * inf does not spread NaN back).
            zeros_so_far = xp.cumsum(zero, axis=dim)
            before = zeros_so_far == 0
            first = zero & (zeros_so_far == 1)
            g = _flip_cumsum(xp, xp.where(before, gy * y, 0), dim) / xp.where(before, x, 1)
            y1 = xp.cumprod(xp.where(first, 1, x), axis=dim)
            g_first = _flip_cumsum(xp, xp.where(zeros_so_far == 1, gy * y1, 0), dim)
            return xp.where(before, g, xp.where(first, g_first, 0))

    @staticmethod
    def composite(x, dim):  # create_graph: backward divides by, or rescans, saved products
        import mytorch
        ys = [x.narrow(dim, 0, 1)]
        for i in range(1, x.shape[dim]):
            ys.append(ys[-1] * x.narrow(dim, i, 1))
        return mytorch.cat(ys, dim)


def cum_extreme(x, dim, is_min):
    """Running max (min) along dim and the index where it was last attained, as PyTorch's
    cummax/cummin (a NaN, once seen, stays; its index moves to each later NaN)."""
    xp = array_module(x)
    op = xp.minimum if is_min else xp.maximum
    y = accumulate(op, x, dim)
    shape = [1] * x.ndim
    shape[dim] = x.shape[dim]
    pos = xp.arange(x.shape[dim]).reshape(shape)
    hit = (x == y) | (xp.isnan(x) if x.dtype.kind == "f" else False)
    where_hit = xp.where(hit, pos, 0)
    idx = accumulate(xp.maximum, where_hit, dim)
    return y, idx.astype(np.int64)


def accumulate(op, x, dim):
    """op.accumulate(x, axis=dim): NumPy's ufunc method, or `scan` elsewhere."""
    return op.accumulate(x, axis=dim) if array_module(x) is np else scan(op, x, dim)


def scan(op, x, dim):
    """Inclusive scan of a binary elementwise `op` along dim by doubling steps (log2 n
    elementwise passes): for array modules whose ufuncs have no `accumulate`."""
    xp = array_module(x)
    y = xp.moveaxis(x, dim, 0).copy()
    step = 1
    while step < y.shape[0]:
        y[step:] = op(y[step:], y[:-step].copy())
        step *= 2
    return xp.moveaxis(y, 0, dim)


class CumExtreme(Function):
    """cummax/cummin along one dim -> (values, indices); the gradient goes to the index."""

    @staticmethod
    def forward(ctx, x, dim, is_min):
        y, idx = cum_extreme(x, dim, is_min)
        ctx.mark_non_differentiable(idx)
        ctx.idx, ctx.dim = idx, dim
        return y, idx

    @staticmethod
    def backward(ctx, gy, _gidx):
        # Several outputs may share one index: add them up per slice with one bincount.
        xp, dim, idx = array_module(gy), ctx.dim, ctx.idx
        if gy.size == 0:
            return xp.zeros_like(gy)
        g = xp.moveaxis(gy, dim, -1)
        i = xp.moveaxis(idx, dim, -1)
        n = g.shape[-1]
        rows = xp.arange(g.size // builtins.max(n, 1)).reshape(g.shape[:-1] + (1,))
        flat = (rows * n + i).reshape(-1)
        gx = xp.bincount(flat, weights=g.reshape(-1), minlength=g.size)
        return xp.moveaxis(gx.reshape(g.shape).astype(gy.dtype), -1, dim)


def _gathered(x, idx, dim, keepdim):
    """x's values at `idx` along dim as a differentiable gather (None dim: x is 0-d)."""
    from mytorch.tensor import Tensor
    if dim is None:
        return x * 1
    i = idx if keepdim else array_module(idx).expand_dims(idx, dim)
    y = x.gather(dim, Tensor._wrap(i.astype(np.int64)))
    return y if keepdim else y.squeeze(dim)


class Pick(Function):
    """The elements of x at `idx` along dim (idx: x's shape without dim, an index array);
    the gradient flows back to the picked positions."""

    @staticmethod
    def forward(ctx, x, idx, dim, keepdim):
        xp = array_module(x)
        i = xp.expand_dims(idx, dim)
        ctx.shape, ctx.dtype, ctx.i, ctx.dim, ctx.keepdim = x.shape, x.dtype, i, dim, keepdim
        y = xp.take_along_axis(x, i, axis=dim)
        return y if keepdim else y.squeeze(dim)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        g = gy if ctx.keepdim else xp.expand_dims(gy, ctx.dim)
        gx = xp.zeros(ctx.shape, gy.dtype)
        xp.put_along_axis(gx, ctx.i, g, axis=ctx.dim)
        return gx

    @staticmethod
    def composite(x, idx, dim, keepdim):  # create_graph: a gather at idx
        return _gathered(x, idx, dim, keepdim)


def kth_index(x, k, dim):
    """Index along dim of the k-th smallest element (0-based k; NaN sorts last)."""
    order = array_module(x).argsort(x, axis=dim, kind="stable")
    return order.take(k, axis=dim)


def median_index(x, dim):
    """Index along dim of the lower median; of the first NaN where a slice has one."""
    xp = array_module(x)
    n = x.shape[dim]
    order = xp.argsort(x, axis=dim, kind="stable")  # NaNs last, in input order
    k = xp.full(order.shape[:dim] + order.shape[dim + 1:], (n - 1) // 2, np.int64)
    if x.dtype.kind == "f":
        n_nan = xp.isnan(x).sum(axis=dim)
        k = xp.where(n_nan > 0, n - n_nan, k)
    return xp.take_along_axis(order, xp.expand_dims(k, dim), axis=dim).squeeze(dim)


def mode_index(x, dim):
    """Index along dim of the most frequent value (the smallest one on ties), at its last
    occurrence, as PyTorch's mode."""
    xp = array_module(x)
    xs = xp.moveaxis(x, dim, -1)
    order = xp.argsort(xs, axis=-1, kind="stable")  # equal values keep input order
    s = xp.take_along_axis(xs, order, axis=-1)
    n = s.shape[-1]
    pos = xp.arange(n)
    differs = s[..., 1:] != s[..., :-1]
    edge = xp.ones(s.shape[:-1] + (1,), bool)
    starts = xp.concatenate([edge, differs], axis=-1)
    ends = xp.concatenate([differs, edge], axis=-1)
    start = accumulate(xp.maximum, xp.where(starts, pos, 0), -1)
    end = xp.flip(accumulate(xp.minimum, xp.flip(xp.where(ends, pos, n - 1), -1), -1), -1)
    best = xp.argmax(end - start, axis=-1)  # the first longest run: the smallest value
    last = xp.take_along_axis(end, best[..., None], axis=-1)
    return xp.take_along_axis(order, last, axis=-1)[..., 0]


class ShareValue(Function):
    """Returns `y`, one of x's values picked outside (a median over all elements); the
    gradient is shared evenly by the elements equal to it (NaN matching NaN), as PyTorch's."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return y.copy()

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        xp = array_module(x)
        mask = x == y
        if x.dtype.kind == "f":
            mask |= xp.isnan(x) & xp.isnan(y)
        return mask * (gy / mask.sum())


class NanSum(Function):
    """sum treating NaN as zero. A Function, not where() + sum, so that a NaN position's
    gradient is gy * 0 as in PyTorch (NaN when gy is infinite, e.g. from an all-NaN nanmean)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = array_module(x)
        ctx.keep = ~xp.isnan(x)
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return xp.nansum(x, axis=axes if x.ndim else None, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        with _quiet(array_module(gy)):
            return _expand_back(gy, ctx.shape, ctx.axes, ctx.keepdim) * ctx.keep


def norm_composite(x, p, axes, keepdim):
    """The p-norm of Tensor x over axes from differentiable ops, with gradient 0 where the
    norm is 0 (as PyTorch's), for create_graph."""
    import mytorch
    dims = axes if x.ndim else ()
    a = x.abs()
    if p == float("inf") or p == -float("inf"):
        y = a.amax(dims, keepdim=True) if p > 0 else a.amin(dims, keepdim=True)
    elif p == 0:
        y = (x != 0).to(x.dtype).sum(dims, keepdim=True)
    else:
        s = (a * a if p == 2 else a ** p).sum(dims, keepdim=True)
        zero = s.detach() == 0
        y = mytorch.where(zero, 0.0, s.masked_fill(zero, 1.0) ** (1.0 / p))
    return y if keepdim else y.squeeze(dims)


class Norm(Function):
    """Vector p-norm over axes: (sum |x|^p)^(1/p); max |x| for p=inf, min |x| for -inf, the
    number of non-zeros for p=0. A Function, not a composite, so that the gradient where the
    norm is 0 is 0 as in PyTorch (sqrt's composite gives 0 * inf = NaN)."""

    @staticmethod
    def forward(ctx, x, p, axes, keepdim):
        xp = array_module(x)
        ax = axes if x.ndim else None
        a = xp.abs(x)
        if p == float("inf"):
            y = a.max(axis=ax, keepdims=True)
        elif p == -float("inf"):
            y = a.min(axis=ax, keepdims=True)
        elif p == 0:
            y = (x != 0).sum(axis=ax, keepdims=True).astype(x.dtype)
        elif p == 1:
            y = a.sum(axis=ax, keepdims=True)
        elif p == 2:
            y = xp.sqrt((x * x).sum(axis=ax, keepdims=True))
        else:
            with _quiet(xp):
                y = (a ** p).sum(axis=ax, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, y)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        xp, p = array_module(x), ctx.p
        g = _expand_back(gy, x.shape, ctx.axes, ctx.keepdim)
        if p == 0:
            return xp.zeros_like(x)
        if p in (float("inf"), -float("inf")):  # ties (and NaNs) share it, as in PyTorch
            mask = (xp.abs(x) == y) | xp.isnan(x)
            count = mask.sum(axis=ctx.axes if x.ndim else None, keepdims=True)
            with _quiet(xp):
                return sgn(x) * (g / count) * mask
        if p == 1:
            return g * sgn(x)
        # PyTorch's forms, NaN and inf included: the scale is 0 where the norm is 0
        with _quiet(xp):
            if p < 1:
                return sgn(x) * xp.where(x == 0, 0, xp.abs(x) ** (p - 1)) * g * y ** (1 - p)
            scale = xp.where(y == 0, 0, g / y ** (p - 1))
            if p == 2:
                return x * scale
            if p < 2:
                return sgn(x) * xp.abs(x) ** (p - 1) * scale
            return x * xp.abs(x) ** (p - 2) * scale

    @staticmethod
    def composite(x, p, axes, keepdim):  # create_graph: backward divides by the saved norm
        return norm_composite(x, p, axes, keepdim)




class SortIndex(NonDifferentiable):
    """The int64 indices that sort x along dim (stable: ties keep input order ascending)."""

    @staticmethod
    def forward(x, dim, descending):
        xp = array_module(x)
        if x.ndim == 0:
            return xp.zeros((), np.int64)
        idx = xp.argsort(x, axis=dim, kind="stable")
        if descending:
            idx = xp.flip(idx, dim)
        return idx.astype(np.int64)


class PickIndex(NonDifferentiable):
    """The int64 index `index_fn(x, dim)` picks in each slice of x along dim."""

    @staticmethod
    def forward(x, dim, index_fn):
        return index_fn(x, dim).astype(np.int64)


class PickValue(NonDifferentiable):
    """The element of x (flattened) at the index `index_fn(flat, 0)` picks, as a 0-d array."""

    @staticmethod
    def forward(x, index_fn):
        flat = x.reshape(-1)
        return array_module(x).asarray(flat[index_fn(flat, 0)])


# ---- public functions: Tensors in, Tensors out ----
# The Tensor methods of the same names are these functions (`sum = R.sum` in the class
# body), so a method call costs no extra frame.

def reduce_dims(dim, shape, op):
    """normalize_dims for reductions: an empty tuple of dims means all dims, as in PyTorch."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        dim = None
    return normalize_dims(dim, tuple(shape), op)


class MinMaxResult(tuple):
    """(values, indices), also reachable as `.values` and `.indices`."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over dim (all dims by default); bool and integers sum in int64."""
    x = input if dtype is None else input.to(dtype)
    if x.dtype.kind in "bi" and dtype is None:
        x = x.to(dtypes.int64) if x.dtype != dtypes.int64 else x
    return Sum.apply(x, reduce_dims(dim, input.shape, "sum"), keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Mean over dim (all dims by default) of a floating input (or with a floating dtype)."""
    x = input if dtype is None else input.to(dtype)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"mean: could not infer output dtype; input dtype is {x.dtype} -- "
                           "pass a floating dtype")
    return Mean.apply(x, reduce_dims(dim, input.shape, "mean"), keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance over dim, divided by n - correction (1 by default; unbiased=False: 0)."""
    correction = _correction(unbiased, correction)
    return Var.apply(input, reduce_dims(dim, input.shape, "var"), correction, keepdim,
                     dim is None or input.ndim == 0)


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Standard deviation over dim: the square root of var."""
    correction = _correction(unbiased, correction)
    return Std.apply(input, reduce_dims(dim, input.shape, "std"), correction, keepdim,
                     dim is None or input.ndim == 0)


def _minmax(x, dim, keepdim, is_min):
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{'min' if is_min else 'max'}: reduction over an empty tensor "
                               f"of shape {tuple(x.shape)}")
        return Amax.apply(x, tuple(range(x.ndim)), False, is_min, True)
    d = normalize_dims(dim, x.shape, "min" if is_min else "max")[0]
    d = d if x.ndim else None
    values, indices = MaxDim.apply(x, d, keepdim, is_min)
    return MinMaxResult(values, indices)


def max(input, dim=None, keepdim=False):
    """The largest element; with dim, (values, indices) along it; with a tensor, maximum."""
    if isinstance(dim, _fn.Tensor):
        return E.maximum(input, dim)
    return _minmax(input, dim, keepdim, False)


def min(input, dim=None, keepdim=False):
    """The smallest element; with dim, (values, indices) along it; with a tensor, minimum."""
    if isinstance(dim, _fn.Tensor):
        return E.minimum(input, dim)
    return _minmax(input, dim, keepdim, True)


def amax(input, dim=None, keepdim=False):
    """The largest values over dim; ties share the gradient."""
    return Amax.apply(input, reduce_dims(dim, input.shape, "amax"), keepdim, False)


def amin(input, dim=None, keepdim=False):
    """The smallest values over dim; ties share the gradient."""
    return Amax.apply(input, reduce_dims(dim, input.shape, "amin"), keepdim, True)


def _arg(x, dim, keepdim, name):
    d = None if dim is None else normalize_dims(dim, x.shape, name)[0]
    return ArgExtreme.apply(x, d, keepdim, name)


def argmax(input, dim=None, keepdim=False):
    """int64 index of the largest element (of the flattened input without dim)."""
    return _arg(input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """int64 index of the smallest element (of the flattened input without dim)."""
    return _arg(input, dim, keepdim, "argmin")


def prod(input, dim=None, keepdim=False):
    """Product over one dim (all elements by default)."""
    if dim is not None:
        dim = normalize_dims(dim, input.shape, "prod")[0]  # checks dim on 0-d too
        dim = dim if input.ndim else None
    return Prod.apply(input, dim, keepdim)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over dim, computed stably."""
    x = floating(input)
    return LogSumExp.apply(x, reduce_dims(dim, input.shape, "logsumexp"), keepdim)


def norm(input, p="fro", dim=None, keepdim=False):
    """Vector p-norm over dim (all dims by default); p a number, inf, -inf or 'fro' (2)."""
    if not dtypes.is_floating(input.dtype):
        raise RuntimeError(f"norm: expected a floating point input, got dtype {input.dtype}")
    if p == "fro":  # over at most 2 dims, as PyTorch (its matrix norm takes no more)
        if dim is not None and not isinstance(dim, int) and len(dim) > 2:
            raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={dim}")
        p = 2
    if not isinstance(p, (int, float)):
        raise ValueError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
    return Norm.apply(input, float(p), reduce_dims(dim, input.shape, "norm"), keepdim)


def cumsum(input, dim):
    """Running sum along dim."""
    d = normalize_dims(dim, input.shape, "cumsum")[0]
    if input.ndim == 0:
        return Cumsum.apply(input.reshape(1), 0).reshape(())
    return Cumsum.apply(input, d)


def cumprod(input, dim, dtype=None):
    """Running product along dim; bool and integers in int64."""
    x = input if dtype is None else input.to(dtype)
    if dtype is None and x.dtype.kind in "biu":
        x = x.to(dtypes.int64)
    d = normalize_dims(dim, input.shape, "cumprod")[0]
    if x.ndim == 0:
        return Cumprod.apply(x.reshape(1), 0).reshape(())
    return Cumprod.apply(x, d)


def _running_extreme(x, dim, is_min):
    name = "cummin" if is_min else "cummax"
    d = normalize_dims(dim, x.shape, name)[0]
    if x.ndim == 0:
        values, indices = CumExtreme.apply(x.reshape(1), 0, is_min)
        return MinMaxResult(values.reshape(()), indices.reshape(()))
    return MinMaxResult(*CumExtreme.apply(x, d, is_min))


def cummax(input, dim):
    """(values, indices) of the running maximum along dim."""
    return _running_extreme(input, dim, False)


def cummin(input, dim):
    """(values, indices) of the running minimum along dim."""
    return _running_extreme(input, dim, True)


def _pick(x, dim, keepdim, name, index_fn):
    """(values, indices) of the element `index_fn(array, dim)` picks in each slice along dim."""
    d = normalize_dims(dim, x.shape, name)[0]
    if x.ndim == 0:
        values, indices = _pick(x.reshape(1), 0, False, name, index_fn)
        return MinMaxResult(values, indices)
    if x.shape[d] == 0:
        raise RuntimeError(f"{name}: dim {dim} of shape {tuple(x.shape)} is empty")
    idx = PickIndex.apply(x, d, index_fn)
    values = Pick.apply(x, idx.data, d, keepdim)
    return MinMaxResult(values, idx.unsqueeze(d) if keepdim else idx)


def median(input, dim=None, keepdim=False):
    """The lower median of all elements, or (values, indices) along dim. NaN wins."""
    if dim is not None:
        return _pick(input, dim, keepdim, "median", median_index)
    if input.numel() == 0:
        raise RuntimeError(f"median: reduction over an empty tensor of shape "
                           f"{tuple(input.shape)}")
    return ShareValue.apply(input, PickValue.apply(input, median_index).data)


def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest element (k counts from 1) along dim."""
    size = input.shape[normalize_dims(dim, input.shape, "kthvalue")[0]] if input.ndim else 1
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue: k ({k}) out of range [1, {size}] for dim {dim} of "
                           f"shape {tuple(input.shape)}")
    return _pick(input, dim, keepdim, "kthvalue", lambda x, d: kth_index(x, k - 1, d))


def mode(input, dim=-1, keepdim=False):
    """(values, indices) of the most frequent value along dim (the smallest on ties)."""
    return _pick(input, dim, keepdim, "mode", mode_index)


def count_nonzero(input, dim=None):
    """int64 count of the non-zero elements over dim (all dims by default)."""
    axes = reduce_dims(dim, input.shape, "count_nonzero")
    return CountNonzero.apply(input, axes if input.ndim else None)


def nansum(input, dim=None, keepdim=False, dtype=None):
    """sum treating NaN as zero."""
    x = input if dtype is None else input.to(dtype)
    if not dtypes.is_floating(x.dtype):
        return sum(x, dim, keepdim)
    return NanSum.apply(x, reduce_dims(dim, input.shape, "nansum"), keepdim)


def nanmean(input, dim=None, keepdim=False, dtype=None):
    """mean over the non-NaN elements."""
    x = input if dtype is None else input.to(dtype)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"nanmean: expected a floating point input, got dtype {x.dtype}")
    count = sum(~x.isnan(), dim, keepdim)
    return nansum(x, dim, keepdim) / count.to(x.dtype)


def sort(input, dim=-1, descending=False):
    """(values, indices) sorted along dim; ties keep input order when ascending."""
    if input.ndim == 0:
        return MinMaxResult(input.clone(), SortIndex.apply(input, None, descending))
    d = normalize_dims(dim, input.shape, "sort")[0]
    idx = SortIndex.apply(input, d, descending)
    return MinMaxResult(input.gather(d, idx), idx)


def argsort(input, dim=-1, descending=False):
    """int64 indices that sort input along dim."""
    return sort(input, dim, descending).indices


def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (or smallest) elements along dim."""
    d = normalize_dims(dim, input.shape, "topk")[0] if input.ndim else 0
    size = input.shape[d] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk: k ({k}) out of range for dim {dim} of size {size}")
    _, idx = sort(input, d, descending=largest)
    if input.ndim:
        idx = idx.narrow(d, 0, k)
    return MinMaxResult(input.gather(d, idx) if input.ndim else input.clone(), idx)
