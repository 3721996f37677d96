"""Module backward hooks, get_parameter / get_buffer, against PyTorch."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
from mytorch.autograd.engine import ENGINES


class Mul(nn.Module):
    def forward(self, a, b):
        return a * b, a + b


class TMul(torch.nn.Module):
    def forward(self, a, b):
        return a * b, a + b


def _record(store):
    def hook(mod, grad_input, grad_output):
        store.append(([None if g is None else np.array(g.detach().numpy()) for g in grad_input],
                      [None if g is None else np.array(g.detach().numpy()) for g in grad_output]))
    return hook


def _same(ours, theirs):
    assert len(ours) == len(theirs)
    for (gi, go), (tgi, tgo) in zip(ours, theirs):
        assert len(gi) == len(tgi) and len(go) == len(tgo)
        for a, b in zip(gi + go, tgi + tgo):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("b_grad", [True, False])
def test_full_backward_hook_sees_grads_like_torch(engine, b_grad):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ours, theirs = [], []
    m, t = Mul(), TMul()
    m.register_full_backward_hook(_record(ours))
    t.register_full_backward_hook(_record(theirs))
    ma, mb = mytorch.Tensor(a, requires_grad=True), mytorch.Tensor(b, requires_grad=b_grad)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=b_grad)
    x, y = m(ma * 2, mb)
    (x * 3 + y.sum()).sum().backward(engine=engine)
    tx, ty = t(ta * 2, tb)
    (tx * 3 + ty.sum()).sum().backward()
    _same(ours, theirs)
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy())


@pytest.mark.parametrize("engine", ENGINES)
def test_backward_hook_return_replaces_grad_input_and_pre_hook_grad_output(engine):
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    lin, tlin = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(lin.weight.detach().numpy()))
        tlin.bias.copy_(torch.from_numpy(lin.bias.detach().numpy()))
    calls = []
    for mod in (lin, tlin):
        mod.register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
        mod.register_full_backward_hook(lambda m, gi, go: (gi[0] + 1,))
        mod.register_full_backward_pre_hook(lambda m, go: calls.append(type(m).__module__),
                                            prepend=True)
    mx = mytorch.Tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    lin(mx).sum().backward(engine=engine)
    tlin(tx).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(lin.weight.grad.numpy(), tlin.weight.grad.numpy(), rtol=1e-6)
    assert len(calls) == 2


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_backward_hook_without_input_grad_gets_none():
    x = np.ones((2, 3), np.float32)
    seen = []
    lin, tlin = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    for mod, xx in ((lin, mytorch.Tensor(x)), (tlin, torch.tensor(x))):
        mod.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
        mod(xx).sum().backward()
    assert seen[0][0] == seen[1][0] == (None,)
    assert tuple(seen[0][1]) == tuple(seen[1][1])
    lin.register_full_backward_hook(lambda m, gi, go: (mytorch.ones(2, 3),))
    with pytest.raises(RuntimeError, match="must return None"):
        lin(mytorch.Tensor(x)).sum().backward()


def test_backward_hook_handle_remove_and_no_grad():
    lin = nn.Linear(3, 2)
    n = []
    h = lin.register_full_backward_hook(lambda m, gi, go: n.append(1))
    p = lin.register_full_backward_pre_hook(lambda m, go: n.append(2))
    x = mytorch.randn(4, 3, requires_grad=True)
    lin(x).sum().backward()
    assert n == [2, 1]
    h.remove()
    p.remove()
    lin(x).sum().backward()
    assert n == [2, 1]
    lin.register_full_backward_hook(lambda m, gi, go: n.append(3))
    with mytorch.no_grad():
        out = lin(x)
    assert not out.requires_grad and n == [2, 1]


def test_backward_hook_wrong_arity_raises():
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="returned 2 gradients, expected 1"):
        lin(mytorch.randn(4, 3, requires_grad=True)).sum().backward()


def test_get_parameter_and_get_buffer():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    t = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    assert m.get_parameter("0.weight") is m[0].weight
    assert m.get_buffer("1.running_mean") is m[1].running_mean
    assert t.get_parameter("0.bias").shape == tuple(m.get_parameter("0.bias").shape)
    with pytest.raises(AttributeError, match="not an nn.Parameter"):
        m.get_parameter("1.running_var")
    with pytest.raises(AttributeError, match="not a buffer"):
        m.get_buffer("0.weight")
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        m.get_parameter("0.nope")
    with pytest.raises(AttributeError):
        m.get_buffer("5.running_mean")
    lin = nn.Linear(2, 2)
    assert lin.get_parameter("bias") is lin.bias
