import math

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
from mytorch.nn import init


@pytest.mark.parametrize("name,param", [("linear", None), ("relu", None), ("tanh", None),
                                        ("sigmoid", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)])
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize("shape", [(5, 7), (4, 3, 2, 2), (6, 2, 5)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(mytorch.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def _stats(fn, shape=(300, 200)):
    t = mytorch.empty(*shape, requires_grad=True)
    out = fn(t)
    assert out is t and t.requires_grad and t.grad_fn is None
    return t.detach().numpy()


def test_distributions():
    fan_in, fan_out = 200, 300
    w = _stats(lambda t: init.uniform_(t, -0.5, 2.0))
    assert w.min() >= -0.5 and w.max() <= 2.0 and abs(w.mean() - 0.75) < 0.02
    w = _stats(lambda t: init.normal_(t, 1.0, 0.5))
    assert abs(w.mean() - 1) < 0.01 and abs(w.std() - 0.5) < 0.01
    w = _stats(init.xavier_uniform_)
    a = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= a and abs(w.std() - a / math.sqrt(3)) < 0.01 * a
    w = _stats(lambda t: init.xavier_normal_(t, gain=2.0))
    assert abs(w.std() - 2 * math.sqrt(2 / (fan_in + fan_out))) < 0.002
    w = _stats(lambda t: init.kaiming_uniform_(t, nonlinearity="relu"))
    b = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(w).max() <= b and abs(w.std() - b / math.sqrt(3)) < 0.01 * b
    w = _stats(lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))
    assert abs(w.std() - math.sqrt(2 / fan_out)) < 0.002
    w = _stats(lambda t: init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.5))
    assert w.min() >= -1.0 and w.max() <= 1.5 and w.mean() > 0
    np.testing.assert_array_equal(_stats(init.zeros_), 0)
    np.testing.assert_array_equal(_stats(init.ones_), 1)
    np.testing.assert_array_equal(_stats(lambda t: init.constant_(t, 0.25)), 0.25)


def test_generator_and_seed_reproducible():
    a, b = mytorch.empty(3, 4), mytorch.empty(3, 4)
    init.normal_(a, generator=mytorch.Generator().manual_seed(0))
    init.normal_(b, generator=mytorch.Generator().manual_seed(0))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mytorch.manual_seed(1)
    init.kaiming_uniform_(a)
    mytorch.manual_seed(1)
    init.kaiming_uniform_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_errors_and_dtype():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(mytorch.empty(5))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(mytorch.empty(2, 2), mode="fan_avg")
    t = mytorch.empty(3, 3, dtype=mytorch.float64)
    init.normal_(t)
    assert t.dtype == np.float64


def test_layer_defaults_follow_torch_distributions():
    mytorch.manual_seed(0)
    lin = nn.Linear(64, 32)
    bound = 1 / math.sqrt(64)
    assert np.abs(lin.weight.detach().numpy()).max() <= bound
    assert np.abs(lin.bias.detach().numpy()).max() <= bound
    bn = nn.BatchNorm1d(4)
    assert (bn.weight.detach().numpy() == 1).all() and (bn.bias.detach().numpy() == 0).all()
    assert (bn.running_var.numpy() == 1).all() and bn.num_batches_tracked.item() == 0


# ---- orthogonal_, eye_, dirac_, sparse_ ----

@pytest.mark.parametrize("shape", [(5, 5), (3, 8), (8, 3), (4, 2, 3, 3), (6, 1)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal(shape, gain):
    t = mytorch.empty(*shape, requires_grad=True)
    assert init.orthogonal_(t, gain=gain) is t and t.requires_grad and t.grad_fn is None
    w = t.detach().numpy().reshape(shape[0], -1).astype(np.float64) / gain
    small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-5)
    tt = torch.nn.init.orthogonal_(torch.empty(*shape), gain=gain)
    assert tt.dtype == torch.float32 and t.dtype == mytorch.float32


def test_orthogonal_reproducible_and_bad_shape():
    g = mytorch.Generator().manual_seed(3)
    a = init.orthogonal_(mytorch.empty(4, 6), generator=g).numpy()
    g.manual_seed(3)
    np.testing.assert_array_equal(a, init.orthogonal_(mytorch.empty(4, 6), generator=g).numpy())
    with pytest.raises(ValueError, match="orthogonal_.*2 or more"):
        init.orthogonal_(mytorch.empty(4))
    assert init.orthogonal_(mytorch.empty(0, 3)).shape == (0, 3)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye_matches_torch(shape):
    t = init.eye_(mytorch.empty(*shape, dtype=mytorch.float64))
    np.testing.assert_array_equal(t.numpy(), torch.nn.init.eye_(torch.empty(*shape,
                                                                         dtype=torch.float64)))
    with pytest.raises(ValueError, match="eye_"):
        init.eye_(mytorch.empty(2, 2, 2))


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((4, 6, 2, 4), 1),
                                          ((6, 2, 3, 3, 3), 3), ((2, 5, 5), 1)])
def test_dirac_matches_torch(shape, groups):
    t = init.dirac_(mytorch.randn(*shape), groups=groups)
    np.testing.assert_array_equal(t.numpy(),
                                  torch.nn.init.dirac_(torch.randn(*shape), groups).numpy())


def test_dirac_bad_input():
    with pytest.raises(ValueError, match="dirac_"):
        init.dirac_(mytorch.empty(3, 3))
    with pytest.raises(ValueError, match="divisible"):
        init.dirac_(mytorch.empty(5, 3, 3), groups=2)


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 1.0])
def test_sparse_zeros_per_column(sparsity):
    rows, cols = 20, 30
    t = init.sparse_(mytorch.empty(rows, cols), sparsity, std=0.5)
    tt = torch.nn.init.sparse_(torch.empty(rows, cols), sparsity, std=0.5)
    w = t.numpy()
    np.testing.assert_array_equal((w == 0).sum(0), (tt.numpy() == 0).sum(0))
    nz = w[w != 0]
    if nz.size > 100:
        assert abs(nz.std() - 0.5) < 0.1
    with pytest.raises(ValueError, match="sparse_"):
        init.sparse_(mytorch.empty(3), 0.1)


@pytest.mark.parametrize("fill", ["init", "method"])
@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_large_fills_are_drawn_in_pieces_with_the_same_values(dist, fill):
    # A tensor over one chunk gets exactly the values of one whole draw from the same seed,
    # without a float64 copy of itself (GPT-2's embedding would pass through ~600 MiB)
    from tests.autograd.test_backward_memory import MB, peak_of
    shape = (3, init._CHUNK + 12345)  # 3 chunks and a remainder; 12 MiB of float32
    t = mytorch.empty(*shape)
    mytorch.manual_seed(7)
    args = (0.5, 0.02) if dist == "normal" else (-0.3, 0.7)
    fn = getattr(init, dist + "_") if fill == "init" else getattr(t, dist + "_")
    _, peak = peak_of(lambda: fn(t, *args) if fill == "init" else fn(*args))
    rng = np.random.default_rng(7)
    whole = rng.standard_normal(shape) * 0.02 + 0.5 if dist == "normal" else \
        rng.uniform(-0.3, 0.7, shape)
    np.testing.assert_array_equal(t.numpy(), whole.astype(np.float32))
    assert peak < 3 * init._CHUNK * 8, f"{dist}_ peaked at {peak / MB:.1f} MiB for 12 MiB"
