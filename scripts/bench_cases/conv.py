"""Conv/pool fwd+bwd cases: Conv2d (ConvNet sizes), MaxPool2d, AvgPool2d, AdaptiveAvgPool2d."""
import numpy as np
import torch

import mytorch
import mytorch.nn as nn


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return (mytorch.tensor(a, requires_grad=True), torch.from_numpy(a.copy()).requires_grad_())


def _steps(m, t, shape):
    """fwd+bwd of module m (mytorch) and t (torch) on the same input, same output gradient."""
    mx, tx = _pair(shape)
    with torch.no_grad():
        for p, tp in zip(m.parameters(), t.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy()))
    out_shape = tuple(t(tx).shape)
    g = np.random.default_rng(1).standard_normal(out_shape).astype(np.float32)
    mg, tg = mytorch.tensor(g), torch.from_numpy(g)

    def m_step():
        mx.grad = None
        m.zero_grad()
        m(mx).backward(mg)

    def t_step():
        tx.grad = None
        t.zero_grad()
        t(tx).backward(tg)
    return m_step, t_step


def _case(make_m, make_t, shape):
    return lambda: _steps(make_m(), make_t(), shape)


CASES = [
    ("Conv2d 32->64 3x3 b64 28x28", _case(lambda: nn.Conv2d(32, 64, 3, padding=1),
                                          lambda: torch.nn.Conv2d(32, 64, 3, padding=1),
                                          (64, 32, 28, 28))),
    ("Conv2d 64->64 3x3 b64 14x14", _case(lambda: nn.Conv2d(64, 64, 3, padding=1),
                                          lambda: torch.nn.Conv2d(64, 64, 3, padding=1),
                                          (64, 64, 14, 14))),
    ("Conv2d 1->32 3x3 b64 28x28", _case(lambda: nn.Conv2d(1, 32, 3, padding=1),
                                         lambda: torch.nn.Conv2d(1, 32, 3, padding=1),
                                         (64, 1, 28, 28))),
    ("Conv2d 32->64 3x3 s2 b64 28x28", _case(lambda: nn.Conv2d(32, 64, 3, 2, 1),
                                             lambda: torch.nn.Conv2d(32, 64, 3, 2, 1),
                                             (64, 32, 28, 28))),
    ("MaxPool2d 2 b64 64x28x28", _case(lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2),
                                       (64, 64, 28, 28))),
    ("AvgPool2d 2 b64 64x28x28", _case(lambda: nn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2),
                                       (64, 64, 28, 28))),
    ("AdaptiveAvgPool2d 1 b64 64x14x14", _case(lambda: nn.AdaptiveAvgPool2d(1),
                                               lambda: torch.nn.AdaptiveAvgPool2d(1),
                                               (64, 64, 14, 14))),
    ("AdaptiveAvgPool2d 5 b64 64x14x14", _case(lambda: nn.AdaptiveAvgPool2d(5),
                                               lambda: torch.nn.AdaptiveAvgPool2d(5),
                                               (64, 64, 14, 14))),
]
