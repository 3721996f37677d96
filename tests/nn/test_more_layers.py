"""Activations, channel dropout, instance/RMS norm, padding, pixel shuffle, fold/unfold,
adaptive max pooling and the parameter containers, held to PyTorch."""
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


def _np(t):
    return t.detach().cpu().numpy()


def _copy_params(m, t):
    """Load torch module t's state into mytorch module m (keys must match)."""
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


# ---------------------------------------------------------------- activations

ACTS = {
    "elu": (lambda x: F.elu(x), TF.elu),
    "elu_a": (lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
    "celu": (lambda x: F.celu(x, 1.7), lambda x: TF.celu(x, 1.7)),
    "selu": (F.selu, TF.selu),
    "softplus": (lambda x: F.softplus(x), TF.softplus),
    "softplus_b": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    "hardtanh": (lambda x: F.hardtanh(x), TF.hardtanh),
    "hardtanh_b": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    "relu6": (F.relu6, TF.relu6),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
    "hardswish": (F.hardswish, TF.hardswish),
    "mish": (F.mish, TF.mish),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "softsign": (F.softsign, TF.softsign),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink),
    "glu": (lambda x: F.glu(x, 0), lambda x: TF.glu(x, 0)),
    "softmin": (lambda x: F.softmin(x, -1), lambda x: TF.softmin(x, -1)),
    "softmin0": (lambda x: F.softmin(x, 0), lambda x: TF.softmin(x, 0)),
}


@pytest.mark.parametrize("shape", [(8,), (4, 6), (2, 4, 3)])
@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_matches_torch(name, shape, device):
    fn, tfn = ACTS[name]
    check(fn, [shape], torch_fn=tfn, low=-8, high=8, device=device)
    check(fn, [shape], torch_fn=tfn, low=-8, high=8, dtype=np.float64, noncontig=True,
          device=device)


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_at_kinks_and_extremes(name):
    """Exact kink points (0, +-3, the bounds) and huge magnitudes: values and gradients."""
    fn, tfn = ACTS[name]
    x = np.array([-1e4, -30.0, -6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 25.0,
                  1e4], np.float64)
    check(fn, inputs=[x], torch_fn=tfn)
    check(fn, inputs=[x.astype(np.float32)], torch_fn=tfn)


def test_scalar_and_empty_inputs():
    for name in ("elu", "softplus", "hardswish", "mish", "logsigmoid", "relu6"):
        fn, tfn = ACTS[name]
        check(fn, inputs=[np.array(-0.7)], torch_fn=tfn)
        y = fn(mytorch.zeros(0, 3))
        assert tuple(y.shape) == (0, 3)


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 3, 5)])
@pytest.mark.parametrize("nparams", [1, 3])
def test_prelu_matches_torch(shape, nparams):
    if nparams == 3 and len(shape) < 2:
        with pytest.raises(RuntimeError, match="prelu.*1 element or 1"):
            F.prelu(mytorch.randn(*shape), mytorch.ones(3))  # 1-D input: one channel, as torch
        return
    w = np.array([0.25, -0.3, 1.5][:nparams], np.float32)
    x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
    x.reshape(-1)[0] = 0.0
    check(F.prelu, inputs=[x, w], torch_fn=TF.prelu)


def test_activation_gradcheck():
    x = np.random.default_rng(0).uniform(-4, 4, (4, 4))
    x[np.abs(np.abs(x) - 3) < 1e-2] = 0.5  # away from the kinks of hardswish/hardsigmoid
    x[np.abs(x) < 1e-2] = 0.5
    for name in ("elu", "celu", "softplus", "mish", "logsigmoid", "hardswish", "glu",
                 "softmin", "softsign"):
        assert gradcheck(ACTS[name][0], [mytorch.tensor(x, requires_grad=True)]), name


ACT_MODULES = [
    (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    (lambda: nn.ELU(0.3, inplace=True), lambda: torch.nn.ELU(0.3, inplace=True)),
    (lambda: nn.CELU(2.0), lambda: torch.nn.CELU(2.0)),
    (lambda: nn.SELU(), lambda: torch.nn.SELU()),
    (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    (lambda: nn.Softplus(beta=2, threshold=5), lambda: torch.nn.Softplus(beta=2, threshold=5)),
    (lambda: nn.Hardtanh(), lambda: torch.nn.Hardtanh()),
    (lambda: nn.Hardtanh(-2, 3, True), lambda: torch.nn.Hardtanh(-2, 3, True)),
    (lambda: nn.ReLU6(), lambda: torch.nn.ReLU6()),
    (lambda: nn.ReLU6(inplace=True), lambda: torch.nn.ReLU6(inplace=True)),
    (lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    (lambda: nn.Mish(), lambda: torch.nn.Mish()),
    (lambda: nn.LogSigmoid(), lambda: torch.nn.LogSigmoid()),
    (lambda: nn.Softsign(), lambda: torch.nn.Softsign()),
    (lambda: nn.Tanhshrink(), lambda: torch.nn.Tanhshrink()),
    (lambda: nn.GLU(), lambda: torch.nn.GLU()),
    (lambda: nn.GLU(1), lambda: torch.nn.GLU(1)),
    (lambda: nn.Softmin(1), lambda: torch.nn.Softmin(1)),
    (lambda: nn.PReLU(), lambda: torch.nn.PReLU()),
    (lambda: nn.PReLU(4, init=0.1), lambda: torch.nn.PReLU(4, init=0.1)),
]


@pytest.mark.parametrize("k", range(len(ACT_MODULES)))
def test_activation_modules(k):
    make, tmake = ACT_MODULES[k]
    m, t = make(), tmake()
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    for a, b in zip(m.state_dict().values(), t.state_dict().values()):
        np.testing.assert_array_equal(_np(a), b.numpy())
    inplace = getattr(t, "inplace", False)
    x = np.random.default_rng(0).uniform(-4, 4, (2, 4, 6)).astype(np.float32)
    if inplace:  # a leaf can't be written in place: compare values only
        y = m(mytorch.tensor(x))
        np.testing.assert_allclose(_np(y), t(torch.from_numpy(x.copy())).numpy(), rtol=1e-5,
                                   atol=1e-6)
        return
    check(m, inputs=[x], torch_fn=t)


def test_prelu_module_weight_gradient():
    m, t = nn.PReLU(3), torch.nn.PReLU(3)
    with torch.no_grad():
        t.weight.copy_(torch.tensor([0.1, -0.2, 0.7]))
    _copy_params(m, t)
    x = np.random.default_rng(0).uniform(-2, 2, (2, 3, 4)).astype(np.float32)
    x[0, 0, 0] = 0.0
    ym, yt = m(mytorch.tensor(x)), t(torch.from_numpy(x))
    np.testing.assert_allclose(_np(ym), yt.detach().numpy(), rtol=1e-6)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    (ym * mytorch.tensor(g)).sum().backward()
    (yt * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-5)


def test_inplace_activations_write_their_input():
    for name in ("elu", "selu", "hardtanh", "relu6", "hardswish", "hardsigmoid", "mish"):
        a = np.linspace(-5, 5, 11).astype(np.float32)
        m, t = mytorch.tensor(a), torch.tensor(a)
        out = getattr(F, name)(m, inplace=True)
        getattr(TF, name)(t, inplace=True)
        assert out is m, name
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)


def test_softmin_implicit_dim_warns_and_uses_legacy_dim():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmin(mytorch.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = TF.softmin(torch.from_numpy(x))
    np.testing.assert_allclose(_np(y), ty.numpy(), rtol=1e-6)


def test_activation_bad_input():
    with pytest.raises(RuntimeError, match="glu.*dimension 1 is size 5"):
        F.glu(mytorch.randn(3, 5))
    with pytest.raises(RuntimeError, match="glu.*scalars"):
        F.glu(mytorch.tensor(1.0))
    with pytest.raises(ValueError, match="hardtanh.*min_val"):
        F.hardtanh(mytorch.randn(3), 2.0, 1.0)
    with pytest.raises(ValueError, match="Hardtanh.*max_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(TypeError, match="softplus.*int64"):
        F.softplus(mytorch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="prelu.*channels"):
        F.prelu(mytorch.randn(2, 4), mytorch.randn(3))
    with pytest.raises(ValueError, match="celu"):
        F.celu(mytorch.randn(3), 0.0)


# ---------------------------------------------------------------- channel dropout


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


# ---------------------------------------------------------------- instance norm, RMS norm


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


# ---------------------------------------------------------------- padding


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5), (2, 1)), ((3, 5), (0, 3)),
                                       ((2, 3, 4, 5), (1, 2, 3, 0)), ((3, 4, 5), (2, 2, 1, 1)),
                                       ((1, 2, 3, 4, 5), (1, 0, 2, 1, 0, 2)),
                                       ((2, 3, 4, 5), (-1, 2, 1, -2))])
def test_pad_modes_match_torch(mode, shape, pad, device):
    check(lambda x: F.pad(x, pad, mode=mode), [shape],
          torch_fn=lambda x: TF.pad(x, pad, mode=mode), device=device)
    check(lambda x: F.pad(x, pad, mode=mode), [shape],
          torch_fn=lambda x: TF.pad(x, pad, mode=mode), dtype=np.float64, noncontig=True,
          device=device)


def test_pad_constant_value_and_errors():
    check(lambda x: F.pad(x, (1, 2, 0, 1, 1, 1), value=-3.5), [(2, 3, 4)],
          torch_fn=lambda x: TF.pad(x, (1, 2, 0, 1, 1, 1), value=-3.5))
    with pytest.raises(RuntimeError, match="reflect.*less than.*\\(3, 3\\)"):
        F.pad(mytorch.randn(1, 2, 3, 3), (3, 3, 1, 1), mode="reflect")
    with pytest.raises(RuntimeError, match="circular.*more than once"):
        F.pad(mytorch.randn(1, 2, 3, 3), (4, 4, 1, 1), mode="circular")
    with pytest.raises(RuntimeError, match="doesn't take in value"):
        F.pad(mytorch.randn(2, 3), (1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="padding of length 4.*\\(2, 3\\)"):
        F.pad(mytorch.randn(2, 3), (1, 1, 1, 1), mode="replicate")
    with pytest.raises(NotImplementedError, match="unrecognised padding mode 'wrap'"):
        F.pad(mytorch.randn(2, 3), (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="even length"):
        F.pad(mytorch.randn(2, 3), (1,))


PADS = [("ZeroPad1d", (2,)), ("ZeroPad1d", ((1, 3),)), ("ZeroPad2d", (2,)),
        ("ZeroPad2d", ((1, 0, 2, 1),)), ("ConstantPad1d", (2, 1.5)),
        ("ConstantPad2d", ((1, 2, 0, 1), -2.0)), ("ReflectionPad1d", (2,)),
        ("ReflectionPad2d", ((1, 0, 2, 1),)), ("ReplicationPad1d", ((3, 1),)),
        ("ReplicationPad2d", (2,)), ("CircularPad1d", (1,)), ("CircularPad2d", ((1, 2, 2, 0),))]


@pytest.mark.parametrize("name,args", PADS)
def test_padding_modules(name, args):
    m, t = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(m) == repr(t)
    shape = (2, 3, 4, 5) if name.endswith("2d") else (2, 3, 5)
    check(m, [shape], torch_fn=t)


# ---------------------------------------------------------------- pixel shuffle


@pytest.mark.parametrize("shape,r", [((1, 8, 3, 4), 2), ((2, 9, 2, 2), 3), ((4, 5, 6), 2),
                                     ((2, 2, 4, 3, 5), 2), ((3, 2, 2), 1)])
def test_pixel_shuffle_roundtrip_matches_torch(shape, r, device):
    if shape[-3] % (r * r):
        shape = shape[:-3] + (shape[-3] * r * r,) + shape[-2:]
    check(lambda x: F.pixel_shuffle(x, r), [shape],
          torch_fn=lambda x: TF.pixel_shuffle(x, r), device=device)
    up = shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)
    check(lambda x: F.pixel_unshuffle(x, r), [up],
          torch_fn=lambda x: TF.pixel_unshuffle(x, r), noncontig=True, dtype=np.float64,
          device=device)


def test_pixel_shuffle_modules_and_errors():
    assert repr(nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert repr(nn.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))
    check(nn.PixelShuffle(2), [(2, 12, 3, 3)], torch_fn=torch.nn.PixelShuffle(2))
    check(nn.PixelUnshuffle(2), [(2, 3, 4, 6)], torch_fn=torch.nn.PixelUnshuffle(2))
    with pytest.raises(RuntimeError, match="input.size\\(-3\\)=5 is not divisible by 4"):
        F.pixel_shuffle(mytorch.randn(1, 5, 2, 2), 2)
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        F.pixel_shuffle(mytorch.randn(5, 2), 2)
    with pytest.raises(RuntimeError, match="height.*input.size\\(-2\\)=3"):
        F.pixel_unshuffle(mytorch.randn(1, 2, 3, 4), 2)


# ---------------------------------------------------------------- unfold / fold


UNFOLDS = [((2, 3, 5, 6), {"kernel_size": 2}),
           ((1, 2, 7, 7), {"kernel_size": 3, "padding": 1, "stride": 2}),
           ((2, 2, 8, 9), {"kernel_size": (2, 3), "dilation": (2, 1), "stride": (1, 2),
                           "padding": (1, 0)}),
           ((3, 6, 6), {"kernel_size": 3, "padding": 2})]


@pytest.mark.parametrize("shape,kw", UNFOLDS)
def test_unfold_matches_torch(shape, kw, device):
    check(lambda x: F.unfold(x, **kw), [shape], torch_fn=lambda x: TF.unfold(x, **kw),
          device=device)
    check(lambda x: F.unfold(x, **kw), [shape], torch_fn=lambda x: TF.unfold(x, **kw),
          dtype=np.float64, noncontig=True, device=device)


@pytest.mark.parametrize("shape,kw", UNFOLDS)
def test_fold_matches_torch(shape, kw, device):
    blocks = TF.unfold(torch.zeros(shape), **kw).shape
    check(lambda x: F.fold(x, shape[-2:], **kw), [tuple(blocks)],
          torch_fn=lambda x: TF.fold(x, shape[-2:], **kw), device=device)
    check(lambda x: F.fold(x, shape[-2:], **kw), [tuple(blocks)],
          torch_fn=lambda x: TF.fold(x, shape[-2:], **kw), dtype=np.float64, noncontig=True,
          device=device)


def test_fold_unfold_modules_and_errors():
    for m, t in [(nn.Unfold(2), torch.nn.Unfold(2)),
                 (nn.Unfold((2, 3), dilation=2, padding=1, stride=(1, 2)),
                  torch.nn.Unfold((2, 3), dilation=2, padding=1, stride=(1, 2))),
                 (nn.Fold((4, 5), (2, 3), stride=2), torch.nn.Fold((4, 5), (2, 3), stride=2))]:
        assert repr(m) == repr(t)
    check(nn.Unfold(3, padding=1), [(2, 3, 4, 4)], torch_fn=torch.nn.Unfold(3, padding=1))
    check(nn.Fold((4, 4), 2), [(2, 12, 9)], torch_fn=torch.nn.Fold((4, 4), 2))
    with pytest.raises(RuntimeError, match="fold.*divisible by the product of kernel_size"):
        F.fold(mytorch.randn(1, 7, 9), (4, 4), 2)
    with pytest.raises(RuntimeError, match="fold.*3 \\* 3 = 9, but got input.size\\(2\\)=8"):
        F.fold(mytorch.randn(1, 8, 8), (4, 4), 2)
    with pytest.raises(RuntimeError, match="unfold.*kernel size"):
        F.unfold(mytorch.randn(1, 3, 4, 4), 5)
    with pytest.raises(RuntimeError, match="unfold.*3-D.*4-D"):
        F.unfold(mytorch.randn(2, 3), 2)


def test_unfold_fold_gradcheck():
    x = mytorch.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 4)),
                       requires_grad=True)
    assert gradcheck(lambda t: F.unfold(t, (2, 3), padding=1, stride=(2, 1)), [x])
    c = mytorch.tensor(np.random.default_rng(1).standard_normal((1, 8, 6)), requires_grad=True)
    assert gradcheck(lambda t: F.fold(t, (3, 4), 2), [c])


# ---------------------------------------------------------------- adaptive max pooling


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 9), (3, 4)), ((2, 3, 7, 9), 1),
                                       ((1, 2, 5, 5), (5, 5)), ((3, 6, 5), (2, None)),
                                       ((2, 3, 4, 10), (7, 3))])
def test_adaptive_max_pool2d_matches_torch(shape, out, device):
    check(lambda x: F.adaptive_max_pool2d(x, out, return_indices=True), [shape],
          torch_fn=lambda x: TF.adaptive_max_pool2d(x, out, return_indices=True), device=device)
    check(lambda x: F.adaptive_max_pool2d(x, out), [shape],
          torch_fn=lambda x: TF.adaptive_max_pool2d(x, out), dtype=np.float64, noncontig=True,
          device=device)


@pytest.mark.parametrize("shape,out", [((2, 3, 10), 4), ((3, 7), 3), ((2, 3, 5), 8)])
def test_adaptive_max_pool1d_matches_torch(shape, out, device):
    check(lambda x: F.adaptive_max_pool1d(x, out, return_indices=True), [shape],
          torch_fn=lambda x: TF.adaptive_max_pool1d(x, out, return_indices=True), device=device)


def test_adaptive_max_pool_modules_and_errors():
    for args, kw in [((2,), {}), (((2, None),), {}), ((3,), {"return_indices": True})]:
        m, t = nn.AdaptiveMaxPool2d(*args, **kw), torch.nn.AdaptiveMaxPool2d(*args, **kw)
        assert repr(m) == repr(t)
        check(m, [(2, 3, 6, 5)], torch_fn=t)
    assert repr(nn.AdaptiveMaxPool1d(3)) == repr(torch.nn.AdaptiveMaxPool1d(3))
    check(nn.AdaptiveMaxPool1d(3), [(2, 3, 8)], torch_fn=torch.nn.AdaptiveMaxPool1d(3))
    with pytest.raises(RuntimeError, match="adaptive_max_pool2d.*3-D.*4-D.*\\(2, 3\\)"):
        F.adaptive_max_pool2d(mytorch.randn(2, 3), 2)
    with pytest.raises(ValueError, match="output_size must have 2"):
        F.adaptive_max_pool2d(mytorch.randn(1, 2, 4, 4), (1, 2, 3))


# ---------------------------------------------------------------- parameter containers


def test_parameter_list_matches_torch():
    arrays = [np.random.default_rng(i).standard_normal(s).astype(np.float32)
              for i, s in enumerate([(2, 3), (4,), (1, 1, 2)])]
    m = nn.ParameterList([mytorch.tensor(arrays[0]), nn.Parameter(mytorch.tensor(arrays[1]))])
    t = torch.nn.ParameterList([torch.from_numpy(arrays[0]),
                                torch.nn.Parameter(torch.from_numpy(arrays[1]))])
    m.append(mytorch.tensor(arrays[2]))
    t.append(torch.from_numpy(arrays[2]))
    assert len(m) == len(t) == 3
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m)
    assert list(m.state_dict()) == list(t.state_dict()) == ["0", "1", "2"]
    assert repr(m).replace("mytorch.", "torch.") == repr(t)
    assert m[-1] is m[2] and len(m[1:]) == 2 and m[1:][0] is m[1]
    assert [id(p) for p in m.parameters()] == [id(p) for p in m]
    m[0] = mytorch.zeros(2, 3)
    assert isinstance(m[0], nn.Parameter) and float(m[0].sum()) == 0.0
    m += [mytorch.ones(1)]
    assert len(m) == 4 and list(m.state_dict())[-1] == "3"
    with pytest.raises(IndexError, match="out of range"):
        m[4]
    with pytest.raises(TypeError, match="iterable"):
        m.extend(mytorch.ones(2))
    with pytest.raises(RuntimeError, match="should not be called"):
        m(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([nn.Parameter(mytorch.ones(3)) for _ in range(2)])

        def forward(self, x):
            for s in self.scales:
                x = x * s
            return x.sum()

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(3))
                                                  for _ in range(2)])

    net = Net()
    assert list(net.state_dict()) == list(TNet().state_dict())
    net(mytorch.tensor([1.0, 2.0, 3.0])).backward()
    np.testing.assert_allclose(_np(net.scales[0].grad), [1.0, 2.0, 3.0])
    net.load_state_dict({"scales.0": np.full(3, 2.0, np.float32),
                         "scales.1": np.full(3, 3.0, np.float32)})
    assert float(net(mytorch.ones(3))) == 18.0


def test_parameter_dict_matches_torch():
    a, b, c = (np.random.default_rng(i).standard_normal((2, i + 1)).astype(np.float32)
               for i in range(3))
    m = nn.ParameterDict({"b": mytorch.tensor(a), "a": nn.Parameter(mytorch.tensor(b))})
    t = torch.nn.ParameterDict({"b": torch.from_numpy(a), "a": torch.nn.Parameter(
        torch.from_numpy(b))})
    assert list(m.keys()) == list(t.keys()) == ["a", "b"]  # a plain dict is added sorted
    assert list(m.state_dict()) == list(t.state_dict())
    m["z"] = mytorch.tensor(c)
    t["z"] = torch.from_numpy(c)
    m.update([("y", mytorch.ones(2)), ("x", mytorch.ones(1))])
    t.update([("y", torch.ones(2)), ("x", torch.ones(1))])
    assert list(m.state_dict()) == list(t.state_dict()) == ["a", "b", "z", "y", "x"]
    assert repr(m).replace("mytorch.", "torch.") == repr(t)
    assert isinstance(m["z"], nn.Parameter) and "z" in m and len(m) == 5
    assert m.get("nope") is None and m.get("a") is m["a"]
    p = m.pop("y")
    assert isinstance(p, nn.Parameter) and "y" not in m and "y" not in m.state_dict()
    assert m.setdefault("w", mytorch.zeros(3)) is m["w"]
    k, v = m.popitem()
    assert k == "w" and "w" not in m
    both = m | nn.ParameterDict({"q": mytorch.ones(1)})
    assert list(both.keys()) == ["a", "b", "z", "x", "q"] and "q" not in m
    del m["a"]
    assert list(m.keys()) == ["b", "z", "x"] and "a" not in dict(m.named_parameters())
    m.clear()
    assert len(m) == 0 and list(m.parameters()) == []
    with pytest.raises(KeyError, match="contain '.'"):
        m["a.b"] = mytorch.ones(1)
    with pytest.raises(TypeError, match="strings"):
        m[1] = mytorch.ones(1)
    with pytest.raises(RuntimeError, match="should not be called"):
        m(1)
