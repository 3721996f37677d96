"""TransformerDecoderLayer / TransformerDecoder / Transformer against PyTorch with copied weights:
outputs, input gradients and every parameter's gradient."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F

TF = torch.nn.functional
_MY_ACT = {"relu": "relu", "gelu": "gelu", TF.silu: F.silu}


def _np(t):
    return t.detach().cpu().numpy()


def _load(m, t):
    assert list(m.state_dict()) == list(t.state_dict())
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


def _perturb(t):
    """Give every copy of a layer different weights, so stacking order is tested."""
    with torch.no_grad():
        for p in t.parameters():
            p.add_(torch.randn_like(p) * 0.1)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _compare(m, t, inputs, atol=2e-5, rtol=2e-4, **fwd):
    """Forward on both with the positional `inputs` (arrays, all requiring grad) and keyword
    masks/flags `fwd`; backward of the same random projection; compare the output, the gradient
    of every input and of every parameter."""
    xm = [mytorch.tensor(x, requires_grad=True) for x in inputs]
    xt = [torch.from_numpy(x.copy()).requires_grad_(True) for x in inputs]
    tkw = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in fwd.items()}
    mkw = {k: (mytorch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in fwd.items()}
    yt = _quiet(t, *xt, **tkw)
    ym = m(*xm, **mkw)
    assert tuple(ym.shape) == tuple(yt.shape) and ym.dtype == _np(yt).dtype
    np.testing.assert_allclose(_np(ym), _np(yt), atol=atol, rtol=rtol, err_msg="forward")
    proj = np.random.default_rng(7).standard_normal(yt.shape).astype(inputs[0].dtype)
    (yt * torch.from_numpy(proj)).sum().backward()
    (ym * mytorch.tensor(proj)).sum().backward()
    for k, (a, b) in enumerate(zip(xm, xt)):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), atol=atol * 10, rtol=rtol * 10,
                                   err_msg=f"grad of input {k}")
    mp = dict(m.named_parameters())
    assert sorted(mp) == sorted(n for n, _ in t.named_parameters())
    for name, p in t.named_parameters():
        assert mp[name].grad is not None, name
        np.testing.assert_allclose(_np(mp[name].grad), p.grad.numpy(), atol=atol * 10,
                                   rtol=rtol * 10, err_msg=f"grad of {name}")
    return ym


def _causal(s, as_bool=False):
    m = np.triu(np.ones((s, s), bool), 1)
    return m if as_bool else np.where(m, -np.inf, 0.0).astype(np.float32)


def _rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _layer_pair(*args, activation="relu", **kw):
    torch.manual_seed(0)
    t = torch.nn.TransformerDecoderLayer(*args, activation=activation, **kw)
    m = nn.TransformerDecoderLayer(*args, activation=_MY_ACT[activation], **kw)
    _load(m, t)
    return m, t


# ---- TransformerDecoderLayer ----

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", TF.silu])
def test_decoder_layer_matches_torch(batch_first, norm_first, activation):
    m, t = _layer_pair(8, 2, dim_feedforward=16, dropout=0.0, activation=activation,
                       batch_first=batch_first, norm_first=norm_first)
    # tgt length 5, memory length 7, batch 3
    tgt = _rand(3, 5, 8) if batch_first else _rand(5, 3, 8)
    mem = _rand(3, 7, 8, seed=1) if batch_first else _rand(7, 3, 8, seed=1)
    _compare(m, t, [tgt, mem])


def _masks(kind, N, T, S, nhead):
    """Decoder forward keywords for one mask scenario (batch N, tgt T, memory S)."""
    tgt_pad = np.zeros((N, T), bool)
    tgt_pad[0, T - 2:] = True
    mem_pad = np.zeros((N, S), bool)
    mem_pad[-1, S - 3:] = True
    mem_mask = np.zeros((T, S), bool)
    mem_mask[1, :2] = True
    if kind == "causal_float":
        return {"tgt_mask": _causal(T), "tgt_is_causal": True}
    if kind == "causal_bool":
        return {"tgt_mask": _causal(T, as_bool=True)}
    if kind == "tgt_padding":
        return {"tgt_key_padding_mask": tgt_pad}
    if kind == "memory_padding_float":
        return {"memory_key_padding_mask": np.where(mem_pad, -np.inf, 0).astype(np.float32)}
    if kind == "memory_mask_bool":
        return {"memory_mask": mem_mask}
    if kind == "memory_mask_float_per_head":
        w = _rand(N * nhead, T, S, seed=5)
        return {"memory_mask": w}
    if kind == "all":
        return {"tgt_mask": _causal(T), "tgt_key_padding_mask": tgt_pad,
                "memory_mask": np.where(mem_mask, -1e9, 0.5).astype(np.float32),
                "memory_key_padding_mask": mem_pad}
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["causal_float", "causal_bool", "tgt_padding",
                                  "memory_padding_float", "memory_mask_bool",
                                  "memory_mask_float_per_head", "all"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_masks(kind, norm_first):
    m, t = _layer_pair(8, 4, dim_feedforward=12, dropout=0.0, batch_first=True,
                       norm_first=norm_first)
    _compare(m, t, [_rand(2, 5, 8), _rand(2, 6, 8, seed=1)], **_masks(kind, 2, 5, 6, 4))


def test_decoder_layer_memory_is_causal_hint():
    m, t = _layer_pair(8, 2, dim_feedforward=12, dropout=0.0)
    _compare(m, t, [_rand(4, 2, 8), _rand(4, 2, 8, seed=1)], tgt_mask=_causal(4),
             memory_mask=_causal(4), tgt_is_causal=True, memory_is_causal=True)
    with pytest.raises(RuntimeError, match="is_causal"):
        m(mytorch.randn(4, 2, 8), mytorch.randn(4, 2, 8), memory_is_causal=True)
    with pytest.raises(RuntimeError, match="is_causal"):
        m(mytorch.randn(4, 2, 8), mytorch.randn(4, 2, 8), tgt_is_causal=True)


def test_decoder_layer_eval_no_bias_and_unbatched():
    m, t = _layer_pair(6, 3, dim_feedforward=10, dropout=0.3, bias=False, layer_norm_eps=1e-3)
    m.eval(), t.eval()
    sd = m.state_dict()
    assert "linear1.bias" not in sd and "norm3.bias" not in sd
    assert "multihead_attn.in_proj_bias" not in sd
    _compare(m, t, [_rand(4, 6), _rand(3, 6, seed=1)])  # unbatched (T, E), (S, E)
    _compare(m, t, [_rand(4, 6), _rand(3, 6, seed=1)], tgt_mask=_causal(4),
             memory_key_padding_mask=np.array([False, False, True]))
    _compare(m, t, [_rand(4, 2, 6), _rand(3, 2, 6, seed=1)])


def test_decoder_layer_float64():
    torch.manual_seed(0)
    t = torch.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=True,
                                         dtype=torch.float64)
    m = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=True, dtype=mytorch.float64)
    assert m.multihead_attn.in_proj_weight.dtype == np.float64
    assert m.norm3.weight.dtype == np.float64
    _load(m, t)
    tgt, mem = _rand(5, 2, 8, dtype=np.float64), _rand(3, 2, 8, seed=1, dtype=np.float64)
    _compare(m, t, [tgt, mem], atol=1e-10, rtol=1e-8,
             tgt_mask=_causal(5, as_bool=True))


def test_decoder_layer_dropout_in_training_changes_output():
    m = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.5)
    x, mem = mytorch.randn(5, 2, 8), mytorch.randn(3, 2, 8)
    assert not np.allclose(_np(m(x, mem)), _np(m(x, mem)))
    m.eval()
    np.testing.assert_array_equal(_np(m(x, mem)), _np(m(x, mem)))


def test_decoder_layer_structure_and_errors():
    m = nn.TransformerDecoderLayer(16, 4)
    t = torch.nn.TransformerDecoderLayer(16, 4)
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    for (k, a), (tk, b) in zip(m.state_dict().items(), t.state_dict().items()):
        assert k == tk and tuple(a.shape) == tuple(b.shape)
    assert len(m.state_dict()) == len(t.state_dict())
    assert m.linear1.out_features == 2048 and m.dropout3.p == 0.1
    assert m.norm3.eps == 1e-5 and not m.norm_first and not m.multihead_attn.batch_first
    g = nn.TransformerDecoderLayer(16, 4, activation=nn.GELU())
    tg = torch.nn.TransformerDecoderLayer(16, 4, activation=torch.nn.GELU())
    assert [n for n, _ in g.named_children()] == [n for n, _ in tg.named_children()]
    with pytest.raises(RuntimeError, match="TransformerDecoderLayer.*relu/gelu.*'tanh'"):
        nn.TransformerDecoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerDecoderLayer(6, 4)
    layer = nn.TransformerDecoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match="key"):  # memory's batch differs from tgt's
        layer(mytorch.randn(5, 2, 8), mytorch.randn(3, 4, 8))
    with pytest.raises(ValueError, match="memory_mask|attn_mask"):
        layer(mytorch.randn(5, 2, 8), mytorch.randn(3, 2, 8), memory_mask=mytorch.zeros(5, 5))


# ---- TransformerDecoder ----

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("final_norm", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_matches_torch(batch_first, final_norm, norm_first):
    torch.manual_seed(0)
    kw = {"dropout": 0.0, "batch_first": batch_first, "norm_first": norm_first}
    t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, 16, **kw), 3,
                                    norm=torch.nn.LayerNorm(8) if final_norm else None)
    m = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, **kw), 3,
                              norm=nn.LayerNorm(8) if final_norm else None)
    _perturb(t)
    _load(m, t)
    N, T, S = 3, 6, 4
    tgt = _rand(N, T, 8) if batch_first else _rand(T, N, 8)
    mem = _rand(N, S, 8, seed=1) if batch_first else _rand(S, N, 8, seed=1)
    _compare(m, t, [tgt, mem])
    _compare(m, t, [tgt, mem], tgt_mask=_causal(T))
    tgt_pad = np.zeros((N, T), bool)
    tgt_pad[1, 4:] = True
    mem_pad = np.zeros((N, S), bool)
    mem_pad[2, 3:] = True
    _compare(m, t, [tgt, mem], tgt_mask=_causal(T, as_bool=True), tgt_key_padding_mask=tgt_pad,
             memory_key_padding_mask=mem_pad)


def test_decoder_clones_and_causal_hint():
    layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0)
    dec = nn.TransformerDecoder(layer, 2)
    assert len(dec.layers) == 2 and dec.num_layers == 2 and dec.norm is None
    a, b = dec.layers[0], dec.layers[1]
    assert a is not layer and a.multihead_attn.in_proj_weight is not b.multihead_attn.in_proj_weight
    np.testing.assert_array_equal(_np(a.linear2.weight), _np(layer.linear2.weight))
    assert list(dec.state_dict())[0] == "layers.0.self_attn.in_proj_weight"
    tgt, mem = mytorch.randn(4, 2, 8), mytorch.randn(3, 2, 8)
    with pytest.raises(RuntimeError, match="is_causal"):
        dec(tgt, mem, tgt_is_causal=True)
    # a causal mask with the hint detected or given gives the same result
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(_np(dec(tgt, mem, tgt_mask=mask)),
                                  _np(dec(tgt, mem, tgt_mask=mask, tgt_is_causal=True)))
    assert tuple(nn.TransformerDecoder(layer, 0)(tgt, mem).shape) == (4, 2, 8)


# ---- Transformer ----

def _transformer_pair(**kw):
    torch.manual_seed(0)
    t = _quiet(torch.nn.Transformer, **kw)
    m = nn.Transformer(**kw)
    _load(m, t)
    return m, t


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(batch_first, norm_first):
    m, t = _transformer_pair(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                             dim_feedforward=16, dropout=0.0, batch_first=batch_first,
                             norm_first=norm_first)
    N, S, T = 3, 5, 4
    src = _rand(N, S, 8) if batch_first else _rand(S, N, 8)
    tgt = _rand(N, T, 8, seed=1) if batch_first else _rand(T, N, 8, seed=1)
    _compare(m, t, [src, tgt], atol=3e-5)
    src_pad = np.zeros((N, S), bool)
    src_pad[0, 3:] = True
    tgt_pad = np.zeros((N, T), bool)
    tgt_pad[2, 3:] = True
    _compare(m, t, [src, tgt], atol=3e-5,
             tgt_mask=_np(torch.nn.Transformer.generate_square_subsequent_mask(T)),
             src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
             memory_key_padding_mask=src_pad)


def test_transformer_all_masks_float_and_unbatched():
    m, t = _transformer_pair(d_model=8, nhead=4, num_encoder_layers=1, num_decoder_layers=2,
                             dim_feedforward=12, dropout=0.0, activation="gelu")
    S, T = 6, 5
    mem_mask = np.zeros((T, S), np.float32)
    mem_mask[:, -1] = -np.inf
    _compare(m, t, [_rand(S, 2, 8), _rand(T, 2, 8, seed=1)], atol=3e-5,
             src_mask=_causal(S), tgt_mask=_causal(T), memory_mask=mem_mask,
             src_is_causal=True, tgt_is_causal=True)
    # unbatched: src (S, E), tgt (T, E)
    _compare(m, t, [_rand(S, 8, seed=2), _rand(T, 8, seed=3)], atol=3e-5,
             tgt_mask=_causal(T, as_bool=True),
             src_key_padding_mask=np.arange(S) >= S - 1)


def test_transformer_float64_and_no_bias():
    kw = {"d_model": 6, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 1,
          "dim_feedforward": 10, "dropout": 0.0, "bias": False, "layer_norm_eps": 1e-4}
    torch.manual_seed(0)
    t = _quiet(torch.nn.Transformer, **kw, dtype=torch.float64)
    m = nn.Transformer(**kw, dtype=mytorch.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert not any(k.endswith("bias") for k in m.state_dict())
    _load(m, t)
    _compare(m, t, [_rand(4, 2, 6, dtype=np.float64), _rand(3, 2, 6, seed=1, dtype=np.float64)],
             atol=1e-10, rtol=1e-8, tgt_mask=_causal(3).astype(np.float64))


def test_transformer_custom_encoder_decoder():
    def build(lib, **kw):
        enc = lib.TransformerEncoder(lib.TransformerEncoderLayer(8, 2, 16, **kw), 1)
        dec = lib.TransformerDecoder(lib.TransformerDecoderLayer(8, 2, 16, **kw), 2,
                                     norm=lib.LayerNorm(8))
        return enc, dec
    torch.manual_seed(0)
    te, td = _quiet(build, torch.nn, dropout=0.0)
    t = torch.nn.Transformer(d_model=8, nhead=2, custom_encoder=te, custom_decoder=td)
    me, md = build(nn, dropout=0.0)
    m = nn.Transformer(d_model=8, nhead=2, custom_encoder=me, custom_decoder=md)
    assert m.encoder is me and m.decoder is md and m.encoder.norm is None
    _load(m, t)
    _compare(m, t, [_rand(5, 2, 8), _rand(3, 2, 8, seed=1)])


def test_transformer_defaults_structure_and_init():
    m = nn.Transformer()
    t = _quiet(torch.nn.Transformer)
    assert (m.d_model, m.nhead, m.batch_first) == (512, 8, False)
    assert len(m.encoder.layers) == 6 and len(m.decoder.layers) == 6
    assert m.encoder.layers[0].linear1.out_features == 2048
    assert m.decoder.layers[0].dropout.p == 0.1 and m.decoder.norm.eps == 1e-5
    assert isinstance(m.encoder.norm, nn.LayerNorm) and isinstance(m.decoder.norm, nn.LayerNorm)
    msd, tsd = m.state_dict(), t.state_dict()
    assert list(msd) == list(tsd)
    assert all(tuple(msd[k].shape) == tuple(tsd[k].shape) for k in tsd)
    # xavier-uniform on every matrix, layer by layer (so the clones differ, as in PyTorch)
    small = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                           dim_feedforward=32)
    for name, p in small.named_parameters():
        if p.ndim > 1:
            bound = np.sqrt(6 / sum(p.shape))
            w = _np(p)
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.7 * bound, name
    a = small.encoder.layers[0].linear1.weight
    b = small.encoder.layers[1].linear1.weight
    assert not np.array_equal(_np(a), _np(b))
    assert not _np(small.decoder.layers[0].multihead_attn.in_proj_bias).any()


def test_generate_square_subsequent_mask():
    for sz in (0, 1, 4):
        m = nn.Transformer.generate_square_subsequent_mask(sz)
        t = torch.nn.Transformer.generate_square_subsequent_mask(sz)
        assert m.dtype == np.float32 and tuple(m.shape) == (sz, sz)
        np.testing.assert_array_equal(_np(m), t.numpy())
    m64 = nn.Transformer.generate_square_subsequent_mask(3, dtype=mytorch.float64)
    assert m64.dtype == np.float64 and str(m64.device) == "cpu"
    m = nn.Transformer.generate_square_subsequent_mask(3, device="cpu")
    assert m.dtype == mytorch.get_default_dtype()


def test_transformer_shape_errors():
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                       dim_feedforward=8, batch_first=True)
    with pytest.raises(RuntimeError, match=r"Transformer: the batch sizes.*\(2, 5, 8\).*\(3, 4"):
        m(mytorch.randn(2, 5, 8), mytorch.randn(3, 4, 8))
    with pytest.raises(RuntimeError, match=r"d_model \(8\)"):
        m(mytorch.randn(2, 5, 8), mytorch.randn(2, 4, 6))
    with pytest.raises(TypeError, match="tgt_mask must be bool or float"):
        m(mytorch.randn(2, 5, 8), mytorch.randn(2, 4, 8),
          tgt_mask=mytorch.zeros(4, 4, dtype=mytorch.int64))


def test_transformer_trains():
    """A few Adam steps on a toy copy task lower the loss (the graph is connected end to end)."""
    mytorch.manual_seed(0)
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=16, dropout=0.0, batch_first=True)
    opt = mytorch.optim.Adam(model.parameters(), lr=1e-2)
    src = mytorch.randn(4, 5, 8)
    tgt = mytorch.randn(4, 5, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(model(src, tgt, tgt_mask=mask), src)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
