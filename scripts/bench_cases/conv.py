"""Conv/pool fwd+bwd cases: Conv2d (ConvNet sizes), Conv1d, ConvTranspose2d (a DCGAN-style
upsampling layer), MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, and the zoo ConvNet's
forward+backward on an MNIST batch."""
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


def _convnet():
    """zoo ConvNet and the same network in torch modules, same weights, cross-entropy loss."""
    from zoo.convnet import ConvNet

    m = ConvNet()
    widths = [1, 16, 32, 64]
    layers = []
    for i in range(3):
        layers += [torch.nn.Conv2d(widths[i], widths[i + 1], 3, 2, 1, bias=False),
                   torch.nn.BatchNorm2d(widths[i + 1]), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
    t = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                            torch.nn.Linear(64, 10))
    with torch.no_grad():
        for p, tp in zip(m.parameters(), t.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy()))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    mx, my = mytorch.tensor(x), mytorch.tensor(y)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def m_step():
        m.zero_grad()
        mytorch.nn.functional.cross_entropy(m(mx), my).backward()

    def t_step():
        t.zero_grad()
        torch.nn.functional.cross_entropy(t(tx), ty).backward()
    return m_step, t_step


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
    ("Conv2d 16->32 3x3 s2 nobias b64 14x14 (ConvNet block 2)",
     _case(lambda: nn.Conv2d(16, 32, 3, 2, 1, bias=False),
           lambda: torch.nn.Conv2d(16, 32, 3, 2, 1, bias=False), (64, 16, 14, 14))),
    ("Conv1d 64->64 k3 b64 L256", _case(lambda: nn.Conv1d(64, 64, 3, padding=1),
                                        lambda: torch.nn.Conv1d(64, 64, 3, padding=1),
                                        (64, 64, 256))),
    ("ConvTranspose2d 64->32 4x4 s2 b64 7x7", _case(
        lambda: nn.ConvTranspose2d(64, 32, 4, 2, 1),
        lambda: torch.nn.ConvTranspose2d(64, 32, 4, 2, 1), (64, 64, 7, 7))),
    ("ConvNet (zoo) fwd+bwd b64 MNIST", _convnet),
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
