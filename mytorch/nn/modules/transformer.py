"""TransformerEncoderLayer and TransformerEncoder with PyTorch's submodules, state_dict keys and
mask conventions, on top of nn.MultiheadAttention."""
import copy

import numpy as np

from mytorch.nn import functional as F
from mytorch.nn.modules.attention import MultiheadAttention, _float_mask
from mytorch.nn.modules.container import ModuleList
from mytorch.nn.modules.dropout import Dropout
from mytorch.nn.modules.linear import Linear
from mytorch.nn.modules.module import Module
from mytorch.nn.modules.normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder"]


def _activation(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if isinstance(activation, str) or not callable(activation):
        raise RuntimeError(f"TransformerEncoderLayer: activation should be relu/gelu or a "
                           f"callable, not {activation!r}")
    return activation


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with dropout, a residual and LayerNorm
    (after the residual, or before each block with norm_first), as PyTorch's.

    Submodules: self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2 (and
    activation when it is a Module). Inputs are (S, N, E) ((N, S, E) with batch_first, or
    unbatched (S, E)).

    >>> layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, batch_first=True)
    >>> y = layer(x)     # x (N, S, 64) -> (N, S, 64)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """src_mask (S, S) or (N * nhead, S, S) and src_key_padding_mask (N, S): bool (True =
        do not attend) or float (added to the scores). is_causal only hints that src_mask is
        the causal mask (src_mask is still required)."""
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerEncoder(Module):
    """A stack of `num_layers` copies of `encoder_layer` (deep copies, so they start equal, as
    PyTorch's), then the optional final `norm`. enable_nested_tensor and mask_check are
    accepted for PyTorch compatibility; there is no nested-tensor fast path.

    >>> enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4), num_layers=6)
    >>> y = enc(x, mask=causal_mask)
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = ModuleList([_clone(encoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor, self.use_nested_tensor = enable_nested_tensor, False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """mask (S, S) or (N * nhead, S, S), src_key_padding_mask (N, S): bool (True = do not
        attend) or float (added). is_causal=None detects whether `mask` is the causal mask."""
        if mask is not None:
            mask = _float_mask(mask, src.dtype, "mask")
        if src_key_padding_mask is not None:
            src_key_padding_mask = _float_mask(src_key_padding_mask, src.dtype,
                                               "src_key_padding_mask")
        first = self.layers[0] if len(self.layers) else None
        batch_first = first is not None and first.self_attn.batch_first
        seq_len = src.shape[0] if src.ndim == 2 else src.shape[1 if batch_first else 0]
        is_causal = _is_causal(mask, is_causal, seq_len)
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, is_causal=is_causal,
                        src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)


def _clone(module):
    # deepcopy round-trips parameters through host memory; put the copy where the original is
    clone = copy.deepcopy(module)
    dev = next((p.device for p in module.parameters()), None)
    return clone if dev is None else clone.to(dev)


def _is_causal(mask, is_causal, size):
    """is_causal as given, or (None) whether the float `mask` is the (size, size) causal mask:
    -inf above the diagonal, 0 elsewhere."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    if tuple(mask.shape) != (size, size):
        return False
    m = mask.detach().cpu().numpy()
    causal = np.triu(np.full((size, size), -np.inf), 1)
    return bool(np.array_equal(m, causal))
