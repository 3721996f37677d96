"""mytorch.distributions against torch.distributions: log_prob, entropy, moments, cdf and KL
(values and gradients) on identical parameters; samples statistically."""
import math

import numpy as np
import pytest
import torch
import torch.distributions as td

import mytorch
import mytorch.distributions as md
from tests.helpers import check

F64 = np.float64


def _rng(seed=0):
    return np.random.default_rng(seed)


def _u(shape, low, high, dtype=np.float32, seed=0):
    return np.asarray(_rng(seed).uniform(low, high, size=shape)).astype(dtype)


def assert_torch(make, inputs, **kw):
    """Assert make(mytorch.distributions, *tensors) matches make(torch.distributions, ...):
    values and gradients (tests.helpers.check, which asserts)."""
    return check(lambda *a: make(md, *a), inputs=inputs,
                 torch_fn=lambda *a: make(td, *a), **kw)


def _moments(d):
    return d.mean, d.variance, d.stddev


# ---------------------------------------------------------------- continuous, scalar events

LOC_SCALE_SHAPES = [((), (), ()), ((3,), (3,), (3,)), ((2, 3), (3,), (4, 1, 3)),
                    ((2, 1), (1, 3), (2, 3)), ((1,), (4,), (5, 1))]


@pytest.mark.parametrize("cls", ["Normal", "Laplace"])
@pytest.mark.parametrize("sl,ss,sv", LOC_SCALE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_loc_scale_log_prob_entropy(cls, sl, ss, sv, dtype):
    inputs = [_u(sl, -1, 1, dtype, 0), _u(ss, 0.5, 2, dtype, 1), _u(sv, -2, 2, dtype, 2)]
    assert_torch(lambda D, loc, scale, v: getattr(D, cls)(loc, scale).log_prob(v), inputs)
    assert_torch(lambda D, loc, scale, v: getattr(D, cls)(loc, scale).cdf(v), inputs)
    assert_torch(lambda D, loc, scale: getattr(D, cls)(loc, scale).entropy(), inputs[:2])
    assert_torch(lambda D, loc, scale: _moments(getattr(D, cls)(loc, scale)), inputs[:2])
    assert_torch(lambda D, loc, scale: getattr(D, cls)(loc, scale).mode, inputs[:2])
    p = [inputs[0], inputs[1], _u(sv, 0.05, 0.95, dtype, 3)]
    assert_torch(lambda D, loc, scale, q: getattr(D, cls)(loc, scale).icdf(q), p)


@pytest.mark.parametrize("cls", ["Normal", "Laplace"])
def test_loc_scale_number_params(cls):
    v = [_u((2, 3), -2, 2)]
    assert_torch(lambda D, x: getattr(D, cls)(x, 1.5).log_prob(x * 0.5), v)
    assert_torch(lambda D, x: getattr(D, cls)(0.25, x.abs() + 0.5).log_prob(x), v)
    m, t = getattr(md, cls)(0.0, 2.0), getattr(td, cls)(0.0, 2.0)
    assert m.batch_shape == tuple(t.batch_shape) == ()
    assert m.loc.dtype == mytorch.float32
    np.testing.assert_allclose(m.entropy().numpy(), t.entropy().numpy(), rtol=1e-6)


def test_normal_noncontig():
    a = _u((3, 4), -1, 1).T
    s = _u((4, 3), 0.5, 2, seed=1)
    v = _u((3, 4), -1, 1, seed=2).T
    assert_torch(lambda D, loc, scale, x: D.Normal(loc, scale).log_prob(x), [a, s, v])


@pytest.mark.parametrize("sl,sh,sv", [((), (), ()), ((3,), (3,), (3,)), ((2, 3), (3,), (4, 2, 3))])
@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_uniform(sl, sh, sv, dtype):
    low, high = _u(sl, -2, -1, dtype), _u(sh, 1, 2, dtype, 1)
    v = _u(sv, -0.9, 0.9, dtype, 2)
    assert_torch(lambda D, a, b, x: D.Uniform(a, b).log_prob(x), [low, high, v])
    assert_torch(lambda D, a, b, x: D.Uniform(a, b).cdf(x), [low, high, v])
    assert_torch(lambda D, a, b: D.Uniform(a, b).entropy(), [low, high])
    assert_torch(lambda D, a, b: _moments(D.Uniform(a, b)), [low, high])
    assert_torch(lambda D, a, b: D.Uniform(a, b).mode, [low, high])
    assert_torch(lambda D, a, b, q: D.Uniform(a, b).icdf(q), [low, high, _u(sv, 0, 1, dtype, 3)])


def test_uniform_outside_support_without_validation():
    args = [_u((3,), 0, 1), _u((3,), 2, 3, seed=1), np.array([-1.0, 1.5, 3.5], np.float32)]
    assert_torch(lambda D, a, b, x: D.Uniform(a, b, validate_args=False).log_prob(x), args,
                 grad=False)


@pytest.mark.parametrize("sr,sv", [((), ()), ((3,), (3,)), ((3,), (4, 3)), ((2, 1), (1, 3))])
@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_exponential(sr, sv, dtype):
    rate, v = _u(sr, 0.5, 2, dtype), _u(sv, 0, 3, dtype, 1)
    assert_torch(lambda D, r, x: D.Exponential(r).log_prob(x), [rate, v])
    assert_torch(lambda D, r, x: D.Exponential(r).cdf(x), [rate, v])
    assert_torch(lambda D, r: D.Exponential(r).entropy(), [rate])
    assert_torch(lambda D, r: _moments(D.Exponential(r)), [rate])
    assert_torch(lambda D, r: D.Exponential(r).mode, [rate], grad=False)
    assert_torch(lambda D, r, q: D.Exponential(r).icdf(q), [rate, _u(sv, 0, 0.95, dtype, 2)])


# ---------------------------------------------------------------- discrete

@pytest.mark.parametrize("shape,sv", [((), ()), ((3,), (3,)), ((2, 3), (4, 2, 3)), ((3,), (2, 1))])
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_bernoulli(shape, sv, param):
    p = _u(shape, 0.1, 0.9, F64) if param == "probs" else _u(shape, -3, 3, F64)
    v = _rng(4).integers(0, 2, size=sv).astype(F64)
    assert_torch(lambda D, a, x: D.Bernoulli(**{param: a}).log_prob(x), [p, v])
    assert_torch(lambda D, a: D.Bernoulli(**{param: a}).entropy(), [p])
    assert_torch(lambda D, a: (D.Bernoulli(**{param: a}).mean, D.Bernoulli(**{param: a}).variance),
                 [p])
    assert_torch(lambda D, a: (D.Bernoulli(**{param: a}).probs, D.Bernoulli(**{param: a}).logits),
                 [p])


def test_bernoulli_mode_and_numbers():
    assert_torch(lambda D, a: D.Bernoulli(a).mode, [np.array([0.2, 0.5, 0.7], np.float32)],
                 grad=False)
    m, t = md.Bernoulli(0.3), td.Bernoulli(0.3)
    v = np.array([0.0, 1.0], np.float32)
    np.testing.assert_allclose(m.log_prob(mytorch.tensor(v)).numpy(),
                               t.log_prob(torch.tensor(v)).numpy(), rtol=1e-6)
    assert m.probs.dtype == mytorch.float32 and m.batch_shape == ()


@pytest.mark.parametrize("shape,sv", [((4,), ()), ((4,), (5,)), ((2, 4), (2,)), ((2, 4), (3, 2)),
                                      ((3, 1, 4), (2, 3, 1))])
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_categorical(shape, sv, param):
    p = _u(shape, 0.1, 1, F64) if param == "probs" else _u(shape, -3, 3, F64)
    v = _rng(5).integers(0, shape[-1], size=sv)
    assert_torch(lambda D, a, x: D.Categorical(**{param: a}).log_prob(x), [p, v])
    assert_torch(lambda D, a: D.Categorical(**{param: a}).entropy(), [p])
    assert_torch(lambda D,
                 a: (D.Categorical(**{param: a}).probs, D.Categorical(**{param: a}).logits),
         [p])
    assert_torch(lambda D,
                 a: (D.Categorical(**{param: a}).mean, D.Categorical(**{param: a}).variance),
         [p], grad=False)
    assert_torch(lambda D, a: D.Categorical(**{param: a}).mode, [p], grad=False)
    m = md.Categorical(**{param: mytorch.tensor(p)})
    t = td.Categorical(**{param: torch.tensor(p)})
    assert m.batch_shape == tuple(t.batch_shape) and m.event_shape == tuple(t.event_shape)
    assert m.param_shape == tuple(t.param_shape)


def test_categorical_zero_probs_entropy():
    p = np.array([[0.0, 0.3, 0.7], [0.5, 0.5, 0.0]], F64)
    assert_torch(lambda D, a: D.Categorical(a).entropy(), [p])


@pytest.mark.parametrize("shape,sv", [((4,), ()), ((2, 4), (3, 2))])
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_one_hot_categorical(shape, sv, param):
    p = _u(shape, 0.1, 1, F64) if param == "probs" else _u(shape, -3, 3, F64)
    idx = _rng(6).integers(0, shape[-1], size=sv)
    v = np.eye(shape[-1])[idx]
    assert_torch(lambda D, a, x: D.OneHotCategorical(**{param: a}).log_prob(x), [p, v])
    assert_torch(lambda D, a: D.OneHotCategorical(**{param: a}).entropy(), [p])
    assert_torch(lambda D, a: _moments(D.OneHotCategorical(**{param: a})), [p])
    assert_torch(lambda D, a: D.OneHotCategorical(**{param: a}).mode, [p], grad=False)
    m = md.OneHotCategorical(**{param: mytorch.tensor(p)})
    assert m.event_shape == (shape[-1],) and m.batch_shape == shape[:-1]


# ---------------------------------------------------------------- multivariate normal

def _spd(shape, seed=0):
    """Raw matrices A; the SPD covariance is A A^T + n I, built inside each library."""
    return _u(shape, -1, 1, F64, seed)


def _cov(A):
    n = A.shape[-1]
    eye = torch.eye(n, dtype=A.dtype) if isinstance(A, torch.Tensor) else \
        mytorch.eye(n, dtype=A.dtype)
    return A @ A.mT + n * eye


def _tril(shape, seed=0):
    L = np.tril(_u(shape, -1, 1, F64, seed))
    i = np.arange(shape[-1])
    L[..., i, i] = np.abs(L[..., i, i]) + 0.5
    return L


MVN_SHAPES = [((3,), (3, 3), (3,)), ((3,), (3, 3), (5, 3)), ((2, 1, 3), (4, 3, 3), (5, 2, 4, 3)),
              ((4, 2), (2, 2), (4, 2)), ((1,), (1, 1), (6, 1))]


@pytest.mark.parametrize("sl,sm,sv", MVN_SHAPES)
def test_mvn_covariance(sl, sm, sv):
    inputs = [_u(sl, -1, 1, F64), _spd(sm, 1), _u(sv, -2, 2, F64, 2)]
    assert_torch(lambda D, m, A, x: D.MultivariateNormal(m, _cov(A)).log_prob(x), inputs)
    assert_torch(lambda D, m, A: D.MultivariateNormal(m, _cov(A)).entropy(), inputs[:2])
    assert_torch(lambda D, m, A: (D.MultivariateNormal(m, _cov(A)).mean,
                          D.MultivariateNormal(m, _cov(A)).variance,
                          D.MultivariateNormal(m, _cov(A)).scale_tril), inputs[:2])
    assert_torch(lambda D, m,
                 A: D.MultivariateNormal(m, precision_matrix=_cov(A)).log_prob(m * 0.5),
         inputs[:2], atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("sl,sm,sv", MVN_SHAPES)
def test_mvn_scale_tril(sl, sm, sv):
    inputs = [_u(sl, -1, 1, F64), _tril(sm, 1), _u(sv, -2, 2, F64, 2)]
    assert_torch(lambda D, m, L, x: D.MultivariateNormal(m, scale_tril=L).log_prob(x), inputs)
    assert_torch(lambda D, m, L: D.MultivariateNormal(m, scale_tril=L).entropy(), inputs[:2])
    assert_torch(lambda D, m, L: (D.MultivariateNormal(m, scale_tril=L).covariance_matrix,
                          D.MultivariateNormal(m, scale_tril=L).precision_matrix,
                          D.MultivariateNormal(m, scale_tril=L).variance), inputs[:2])
    m = md.MultivariateNormal(mytorch.tensor(inputs[0]), scale_tril=mytorch.tensor(inputs[1]))
    t = td.MultivariateNormal(torch.tensor(inputs[0]), scale_tril=torch.tensor(inputs[1]))
    assert m.batch_shape == tuple(t.batch_shape) and m.event_shape == tuple(t.event_shape)


def test_mvn_float32():
    inputs = [_u((2, 3), -1, 1), _tril((3, 3), 1).astype(np.float32), _u((4, 2, 3), -2, 2)]
    assert_torch(lambda D, m, L, x: D.MultivariateNormal(m, scale_tril=L).log_prob(x), inputs,
         atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- KL divergence

@pytest.mark.parametrize("sp,sq", [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 4))])
def test_kl_normal(sp, sq):
    inputs = [_u(sp, -1, 1, F64), _u(sp, 0.5, 2, F64, 1), _u(sq, -1, 1, F64, 2),
              _u(sq, 0.5, 2, F64, 3)]
    assert_torch(lambda D, a, b, c, d: D.kl_divergence(D.Normal(a, b), D.Normal(c, d)), inputs)


@pytest.mark.parametrize("sp,sq", [((), ()), ((3,), (3,)), ((2, 3), (2, 3))])  # torch: same shapes
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_kl_bernoulli(sp, sq, param):
    lo, hi = (0.1, 0.9) if param == "probs" else (-3, 3)
    inputs = [_u(sp, lo, hi, F64), _u(sq, lo, hi, F64, 1)]
    assert_torch(lambda D, a,
                 b: D.kl_divergence(D.Bernoulli(**{param: a}), D.Bernoulli(**{param: b})),
         inputs)


def test_kl_bernoulli_edges():
    p = np.array([0.0, 1.0, 0.3, 0.0, 0.5], F64)
    q = np.array([0.2, 0.7, 0.0, 0.0, 1.0], F64)
    assert_torch(lambda D, a, b: D.kl_divergence(D.Bernoulli(a), D.Bernoulli(b)), [p, q],
                 grad=False)


@pytest.mark.parametrize("sp,sq", [((4,), (4,)), ((2, 4), (4,)), ((3, 1, 4), (2, 4))])
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_kl_categorical(sp, sq, param):
    lo, hi = (0.1, 1) if param == "probs" else (-3, 3)
    inputs = [_u(sp, lo, hi, F64), _u(sq, lo, hi, F64, 1)]
    assert_torch(lambda D, a, b: D.kl_divergence(D.Categorical(**{param: a}),
                                         D.Categorical(**{param: b})), inputs)
    assert_torch(lambda D, a, b: D.kl_divergence(D.OneHotCategorical(**{param: a}),
                                         D.OneHotCategorical(**{param: b})), inputs)


def test_kl_categorical_zero_probs():
    p = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]], F64)
    q = np.array([[0.3, 0.3, 0.4], [0.0, 0.5, 0.5]], F64)
    assert_torch(lambda D, a, b: D.kl_divergence(D.Categorical(a), D.Categorical(b)), [p, q],
         grad=False)


@pytest.mark.parametrize("sp,sq", [(((3,), (3, 3)), ((3,), (3, 3))),
                                   (((2, 3), (3, 3)), ((3,), (4, 1, 3, 3))),
                                   (((2, 1, 3), (2, 3, 3)), ((2, 3), (3, 3)))])
@pytest.mark.parametrize("form", ["cov", "tril"])
def test_kl_mvn(sp, sq, form):
    (slp, smp), (slq, smq) = sp, sq
    mat = _spd if form == "cov" else _tril
    inputs = [_u(slp, -1, 1, F64), mat(smp, 1), _u(slq, -1, 1, F64, 2), mat(smq, 3)]

    def make(D, a, A, b, B):
        if form == "cov":
            return D.kl_divergence(D.MultivariateNormal(a, _cov(A)),
                                   D.MultivariateNormal(b, _cov(B)))
        return D.kl_divergence(D.MultivariateNormal(a, scale_tril=A),
                               D.MultivariateNormal(b, scale_tril=B))
    assert_torch(make, inputs)


def test_kl_mvn_event_mismatch():
    p = md.MultivariateNormal(mytorch.zeros(2), scale_tril=mytorch.eye(2))
    q = md.MultivariateNormal(mytorch.zeros(3), scale_tril=mytorch.eye(3))
    with pytest.raises(ValueError, match="different event shapes"):
        md.kl_divergence(p, q)


def test_register_kl_and_dispatch():
    class MyNormal(md.Normal):
        pass

    p, q = MyNormal(0.0, 1.0), md.Normal(1.0, 2.0)
    ref = md.kl_divergence(md.Normal(0.0, 1.0), q)
    assert float(md.kl_divergence(p, q)) == pytest.approx(float(ref))  # inherits Normal's

    @md.register_kl(MyNormal, md.Normal)
    def _kl(a, b):
        return a.loc * 0 + 7.0

    assert float(md.kl_divergence(p, q)) == 7.0
    assert float(md.kl_divergence(md.Normal(0.0, 1.0), q)) == pytest.approx(float(ref))
    with pytest.raises(NotImplementedError, match="Normal.*Exponential"):
        md.kl_divergence(md.Normal(0.0, 1.0), md.Exponential(1.0))
    with pytest.raises(TypeError):
        md.register_kl(md.Normal, 3)


# ---------------------------------------------------------------- sampling

N = 200_000


def _stats(x):
    x = x.numpy().astype(F64)
    return x.mean(0), x.var(0)


@pytest.mark.parametrize("make,mean,var", [
    (lambda: md.Normal(mytorch.tensor([0.0, 2.0]), mytorch.tensor([1.0, 0.5])),
     [0.0, 2.0], [1.0, 0.25]),
    (lambda: md.Uniform(mytorch.tensor([0.0, -1.0]), mytorch.tensor([1.0, 3.0])),
     [0.5, 1.0], [1 / 12, 16 / 12]),
    (lambda: md.Exponential(mytorch.tensor([1.0, 4.0])), [1.0, 0.25], [1.0, 1 / 16]),
    (lambda: md.Laplace(mytorch.tensor([1.0, -1.0]), mytorch.tensor([1.0, 0.5])),
     [1.0, -1.0], [2.0, 0.5]),
    (lambda: md.Bernoulli(mytorch.tensor([0.2, 0.7])), [0.2, 0.7], [0.16, 0.21]),
])
def test_sample_moments(make, mean, var):
    mytorch.manual_seed(0)
    d = make()
    x = d.sample((N,))
    assert tuple(x.shape) == (N, 2) and x.dtype == mytorch.float32 and not x.requires_grad
    m, v = _stats(x)
    np.testing.assert_allclose(m, mean, atol=0.02)
    np.testing.assert_allclose(v, var, rtol=0.05, atol=0.005)
    np.testing.assert_allclose(d.mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(d.variance.numpy(), var, rtol=1e-5)


def test_sample_reproducible_and_shapes():
    d = md.Normal(mytorch.zeros(2, 3), 1.0)
    mytorch.manual_seed(3)
    a = d.sample((4,))
    mytorch.manual_seed(3)
    b = d.sample((4,))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tuple(d.sample().shape) == (2, 3) and tuple(d.sample(5).shape) == (5, 2, 3)
    assert tuple(d.rsample((4, 1)).shape) == (4, 1, 2, 3)
    c = md.Categorical(logits=mytorch.zeros(2, 3, 5))
    s = c.sample((4, 6))
    assert tuple(s.shape) == (4, 6, 2, 3) and s.dtype == mytorch.int64
    assert tuple(c.sample().shape) == (2, 3)
    oh = md.OneHotCategorical(mytorch.ones(2, 5)).sample((3,))
    assert tuple(oh.shape) == (3, 2, 5) and np.all(oh.numpy().sum(-1) == 1)


def test_categorical_sample_frequencies():
    mytorch.manual_seed(1)
    p = np.array([[0.1, 0.2, 0.7], [0.5, 0.0, 0.5]], np.float32)
    x = md.Categorical(mytorch.tensor(p)).sample((N,)).numpy()
    for row in range(2):
        freq = np.bincount(x[:, row], minlength=3) / N
        np.testing.assert_allclose(freq, p[row], atol=0.01)
    assert not np.any(x[:, 1] == 1)


def test_mvn_sample_covariance():
    mytorch.manual_seed(2)
    L = _tril((3, 3), 4)
    loc = np.array([1.0, -1.0, 0.5])
    d = md.MultivariateNormal(mytorch.tensor(loc), scale_tril=mytorch.tensor(L))
    x = d.sample((N,)).numpy()
    assert x.shape == (N, 3)
    np.testing.assert_allclose(x.mean(0), loc, atol=0.03)
    np.testing.assert_allclose(np.cov(x.T), L @ L.T, atol=0.03)
    batched = md.MultivariateNormal(mytorch.zeros(2, 3, dtype=mytorch.float64),
                                    scale_tril=mytorch.tensor(L))
    assert tuple(batched.rsample((4,)).shape) == (4, 2, 3)


@pytest.mark.parametrize("cls", ["Normal", "Laplace"])
def test_rsample_gradients(cls):
    loc = mytorch.tensor([0.5, -1.0], requires_grad=True)
    scale = mytorch.tensor([1.0, 2.0], requires_grad=True)
    mytorch.manual_seed(0)
    x = getattr(md, cls)(loc, scale).rsample((1000,))
    x.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [1000, 1000])
    z = (x.detach().numpy() - loc.detach().numpy()) / scale.detach().numpy()
    np.testing.assert_allclose(scale.grad.numpy(), z.sum(0), rtol=1e-4)


def test_rsample_gradients_mvn_and_others():
    loc = mytorch.zeros(2, dtype=mytorch.float64, requires_grad=True)
    L = mytorch.tensor(_tril((2, 2), 1), requires_grad=True)
    mytorch.manual_seed(0)
    x = md.MultivariateNormal(loc, scale_tril=L).rsample((10,))
    x.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [10, 10])
    eps = np.linalg.solve(L.detach().numpy(), x.detach().numpy().T)  # (2, 10)
    np.testing.assert_allclose(L.grad.numpy(), np.ones((2, 1)) * eps.sum(1)[None], rtol=1e-8)
    rate = mytorch.tensor([2.0], requires_grad=True)
    y = md.Exponential(rate).rsample((100,))
    y.sum().backward()
    np.testing.assert_allclose(rate.grad.numpy(), -y.detach().numpy().sum(0) / 2.0, rtol=1e-5)
    lo = mytorch.tensor([0.0], requires_grad=True)
    hi = mytorch.tensor([2.0], requires_grad=True)
    md.Uniform(lo, hi).rsample((100,)).sum().backward()
    assert float(lo.grad) + float(hi.grad) == pytest.approx(100)
    with pytest.raises(NotImplementedError, match="rsample"):
        md.Bernoulli(0.5).rsample()


# ---------------------------------------------------------------- expand, shapes

def test_expand():
    loc, scale = _u((3,), -1, 1, F64), _u((1, 3), 0.5, 2, F64, 1)
    v = _u((4, 2, 3), -1, 1, F64, 2)
    assert_torch(lambda D, a, b, x: D.Normal(a, b).expand((2, 3)).log_prob(x), [loc, scale, v])
    assert_torch(lambda D, a, x: D.Categorical(logits=a).expand((4, 2)).log_prob(x),
         [_u((1, 3), -1, 1, F64), _rng(0).integers(0, 3, size=(4, 2))])
    assert_torch(lambda D, a: D.Bernoulli(a).expand((2, 3)).entropy(), [_u((3,), 0.1, 0.9, F64)])
    for make in (lambda: md.Uniform(0.0, 1.0), lambda: md.Exponential(1.0),
                 lambda: md.Laplace(0.0, 1.0), lambda: md.OneHotCategorical(mytorch.ones(3))):
        e = make().expand((2, 4))
        assert e.batch_shape == (2, 4)
        assert tuple(e.sample().shape) == (2, 4) + e.event_shape
    m = md.MultivariateNormal(mytorch.zeros(3), scale_tril=mytorch.eye(3)).expand((5,))
    assert m.batch_shape == (5,) and tuple(m.log_prob(mytorch.zeros(3)).shape) == (5,)


# ---------------------------------------------------------------- validation

def test_bad_parameters():
    with pytest.raises(ValueError, match="parameter scale.*GreaterThan"):
        md.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="parameter scale"):
        md.Laplace(mytorch.zeros(2), mytorch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="parameter rate"):
        md.Exponential(mytorch.tensor([-1.0]))
    with pytest.raises(ValueError, match="parameter low"):
        md.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="parameter probs"):
        md.Bernoulli(mytorch.tensor([1.5]))
    with pytest.raises(ValueError, match="parameter probs"):
        md.Categorical(mytorch.tensor([0.5, -0.1, 0.6]))
    with pytest.raises(ValueError, match="parameter loc"):
        md.Normal(mytorch.tensor([math.nan]), 1.0)
    with pytest.raises(ValueError, match="not both"):
        md.Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match="not both"):
        md.Categorical()
    with pytest.raises(ValueError, match="at least one-dimensional"):
        md.Categorical(mytorch.tensor(1.0))
    with pytest.raises(ValueError, match="Exactly one"):
        md.MultivariateNormal(mytorch.zeros(2))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        md.MultivariateNormal(mytorch.tensor(0.0), scale_tril=mytorch.eye(1))
    with pytest.raises(ValueError, match="covariance_matrix.*PositiveDefinite"):
        md.MultivariateNormal(mytorch.zeros(2), mytorch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="scale_tril.*LowerCholesky"):
        md.MultivariateNormal(mytorch.zeros(2), scale_tril=mytorch.ones(2, 2))
    with pytest.raises(ValueError, match=r"\(2, 2\) matrices"):
        md.MultivariateNormal(mytorch.zeros(2), scale_tril=mytorch.eye(3))
    md.Normal(0.0, -1.0, validate_args=False)  # no check when asked


def test_bad_values():
    with pytest.raises(ValueError, match="support"):
        md.Exponential(1.0).log_prob(mytorch.tensor([-1.0]))
    with pytest.raises(ValueError, match="support"):
        md.Bernoulli(0.5).log_prob(mytorch.tensor([0.5]))
    with pytest.raises(ValueError, match="support"):
        md.Categorical(mytorch.ones(3)).log_prob(mytorch.tensor([3]))
    with pytest.raises(ValueError, match="support"):
        md.Uniform(0.0, 1.0).log_prob(mytorch.tensor([1.0]))
    with pytest.raises(ValueError, match="broadcastable"):
        md.Normal(mytorch.zeros(3), 1.0).log_prob(mytorch.zeros(2))
    with pytest.raises(ValueError, match="event_shape"):
        md.MultivariateNormal(mytorch.zeros(3), scale_tril=mytorch.eye(3)).log_prob(
            mytorch.zeros(2))
    with pytest.raises(ValueError, match="must be a Tensor"):
        md.Normal(0.0, 1.0).log_prob(0.5)
    out = md.Exponential(1.0, validate_args=False).log_prob(mytorch.tensor([-1.0]))
    assert float(out[0]) == pytest.approx(1.0)
