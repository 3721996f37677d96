"""Conv3d, ConvTranspose3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d against PyTorch."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

# (x shape, out channels, kernel, stride, padding, dilation, groups, bias)
CONV3D = [
    ((2, 4, 5, 6, 7), 6, 3, 1, 1, 1, 1, True),
    ((1, 4, 6, 5, 7), 6, (2, 3, 1), (2, 1, 3), (1, 0, 2), (1, 2, 1), 2, False),
    ((2, 3, 4, 5, 5), 3, 3, 2, 0, 1, 3, True),              # depthwise
    ((2, 3, 4, 4, 5), 5, 1, 1, 0, 1, 1, True),              # 1x1x1
    ((2, 2, 7, 6, 8), 4, (3, 2, 3), 2, 1, (2, 1, 2), 2, True),
    ((2, 3, 3, 4, 4), 2, (3, 4, 4), 1, 0, 1, 1, True),      # kernel == input
    ((2, 3, 4, 5, 6), 4, 3, 1, "same", 2, 1, True),
    ((2, 3, 4, 5, 6), 4, (2, 3, 4), 1, "same", 1, 1, False),  # even kernel: asymmetric padding
    ((2, 3, 5, 6, 5), 4, 3, 2, "valid", 1, 1, True),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CONV3D, ids=range(len(CONV3D)))
def test_conv3d_matches_torch(case, device):
    xs, o, k, s, p, d, g, bias = case
    ks = (k,) * 3 if isinstance(k, int) else k
    shapes = [xs, (o, xs[1] // g) + ks] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv3d(x, w, b, s, p, d, g), shapes,
          torch_fn=lambda x, w, b=None: TF.conv3d(x, w, b, s, p, d, g), device=device)


def test_conv3d_noncontig_unbatched_float64():
    check(lambda x, w, b: F.conv3d(x, w, b, 2, 1), [(2, 3, 5, 4, 6), (4, 3, 3, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv3d(x, w, b, 2, 1), noncontig=True)
    check(lambda x, w: F.conv3d(x, w, padding=1), [(3, 4, 5, 4), (4, 3, 3, 2, 3)],
          torch_fn=lambda x, w: TF.conv3d(x, w, padding=1))
    check(lambda x, w, b: F.conv3d(x, w, b, (1, 2, 1), (0, 1, 1), 1, 2),
          [(2, 4, 4, 5, 5), (6, 2, 2, 3, 3), (6,)],
          torch_fn=lambda x, w, b: TF.conv3d(x, w, b, (1, 2, 1), (0, 1, 1), 1, 2),
          dtype=np.float64)


def test_conv3d_batch_chunks(monkeypatch):
    from mytorch.ops import conv as C3
    monkeypatch.setattr(C3, "_CHUNK_ELEMS", 300)  # forces several im2col chunks
    check(lambda x, w, b: F.conv3d(x, w, b, 1, 1, 1, 2), [(5, 4, 3, 4, 4), (4, 2, 3, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv3d(x, w, b, 1, 1, 1, 2), dtype=np.float64)
    check(lambda x, w: F.conv_transpose3d(x, w, None, 2, 1, 1), [(5, 3, 3, 2, 3), (3, 2, 3, 3, 3)],
          torch_fn=lambda x, w: TF.conv_transpose3d(x, w, None, 2, 1, 1), dtype=np.float64)


# (x shape, out channels, kernel, stride, padding, output_padding, groups, dilation, bias)
CONVT3D = [
    ((2, 4, 3, 4, 3), 6, 3, 1, 0, 0, 1, 1, True),
    ((1, 4, 3, 3, 4), 6, (2, 3, 2), (2, 1, 3), (1, 0, 1), (1, 0, 2), 2, 1, False),
    ((2, 2, 3, 3, 3), 4, 3, 2, 1, 1, 2, (1, 2, 1), True),
    ((2, 3, 2, 3, 2), 2, 2, 2, 0, 0, 1, 1, True),
]


@pytest.mark.parametrize("case", CONVT3D, ids=range(len(CONVT3D)))
def test_conv_transpose3d_matches_torch(case, device):
    xs, o, k, s, p, op, g, d, bias = case
    ks = (k,) * 3 if isinstance(k, int) else k
    shapes = [xs, (xs[1], o // g) + ks] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose3d(x, w, b, s, p, op, g, d), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose3d(x, w, b, s, p, op, g, d),
          device=device)


def test_conv_transpose3d_unbatched_noncontig():
    check(lambda x, w, b: F.conv_transpose3d(x, w, b, 2, 1, 1),
          [(3, 3, 4, 2), (3, 2, 3, 3, 3), (2,)],
          torch_fn=lambda x, w, b: TF.conv_transpose3d(x, w, b, 2, 1, 1), noncontig=True)


def test_gradcheck_conv3d():
    rng = np.random.default_rng(0)
    t = [mytorch.tensor(rng.standard_normal(s), requires_grad=True)
         for s in ((1, 4, 3, 4, 3), (4, 2, 2, 2, 3), (4,))]
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, (1, 2, 1), 1, (1, 1, 2), 2), t)
    t = [mytorch.tensor(rng.standard_normal(s), requires_grad=True)
         for s in ((1, 2, 2, 3, 2), (2, 2, 2, 3, 2))]
    assert gradcheck(lambda x, w: F.conv_transpose3d(x, w, None, 2, 1, 1), t)


def test_conv3d_modules_match_torch_modules():
    pairs = [(nn.Conv3d(4, 6, 3, stride=2, padding=1, groups=2),
              torch.nn.Conv3d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 5, 6, 5)),
             (nn.Conv3d(3, 5, (1, 3, 2), padding="same", dilation=2, bias=False),
              torch.nn.Conv3d(3, 5, (1, 3, 2), padding="same", dilation=2, bias=False),
              (2, 3, 4, 5, 6)),
             (nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1),
              torch.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1),
              (2, 4, 3, 2, 3))]
    for m, t, xs in pairs:
        assert repr(m) == repr(t)
        assert list(m.state_dict()) == list(t.state_dict())
        for k, v in t.state_dict().items():
            assert tuple(m.state_dict()[k].shape) == tuple(v.shape)
        m.load_state_dict({k: mytorch.tensor(v.numpy()) for k, v in t.state_dict().items()})
        x = np.random.default_rng(0).standard_normal(xs).astype(np.float32)
        y = m(mytorch.tensor(x))
        ty = t(torch.from_numpy(x))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-5, rtol=1e-4)
        y.sum().backward()
        ty.sum().backward()
        for (_, p), (_, tp) in zip(m.named_parameters(), t.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_conv3d_default_init_follows_torch():
    mytorch.manual_seed(0)
    m = nn.Conv3d(8, 16, 3)
    fan_in = 8 * 27
    bound = 1 / math.sqrt(fan_in)
    w = m.weight.detach().numpy()
    assert w.shape == (16, 8, 3, 3, 3) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)


def test_conv3d_bad_input():
    m = nn.Conv3d(3, 8, 3)
    with pytest.raises(RuntimeError, match=r"Conv3d.*3 channels.*\(2, 4, 5, 5, 5\)"):
        m(mytorch.randn(2, 4, 5, 5, 5))
    with pytest.raises(RuntimeError, match=r"Conv3d.*5-D.*\(3, 5, 5\)"):
        m(mytorch.randn(3, 5, 5))
    with pytest.raises(RuntimeError, match=r"Conv3d.*kernel size.*larger than the padded input"):
        m(mytorch.randn(1, 3, 2, 5, 5))
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv3d(3, 8, 3, groups=2)
    with pytest.raises(RuntimeError, match=r"conv3d.*groups=3.*weight of shape \(4, 1, 3, 3, 3\)"):
        F.conv3d(mytorch.randn(1, 3, 5, 5, 5), mytorch.randn(4, 1, 3, 3, 3), groups=3)
    with pytest.raises(RuntimeError, match=r"conv3d.*5-D weight"):
        F.conv3d(mytorch.randn(1, 3, 5, 5, 5), mytorch.randn(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="float64"):
        F.conv3d(mytorch.randn(1, 3, 5, 5, 5), mytorch.randn(4, 3, 3, 3, 3, dtype=mytorch.float64))
    with pytest.raises(ValueError, match="same"):
        nn.Conv3d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(NotImplementedError, match="padding_mode"):
        nn.Conv3d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose3d(mytorch.randn(1, 3, 4, 4, 4), mytorch.randn(3, 2, 3, 3, 3), stride=2,
                           output_padding=2)


# ---------------------------------------------------------------------------------------
# pooling

# (x shape, kernel, stride, padding, dilation, ceil_mode)
MAXPOOL3D = [
    ((2, 3, 4, 6, 6), 2, None, 0, 1, False),
    ((2, 2, 5, 7, 6), 3, 2, 1, 1, False),
    ((1, 2, 5, 7, 6), (2, 3, 2), (1, 2, 3), (1, 1, 0), (2, 1, 2), True),
    ((2, 2, 6, 5, 7), 3, 2, 0, 1, True),
]


@pytest.mark.parametrize("case", MAXPOOL3D, ids=range(len(MAXPOOL3D)))
def test_max_pool3d_matches_torch(case, device):
    xs, k, s, p, d, ceil = case
    check(lambda x: F.max_pool3d(x, k, s, p, d, ceil, return_indices=True), [xs],
          torch_fn=lambda x: TF.max_pool3d(x, k, s, p, d, ceil, return_indices=True),
          device=device)
    check(lambda x: F.max_pool3d(x, k, s, p, d, ceil), [xs], dtype=np.float64,
          torch_fn=lambda x: TF.max_pool3d(x, k, s, p, d, ceil), device=device)


def test_max_pool3d_unbatched_noncontig_and_module():
    check(lambda x: F.max_pool3d(x, 2, 1, 1, return_indices=True), [(3, 4, 5, 4)],
          torch_fn=lambda x: TF.max_pool3d(x, 2, 1, 1, return_indices=True))
    check(lambda x: F.max_pool3d(x, 2), [(2, 3, 4, 4, 6)], noncontig=True,
          torch_fn=lambda x: TF.max_pool3d(x, 2))
    m, t = nn.MaxPool3d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool3d(3, 2, 1, ceil_mode=True)
    assert repr(m) == repr(t) and m.state_dict() == {}
    check(m, [(2, 2, 5, 6, 5)], torch_fn=t)


# (x shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVGPOOL3D = [
    ((2, 3, 4, 6, 6), 2, None, 0, False, True, None),
    ((2, 2, 5, 7, 6), 3, 2, 1, False, True, None),
    ((2, 2, 5, 7, 6), 3, 2, 1, False, False, None),
    ((1, 2, 5, 7, 6), (2, 3, 2), (1, 2, 3), (1, 1, 0), True, False, None),
    ((2, 2, 6, 5, 7), 3, 2, 1, True, True, None),
    ((2, 2, 5, 5, 5), 2, 2, 1, False, True, 3),
]


@pytest.mark.parametrize("case", AVGPOOL3D, ids=range(len(AVGPOOL3D)))
def test_avg_pool3d_matches_torch(case, device):
    xs, k, s, p, ceil, cip, div = case
    check(lambda x: F.avg_pool3d(x, k, s, p, ceil, cip, div), [xs],
          torch_fn=lambda x: TF.avg_pool3d(x, k, s, p, ceil, cip, div), device=device)


def test_avg_pool3d_unbatched_noncontig_float64_and_module():
    check(lambda x: F.avg_pool3d(x, 2, 1, 1, count_include_pad=False), [(3, 4, 5, 4)],
          torch_fn=lambda x: TF.avg_pool3d(x, 2, 1, 1, count_include_pad=False))
    check(lambda x: F.avg_pool3d(x, 3, 2, 1), [(2, 3, 5, 4, 6)], noncontig=True,
          dtype=np.float64, torch_fn=lambda x: TF.avg_pool3d(x, 3, 2, 1))
    m = nn.AvgPool3d(3, 2, 1, count_include_pad=False)
    t = torch.nn.AvgPool3d(3, 2, 1, count_include_pad=False)
    assert repr(m) == repr(t) and m.state_dict() == {}
    check(m, [(2, 2, 5, 6, 5)], torch_fn=t)


@pytest.mark.parametrize("xs,out", [((2, 3, 5, 7, 6), (2, 3, 4)), ((2, 3, 4, 4, 4), 1),
                                    ((2, 3, 5, 6, 7), (None, 4, 1)), ((3, 5, 7, 6), 3),
                                    ((1, 2, 3, 4, 5), (6, 4, 7))])
def test_adaptive_avg_pool3d_matches_torch(xs, out, device):
    check(lambda x: F.adaptive_avg_pool3d(x, out), [xs],
          torch_fn=lambda x: TF.adaptive_avg_pool3d(x, out), device=device)


def test_adaptive_avg_pool3d_noncontig_float64_and_module():
    check(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 2)), [(2, 3, 5, 4, 6)], noncontig=True,
          dtype=np.float64, torch_fn=lambda x: TF.adaptive_avg_pool3d(x, (3, 2, 2)))
    m, t = nn.AdaptiveAvgPool3d((2, None, 3)), torch.nn.AdaptiveAvgPool3d((2, None, 3))
    assert repr(m) == repr(t) and m.state_dict() == {}
    check(m, [(2, 2, 5, 6, 5)], torch_fn=t)


def test_pool3d_bad_input():
    with pytest.raises(RuntimeError, match=r"max_pool3d.*5-D.*\(3, 4, 4\)"):
        F.max_pool3d(mytorch.randn(3, 4, 4), 2)
    with pytest.raises(RuntimeError, match=r"MaxPool3d.*larger than the padded input"):
        nn.MaxPool3d(3)(mytorch.randn(1, 2, 2, 5, 5))
    with pytest.raises(ValueError, match=r"avg_pool3d.*padding.*half"):
        F.avg_pool3d(mytorch.randn(1, 2, 5, 5, 5), 2, padding=2)
    with pytest.raises(ValueError, match=r"max_pool3d.*padding.*half"):  # as torch: dilation
        F.max_pool3d(mytorch.randn(1, 2, 9, 9, 9), 2, 1, 2, 3)          # does not widen it
    with pytest.raises(ValueError, match=r"avg_pool3d.*divisor_override"):
        F.avg_pool3d(mytorch.randn(1, 2, 4, 4, 4), 2, divisor_override=0)
    with pytest.raises(RuntimeError, match=r"AvgPool3d.*floating-point"):
        nn.AvgPool3d(2)(mytorch.ones(1, 2, 4, 4, 4, dtype=mytorch.int64))
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool3d.*5-D.*\(4, 4\)"):
        F.adaptive_avg_pool3d(mytorch.randn(4, 4), 2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool3d.*3 elements"):
        F.adaptive_avg_pool3d(mytorch.randn(1, 2, 4, 4, 4), (2, 2))
