import math

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from mytorch.nn.functional import recurrent as R
from tests.helpers import check

I, H, B, T = 3, 4, 2, 5
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _copy_to_torch(m, tm):
    tm.load_state_dict({k: torch.from_numpy(v.detach().cpu().numpy().copy())
                        for k, v in m.state_dict().items()})


def _np(t):
    return t.detach().cpu().numpy()


def _flat(out):
    """(y, h) / (y, (h, c)) -> list of tensors."""
    res = []
    for o in out if isinstance(out, tuple) else (out,):
        res.extend(o if isinstance(o, tuple) else (o,))
    return res


def _check_module_parity(m, tm, args, device="cpu", atol=1e-5):
    """Forward values, then grads of every float input and every parameter."""
    _copy_to_torch(m, tm)
    m.to(device)
    rng = np.random.default_rng(3)
    m_args = [mytorch.Tensor(a, device=device, requires_grad=True) if isinstance(a, np.ndarray)
              else tuple(mytorch.Tensor(x, device=device, requires_grad=True) for x in a)
              if isinstance(a, tuple) else a for a in args]
    t_args = [torch.from_numpy(a.copy()).requires_grad_() if isinstance(a, np.ndarray)
              else tuple(torch.from_numpy(x.copy()).requires_grad_() for x in a)
              if isinstance(a, tuple) else a for a in args]
    m_out, t_out = _flat(m(*m_args)), _flat(tm(*t_args))
    assert len(m_out) == len(t_out)
    loss_m = loss_t = 0
    for mo, to in zip(m_out, t_out):
        assert tuple(mo.shape) == tuple(to.shape)
        np.testing.assert_allclose(_np(mo), to.detach().numpy(), atol=atol, rtol=1e-4)
        p = rng.standard_normal(tuple(to.shape)).astype(np.float32)
        loss_m = loss_m + (mo * mytorch.Tensor(p, device=device)).sum()
        loss_t = loss_t + (to * torch.from_numpy(p)).sum()
    loss_m.backward()
    loss_t.backward()
    leaves_m = [a for x in m_args for a in (x if isinstance(x, tuple) else (x,))
                if isinstance(a, mytorch.Tensor)]
    leaves_t = [a for x in t_args for a in (x if isinstance(x, tuple) else (x,))
                if isinstance(a, torch.Tensor)]
    for a, b in zip(leaves_m, leaves_t):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), atol=atol * 10, rtol=1e-3)
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(_np(p.grad), tp[name].grad.numpy(), atol=atol * 10,
                                   rtol=1e-3, err_msg=name)
    return m_out


# ---- functional cells against torch's cell functions ----

@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_functions_match_torch(kind, auto, bias, device):
    G = GATES[kind] * H
    mfn, tfn = getattr(F, kind + "_cell"), getattr(torch, kind + "_cell")
    shapes = [(B, I), (B, H), (G, I), (G, H)] + ([(G,), (G,)] if bias else [])
    if kind == "lstm":
        shapes.insert(2, (B, H))

        def fn(x, h, c, *w):
            return mfn(x, (h, c), *w, auto=auto) if isinstance(x, mytorch.Tensor) \
                else tfn(x, (h, c), *w)
    else:
        def fn(x, h, *w):
            return mfn(x, h, *w, auto=auto) if isinstance(x, mytorch.Tensor) else tfn(x, h, *w)
    check(fn, shapes, device=device)


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_cell_function_gradcheck(kind):
    rng = np.random.default_rng(0)
    G = GATES[kind] * 2
    shapes = [(2, 3), (2, 2), (G, 3), (G, 2), (G,), (G,)]
    args = [mytorch.tensor(rng.uniform(-1, 1, s), requires_grad=True) for s in shapes]
    if kind == "rnn_relu":  # keep away from the kink at 0
        args[4] = mytorch.tensor(np.full(G, 2.0), requires_grad=True)
    if kind == "lstm":
        c = mytorch.tensor(rng.uniform(-1, 1, (2, 2)), requires_grad=True)
        assert gradcheck(lambda x, h, c, *w: R.lstm_cell(x, (h, c), *w),
                         [args[0], args[1], c] + args[2:])
    else:
        fn = getattr(R, kind + "_cell")
        assert gradcheck(fn, args)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_layer_function_gradcheck(mode, reverse):
    rng = np.random.default_rng(1)
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[mode] * 2
    x = mytorch.tensor(rng.uniform(-1, 1, (3, 2, 3)), requires_grad=True)
    states = [mytorch.tensor(rng.uniform(-1, 1, (2, 2)), requires_grad=True)
              for _ in range(2 if mode == "LSTM" else 1)]
    ws = [mytorch.tensor(rng.uniform(-1, 1, s), requires_grad=True)
          for s in [(G, 3), (G, 2), (G,), (G,)]]
    n = len(states)

    def fn(x, *rest):
        return R.recurrent_layer(mode, x, list(rest[:n]), *rest[n:], reverse=reverse)
    assert gradcheck(fn, [x] + states + ws)


# ---- cell modules ----

CELLS = [(nn.RNNCell, torch.nn.RNNCell, {}), (nn.RNNCell, torch.nn.RNNCell,
                                              {"nonlinearity": "relu"}),
         (nn.LSTMCell, torch.nn.LSTMCell, {}), (nn.GRUCell, torch.nn.GRUCell, {})]


@pytest.mark.parametrize("cls,tcls,kw", CELLS)
@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_cell_modules_match_torch(cls, tcls, kw, auto, with_state, device):
    m, tm = cls(I, H, auto=auto, **kw), tcls(I, H, **kw)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, I)).astype(np.float32)
    args = [x]
    if with_state:
        h = rng.standard_normal((B, H)).astype(np.float32)
        args.append((h, h * 0.5) if cls is nn.LSTMCell else h)
    _check_module_parity(m, tm, args, device)


@pytest.mark.parametrize("cls,tcls,kw", CELLS)
def test_cell_modules_unbatched_and_no_bias(cls, tcls, kw):
    m, tm = cls(I, H, bias=False, **kw), tcls(I, H, bias=False, **kw)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight_ih", "weight_hh"]
    assert repr(m) == repr(tm)
    x = np.random.default_rng(0).standard_normal(I).astype(np.float32)
    out = _check_module_parity(m, tm, [x])
    assert tuple(out[0].shape) == (H,)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_init_and_keys(cls):
    m = cls(I, 16)
    tm = getattr(torch.nn, cls.__name__)(I, 16)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    bound = 1 / math.sqrt(16)
    for p in m.parameters():
        a = _np(p)
        assert np.abs(a).max() <= bound and a.std() > bound / 4


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_bad_input(cls):
    m = cls(I, H)
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(2, 7\)"):
        m(mytorch.randn(2, 7))
    h = mytorch.randn(3, H)
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(2, {H}\).*\(3, {H}\)"):
        m(mytorch.randn(2, I), (h, h) if cls is nn.LSTMCell else h)
    with pytest.raises(TypeError, match=rf"{cls.__name__}.*float64"):
        m(mytorch.randn(2, I, dtype=mytorch.float64))
    with pytest.raises(RuntimeError, match=r"lstm_cell.*w_ih"):
        F.lstm_cell(mytorch.randn(2, I), (mytorch.randn(2, H), mytorch.randn(2, H)),
                    mytorch.randn(4 * H, I + 1), mytorch.randn(4 * H, H))


# ---- sequence modules ----

SEQ = [(nn.RNN, torch.nn.RNN), (nn.LSTM, torch.nn.LSTM), (nn.GRU, torch.nn.GRU)]


def _seq_args(cls, num_layers, batch_first, with_state, D=1, batched=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    if not batched:
        x = x[0] if batch_first else x[:, 0]
    args = [x]
    if with_state:
        shape = (num_layers * D, B, H) if batched else (num_layers * D, H)
        h = rng.standard_normal(shape).astype(np.float32)
        args.append((h, rng.standard_normal(shape).astype(np.float32)) if cls is nn.LSTM else h)
    return args


@pytest.mark.parametrize("cls,tcls", SEQ)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("auto", [False, True])
def test_sequence_modules_match_torch(cls, tcls, num_layers, batch_first, with_state, auto,
                                      device):
    m = cls(I, H, num_layers=num_layers, batch_first=batch_first, dropout=0.0, auto=auto)
    tm = tcls(I, H, num_layers=num_layers, batch_first=batch_first)
    _check_module_parity(m, tm, _seq_args(cls, num_layers, batch_first, with_state), device)


@pytest.mark.parametrize("cls,tcls", SEQ)
@pytest.mark.parametrize("auto", [False, True])
def test_sequence_bidirectional_match_torch(cls, tcls, auto):
    m = cls(I, H, num_layers=2, bidirectional=True, auto=auto)
    tm = tcls(I, H, num_layers=2, bidirectional=True)
    out = _check_module_parity(m, tm, _seq_args(cls, 2, False, True, D=2))
    assert tuple(out[0].shape) == (T, B, 2 * H)


@pytest.mark.parametrize("cls,tcls", SEQ)
@pytest.mark.parametrize("batch_first", [False, True])
def test_sequence_unbatched_relu_no_bias(cls, tcls, batch_first):
    kw = {"nonlinearity": "relu"} if cls is nn.RNN else {}
    m = cls(I, H, num_layers=2, bias=False, batch_first=batch_first, **kw)
    tm = tcls(I, H, num_layers=2, bias=False, batch_first=batch_first, **kw)
    out = _check_module_parity(m, tm, _seq_args(cls, 2, batch_first, True, batched=False))
    assert tuple(out[0].shape) == (T, H)


@pytest.mark.parametrize("cls,tcls", SEQ)
def test_sequence_keys_and_repr(cls, tcls):
    kw = dict(num_layers=2, batch_first=True, dropout=0.5, bidirectional=True)
    m, tm = cls(I, H, **kw), tcls(I, H, **kw)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    assert repr(m) == repr(tm)
    bound = 1 / math.sqrt(H)
    assert all(np.abs(_np(p)).max() <= bound for p in m.parameters())


@pytest.mark.parametrize("cls,tcls", SEQ)
def test_sequence_dropout_train_and_eval(cls, tcls):
    m = cls(I, 8, num_layers=2, dropout=0.5)
    tm = tcls(I, 8, num_layers=2, dropout=0.5)
    _copy_to_torch(m, tm)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    y1, y2 = _np(_flat(m(mytorch.Tensor(x)))[0]), _np(_flat(m(mytorch.Tensor(x)))[0])
    assert not np.allclose(y1, y2)
    m.eval()
    tm.eval()
    ye = _np(_flat(m(mytorch.Tensor(x)))[0])
    np.testing.assert_allclose(ye, _np(_flat(m(mytorch.Tensor(x)))[0]))
    np.testing.assert_allclose(ye, _flat(tm(torch.from_numpy(x)))[0].detach().numpy(),
                               atol=1e-5)
    # Training mode with dropout still backpropagates into every parameter.
    m.train()
    _flat(m(mytorch.Tensor(x)))[0].sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_sequence_bad_input(cls):
    m = cls(I, H, num_layers=2)
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*{I}.*\(5, 2, 7\)"):
        m(mytorch.randn(5, 2, 7))
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(5, 2, 3, 1\)"):
        m(mytorch.randn(5, 2, 3, 1))
    h = mytorch.randn(1, 2, H)  # num_layers says 2
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(2, 2, {H}\).*\(1, 2, {H}\)"):
        m(mytorch.randn(5, 2, I), (h, h) if cls is nn.LSTM else h)
    with pytest.raises(TypeError, match=rf"{cls.__name__}.*float64.*float32"):
        m(mytorch.randn(5, 2, I, dtype=mytorch.float64))
    with pytest.raises(ValueError, match="dropout"):
        cls(I, H, dropout=1.5)


def test_double_module_matches_torch():
    m, tm = nn.LSTM(I, H, num_layers=2).double(), torch.nn.LSTM(I, H, num_layers=2).double()
    _copy_to_torch(m, tm)
    x = np.random.default_rng(0).standard_normal((T, B, I))
    y, (h, c) = m(mytorch.Tensor(x))
    assert y.dtype == mytorch.float64
    np.testing.assert_allclose(_np(y), tm(torch.from_numpy(x))[0].detach().numpy(), atol=1e-12)
