import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

TF = torch.nn.functional
SHAPES = [[(7,)], [(4, 5)], [(2, 3, 6)]]

CASES = {
    "relu": (lambda x, a: F.relu(x, auto=a), TF.relu),
    "sigmoid": (lambda x, a: F.sigmoid(x, auto=a), torch.sigmoid),
    "tanh": (lambda x, a: F.tanh(x, auto=a), torch.tanh),
    "silu": (lambda x, a: F.silu(x, auto=a), TF.silu),
    "leaky_relu": (lambda x, a: F.leaky_relu(x, 0.2, auto=a), lambda x: TF.leaky_relu(x, 0.2)),
    "gelu": (lambda x, a: F.gelu(x, auto=a), TF.gelu),
    "gelu_tanh": (lambda x, a: F.gelu(x, "tanh", auto=a), lambda x: TF.gelu(x, approximate="tanh")),
    "softmax0": (lambda x, a: F.softmax(x, 0, auto=a), lambda x: torch.softmax(x, 0)),
    "softmax": (lambda x, a: F.softmax(x, -1, auto=a), lambda x: torch.softmax(x, -1)),
    "log_softmax": (lambda x, a: F.log_softmax(x, -1, auto=a),
                    lambda x: torch.log_softmax(x, -1)),
    "log_softmax0": (lambda x, a: F.log_softmax(x, 0, auto=a),
                     lambda x: torch.log_softmax(x, 0)),
}


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_matches_torch(name, shapes, auto, device):
    fn, tfn = CASES[name]
    check(lambda x: fn(x, auto), shapes, torch_fn=tfn, low=-5, high=5, device=device)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_gradcheck(name):
    fn, _ = CASES[name]
    x = np.random.default_rng(0).uniform(-3, 3, (3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks
    assert gradcheck(lambda t: fn(t, False), [mytorch.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_wide_range_accuracy(approximate):
    x = np.linspace(-12, 12, 20001).astype(np.float32)
    y = F.gelu(mytorch.tensor(x), approximate).numpy()
    ty = TF.gelu(torch.from_numpy(x), approximate=approximate).numpy()
    # torch's float32 erf form loses the far negative tail to cancellation; ours keeps it
    np.testing.assert_allclose(y, ty, atol=1e-6, rtol=1e-6)
    xd = np.linspace(-8, 8, 2001)
    yd = F.gelu(mytorch.tensor(xd), approximate).numpy()
    np.testing.assert_allclose(yd, TF.gelu(torch.from_numpy(xd), approximate=approximate).numpy(),
                               atol=1e-9, rtol=1e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 3, 4)])
def test_bias_gelu_is_gelu_of_the_sum(approximate, shape):
    # mytorch's fused spelling of gelu(x + b); off CUDA it is exactly that, so torch is the test
    rng = np.random.default_rng(0)
    x, b, gy = (rng.standard_normal(s) for s in (shape, shape[-1:], shape))
    for dtype in (np.float32, np.float64):
        tx, tb = (mytorch.tensor(a.astype(dtype), requires_grad=True) for a in (x, b))
        y = F.bias_gelu(tx, tb, approximate)
        y.backward(mytorch.tensor(gy.astype(dtype)))
        px, pb = (torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, b))
        py = TF.gelu(px + pb, approximate=approximate)
        py.backward(torch.tensor(gy.astype(dtype)))
        tol = 1e-6  # the exact form's erf is a float-accurate fit, in float64 too
        for got, want in ((y, py), (tx.grad, px.grad), (tb.grad, pb.grad)):
            np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol,
                                       atol=tol)
    assert gradcheck(lambda a, c: F.bias_gelu(a, c, approximate),
                     [mytorch.tensor(x, requires_grad=True), mytorch.tensor(b, requires_grad=True)])


def test_softmax_extreme_values_are_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32)
    for auto in (False, True):
        y = F.softmax(mytorch.tensor(x), -1, auto=auto).numpy()
        np.testing.assert_allclose(y, torch.softmax(torch.from_numpy(x), -1).numpy(), atol=1e-7)
        ly = F.log_softmax(mytorch.tensor(x), -1, auto=auto).numpy()
        assert np.isfinite(ly).all()


MODULES = [
    (lambda a: nn.ReLU(auto=a), torch.nn.ReLU()),
    (lambda a: nn.Sigmoid(auto=a), torch.nn.Sigmoid()),
    (lambda a: nn.Tanh(auto=a), torch.nn.Tanh()),
    (lambda a: nn.SiLU(auto=a), torch.nn.SiLU()),
    (lambda a: nn.LeakyReLU(0.1, auto=a), torch.nn.LeakyReLU(0.1)),
    (lambda a: nn.GELU(auto=a), torch.nn.GELU()),
    (lambda a: nn.GELU("tanh", auto=a), torch.nn.GELU("tanh")),
    (lambda a: nn.Softmax(1, auto=a), torch.nn.Softmax(1)),
    (lambda a: nn.LogSoftmax(1, auto=a), torch.nn.LogSoftmax(1)),
]


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("k", range(len(MODULES)))
def test_activation_modules(k, auto):
    make, tmod = MODULES[k]
    m = make(auto)
    check(m, [(3, 4, 2)], torch_fn=tmod)
    assert repr(m) == repr(tmod)


def test_softmax_dim_at_call_time():
    sm = nn.Softmax()
    x = mytorch.randn(2, 3, 4)
    y = sm(x, dim=-1)
    np.testing.assert_allclose(y.numpy(), torch.softmax(torch.from_numpy(x.numpy()), -1).numpy(),
                               atol=1e-6)
    y1 = nn.Softmax(dim=1)(x, dim=1)
    np.testing.assert_allclose(y1.sum(1).numpy(), 1, atol=1e-6)
    assert tuple(x.softmax(-1).shape) == (2, 3, 4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(IndexError, match="softmax"):
        F.softmax(mytorch.randn(2, 3), 2)
    with pytest.raises(TypeError, match="softmax.*int64"):
        F.softmax(mytorch.tensor([1, 2]), 0)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "silu"])
def test_functional_inplace_writes_input(name):
    a = np.array([-1.0, 0.5, 2.0], np.float32)
    m, t = mytorch.tensor(a), torch.tensor(a)
    out = getattr(F, name)(m, inplace=True)
    getattr(torch.nn.functional, name)(t, inplace=True)
    assert out is m
    np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-6)
    # on a non-leaf in a graph, the gradient still flows through the in-place result
    xm, xt = mytorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    hm, ht = xm * 2, xt * 2
    getattr(F, name)(hm, inplace=True)
    getattr(torch.nn.functional, name)(ht, inplace=True)
    hm.sum().backward()
    ht.sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("make", [lambda: nn.ReLU(inplace=True), lambda: nn.SiLU(inplace=True),
                                  lambda: nn.LeakyReLU(0.1, inplace=True)])
def test_inplace_modules_write_into_their_input(make):
    x = mytorch.tensor([-2.0, -0.5, 0.0, 1.5])
    want = make()(x.clone())
    out = make()(x)
    assert out is x
    np.testing.assert_allclose(x.numpy(), want.numpy())
    # inside a graph the input (a non-leaf) is rebound and gradients still flow
    a = mytorch.tensor([-1.0, 2.0], requires_grad=True)
    h = a * 1.0
    make()(h).sum().backward()
    assert a.grad is not None and a.grad.numpy()[1] > 0
