"""Second-order gradients of every differentiable op and layer, against torch.

One registry, `OPS`: name -> (fn(L, F, A, *tensors), input shapes, options), written once for
both libraries (`L` is mytorch or torch, `F` its nn.functional, `A` the keyword arguments
that pick mytorch's hand-written or auto=True path: {} for torch). For each op, in float64
and under both engines: the gradient g of a random projection of the outputs is computed with
create_graph=True, then the gradient of a random projection of g; both must equal torch's.
Where torch itself has no double backward (its CPU attention kernel, cdist, hardsigmoid),
its side is the op's formula.

`SHAPES` gives ops whose behaviour depends on shape further cases (0-d, empty, broadcast,
batched): they run under the default engine, and under the other one with the `slow` mark.

Every registered op supports create_graph; an op whose backward cannot build a graph must
refuse by name (see test_higher_order.py), never give a silent wrong answer.
"""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional.recurrent as mrnn
from mytorch.autograd.engine import ENGINES

HAND, AUTO = {"auto": False}, {"auto": True}


def _rnn(L, name):
    return getattr(L, name) if L is torch else getattr(mrnn, name)


def _std(L, x):
    return x.std(dim=1, keepdim=True)


def _setitem(L, x, y):
    z = x * 1
    z[1:3, ::2] = y * 2
    return z


def _sdpa(L, F, A, q, k, v, is_causal=False):
    if L is torch:  # torch's CPU attention kernel has no double backward: the formula
        s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        if is_causal:
            s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool).triu(1), -torch.inf)
        return s.softmax(-1) @ v
    return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal, **A)


def _hardsigmoid(L, F, x):
    if L is torch:  # torch's hardsigmoid_backward has no derivative: the formula
        return F.relu6(x + 3) / 6
    return F.hardsigmoid(x)


def _shifted(L, a):
    """a + n I: far enough from singular for inv, det, solve."""
    n = a.shape[-1]
    return a + n * L.eye(n, dtype=a.dtype)


def _spd(L, a):
    n = a.shape[-1]
    return a @ a.transpose(-2, -1) + n * L.eye(n, dtype=a.dtype)


def _sym(a):
    return a + a.transpose(-2, -1)


def _sign_free(outs):
    """(w, V) of eigh or (U, S, Vh) of svd with the vectors squared: each column's sign is
    LAPACK's choice, so only sign-free functions of the vectors can match torch."""
    if len(outs) == 2:
        return outs[0], outs[1] * outs[1]
    u, s, vh = outs
    return u * u, s, vh * vh


def _cdist(L, a, b, p):
    if L is torch:  # torch's _cdist_backward has no derivative: the formula
        d = (a[..., :, None, :] - b[..., None, :, :]).abs()
        return (d ** p).sum(-1) ** (1 / p)
    return L.cdist(a, b, p=p)


def _put(L, a, v):
    z = a * a
    z[L.tensor([0, 2]), L.tensor([1, 3])] = v * v
    return z


def _layer(mode, **kwargs):
    """An nn.RNN/LSTM/GRU (input 3, hidden 4) as fn(L, F, A, x, *states, *parameters)."""
    def fn(L, F, A, x, *rest):
        n_states = 2 if mode == "LSTM" else 1
        states, params = rest[:n_states], rest[n_states:]
        hx = tuple(states) if mode == "LSTM" else states[0]
        mod = getattr(L.nn, mode)(3, 4, dtype=L.float64, **kwargs)
        names = [n for n, _ in mod.named_parameters()]
        if L is torch:
            return torch.func.functional_call(mod, dict(zip(names, params)), (x, hx))
        for n, p in zip(names, params):
            mod._parameters[n] = p
        return mod(x, hx)
    return fn


def _layer_shapes(mode, T, B, num_layers=1, bidirectional=False, bias=True):
    """Input, state and parameter shapes for `_layer` (B None: unbatched)."""
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[mode] * 4
    D = 2 if bidirectional else 1
    batch = () if B is None else (B,)
    shapes = [(T,) + batch + (3,)] + [(num_layers * D,) + batch + (4,)] * (
        2 if mode == "LSTM" else 1)
    for layer in range(num_layers):
        shapes += [(G, 3 if layer == 0 else 4 * D), (G, 4)] * D if not bias else \
            [(G, 3 if layer == 0 else 4 * D), (G, 4), (G,), (G,)] * D
    return shapes


POS = dict(low=0.5, high=2.0)       # inputs where log, sqrt, pow need them
UNIT = dict(low=-0.9, high=0.9)     # asin, acos, atanh
IDX = np.array([[0, 2, 1], [1, 0, 0]])
PERM = np.array([[0, 2, 1], [1, 0, 2]])  # scatter: no repeated target (torch picks any one)
TARGET = np.array([1, 0, 3])

OPS = {
    # ---- elementwise ----
    "add": (lambda L, F, A, a, b: a + b, [(2, 3), (3,)], {}),
    "sub": (lambda L, F, A, a, b: a - b, [(2, 3), (2, 1)], {}),
    "mul": (lambda L, F, A, a, b: a * b, [(2, 3), (3,)], {}),
    "mul_self": (lambda L, F, A, a: a * a, [(4,)], {}),
    "div": (lambda L, F, A, a, b: a / b, [(2, 3), (3,)], POS),
    "rdiv_scalar": (lambda L, F, A, a: 2.0 / a, [(4,)], POS),
    "pow_int": (lambda L, F, A, a: a ** 3, [(2, 3)], {}),
    "pow_float": (lambda L, F, A, a: a ** 2.5, [(2, 3)], POS),
    "pow_half": (lambda L, F, A, a: a ** 0.5, [(2, 3)], POS),
    "pow_neg": (lambda L, F, A, a: a ** -2, [(2, 3)], POS),
    "pow_tensor": (lambda L, F, A, a, b: a ** b, [(2, 3), (2, 3)], POS),
    "rpow": (lambda L, F, A, a: 2.0 ** a, [(4,)], {}),
    "neg": (lambda L, F, A, a: -a, [(3,)], {}),
    "abs": (lambda L, F, A, a: a.abs() * a, [(5,)], {}),
    "exp": (lambda L, F, A, a: a.exp(), [(2, 3)], {}),
    "exp2": (lambda L, F, A, a: L.exp2(a), [(2, 3)], {}),
    "expm1": (lambda L, F, A, a: a.expm1(), [(2, 3)], {}),
    "log": (lambda L, F, A, a: a.log(), [(2, 3)], POS),
    "log1p": (lambda L, F, A, a: a.log1p(), [(2, 3)], POS),
    "log2": (lambda L, F, A, a: a.log2(), [(2, 3)], POS),
    "log10": (lambda L, F, A, a: a.log10(), [(2, 3)], POS),
    "sqrt": (lambda L, F, A, a: a.sqrt(), [(2, 3)], POS),
    "rsqrt": (lambda L, F, A, a: a.rsqrt(), [(2, 3)], POS),
    "reciprocal": (lambda L, F, A, a: a.reciprocal(), [(2, 3)], POS),
    "square": (lambda L, F, A, a: a.square(), [(2, 3)], {}),
    "sin": (lambda L, F, A, a: a.sin(), [(2, 3)], {}),
    "cos": (lambda L, F, A, a: a.cos(), [(2, 3)], {}),
    "tan": (lambda L, F, A, a: a.tan(), [(2, 3)], UNIT),
    "asin": (lambda L, F, A, a: a.asin(), [(2, 3)], UNIT),
    "acos": (lambda L, F, A, a: a.acos(), [(2, 3)], UNIT),
    "atan": (lambda L, F, A, a: a.atan(), [(2, 3)], {}),
    "sinh": (lambda L, F, A, a: a.sinh(), [(2, 3)], {}),
    "cosh": (lambda L, F, A, a: a.cosh(), [(2, 3)], {}),
    "tanh": (lambda L, F, A, a: a.tanh(), [(2, 3)], {}),
    "sigmoid": (lambda L, F, A, a: a.sigmoid(), [(2, 3)], {}),
    "erf": (lambda L, F, A, a: a.erf(), [(2, 3)], {}),
    "erfc": (lambda L, F, A, a: a.erfc(), [(2, 3)], {}),
    "atan2": (lambda L, F, A, a, b: L.atan2(a, b), [(2, 3), (2, 3)], {}),
    "maximum": (lambda L, F, A, a, b: L.maximum(a, b), [(2, 3), (3,)], {}),
    "minimum": (lambda L, F, A, a, b: L.minimum(a, b), [(2, 3), (3,)], {}),
    "clamp": (lambda L, F, A, a: a.clamp(-0.5, 0.7) * a, [(3, 4)], {}),
    "where": (lambda L, F, A, a, b: L.where(a > 0, a * b, b * b), [(2, 3), (2, 3)], {}),
    "lerp": (lambda L, F, A, a, b, w: L.lerp(a, b, w), [(3,), (3,), (3,)], {}),
    "float_power": (lambda L, F, A, a: L.float_power(a, 2.5), [(3,)], POS),
    # ---- activations, hand-written and auto ----
    "relu": (lambda L, F, A, a: F.relu(a, **A) * a, [(3, 4)], {}),
    "relu_auto": (lambda L, F, A, a: F.relu(a, **{k: True for k in A}) * a, [(3, 4)], {}),
    "sigmoid_F": (lambda L, F, A, a: F.sigmoid(a, **A), [(3, 4)], {}),
    "sigmoid_auto": (lambda L, F, A, a: F.sigmoid(a, **{k: True for k in A}), [(3, 4)], {}),
    "tanh_F": (lambda L, F, A, a: F.tanh(a, **A), [(3, 4)], {}),
    "tanh_auto": (lambda L, F, A, a: F.tanh(a, **{k: True for k in A}), [(3, 4)], {}),
    "leaky_relu": (lambda L, F, A, a: F.leaky_relu(a, 0.1, **A) * a, [(3, 4)], {}),
    "leaky_relu_auto": (lambda L, F, A, a: F.leaky_relu(a, 0.1, **{k: True for k in A}) * a,
                        [(3, 4)], {}),
    "silu": (lambda L, F, A, a: F.silu(a, **A), [(3, 4)], {}),
    "silu_auto": (lambda L, F, A, a: F.silu(a, **{k: True for k in A}), [(3, 4)], {}),
    "gelu": (lambda L, F, A, a: F.gelu(a, **A), [(3, 4)], {}),
    "gelu_auto": (lambda L, F, A, a: F.gelu(a, **{k: True for k in A}), [(3, 4)],
                  {"rtol": 1e-5}),  # the auto path's erf is accurate to ~1e-7
    "gelu_tanh": (lambda L, F, A, a: F.gelu(a, approximate="tanh", **A), [(3, 4)], {}),
    "gelu_tanh_auto": (lambda L, F, A, a: F.gelu(a, approximate="tanh",
                                                 **{k: True for k in A}), [(3, 4)], {}),
    "softmax": (lambda L, F, A, a: F.softmax(a, dim=-1, **A), [(3, 4)], {}),
    "softmax_auto": (lambda L, F, A, a: F.softmax(a, dim=0, **{k: True for k in A}),
                     [(3, 4)], {}),
    "log_softmax": (lambda L, F, A, a: F.log_softmax(a, dim=-1, **A), [(3, 4)], {}),
    "log_softmax_auto": (lambda L, F, A, a: F.log_softmax(a, dim=1, **{k: True for k in A}),
                         [(3, 4)], {}),
    "elu": (lambda L, F, A, a: F.elu(a), [(3, 4)], {}),
    "celu": (lambda L, F, A, a: F.celu(a, 0.7), [(3, 4)], {}),
    "selu": (lambda L, F, A, a: F.selu(a), [(3, 4)], {}),
    "softplus": (lambda L, F, A, a: F.softplus(a, beta=2.0), [(3, 4)], {}),
    "mish": (lambda L, F, A, a: F.mish(a), [(3, 4)], {}),
    "logsigmoid": (lambda L, F, A, a: F.logsigmoid(a), [(3, 4)], {}),
    "softsign": (lambda L, F, A, a: F.softsign(a), [(3, 4)], {}),
    "tanhshrink": (lambda L, F, A, a: F.tanhshrink(a), [(3, 4)], {}),
    "hardtanh": (lambda L, F, A, a: F.hardtanh(a, -0.5, 0.5) * a, [(3, 4)], {}),
    "hardswish": (lambda L, F, A, a: F.hardswish(a), [(3, 4)], {}),
    "hardsigmoid": (lambda L, F, A, a: _hardsigmoid(L, F, a) * a, [(3, 4)], {}),
    "relu6": (lambda L, F, A, a: F.relu6(a * 4) * a, [(3, 4)], {}),
    "glu": (lambda L, F, A, a: F.glu(a, dim=-1), [(3, 4)], {}),
    "softmin": (lambda L, F, A, a: F.softmin(a, dim=1), [(3, 4)], {}),
    "prelu": (lambda L, F, A, a, w: F.prelu(a, w) * a, [(2, 3, 4), (3,)], {}),
    # ---- reductions ----
    "sum": (lambda L, F, A, a: (a * a).sum(), [(2, 3)], {}),
    "sum_dim": (lambda L, F, A, a: (a * a).sum(dim=1, keepdim=True), [(2, 3, 2)], {}),
    "mean": (lambda L, F, A, a: (a.exp()).mean(dim=(0, 2)), [(2, 3, 2)], {}),
    "var": (lambda L, F, A, a: a.var(dim=1), [(3, 4)], {}),
    "std": (lambda L, F, A, a: _std(L, a), [(3, 4)], {}),
    "prod": (lambda L, F, A, a: a.prod(dim=1), [(3, 4)], {}),
    "prod_all": (lambda L, F, A, a: a.prod(), [(2, 3)], {}),
    "amax": (lambda L, F, A, a: a.amax(dim=1) * a.sum(), [(3, 4)], {}),
    "max_dim": (lambda L, F, A, a: a.max(dim=0)[0] ** 2, [(3, 4)], {}),
    "min_dim": (lambda L, F, A, a: a.min(dim=1)[0] ** 2, [(3, 4)], {}),
    "max_all": (lambda L, F, A, a: a.max() * a, [(3, 4)], {}),
    "logsumexp": (lambda L, F, A, a: a.logsumexp(dim=1), [(3, 4)], {}),
    "norm": (lambda L, F, A, a: a.norm(), [(3, 4)], {}),
    "norm_dim": (lambda L, F, A, a: L.linalg.vector_norm(a, 3, dim=1), [(3, 4)], {}),
    "cumsum": (lambda L, F, A, a: (a * a).cumsum(dim=1), [(3, 4)], {}),
    "cumprod": (lambda L, F, A, a: a.cumprod(dim=1), [(3, 4)], {}),
    "median": (lambda L, F, A, a: a.median(dim=1)[0] ** 2, [(3, 5)], {}),
    # ---- shape ----
    "reshape": (lambda L, F, A, a: (a * a).reshape(3, 2), [(2, 3)], {}),
    "permute": (lambda L, F, A, a: (a * a).permute(2, 0, 1), [(2, 3, 4)], {}),
    "transpose": (lambda L, F, A, a: (a * a).transpose(0, 1), [(2, 3)], {}),
    "flip": (lambda L, F, A, a: (a * a).flip(1), [(2, 3)], {}),
    "roll": (lambda L, F, A, a: (a * a).roll(1, 1), [(2, 3)], {}),
    "repeat": (lambda L, F, A, a: (a * a).repeat(2, 1), [(2, 3)], {}),
    "tile": (lambda L, F, A, a: L.tile(a * a, (1, 2)), [(2, 3)], {}),
    "expand": (lambda L, F, A, a: (a * a).expand(4, 3), [(1, 3)], {}),
    "squeeze": (lambda L, F, A, a: (a * a).squeeze(1).unsqueeze(0), [(2, 1, 3)], {}),
    "flatten": (lambda L, F, A, a: (a * a).flatten(), [(2, 3)], {}),
    "cat": (lambda L, F, A, a, b: L.cat([a * b, b], dim=0), [(2, 3), (2, 3)], {}),
    "stack": (lambda L, F, A, a, b: L.stack([a * b, a], dim=1), [(2, 3), (2, 3)], {}),
    "split": (lambda L, F, A, a: [p * p for p in a.split(2, dim=1)], [(2, 5)], {}),
    "chunk": (lambda L, F, A, a: [p * q for p, q in [a.chunk(2, dim=0)]], [(4, 3)], {}),
    "narrow": (lambda L, F, A, a: (a * a).narrow(1, 1, 2), [(2, 4)], {}),
    "diagonal": (lambda L, F, A, a: (a * a).diagonal(), [(3, 3)], {}),
    "diag": (lambda L, F, A, a: L.diag(a * a), [(3,)], {}),
    "tril": (lambda L, F, A, a: (a * a).tril(), [(3, 3)], {}),
    "triu": (lambda L, F, A, a: (a * a).triu(1), [(3, 3)], {}),
    "movedim": (lambda L, F, A, a: L.movedim(a * a, 0, 2), [(2, 3, 4)], {}),
    "pad": (lambda L, F, A, a: F.pad(a * a, (1, 2)), [(2, 3)], {}),
    "pad_reflect": (lambda L, F, A, a: F.pad(a * a, (1, 1), mode="reflect"), [(1, 2, 4)], {}),
    # ---- indexing ----
    "getitem": (lambda L, F, A, a: (a * a)[1:, ::2], [(3, 4)], {}),
    "getitem_advanced": (lambda L, F, A, a: (a * a)[[0, 2, 2]], [(3, 4)], {}),
    "gather": (lambda L, F, A, a: (a * a).gather(1, L.tensor(IDX)), [(2, 3)], {}),
    "index_select": (lambda L, F, A, a: (a * a).index_select(0, L.tensor([2, 0, 2])),
                     [(3, 2)], {}),
    "masked_fill": (lambda L, F, A, a: (a * a).masked_fill(a > 0, 0.5), [(3, 4)], {}),
    "scatter_add": (lambda L, F, A, a, s: (a * a).scatter_add(1, L.tensor(IDX), s * s),
                    [(2, 3), (2, 3)], {}),
    "scatter": (lambda L, F, A, a, s: (a * a).scatter(1, L.tensor(PERM), s * s),
                [(2, 3), (2, 3)], {}),
    "scatter_value": (lambda L, F, A, a: (a * a).scatter(1, L.tensor(IDX), 0.5), [(2, 3)], {}),
    "index_add": (lambda L, F, A, a, s: (a * a).index_add(0, L.tensor([0, 2, 0]), s * s),
                  [(3, 2), (3, 2)], {}),
    "index_fill": (lambda L, F, A, a: (a * a).index_fill(1, L.tensor([0, 2]), 0.5), [(2, 3)],
                   {}),
    "masked_scatter": (lambda L, F, A, a, s: (a * a).masked_scatter(a > 0, s * s),
                       [(3, 4), (12,)], {}),
    "setitem_indices": (lambda L, F, A, a, v: _put(L, a, v), [(3, 4), (2,)], {}),
    "setitem": (lambda L, F, A, a, b: _setitem(L, a, b), [(4, 4), (2, 2)], {}),
    # ---- linalg ----
    "matmul": (lambda L, F, A, a, b: (a @ b) ** 2, [(2, 3), (3, 4)], {}),
    "matmul_batched": (lambda L, F, A, a, b: (a @ b) ** 2, [(2, 2, 3), (3, 4)], {}),
    "matmul_vector": (lambda L, F, A, a, b: (a @ b) ** 2, [(2, 3), (3,)], {}),
    "bmm": (lambda L, F, A, a, b: L.bmm(a, b) ** 2, [(2, 2, 3), (2, 3, 2)], {}),
    "outer": (lambda L, F, A, a, b: L.outer(a, b) ** 2, [(2,), (3,)], {}),
    "einsum": (lambda L, F, A, a, b: L.einsum("ij,jk->ik", a, b) ** 2, [(2, 3), (3, 2)], {}),
    "inv": (lambda L, F, A, a: L.linalg.inv(_shifted(L, a)), [(3, 3)], {}),
    "det": (lambda L, F, A, a: L.linalg.det(_shifted(L, a)), [(3, 3)], {}),
    "slogdet": (lambda L, F, A, a: L.linalg.slogdet(_shifted(L, a))[1], [(3, 3)], {}),
    "solve": (lambda L, F, A, a, b: L.linalg.solve(_shifted(L, a), b), [(3, 3), (3, 2)], {}),
    "cholesky": (lambda L, F, A, a: L.linalg.cholesky(_spd(L, a)), [(3, 3)], {}),
    "qr": (lambda L, F, A, a: L.linalg.qr(a), [(4, 3)], {}),
    "qr_wide": (lambda L, F, A, a: L.linalg.qr(a), [(2, 3)], {}),
    # eigenvector and singular vector signs are LAPACK's choice: differentiate sign-free forms
    "eigh": (lambda L, F, A, a: _sign_free(L.linalg.eigh(_sym(a))), [(3, 3)], {}),
    "eigvalsh": (lambda L, F, A, a: L.linalg.eigvalsh(_sym(a)), [(3, 3)], {}),
    "svd": (lambda L, F, A, a: _sign_free(L.linalg.svd(a, full_matrices=False)), [(4, 3)], {}),
    "svd_wide": (lambda L, F, A, a: _sign_free(L.linalg.svd(a, full_matrices=False)),
                 [(2, 3)], {}),
    "svdvals": (lambda L, F, A, a: L.linalg.svdvals(a), [(3, 4)], {}),
    "pinv": (lambda L, F, A, a: L.linalg.pinv(a), [(4, 3)], {}),
    "cdist": (lambda L, F, A, a, b: _cdist(L, a, b, 2.0), [(3, 4), (5, 4)], {}),
    "cdist_p1": (lambda L, F, A, a, b: _cdist(L, a, b, 1.0), [(3, 4), (5, 4)], {}),
    "cdist_p3": (lambda L, F, A, a, b: _cdist(L, a, b, 3.0), [(3, 4), (5, 4)], {}),
    "trace": (lambda L, F, A, a: L.trace(a * a), [(3, 3)], {}),
    "cross": (lambda L, F, A, a, b: L.linalg.cross(a, b) ** 2, [(2, 3), (2, 3)], {}),
    # ---- nn layers ----
    "linear": (lambda L, F, A, x, w, b: F.linear(x, w, b, **A) ** 2, [(2, 3), (4, 3), (4,)],
               {}),
    "linear_auto": (lambda L, F, A, x, w, b: F.linear(x, w, b, **{k: True for k in A}) ** 2,
                    [(2, 3), (4, 3), (4,)], {}),
    "bilinear": (lambda L, F, A, x, y, w: F.bilinear(x, y, w) ** 2, [(2, 3), (2, 2),
                                                                    (4, 3, 2)], {}),
    "embedding": (lambda L, F, A, w: F.embedding(L.tensor([[0, 2], [1, 2]]), w, **A) ** 2,
                  [(3, 4)], {}),
    "layer_norm": (lambda L, F, A, x, w, b: F.layer_norm(x, (4,), w, b, **A),
                   [(3, 4), (4,), (4,)], {}),
    "layer_norm_auto": (lambda L, F, A, x, w, b: F.layer_norm(x, (4,), w, b,
                                                              **{k: True for k in A}),
                        [(3, 4), (4,), (4,)], {}),
    "batch_norm": (lambda L, F, A, x, w, b: F.batch_norm(x, None, None, w, b, training=True,
                                                         **A), [(4, 3), (3,), (3,)], {}),
    "batch_norm_auto": (lambda L, F, A, x, w, b: F.batch_norm(
        x, None, None, w, b, training=True, **{k: True for k in A}), [(4, 3), (3,), (3,)], {}),
    "group_norm": (lambda L, F, A, x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)],
                   {}),
    "instance_norm": (lambda L, F, A, x: F.instance_norm(x), [(2, 3, 4)], {}),
    "rms_norm": (lambda L, F, A, x, w: F.rms_norm(x, (4,), w), [(3, 4), (4,)], {}),
    "normalize": (lambda L, F, A, x: F.normalize(x, dim=1), [(3, 4)], {}),
    "cosine_similarity": (lambda L, F, A, a, b: F.cosine_similarity(a, b), [(3, 4), (3, 4)],
                          {}),
    "pairwise_distance": (lambda L, F, A, a, b: F.pairwise_distance(a, b), [(3, 4), (3, 4)],
                          {}),
    "dropout_eval": (lambda L, F, A, a: F.dropout(a * a, 0.5, training=False), [(3, 4)], {}),
    "conv1d": (lambda L, F, A, x, w, b: F.conv1d(x, w, b, padding=1) ** 2,
               [(2, 2, 5), (3, 2, 3), (3,)], {}),
    "conv2d": (lambda L, F, A, x, w, b: F.conv2d(x, w, b, stride=1, padding=1) ** 2,
               [(1, 2, 4, 4), (3, 2, 3, 3), (3,)], {}),
    "conv2d_strided": (lambda L, F, A, x, w: F.conv2d(x, w, stride=2, dilation=1) ** 2,
                       [(1, 2, 5, 5), (2, 2, 3, 3)], {}),
    "conv3d": (lambda L, F, A, x, w: F.conv3d(x, w) ** 2, [(1, 1, 3, 3, 3), (2, 1, 2, 2, 2)],
               {}),
    "conv3d_padded_strided": (lambda L, F, A, x, w, b: F.conv3d(x, w, b, (1, 2, 1), 1) ** 2,
                              [(1, 2, 3, 4, 3), (2, 2, 2, 3, 2), (2,)], {}),
    "conv_transpose3d": (lambda L, F, A, x, w: F.conv_transpose3d(x, w, stride=2) ** 2,
                         [(1, 2, 2, 3, 2), (2, 2, 2, 2, 2)], {}),
    "conv_transpose1d": (lambda L, F, A, x, w: F.conv_transpose1d(x, w, stride=2) ** 2,
                         [(1, 2, 3), (2, 3, 3)], {}),
    "conv_transpose2d": (lambda L, F, A, x, w: F.conv_transpose2d(x, w, stride=2) ** 2,
                         [(1, 2, 3, 3), (2, 2, 2, 2)], {}),
    "max_pool1d": (lambda L, F, A, x: F.max_pool1d(x * x, 2), [(1, 2, 6)], {}),
    "max_pool2d": (lambda L, F, A, x: F.max_pool2d(x * x, 2), [(1, 2, 4, 4)], {}),
    "avg_pool2d": (lambda L, F, A, x: F.avg_pool2d(x * x, 2), [(1, 2, 4, 4)], {}),
    "max_pool3d": (lambda L, F, A, x: F.max_pool3d(x * x, 2), [(1, 2, 4, 4, 4)], {}),
    "avg_pool3d": (lambda L, F, A, x: F.avg_pool3d(x * x, 2, padding=1), [(1, 2, 3, 4, 4)], {}),
    "adaptive_avg_pool3d": (lambda L, F, A, x: F.adaptive_avg_pool3d(x * x, (2, 1, 3)),
                            [(1, 2, 4, 4, 5)], {}),
    "adaptive_avg_pool2d": (lambda L, F, A, x: F.adaptive_avg_pool2d(x * x, (2, 1)),
                            [(1, 2, 4, 4)], {}),
    "adaptive_max_pool2d": (lambda L, F, A, x: F.adaptive_max_pool2d(x * x, 2),
                            [(1, 2, 4, 4)], {}),
    "interpolate": (lambda L, F, A, x: F.interpolate(x * x, scale_factor=2, mode="bilinear"),
                    [(1, 1, 2, 3)], {}),
    "pixel_shuffle": (lambda L, F, A, x: F.pixel_shuffle(x * x, 2), [(1, 4, 2, 2)], {}),
    "unfold": (lambda L, F, A, x: F.unfold(x * x, 2), [(1, 2, 3, 3)], {}),
    # ---- attention ----
    "attention": (lambda L, F, A, q, k, v: _sdpa(L, F, A, q, k, v),
                  [(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)], {}),
    "attention_causal": (lambda L, F, A, q, k, v: _sdpa(L, F, A, q, k, v, is_causal=True),
                         [(1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 4)], {}),
    "attention_auto": (lambda L, F, A, q, k, v: _sdpa(L, F, {k_: True for k_ in A}, q, k, v),
                       [(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)], {}),
    # ---- losses ----
    "mse_loss": (lambda L, F, A, a, b: F.mse_loss(a, b), [(3, 4), (3, 4)], {}),
    "l1_loss": (lambda L, F, A, a, b: F.l1_loss(a * a, b), [(3, 4), (3, 4)], {}),
    "smooth_l1_loss": (lambda L, F, A, a, b: F.smooth_l1_loss(a, b), [(3, 4), (3, 4)], {}),
    "huber_loss": (lambda L, F, A, a, b: F.huber_loss(a, b, delta=0.5), [(3, 4), (3, 4)], {}),
    "cross_entropy": (lambda L, F, A, x: F.cross_entropy(x, L.tensor(TARGET), **A),
                      [(3, 4)], {}),
    "cross_entropy_auto": (lambda L, F, A, x: F.cross_entropy(x, L.tensor(TARGET),
                                                              **{k: True for k in A}),
                           [(3, 4)], {}),
    "cross_entropy_smooth": (lambda L, F, A, x: F.cross_entropy(x, L.tensor(TARGET),
                                                                label_smoothing=0.1, **A),
                             [(3, 4)], {}),
    "nll_loss": (lambda L, F, A, x: F.nll_loss(x * x, L.tensor(TARGET)), [(3, 4)], {}),
    "bce_with_logits": (lambda L, F, A, x, t: F.binary_cross_entropy_with_logits(x, t.sigmoid()),
                        [(3, 4), (3, 4)], {}),
    "binary_cross_entropy": (lambda L, F, A, x, t: F.binary_cross_entropy(x.sigmoid(),
                                                                          t.sigmoid()),
                             [(3, 4), (3, 4)], {}),
    "kl_div": (lambda L, F, A, x, t: F.kl_div(x, t, reduction="batchmean"), [(3, 4), (3, 4)],
               POS),
    "gaussian_nll": (lambda L, F, A, x, t, v: F.gaussian_nll_loss(x, t, v), [(3, 4), (3, 4),
                                                                           (3, 4)], POS),
    "poisson_nll": (lambda L, F, A, x, t: F.poisson_nll_loss(x, t), [(3, 4), (3, 4)], {}),
    "margin_ranking": (lambda L, F, A, a, b: F.margin_ranking_loss(a * a, b, L.ones_like(b)),
                       [(5,), (5,)], {}),
    "soft_margin": (lambda L, F, A, a: F.soft_margin_loss(a, L.ones_like(a)), [(5,)], {}),
    "triplet_margin": (lambda L, F, A, a, p, n: F.triplet_margin_loss(a, p, n), [(3, 4), (3, 4),
                                                                                (3, 4)], {}),
    # ---- recurrent cells ----
    "rnn_tanh_cell": (lambda L, F, A, x, h, wi, wh, bi, bh: _rnn(L, "rnn_tanh_cell")(
        x, h, wi, wh, bi, bh, **A), [(2, 3), (2, 4), (4, 3), (4, 4), (4,), (4,)], {}),
    "rnn_tanh_cell_auto": (lambda L, F, A, x, h, wi, wh, bi, bh: _rnn(L, "rnn_tanh_cell")(
        x, h, wi, wh, bi, bh, **{k: True for k in A}),
        [(2, 3), (2, 4), (4, 3), (4, 4), (4,), (4,)], {}),
    "lstm_cell": (lambda L, F, A, x, h, c, wi, wh, bi, bh: _rnn(L, "lstm_cell")(
        x, (h, c), wi, wh, bi, bh, **A),
        [(2, 3), (2, 4), (2, 4), (16, 3), (16, 4), (16,), (16,)], {}),
    "lstm_cell_auto": (lambda L, F, A, x, h, c, wi, wh, bi, bh: _rnn(L, "lstm_cell")(
        x, (h, c), wi, wh, bi, bh, **{k: True for k in A}),
        [(2, 3), (2, 4), (2, 4), (16, 3), (16, 4), (16,), (16,)], {}),
    "gru_cell": (lambda L, F, A, x, h, wi, wh, bi, bh: _rnn(L, "gru_cell")(
        x, h, wi, wh, bi, bh, **A), [(2, 3), (2, 4), (12, 3), (12, 4), (12,), (12,)], {}),
    "gru_cell_auto": (lambda L, F, A, x, h, wi, wh, bi, bh: _rnn(L, "gru_cell")(
        x, h, wi, wh, bi, bh, **{k: True for k in A}),
        [(2, 3), (2, 4), (12, 3), (12, 4), (12,), (12,)], {}),
    # ---- recurrent layers, through the nn modules ----
    "rnn": (_layer("RNN"), _layer_shapes("RNN", 3, 2), {}),
    "rnn_relu": (_layer("RNN", nonlinearity="relu"), _layer_shapes("RNN", 3, 2), {}),
    "rnn_stacked_bidirectional": (_layer("RNN", num_layers=2, bidirectional=True),
                                  _layer_shapes("RNN", 3, 2, 2, True), {}),
    "lstm": (_layer("LSTM"), _layer_shapes("LSTM", 3, 2), {}),
    "lstm_stacked_bidirectional": (_layer("LSTM", num_layers=2, bidirectional=True),
                                   _layer_shapes("LSTM", 3, 2, 2, True), {}),
    "gru": (_layer("GRU"), _layer_shapes("GRU", 3, 2), {}),
    "gru_no_bias": (_layer("GRU", bias=False), _layer_shapes("GRU", 3, 2, bias=False), {}),
}

# Further input shapes per op, where shape matters: 0-d, empty, broadcast, batched. Each is a
# case of its own (`name[k]`, k >= 1); the shapes in `OPS` are case 0.
_UNARY_SHAPES = [[()], [(0, 2)], [(2, 1, 3)]]
_BINARY_SHAPES = [[(), (2, 3)], [(4, 1, 3), (2, 1)], [(0, 3), (3,)]]
_LOSS_SHAPES = [[(), ()], [(2, 3, 2), (2, 3, 2)]]
SHAPES = {
    **{name: _UNARY_SHAPES for name in (
        "mul_self", "rdiv_scalar", "pow_int", "pow_float", "pow_half", "pow_neg", "rpow", "neg",
        "abs", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
        "reciprocal", "square", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
        "tanh", "sigmoid", "erf", "erfc", "float_power", "clamp", "relu", "relu_auto",
        "sigmoid_F", "tanh_F", "leaky_relu", "silu", "silu_auto", "gelu", "gelu_tanh", "elu",
        "celu", "selu", "softplus", "mish", "logsigmoid", "softsign", "tanhshrink", "hardtanh",
        "hardswish", "hardsigmoid", "relu6")},
    **{name: _BINARY_SHAPES for name in (
        "add", "sub", "mul", "div", "pow_tensor", "atan2", "maximum", "minimum", "where")},
    "lerp": [[(2, 3), (3,), ()], [(), (), ()]],
    "softmax": [[(5,)], [(2, 3, 4)]],
    "log_softmax": [[(5,)], [(2, 3, 4)]],
    "sum": [[()], [(0, 3)], [(2, 3, 4)]],
    "sum_dim": [[(2, 3)], [(2, 0, 2)]],
    "mean": [[(1, 1, 1)], [(3, 2, 4)]],
    "var": [[(2, 5)], [(2, 3, 4)]],
    "prod": [[(2, 3, 4)]],
    "prod_all": [[()], [(5,)]],
    "amax": [[(2, 5, 2)]],
    "max_all": [[(5,)]],
    "logsumexp": [[(2, 1)], [(2, 3, 4)]],
    "norm": [[()], [(5,)], [(2, 3, 4)]],
    "cumsum": [[(2, 3, 4)]],
    "cumprod": [[(2, 3, 4)]],
    "matmul": [[(3,), (3,)], [(3,), (2, 3, 4)], [(2, 1, 2, 3), (3, 3, 4)]],
    "bmm": [[(1, 3, 2), (1, 2, 4)]],
    "outer": [[(1,), (4,)]],
    **{name: [[(1, 1)], [(2, 3, 3)], [(2, 1, 4, 4)]] for name in (
        "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh")},
    "solve": [[(2, 3, 3), (3, 2)], [(3, 3), (2, 3, 1)], [(3, 3), (3,)]],
    "qr": [[(2, 3, 3)], [(2, 5, 2)]],
    "svd": [[(2, 3, 3)], [(2, 5, 2)]],
    "svdvals": [[(2, 4, 3)]],
    "pinv": [[(2, 2, 3)]],
    "cdist": [[(2, 3, 4), (2, 5, 4)], [(30, 3), (26, 3)]],  # the second takes the matmul path
    "cdist_p1": [[(2, 3, 4), (1, 5, 4)]],
    "cdist_p3": [[(2, 3, 4), (2, 5, 4)]],
    "cross": [[(3,), (3,)], [(2, 1, 3), (1, 4, 3)]],
    "linear": [[(3,), (4, 3), (4,)], [(2, 5, 3), (4, 3), (4,)]],
    "layer_norm": [[(4,), (4,), (4,)], [(2, 5, 4), (4,), (4,)]],
    "batch_norm": [[(4, 3, 5), (3,), (3,)]],
    "group_norm": [[(2, 4, 2, 2), (4,), (4,)]],
    "conv1d": [[(1, 2, 7), (3, 2, 3), (3,)]],
    "conv2d": [[(2, 2, 3, 5), (3, 2, 3, 3), (3,)]],
    "max_pool2d": [[(2, 1, 4, 6)]],
    "avg_pool2d": [[(2, 3, 6, 4)]],
    "attention": [[(2, 3, 4), (2, 5, 4), (2, 5, 4)], [(2, 1, 1, 4), (2, 1, 6, 4),
                                                      (2, 1, 6, 4)]],
    "mse_loss": _LOSS_SHAPES,
    "l1_loss": _LOSS_SHAPES,
    "smooth_l1_loss": _LOSS_SHAPES,
    "huber_loss": _LOSS_SHAPES,
    "bce_with_logits": _LOSS_SHAPES,
    "rnn_tanh_cell": [[(1, 3), (1, 4), (4, 3), (4, 4), (4,), (4,)]],
    "gru_cell": [[(1, 3), (1, 4), (12, 3), (12, 4), (12,), (12,)]],
    "lstm_cell": [[(1, 3), (1, 4), (1, 4), (16, 3), (16, 4), (16,), (16,)]],
    **{name: [_layer_shapes(name.upper(), 1, 1), _layer_shapes(name.upper(), 4, None)]
       for name in ("rnn", "lstm", "gru")},
}

CASES = [(name, k) for name in sorted(OPS) for k in range(1 + len(SHAPES.get(name, ())))]


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in _flat(x)]
    return [out]


def _inputs(shapes, opts, seed=0):
    rng = np.random.default_rng(seed)
    low, high = opts.get("low", -1.5), opts.get("high", 1.5)
    return [rng.uniform(low, high, size=s) for s in shapes]


def _second_order(lib, fn, arrays, engine=None):
    """(first-order grads, second-order grads) of fn at `arrays` for one library."""
    is_torch = lib is torch
    F = lib.nn.functional
    A = {} if is_torch else HAND
    xs = [torch.from_numpy(a.copy()).requires_grad_() if is_torch
          else mytorch.tensor(a, requires_grad=True) for a in arrays]
    outs = [o for o in _flat(fn(lib, F, A, *xs)) if o.requires_grad]
    rng = np.random.default_rng(1)
    wrap = torch.from_numpy if is_torch else mytorch.tensor
    loss = sum((o * wrap(rng.standard_normal(tuple(o.shape)))).sum() for o in outs)
    kw = {} if is_torch else {"engine_name": engine}
    g = (torch.autograd.grad if is_torch else mytorch.autograd.grad)(
        loss, xs, create_graph=True, allow_unused=True, **kw)
    live = [x for x in g if x is not None and x.requires_grad]
    if not live:
        return g, [None] * len(xs)
    loss2 = sum((x * wrap(rng.standard_normal(tuple(x.shape)))).sum() for x in live)
    gg = (torch.autograd.grad if is_torch else mytorch.autograd.grad)(
        loss2, xs, allow_unused=True, **kw)
    return g, gg


def _assert_same(m, t, what, rtol=1e-7):
    for k, (a, b) in enumerate(zip(m, t)):
        # no graph reached this input: fine where the other's gradient is zero (to rounding:
        # det of a 1x1 has a constant gradient, which mytorch computes through an inverse)
        if b is None:
            assert a is None or np.allclose(a.detach().numpy(), 0, rtol=0, atol=1e-12), \
                f"{what} {k}: torch has none, mytorch {a}"
            continue
        if a is None:
            assert np.allclose(b.detach().numpy(), 0, rtol=0, atol=1e-12), \
                f"{what} {k}: mytorch has none, torch {b}"
            continue
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol,
                                   atol=1e-9, err_msg=f"{what} of input {k}")


def _case(name, k):
    fn, shapes, opts = OPS[name]
    return fn, shapes if k == 0 else SHAPES[name][k - 1], opts


def _params():
    """Case 0 of every op under both engines; further shapes under the default engine (the
    engines agree bitwise, see test_autograd.py), and under the other one as `slow`."""
    for name, k in CASES:
        for engine in ENGINES:
            marks = []
            if k and engine != ENGINES[0]:
                marks.append(pytest.mark.slow)
            yield pytest.param(name, k, engine, marks=marks, id=f"{name}[{k}]-{engine}")


@pytest.mark.parametrize("name, k, engine", list(_params()))
def test_second_order_matches_torch(name, k, engine):
    fn, shapes, opts = _case(name, k)
    arrays = _inputs(shapes, opts)
    t_g, t_gg = _second_order(torch, fn, arrays)
    m_g, m_gg = _second_order(mytorch, fn, arrays, engine)
    _assert_same(m_g, t_g, "gradient", opts.get("rtol", 1e-7))
    _assert_same(m_gg, t_gg, "second-order gradient", opts.get("rtol", 1e-7))


def test_registry_lists_only_registered_ops():
    assert set(SHAPES) <= set(OPS)
