import numpy as np
import pytest

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
