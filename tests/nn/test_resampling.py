"""Resampling against PyTorch: interpolate / Upsample (nearest, (bi)linear, both paths), pixel
shuffle, channel shuffle, unfold / fold."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

MODES = [("nearest", None), ("bilinear", False), ("bilinear", True), ("nearest-exact", None)]


SIZES = [dict(scale_factor=2), dict(size=(7, 5)), dict(scale_factor=(1.7, 0.6)),
         dict(size=(3, 13)), dict(size=1), dict(scale_factor=3, recompute_scale_factor=True)]


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("mode,ac", MODES)
@pytest.mark.parametrize("kw", SIZES, ids=range(len(SIZES)))
def test_interpolate_2d_matches_torch(kw, mode, ac, auto, device):
    check(lambda x: F.interpolate(x, **kw, mode=mode, align_corners=ac, auto=auto),
          [(2, 3, 5, 6)],
          torch_fn=lambda x: TF.interpolate(x, **kw, mode=mode, align_corners=ac),
          device=device)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("mode,ac", [("nearest", None), ("linear", False), ("linear", True)])
def test_interpolate_1d_and_area(mode, ac, auto):
    check(lambda x: F.interpolate(x, scale_factor=2.5, mode=mode, align_corners=ac, auto=auto),
          [(2, 3, 5)], torch_fn=lambda x: TF.interpolate(x, scale_factor=2.5, mode=mode,
                                                          align_corners=ac))
    check(lambda x: F.interpolate(x, size=4, mode=mode, align_corners=ac, auto=auto),
          [(2, 3, 9)], torch_fn=lambda x: TF.interpolate(x, size=4, mode=mode,
                                                          align_corners=ac))
    check(lambda x: F.interpolate(x, size=(3, 4), mode="area", auto=auto), [(2, 3, 7, 9)],
          torch_fn=lambda x: TF.interpolate(x, size=(3, 4), mode="area"), noncontig=True)


def test_nearest_keeps_inf_and_gradcheck():
    x = mytorch.tensor([[[[1.0, np.inf], [2.0, 3.0]]]])
    y = F.interpolate(x, scale_factor=2)
    assert np.isinf(y.numpy()).sum() == 4 and not np.isnan(y.numpy()).any()
    rng = np.random.default_rng(0)

    def t64(*s):
        return mytorch.tensor(rng.standard_normal(s), requires_grad=True)
    assert gradcheck(lambda x: F.interpolate(x, size=(5, 3), mode="bilinear"), [t64(1, 2, 3, 4)])
    assert gradcheck(lambda x: F.interpolate(x, scale_factor=2, mode="bilinear",
                                             align_corners=True), [t64(1, 1, 3, 2)])
    assert gradcheck(lambda x: F.interpolate(x, size=(5, 2)), [t64(1, 2, 3, 4)])


@pytest.mark.parametrize("auto", [False, True])
def test_upsample_module_matches_torch(auto):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    pairs = [(nn.Upsample(scale_factor=2, auto=auto), torch.nn.Upsample(scale_factor=2)),
             (nn.Upsample(size=(6, 9), mode="bilinear", align_corners=True, auto=auto),
              torch.nn.Upsample(size=(6, 9), mode="bilinear", align_corners=True)),
             (nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
             (nn.UpsamplingBilinear2d(size=(7, 7)), torch.nn.UpsamplingBilinear2d(size=(7, 7)))]
    for m, t in pairs:
        assert repr(m) == repr(t)
        np.testing.assert_allclose(m(mytorch.tensor(x)).numpy(), t(torch.from_numpy(x)).numpy(),
                                   atol=1e-6, rtol=1e-5)


def test_interpolate_bad_input():
    x = mytorch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match=r"bilinear.*4-D.*\(1, 2, 4\)"):
        F.interpolate(mytorch.randn(1, 2, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="positive"):
        F.interpolate(x, scale_factor=0.1)


def test_bilinear_separable_path(monkeypatch):
    from mytorch.ops import resample as C
    monkeypatch.setattr(C, "_KRON_ELEMS", 0)  # two matmuls instead of one Kronecker matrix
    for ac in (False, True):
        check(lambda x: F.interpolate(x, size=(7, 4), mode="bilinear", align_corners=ac),
              [(2, 3, 5, 6)],
              torch_fn=lambda x: TF.interpolate(x, size=(7, 4), mode="bilinear",
                                                align_corners=ac))


UNFOLDS = [((2, 3, 5, 6), {"kernel_size": 2}),
           ((1, 2, 7, 7), {"kernel_size": 3, "padding": 1, "stride": 2}),
           ((2, 2, 8, 9), {"kernel_size": (2, 3), "dilation": (2, 1), "stride": (1, 2),
                           "padding": (1, 0)}),
           ((3, 6, 6), {"kernel_size": 3, "padding": 2})]


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


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


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 3), 3), ((1, 4, 5), 2), ((2, 8, 2, 1, 2), 4)])
def test_channel_shuffle(shape, groups):
    check(lambda x: _lib(x)[1].channel_shuffle(x, groups), shapes=[shape])
    check(lambda x: _lib(x)[2].ChannelShuffle(groups)(x), shapes=[shape], noncontig=True)
    with pytest.raises(RuntimeError, match="divisible"):
        F.channel_shuffle(mytorch.randn(2, 5, 3), 2)
