"""Transformer, its encoder and decoder stacks and their layers, with PyTorch's submodules,
state_dict keys and mask conventions, on top of nn.MultiheadAttention."""
import copy

import numpy as np

import mytorch
from mytorch.nn import functional as F
from mytorch.nn import init
from mytorch.nn.modules.attention import MultiheadAttention, _float_mask
from mytorch.nn.modules.container import ModuleList
from mytorch.nn.modules.dropout import Dropout
from mytorch.nn.modules.linear import Linear
from mytorch.nn.modules.module import Module
from mytorch.nn.modules.normalization import LayerNorm

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer"]


def _activation(activation, who="TransformerEncoderLayer"):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if isinstance(activation, str) or not callable(activation):
        raise RuntimeError(f"{who}: activation should be relu/gelu or a callable, not "
                           f"{activation!r}")
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
        is_causal = _is_causal(mask, is_causal, _seq_len(src, self.layers))
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, is_causal=is_causal,
                        src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)


class TransformerDecoderLayer(Module):
    """Self-attention on the target, cross-attention to `memory`, then a feed-forward block,
    each with dropout, a residual and LayerNorm (after the residual, or before each block with
    norm_first), as PyTorch's.

    Submodules: self_attn, multihead_attn, linear1, dropout, linear2, norm1, norm2, norm3,
    dropout1, dropout2, dropout3 (and activation when it is a Module). tgt is (T, N, E) and
    memory (S, N, E) ((N, T, E) and (N, S, E) with batch_first, or unbatched (T, E), (S, E)).

    >>> layer = nn.TransformerDecoderLayer(d_model=64, nhead=4, batch_first=True)
    >>> y = layer(tgt, memory)     # tgt (N, T, 64), memory (N, S, 64) -> (N, T, 64)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        """tgt_mask (T, T) or (N * nhead, T, T), memory_mask (T, S) or (N * nhead, T, S),
        tgt_key_padding_mask (N, T), memory_key_padding_mask (N, S): bool (True = do not
        attend) or float (added to the scores). The *_is_causal flags only hint that the
        matching mask is causal (the mask is still required)."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


class TransformerDecoder(Module):
    """A stack of `num_layers` copies of `decoder_layer` (deep copies, so they start equal, as
    PyTorch's), each attending to the same `memory`, then the optional final `norm`.

    >>> dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(64, 4), num_layers=6)
    >>> y = dec(tgt, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(T))
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([_clone(decoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        """Masks as TransformerDecoderLayer's. tgt_is_causal=None detects whether `tgt_mask`
        is the causal mask."""
        dtype = tgt.dtype
        tgt_mask = _maybe_float_mask(tgt_mask, dtype, "tgt_mask")
        memory_mask = _maybe_float_mask(memory_mask, dtype, "memory_mask")
        tgt_key_padding_mask = _maybe_float_mask(tgt_key_padding_mask, dtype,
                                                 "tgt_key_padding_mask")
        memory_key_padding_mask = _maybe_float_mask(memory_key_padding_mask, dtype,
                                                    "memory_key_padding_mask")
        tgt_is_causal = _is_causal(tgt_mask, tgt_is_causal, _seq_len(tgt, self.layers))
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """The encoder-decoder transformer of "Attention Is All You Need", as PyTorch's: an
    `encoder` (TransformerEncoder with a final LayerNorm) reads `src`, a `decoder`
    (TransformerDecoder with a final LayerNorm) reads `tgt` and attends to the encoder's output.
    custom_encoder / custom_decoder replace the default stacks. Every parameter with more than
    one dim is re-initialised xavier-uniform, as PyTorch does.

    src is (S, N, E) and tgt (T, N, E) ((N, S, E), (N, T, E) with batch_first, or unbatched
    (S, E), (T, E)); the output has tgt's shape.

    >>> model = nn.Transformer(d_model=64, nhead=4, batch_first=True)
    >>> mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
    >>> y = model(src, tgt, tgt_mask=mask)     # (N, T, 64)
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **kw), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **kw), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        """src_mask (S, S), tgt_mask (T, T), memory_mask (T, S) (or with a leading
        N * nhead dim); src/tgt/memory_key_padding_mask (N, S), (N, T), (N, S): bool (True = do
        not attend) or float (added). src_is_causal / tgt_is_causal=None detect causal masks."""
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise RuntimeError(f"Transformer: the batch sizes of src {tuple(src.shape)} and tgt "
                               f"{tuple(tgt.shape)} must be equal (batch_first="
                               f"{self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature sizes of src {tuple(src.shape)} and "
                               f"tgt {tuple(tgt.shape)} must equal d_model ({self.d_model})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The (sz, sz) causal mask: -inf above the diagonal (future positions), 0 elsewhere.

        >>> nn.Transformer.generate_square_subsequent_mask(3)
        tensor([[0.0000,   -inf,   -inf],
                [0.0000, 0.0000,   -inf],
                [0.0000, 0.0000, 0.0000]])
        """
        dtype = mytorch.get_default_dtype() if dtype is None else dtype
        return mytorch.full((sz, sz), float("-inf"), dtype=dtype, device=device).triu(1)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)


def _clone(module):
    # deepcopy round-trips parameters through host memory; put the copy where the original is
    clone = copy.deepcopy(module)
    dev = next((p.device for p in module.parameters()), None)
    return clone if dev is None else clone.to(dev)


def _maybe_float_mask(mask, dtype, what):
    return None if mask is None else _float_mask(mask, dtype, what)


def _seq_len(x, layers):
    """The sequence length of a stack's input: (S, E), (S, N, E) or, batch_first, (N, S, E)."""
    batch_first = len(layers) > 0 and layers[0].self_attn.batch_first
    return x.shape[0] if x.ndim == 2 else x.shape[1 if batch_first else 0]


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
