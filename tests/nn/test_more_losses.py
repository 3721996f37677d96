"""BCELoss, SmoothL1Loss, HuberLoss, KLDivLoss and the distances (normalize,
cosine_similarity, pairwise_distance), held to PyTorch."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(6,), (4, 5), (2, 3, 4)]


def _np(t):
    return t.detach().cpu().numpy()


def _probs(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0.02, 0.98, shape).astype(dtype)


# ---------------------------------------------------------------- binary cross-entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy(shape, reduction, dtype, device):
    x, t = _probs(shape, 0, dtype), _probs(shape, 1, dtype)
    check(lambda x, t: F.binary_cross_entropy(x, t, reduction=reduction), inputs=[x, t],
          torch_fn=lambda x, t: TF.binary_cross_entropy(x, t, reduction=reduction),
          device=device)


@pytest.mark.parametrize("wshape", [(5,), (4, 5), (4, 1)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_weight(wshape, reduction):
    x, t = _probs((4, 5), 0), (np.random.default_rng(1).random((4, 5)) > 0.5).astype(np.float32)
    w = np.random.default_rng(2).uniform(0.5, 2, wshape).astype(np.float32)

    def fn(x, t, w):
        return F.binary_cross_entropy(x, t, w.detach(), reduction=reduction)

    def tfn(x, t, w):
        return TF.binary_cross_entropy(x, t, w.detach(), reduction=reduction)
    check(fn, inputs=[x, t, w], torch_fn=tfn)


def test_binary_cross_entropy_saturated_inputs():
    """Probabilities of exactly 0 and 1: logs clamped at -100, finite gradients, as torch."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], np.float64)
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.5], np.float64)
    check(lambda x, t: F.binary_cross_entropy(x, t, reduction="none"), inputs=[x, t],
          torch_fn=lambda x, t: TF.binary_cross_entropy(x, t, reduction="none"))
    check(lambda x, t: F.binary_cross_entropy(x, t), inputs=[x.astype(np.float32),
                                                          t.astype(np.float32)],
          torch_fn=lambda x, t: TF.binary_cross_entropy(x, t))


def test_bce_loss_module_and_errors():
    w = mytorch.tensor([1.0, 2.0, 0.5])
    for kw in [{}, {"reduction": "sum"}, {"reduction": "none"}]:
        m, t = nn.BCELoss(**kw), torch.nn.BCELoss(**kw)
        assert repr(m) == repr(t) and list(m.state_dict()) == list(t.state_dict())
        check(m, inputs=[_probs((4, 3), 0), _probs((4, 3), 1)], torch_fn=t)
    m, t = nn.BCELoss(weight=w), torch.nn.BCELoss(weight=torch.tensor([1.0, 2.0, 0.5]))
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight"]
    check(m, inputs=[_probs((4, 3), 0), _probs((4, 3), 1)], torch_fn=t)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.BCELoss(size_average=False).reduction == "sum"
    with pytest.raises(RuntimeError, match="between 0 and 1.*1.5"):
        F.binary_cross_entropy(mytorch.tensor([0.5, 1.5]), mytorch.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(mytorch.tensor([0.5, float("nan")]), mytorch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="target size \\(2, 4\\) .*input size \\(3, 4\\) "):
        F.binary_cross_entropy(mytorch.rand(3, 4), mytorch.rand(2, 4))
    with pytest.raises(RuntimeError, match="weight of shape \\(5,\\)"):
        F.binary_cross_entropy(mytorch.rand(3, 4), mytorch.rand(3, 4), mytorch.ones(5))
    with pytest.raises(ValueError, match="reduction"):
        nn.BCELoss(reduction="avg")


# ---------------------------------------------------------------- smooth L1 / Huber


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_smooth_l1_loss(shape, reduction, beta, device):
    check(lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=beta), [shape, shape],
          torch_fn=lambda x, t: TF.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
          device=device)
    check(lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=beta), [shape, shape],
          torch_fn=lambda x, t: TF.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
          dtype=np.float64, noncontig=True, device=device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("delta", [1.0, 0.4, 2.5])
def test_huber_loss(shape, reduction, delta, device):
    check(lambda x, t: F.huber_loss(x, t, reduction=reduction, delta=delta), [shape, shape],
          torch_fn=lambda x, t: TF.huber_loss(x, t, reduction=reduction, delta=delta),
          device=device)
    check(lambda x, t, w: F.huber_loss(x, t, reduction=reduction, delta=delta, weight=w),
          [shape, shape, shape], dtype=np.float64,
          torch_fn=lambda x, t, w: TF.huber_loss(x, t, reduction=reduction, delta=delta,
                                                 weight=w), device=device)


def test_smooth_l1_huber_at_kinks_and_broadcast():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0], np.float64)
    t = np.zeros(6)
    check(lambda x, t: F.smooth_l1_loss(x, t, beta=0.5), inputs=[x, t],
          torch_fn=lambda x, t: TF.smooth_l1_loss(x, t, beta=0.5))
    check(lambda x, t: F.huber_loss(x, t, delta=1.0), inputs=[x, t],
          torch_fn=lambda x, t: TF.huber_loss(x, t, delta=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda x, t: F.smooth_l1_loss(x, t), [(3, 4), (4,)],
              torch_fn=lambda x, t: TF.smooth_l1_loss(x, t))
    with pytest.warns(UserWarning, match="target size"):
        F.huber_loss(mytorch.randn(3, 4), mytorch.randn(4))


def test_smooth_l1_huber_modules_and_errors():
    for m, t in [(nn.SmoothL1Loss(), torch.nn.SmoothL1Loss()),
                 (nn.SmoothL1Loss(reduction="sum", beta=0.5),
                  torch.nn.SmoothL1Loss(reduction="sum", beta=0.5)),
                 (nn.HuberLoss(), torch.nn.HuberLoss()),
                 (nn.HuberLoss("none", 0.3), torch.nn.HuberLoss("none", 0.3))]:
        assert repr(m) == repr(t)
        check(m, [(4, 3), (4, 3)], torch_fn=t)
    with pytest.raises(RuntimeError, match="smooth_l1_loss.*negative values for beta"):
        F.smooth_l1_loss(mytorch.randn(3), mytorch.randn(3), beta=-1.0)
    with pytest.raises(RuntimeError, match="huber_loss.*non-positive values for delta"):
        F.huber_loss(mytorch.randn(3), mytorch.randn(3), delta=0.0)
    with pytest.raises(ValueError, match="huber_loss.*weight of shape \\(2,\\)"):
        F.huber_loss(mytorch.randn(3), mytorch.randn(3), weight=mytorch.ones(2))


# ---------------------------------------------------------------- KL divergence


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(shape, reduction, log_target, device):
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])).astype(np.float32)
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    t = (np.log(p) if log_target else p).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
              inputs=[x, t], device=device,
              torch_fn=lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target))
        # zero target probabilities contribute 0 to the loss and its input-gradient
        p.reshape(-1)[::3] = 0.0
        tz = p.astype(np.float32)
        check(lambda x: F.kl_div(x, mytorch.tensor(tz, device=x.device), reduction=reduction),
              inputs=[x], device=device,
              torch_fn=lambda x: TF.kl_div(x, torch.from_numpy(tz), reduction=reduction))


def test_kl_div_module_and_warnings():
    for kw in [{}, {"reduction": "batchmean"}, {"reduction": "sum", "log_target": True}]:
        m, t = nn.KLDivLoss(**kw), torch.nn.KLDivLoss(**kw)
        assert repr(m) == repr(t)
        x = np.log(_probs((3, 4), 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(m, inputs=[x, _probs((3, 4), 1)], torch_fn=t)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(mytorch.randn(3), mytorch.rand(3))
    with pytest.raises(ValueError, match="kl_div.*'bad'"):
        F.kl_div(mytorch.randn(3), mytorch.rand(3), reduction="bad")
    with pytest.raises(ValueError, match="KLDivLoss.*'avg'"):
        nn.KLDivLoss(reduction="avg")
    y = F.kl_div(mytorch.tensor(-0.5), mytorch.tensor(0.3), reduction="batchmean")
    ty = TF.kl_div(torch.tensor(-0.5), torch.tensor(0.3), reduction="batchmean")
    np.testing.assert_allclose(_np(y), ty.numpy(), rtol=1e-6)


def test_losses_gradcheck():
    rng = np.random.default_rng(0)
    x = mytorch.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    t = mytorch.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    assert gradcheck(lambda x, t: F.binary_cross_entropy(x, t), [x, t])
    assert gradcheck(lambda x, t: F.kl_div(x.log(), t, reduction="batchmean"), [x, t])
    a = mytorch.tensor(rng.uniform(-2, 2, (3, 4)), requires_grad=True)
    assert gradcheck(lambda a, t: F.smooth_l1_loss(a, t, beta=0.7), [a, t])
    assert gradcheck(lambda a, t: F.huber_loss(a, t, delta=0.7), [a, t])


# ---------------------------------------------------------------- distances


@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((2, 3, 4), -1), ((2, 3, 4), 0), ((7,), 0)])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_normalize(shape, dim, p, device):
    check(lambda x: F.normalize(x, p=p, dim=dim), [shape],
          torch_fn=lambda x: TF.normalize(x, p=p, dim=dim), device=device)
    check(lambda x: F.normalize(x, p=p, dim=dim), [shape],
          torch_fn=lambda x: TF.normalize(x, p=p, dim=dim), dtype=np.float64, noncontig=True,
          device=device)


def test_normalize_zero_rows_have_zero_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[1] = 0.0
    x[2] = 1e-14  # norm below eps: clamped
    for p in (2.0, 3.0):
        check(lambda x: F.normalize(x, p=p), inputs=[x],
              torch_fn=lambda x: TF.normalize(x, p=p))


@pytest.mark.parametrize("shapes,dim", [([(4, 5), (4, 5)], 1), ([(2, 3, 4), (2, 3, 4)], -1),
                                        ([(2, 1, 4), (3, 4)], 1), ([(5,), (5,)], 0),
                                        ([(3, 4), (1, 4)], 0)])
def test_cosine_similarity(shapes, dim, device):
    check(lambda a, b: F.cosine_similarity(a, b, dim=dim), shapes,
          torch_fn=lambda a, b: TF.cosine_similarity(a, b, dim=dim), device=device)
    check(lambda a, b: F.cosine_similarity(a, b, dim=dim), shapes,
          torch_fn=lambda a, b: TF.cosine_similarity(a, b, dim=dim), dtype=np.float64,
          noncontig=True, device=device)


def test_cosine_similarity_zero_and_tiny_vectors():
    a = np.random.default_rng(0).standard_normal((4, 3))
    b = np.random.default_rng(1).standard_normal((4, 3))
    a[1] = 0.0
    a[2] = 1e-10  # norm below eps: clamped in value, gradient still flows (as torch)
    check(lambda a, b: F.cosine_similarity(a, b), inputs=[a, b],
          torch_fn=lambda a, b: TF.cosine_similarity(a, b))


@pytest.mark.parametrize("shapes", [[(4, 5), (4, 5)], [(2, 3, 4), (3, 4)], [(5,), (5,)],
                                    [(4, 5), (1, 5)]])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(shapes, p, keepdim, device):
    check(lambda a, b: F.pairwise_distance(a, b, p=p, keepdim=keepdim), shapes,
          torch_fn=lambda a, b: TF.pairwise_distance(a, b, p=p, keepdim=keepdim),
          device=device)
    check(lambda a, b: F.pairwise_distance(a, b, p=p, eps=0.0, keepdim=keepdim), shapes,
          torch_fn=lambda a, b: TF.pairwise_distance(a, b, p=p, eps=0.0, keepdim=keepdim),
          dtype=np.float64, noncontig=True, device=device)


def test_distances_bad_input():
    with pytest.raises(RuntimeError, match="cosine_similarity.*\\(2, 3\\).*\\(2, 4\\)"):
        F.cosine_similarity(mytorch.randn(2, 3), mytorch.randn(2, 4))
    with pytest.raises(RuntimeError, match="pairwise_distance.*\\(2, 3\\).*\\(2, 4\\)"):
        F.pairwise_distance(mytorch.randn(2, 3), mytorch.randn(2, 4))
    with pytest.raises(IndexError, match="normalize"):
        F.normalize(mytorch.randn(2, 3), dim=2)
    with pytest.raises(TypeError, match="normalize.*int64"):
        F.normalize(mytorch.tensor([1, 2]), dim=0)
