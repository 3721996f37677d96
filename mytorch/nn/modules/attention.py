"""MultiheadAttention with PyTorch's parameters, state_dict keys and mask conventions."""
import math

import numpy as np

import mytorch
from mytorch.backend import array_module
from mytorch.nn import functional as F
from mytorch.nn import init
from mytorch.nn.functional.attention import attention
from mytorch.nn.modules.linear import Linear
from mytorch.nn.modules.module import Module
from mytorch.nn.parameter import Parameter
from mytorch.tensor import Tensor

__all__ = ["MultiheadAttention"]


def _new_param(*shape, device, dtype):
    return Parameter(mytorch.empty(*shape, dtype=dtype, device=device))


def _float_mask(mask, dtype, what):
    """Bool (True = masked out, as nn.MultiheadAttention) or float (added) -> float Tensor."""
    if not isinstance(mask, Tensor):
        mask = mytorch.tensor(mask)
    if mask.dtype == np.bool_:
        xp = array_module(mask.data)
        return Tensor._wrap(xp.where(mask.data, -xp.inf, 0).astype(dtype))
    if mask.dtype.kind != "f":
        raise TypeError(f"MultiheadAttention: {what} must be bool or float, got {mask.dtype}")
    return mask.to(dtype)


class MultiheadAttention(Module):
    """Multi-head attention, softmax(Q K^T / sqrt(head_dim)) V per head, as PyTorch's.

    Parameters: in_proj_weight (3E, E) and in_proj_bias (3E,) (or q/k/v_proj_weight when
    kdim/vdim differ from embed_dim), out_proj (a Linear), optional bias_k/bias_v. Inputs are
    (L, N, E) ((N, L, E) with batch_first, or unbatched (L, E)).

    >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
    >>> out, weights = mha(x, x, x)   # x (N, L, 16): out (N, L, 16), weights (N, L, L)
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, auto=False,
                 device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads}), both positive")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first, self.auto = float(dropout), batch_first, auto
        self.head_dim = embed_dim // num_heads
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _new_param(3 * E, E, device=device, dtype=dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = _new_param(E, E, device=device, dtype=dtype)
            self.k_proj_weight = _new_param(E, self.kdim, device=device, dtype=dtype)
            self.v_proj_weight = _new_param(E, self.vdim, device=device, dtype=dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _new_param(3 * E, device=device, dtype=dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, device=device, dtype=dtype, auto=auto)
        if add_bias_kv:
            self.bias_k = _new_param(1, 1, E, device=device, dtype=dtype)
            self.bias_v = _new_param(1, 1, E, device=device, dtype=dtype)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        """xavier_uniform_ on the input projections, zero biases, as PyTorch."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def extra_repr(self):
        return ""  # PyTorch prints only out_proj

    def _check(self, query, key, value):
        batched = query.ndim == 3
        dims = (self.embed_dim, self.kdim, self.vdim)
        for t, name, d in zip((query, key, value), ("query", "key", "value"), dims):
            if t.ndim != query.ndim or t.ndim not in (2, 3) or t.shape[-1] != d:
                layout = "(N, L" if self.batch_first else "(L, N"
                raise ValueError(f"MultiheadAttention: expected {name} of shape {layout}, {d}) or "
                                 f"unbatched (L, {d}); got query {tuple(query.shape)}, key "
                                 f"{tuple(key.shape)}, value {tuple(value.shape)}")
        if key.shape[:-1] != value.shape[:-1] or (batched and key.shape[0 if self.batch_first
                                                                        else 1]
                                                   != query.shape[0 if self.batch_first else 1]):
            raise ValueError(f"MultiheadAttention: key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} must match in sequence and batch sizes, and "
                             f"the batch size of query {tuple(query.shape)}")
        return batched

    def _project(self, query, key, value, self_attn):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if self_attn:  # one matmul for q, k and v
                return F.linear(query, w, b, auto=self.auto).chunk(3, dim=-1)
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return (F.linear(query, wq, bq, auto=self.auto), F.linear(key, wk, bk, auto=self.auto),
                F.linear(value, wv, bv, auto=self.auto))

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """Returns (attn_output, attn_weights); weights are (N, L, S) averaged over heads,
        (N, num_heads, L, S) with average_attn_weights=False, None with need_weights=False.

        key_padding_mask (N, S) and attn_mask (L, S) or (N * num_heads, L, S): bool masks
        mark positions NOT to attend (True = masked), float masks are added to the scores.
        is_causal is only a hint that attn_mask is causal (attn_mask is required), as PyTorch.
        """
        batched = self._check(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True needs attn_mask (it is a hint "
                               "that attn_mask is the causal mask)")
        self_attn = query is key and key is value
        if self.batch_first and batched:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None and key_padding_mask.ndim == 1:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        L, N, E = query.shape
        H, hd = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value, self_attn)  # (L, N, E), (S, N, E), (S, N, E)
        mask = self._merge_masks(key_padding_mask, attn_mask, N, L, key.shape[0], q.dtype)
        if self.bias_k is not None:
            k = mytorch.cat([k, self.bias_k.expand(1, N, E)], 0)
            v = mytorch.cat([v, self.bias_v.expand(1, N, E)], 0)
            mask = None if mask is None else _pad_last(mask)
        S = k.shape[0]
        q = q.reshape(L, N, H, hd).permute(1, 2, 0, 3)  # (N, H, L, hd)
        k = k.reshape(S, N, H, hd).permute(1, 2, 0, 3)
        v = v.reshape(S, N, H, hd).permute(1, 2, 0, 3)
        if self.add_zero_attn:
            zeros = mytorch.zeros(N, H, 1, hd, dtype=q.dtype, device=q.device)
            k, v = mytorch.cat([k, zeros], 2), mytorch.cat([v, zeros], 2)
            mask = None if mask is None else _pad_last(mask)
        p = self.dropout if self.training else 0.0
        res = attention(q, k, v, mask, 1.0 / math.sqrt(hd), p, return_weights=need_weights,
                        auto=self.auto)
        y, weights = res if need_weights else (res, None)
        y = self.out_proj(y.permute(2, 0, 1, 3).reshape(L, N, E))  # (L, N, E)
        if weights is not None and average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            y = y.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            y = y.transpose(0, 1)
        return y, weights

    def _merge_masks(self, key_padding_mask, attn_mask, N, L, S, dtype):
        """One float mask broadcastable to (N, H, L, S), or None."""
        mask = None
        if attn_mask is not None:
            am = _float_mask(attn_mask, dtype, "attn_mask")
            if tuple(am.shape) == (L, S):
                mask = am
            elif tuple(am.shape) == (N * self.num_heads, L, S):
                mask = am.reshape(N, self.num_heads, L, S)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask should have shape {(L, S)} or "
                                 f"{(N * self.num_heads, L, S)}, got {tuple(am.shape)}")
        if key_padding_mask is not None:
            kpm = _float_mask(key_padding_mask, dtype, "key_padding_mask")
            if tuple(kpm.shape) != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask should have shape "
                                 f"{(N, S)} (batch, source length), got {tuple(kpm.shape)}")
            kpm = kpm.reshape(N, 1, 1, S)
            mask = kpm if mask is None else mask + kpm
        return mask


def _pad_last(mask):
    """Append a zero (attend) column for an extra key."""
    zero = mytorch.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return mytorch.cat([mask, zero], -1)
