import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

TF = torch.nn.functional


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
