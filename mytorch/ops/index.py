"""Indexing primitives: getitem/setitem, masked_fill, gather, scatter(_add), index_select,
index_add, tril/triu.

Gradients of integer-array indexing must accumulate repeated indices. NumPy's `np.add.at`
does that but is slow, so rows are accumulated with one sort and `np.add.reduceat`, and
general scatters with `np.bincount` on flat indices.

The public functions at the bottom (gather, scatter, index_select, index_add, unique, ...) take
and return Tensors and check their arguments; `Tensor` methods and `mytorch.*` call them.
"""
import numpy as np

from mytorch import backend
from mytorch.autograd import function as _fn
from mytorch.autograd.function import Function, NonDifferentiable
from mytorch.backend import array_module
from mytorch.ops.elementwise import where
from mytorch.ops.reduce import normalize_dims
from mytorch.promotion import to_array


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
        elif isinstance(k, slice) and k.step is not None and k.step <= 0:
            raise ValueError(f"{op}: slice step must be positive, got {k.step} (use flip to "
                             "reverse a tensor)")
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


def _is_int(k):
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def split_ints(key):
    """torch applies integer indices first (as select) and advanced ones to what is left;
    NumPy counts integers as advanced when arrays are present, which can move the result's
    dims to the front. Returns (ints_key, rest_key) for two NumPy indexings, the first basic
    (a view), or None when NumPy's one indexing already agrees with torch."""
    items = key if isinstance(key, tuple) else (key,)
    if not (any(_is_int(k) for k in items) and _has_advanced(items)):
        return None
    first, rest = [], []
    for k in items:
        if _is_int(k):
            first.append(k)
            continue
        rest.append(k)
        if k is Ellipsis:
            first.append(k)
        elif k is not None and not isinstance(k, (bool, np.bool_)):
            is_mask = hasattr(k, "dtype") and k.dtype == bool
            first.extend([slice(None)] * (k.ndim if is_mask else 1))
    return tuple(first), tuple(rest)


def take(a, key):
    """a[key] with torch's indexing rules."""
    split = split_ints(key)
    return a[key] if split is None else a[split[0]][split[1]]


def put(a, key, v):
    """a[key] = v with torch's indexing rules (a is written in place)."""
    split = split_ints(key)
    if split is None:
        a[key] = v
    else:
        a[split[0]][split[1]] = v


class GetItem(Function):
    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.dtype, ctx.key = x.shape, x.dtype, key
        return take(x, key)

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
            flat = take(np.arange(int(np.prod(ctx.shape)), dtype=np.int64).reshape(ctx.shape),
                        key)
            return scatter_add_flat(gx, flat, gy)
        split = split_ints(key)
        target, key = (gx, key) if split is None else (gx[split[0]], split[1])
        xp.add.at(target, key, gy)
        return gx


class SetItem(Function):
    """y = x with y[key] = v (out of place; the Tensor rebinds itself to y)."""

    @staticmethod
    def forward(ctx, x, v, key):
        ctx.key = key
        ctx.v_shape = getattr(v, "shape", ())
        y = x.copy()
        put(y, key, v)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = gy.copy()
            put(gx, ctx.key, 0)
        if ctx.needs_input_grad[1]:
            gv = take(gy, ctx.key)
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
    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

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
    # open grids by hand: CuPy's `indices` has no `sparse`
    grids = [xp.arange(n).reshape((1,) * i + (n,) + (1,) * (index.ndim - i - 1))
             for i, n in enumerate(index.shape)]
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
    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

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
    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, diagonal, upper=False):
        ctx.diagonal, ctx.upper = diagonal, upper
        xp = array_module(x)
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return xp.triu(gy, ctx.diagonal) if ctx.upper else xp.tril(gy, ctx.diagonal)


def scatter_mul_flat(out, flat_idx, src):
    """out.flat[flat_idx] *= src with repeats multiplied together (out is modified and
    returned)."""
    xp = array_module(out)
    flat_out, flat_idx, src = out.reshape(-1), flat_idx.reshape(-1), src.reshape(-1)
    if flat_idx.size == 0:
        return out
    if xp is np:
        order = np.argsort(flat_idx, kind="stable")
        sidx = flat_idx[order]
        starts = np.flatnonzero(np.concatenate(([True], sidx[1:] != sidx[:-1])))
        flat_out[sidx[starts]] *= np.multiply.reduceat(src[order], starts)
        return out
    while flat_idx.size:  # no multiply.at on the GPU: one occurrence of each index per round
        first = xp.unique(flat_idx, return_index=True)[1]
        flat_out[flat_idx[first]] *= src[first]
        rest = xp.ones(flat_idx.shape, bool)
        rest[first] = False
        flat_idx, src = flat_idx[rest], src[rest]
    return out


class Scatter(Function):
    """y = x with y[..., index[i], ...] = src[i] along `dim` (src shaped like index, or a
    Python number). reduce 'add'/'multiply' combines instead; that form has no gradient, as
    in PyTorch."""

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce=None):
        xp = array_module(x)
        flat = _flat_along(xp, index, dim, x.shape).reshape(-1)
        src = src.reshape(-1) if hasattr(src, "reshape") else xp.full(flat.shape, src, x.dtype)
        y = x.copy()  # C order: y.reshape(-1) is a view
        if reduce is None:
            y.reshape(-1)[flat] = src
        elif reduce == "add":
            scatter_add_flat(y, flat, src)
        else:
            scatter_mul_flat(y, flat, src)
        ctx.flat, ctx.index_shape, ctx.reduce = flat, index.shape, reduce
        return y

    @staticmethod
    def backward(ctx, gy):
        if ctx.reduce is not None:
            raise RuntimeError(f"scatter: the derivative for reduce={ctx.reduce!r} is not "
                               "implemented (as in PyTorch; use scatter_add for 'add')")
        gx = gsrc = None
        if ctx.needs_input_grad[0]:
            gx = gy.reshape(-1).copy()  # a copy of its own: create_graph refuses view writes
            gx[ctx.flat] = 0
            gx = gx.reshape(gy.shape)
        if ctx.needs_input_grad[3]:
            gsrc = gy.reshape(-1)[ctx.flat].reshape(ctx.index_shape)
        return gx, None, None, gsrc


class IndexAdd(Function):
    """y = x, then y[..., index[i], ...] += alpha * src[..., i, ...] along `dim`."""

    @staticmethod
    def forward(ctx, x, dim, index, src, alpha):
        ctx.save_for_backward(index)
        ctx.dim, ctx.alpha = dim, alpha
        xp = array_module(x)
        g = xp.moveaxis(src, dim, 0)
        if alpha != 1:
            g = (g * alpha).astype(x.dtype, copy=False)
        return x + xp.moveaxis(index_add_rows(x.shape[dim], index, g), 0, dim)

    @staticmethod
    def backward(ctx, gy):
        (index,) = ctx.saved_tensors
        gsrc = None
        if ctx.needs_input_grad[3]:
            gsrc = array_module(gy).take(gy, index, axis=ctx.dim)
            if ctx.alpha != 1:
                gsrc = gsrc * ctx.alpha
        return gy, None, None, gsrc


# ---- ops without a gradient: integer results (indices, counts), arrays in, arrays out ----

class OneHot(NonDifferentiable):
    @staticmethod
    def forward(idx, num_classes):
        xp = array_module(idx)
        return (idx[..., None] == xp.arange(num_classes)).astype(np.int64)


class Nonzero(NonDifferentiable):
    """(N, ndim) int64 indices of the non-zero elements, or (as_tuple) ndim 1-D arrays."""

    @staticmethod
    def forward(x, as_tuple):
        xp = array_module(x)
        idx = xp.nonzero(x) if x.ndim else xp.nonzero(x.reshape(1))
        if as_tuple:
            return tuple(i.astype(np.int64) for i in idx)
        if not x.ndim:
            return xp.zeros((len(idx[0]), 0), np.int64)
        return xp.stack(idx, axis=1).astype(np.int64)


class Argwhere(NonDifferentiable):
    @staticmethod
    def forward(x):
        return array_module(x).argwhere(x).astype(np.int64)


class Bincount(NonDifferentiable):
    """int64 counts of each value of x (1-D, non-negative ints), or the sum of the weights w
    per value (float weights keep their dtype, others give float64)."""

    @staticmethod
    def forward(x, w, minlength):
        xp = array_module(x)
        x = x.astype(np.int64, copy=False)
        if w is None or x.size == 0:  # PyTorch gives int64 counts for an empty input
            return xp.bincount(x, minlength=minlength).astype(np.int64)
        out = xp.bincount(x, weights=w, minlength=minlength)
        return out.astype(w.dtype if w.dtype.kind == "f" else np.float64)


class Histc(NonDifferentiable):
    """Counts of x in `bins` equal-width bins over [lo, hi], in x's dtype."""

    @staticmethod
    def forward(x, bins, lo, hi):
        xp = array_module(x)
        x = x.reshape(-1)
        lo_t, hi_t = x.dtype.type(lo), x.dtype.type(hi)
        x = x[(x >= lo_t) & (x <= hi_t)]
        # The bin arithmetic in the input's dtype, as PyTorch does it.
        pos = ((x - lo_t) * x.dtype.type(bins) / (hi_t - lo_t)).astype(np.int64)
        pos = xp.minimum(pos, bins - 1)
        return xp.bincount(pos, minlength=bins).astype(x.dtype)


class Unique(NonDifferentiable):
    """(values, int64 inverse shaped `inverse_shape`, int64 counts) of x (flattened when
    axis is None) or of its slices along axis."""

    @staticmethod
    def forward(x, axis, inverse_shape):
        xp = array_module(x)
        if axis is None:
            out = xp.unique(x.reshape(-1), return_inverse=True, return_counts=True)
        else:
            out = xp.unique(x, return_inverse=True, return_counts=True, axis=axis)
        values, inverse, counts = out
        return values, inverse.reshape(inverse_shape).astype(np.int64), counts.astype(np.int64)


class SearchSorted(NonDifferentiable):
    """Insertion indices of v in seq (sorted along its last dim; one row per leading index)."""

    @staticmethod
    def forward(seq, v, how, out_int32):
        xp = array_module(seq)
        if seq.ndim == 1:
            out = xp.asarray(xp.searchsorted(seq, v, how))
        else:
            out = xp.zeros(v.shape, np.int64)
            if v.size:  # one row at a time
                n = int(np.prod(v.shape[:-1]))  # explicit: -1 is ambiguous when a row is empty
                rows, seq_rows = out.reshape(n, v.shape[-1]), seq.reshape(n, seq.shape[-1])
                for i, row in enumerate(v.reshape(-1, v.shape[-1])):
                    rows[i] = xp.searchsorted(seq_rows[i], row, how)
        return out.astype(np.int32 if out_int32 else np.int64)


# ---- public functions: Tensors in, Tensors out ----

def index_key(key, data):
    """Replace Tensors (and lists) in an index with arrays on `data`'s device (torch takes CPU
    indices for a CUDA tensor; the copy is made once, here)."""
    if isinstance(key, tuple):
        key = tuple(k.data if isinstance(k, _fn.Tensor) else
                    (np.asarray(k) if isinstance(k, list) else k) for k in key)
    elif isinstance(key, _fn.Tensor):
        key = key.data
    elif isinstance(key, list):
        key = np.asarray(key)
    if type(data) is np.ndarray:
        return key
    dev = backend.device_of(data)
    if isinstance(key, tuple):
        return tuple(backend.to_device(k, dev) if backend.is_array(k) else k for k in key)
    return backend.to_device(key, dev) if backend.is_array(key) else key


def gather(x, dim, index):
    """out[i][j] = x[index[i][j]][j] for dim=0 (x[i][index[i][j]] for dim=1); index: an
    integer tensor with x's number of dims, no larger than x outside `dim`."""
    d = normalize_dims(dim, x.shape, "gather")[0]
    idx = index.data if isinstance(index, _fn.Tensor) else to_array(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"gather: index must be an integer tensor, got dtype {idx.dtype}")
    if idx.ndim != x.ndim:
        raise RuntimeError(f"gather: index shape {tuple(idx.shape)} and input shape "
                           f"{tuple(x.shape)} must have the same number of dims")
    if any(i != d and a > b for i, (a, b) in enumerate(zip(idx.shape, x.shape))):
        raise RuntimeError(f"gather: index shape {tuple(idx.shape)} is larger than input shape "
                           f"{tuple(x.shape)} outside dim {d}")
    if idx.size and not _in_range(idx, 0, x.shape[d]):
        raise IndexError(f"gather: index out of range for dim {dim} with size {x.shape[d]} "
                         f"(input shape {tuple(x.shape)})")
    return Gather.apply(x, d, idx)


def scatter_add(x, dim, index, src):
    """x with src[i][j] added into out[index[i][j]][j] (dim=0); repeated indices accumulate."""
    d = normalize_dims(dim, x.shape, "scatter_add")[0]
    idx = index.data if isinstance(index, _fn.Tensor) else to_array(index)
    if idx.size and not _in_range(idx, 0, x.shape[d]):
        raise IndexError(f"scatter_add: index out of range for dim {dim} with size {x.shape[d]}")
    if isinstance(src, _fn.Tensor) and src.shape != idx.shape:
        src = src[tuple(slice(0, s) for s in idx.shape)]
    return ScatterAdd.apply(x, d, idx, src)


def index_select(x, dim, index):
    """The slices of x at the 1-D integer `index` along `dim`."""
    d = normalize_dims(dim, x.shape, "index_select")[0]
    idx = index.data if isinstance(index, _fn.Tensor) else to_array(index)
    if idx.ndim != 1:
        raise RuntimeError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if idx.size and not _in_range(idx, 0, x.shape[d]):
        raise IndexError(f"index_select: index out of range for dim {dim} with size "
                         f"{x.shape[d]} (input shape {tuple(x.shape)})")
    return IndexSelect.apply(x, d, idx)


def one_hot(index, num_classes=-1):
    """int64 (*index.shape, num_classes) with a 1 at each index (num_classes=-1: max + 1)."""
    idx = index.data if isinstance(index, _fn.Tensor) else to_array(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected an integer tensor, got dtype {idx.dtype}")
    lo, hi = _bounds(idx) if idx.size else (0, -1)
    if num_classes < 0:
        num_classes = hi + 1
    if idx.size and (lo < 0 or hi >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got "
                           f"[{lo}, {hi}]")
    return OneHot.apply(index if isinstance(index, _fn.Tensor) else idx, num_classes)


def nonzero(x, as_tuple=False):
    """Indices of the non-zero elements of x: (N, ndim) int64, or (as_tuple) ndim 1-D tensors."""
    return Nonzero.apply(x if isinstance(x, _fn.Tensor) else to_array(x), as_tuple)


def masked_fill(x, mask, value):
    """x with `value` (a number or a 0-d tensor) where the bool `mask` is set."""
    m = mask.data if isinstance(mask, _fn.Tensor) else mask
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill: expected a bool mask, got dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, x.shape)
    except ValueError:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast "
                           f"to shape {tuple(x.shape)}") from None
    if isinstance(value, _fn.Tensor):
        value = value.item()
    return MaskedFill.apply(x, m, value)


def tril(x, diagonal=0):
    """The lower triangle of the last two dims of x (above `diagonal` set to 0)."""
    return Tril.apply(_matrices(x, "tril"), diagonal, False)


def triu(x, diagonal=0):
    """The upper triangle of the last two dims of x (below `diagonal` set to 0)."""
    return Tril.apply(_matrices(x, "triu"), diagonal, True)


def _matrices(x, op):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: expected a tensor with at least 2 dims, got shape "
                           f"{tuple(x.shape)}")
    return x


def _dim(dim, shape, op):
    return normalize_dims(dim, tuple(shape), op)[0]


def _bounds(a):
    """(min, max) of a non-empty array as Python numbers, read on a's device (as Function.apply
    would run it), for the checks that look at index values."""
    if type(a) is np.ndarray:
        return a.min().item(), a.max().item()
    with backend.device_scope(a):
        return a.min().item(), a.max().item()


def _in_range(idx, low, size):
    """Whether every value of the non-empty idx lies in [low, size)."""
    lo, hi = _bounds(idx)
    return low <= lo and hi < size


def _array(x, ref):
    """The array of a Tensor, or `x` (a list, a number) as an array on ref's device."""
    if isinstance(x, _fn.Tensor):
        return x.data
    return array_module(ref).asarray(x)


def _int_index(index, ref, op):
    idx = _array(index, ref)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: index must be an integer tensor, got dtype {idx.dtype}")
    return idx


def _check_range(idx, size, dim, shape, op, negative=True):
    """Raise IndexError for indices outside [-size, size) ([0, size) without `negative`)."""
    low = -size if negative else 0
    if idx.size and not _in_range(idx, low, size):
        lo, hi = _bounds(idx)
        bad = hi if hi >= size else lo
        raise IndexError(f"{op}: index {bad} is out of range for dim {dim} with size {size} "
                         f"(tensor shape {tuple(shape)})")


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """Out-of-place scatter: input with the elements at `index` along `dim` replaced by the
    matching elements of `src` (or by `value`, a number). reduce='add'/'multiply' combines
    with the existing elements instead.

    For a 3-D input and dim=0: out[index[i][j][k]][j][k] = src[i][j][k].
    """
    op = "scatter"
    if (src is None) == (value is None):
        raise TypeError(f"{op}: pass exactly one of src (a tensor) and value (a number)")
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"{op}: reduce must be 'add' or 'multiply', got {reduce!r}")
    d = _dim(dim, input.shape, op)
    idx = _int_index(index, input.data, op)
    if idx.ndim != input.ndim:
        raise RuntimeError(f"{op}: index shape {tuple(idx.shape)} and input shape "
                           f"{tuple(input.shape)} must have the same number of dims")
    if any(i != d and a > b for i, (a, b) in enumerate(zip(idx.shape, input.shape))):
        raise RuntimeError(f"{op}: index shape {tuple(idx.shape)} is larger than input shape "
                           f"{tuple(input.shape)} outside dim {d}")
    _check_range(idx, input.shape[d] if input.ndim else 1, dim, input.shape, op,
                 negative=False)  # as torch: scatter takes no negative indices
    if src is None or not isinstance(src, _fn.Tensor):
        v = value if src is None else src
        return Scatter.apply(input, d, idx, v.item() if isinstance(v, _fn.Tensor) else v,
                             reduce=reduce)
    if src.dtype != input.dtype:
        raise RuntimeError(f"{op}: expected src dtype {src.dtype} to equal input dtype "
                           f"{input.dtype}")
    if src.ndim != idx.ndim or any(a > b for a, b in zip(idx.shape, src.shape)):
        raise RuntimeError(f"{op}: index shape {tuple(idx.shape)} is larger than src shape "
                           f"{tuple(src.shape)}")
    if src.shape != idx.shape:
        src = src[tuple(slice(0, s) for s in idx.shape)]
    return Scatter.apply(input, d, idx, src, reduce=reduce)


def index_add(input, dim, index, source, *, alpha=1):
    """input with alpha * source[..., i, ...] added into input[..., index[i], ...] along
    `dim`; repeated indices accumulate. index: (N,), source: input's shape with N at dim."""
    op = "index_add"
    if input.ndim == 0:
        return index_add(input.reshape(1), 0, index, source.reshape(1), alpha=alpha).reshape(())
    d = _dim(dim, input.shape, op)
    idx = _int_index(index, input.data, op).reshape(-1)
    if source.dtype != input.dtype:
        raise RuntimeError(f"{op}: source dtype {source.dtype} and input dtype {input.dtype} "
                           "must be the same")
    expect = input.shape[:d] + (idx.shape[0],) + input.shape[d + 1:]
    if tuple(source.shape) != expect:
        raise RuntimeError(f"{op}: source shape {tuple(source.shape)} does not match input "
                           f"shape {tuple(input.shape)} with {idx.shape[0]} indices at dim {d} "
                           f"(expected {expect})")
    _check_range(idx, input.shape[d], dim, input.shape, op, negative=False)  # as torch
    return IndexAdd.apply(input, d, idx, source, alpha)


def index_fill(input, dim, index, value):
    """input with every slice at `index` along `dim` set to `value` (a number or a 0-d
    tensor, which then gets a gradient)."""
    op = "index_fill"
    d = _dim(dim, input.shape, op)
    n = input.shape[d] if input.ndim else 1
    idx = _int_index(index, input.data, op).reshape(-1)
    _check_range(idx, n, dim, input.shape, op)
    mask = array_module(input.data).zeros(n, bool)
    mask[idx] = True
    mask = _fn._wrap(mask.reshape(input.shape[d:d + 1] + (1,) * (input.ndim - d - 1)))
    if isinstance(value, _fn.Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"{op}: value must be a number or a 0-d tensor, got shape "
                               f"{tuple(value.shape)}")
        return where(mask, value.to(input.dtype), input)
    return input.masked_fill(mask, value)


def _bool_mask(mask, input, op):
    m = _array(mask, input.data)
    if m.dtype != np.bool_:
        raise RuntimeError(f"{op}: expected a bool mask, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(tuple(m.shape), tuple(input.shape))
    except ValueError:
        raise RuntimeError(f"{op}: mask of shape {tuple(m.shape)} does not broadcast with input "
                           f"shape {tuple(input.shape)}") from None
    x = input if input.shape == shape else input.expand(shape)
    return x, array_module(m).broadcast_to(m, shape)


def masked_select(input, mask):
    """The elements of input where the bool mask (broadcast with input) is True, as 1-D."""
    x, m = _bool_mask(mask, input, "masked_select")
    return GetItem.apply(x, m)


def masked_scatter(input, mask, source):
    """input with the positions where mask is True filled, in row-major order, by the first
    elements of source."""
    op = "masked_scatter"
    x, m = _bool_mask(mask, input, op)
    if source.dtype != input.dtype:
        raise RuntimeError(f"{op}: source dtype {source.dtype} and input dtype {input.dtype} "
                           "must be the same")
    pos = array_module(m).flatnonzero(m)
    if pos.shape[0] > source.numel():
        raise RuntimeError(f"{op}: the mask selects {pos.shape[0]} elements but source of "
                           f"shape {tuple(source.shape)} has only {source.numel()}")
    values = source.reshape(-1)[:pos.shape[0]]
    return SetItem.apply(x.reshape(-1), values, pos).reshape(x.shape)


def take_along_dim(input, indices, dim=None):
    """Pick values along `dim` at `indices` (gather with broadcasting of the other dims);
    dim None picks from the flattened input."""
    op = "take_along_dim"
    idx = _int_index(indices, input.data, op)
    if dim is None:
        flat = input.reshape(-1)
        idx = idx.reshape(-1)
        _check_range(idx, flat.shape[0], 0, input.shape, op)
        return Gather.apply(flat, 0, idx)
    d = _dim(dim, input.shape, op)
    if idx.ndim != input.ndim:
        raise RuntimeError(f"{op}: input shape {tuple(input.shape)} and indices shape "
                           f"{tuple(idx.shape)} must have the same number of dims")
    try:
        common = np.broadcast_shapes(input.shape[:d] + (1,) + input.shape[d + 1:],
                                     idx.shape[:d] + (1,) + idx.shape[d + 1:])
    except ValueError:
        raise RuntimeError(f"{op}: input shape {tuple(input.shape)} and indices shape "
                           f"{tuple(idx.shape)} do not broadcast outside dim {d}") from None
    _check_range(idx, input.shape[d], dim, input.shape, op)
    x = input.expand(common[:d] + (input.shape[d],) + common[d + 1:])
    idx = array_module(idx).broadcast_to(idx, common[:d] + (idx.shape[d],) + common[d + 1:])
    return Gather.apply(x, d, idx)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (dim None, flattened) or distinct slices along `dim`, sorted;
    optionally the int64 inverse (where each input element went) and counts.

    >>> mytorch.unique(mytorch.tensor([3, 1, 3]), return_counts=True)
    (tensor([1, 3]), tensor([1, 2]))
    """
    if dim is None:
        d, inverse_shape = None, input.shape
    else:
        d = _dim(dim, input.shape, "unique")
        inverse_shape = (input.shape[d],)
    values, inverse, counts = Unique.apply(input, d, inverse_shape)
    res = [values]
    if return_inverse:
        res.append(inverse)
    if return_counts:
        res.append(counts)
    return res[0] if len(res) == 1 else tuple(res)


def bincount(input, weights=None, minlength=0):
    """Count of each value 0..max(input) in a 1-D non-negative integer tensor (int64), or
    the sum of `weights` per value (float weights keep their dtype, others give float64)."""
    op = "bincount"
    x = input.data
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected a 1-D integer tensor, got shape {tuple(x.shape)} "
                           f"and dtype {x.dtype}")
    lo = _bounds(x)[0] if x.size else 0
    if lo < 0:
        raise RuntimeError(f"{op}: input must contain non-negative values, got {lo}")
    if minlength < 0:
        raise RuntimeError(f"{op}: minlength must be non-negative, got {minlength}")
    if weights is None or x.size == 0:
        return Bincount.apply(input, None, minlength)
    w = _array(weights, x)
    if w.shape != x.shape:
        raise RuntimeError(f"{op}: weights shape {tuple(w.shape)} must match input shape "
                           f"{tuple(x.shape)}")
    return Bincount.apply(input, weights if isinstance(weights, _fn.Tensor) else w, minlength)


def histc(input, bins=100, min=0, max=0):
    """Histogram of `bins` equal-width bins over [min, max] (both 0: the data's range);
    values outside are ignored, max goes in the last bin. Same dtype as input."""
    op = "histc"
    x = input.data
    if x.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")
    if bins <= 0:
        raise RuntimeError(f"{op}: bins must be > 0, got {bins}")
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = (float(b) for b in _bounds(x))
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"{op}: max ({hi}) must be larger than min ({lo})")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"{op}: range of [{lo}, {hi}] is not finite")
    return Histc.apply(input, bins, lo, hi)


def argwhere(input):
    """Indices of the non-zero elements: (N, ndim) int64."""
    return Argwhere.apply(input)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """For each value of `input`, the index in `sorted_sequence` (sorted along its last dim)
    where it would be inserted to keep the order: the first such index, or with right=True
    (side='right') the last. A N-D sequence has one row per leading index of input.

    >>> mytorch.searchsorted(mytorch.tensor([1, 3, 5]), mytorch.tensor([3, 6]))
    tensor([1, 3])
    """
    op = "searchsorted"
    seq = sorted_sequence.data
    xp = array_module(seq)
    v = _array(input, seq)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{op}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError(f"{op}: side='left' and right=True contradict each other")
        right = side == "right"
    if seq.ndim == 0:
        raise RuntimeError(f"{op}: sorted_sequence must have at least 1 dim, got a 0-d tensor")
    if sorter is not None:
        s = _int_index(sorter, seq, op)
        if s.shape != seq.shape:
            raise RuntimeError(f"{op}: sorter shape {tuple(s.shape)} must match "
                               f"sorted_sequence shape {tuple(seq.shape)}")
        seq = xp.take_along_axis(seq, s, axis=-1)
    if seq.ndim > 1 and (v.ndim == 0 or v.shape[:-1] != seq.shape[:-1]):
        raise RuntimeError(f"{op}: sorted_sequence should be 1-D or its leading dims must "
                           f"match those of input, got shapes {tuple(seq.shape)} and "
                           f"{tuple(v.shape)}")
    how = "right" if right else "left"
    seq = sorted_sequence if seq is sorted_sequence.data else _fn._wrap(seq)  # sorter applied
    return SearchSorted.apply(seq,
                              input if isinstance(input, _fn.Tensor) else v, how, out_int32)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value of input among 1-D sorted `boundaries`: i such that
    boundaries[i-1] < x <= boundaries[i] (right=True: boundaries[i-1] <= x < boundaries[i])."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape "
                           f"{tuple(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
