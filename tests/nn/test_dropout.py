"""Dropout against PyTorch's semantics: element and channel dropout, train/eval, in place."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck


@pytest.mark.parametrize("auto", [False, True])
def test_dropout_train_mask_scale_and_grad(auto, device):
    x = mytorch.tensor(np.random.default_rng(0).uniform(1, 2, (200, 50)).astype(np.float32),
                       device=device, requires_grad=True)
    y = nn.Dropout(0.3, auto=auto)(x)
    yv, xv = y.detach().cpu().numpy(), x.detach().cpu().numpy()
    kept = yv != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(yv[kept], xv[kept] / 0.7, rtol=1e-6)
    assert y.dtype == np.float32
    y.sum().backward()
    g = x.grad.cpu().numpy()
    np.testing.assert_allclose(g, kept / 0.7, rtol=1e-6)


def test_dropout_eval_and_edge_probabilities():
    x = mytorch.randn(4, 5, requires_grad=True)
    m = nn.Dropout(0.5).eval()
    assert m(x) is x
    assert nn.Dropout(0.0)(x) is x
    y = nn.Dropout(1.0)(x)
    assert (y.detach().numpy() == 0).all()
    y.sum().backward()
    assert (x.grad.numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)


def test_dropout_p_alias_repr_and_seed():
    assert nn.Dropout(dropout_p=0.1).p == 0.1
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"
    x = mytorch.ones(100)
    mytorch.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    mytorch.manual_seed(7)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    g = mytorch.Generator().manual_seed(1)
    c = F.dropout(x, 0.5, generator=g).numpy()
    d = F.dropout(x, 0.5, generator=mytorch.Generator().manual_seed(1)).numpy()
    np.testing.assert_array_equal(c, d)


def test_dropout_gradcheck():
    x = mytorch.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    state = mytorch.get_rng_state()

    def fn(t):
        mytorch.set_rng_state(state)  # the same mask on every evaluation
        return F.dropout(t, 0.4)
    assert gradcheck(fn, [x])


def _np(t):
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("fn,shape,kept", [(F.dropout2d, (8, 16, 5, 4), (2, 3)),
                                           (F.dropout1d, (8, 16, 7), (2,)),
                                           (F.dropout1d, (16, 7), (1,))])
def test_channel_dropout_zeroes_whole_channels(fn, shape, kept):
    p = 0.4
    x = mytorch.tensor(np.random.default_rng(0).uniform(1, 2, shape).astype(np.float32),
                       requires_grad=True)
    y = fn(x, p)
    yv, xv = _np(y), _np(x)
    zero = (yv == 0).all(axis=kept)
    kept_plane = np.isclose(yv, xv / (1 - p)).all(axis=kept)
    assert (zero | kept_plane).all()
    assert 0.2 < zero.mean() < 0.6
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), np.where(yv == 0, 0, 1 / (1 - p)), rtol=1e-6)
    assert fn(x, p, training=False) is x
    assert fn(x, 0.0) is x
    np.testing.assert_array_equal(_np(fn(x, 1.0)), 0)


def test_dropout2d_3d_input_warns_like_torch():
    with pytest.warns(UserWarning, match="3D input"):
        y = F.dropout2d(mytorch.ones(4, 6, 5), 0.5)
    assert ((_np(y) == 0).all(2) | (_np(y) == 2).all(2)).all()


def test_channel_dropout_modules_and_errors():
    for cls, tcls in ((nn.Dropout1d, torch.nn.Dropout1d), (nn.Dropout2d, torch.nn.Dropout2d)):
        assert repr(cls()) == repr(tcls())
        assert repr(cls(0.2, True)) == repr(tcls(0.2, True))
        m = cls(0.5).eval()
        x = mytorch.randn(2, 3, 4, 4) if cls is nn.Dropout2d else mytorch.randn(2, 3, 4)
        assert m(x) is x
        with pytest.raises(ValueError, match="between 0 and 1"):
            cls(1.5)
    with pytest.raises(RuntimeError, match="dropout1d.*4D"):
        F.dropout1d(mytorch.randn(2, 3, 4, 5))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.dropout2d(mytorch.randn(5))
    with pytest.raises(ValueError, match="dropout2d.*1.5"):
        F.dropout2d(mytorch.randn(2, 3, 4, 4), 1.5)
    m = nn.Dropout2d(0.5)
    x = mytorch.ones(2, 3, 4, 4)
    h = x * 1.0
    assert nn.Dropout2d(0.5, inplace=True)(h) is h
