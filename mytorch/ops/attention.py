"""Scaled dot-product attention: softmax(Q K^T * scale + mask) V.

The default path is one hand-written Function whose backward recomputes the attention
probabilities from Q, K and the saved row log-sum-exp instead of keeping the (L, S)
probability matrix alive between forward and backward (less memory). On NumPy float32
without a mask (or with is_causal) and without dropout, its softmax and softmax-backward are
numba row loops and causal query rows go in blocks that skip the masked keys (the fused path,
about 2x faster at GPT-2's shapes). `auto=True` composes the same math from Tensor ops. On
CUDA, `FlashAttentionFunction` runs the flash-attention kernels of
mytorch.ops.cuda_flash_attention, which never store the (L, S) matrix at all.
"""
import math

import numpy as np

from mytorch import random as _random
from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops import _kernels_attention as ka
from mytorch.ops import cuda_flash_attention as fa
from mytorch.tensor import Tensor

__all__ = ["AttentionFunction", "FlashAttentionFunction", "attention_auto", "causal_mask"]


def _blas_ready(xp, a):
    """a itself when its last two dims have a unit stride in one of them and no zero stride
    (a row- or column-major matrix per batch, which matmul hands to BLAS as is, transposed or
    not), else a contiguous copy: on e.g. a broadcast view NumPy's matmul falls off BLAS."""
    if a.ndim >= 2 and 0 not in a.strides[-2:] and a.itemsize in a.strides[-2:]:
        return a
    return xp.ascontiguousarray(a)


def _mT(xp, a):
    """Transpose of the last two dims, a view where matmul takes it (see _blas_ready)."""
    return _blas_ready(xp, xp.swapaxes(a, -1, -2))


def _t_matmul(xp, a, b):
    """a^T @ b as (b^T @ a)^T: only the small operand b (B.., L, D) gets transposed, never
    the (B.., L, S) matrix a."""
    return xp.swapaxes(xp.matmul(_mT(xp, b), a), -1, -2)


def _scores(xp, q, k, mask, scale):
    s = xp.matmul(q, _mT(xp, k))  # (B.., L, S)
    s *= scale
    if mask is not None:
        if np.broadcast_shapes(mask.shape, s.shape) == s.shape:
            s += mask
        else:
            s = s + mask
    return s


def _softmax_(xp, s):
    """Row softmax of the scores in place; returns the row log-sum-exp. Rows with every key
    masked give probabilities 0 (output 0, as PyTorch's fused kernels) and lse = +inf, so that
    exp(s - lse) recomputes those zeros."""
    m = s.max(axis=-1, keepdims=True)
    empty = m == -xp.inf
    m[empty] = 0
    s -= m
    xp.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    total[empty] = 1
    s /= total
    lse = xp.log(total)
    lse += m
    lse[empty] = xp.inf
    return lse


# Causal fused path: query rows per block. Block [r0, r1) needs only keys [0, r1), so its GEMMs
# and loops skip the masked upper triangle block by block (at T = 256, 4 blocks do 62.5% of
# the full work; smaller blocks make GEMMs too thin to gain more).
QUERY_BLOCK = 64


def _query_blocks(L, S, causal):
    """(r0, r1, keys): query rows [r0, r1) and how many leading keys they see together."""
    if not causal:
        return [(0, L, S)]
    return [(r0, min(r0 + QUERY_BLOCK, L), min(r0 + QUERY_BLOCK, L, S))
            for r0 in range(0, L, QUERY_BLOCK)]


def _empty_like_layout(a, shape):
    """An empty array of `shape` and a's dtype, laid out in memory in a's axis order when the
    shapes match: heads split from (B, T, C) as (B, H, T, D) views give (B, T, H, D) memory,
    so merging the heads back (transpose + reshape) is a view, not a copy."""
    if a.shape == shape:
        return np.empty_like(a)
    return np.empty(shape, a.dtype)


def _fused_forward(q, k, v, scale, causal, whole):
    """(y, lse, p) of the NumPy float32 fused path; p is the whole probability matrix when
    `whole` (one block), else None."""
    L, S = q.shape[-2], k.shape[-2]
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_keys = ka.valid_keys(L, S, causal)
    y = _empty_like_layout(q, batch + (L, v.shape[-1]))
    lse = np.empty(batch + (L, 1), q.dtype)
    lse2, kT = lse.reshape(-1, L), _mT(np, k)
    for r0, r1, keys in _query_blocks(L, S, causal and not whole):
        p = np.matmul(q[..., r0:r1, :], kT[..., :keys])  # (B.., r1 - r0, keys)
        ka.softmax_scores_(p, scale, n_keys[r0:r1], lse2[:, r0:r1])
        np.matmul(p, v[..., :keys, :], out=y[..., r0:r1, :])
    return y, lse, (p if whole else None)


def _fused_backward(q, k, v, lse, gy, gw, scale, causal, needs):
    """(gq, gk, gv) of the fused path (gw: the probabilities' gradient, or None)."""
    L, S = q.shape[-2], k.shape[-2]
    batch = gy.shape[:-2]
    n_keys = ka.valid_keys(L, S, causal)
    lse2, kT, vT = lse.reshape(-1, L), _mT(np, k), _mT(np, v)
    gq = _empty_like_layout(q, batch + (L, q.shape[-1])) if needs[0] else None
    gk = _empty_like_layout(k, batch + (S, k.shape[-1])) if needs[1] else None
    gv = _empty_like_layout(v, batch + (S, v.shape[-1])) if needs[2] else None
    # The last block sees the most keys: it writes gk and gv (zeros past its keys, when L < S
    # and causal), earlier blocks add to a prefix.
    blocks = _query_blocks(L, S, causal and gw is None)[::-1]
    for i, (r0, r1, keys) in enumerate(blocks):
        q_r, gy_r = q[..., r0:r1, :], gy[..., r0:r1, :]
        p = np.matmul(q_r, kT[..., :keys])
        ds = np.matmul(gy_r, vT[..., :keys])  # the probabilities' gradient
        if gw is not None:
            ds += gw
        ka.softmax_scores_backward_(p, ds, scale, n_keys[r0:r1], lse2[:, r0:r1])
        for g, a, b in ((gv, p, gy_r), (gk, ds, q_r)):
            if g is None:
                continue
            if i == 0:
                g[..., keys:, :] = 0
                _t_matmul_into(a, b, g[..., :keys, :])
            else:
                g[..., :keys, :] += _t_matmul(np, a, b)
        if gq is not None:
            np.matmul(ds, k[..., :keys, :], out=gq[..., r0:r1, :])
    for g in (gq, gk):
        if g is not None:
            g *= scale
    return gq, gk, gv


def _t_matmul_into(a, b, out):
    """out = a^T @ b, as _t_matmul."""
    np.matmul(_mT(np, b), a, out=np.swapaxes(out, -1, -2))


class AttentionFunction(Function):
    """softmax(q k^T * scale + mask) with optional dropout, times v; `is_causal` adds the
    top-left causal mask.

    Saves q, k, v, the mask, the row log-sum-exp (B.., L, 1) and the dropout keep-mask;
    backward recomputes the probabilities. With `return_weights`, the (dropped-out)
    probabilities are a second output that gradients can flow through. NumPy float32 without
    a mask (or causal) and without dropout is the fused path: the softmax and its backward are
    numba row loops (mytorch.ops._kernels_attention) and a causal mask is never built: its
    query rows go in blocks that skip the masked keys. Everything else runs the array-module
    code below.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, scale=1.0, dropout_p=0.0, rng=None, return_weights=False,
                is_causal=False):
        xp = array_module(q)
        fused = (mask is None and dropout_p == 0 and ka.fits(q) and q.shape[-2] > 0
                 and k.shape[-2] > 0)
        ctx.scale, ctx.dropout_p, ctx.fused, ctx.is_causal = scale, dropout_p, fused, is_causal
        if fused:
            y, lse, p = _fused_forward(q, k, v, scale, is_causal, return_weights)
            ctx.save_for_backward(q, k, v, None, lse, None)
            return (y, p) if return_weights else y
        if is_causal:
            causal = causal_mask(q.shape[-2], k.shape[-2], Tensor._wrap(q)).data
            mask = causal if mask is None else mask + causal
        p = _scores(xp, q, k, mask, scale)
        lse = _softmax_(xp, p)
        keep = None
        if dropout_p > 0:
            keep = rng.random(p.shape) >= dropout_p
            p *= keep
            p *= 1.0 / (1.0 - dropout_p)
        y = xp.matmul(p, v)
        ctx.save_for_backward(q, k, v, mask, lse, keep)
        return (y, p) if return_weights else y

    @staticmethod
    def backward(ctx, gy, gw=None):
        q, k, v, mask, lse, keep = ctx.saved_tensors
        xp = array_module(gy)
        gy = _blas_ready(xp, gy.astype(q.dtype, copy=False))  # e.g. a broadcast view from sum()
        needs = ctx.needs_input_grad
        if ctx.fused:
            gq, gk, gv = _fused_backward(q, k, v, lse, gy, gw, ctx.scale, ctx.is_causal, needs)
            return gq, gk, gv, None
        p = _scores(xp, q, k, mask, ctx.scale)
        p -= lse
        xp.exp(p, out=p)  # undropped probabilities, (B.., L, S)
        dpd = xp.matmul(gy, _mT(xp, v))
        if gw is not None:
            dpd += gw
        gv = None
        if keep is not None:
            drop_scale = 1.0 / (1.0 - ctx.dropout_p)
            dpd *= keep
            dpd *= drop_scale
            if needs[2]:
                gv = _t_matmul(xp, p * keep, gy)
                gv *= drop_scale
        elif needs[2]:
            gv = _t_matmul(xp, p, gy)
        ds = dpd
        ds -= (p * dpd).sum(axis=-1, keepdims=True)
        ds *= p  # grad of the scores
        gq = gk = None
        if needs[0]:
            gq = xp.matmul(ds, k)
            gq *= ctx.scale
        if needs[1]:
            gk = _t_matmul(xp, ds, q)
            gk *= ctx.scale
        gmask = ds if needs[3] else None
        return gq, gk, gv, gmask

    @staticmethod
    def composite(q, k, v, mask, scale=1.0, dropout_p=0.0, rng=None, return_weights=False,
                  is_causal=False):
        # create_graph: backward recomputes probabilities in place from a saved log-sum-exp
        if dropout_p > 0:
            raise NotImplementedError("dropout_p > 0 (the dropout mask is not kept for it)")
        if is_causal:
            causal = causal_mask(q.shape[-2], k.shape[-2], q)
            mask = causal if mask is None else mask + causal
        return attention_auto(q, k, v, mask, scale, 0.0, return_weights)


class FlashAttentionFunction(Function):
    """Attention in the fused flash-attention kernels (CUDA float16/32 arrays that
    `cuda_flash_attention.fits`): forward saves q, k, v, the output and the float32 row
    log-sum-exp; backward is the kernels' (it recomputes the probabilities, and regenerates
    the dropout mask from `seed`). The mask (None or an additive float mask) takes no
    gradient: a mask that requires one goes to AttentionFunction.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal=False, scale=1.0, dropout_p=0.0, seed=0):
        y, lse = fa.flash_attention_forward(q, k, v, mask, is_causal, scale, dropout_p, seed)
        ctx.save_for_backward(q, k, v, mask, y, lse)
        ctx.is_causal, ctx.scale, ctx.dropout_p, ctx.seed = is_causal, scale, dropout_p, seed
        return y

    @staticmethod
    def backward(ctx, gy):
        q, k, v, mask, y, lse = ctx.saved_tensors
        gy = gy.astype(y.dtype, copy=False)
        gq, gk, gv = fa.flash_attention_backward(q, k, v, y, lse, gy, mask, ctx.is_causal,
                                                 ctx.scale, ctx.dropout_p, ctx.seed)
        return gq, gk, gv, None

    @staticmethod
    def composite(q, k, v, mask, is_causal=False, scale=1.0, dropout_p=0.0, seed=0):
        # create_graph: the kernels' backward is not differentiable; the same math in Tensor ops
        if dropout_p > 0:
            raise NotImplementedError("dropout_p > 0 (the kernels' dropout draws are not "
                                      "available to Tensor ops)")
        if is_causal:
            causal = causal_mask(q.shape[-2], k.shape[-2], q)
            mask = causal if mask is None else mask + causal
        return attention_auto(q, k, v, mask, scale, 0.0)


def causal_mask(L, S, q):
    """The (L, S) additive causal mask of q's dtype and device: 0 where key j <= query i (top-left
    aligned, as torch's is_causal), -inf elsewhere."""
    xp = array_module(q.data)
    allowed = xp.tril(xp.ones((L, S), dtype=bool))
    return Tensor._wrap(xp.where(allowed, 0, -xp.inf).astype(q.dtype))


def attention_auto(q, k, v, mask, scale, dropout_p, return_weights=False):
    s = q.matmul(k.transpose(-2, -1)) * scale
    if mask is not None:
        s = s + mask
    m = s.detach().amax(-1, keepdim=True)
    m = m.masked_fill(m == -math.inf, 0.0)
    e = (s - m).exp()
    den = e.sum(-1, keepdim=True)
    p = e / den.masked_fill(den == 0, 1.0)
    if dropout_p > 0:
        rng = _random.generator_for(q.device)
        keep = rng.random(tuple(p.shape)) >= dropout_p
        p = p * Tensor._wrap((keep / (1.0 - dropout_p)).astype(p.dtype))
    y = p.matmul(v)
    return (y, p) if return_weights else y
