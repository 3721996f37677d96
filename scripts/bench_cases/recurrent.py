"""Per-layer fwd+bwd cases: LSTM, GRU, RNN (2 layers), scaled_dot_product_attention, MHA."""
import numpy as np
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F

T, B, F_IN, H = 50, 32, 64, 128  # sequence: (seq, batch, features), hidden size


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return (mytorch.tensor(a, requires_grad=True), torch.from_numpy(a.copy()).requires_grad_())


def _steps(m_fn, t_fn, mx, tx, m_params=(), t_params=()):
    """fwd + bwd of sum(output) for both frameworks."""
    def m_step():
        for p in (mx, *m_params):
            p.grad = None
        m_fn(mx).sum().backward()

    def t_step():
        for p in (tx, *t_params):
            p.grad = None
        t_fn(tx).sum().backward()
    return m_step, t_step


def _sequence(cls, tcls):
    def setup():
        m, t = cls(F_IN, H, num_layers=2), tcls(F_IN, H, num_layers=2)
        t.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                           for k, v in m.state_dict().items()})
        mx, tx = _pair((T, B, F_IN))
        return _steps(lambda x: m(x)[0], lambda x: t(x)[0], mx, tx, list(m.parameters()),
                      list(t.parameters()))
    return setup


def sdpa():
    (mq, tq), (mk, tk), (mv, tv) = (_pair((8, 4, 128, 32), s) for s in range(3))
    return _steps(lambda q: F.scaled_dot_product_attention(q, mk, mv, is_causal=True),
                  lambda q: torch.nn.functional.scaled_dot_product_attention(q, tk, tv,
                                                                             is_causal=True),
                  mq, tq)


def mha():
    m = nn.MultiheadAttention(128, 4, batch_first=True)
    t = torch.nn.MultiheadAttention(128, 4, batch_first=True)
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    mx, tx = _pair((16, 64, 128))
    return _steps(lambda x: m(x, x, x, need_weights=False)[0],
                  lambda x: t(x, x, x, need_weights=False)[0], mx, tx, list(m.parameters()),
                  list(t.parameters()))


CASES = [
    ("LSTM 2x(64->128) T=50 B=32", _sequence(nn.LSTM, torch.nn.LSTM)),
    ("GRU 2x(64->128) T=50 B=32", _sequence(nn.GRU, torch.nn.GRU)),
    ("RNN 2x(64->128) T=50 B=32", _sequence(nn.RNN, torch.nn.RNN)),
    ("sdpa causal (8,4,128,32)", sdpa),
    ("MultiheadAttention E=128 h=4 (16,64)", mha),
]
