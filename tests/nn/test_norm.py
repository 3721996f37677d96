"""Normalisation layers against PyTorch: batch, layer, group, instance, RMS and local response
norm; running statistics, modules, bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("xshape,nshape", [((4, 6), (6,)), ((2, 3, 8), (8,)),
                                           ((2, 3, 4, 5), (4, 5))])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(xshape, nshape, auto, affine, device):
    shapes = [xshape] + {"both": [nshape, nshape], "weight": [nshape], "none": []}[affine]

    def fn(x, w=None, b=None):
        return F.layer_norm(x, nshape, w, b, 1e-5, auto=auto)

    def tfn(x, w=None, b=None):
        return TF.layer_norm(x, nshape, w, b, 1e-5)
    check(fn, shapes, torch_fn=tfn, device=device, atol=1e-5, rtol=1e-4)


def test_layer_norm_gradcheck():
    rng = np.random.default_rng(0)
    args = [mytorch.tensor(rng.standard_normal(s), requires_grad=True)
            for s in [(2, 3, 4), (4,), (4,)]]
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b), args)


@pytest.mark.parametrize("auto", [False, True])
def test_layer_norm_module(auto):
    m = nn.LayerNorm(8, auto=auto)
    t = torch.nn.LayerNorm(8)
    assert repr(m) == repr(t)
    assert (m.weight.detach().numpy() == 1).all() and (m.bias.detach().numpy() == 0).all()
    check(m, [(3, 5, 8)], torch_fn=t)
    m2 = nn.LayerNorm((2, 4), elementwise_affine=True, bias=False, auto=auto)
    assert m2.bias is None and [n for n, _ in m2.named_parameters()] == ["weight"]
    check(m2, [(3, 2, 4)], torch_fn=torch.nn.LayerNorm((2, 4), bias=False))
    m3 = nn.LayerNorm(4, elementwise_affine=False, auto=auto)
    assert list(m3.parameters()) == []


def test_layer_norm_wrong_shape():
    with pytest.raises(RuntimeError, match=r"LayerNorm\(\(8,\)\): input of shape \(3, 7\)"):
        nn.LayerNorm(8)(mytorch.randn(3, 7))


def _bn_pair(cls, tcls, c, **kw):
    auto = kw.pop("auto", False)
    return cls(c, auto=auto, **kw), tcls(c, **kw)


def _compare_bn(m, t, x, grad=True):
    xm = mytorch.tensor(x, requires_grad=grad)
    xt = torch.from_numpy(x).requires_grad_(grad)
    y, ty = m(xm), t(xt)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=2e-5, rtol=1e-4)
    if grad:
        p = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
        (y * mytorch.tensor(p)).sum().backward()
        (ty * torch.from_numpy(p)).sum().backward()
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), atol=1e-4, rtol=1e-3)
        if m.affine:
            np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-4,
                                       rtol=1e-3)
        if m.bias is not None:
            np.testing.assert_allclose(m.bias.grad.numpy(), t.bias.grad.numpy(), atol=1e-4,
                                       rtol=1e-3)
    if m.track_running_stats:
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(m, name).numpy(), getattr(t, name).numpy(),
                                       atol=1e-5, rtol=1e-5)
        assert m.num_batches_tracked.item() == t.num_batches_tracked.item()


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("kind,shape", [("1d", (8, 3)), ("1d", (4, 3, 5)), ("2d", (4, 3, 5, 2))])
@pytest.mark.parametrize("kw", [{}, {"momentum": None}, {"momentum": 0.3}, {"affine": False},
                                {"track_running_stats": False}, {"bias": False}])
def test_batch_norm_train_then_eval(kind, shape, kw, auto):
    cls, tcls = {"1d": (nn.BatchNorm1d, torch.nn.BatchNorm1d),
                 "2d": (nn.BatchNorm2d, torch.nn.BatchNorm2d)}[kind]
    m, t = _bn_pair(cls, tcls, shape[1], auto=auto, **kw)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    rng = np.random.default_rng(0)
    for step in range(3):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        _compare_bn(m, t, x)
    m.eval(), t.eval()
    _compare_bn(m, t, rng.standard_normal(shape).astype(np.float32))


def test_batch_norm_gradcheck():
    rng = np.random.default_rng(0)
    args = [mytorch.tensor(rng.standard_normal(s), requires_grad=True)
            for s in [(4, 3, 2), (3,), (3,)]]
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), args)
    rm, rv = mytorch.tensor(rng.standard_normal(3)), mytorch.tensor(rng.uniform(0.5, 2, 3))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), args)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 5, 2), (16, 6, 4, 4)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype,noncontig", [(np.float32, False), (np.float64, True)])
def test_batch_norm_functional(shape, training, dtype, noncontig, device):
    rng = np.random.default_rng(3)
    rm = rng.standard_normal(shape[1]).astype(dtype)
    rv = rng.uniform(0.5, 2, shape[1]).astype(dtype)

    def fn(x, w, b):
        stats = (None, None) if training else (mytorch.tensor(rm, device=device),
                                               mytorch.tensor(rv, device=device))
        return F.batch_norm(x, *stats, w, b, training=training)

    def tfn(x, w, b):
        stats = (None, None) if training else (torch.from_numpy(rm), torch.from_numpy(rv))
        return TF.batch_norm(x, *stats, w, b, training=training)
    check(fn, [shape, shape[1:2], shape[1:2]], torch_fn=tfn, dtype=dtype, noncontig=noncontig,
          device=device, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("wants", [(True, False, False), (False, True, False),
                                   (False, False, True), (True, False, True)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_partial_grads(wants, training):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(6, 4, 3, 3), (4,), (4,)]]
    rm, rv = np.zeros(4, np.float32), np.full(4, 1.5, np.float32)
    gy = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    m_in = [mytorch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    t_in = [torch.from_numpy(a).requires_grad_(w) for a, w in zip(arrays, wants)]
    F.batch_norm(m_in[0], mytorch.tensor(rm), mytorch.tensor(rv), m_in[1], m_in[2],
                 training=training).backward(mytorch.tensor(gy))
    TF.batch_norm(t_in[0], torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy()), t_in[1],
                  t_in[2], training=training).backward(torch.from_numpy(gy))
    for m, t, w in zip(m_in, t_in, wants):
        if w:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), atol=1e-4, rtol=1e-3)
        else:
            assert m.grad is None


def test_batch_norm_bad_input():
    with pytest.raises(RuntimeError, match=r"BatchNorm2d\(3\): input of shape \(2, 4, 5, 5\) "
                                           r"has 4 channels, expected 3"):
        nn.BatchNorm2d(3)(mytorch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected a 2 or 3-D input"):
        nn.BatchNorm1d(3)(mytorch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(mytorch.randn(1, 3))


@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((2, 4, 3, 3), 2), ((3, 8), 4)])
def test_group_norm(shape, groups):
    m = nn.GroupNorm(groups, shape[1])
    t = torch.nn.GroupNorm(groups, shape[1])
    assert repr(m) == repr(t)
    check(lambda x, w, b: F.group_norm(x, groups, w, b), [shape, (shape[1],), (shape[1],)],
          torch_fn=lambda x, w, b: TF.group_norm(x, groups, w, b), atol=1e-5, rtol=1e-4)
    check(m, [shape], torch_fn=t, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)


def _np(t):
    return t.detach().cpu().numpy()


def _copy_params(m, t):
    """Load torch module t's state into mytorch module m (keys must match)."""
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 4, 5, 6), (2, 3, 2, 3, 4)])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("dtype,noncontig", [(np.float32, False), (np.float64, True)])
def test_instance_norm_functional(shape, affine, dtype, noncontig, device):
    c = shape[1]
    shapes = [shape] + ([(c,), (c,)] if affine else [])
    check(lambda x, *wb: F.instance_norm(x, None, None, *wb),
          shapes, torch_fn=lambda x, *wb: TF.instance_norm(x, None, None, *wb), dtype=dtype,
          noncontig=noncontig, device=device, atol=1e-4 if dtype == np.float32 else None,
          rtol=1e-3 if dtype == np.float32 else None)


@pytest.mark.parametrize("kind,shape", [("1d", (4, 3, 7)), ("1d", (3, 7)), ("2d", (4, 3, 5, 6)),
                                        ("2d", (3, 5, 6)), ("3d", (2, 3, 2, 3, 4))])
@pytest.mark.parametrize("kw", [{}, {"affine": True}, {"track_running_stats": True},
                                {"affine": True, "track_running_stats": True, "momentum": 0.3},
                                {"affine": True, "bias": False}])
def test_instance_norm_modules(kind, shape, kw):
    cls = {"1d": nn.InstanceNorm1d, "2d": nn.InstanceNorm2d, "3d": nn.InstanceNorm3d}[kind]
    tcls = getattr(torch.nn, cls.__name__)
    m, t = cls(3, **kw), tcls(3, **kw)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    rng = np.random.default_rng(0)
    if kw.get("affine"):
        with torch.no_grad():
            for p in t.parameters():
                p.uniform_(0.5, 1.5)
        _copy_params(m, t)
    for step in range(2):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        y, ty = m(mytorch.tensor(x)), t(torch.from_numpy(x))
        np.testing.assert_allclose(_np(y), ty.detach().numpy(), atol=1e-5, rtol=1e-4)
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(_np(m.state_dict()[k]), v.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=k)
    m.eval(), t.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(_np(m(mytorch.tensor(x))), t(torch.from_numpy(x)).detach().numpy(),
                               atol=1e-5, rtol=1e-4)


def test_instance_norm_bad_input():
    with pytest.raises(ValueError, match="InstanceNorm2d.*3D or 4D.*2D"):
        nn.InstanceNorm2d(3)(mytorch.randn(2, 3))
    with pytest.raises(ValueError, match="num_features \\(3\\), but got: 4"):
        nn.InstanceNorm2d(3, affine=True)(mytorch.randn(2, 4, 5, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm2d(3)(mytorch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(mytorch.randn(2, 3, 1))


@pytest.mark.parametrize("shape,nshape", [((4, 6), (6,)), ((2, 3, 5), (5,)),
                                          ((2, 3, 4, 5), (4, 5)), ((7,), 7)])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rms_norm_functional(shape, nshape, weight, eps, dtype, device):
    ns = (nshape,) if isinstance(nshape, int) else nshape
    shapes = [shape] + ([ns] if weight else [])
    check(lambda x, *w: F.rms_norm(x, nshape, *w, eps=eps), shapes,
          torch_fn=lambda x, *w: TF.rms_norm(x, ns, *w, eps=eps), dtype=dtype,
          noncontig=dtype == np.float64, device=device)


def test_rms_norm_module():
    for args, kw in [((4,), {}), (([2, 3],), {"eps": 1e-3, "elementwise_affine": False}),
                     ((6,), {"eps": 1e-6})]:
        m, t = nn.RMSNorm(*args, **kw), torch.nn.RMSNorm(*args, **kw)
        assert repr(m) == repr(t)
        assert list(m.state_dict()) == list(t.state_dict())
        if t.weight is not None:
            np.testing.assert_array_equal(_np(m.weight), t.weight.detach().numpy())
            with torch.no_grad():
                t.weight.uniform_(0.5, 1.5)
            _copy_params(m, t)
        shape = (3,) + tuple(t.normalized_shape)
        check(lambda x: m(x), [shape], torch_fn=t)
    with pytest.raises(RuntimeError, match="rms_norm.*normalized_shape=\\[4\\]"):
        F.rms_norm(mytorch.randn(2, 3), (4,))


@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 6, 3, 4), (1, 5, 2, 2, 3)])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm(shape, size):
    check(lambda x: _lib(x)[1].local_response_norm(x, size, alpha=0.3, beta=0.6, k=2.0),
          shapes=[shape], dtype=np.float64)
    check(lambda x: _lib(x)[2].LocalResponseNorm(size)(x), shapes=[shape])
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(mytorch.randn(2, 3), 2)
    assert repr(nn.LocalResponseNorm(2)) == repr(torch.nn.LocalResponseNorm(2))
