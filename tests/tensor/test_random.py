"""normal, bernoulli, multinomial, random_/exponential_/bernoulli_, logspace, finfo/iinfo,
itemsize and new_empty. Random draws are compared with torch's distributions, not values."""
import numpy as np
import pytest
import torch

import mytorch

N = 200_000


def test_normal_float_form_statistics_and_seed():
    mytorch.manual_seed(1)
    a = mytorch.normal(2.0, 3.0, (N,))
    mytorch.manual_seed(1)
    b = mytorch.normal(2.0, 3.0, size=(N,))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == mytorch.float32 and a.shape == (N,)
    assert abs(a.mean().item() - 2.0) < 0.05 and abs(a.std().item() - 3.0) < 0.05
    assert mytorch.normal(0.0, 1.0, (2, 3), dtype=mytorch.float64).dtype == mytorch.float64


def test_normal_tensor_forms_broadcast_and_dtype():
    for mean, std in [(torch.zeros(3, 1, dtype=torch.float64), torch.ones(4) * 2),
                      (torch.arange(3.0), 0.5), (1.5, torch.full((2, 2), 2.0))]:
        if isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor):
            std = std.to(mean.dtype)
        want = torch.normal(mean, std)
        mm = mytorch.tensor(mean.numpy()) if isinstance(mean, torch.Tensor) else mean
        ms = mytorch.tensor(std.numpy()) if isinstance(std, torch.Tensor) else std
        got = mytorch.normal(mm, ms)
        assert got.shape == tuple(want.shape)
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")


def test_normal_tensor_statistics():
    mean = mytorch.tensor([-5.0, 0.0, 5.0]).reshape(3, 1).expand(3, N // 10)
    std = mytorch.tensor([0.5, 1.0, 2.0]).reshape(3, 1)
    x = mytorch.normal(mean, std)
    np.testing.assert_allclose(x.mean(1).numpy(), [-5.0, 0.0, 5.0], atol=0.05)
    np.testing.assert_allclose(x.std(1).numpy(), [0.5, 1.0, 2.0], rtol=0.03)


def test_normal_generator_reproducible():
    g1 = mytorch.Generator().manual_seed(7)
    g2 = mytorch.Generator().manual_seed(7)
    m = mytorch.zeros(5)
    np.testing.assert_array_equal(mytorch.normal(m, 1.0, generator=g1).numpy(),
                                  mytorch.normal(m, 1.0, generator=g2).numpy())


def test_normal_bad_input():
    with pytest.raises(RuntimeError, match="normal: std"):
        mytorch.normal(mytorch.zeros(2), -1.0)
    with pytest.raises(TypeError, match="size"):
        mytorch.normal(0.0, 1.0)


def test_bernoulli():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    probs = mytorch.tensor(np.tile(p, (N // 5, 1)), dtype=mytorch.float64)
    x = mytorch.bernoulli(probs)
    assert x.dtype == mytorch.float64 and x.shape == probs.shape
    np.testing.assert_allclose(x.mean(0).numpy(), p, atol=0.01)
    assert set(np.unique(x.numpy())) <= {0.0, 1.0}
    y = probs.bernoulli(0.25)
    assert abs(y.mean().item() - 0.25) < 0.01
    with pytest.raises(RuntimeError, match="bernoulli"):
        mytorch.bernoulli(mytorch.tensor([1.5]))


def test_bernoulli_inplace_and_seed():
    x = mytorch.zeros(N, dtype=mytorch.int32)
    mytorch.manual_seed(3)
    x.bernoulli_(0.3)
    assert x.dtype == mytorch.int32 and abs(x.float().mean().item() - 0.3) < 0.01
    y = mytorch.zeros(N, dtype=mytorch.int32)
    mytorch.manual_seed(3)
    y.bernoulli_(0.3)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    z = mytorch.zeros(2, N // 2).bernoulli_(mytorch.tensor([[0.2], [0.8]]))
    np.testing.assert_allclose(z.mean(1).numpy(), [0.2, 0.8], atol=0.01)


def _freq(idx, n):
    return np.bincount(np.asarray(idx).reshape(-1), minlength=n) / np.asarray(idx).size


def test_multinomial_with_replacement_matches_torch():
    w = [0.0, 1.0, 2.0, 3.0, 4.0]
    m = mytorch.multinomial(mytorch.tensor(w), N, replacement=True)
    t = torch.multinomial(torch.tensor(w), N, replacement=True)
    assert m.dtype == mytorch.int64 and m.shape == (N,)
    np.testing.assert_allclose(_freq(m.numpy(), 5), np.array(w) / 10, atol=0.005)
    np.testing.assert_allclose(_freq(m.numpy(), 5), _freq(t.numpy(), 5), atol=0.007)
    rows = mytorch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 5.0]]).multinomial(1000, True)
    assert rows.shape == (2, 1000)
    assert set(np.unique(rows[0].numpy())) == {0, 2} and set(np.unique(rows[1].numpy())) == {2}


def test_multinomial_without_replacement_matches_torch():
    w = [1.0, 2.0, 3.0, 4.0]
    reps = 20_000
    m = mytorch.multinomial(mytorch.tensor([w] * reps), 2)
    t = torch.multinomial(torch.tensor([w] * reps), 2)
    mn = m.numpy()
    assert m.shape == (reps, 2) and (mn[:, 0] != mn[:, 1]).all()
    # first draw ~ w / sum(w); the second's law is the one torch samples too
    np.testing.assert_allclose(_freq(mn[:, 0], 4), np.array(w) / 10, atol=0.01)
    np.testing.assert_allclose(_freq(mn[:, 1], 4), _freq(t.numpy()[:, 1], 4), atol=0.015)
    perm = mytorch.multinomial(mytorch.tensor([0.0, 1.0, 1.0, 1.0]), 3).numpy()
    assert sorted(perm.tolist()) == [1, 2, 3]


def test_multinomial_generator_and_seed():
    w = mytorch.tensor([1.0, 2.0, 3.0])
    g1, g2 = mytorch.Generator().manual_seed(5), mytorch.Generator().manual_seed(5)
    np.testing.assert_array_equal(mytorch.multinomial(w, 50, True, generator=g1).numpy(),
                                  mytorch.multinomial(w, 50, True, generator=g2).numpy())
    mytorch.manual_seed(9)
    a = mytorch.multinomial(w, 3).numpy()
    mytorch.manual_seed(9)
    np.testing.assert_array_equal(a, mytorch.multinomial(w, 3).numpy())


@pytest.mark.parametrize("w,n,repl,match", [
    ([1.0, -1.0], 1, True, "element < 0"),
    ([1.0, float("nan")], 1, True, "nan"),
    ([0.0, 0.0], 1, True, "sums to 0"),
    ([1.0, 1.0], 3, False, "cannot sample 3 > 2"),
    ([1.0, 0.0, 0.0], 2, False, "non-zero"),
    ([[[1.0]]], 1, True, "1-D or 2-D"),
])
def test_multinomial_bad_input(w, n, repl, match):
    with pytest.raises(RuntimeError, match=match):
        mytorch.multinomial(mytorch.tensor(w), n, repl)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int8", "uint8", "int32",
                                   "int64", "bool"])
def test_random_default_range_matches_torch(dtype):
    t = torch.zeros(N, dtype=getattr(torch, dtype)).random_()
    m = mytorch.zeros(N, dtype=getattr(mytorch, dtype)).random_()
    assert m.dtype == getattr(mytorch, dtype)
    tn, mn = t.numpy().astype(np.float64), m.numpy().astype(np.float64)
    assert mn.min() >= 0 and (mn == np.floor(mn)).all()
    # same upper bound: the largest values drawn are within 2% of each other
    assert abs(mn.max() - tn.max()) <= 0.02 * tn.max()
    assert abs(mn.mean() - tn.mean()) <= 0.02 * tn.max()


def test_random_bounds():
    x = mytorch.zeros(N).random_(10)
    assert set(np.unique(x.numpy())) == set(range(10))
    y = mytorch.zeros(N, dtype=mytorch.int64).random_(-3, 4)
    assert set(np.unique(y.numpy())) == set(range(-3, 4))
    z = mytorch.zeros(1000, dtype=mytorch.int64)
    z.random_(**{"from": 5, "to": 8})
    assert set(np.unique(z.numpy())) == {5, 6, 7}
    with pytest.raises(RuntimeError, match="random_.*less than"):
        mytorch.zeros(3).random_(5, 5)


def test_exponential():
    x = mytorch.zeros(N, dtype=mytorch.float64)
    assert x.exponential_(2.0) is x
    assert x.min().item() >= 0
    assert abs(x.mean().item() - 0.5) < 0.01 and abs(x.std().item() - 0.5) < 0.01
    with pytest.raises(RuntimeError, match="exponential_"):
        x.exponential_(0.0)


def test_inplace_random_on_leaf_requiring_grad():
    x = mytorch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x.exponential_()
    with mytorch.no_grad():
        x.bernoulli_(0.5)


@pytest.mark.parametrize("args", [(0, 2, 3), (-1.0, 1.5, 5), (0, 3, 4, 2.0), (2, 0, 1),
                                  (0, 1, 0)], ids=str)
def test_logspace(args):
    want = torch.logspace(*args)
    got = mytorch.logspace(*args)
    assert got.dtype == mytorch.float32 and got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    got64 = mytorch.logspace(*args, dtype=mytorch.float64)
    np.testing.assert_allclose(got64.numpy(), torch.logspace(*args, dtype=torch.float64).numpy(),
                               rtol=1e-12)
    assert mytorch.logspace(0, 2, 3, dtype=mytorch.int64).tolist() == [1, 10, 100]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_finfo(dtype):
    t, m = torch.finfo(getattr(torch, dtype)), mytorch.finfo(getattr(mytorch, dtype))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(m, attr) == getattr(t, attr), attr
        assert type(getattr(m, attr)) is type(getattr(t, attr)), attr
    assert mytorch.finfo().dtype == "float32"
    assert repr(m) == repr(t)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
def test_iinfo(dtype):
    t, m = torch.iinfo(getattr(torch, dtype)), mytorch.iinfo(getattr(mytorch, dtype))
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(m, attr) == getattr(t, attr), attr
    assert repr(m) == repr(t)


def test_info_bad_dtype():
    with pytest.raises(TypeError, match="finfo"):
        mytorch.finfo(mytorch.int32)
    with pytest.raises(TypeError, match="iinfo"):
        mytorch.iinfo(mytorch.float32)


def test_itemsize_and_new_empty():
    for dt in ("float16", "float32", "float64", "int8", "int64", "bool"):
        assert mytorch.zeros(2, dtype=getattr(mytorch, dt)).itemsize == \
            torch.zeros(2, dtype=getattr(torch, dt)).itemsize
    x = mytorch.zeros(2, dtype=mytorch.float64)
    e = x.new_empty(3, 4)
    assert e.shape == (3, 4) and e.dtype == mytorch.float64 and not e.requires_grad
    e = x.new_empty((2,), dtype=mytorch.int32)
    assert e.shape == (2,) and e.dtype == mytorch.int32
    assert x.new_empty(1, requires_grad=True).requires_grad
