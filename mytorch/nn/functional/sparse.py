"""Sparse lookups: embedding (with max_norm renormalization) and one_hot.
"""
import math

import numpy as np

from mytorch.autograd.function import bump_version
from mytorch.backend import array_module
from mytorch.nn.functional._util import mytorch_where
from mytorch.ops import nn as N
from mytorch.ops.index import one_hot
from mytorch.tensor import Tensor

__all__ = ["embedding", "one_hot"]


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, auto=False):
    """Rows of `weight` (num, dim) picked by the integer tensor `input` -> (*input.shape, dim).
    The padding_idx row receives no gradient. With max_norm, the looked-up rows whose
    norm_type-norm exceeds it are first rescaled to norm max_norm, in place in `weight`."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for an embedding table "
                             f"of {n} rows (weight shape {tuple(weight.shape)})")
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if auto:
        out = weight[Tensor._wrap(idx)]
        if padding_idx is not None and out.requires_grad:
            out = mytorch_where((idx == padding_idx)[..., None], out.detach(), out)
        return out
    return N.Embedding.apply(weight, idx, padding_idx)


def _embedding_renorm(weight, idx, max_norm, norm_type):
    # As torch.embedding_renorm_: a write to the table outside autograd.
    xp = array_module(weight.data)
    rows = xp.unique(xp.asarray(idx).reshape(-1))
    w = weight.data[rows]
    if norm_type == math.inf:
        norms = xp.abs(w).max(1)
    else:
        norms = (xp.abs(w) ** norm_type).sum(1) ** (1.0 / norm_type)
    big = norms > max_norm
    scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
    weight.data[rows[big]] = w[big] * scale[:, None]
    bump_version(weight.data)
