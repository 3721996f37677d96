"""Pooling against PyTorch: max/avg/adaptive (both paths), adaptive max, LP pooling and max
unpooling; gradcheck, modules, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

POOL2D = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
          dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True),
          dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=(2, 4), stride=3),
          dict(kernel_size=4, stride=1, padding=2)]


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("args", POOL2D, ids=range(len(POOL2D)))
def test_max_pool2d_matches_torch(args, auto, device):
    check(lambda x: F.max_pool2d(x, **args, auto=auto), [(2, 3, 9, 8)],
          torch_fn=lambda x: TF.max_pool2d(x, **args), device=device)
    check(lambda x: F.max_pool2d(x, **args, dilation=(1, 2), return_indices=True, auto=auto),
          [(1, 2, 9, 10)],
          torch_fn=lambda x: TF.max_pool2d(x, **args, dilation=(1, 2), return_indices=True),
          device=device)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("args", POOL2D, ids=range(len(POOL2D)))
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_matches_torch(args, cip, auto, device):
    check(lambda x: F.avg_pool2d(x, **args, count_include_pad=cip, auto=auto), [(2, 3, 9, 8)],
          torch_fn=lambda x: TF.avg_pool2d(x, **args, count_include_pad=cip), device=device)


@pytest.mark.parametrize("auto", [False, True])
def test_pool1d_unbatched_noncontig_divisor(auto):
    check(lambda x: F.max_pool1d(x, 3, 2, 1, return_indices=True, auto=auto), [(2, 3, 10)],
          torch_fn=lambda x: TF.max_pool1d(x, 3, 2, 1, return_indices=True))
    check(lambda x: F.max_pool1d(x, 2, dilation=3, ceil_mode=True, auto=auto), [(2, 11)],
          torch_fn=lambda x: TF.max_pool1d(x, 2, dilation=3, ceil_mode=True))
    check(lambda x: F.avg_pool1d(x, 3, 2, 1, True, False, auto=auto), [(2, 3, 10)],
          torch_fn=lambda x: TF.avg_pool1d(x, 3, 2, 1, True, False))
    check(lambda x: F.max_pool2d(x, 2, auto=auto), [(2, 3, 6, 8)],
          torch_fn=lambda x: TF.max_pool2d(x, 2), noncontig=True)
    check(lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=4, auto=auto), [(3, 7, 6)],
          torch_fn=lambda x: TF.avg_pool2d(x, 3, 2, 1, divisor_override=4))


def test_max_pool_ties_route_to_first():
    x = np.ones((1, 1, 4, 4), np.float32)
    for auto in (False, True):
        check(lambda t: F.max_pool2d(t, 2, 1, auto=auto), inputs=[x],
              torch_fn=lambda t: TF.max_pool2d(t, 2, 1))


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 9), (3, 1, 2, 2)])
def test_max_pool2d_2x2_stride_2_matches_torch(shape, device):
    """The common case has its own loops: indices, odd sizes, ties, float64 gradcheck."""
    check(lambda x: F.max_pool2d(x, 2, return_indices=True), [shape],
          torch_fn=lambda x: TF.max_pool2d(x, 2, return_indices=True), device=device)
    check(lambda x: F.max_pool2d(x, 2), [shape], torch_fn=lambda x: TF.max_pool2d(x, 2),
          device=device, dtype=np.float64)
    ties = np.random.default_rng(0).integers(0, 2, shape).astype(np.float32)
    check(lambda x: F.max_pool2d(x, (2, 2), (2, 2)), inputs=[ties],
          torch_fn=lambda x: TF.max_pool2d(x, (2, 2), (2, 2)), device=device)
    x = mytorch.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, 2), [x])


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("out", [1, 3, (5, 2), (None, 4), 7, (9, 10)])
def test_adaptive_avg_pool2d_matches_torch(out, auto, device):
    check(lambda x: F.adaptive_avg_pool2d(x, out, auto=auto), [(2, 3, 9, 7)],
          torch_fn=lambda x: TF.adaptive_avg_pool2d(x, out), device=device)


@pytest.mark.parametrize("auto", [False, True])
def test_adaptive_avg_pool1d_and_unbatched(auto):
    check(lambda x: F.adaptive_avg_pool1d(x, 4, auto=auto), [(2, 3, 10)],
          torch_fn=lambda x: TF.adaptive_avg_pool1d(x, 4))
    check(lambda x: F.adaptive_avg_pool2d(x, (2, 3), auto=auto), [(3, 5, 7)],
          torch_fn=lambda x: TF.adaptive_avg_pool2d(x, (2, 3)), noncontig=True)


def test_gradcheck_hand_written_backwards():
    rng = np.random.default_rng(0)

    def t64(*s):
        return mytorch.tensor(rng.standard_normal(s), requires_grad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [t64(1, 2, 5, 6)])
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [t64(1, 2, 5, 6)])
    assert gradcheck(lambda x: F.avg_pool1d(x, 2, 1, 1), [t64(2, 1, 5)])
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [t64(1, 2, 5, 7)])


@pytest.mark.parametrize("auto", [False, True])
def test_pool_modules_match_torch(auto):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(np.float32)
    x1 = x[:, :, 0]
    pairs = [(nn.MaxPool2d(3, 2, 1, auto=auto), torch.nn.MaxPool2d(3, 2, 1), x),
             (nn.MaxPool1d(2, auto=auto), torch.nn.MaxPool1d(2), x1),
             (nn.AvgPool2d(3, 2, 1, ceil_mode=True, auto=auto),
              torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True), x),
             (nn.AvgPool1d(3, 1, 1, count_include_pad=False, auto=auto),
              torch.nn.AvgPool1d(3, 1, 1, count_include_pad=False), x1),
             (nn.AdaptiveAvgPool2d((3, 5), auto=auto), torch.nn.AdaptiveAvgPool2d((3, 5)), x),
             (nn.AdaptiveAvgPool1d(3, auto=auto), torch.nn.AdaptiveAvgPool1d(3), x1)]
    for m, t, a in pairs:
        assert repr(m) == repr(t)
        np.testing.assert_allclose(m(mytorch.tensor(a)).numpy(), t(torch.from_numpy(a)).numpy(),
                                   atol=1e-6, rtol=1e-5)
    y, idx = nn.MaxPool2d(2, return_indices=True, auto=auto)(mytorch.tensor(x))
    ty, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert idx.dtype == mytorch.int64


def test_pool_bad_input():
    with pytest.raises(RuntimeError, match=r"MaxPool2d.*4-D.*\(5, 5\)"):
        nn.MaxPool2d(2)(mytorch.randn(5, 5))
    with pytest.raises(ValueError, match=r"max_pool2d.*padding.*half"):
        F.max_pool2d(mytorch.randn(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(RuntimeError, match=r"avg_pool2d.*larger than the padded input"):
        F.avg_pool2d(mytorch.randn(1, 1, 2, 6), 3)
    with pytest.raises(RuntimeError, match="floating-point"):
        F.max_pool2d(mytorch.ones(1, 1, 4, 4, dtype=mytorch.int64), 2)
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool2d.*\(3,\)"):
        F.adaptive_avg_pool2d(mytorch.randn(3), 1)


def test_adaptive_separable_path(monkeypatch):
    from mytorch.ops import resample as C
    monkeypatch.setattr(C, "_KRON_ELEMS", 0)  # two matmuls instead of one Kronecker matrix
    for out in [1, (3, 2), (9, 10)]:
        check(lambda x: F.adaptive_avg_pool2d(x, out), [(2, 3, 9, 7)],
              torch_fn=lambda x: TF.adaptive_avg_pool2d(x, out))


def test_max_pool_padding_limit_is_half_the_kernel_as_torch():
    # torch checks 2 * padding <= kernel_size, dilation or not
    x = mytorch.randn(1, 1, 8, 8)
    F.max_pool2d(x, 2, 1, 1, 3)
    with pytest.raises(ValueError, match="at most half of the kernel size"):
        F.max_pool2d(x, 3, 1, 2, 2)
    with pytest.raises(ValueError, match="at most half of the kernel size"):
        F.max_pool1d(x[0], 1, 1, 1, 3)


rng = np.random.default_rng(0)


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)


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
