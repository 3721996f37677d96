"""Per-layer fwd+bwd cases: Linear, Embedding, LayerNorm, BatchNorm2d (ConvNet sizes), Softmax,
GELU (erf and tanh), CrossEntropy."""
import numpy as np
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F

ROWS, DIM, VOCAB = 64 * 128, 256, 1000  # (batch * seq, width)


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return (mytorch.tensor(a, requires_grad=True), torch.from_numpy(a.copy()).requires_grad_())


def _grad_step(m_fn, t_fn, mx, tx, proj_shape):
    g = np.random.default_rng(1).standard_normal(proj_shape).astype(np.float32)
    mg, tg = mytorch.tensor(g), torch.from_numpy(g)

    def m_step():
        mx.grad = None
        m_fn(mx).backward(mg)

    def t_step():
        tx.grad = None
        t_fn(tx).backward(tg)
    return m_step, t_step


def linear():
    mx, tx = _pair((ROWS, DIM))
    m, t = nn.Linear(DIM, 4 * DIM), torch.nn.Linear(DIM, 4 * DIM)
    return _grad_step(m, t, mx, tx, (ROWS, 4 * DIM))


def embedding():
    idx = np.random.default_rng(0).integers(0, VOCAB, ROWS)
    m, t = nn.Embedding(VOCAB, DIM), torch.nn.Embedding(VOCAB, DIM)
    mi, ti = mytorch.tensor(idx), torch.from_numpy(idx)
    g = np.random.default_rng(1).standard_normal((ROWS, DIM)).astype(np.float32)
    mg, tg = mytorch.tensor(g), torch.from_numpy(g)

    def m_step():
        m.weight.grad = None
        m(mi).backward(mg)

    def t_step():
        t.weight.grad = None
        t(ti).backward(tg)
    return m_step, t_step


def layer_norm():
    mx, tx = _pair((ROWS, DIM))
    return _grad_step(nn.LayerNorm(DIM), torch.nn.LayerNorm(DIM), mx, tx, (ROWS, DIM))


def batch_norm_2d(shape):
    """Training-mode BatchNorm2d at one of the zoo ConvNet's activation sizes."""
    def setup():
        mx, tx = _pair(shape)
        return _grad_step(nn.BatchNorm2d(shape[1]), torch.nn.BatchNorm2d(shape[1]), mx, tx, shape)
    return setup


def softmax():
    mx, tx = _pair((64 * 4, 128, 128))  # attention scores (B*H, T, T)
    return _grad_step(lambda x: F.softmax(x, -1), lambda x: torch.softmax(x, -1), mx, tx,
                      (64 * 4, 128, 128))


def gelu():
    mx, tx = _pair((ROWS, 4 * DIM))
    return _grad_step(F.gelu, torch.nn.functional.gelu, mx, tx, (ROWS, 4 * DIM))


def gelu_tanh():
    mx, tx = _pair((ROWS, 4 * DIM))
    return _grad_step(lambda x: F.gelu(x, "tanh"),
                      lambda x: torch.nn.functional.gelu(x, approximate="tanh"), mx, tx,
                      (ROWS, 4 * DIM))


def cross_entropy():
    mx, tx = _pair((ROWS, VOCAB))
    t = np.random.default_rng(2).integers(0, VOCAB, ROWS)
    mt, tt = mytorch.tensor(t), torch.from_numpy(t)

    def m_step():
        mx.grad = None
        F.cross_entropy(mx, mt).backward()

    def t_step():
        tx.grad = None
        torch.nn.functional.cross_entropy(tx, tt).backward()
    return m_step, t_step


CASES = [
    ("Linear (8192,256)->1024", linear),
    ("Embedding 1000x256, 8192 idx", embedding),
    ("LayerNorm (8192,256)", layer_norm),
    ("BatchNorm2d (64,16,14,14)", batch_norm_2d((64, 16, 14, 14))),
    ("BatchNorm2d (64,32,7,7)", batch_norm_2d((64, 32, 7, 7))),
    ("BatchNorm2d (64,64,4,4)", batch_norm_2d((64, 64, 4, 4))),
    ("Softmax (256,128,128)", softmax),
    ("GELU (8192,1024)", gelu),
    ("GELU tanh (8192,1024)", gelu_tanh),
    ("CrossEntropy (8192,1000)", cross_entropy),
]
