"""TransformerEncoderLayer / TransformerEncoder against PyTorch with copied weights: outputs,
input gradients and every parameter's gradient."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F

TF = torch.nn.functional


def _np(t):
    return t.detach().cpu().numpy()


_MY_ACT = {"relu": "relu", "gelu": "gelu", TF.silu: F.silu}


def _layer_pair(*args, activation="relu", **kw):
    """A torch TransformerEncoderLayer and a mytorch one holding the same (torch-initialised)
    weights."""
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(*args, activation=activation, **kw)
    m = nn.TransformerEncoderLayer(*args, activation=_MY_ACT[activation], **kw)
    assert list(m.state_dict()) == list(t.state_dict())
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def _compare(m, t, x, atol=2e-5, rtol=2e-4, **fwd):
    """Forward on both, backward of the same random projection; compare out, dx, dparams."""
    xm = mytorch.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    tkw = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in fwd.items()}
    mkw = {k: (mytorch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in fwd.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yt = t(xt, **tkw)
    ym = m(xm, **mkw)
    np.testing.assert_allclose(_np(ym), yt.detach().numpy(), atol=atol, rtol=rtol,
                               err_msg="forward")
    proj = np.random.default_rng(7).standard_normal(yt.shape).astype(x.dtype)
    (yt * torch.from_numpy(proj)).sum().backward()
    (ym * mytorch.tensor(proj)).sum().backward()
    np.testing.assert_allclose(_np(xm.grad), xt.grad.numpy(), atol=atol * 10, rtol=rtol * 10,
                               err_msg="input grad")
    mp = dict(m.named_parameters())
    for name, p in t.named_parameters():
        assert mp[name].grad is not None, name
        np.testing.assert_allclose(_np(mp[name].grad), p.grad.numpy(), atol=atol * 10,
                                   rtol=rtol * 10, err_msg=f"grad of {name}")
    return ym


def _causal(s, as_bool=False):
    m = np.triu(np.ones((s, s), bool), 1)
    return m if as_bool else np.where(m, -np.inf, 0.0).astype(np.float32)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", TF.silu])
def test_encoder_layer_matches_torch(batch_first, norm_first, activation):
    m, t = _layer_pair(8, 2,
                 dim_feedforward=16, dropout=0.0, activation=activation,
                 batch_first=batch_first, norm_first=norm_first)
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    _compare(m, t, x)


@pytest.mark.parametrize("masks", ["causal_float", "causal_bool", "padding", "both"])
def test_encoder_layer_masks(masks):
    m, t = _layer_pair(8, 4,
                 dim_feedforward=12, dropout=0.0, batch_first=True)
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    kw = {}
    if masks in ("causal_float", "both"):
        kw["src_mask"] = _causal(5)
    if masks == "causal_bool":
        kw["src_mask"] = _causal(5, as_bool=True)
    if masks in ("padding", "both"):
        pad = np.zeros((2, 5), bool)
        pad[0, 3:] = True
        kw["src_key_padding_mask"] = pad if masks == "padding" else np.where(
            pad, -np.inf, 0.0).astype(np.float32)
    if masks == "causal_float":
        kw["is_causal"] = True
    _compare(m, t, x, **kw)


def test_encoder_layer_eval_mode_with_dropout_no_bias_and_unbatched():
    m, t = _layer_pair(6, 3,
                 dim_feedforward=10, dropout=0.3, bias=False, layer_norm_eps=1e-3)
    m.eval(), t.eval()
    assert list(m.state_dict()) == list(t.state_dict())
    assert "linear1.bias" not in m.state_dict() and "norm1.bias" not in m.state_dict()
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)  # unbatched (S, E)
    _compare(m, t, x)
    x3 = np.random.default_rng(3).standard_normal((4, 2, 6)).astype(np.float32)
    _compare(m, t, x3)


def test_encoder_layer_float64():
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=torch.float64)
    m = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=mytorch.float64)
    assert m.linear1.weight.dtype == np.float64 and m.self_attn.in_proj_weight.dtype == np.float64
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((5, 2, 8))
    _compare(m, t, x, atol=1e-10, rtol=1e-8)


def test_encoder_layer_dropout_in_training_changes_output():
    m = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = mytorch.randn(5, 2, 8)
    assert not np.allclose(_np(m(x)), _np(m(x)))
    m.eval()
    np.testing.assert_array_equal(_np(m(x)), _np(m(x)))


def test_encoder_layer_structure_and_init():
    m = nn.TransformerEncoderLayer(16, 4)
    t = torch.nn.TransformerEncoderLayer(16, 4)
    names = [n for n, _ in t.named_children()]
    assert [n for n, _ in m.named_children()] == names
    for (k, a), (tk, b) in zip(m.state_dict().items(), t.state_dict().items()):
        assert k == tk and tuple(a.shape) == tuple(b.shape)
    assert m.linear1.out_features == 2048 and m.dropout.p == 0.1
    assert m.norm1.eps == 1e-5 and not m.norm_first and not m.self_attn.batch_first
    # PyTorch's default inits: xavier-uniform in-projection, zero in-projection bias
    w = _np(m.self_attn.in_proj_weight)
    bound = np.sqrt(6 / (16 + 48))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert not _np(m.self_attn.in_proj_bias).any()
    g = nn.TransformerEncoderLayer(16, 4, activation=nn.GELU())
    tg = torch.nn.TransformerEncoderLayer(16, 4, activation=torch.nn.GELU())
    assert [n for n, _ in g.named_children()] == [n for n, _ in tg.named_children()]
    assert list(g.state_dict()) == list(tg.state_dict())
    with pytest.raises(RuntimeError, match="relu/gelu.*'tanh'"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(6, 4)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("final_norm", [False, True])
def test_encoder_matches_torch(batch_first, final_norm):
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=batch_first)
    ml = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=batch_first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.nn.TransformerEncoder(tl, 3, norm=torch.nn.LayerNorm(8) if final_norm
                                        else None)
    m = nn.TransformerEncoder(ml, 3, norm=nn.LayerNorm(8) if final_norm else None)
    assert list(m.state_dict()) == list(t.state_dict())
    # give each layer different weights so the stack order is tested
    with torch.no_grad():
        for p in t.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 6, 8) if batch_first else (6, 3, 8))
    x = x.astype(np.float32)
    _compare(m, t, x)
    _compare(m, t, x, mask=_causal(6))
    pad = np.zeros((3, 6), bool)
    pad[1, 4:] = True
    _compare(m, t, x, mask=_causal(6, as_bool=True), src_key_padding_mask=pad)


def test_encoder_clones_and_causal_detection():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 2)
    assert len(enc.layers) == 2 and enc.num_layers == 2
    a, b = enc.layers[0], enc.layers[1]
    assert a is not layer and a.linear1.weight is not b.linear1.weight
    np.testing.assert_array_equal(_np(a.linear1.weight), _np(layer.linear1.weight))
    assert [k for k in enc.state_dict()][0] == "layers.0.self_attn.in_proj_weight"
    from mytorch.nn.modules.transformer import _is_causal
    causal = mytorch.tensor(_causal(4))
    assert _is_causal(causal, None, 4) and not _is_causal(causal, None, 5)
    assert not _is_causal(mytorch.zeros(4, 4), None, 4)
    assert _is_causal(None, True, 4) and not _is_causal(causal, False, 4)
    with pytest.raises(RuntimeError, match="is_causal"):
        enc(mytorch.randn(4, 2, 8), is_causal=True)


def test_encoder_trains():
    """A few Adam steps on a toy task lower the loss (the graph is connected end to end)."""
    mytorch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                          batch_first=True), 2)
    head = nn.Linear(8, 1)
    params = list(enc.parameters()) + list(head.parameters())
    opt = mytorch.optim.Adam(params, lr=1e-2)
    x = mytorch.randn(4, 5, 8)
    y = x.sum(-1, keepdim=True)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(head(enc(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
