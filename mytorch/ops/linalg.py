"""Matrix products."""
from mytorch.autograd.function import Function
from mytorch.backend import array_module


def _blas_ready(xp, a):
    """`a` itself if its last two dims form a matrix BLAS takes as is (one unit stride, the
    other at least the extent it steps over), else a contiguous copy.

    Only batched (ndim > 2) operands are touched. NumPy runs a batched matmul on a zero-stride
    or gapped-inner-dim operand (a broadcast gradient from sum/mean, an expand, a ::2 slice)
    without BLAS and is then 1.1-2x slower than copying first; transposed and head-split
    views are BLAS-ready already, and copying those is slower than not.
    """
    if a.ndim <= 2:
        return a
    (n0, n1), (s0, s1), item = a.shape[-2:], a.strides[-2:], a.itemsize
    row_major = (s1 == item or n1 == 1) and (s0 >= n1 * item or n0 == 1)
    col_major = (s0 == item or n0 == 1) and (s1 >= n0 * item or n1 == 1)
    return a if row_major or col_major else xp.ascontiguousarray(a)


class Matmul(Function):
    """a @ b with NumPy's batching and broadcasting rules (1-D operands included)."""

    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a)
        a, b = _blas_ready(xp, a), _blas_ready(xp, b)
        ctx.save_for_backward(a, b)
        return xp.matmul(a, b)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        xp = array_module(gy)
        if a.ndim == 1 and b.ndim == 1:  # dot product: gy is 0-d
            return (gy * b if ctx.needs_input_grad[0] else None,
                    gy * a if ctx.needs_input_grad[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = _blas_ready(xp, gy)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = xp.matmul(g, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # (..., T, C) x (C, D): fold the batch into rows instead of a batched
                # product followed by a sum.
                k = a2.shape[-1]
                gb = xp.matmul(a2.reshape(-1, k).T, g.reshape(-1, g.shape[-1]))
            else:
                gb = xp.matmul(xp.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb
