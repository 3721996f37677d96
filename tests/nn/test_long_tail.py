"""Long-tail layers and losses against PyTorch: Bilinear, Threshold, Softmax2d, ChannelShuffle,
LocalResponseNorm, LPPool, MaxUnpool, CosineSimilarity/PairwiseDistance modules, Embedding
max_norm, and the margin / likelihood losses."""
import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from tests.helpers import check

RED = ["mean", "sum", "none"]
rng = np.random.default_rng(0)


def _pm1(*shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _as(like, a):
    """Array `a` as a tensor (without grad) of like's library."""
    return torch.from_numpy(a) if isinstance(like, torch.Tensor) else mytorch.Tensor(a)


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


# ---------------------------------------------------------------- layers


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


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 3), 3), ((1, 4, 5), 2), ((2, 8, 2, 1, 2), 4)])
def test_channel_shuffle(shape, groups):
    check(lambda x: _lib(x)[1].channel_shuffle(x, groups), shapes=[shape])
    check(lambda x: _lib(x)[2].ChannelShuffle(groups)(x), shapes=[shape], noncontig=True)
    with pytest.raises(RuntimeError, match="divisible"):
        F.channel_shuffle(mytorch.randn(2, 5, 3), 2)


@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 6, 3, 4), (1, 5, 2, 2, 3)])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm(shape, size):
    check(lambda x: _lib(x)[1].local_response_norm(x, size, alpha=0.3, beta=0.6, k=2.0),
          shapes=[shape], dtype=np.float64)
    check(lambda x: _lib(x)[2].LocalResponseNorm(size)(x), shapes=[shape])
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(mytorch.randn(2, 3), 2)
    assert repr(nn.LocalResponseNorm(2)) == repr(torch.nn.LocalResponseNorm(2))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("kernel,stride,ceil", [(2, None, False), (3, 2, True), ((2, 3), 1, False)])
def test_lp_pool2d(p, kernel, stride, ceil):
    check(lambda x: _lib(x)[1].lp_pool2d(x, p, kernel, stride, ceil), shapes=[(2, 3, 7, 8)],
          low=0.1, high=2.0, dtype=np.float64)
    check(lambda x: _lib(x)[2].LPPool2d(p, kernel, stride, ceil)(x), shapes=[(3, 7, 8)],
          low=0.1, high=2.0)


@pytest.mark.parametrize("p", [1.0, 2.0])
@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 1)])
def test_lp_pool1d(p, kernel, stride):
    check(lambda x: _lib(x)[1].lp_pool1d(x, p, kernel, stride), shapes=[(2, 3, 9)], low=0.1,
          dtype=np.float64)
    check(lambda x: _lib(x)[2].LPPool1d(p, kernel, stride)(x), shapes=[(3, 9)], low=0.1)
    assert repr(nn.LPPool1d(2, 3)) == repr(torch.nn.LPPool1d(2, 3))


@pytest.mark.parametrize("shape,k,s,pad,out", [
    ((2, 3, 6, 8), 2, None, 0, None), ((1, 2, 7, 7), 3, 2, 1, None),
    ((2, 1, 5, 5), 2, 2, 0, (5, 5)), ((3, 6, 6), 2, 2, 0, None),
    ((1, 1, 4, 4), (2, 1), (2, 1), 0, (1, 1, 5, 4))])
def test_max_unpool2d(shape, k, s, pad, out):
    x = rng.standard_normal(shape)
    tx = torch.from_numpy(x)
    _, ti = TF.max_pool2d(tx, k, s, pad, return_indices=True)
    y, i = F.max_pool2d(mytorch.Tensor(x), k, s, pad, return_indices=True)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    pooled = TF.max_pool2d(tx, k, s, pad).numpy()
    idx = ti.numpy()
    check(lambda v: _lib(v)[1].max_unpool2d(v, idx if isinstance(v, np.ndarray) else
                                            (torch.from_numpy(idx) if isinstance(v, torch.Tensor)
                                             else mytorch.Tensor(idx)), k, s, pad, out),
          inputs=[pooled])
    m, t = nn.MaxUnpool2d(k, s, pad), torch.nn.MaxUnpool2d(k, s, pad)
    assert repr(m) == repr(t)
    np.testing.assert_array_equal(
        m(y, i, out).numpy(), t(torch.from_numpy(pooled), ti, out).numpy())


@pytest.mark.parametrize("shape,k,s", [((2, 3, 9), 2, None), ((3, 10), 3, 2)])
def test_max_unpool1d(shape, k, s):
    x = torch.from_numpy(rng.standard_normal(shape))
    pooled, idx = TF.max_pool1d(x, k, s, return_indices=True)
    check(lambda v: _lib(v)[2].MaxUnpool1d(k, s)(
        v, torch.from_numpy(idx.numpy()) if isinstance(v, torch.Tensor)
        else mytorch.Tensor(idx.numpy())), inputs=[pooled.numpy()])


def test_max_unpool_errors():
    y, i = F.max_pool2d(mytorch.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(y, i, 2, output_size=(9, 9))
    with pytest.raises(RuntimeError, match="max_unpool2d"):
        F.max_unpool2d(y, i[..., :1], 2)
    with pytest.raises(IndexError, match="out of range"):
        F.max_unpool2d(y, i + 100, 2)


def test_distance_modules():
    check(lambda a, b: _lib(a)[2].CosineSimilarity(dim=-1, eps=1e-6)(a, b),
          shapes=[(3, 4), (1, 4)])
    check(lambda a, b: _lib(a)[2].PairwiseDistance(p=3.0, keepdim=True)(a, b),
          shapes=[(3, 4), (3, 4)], noncontig=True)
    assert repr(nn.PairwiseDistance()) == repr(torch.nn.PairwiseDistance())
    assert nn.PairwiseDistance(1.5).norm == torch.nn.PairwiseDistance(1.5).norm


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_embedding_max_norm_renormalises_rows(norm_type):
    w = rng.standard_normal((6, 4)) * 3
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    m = nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type, _weight=mytorch.Tensor(w.copy()))
    t = torch.nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type,
                           _weight=torch.tensor(w.copy()))
    out, tout = m(mytorch.Tensor(idx)), t(torch.from_numpy(idx))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.weight.detach().numpy(), t.weight.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(mytorch.Tensor(g))
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12)
    assert repr(m) == repr(t)


def test_embedding_functional_max_norm_in_place():
    w = mytorch.Tensor(rng.standard_normal((4, 3)) * 5)
    tw = torch.from_numpy(w.numpy().copy())
    F.embedding(mytorch.Tensor(np.array([1, 3])), w, max_norm=2.0)
    TF.embedding(torch.tensor([1, 3]), tw, max_norm=2.0)
    np.testing.assert_allclose(w.numpy(), tw.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("shape", [(5,), (2, 3), ()])
def test_margin_ranking_loss(reduction, shape):
    a, b, y = rng.standard_normal(shape), rng.standard_normal(shape), _pm1(*shape)
    check(lambda a, b, y: _lib(a)[1].margin_ranking_loss(a, b, y, 0.3, reduction=reduction),
          inputs=[a, b, y])
    check(lambda a, b, y: _lib(a)[2].MarginRankingLoss(0.5, reduction=reduction)(a, b, y),
          inputs=[a, b, y])


@pytest.mark.parametrize("reduction", RED)
def test_hinge_embedding_and_soft_margin(reduction):
    x, y = rng.standard_normal((4, 5)), _pm1(4, 5)
    check(lambda x, y: _lib(x)[1].hinge_embedding_loss(x, y, 0.7, reduction=reduction),
          inputs=[x, y])
    check(lambda x, y: _lib(x)[2].HingeEmbeddingLoss(reduction=reduction)(x, y), inputs=[x, y])
    # torch does not differentiate soft_margin_loss w.r.t. target: hold it fixed
    check(lambda x: _lib(x)[1].soft_margin_loss(x, _as(x, y), reduction=reduction), inputs=[x])
    y32 = y.astype(np.float32)
    check(lambda x: _lib(x)[2].SoftMarginLoss(reduction=reduction)(x, _as(x, y32)),
          inputs=[x.astype(np.float32)])


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("batched", [True, False])
def test_cosine_embedding_loss(reduction, batched):
    shape = (4, 6) if batched else (6,)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    y = _pm1(4) if batched else np.array(-1.0)
    check(lambda a, b, y: _lib(a)[1].cosine_embedding_loss(a, b, y, 0.2, reduction=reduction),
          inputs=[a, b, y])
    check(lambda a, b, y: _lib(a)[2].CosineEmbeddingLoss(reduction=reduction)(a, b, y),
          inputs=[a, b, y])
    with pytest.raises(RuntimeError, match="cosine_embedding_loss"):
        F.cosine_embedding_loss(mytorch.randn(3, 4), mytorch.randn(3, 5), mytorch.ones(3))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("p,swap", [(2.0, False), (1.0, True), (3.0, True)])
@pytest.mark.parametrize("shape", [(5, 4), (4,)])
def test_triplet_margin_loss(reduction, p, swap, shape):
    ins = [rng.standard_normal(shape) for _ in range(3)]
    check(lambda a, b, c: _lib(a)[1].triplet_margin_loss(a, b, c, margin=2.0, p=p, swap=swap,
                                                         reduction=reduction), inputs=ins)
    check(lambda a, b, c: _lib(a)[2].TripletMarginLoss(p=p, swap=swap, reduction=reduction)(
        a, b, c), inputs=ins)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        nn.TripletMarginLoss(margin=0)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("log_input,full", [(True, False), (False, True), (True, True)])
def test_poisson_nll_loss(reduction, log_input, full):
    x = rng.uniform(0.1, 3.0, (3, 5))
    t = rng.integers(0, 5, (3, 5)).astype(np.float64)
    check(lambda x, t: _lib(x)[1].poisson_nll_loss(x, t, log_input, full, reduction=reduction),
          inputs=[x, t + 0.5])
    # torch's target gradient is NaN where target == 0 under full: hold the target fixed
    check(lambda x: _lib(x)[2].PoissonNLLLoss(log_input, full, reduction=reduction)(
        x, _as(x, t)), inputs=[x])


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss(reduction, var_shape, full):
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    v = rng.uniform(0.0, 2.0, var_shape)
    v.flat[0] = 1e-9  # below eps: clamped, gradient passed through
    check(lambda x, t, v: _lib(x)[1].gaussian_nll_loss(x, t, v, full, reduction=reduction),
          inputs=[x, t, v])
    check(lambda x, t, v: _lib(x)[2].GaussianNLLLoss(full=full, reduction=reduction)(x, t, v),
          inputs=[x, t, v])


def test_gaussian_nll_loss_float_var_and_errors():
    check(lambda x, t: _lib(x)[1].gaussian_nll_loss(x, t, 0.5), shapes=[(3, 2), (3, 2)])
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(mytorch.randn(3), mytorch.randn(3), -mytorch.ones(3))
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(mytorch.randn(3, 2), mytorch.randn(3, 2), mytorch.ones(2, 3))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (5,)])
def test_multilabel_soft_margin_loss(reduction, weighted, shape):
    x, t = rng.standard_normal(shape), (rng.random(shape) < 0.5).astype(np.float64)
    ins = [x, t] + ([rng.uniform(0.5, 2.0, 5)] if weighted else [])
    check(lambda x, t, *w: _lib(x)[1].multilabel_soft_margin_loss(x, t, *w, reduction=reduction),
          inputs=ins)
    check(lambda x, t, *w: _lib(x)[2].MultiLabelSoftMarginLoss(*w, reduction=reduction)(x, t),
          inputs=ins)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("p,margin", [(1, 1.0), (2, 0.5)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_multi_margin_loss(reduction, p, margin, weighted, batched):
    x = rng.standard_normal((6, 4) if batched else (4,))
    y = rng.integers(0, 4, 6) if batched else np.array(2)
    w = rng.uniform(0.5, 2.0, 4)

    def f(x):  # torch does not differentiate w.r.t. weight
        lib = _lib(x)
        wt = (_as(x, w),) if weighted else ()
        return lib[1].multi_margin_loss(x, _as(x, y), p, margin, *wt, reduction=reduction)
    check(f, inputs=[x])
    m = nn.MultiMarginLoss(p, margin, mytorch.Tensor(w) if weighted else None,
                           reduction=reduction)
    t = torch.nn.MultiMarginLoss(p, margin, torch.from_numpy(w) if weighted else None,
                                 reduction=reduction)
    assert list(m.state_dict()) == list(t.state_dict())
    np.testing.assert_allclose(m(mytorch.Tensor(x), mytorch.Tensor(y)).numpy(),
                               t(torch.from_numpy(x), torch.from_numpy(y)).numpy(), rtol=1e-12)


def test_multi_margin_loss_errors():
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        F.multi_margin_loss(mytorch.randn(2, 3), mytorch.Tensor(np.array([0, 1])), p=3)
    with pytest.raises(IndexError, match="out of range"):
        F.multi_margin_loss(mytorch.randn(2, 3), mytorch.Tensor(np.array([0, 3])))
    with pytest.raises(RuntimeError, match="multi_margin_loss"):
        F.multi_margin_loss(mytorch.randn(2, 3), mytorch.Tensor(np.array([0, 1, 2])))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("batched", [True, False])
def test_multilabel_margin_loss(reduction, batched):
    x = rng.standard_normal((3, 5) if batched else (5,))
    y = np.array([[3, 0, -1, 1, 2], [1, 1, 4, 2, 0], [-1, 2, 3, 4, 0]]) if batched else \
        np.array([4, 2, -1, 0, 0])

    def f(x):
        lib = _lib(x)
        tgt = torch.from_numpy(y) if lib[0] is torch else mytorch.Tensor(y)
        return lib[2].MultiLabelMarginLoss(reduction=reduction)(x, tgt)
    check(f, inputs=[x])


# ---------------------------------------------------------------- signatures

NEW = {"MarginRankingLoss": "margin_ranking_loss", "HingeEmbeddingLoss": "hinge_embedding_loss",
       "SoftMarginLoss": "soft_margin_loss", "CosineEmbeddingLoss": "cosine_embedding_loss",
       "TripletMarginLoss": "triplet_margin_loss", "PoissonNLLLoss": "poisson_nll_loss",
       "GaussianNLLLoss": "gaussian_nll_loss",
       "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss",
       "MultiMarginLoss": "multi_margin_loss", "MultiLabelMarginLoss": "multilabel_margin_loss",
       "Threshold": "threshold", "LocalResponseNorm": "local_response_norm",
       "LPPool1d": "lp_pool1d", "LPPool2d": "lp_pool2d", "MaxUnpool1d": "max_unpool1d",
       "MaxUnpool2d": "max_unpool2d", "Bilinear": None, "CosineSimilarity": None,
       "PairwiseDistance": None, "ChannelShuffle": None}


@pytest.mark.parametrize("name", sorted(NEW))
def test_signatures_match_torch(name):
    def params(f):
        return [(p.name, p.default, p.kind) for p in inspect.signature(f).parameters.values()]
    assert params(getattr(nn, name)) == params(getattr(torch.nn, name))
    if NEW[name]:
        assert params(getattr(F, NEW[name])) == params(getattr(TF, NEW[name]))


def test_legacy_reduction_arguments():
    x, y = mytorch.randn(3), mytorch.Tensor(_pm1(3))
    with pytest.warns(UserWarning, match="reduction='sum'"):
        m = nn.SoftMarginLoss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning):
        out = F.hinge_embedding_loss(x, y, reduce=False)
    assert tuple(out.shape) == (3,)
