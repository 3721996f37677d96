"""Losses against PyTorch: regression, classification, likelihood and margin losses, functional
and module forms, reductions (legacy ones too), gradcheck, bad input."""
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


def _targets(shape, c, seed=0, ignore=None):
    t = np.random.default_rng(seed).integers(0, c, shape).astype(np.int64)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("xshape", [(6, 5), (3, 4, 2, 3), (2, 5, 7)])
@pytest.mark.parametrize("opts", [{}, {"ignore_index": 1}, {"label_smoothing": 0.2},
                                  {"weight": True}, {"weight": True, "label_smoothing": 0.1,
                                                     "ignore_index": 0}])
def test_cross_entropy_indices(xshape, reduction, auto, opts, device):
    c = xshape[1]
    tshape = (xshape[0],) + xshape[2:]
    t = _targets(tshape, c, ignore=opts.get("ignore_index"))
    kw = {k: v for k, v in opts.items() if k != "weight"}
    inputs = [np.random.default_rng(2).standard_normal(xshape).astype(np.float32)]
    if opts.get("weight"):
        inputs.append(np.random.default_rng(3).uniform(0.5, 2, c).astype(np.float32))

    def fn(x, w=None):
        wt = None if w is None else w.detach()
        return F.cross_entropy(x, mytorch.tensor(t, device=x.device), weight=wt,
                               reduction=reduction, auto=auto, **kw)

    def tfn(x, w=None):
        wt = None if w is None else w.detach()
        return TF.cross_entropy(x, torch.from_numpy(t), weight=wt, reduction=reduction, **kw)
    check(fn, inputs=inputs, torch_fn=tfn, device=device)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probabilities(auto, smoothing):
    t = np.random.default_rng(4).dirichlet(np.ones(5), size=(4, 3)).transpose(0, 2, 1)
    t = np.ascontiguousarray(t).astype(np.float32)  # (4, 5, 3): class dim 1
    check(lambda x: F.cross_entropy(x, mytorch.tensor(t), label_smoothing=smoothing, auto=auto),
          [(4, 5, 3)], torch_fn=lambda x: TF.cross_entropy(x, torch.from_numpy(t),
                                                             label_smoothing=smoothing))


def test_cross_entropy_module_auto_false_and_1d():
    loss = nn.CrossEntropyLoss(auto=False)
    x = mytorch.randn(5, 3, requires_grad=True)
    t = mytorch.tensor([0, 2, 1, 1, 0])
    y = loss(x, t)
    ty = torch.nn.CrossEntropyLoss()(torch.from_numpy(x.detach().numpy()),
                                     torch.from_numpy(t.numpy()))
    np.testing.assert_allclose(y.item(), ty.item(), rtol=1e-5)
    y1 = F.cross_entropy(mytorch.tensor([1.0, 2.0, 0.5]), mytorch.tensor(1))
    np.testing.assert_allclose(y1.item(), TF.cross_entropy(torch.tensor([1.0, 2.0, 0.5]),
                                                           torch.tensor(1)).item(), rtol=1e-6)


def test_cross_entropy_gradcheck():
    rng = np.random.default_rng(0)
    t = mytorch.tensor([0, 2, -100, 1])
    w = mytorch.tensor(rng.uniform(0.5, 2, 3))
    for kw in ({}, {"label_smoothing": 0.2, "weight": w}, {"reduction": "none"}):
        x = mytorch.tensor(rng.standard_normal((4, 3)), requires_grad=True)
        assert gradcheck(lambda a: F.cross_entropy(a, t, **kw), [x])


def test_cross_entropy_target_out_of_range():
    with pytest.raises(IndexError, match=r"CrossEntropyLoss: target 7 .* 3 classes"):
        nn.CrossEntropyLoss()(mytorch.randn(2, 3), mytorch.tensor([0, 7]))
    with pytest.raises(IndexError, match=r"CrossEntropyLoss: target -1"):
        F.cross_entropy(mytorch.randn(2, 3), mytorch.tensor([0, -1]))
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(mytorch.randn(2, 3), mytorch.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match=r"NLLLoss: target 3 .* 3 classes"):
        nn.NLLLoss()(mytorch.randn(2, 3), mytorch.tensor([3, 1]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    t = _targets((4, 2), 3, ignore=-100)
    w = np.array([0.5, 1.0, 2.0], np.float32)
    mw = mytorch.tensor(w) if weighted else None
    tw = torch.from_numpy(w) if weighted else None
    check(lambda x: nn.NLLLoss(weight=mw, reduction=reduction)(x.log_softmax(1),
                                                               mytorch.tensor(t)),
          [(4, 3, 2)], torch_fn=lambda x: TF.nll_loss(x.log_softmax(1), torch.from_numpy(t),
                                                       weight=tw, reduction=reduction))


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 2)])
def test_mse_loss(shape, reduction, auto, device):
    check(lambda x, y: nn.MSELoss(reduction=reduction, auto=auto)(x, y), [shape, shape],
          torch_fn=lambda x, y: TF.mse_loss(x, y, reduction=reduction), device=device)


def test_mse_gradcheck():
    rng = np.random.default_rng(0)
    a, b = (mytorch.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2))
    assert gradcheck(F.mse_loss, [a, b])
    assert gradcheck(lambda x, y: F.mse_loss(x, y, reduction="none"), [a, b])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss(reduction):
    check(lambda x, y: nn.L1Loss(reduction=reduction)(x, y), [(3, 5), (3, 5)],
          torch_fn=lambda x, y: TF.l1_loss(x, y, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [False, True])
def test_bce_with_logits(reduction, pos_weight):
    y = (np.random.default_rng(1).uniform(size=(4, 3)) > 0.5).astype(np.float32)
    pw = np.array([0.5, 2.0, 3.0], np.float32)
    mpw = mytorch.tensor(pw) if pos_weight else None
    tpw = torch.from_numpy(pw) if pos_weight else None
    check(lambda x, w: nn.BCEWithLogitsLoss(w.detach(), reduction=reduction,
                                            pos_weight=mpw)(x, mytorch.tensor(y)),
          [(4, 3), (4, 3)], low=-30, high=30,
          torch_fn=lambda x, w: TF.binary_cross_entropy_with_logits(
              x, torch.from_numpy(y), w.detach(), reduction=reduction, pos_weight=tpw))


def test_loss_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="mse_loss: input of shape"):
        F.mse_loss(mytorch.randn(3), mytorch.randn(4))


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss",
                                  "BCEWithLogitsLoss", "BCELoss", "SmoothL1Loss", "HuberLoss",
                                  "KLDivLoss"])
def test_loss_signatures_match_torch(name):
    """Positional arguments written for torch land in the same parameters (mytorch adds only a
    trailing `auto`)."""
    import inspect

    ours = [p for p in inspect.signature(getattr(nn, name)).parameters if p != "auto"]
    theirs = list(inspect.signature(getattr(torch.nn, name)).parameters)
    assert ours == theirs
    f = {"CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss", "MSELoss": "mse_loss",
         "L1Loss": "l1_loss", "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
         "BCELoss": "binary_cross_entropy", "SmoothL1Loss": "smooth_l1_loss",
         "HuberLoss": "huber_loss", "KLDivLoss": "kl_div"}[name]
    ours = [p for p in inspect.signature(getattr(F, f)).parameters if p != "auto"]
    theirs = list(inspect.signature(getattr(TF, f)).parameters)
    assert ours == theirs


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1_with_weight(reduction):
    for f, tf in ((F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss)):
        check(lambda x, y, w: f(x, y, reduction=reduction, weight=w), [(3, 4), (3, 4), (3, 4)],
              torch_fn=lambda x, y, w: tf(x, y, reduction=reduction, weight=w), low=0.1)
    with pytest.raises(ValueError, match="mse_loss: weight of shape"):
        F.mse_loss(mytorch.randn(3), mytorch.randn(3), weight=mytorch.ones(1))


def test_legacy_size_average_reduce_map_to_reduction():
    x = mytorch.tensor([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]])
    t = mytorch.tensor([2, 0])
    with pytest.warns(UserWarning, match="deprecated"):
        summed = nn.CrossEntropyLoss(None, False)(x, t)  # size_average=False -> 'sum'
    np.testing.assert_allclose(summed.item(), F.cross_entropy(x, t, reduction="sum").item())


def _standin_syncs():
    from mytorch import backend
    core = getattr(backend.cupy, "_core", None) if mytorch.cuda.is_available() else None
    return None if core is None or not hasattr(core, "syncs") else core


needs_standin = pytest.mark.skipif(_standin_syncs() is None, reason="needs the CuPy stand-in")


@needs_standin
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"ignore_index": 1}, {"weight": True, "label_smoothing": 0.1},
                                {"ignore_index": 7, "reduction": "mean", "weight": True}])
def test_cross_entropy_on_cuda_standin_never_waits_for_the_device(kw):
    # the stand-in counts device->host copies: the target check and the loss' forward and
    # backward must not read anything back (each would stall a real GPU on every step)
    core = _standin_syncs()
    rng = np.random.default_rng(0)
    xs, ts = rng.standard_normal((6, 4)).astype(np.float32), _targets((6,), 4, ignore=7)
    ts[ts == 7] = 7 if kw.get("ignore_index") == 7 else 0
    ws = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    kw = dict(kw)
    use_w = kw.pop("weight", False)
    out = {}
    for dev in ("cuda", "cpu"):
        x = mytorch.tensor(xs, device=dev, requires_grad=True)
        t = mytorch.tensor(ts, device=dev)
        w = mytorch.tensor(ws, device=dev) if use_w else None
        before = core.syncs
        loss = F.cross_entropy(x, t, w, **kw)
        loss.sum().backward()
        if dev == "cuda":
            assert core.syncs == before, "cross_entropy read a device value back to the host"
        out[dev] = (loss.detach().cpu().numpy(), x.grad.cpu().numpy())
    for a, b in zip(out["cuda"], out["cpu"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # CPU runs numba kernels


@needs_standin
def test_cross_entropy_bad_target_on_cuda_standin_is_nan_not_a_sync():
    # on the host a bad class index raises IndexError; on a GPU it makes the loss and its
    # gradients NaN (read when the caller reads the loss), with no host copy in the call
    core = _standin_syncs()
    x = mytorch.randn(3, 4, device="cuda", requires_grad=True)
    t = mytorch.tensor(np.array([0, 4, 1]), device="cuda")
    before = core.syncs
    loss = F.cross_entropy(x, t)
    loss.backward()
    assert core.syncs == before
    assert np.isnan(loss.item()) and np.isnan(F.nll_loss(x, t).item())
    assert np.isnan(x.grad.cpu().numpy()).all()
    with pytest.raises(IndexError, match="target 4 is out of bounds for 4 classes"):
        F.cross_entropy(x.detach().cpu(), t.cpu())


RED = ["mean", "sum", "none"]


rng = np.random.default_rng(0)


def _pm1(*shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _as(like, a):
    """Array `a` as a tensor (without grad) of like's library."""
    return torch.from_numpy(a) if isinstance(like, torch.Tensor) else mytorch.Tensor(a)


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


REDUCTIONS = ["mean", "sum", "none"]


SHAPES = [(6,), (4, 5), (2, 3, 4)]


def _np(t):
    return t.detach().cpu().numpy()


def _probs(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0.02, 0.98, shape).astype(dtype)


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


def test_legacy_reduction_arguments():
    x, y = mytorch.randn(3), mytorch.Tensor(_pm1(3))
    with pytest.warns(UserWarning, match="reduction='sum'"):
        m = nn.SoftMarginLoss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning):
        out = F.hinge_embedding_loss(x, y, reduce=False)
    assert tuple(out.shape) == (3,)


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
