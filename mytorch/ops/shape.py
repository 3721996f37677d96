"""Shape primitives: reshape, permute, expand, cat, stack, split, repeat, contiguous."""
from mytorch.autograd.function import Function
from mytorch.backend import array_module


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, gy):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return gy.transpose(inv)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, gy):
        return gy  # the engine sums it back to the input's shape


class Contiguous(Function):
    @staticmethod
    def forward(ctx, x):
        return array_module(x).ascontiguousarray(x)

    @staticmethod
    def backward(ctx, gy):
        return gy


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return array_module(xs[0]).concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        out, start = [], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad):
            if need:
                sl = [slice(None)] * gy.ndim
                sl[ctx.dim] = slice(start, start + size)
                out.append(gy[tuple(sl)])
            else:
                out.append(None)
            start += size
        return tuple(out)


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return array_module(xs[0]).stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return tuple(xp.take(gy, i, axis=ctx.dim) if need else None
                     for i, need in enumerate(ctx.needs_input_grad))


class Split(Function):
    """Split along `dim` into pieces of the given sizes; returns one view per piece."""

    @staticmethod
    def forward(ctx, x, sizes, dim):
        ctx.dim, ctx.shape = dim, x.shape
        out, start = [], 0
        for s in sizes:
            sl = [slice(None)] * x.ndim
            sl[dim] = slice(start, start + s)
            out.append(x[tuple(sl)])
            start += s
        return tuple(out)

    @staticmethod
    def backward(ctx, *gys):
        return array_module(gys[0]).concatenate(gys, axis=ctx.dim)


class Repeat(Function):
    @staticmethod
    def forward(ctx, x, reps):
        xp = array_module(x)
        lead = len(reps) - x.ndim
        ctx.reps, ctx.in_shape = reps, (1,) * lead + x.shape
        return xp.tile(x.reshape(ctx.in_shape), reps)

    @staticmethod
    def backward(ctx, gy):
        # (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...) and sum over the r axes.
        inter = []
        for r, s in zip(ctx.reps, ctx.in_shape):
            inter += [r, s]
        g = gy.reshape(inter).sum(axis=tuple(range(0, len(inter), 2)))
        return g
