"""Scaled dot-product attention: the checked front over mytorch.ops.attention.
"""
import math

import numpy as np

from mytorch import backend
from mytorch import random as _random
from mytorch.amp import autocast_mode as _amp
from mytorch.backend import array_module
from mytorch.ops import cuda_flash_attention as fa
from mytorch.ops.attention import (
    AttentionFunction,
    FlashAttentionFunction,
    attention_auto,
    causal_mask,
)
from mytorch.tensor import Tensor

__all__ = ["attention", "scaled_dot_product_attention"]


@_amp.low_precision_op("scaled_dot_product_attention")
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, auto=False):
    """softmax(query @ key^T * scale + mask) @ value, as `torch.nn.functional`'s.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    attn_mask: bool (True = take part) or float (added to the scores), broadcastable to
    (..., L, S). is_causal: the top-left lower-triangular mask. scale defaults to 1/sqrt(E).
    Rows whose keys are all masked give zeros (and zero gradients), as torch 2.13.

    CUDA float16/32 (B, H, L, E) tensors take the flash-attention kernels of
    mytorch.ops.cuda_flash_attention (unless MYTORCH_FUSED=0, a mask needs a gradient, or
    auto=True); their dropout draws come from a hash of a seed taken from mytorch's CUDA
    generator, so they differ from the reference path's (and from torch's) draws.

    >>> y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    """
    op = "scaled_dot_product_attention"
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(f"{op}: query, key and value need at least 2 dims, got shapes "
                           f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    L, E = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[-1] != E or value.shape[-2] != S:
        raise RuntimeError(f"{op}: expected key (..., S, {E}) and value (..., S, Ev) for query "
                           f"{tuple(query.shape)}, got key {tuple(key.shape)} and value "
                           f"{tuple(value.shape)}")
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise TypeError(f"{op}: query, key and value must share a dtype, got {query.dtype}, "
                        f"{key.dtype}, {value.dtype}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{op}: pass either attn_mask or is_causal=True, not both")
    mask = _additive_mask(attn_mask, query)
    if mask is not None:
        try:
            np.broadcast_shapes(tuple(mask.shape), tuple(query.shape[:-1]) + (S,))
        except ValueError:
            raise RuntimeError(f"{op}: attn_mask of shape {tuple(mask.shape)} does not broadcast "
                               f"to the scores' shape {tuple(query.shape[:-1]) + (S,)}") from None
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    if not auto and _flash_fits(query, key, value, mask):
        seed = _dropout_seed(query) if dropout_p > 0 else 0
        return FlashAttentionFunction.apply(query, key, value, mask, is_causal=is_causal,
                                            scale=scale, dropout_p=dropout_p, seed=seed)
    if is_causal and auto:
        mask = causal_mask(L, S, query)
    return attention(query, key, value, mask, scale, dropout_p, auto=auto,
                     is_causal=is_causal and not auto)


def _flash_fits(q, k, v, mask):
    """Whether the flash-attention kernels take this call (a mask that needs a gradient does
    not: the kernels give none)."""
    if mask is not None and mask.requires_grad:
        return False
    return fa.fits(q.data, k.data, v.data, None if mask is None else mask.data)


def _dropout_seed(q):
    """A 32-bit seed for the kernels' dropout hash, drawn from q's device generator (so
    mytorch.manual_seed makes the draws reproducible)."""
    draw = _random.generator_for(q.device).integers(0, 2 ** 32, size=1)
    return int(backend.to_device(draw, "cpu")[0])


def _additive_mask(attn_mask, q):
    """Turn a bool (True = take part) or float mask into a float mask Tensor to add to the
    scores (or None)."""
    xp = array_module(q.data)
    if attn_mask is None:
        return None
    if not isinstance(attn_mask, Tensor):
        attn_mask = Tensor(attn_mask, device=q.device)
    if attn_mask.dtype == np.bool_:
        return Tensor._wrap(xp.where(attn_mask.data, 0, -xp.inf).astype(q.dtype))
    if attn_mask.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got "
                        f"{attn_mask.dtype}")
    return attn_mask if attn_mask.dtype == q.dtype else attn_mask.to(q.dtype)


def attention(q, k, v, mask, scale, dropout_p=0.0, return_weights=False, auto=False,
              is_causal=False):
    """The unchecked core: mask is None or a float Tensor added to the scores; `is_causal`
    (not with auto) adds the top-left causal mask, which AttentionFunction applies without
    building it where it can. With `return_weights`, returns (output, attention probabilities
    after dropout)."""
    if auto:
        return attention_auto(q, k, v, mask, scale, dropout_p, return_weights)
    rng = _random.generator_for(q.device) if dropout_p > 0 else None
    return AttentionFunction.apply(q, k, v, mask, scale=scale, dropout_p=dropout_p, rng=rng,
                                   return_weights=return_weights, is_causal=is_causal)
