"""Indexing primitives: getitem/setitem, masked_fill, gather, scatter_add, index_select, tril/triu.

Gradients of integer-array indexing must accumulate repeated indices. NumPy's `np.add.at`
does that but is slow, so rows are accumulated with one sort and `np.add.reduceat`, and
general scatters with `np.bincount` on flat indices.
"""
import numpy as np

from mytorch.autograd.function import Function
from mytorch.backend import array_module


def index_add_rows(n_rows, idx, src):
    """out[idx[i]] += src[i] along the first axis, repeated indices summed.

    idx: any shape, flattened to (N,); src: (N, *tail) -> out: (n_rows, *tail).
    """
    xp = array_module(src)
    idx = idx.reshape(-1)
    out = xp.zeros((n_rows,) + src.shape[1:], src.dtype)
    if idx.shape[0] == 0:
        return out
    if xp is not np:
        xp.add.at(out, idx, src)  # atomics on the GPU
        return out
    order = np.argsort(idx, kind="stable")
    sidx = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], sidx[1:] != sidx[:-1])))
    out[sidx[starts]] = np.add.reduceat(src[order], starts, axis=0)
    return out


def scatter_add_flat(out, flat_idx, src):
    """out.flat[flat_idx] += src with repeats summed (out is modified and returned)."""
    xp = array_module(out)
    if xp is not np:
        import cupyx
        cupyx.scatter_add(out.reshape(-1), flat_idx.reshape(-1), src.reshape(-1))
        return out
    acc = np.bincount(flat_idx.reshape(-1), weights=src.reshape(-1).astype(np.float64),
                      minlength=out.size)
    out.reshape(-1)[...] += acc.astype(out.dtype)
    return out


def _has_advanced(key):
    items = key if isinstance(key, tuple) else (key,)
    return any(hasattr(k, "dtype") or isinstance(k, list) for k in items)


def check_index(key, shape, op="index"):
    """Raise IndexError naming the op and shape for out-of-range integer indices."""
    items = key if isinstance(key, tuple) else (key,)
    dim = 0
    n_ell = sum(1 for k in items if k is Ellipsis)
    n_real = sum(1 for k in items if k is not None and k is not Ellipsis
                 and not (hasattr(k, "dtype") and k.dtype == bool))
    n_real += sum(k.ndim for k in items if hasattr(k, "dtype") and k.dtype == bool)
    if n_real > len(shape):
        raise IndexError(f"{op}: too many indices ({n_real}) for a tensor of shape {tuple(shape)}")
    for k in items:
        if k is None:
            continue
        if k is Ellipsis:
            dim += len(shape) - n_real
            continue
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            size = shape[dim]
            if not -size <= k < size:
                raise IndexError(f"{op}: index {int(k)} is out of range for dim {dim} with size "
                                 f"{size} (tensor shape {tuple(shape)})")
        elif hasattr(k, "dtype") and k.dtype == bool:
            if tuple(k.shape) != tuple(shape[dim:dim + k.ndim]):
                raise IndexError(f"{op}: boolean mask of shape {tuple(k.shape)} does not match "
                                 f"tensor shape {tuple(shape)} at dim {dim}")
            dim += k.ndim
            continue
        elif hasattr(k, "dtype") and k.size and k.dtype.kind in "iu":
            size = shape[dim]
            lo, hi = int(k.min()), int(k.max())
            if lo < -size or hi >= size:
                bad = hi if hi >= size else lo
                raise IndexError(f"{op}: index {bad} is out of range for dim {dim} with size "
                                 f"{size} (tensor shape {tuple(shape)})")
        dim += 1
    if n_ell > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis")


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.dtype, ctx.key = x.shape, x.dtype, key
        return x[key]

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        key = ctx.key
        gx = xp.zeros(ctx.shape, gy.dtype)
        if not _has_advanced(key):
            gx[key] = gy  # basic indexing hits each element at most once
            return gx
        if xp is np and isinstance(key, np.ndarray) and key.dtype.kind in "iu":
            # x[idx] over the first axis: the common embedding-like case.
            rows = index_add_rows(ctx.shape[0], key % ctx.shape[0],
                                  gy.reshape((key.size,) + ctx.shape[1:]))
            return rows
        if xp is np:
            # General advanced indexing: find which flat element each output came from.
            flat = np.arange(int(np.prod(ctx.shape)), dtype=np.int64).reshape(ctx.shape)[key]
            return scatter_add_flat(gx, flat, gy)
        xp.add.at(gx, key, gy)
        return gx


class SetItem(Function):
    """y = x with y[key] = v (out of place; the Tensor rebinds itself to y)."""

    @staticmethod
    def forward(ctx, x, v, key):
        ctx.key = key
        ctx.v_shape = getattr(v, "shape", ())
        y = x.copy()
        y[key] = v
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = gy.copy()
            gx[ctx.key] = 0
        if ctx.needs_input_grad[1]:
            gv = gy[ctx.key]
        return gx, gv


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.save_for_backward(mask)
        return array_module(x).where(mask, x.dtype.type(value), x)

    @staticmethod
    def backward(ctx, gy):
        (mask,) = ctx.saved_tensors
        return array_module(gy).where(mask, gy.dtype.type(0), gy), None


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim = x.shape, dim
        return array_module(x).take_along_axis(_fit(x, index, dim), index, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        (index,) = ctx.saved_tensors
        xp = array_module(gy)
        gx = xp.zeros(ctx.shape, gy.dtype)
        return scatter_add_flat(gx, _flat_along(xp, index, ctx.dim, ctx.shape), gy)


def _fit(x, index, dim):
    # gather/scatter allow an index smaller than the input in the other dims: crop to it.
    if all(i == dim or a == b for i, (a, b) in enumerate(zip(x.shape, index.shape))):
        return x
    return x[tuple(slice(None) if i == dim else slice(0, s) for i, s in enumerate(index.shape))]


def _flat_along(xp, index, dim, shape):
    """Flat positions in an array of `shape` addressed by `index` along `dim`."""
    grids = list(xp.indices(index.shape, sparse=True))
    grids[dim] = index % shape[dim]
    return xp.ravel_multi_index(tuple(xp.broadcast_arrays(*grids)), shape)


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, x, dim, index, src):
        ctx.save_for_backward(index)
        ctx.dim = dim
        xp = array_module(x)
        return scatter_add_flat(x.copy(), _flat_along(xp, index, dim, x.shape), src)

    @staticmethod
    def backward(ctx, gy):
        (index,) = ctx.saved_tensors
        gsrc = None
        if ctx.needs_input_grad[3]:
            gsrc = array_module(gy).take_along_axis(_fit(gy, index, ctx.dim), index, axis=ctx.dim)
        return gy, None, None, gsrc


class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim = x.shape, dim
        return array_module(x).take(x, index, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        (index,) = ctx.saved_tensors
        xp = array_module(gy)
        g = xp.moveaxis(gy, ctx.dim, 0)
        rows = index_add_rows(ctx.shape[ctx.dim], index, g)
        return xp.moveaxis(rows, 0, ctx.dim)


class Tril(Function):
    @staticmethod
    def forward(ctx, x, diagonal, upper=False):
        ctx.diagonal, ctx.upper = diagonal, upper
        xp = array_module(x)
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return xp.triu(gy, ctx.diagonal) if ctx.upper else xp.tril(gy, ctx.diagonal)
