"""Linear, Bilinear, Identity, Flatten and Unflatten against PyTorch: forward, gradients, init,
bad input."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("xshape", [(5, 4), (2, 3, 4), (4,), (0, 4)])
def test_linear_matches_torch(auto, xshape, device):
    check(lambda x, w, b: F.linear(x, w, b, auto=auto), [xshape, (3, 4), (3,)],
          torch_fn=torch.nn.functional.linear, device=device)


@pytest.mark.parametrize("auto", [False, True])
def test_linear_no_bias_noncontig(auto):
    check(lambda x, w: F.linear(x, w, auto=auto), [(6, 5), (4, 5)],
          torch_fn=torch.nn.functional.linear, noncontig=True)


def test_linear_gradcheck():
    rng = np.random.default_rng(0)
    args = [mytorch.tensor(rng.standard_normal(s), requires_grad=True)
            for s in [(2, 3, 4), (3, 4), (3,)]]
    assert gradcheck(F.linear, args)


@pytest.mark.parametrize("auto", [False, True])
def test_linear_module_matches_torch_module(auto):
    m = nn.Linear(6, 3, auto=auto)
    t = torch.nn.Linear(6, 3)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(m.weight.detach().numpy()))
        t.bias.copy_(torch.from_numpy(m.bias.detach().numpy()))
    x = np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)
    y = m(mytorch.tensor(x))
    y.sum().backward()
    ty = t(torch.from_numpy(x))
    ty.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(m.bias.grad.numpy(), t.bias.grad.numpy(), atol=1e-4)
    assert repr(m) == repr(t).replace("Linear(", "Linear(")


def test_linear_default_init_distribution():
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = m.weight.detach().numpy()
    assert m.weight.dtype == np.float32 and w.shape == (300, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert nn.Linear(4, 2, bias=False).bias is None


def test_linear_seeded_init_is_reproducible():
    mytorch.manual_seed(3)
    a = nn.Linear(5, 5).weight.detach().numpy().copy()
    mytorch.manual_seed(3)
    b = nn.Linear(5, 5).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_linear_wrong_feature_size_names_layer_and_shapes():
    m = nn.Linear(4, 2)
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=4.*\(3, 5\).*expected 4"):
        m(mytorch.randn(3, 5))
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(3, 5\)"):
        F.linear(mytorch.randn(3, 5), mytorch.randn(2, 4))


def test_identity_flatten_unflatten():
    x = mytorch.randn(2, 3, 4, 5)
    assert nn.Identity(7, foo=1)(x) is x
    assert tuple(nn.Flatten()(x).shape) == (2, 60)
    assert tuple(nn.Flatten(0, 2)(x).shape) == (24, 5)
    y = nn.Unflatten(1, (3, 20))(nn.Flatten()(x))
    assert tuple(y.shape) == (2, 3, 20)
    assert repr(nn.Flatten()) == repr(torch.nn.Flatten())
    check(lambda a: nn.Flatten()(a), [(2, 3, 4)], torch_fn=lambda a: torch.nn.Flatten()(a))


rng = np.random.default_rng(0)


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


@pytest.mark.parametrize("lead", [(4,), (2, 3), ()])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(lead, bias):
    x1, x2 = rng.standard_normal(lead + (3,)), rng.standard_normal(lead + (5,))
    w, b = rng.standard_normal((2, 3, 5)), rng.standard_normal(2)
    ins = [x1, x2, w] + ([b] if bias else [])
    check(lambda a, c, w, *b: _lib(a)[1].bilinear(a, c, w, *b), inputs=ins)


def test_bilinear_module_and_errors():
    m, t = nn.Bilinear(3, 4, 5), torch.nn.Bilinear(3, 4, 5)
    assert list(m.state_dict()) == list(t.state_dict())
    assert repr(m) == repr(t) and tuple(m.weight.shape) == tuple(t.weight.shape)
    assert abs(m.weight.detach().numpy()).max() <= 1 / math.sqrt(3)
    assert nn.Bilinear(3, 4, 5, bias=False).bias is None
    with pytest.raises(RuntimeError, match="bilinear"):
        m(mytorch.randn(2, 3), mytorch.randn(2, 5))
    x1, x2 = mytorch.randn(2, 3), mytorch.randn(2, 4)
    np.testing.assert_allclose(m(x1, x2).detach().numpy(),
                               F.bilinear(x1, x2, m.weight, m.bias).detach().numpy())
