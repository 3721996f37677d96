"""interpolate / Upsample: nearest and (bi)linear, both paths, against PyTorch."""
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
