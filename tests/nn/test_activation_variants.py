"""Activation variants against PyTorch: the ELU family, soft and hard variants, shrinks, GLU,
softmin, PReLU, Threshold and Softmax2d; functional and module forms, in place, bad input."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check


def _np(t):
    return t.detach().cpu().numpy()


def _copy_params(m, t):
    """Load torch module t's state into mytorch module m (keys must match)."""
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


ACTS = {
    "elu": (lambda x: F.elu(x), TF.elu),
    "elu_a": (lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
    "celu": (lambda x: F.celu(x, 1.7), lambda x: TF.celu(x, 1.7)),
    "selu": (F.selu, TF.selu),
    "softplus": (lambda x: F.softplus(x), TF.softplus),
    "softplus_b": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    "hardtanh": (lambda x: F.hardtanh(x), TF.hardtanh),
    "hardtanh_b": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    "relu6": (F.relu6, TF.relu6),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
    "hardswish": (F.hardswish, TF.hardswish),
    "mish": (F.mish, TF.mish),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "softsign": (F.softsign, TF.softsign),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink),
    "glu": (lambda x: F.glu(x, 0), lambda x: TF.glu(x, 0)),
    "softmin": (lambda x: F.softmin(x, -1), lambda x: TF.softmin(x, -1)),
    "softmin0": (lambda x: F.softmin(x, 0), lambda x: TF.softmin(x, 0)),
}


ACT_MODULES = [
    (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    (lambda: nn.ELU(0.3, inplace=True), lambda: torch.nn.ELU(0.3, inplace=True)),
    (lambda: nn.CELU(2.0), lambda: torch.nn.CELU(2.0)),
    (lambda: nn.SELU(), lambda: torch.nn.SELU()),
    (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    (lambda: nn.Softplus(beta=2, threshold=5), lambda: torch.nn.Softplus(beta=2, threshold=5)),
    (lambda: nn.Hardtanh(), lambda: torch.nn.Hardtanh()),
    (lambda: nn.Hardtanh(-2, 3, True), lambda: torch.nn.Hardtanh(-2, 3, True)),
    (lambda: nn.ReLU6(), lambda: torch.nn.ReLU6()),
    (lambda: nn.ReLU6(inplace=True), lambda: torch.nn.ReLU6(inplace=True)),
    (lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    (lambda: nn.Mish(), lambda: torch.nn.Mish()),
    (lambda: nn.LogSigmoid(), lambda: torch.nn.LogSigmoid()),
    (lambda: nn.Softsign(), lambda: torch.nn.Softsign()),
    (lambda: nn.Tanhshrink(), lambda: torch.nn.Tanhshrink()),
    (lambda: nn.GLU(), lambda: torch.nn.GLU()),
    (lambda: nn.GLU(1), lambda: torch.nn.GLU(1)),
    (lambda: nn.Softmin(1), lambda: torch.nn.Softmin(1)),
    (lambda: nn.PReLU(), lambda: torch.nn.PReLU()),
    (lambda: nn.PReLU(4, init=0.1), lambda: torch.nn.PReLU(4, init=0.1)),
]


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


@pytest.mark.parametrize("shape", [(8,), (4, 6), (2, 4, 3)])
@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_matches_torch(name, shape, device):
    fn, tfn = ACTS[name]
    check(fn, [shape], torch_fn=tfn, low=-8, high=8, device=device)
    check(fn, [shape], torch_fn=tfn, low=-8, high=8, dtype=np.float64, noncontig=True,
          device=device)


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_at_kinks_and_extremes(name):
    """Exact kink points (0, +-3, the bounds) and huge magnitudes: values and gradients."""
    fn, tfn = ACTS[name]
    x = np.array([-1e4, -30.0, -6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 25.0,
                  1e4], np.float64)
    check(fn, inputs=[x], torch_fn=tfn)
    check(fn, inputs=[x.astype(np.float32)], torch_fn=tfn)


def test_scalar_and_empty_inputs():
    for name in ("elu", "softplus", "hardswish", "mish", "logsigmoid", "relu6"):
        fn, tfn = ACTS[name]
        check(fn, inputs=[np.array(-0.7)], torch_fn=tfn)
        y = fn(mytorch.zeros(0, 3))
        assert tuple(y.shape) == (0, 3)


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 3, 5)])
@pytest.mark.parametrize("nparams", [1, 3])
def test_prelu_matches_torch(shape, nparams):
    if nparams == 3 and len(shape) < 2:
        with pytest.raises(RuntimeError, match="prelu.*1 element or 1"):
            F.prelu(mytorch.randn(*shape), mytorch.ones(3))  # 1-D input: one channel, as torch
        return
    w = np.array([0.25, -0.3, 1.5][:nparams], np.float32)
    x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
    x.reshape(-1)[0] = 0.0
    check(F.prelu, inputs=[x, w], torch_fn=TF.prelu)


def test_activation_gradcheck():
    x = np.random.default_rng(0).uniform(-4, 4, (4, 4))
    x[np.abs(np.abs(x) - 3) < 1e-2] = 0.5  # away from the kinks of hardswish/hardsigmoid
    x[np.abs(x) < 1e-2] = 0.5
    for name in ("elu", "celu", "softplus", "mish", "logsigmoid", "hardswish", "glu",
                 "softmin", "softsign"):
        assert gradcheck(ACTS[name][0], [mytorch.tensor(x, requires_grad=True)]), name


@pytest.mark.parametrize("k", range(len(ACT_MODULES)))
def test_activation_modules(k):
    make, tmake = ACT_MODULES[k]
    m, t = make(), tmake()
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    for a, b in zip(m.state_dict().values(), t.state_dict().values()):
        np.testing.assert_array_equal(_np(a), b.numpy())
    inplace = getattr(t, "inplace", False)
    x = np.random.default_rng(0).uniform(-4, 4, (2, 4, 6)).astype(np.float32)
    if inplace:  # a leaf can't be written in place: compare values only
        y = m(mytorch.tensor(x))
        np.testing.assert_allclose(_np(y), t(torch.from_numpy(x.copy())).numpy(), rtol=1e-5,
                                   atol=1e-6)
        return
    check(m, inputs=[x], torch_fn=t)


def test_prelu_module_weight_gradient():
    m, t = nn.PReLU(3), torch.nn.PReLU(3)
    with torch.no_grad():
        t.weight.copy_(torch.tensor([0.1, -0.2, 0.7]))
    _copy_params(m, t)
    x = np.random.default_rng(0).uniform(-2, 2, (2, 3, 4)).astype(np.float32)
    x[0, 0, 0] = 0.0
    ym, yt = m(mytorch.tensor(x)), t(torch.from_numpy(x))
    np.testing.assert_allclose(_np(ym), yt.detach().numpy(), rtol=1e-6)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    (ym * mytorch.tensor(g)).sum().backward()
    (yt * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-5)


def test_inplace_activations_write_their_input():
    for name in ("elu", "selu", "hardtanh", "relu6", "hardswish", "hardsigmoid", "mish"):
        a = np.linspace(-5, 5, 11).astype(np.float32)
        m, t = mytorch.tensor(a), torch.tensor(a)
        out = getattr(F, name)(m, inplace=True)
        getattr(TF, name)(t, inplace=True)
        assert out is m, name
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)


def test_softmin_implicit_dim_warns_and_uses_legacy_dim():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmin(mytorch.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = TF.softmin(torch.from_numpy(x))
    np.testing.assert_allclose(_np(y), ty.numpy(), rtol=1e-6)


def test_activation_bad_input():
    with pytest.raises(RuntimeError, match="glu.*dimension 1 is size 5"):
        F.glu(mytorch.randn(3, 5))
    with pytest.raises(RuntimeError, match="glu.*scalars"):
        F.glu(mytorch.tensor(1.0))
    with pytest.raises(ValueError, match="hardtanh.*min_val"):
        F.hardtanh(mytorch.randn(3), 2.0, 1.0)
    with pytest.raises(ValueError, match="Hardtanh.*max_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(TypeError, match="softplus.*int64"):
        F.softplus(mytorch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="prelu.*channels"):
        F.prelu(mytorch.randn(2, 4), mytorch.randn(3))
    with pytest.raises(ValueError, match="celu"):
        F.celu(mytorch.randn(3), 0.0)


@pytest.mark.parametrize("noncontig", [False, True])
def test_threshold(noncontig):
    check(lambda x: _lib(x)[1].threshold(x, 0.3, -2.0), shapes=[(4, 5)], noncontig=noncontig)
    check(lambda x: _lib(x)[2].Threshold(0.1, 20)(x), shapes=[()])
    x = mytorch.Tensor(np.array([-1.0, 0.5, 2.0]))
    F.threshold(x, 0.5, 9.0, inplace=True)
    np.testing.assert_array_equal(x.numpy(), [9.0, 9.0, 2.0])
    assert repr(nn.Threshold(0.1, 2, True)) == repr(torch.nn.Threshold(0.1, 2, True))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 1, 4)])
def test_softmax2d(shape):
    check(lambda x: _lib(x)[2].Softmax2d()(x), shapes=[shape], dtype=np.float64)
    with pytest.raises(ValueError, match="Softmax2d"):
        nn.Softmax2d()(mytorch.randn(2, 3))
