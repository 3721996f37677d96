"""Core engine cases: per-node autograd overhead, long chains, large elementwise ops,
batched matmul and a softmax-like composite, each fwd+bwd."""
import numpy as np
import torch

import mytorch

BIG = 4 * 1024 * 1024  # floats in the large elementwise cases


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return (mytorch.tensor(a, requires_grad=True), torch.from_numpy(a.copy()).requires_grad_())


def _leaves(*pairs):
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _steps(fn, m_in, t_in, grad_shape=None):
    """fwd+bwd steps; a non-scalar output is backpropagated with a fixed random gradient."""
    if grad_shape is not None:
        g = np.random.default_rng(1).standard_normal(grad_shape).astype(np.float32)
        mg, tg = mytorch.tensor(g), torch.from_numpy(g)
    else:
        mg = tg = None

    def m_step():
        for x in m_in:
            x.grad = None
        fn(*m_in).backward(mg)

    def t_step():
        for x in t_in:
            x.grad = None
        fn(*t_in).backward(tg)
    return m_step, t_step


def tiny_add():
    m, t = _leaves(_pair((4,)), _pair((4,), 1))
    return _steps(lambda a, b: (a + b).sum(), m, t)


def chain_100():
    m, t = _leaves(_pair((16,)), _pair((16,), 1))

    def fn(x, b):
        y = x
        for _ in range(50):
            y = y * 0.999 + b  # 2 ops per step
        return y.sum()
    return _steps(fn, m, t)


def _big_unary(op):
    def setup():
        m, t = _leaves(_pair((BIG,)))
        return _steps(op, m, t, (BIG,))
    return setup


def _big_binary(op):
    def setup():
        m, t = _leaves(_pair((BIG,)), _pair((BIG,), 1))
        return _steps(op, m, t, (BIG,))
    return setup


def big_forward_add():
    (ma, mb), (ta, tb) = _leaves(_pair((BIG,)), _pair((BIG,), 1))
    ma.requires_grad_(False)
    return (lambda: ma + mb.detach()), (lambda: ta.detach() + tb.detach())


def batched_matmul():
    m, t = _leaves(_pair((32, 128, 64)), _pair((32, 64, 128), 1))
    return _steps(lambda a, b: a @ b, m, t, (32, 128, 128))


def softmax_composite():
    m, t = _leaves(_pair((256, 1024)))

    def fn(x):
        e = (x - x.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)
    return _steps(fn, m, t, (256, 1024))


CASES = [
    ("tiny_add_fwd_bwd", tiny_add),
    ("chain_100_ops", chain_100),
    ("add_4M_fwd", big_forward_add),
    ("add_4M", _big_binary(lambda a, b: a + b)),
    ("mul_4M", _big_binary(lambda a, b: a * b)),
    ("exp_4M", _big_unary(lambda a: a.exp())),
    ("bmm_32x128x64x128", batched_matmul),
    ("softmax_256x1024", softmax_composite),
]
