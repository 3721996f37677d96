"""Distances and similarities between vectors: cosine similarity, p-norm distance.
"""
import math

import numpy as np

from mytorch.amp import autocast_mode as _amp
from mytorch.nn.functional._util import check_float, dim_of, mytorch_where

__all__ = ["cosine_similarity", "pairwise_distance"]


def vector_norm(x, p, dim, keepdim):
    """||x||_p along dim; like PyTorch, the gradient of a zero norm is zero (not NaN)."""
    if p == math.inf:
        return x.abs().amax(dim, keepdim)
    if p == -math.inf:
        return x.abs().amin(dim, keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim)
    if p == 1:
        return x.abs().sum(dim, keepdim)
    s = (x * x if p == 2 else x.abs() ** p).sum(dim, keepdim)
    nz = s.data > 0
    root = mytorch_where(nz, s, 1.0) ** (1.0 / p)
    return mytorch_where(nz, root, 0.0)


def _broadcast_pair(x1, x2, op):
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise RuntimeError(f"{op}: shapes {tuple(x1.shape)} and {tuple(x2.shape)} do not "
                           "broadcast") from None
    if tuple(x1.shape) != shape:
        x1 = x1.expand(*shape)
    if tuple(x2.shape) != shape:
        x2 = x2.expand(*shape)
    return x1, x2


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along `dim` (inputs broadcast)."""
    x1, x2 = _amp.cast("cosine_similarity", x1, x2)
    op = "cosine_similarity"
    check_float(x1, op)
    check_float(x2, op)
    x1, x2 = _broadcast_pair(x1, x2, op)
    d = dim_of(x1, dim, op)

    def unit(x):
        n = vector_norm(x, 2, d, True)
        # PyTorch clamps the norm outside autograd: value max(n, eps), gradient that of n
        return x / (n + (n.detach().clamp(min=eps) - n.detach()))
    return (unit(x1) * unit(x2)).sum(d)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (inputs broadcast)."""
    op = "pairwise_distance"
    check_float(x1, op)
    check_float(x2, op)
    _broadcast_pair(x1, x2, op)
    diff = x1 - x2 + eps
    return vector_norm(diff, p, -1 if diff.ndim else None, keepdim)
