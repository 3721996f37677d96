"""Dropout: elementwise and channel-wise (dropout1d, dropout2d).
"""
import warnings

from mytorch import random as _random
from mytorch.backend import array_module
from mytorch.nn.functional._util import maybe_inplace
from mytorch.ops import cuda_kernels as ck
from mytorch.ops import nn as N
from mytorch.tensor import Tensor

__all__ = ["dropout", "dropout_add", "dropout1d", "dropout2d"]


def dropout(input, p=0.5, training=True, inplace=False, auto=False, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when
    not training or p == 0). On CUDA float tensors (fused kernels on) the mask is drawn by
    dropout_add's kernel and made again in backward instead of kept (see dropout_add)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    if not auto and ck.fits(input.data):
        # CUDA: dropout_add's kernel without a residual, the mask regenerated in backward
        return N.DropoutAdd.apply(input, None, p, _random.seed_for(input.device, generator))
    rng = _random.generator_for(input.device, generator)
    mask = N.dropout_mask(input.data, p, rng)
    if auto:
        return input * Tensor._wrap(mask)
    return N.Dropout.apply(input, mask)


def dropout_add(x, residual, p=0.5, training=True):
    """residual + dropout(x, p, training), as a transformer block adds a dropped-out branch to
    its residual stream. PyTorch has no such function: this is mytorch's fused form of
    `residual + F.dropout(x, p, training)`.

    On CUDA float tensors of one shape and dtype it is one kernel forward and one backward
    (mytorch.ops.cuda_misc_kernels): the keep mask is made from a seed drawn from the device's
    generator (so mytorch.manual_seed makes it reproducible) and each element's index, and
    backward makes it again instead of keeping it. Those draws differ from F.dropout's. Anywhere
    else (the CPU above all) it is exactly `residual + F.dropout(x, p, training)`, with the same
    draws as that.

    >>> x = F.dropout_add(self.attn(self.ln_1(x)), x, p=0.1, training=self.training)
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout_add: probability has to be between 0 and 1, but got {p}")
    if (training and 0.0 < p < 1.0 and isinstance(x, Tensor) and isinstance(residual, Tensor)
            and x.shape == residual.shape and ck.fits(x.data, residual.data)):
        return N.DropoutAdd.apply(x, residual, p, _random.seed_for(x.device))
    return residual + dropout(x, p, training)


def _feature_dropout(input, p, training, inplace, op, batched=True):
    """Zero whole channels: one keep/scale draw per (N, C) (per C if not batched), broadcast
    over the remaining dims."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim < 2:
        raise RuntimeError(f"{op}: feature dropout requires at least 2 dimensions in the input, "
                           f"got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = input * 0.0
    else:
        xp = array_module(input.data)
        k = 2 if batched else 1
        shape = tuple(input.shape[:k]) + (1,) * (input.ndim - k)
        rng = _random.generator_for(input.device, None)
        out = input * Tensor._wrap(N.dropout_mask(xp.empty(shape, input.dtype), p, rng))
    return maybe_inplace(input, out, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability p, scaling the rest by
    1/(1-p)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: expected 2D or 3D input, but received a {input.ndim}D "
                           f"input of shape {tuple(input.shape)}")
    return _feature_dropout(input, p, training, inplace, "dropout1d", batched=input.ndim == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability p, scaling the rest by 1/(1-p).

    As PyTorch, a 3-D input is read as (N, C, L) (1-D channel dropout), with a warning.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. Use dropout1d for that.", stacklevel=2)
    elif input.ndim != 4:
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated; dropout2d expects 3D or 4D inputs.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, "dropout2d")
