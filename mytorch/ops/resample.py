"""Separable linear resampling on arrays: adaptive average pooling and interpolation.

Both are linear maps applied per spatial axis: (N, C, H, W) -> Mh @ x @ Mw^T as two matmuls
(global pooling as a mean; small maps as one Kronecker matrix). `interp_plan` builds one
axis's map for F.interpolate; mytorch.ops.window.adaptive_matrix builds adaptive pooling's.
"""
import numpy as np

from mytorch.autograd.function import Function
from mytorch.backend import array_module

__all__ = ["GlobalAvgPool", "Separable", "interp_plan"]

_KRON_ELEMS = 1 << 14


class GlobalAvgPool(Function):
    """(N, C, H, W) -> (N, C, 1, 1) mean: adaptive pooling to 1x1 (a reduction, not a matmul)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        n, c, h, w = x.shape
        y = array_module(x).ascontiguousarray(x).reshape(n, c, h * w).sum(axis=2)
        y *= x.dtype.type(1.0 / (h * w))
        return y.reshape(n, c, 1, 1)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        h, w = ctx.shape[2:]
        gx = xp.empty(ctx.shape, gy.dtype)
        gx[...] = gy * gy.dtype.type(1.0 / (h * w))
        return gx


class Separable(Function):
    """y = Mh @ x @ Mw^T over the last two dims of (N, C, H, W). With gather indices
    (ih, iw) the forward is an exact gather instead (nearest modes: no 0*inf)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, mh, mw, ih=None, iw=None):
        xp = array_module(x)
        ctx.mh, ctx.mw, ctx.shape = mh, mw, x.shape
        if ih is not None:
            return xp.take(xp.take(x, ih, axis=2), iw, axis=3)
        n, c, h, w = x.shape
        if mh is not None and mh.size * mw.size <= _KRON_ELEMS:
            # Small maps (global pooling): one (H*W -> Ho*Wo) matrix, one matmul.
            ctx.kron = xp.kron(mh, mw)
            y = x.reshape(n * c, h * w) @ ctx.kron.T
            return y.reshape(n, c, mh.shape[0], mw.shape[0])
        t = (x.reshape(-1, w) @ mw.T).reshape(n * c, h, -1)  # (N*C, H, Wo)
        y = t if mh is None else _apply_rows(mh, t)
        return y.reshape(n, c, y.shape[1], y.shape[2])

    @staticmethod
    def backward(ctx, gy):
        n, c, h, w = ctx.shape
        if getattr(ctx, "kron", None) is not None:
            return (gy.reshape(n * c, -1) @ ctx.kron).reshape(n, c, h, w)
        g = gy.reshape(n * c, gy.shape[2], gy.shape[3])
        if ctx.mh is not None:
            g = _apply_rows(ctx.mh.T, g)  # (N*C, H, Wo)
        gx = g.reshape(-1, gy.shape[3]) @ ctx.mw
        return gx.reshape(n, c, h, w)


def _apply_rows(m, t):
    """m (R, H) applied along axis 1 of t (B, H, K) -> (B, R, K), as one matmul
    (a broadcast batched matmul would run B tiny ones)."""
    b, h, k = t.shape
    if k == 1:
        return (t.reshape(b, h) @ m.T).reshape(b, -1, 1)
    y = t.transpose(0, 2, 1).reshape(b * k, h) @ m.T  # (B*K, R)
    return y.reshape(b, k, -1).transpose(0, 2, 1)



def interp_plan(mode, n_in, n_out, scale, align_corners, dtype):
    """One axis: (matrix (n_out, n_in), gather index or None, (i0, i1, l0, l1) or None)."""
    ft = np.dtype(dtype).type
    dst = np.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        s = ft(1.0 / scale) if scale else ft(n_in) / ft(n_out)
        off = ft(0.5) if mode == "nearest-exact" else ft(0)
        src = np.minimum(np.floor((dst.astype(dtype) + off) * s).astype(np.int64), n_in - 1)
        m = np.zeros((n_out, n_in), dtype)
        m[dst, src] = 1
        return m, src, None
    if align_corners:
        s = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
        src = s * dst.astype(dtype)
    else:
        s = ft(1.0 / scale) if scale else ft(n_in) / ft(n_out)
        src = np.maximum(s * (dst.astype(dtype) + ft(0.5)) - ft(0.5), ft(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    l1 = (src - i0).astype(dtype)
    l0 = (ft(1) - l1).astype(dtype)
    m = np.zeros((n_out, n_in), dtype)
    m[dst, i0] += l0
    m[dst, i1] += l1
    return m, None, (i0, i1, l0, l1)
