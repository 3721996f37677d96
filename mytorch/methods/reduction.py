"""Tensor reductions: sum, mean, var/std, max/min, argmax, prod, logsumexp, norm, the
cumulative ops, median/kthvalue/mode, sort and topk."""
import numpy as np

from mytorch import backend, dtypes
from mytorch.autograd import function as _fn
from mytorch.ops import elementwise as E
from mytorch.ops import reduce as R
from mytorch.ops.reduce import normalize_dims
from mytorch.promotion import floating


class TensorReduction:
    __slots__ = ()

    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if x.dtype.kind in "bi" and dtype is None:
            x = x.to(dtypes.int64) if x.dtype != dtypes.int64 else x
        return R.Sum.apply(x, reduce_dims(dim, self.shape, "sum"), keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if not dtypes.is_floating(x.dtype):
            raise RuntimeError(f"mean: could not infer output dtype; input dtype is {x.dtype} -- "
                               "pass a floating dtype")
        return R.Mean.apply(x, reduce_dims(dim, self.shape, "mean"), keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        correction = _correction(unbiased, correction)
        return R.Var.apply(self, reduce_dims(dim, self.shape, "var"), correction, keepdim,
                           dim is None or self.ndim == 0)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        correction = _correction(unbiased, correction)
        return R.Std.apply(self, reduce_dims(dim, self.shape, "std"), correction, keepdim,
                           dim is None or self.ndim == 0)

    def max(self, dim=None, keepdim=False):
        if isinstance(dim, _fn.Tensor):
            return E.maximum(self, dim)
        return _minmax(self, dim, keepdim, False)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, _fn.Tensor):
            return E.minimum(self, dim)
        return _minmax(self, dim, keepdim, True)

    def amax(self, dim=None, keepdim=False):
        return R.Amax.apply(self, reduce_dims(dim, self.shape, "amax"), keepdim, False)

    def amin(self, dim=None, keepdim=False):
        return R.Amax.apply(self, reduce_dims(dim, self.shape, "amin"), keepdim, True)

    def argmax(self, dim=None, keepdim=False):
        return _arg(self, dim, keepdim, "argmax")

    def argmin(self, dim=None, keepdim=False):
        return _arg(self, dim, keepdim, "argmin")

    def prod(self, dim=None, keepdim=False):
        if dim is not None:
            dim = normalize_dims(dim, self.shape, "prod")[0]  # checks dim on 0-d too
            dim = dim if self.ndim else None
        return R.Prod.apply(self, dim, keepdim)

    def logsumexp(self, dim, keepdim=False):
        x = floating(self)
        return R.LogSumExp.apply(x, reduce_dims(dim, self.shape, "logsumexp"), keepdim)

    def norm(self, p="fro", dim=None, keepdim=False):
        """Vector p-norm over dim (all dims by default); p a number, inf, -inf or 'fro' (2)."""
        if not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"norm: expected a floating point input, got dtype {self.dtype}")
        if p == "fro":  # over at most 2 dims, as PyTorch (its matrix norm takes no more)
            if dim is not None and not isinstance(dim, int) and len(dim) > 2:
                raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={dim}")
            p = 2
        if not isinstance(p, (int, float)):
            raise ValueError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
        return R.Norm.apply(self, float(p), reduce_dims(dim, self.shape, "norm"), keepdim)

    def cumsum(self, dim):
        d = normalize_dims(dim, self.shape, "cumsum")[0]
        if self.ndim == 0:
            return R.Cumsum.apply(self.reshape(1), 0).reshape(())
        return R.Cumsum.apply(self, d)

    def cumprod(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if dtype is None and x.dtype.kind in "biu":
            x = x.to(dtypes.int64)
        d = normalize_dims(dim, self.shape, "cumprod")[0]
        if x.ndim == 0:
            return R.Cumprod.apply(x.reshape(1), 0).reshape(())
        return R.Cumprod.apply(x, d)

    def cummax(self, dim):
        """(values, indices) of the running maximum along dim."""
        return _cum_extreme(self, dim, False)

    def cummin(self, dim):
        """(values, indices) of the running minimum along dim."""
        return _cum_extreme(self, dim, True)

    def median(self, dim=None, keepdim=False):
        """The lower median of all elements, or (values, indices) along dim. NaN wins."""
        if dim is not None:
            return _pick(self, dim, keepdim, "median", R.median_index)
        if self.numel() == 0:
            raise RuntimeError(f"median: reduction over an empty tensor of shape "
                               f"{tuple(self.shape)}")
        flat = self.data.reshape(-1)
        return R.ShareValue.apply(self, flat[R.median_index(flat, 0)])

    def kthvalue(self, k, dim=-1, keepdim=False):
        """(values, indices) of the k-th smallest element (k counts from 1) along dim."""
        size = self.shape[normalize_dims(dim, self.shape, "kthvalue")[0]] if self.ndim else 1
        if not 1 <= k <= size:
            raise RuntimeError(f"kthvalue: k ({k}) out of range [1, {size}] for dim {dim} of "
                               f"shape {tuple(self.shape)}")
        return _pick(self, dim, keepdim, "kthvalue", lambda x, d: R.kth_index(x, k - 1, d))

    def mode(self, dim=-1, keepdim=False):
        """(values, indices) of the most frequent value along dim (the smallest on ties)."""
        return _pick(self, dim, keepdim, "mode", R.mode_index)

    def count_nonzero(self, dim=None):
        axes = reduce_dims(dim, self.shape, "count_nonzero")
        return R.CountNonzero.apply(self, axes if self.ndim else None)

    def nansum(self, dim=None, keepdim=False, dtype=None):
        """sum treating NaN as zero."""
        x = self if dtype is None else self.to(dtype)
        if not dtypes.is_floating(x.dtype):
            return x.sum(dim, keepdim)
        return R.NanSum.apply(x, reduce_dims(dim, self.shape, "nansum"), keepdim)

    def nanmean(self, dim=None, keepdim=False, dtype=None):
        """mean over the non-NaN elements."""
        x = self if dtype is None else self.to(dtype)
        if not dtypes.is_floating(x.dtype):
            raise RuntimeError(f"nanmean: expected a floating point input, got dtype {x.dtype}")
        count = (~x.isnan()).sum(dim, keepdim)
        return x.nansum(dim, keepdim) / count.to(x.dtype)

    def sort(self, dim=-1, descending=False):
        """(values, indices) sorted along dim; ties keep input order when ascending."""
        if self.ndim == 0:
            from mytorch.creation import zeros
            return MinMaxResult(self.clone(), zeros((), dtype=np.int64))
        d = normalize_dims(dim, self.shape, "sort")[0]
        xp = backend.array_module(self.data)
        idx = xp.argsort(self.data, axis=d, kind="stable")
        if descending:
            idx = xp.flip(idx, d)
        idx = _fn._wrap(idx.astype(np.int64))
        return MinMaxResult(self.gather(d, idx), idx)

    def argsort(self, dim=-1, descending=False):
        return self.sort(dim, descending).indices

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the k largest (or smallest) elements along dim."""
        d = normalize_dims(dim, self.shape, "topk")[0] if self.ndim else 0
        size = self.shape[d] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError(f"topk: k ({k}) out of range for dim {dim} of size {size}")
        _, idx = self.sort(d, descending=largest)
        if self.ndim:
            idx = idx.narrow(d, 0, k)
        return MinMaxResult(self.gather(d, idx) if self.ndim else self.clone(), idx)


def reduce_dims(dim, shape, op):
    """normalize_dims for reductions: an empty tuple of dims means all dims, as in PyTorch."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        dim = None
    return normalize_dims(dim, tuple(shape), op)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def _cum_extreme(x, dim, is_min):
    name = "cummin" if is_min else "cummax"
    d = normalize_dims(dim, x.shape, name)[0]
    if x.ndim == 0:
        values, indices = R.CumExtreme.apply(x.reshape(1), 0, is_min)
        return MinMaxResult(values.reshape(()), indices.reshape(()))
    return MinMaxResult(*R.CumExtreme.apply(x, d, is_min))


def _pick(x, dim, keepdim, name, index_fn):
    """(values, indices) of the element `index_fn(array, dim)` picks in each slice along dim."""
    d = normalize_dims(dim, x.shape, name)[0]
    if x.ndim == 0:
        values, indices = _pick(x.reshape(1), 0, False, name, index_fn)
        return MinMaxResult(values, indices)
    if x.shape[d] == 0:
        raise RuntimeError(f"{name}: dim {dim} of shape {tuple(x.shape)} is empty")
    idx = index_fn(x.data, d).astype(np.int64)
    values = R.Pick.apply(x, idx, d, keepdim)
    xp = backend.array_module(idx)
    return MinMaxResult(values, _fn._wrap(xp.expand_dims(idx, d) if keepdim else idx))


def _minmax(x, dim, keepdim, is_min):
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{'min' if is_min else 'max'}: reduction over an empty tensor "
                               f"of shape {tuple(x.shape)}")
        return R.Amax.apply(x, tuple(range(x.ndim)), False, is_min, True)
    d = normalize_dims(dim, x.shape, "min" if is_min else "max")[0]
    d = d if x.ndim else None
    values, indices = R.MaxDim.apply(x, d, keepdim, is_min)
    return MinMaxResult(values, indices)


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


def _arg(x, dim, keepdim, name):
    d = None if dim is None else normalize_dims(dim, x.shape, name)[0]
    return R.ArgExtreme.apply(x, d, keepdim, name)
