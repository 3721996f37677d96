"""The fused numba-cuda kernels against their references and PyTorch, forward and backward.

Without a GPU they run in numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1), thread by thread with shared memory and barriers, on NumPy arrays;
on a GPU host the same tests launch them on the device with CuPy arrays. Blocks of 32 threads
keep the simulator quick; the row lengths are chosen around it (1, 31, 33, 77: below, above
and not a multiple of the block), and one case runs the production block size.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from mytorch.ops import cuda_kernels as ck
from tests.cuda.kernel_host import dev, host  # skips without numba-cuda

T = 32  # threads per block in these tests
SHAPES = [(1, 1), (3, 31), (2, 33), (4, 77), (2, 1, 40)]  # (2, 1, 40): B=2, T=1
TOL = {np.float64: 1e-12, np.float32: 2e-6, np.float16: 2e-3}


def assert_close(got, want, dtype, scale=1.0):
    got, want = host(got).astype(np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def data(shape, dtype, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def cases():
    # every shape in float32; the ends of the range in float16 and float64
    out = [(s, np.float32) for s in SHAPES]
    out += [(s, d) for s in (SHAPES[1], SHAPES[3]) for d in (np.float16, np.float64)]
    return out


@pytest.mark.parametrize("shape, dtype", cases())
def test_softmax(shape, dtype):
    x, gy = data(shape, dtype), data(shape, dtype, 1)
    x64 = x.astype(np.float64)
    want = ck.softmax_forward_reference(x64)
    y = ck.softmax_forward(dev(x), threads=T)
    assert y.dtype == dtype
    assert_close(y, want, dtype)
    gx = ck.softmax_backward(dev(want.astype(dtype)), dev(gy), threads=T)
    assert_close(gx, ck.softmax_backward_reference(want.astype(dtype).astype(np.float64),
                                            gy.astype(np.float64)), dtype, scale=4)


def test_softmax_matches_torch_and_masked_rows():
    x = data((3, 45), np.float64)
    x[1, ::3] = -np.inf  # a masked row, as attention masks make them
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.softmax(xt, -1)
    gy = data((3, 45), np.float64, 2)
    yt.backward(torch.tensor(gy))
    y = ck.softmax_forward(dev(x), threads=T)
    assert_close(y, yt.detach().numpy(), np.float64)
    assert (host(y)[1, ::3] == 0).all()
    assert_close(ck.softmax_backward(y, dev(gy), threads=T), xt.grad.numpy(), np.float64)


@pytest.mark.parametrize("shape, dtype", cases())
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(shape, dtype, affine):
    n = shape[-1]
    x, gy = data(shape, dtype, 0) + 0.5, data(shape, dtype, 1)
    w = data(n, dtype, 2) if affine else None
    b = data(n, dtype, 3) if affine else None
    f64 = [None if a is None else a.astype(np.float64) for a in (x, gy, w, b)]
    y_ref, mean_ref, rstd_ref = ck.layer_norm_forward_reference(f64[0], f64[2], f64[3], 1e-5)
    y, mean, rstd = ck.layer_norm_forward(dev(x), dev(w), dev(b), 1e-5, threads=T)
    assert y.dtype == dtype and mean.dtype == rstd.dtype == (
        np.float64 if dtype == np.float64 else np.float32)
    assert_close(y, y_ref, dtype, scale=8)
    assert_close(mean, mean_ref, dtype)
    assert_close(rstd, rstd_ref, dtype, scale=100)
    gx, gw, gb = ck.layer_norm_backward(dev(x), dev(gy), dev(w), mean, rstd, threads=T,
                                        blocks=2)
    gx_ref, gw_ref, gb_ref = ck.layer_norm_backward_reference(f64[0], f64[1], f64[2],
                                                              mean_ref, rstd_ref)
    rows = int(np.prod(shape[:-1]))
    assert_close(gx, gx_ref, dtype, scale=50)
    assert_close(gw, gw_ref, dtype, scale=10 * rows)
    assert_close(gb, gb_ref, dtype, scale=10 * rows)


@pytest.mark.parametrize("shape, dtype", cases())
@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm(shape, dtype, affine):
    n = shape[-1]
    x, gy = data(shape, dtype, 0), data(shape, dtype, 1)
    w = data(n, dtype, 2) if affine else None
    f64 = [None if a is None else a.astype(np.float64) for a in (x, gy, w)]
    y_ref, rstd_ref = ck.rms_norm_forward_reference(f64[0], f64[2], 1e-6)
    y, rstd = ck.rms_norm_forward(dev(x), dev(w), 1e-6, threads=T)
    assert y.dtype == dtype
    assert_close(y, y_ref, dtype, scale=8)
    assert_close(rstd, rstd_ref, dtype, scale=100)
    gx, gw = ck.rms_norm_backward(dev(x), dev(gy), dev(w), rstd, threads=T, blocks=3)
    gx_ref, gw_ref = ck.rms_norm_backward_reference(f64[0], f64[1], f64[2], rstd_ref)
    rows = int(np.prod(shape[:-1]))
    assert_close(gx, gx_ref, dtype, scale=50)
    assert_close(gw, gw_ref, dtype, scale=10 * rows)


def test_norms_match_torch_in_float64():
    x, gy = data((5, 37), np.float64), data((5, 37), np.float64, 1)
    w, b = data(37, np.float64, 2), data(37, np.float64, 3)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.layer_norm(xt, (37,), wt, bt, 1e-5).backward(torch.tensor(gy))
    y, mean, rstd = ck.layer_norm_forward(dev(x), dev(w), dev(b), 1e-5, threads=T)
    assert_close(y, torch.nn.functional.layer_norm(torch.tensor(x), (37,), torch.tensor(w),
                                            torch.tensor(b), 1e-5).numpy(), np.float64)
    gx, gw, gb = ck.layer_norm_backward(dev(x), dev(gy), dev(w), mean, rstd, threads=T)
    for got, want in ((gx, xt.grad), (gw, wt.grad), (gb, bt.grad)):
        assert_close(got, want.numpy(), np.float64, scale=10)
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    torch.nn.functional.rms_norm(xt, (37,), wt, 1e-6).backward(torch.tensor(gy))
    y, rstd = ck.rms_norm_forward(dev(x), dev(w), 1e-6, threads=T)
    gx, gw = ck.rms_norm_backward(dev(x), dev(gy), dev(w), rstd, threads=T)
    assert_close(gx, xt.grad.numpy(), np.float64, scale=10)
    assert_close(gw, wt.grad.numpy(), np.float64, scale=10)


GELU_SIZES = [(0,), (1,), (), (3, 31), (2, 33), (4, 77)]  # empty, one element, 0-d, odd


def gelu_cases():
    out = [(s, np.float32, a) for s in GELU_SIZES for a in ("none", "tanh")]
    return out + [((4, 77), d, a) for d in (np.float16, np.float64) for a in ("none", "tanh")]


def torch_gelu(x, gy, approximate, b=None):
    """torch's GELU (of x + b) in float64: the output and the grads of x (and b)."""
    ts = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, b)
          if a is not None]
    y = torch.nn.functional.gelu(ts[0] if b is None else ts[0] + ts[1], approximate=approximate)
    y.backward(torch.tensor(gy.astype(np.float64)))
    return [y.detach().numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("shape, dtype, approximate", gelu_cases())
def test_gelu(shape, dtype, approximate):
    x, gy = data(shape, dtype, 0, scale=3.0), data(shape, dtype, 1)
    y = ck.gelu_forward(dev(x), approximate, threads=T, blocks=2)  # 2 blocks: a stride loop
    gx = ck.gelu_backward(dev(x), dev(gy), approximate, threads=T, blocks=2)
    assert y.dtype == gx.dtype == dtype and y.shape == gx.shape == shape
    y_t, gx_t = torch_gelu(x, gy, approximate)
    assert_close(y, y_t, dtype, scale=4)
    assert_close(gx, gx_t, dtype, scale=4)
    # the references (erf from a fit good to ~1.2e-7 relative, so float32's tolerance)
    ref_tol = max(dtype, np.float32, key=lambda d: TOL[d])
    x64, gy64 = x.astype(np.float64), gy.astype(np.float64)
    assert_close(y, ck.gelu_forward_reference(x64, approximate), ref_tol, scale=4)
    assert_close(gx, ck.gelu_backward_reference(x64, gy64, approximate), ref_tol, scale=4)


def test_gelu_tails_and_the_production_grid():
    # far tails, at the production block size and grid, in float64. The exact form keeps
    # x Phi(x) relatively accurate out there (Phi(x) = erfc(-x / sqrt 2) / 2), where torch's
    # x (1 + erf(x / sqrt 2)) / 2 flushes to 0 below x = -8: so it is checked against erfc.
    x = np.concatenate([np.linspace(-12, 12, 301), [-30.0, 30.0, 0.0]])
    gy = np.ones_like(x)
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(host(ck.gelu_forward(dev(x))), exact, rtol=1e-13, atol=0)
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    d_exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x]) + x * pdf
    np.testing.assert_allclose(host(ck.gelu_backward(dev(x), dev(gy))), d_exact, rtol=1e-13,
                               atol=0)
    y_t, gx_t = torch_gelu(x, gy, "tanh")
    assert_close(ck.gelu_forward(dev(x), "tanh"), y_t, np.float64)
    assert_close(ck.gelu_backward(dev(x), dev(gy), "tanh"), gx_t, np.float64)


@pytest.mark.parametrize("shape, dtype, approximate",
                         [((1, 1), np.float32, "none"), ((3, 31), np.float32, "tanh"),
                          ((2, 1, 40), np.float32, "none"), ((4, 77), np.float16, "tanh"),
                          ((4, 77), np.float64, "none")])
def test_bias_gelu(shape, dtype, approximate):
    n = shape[-1]
    x, b, gy = data(shape, dtype, 0), data(n, dtype, 2), data(shape, dtype, 1)
    y = ck.bias_gelu_forward(dev(x), dev(b), approximate, threads=T, blocks=3)
    gx, gb = ck.bias_gelu_backward(dev(x), dev(b), dev(gy), approximate, threads=T, blocks=3)
    assert y.dtype == gx.dtype == gb.dtype == dtype and gb.shape == (n,)
    y_t, gx_t, gb_t = torch_gelu(x, gy, approximate, b)
    rows = int(np.prod(shape[:-1]))
    assert_close(y, y_t, dtype, scale=4)
    assert_close(gx, gx_t, dtype, scale=4)
    assert_close(gb, gb_t, dtype, scale=4 * rows)
    ref_tol = max(dtype, np.float32, key=lambda d: TOL[d])
    f64 = [a.astype(np.float64) for a in (x, b, gy)]
    assert_close(y, ck.bias_gelu_forward_reference(*f64[:2], approximate), ref_tol, scale=4)
    gx_r, gb_r = ck.bias_gelu_backward_reference(*f64, approximate)
    assert_close(gx, gx_r, ref_tol, scale=4)
    assert_close(gb, gb_r, ref_tol, scale=4 * rows)


def test_the_production_block_size():
    x = data((2, 300), np.float32)  # 300: over one block of 256, not a multiple
    assert_close(ck.softmax_forward(dev(x)), ck.softmax_forward_reference(x.astype(np.float64)),
          np.float32)
    y, _, _ = ck.layer_norm_forward(dev(x), None, None, 1e-5)
    assert_close(y, ck.layer_norm_forward_reference(x.astype(np.float64), None, None, 1e-5)[0],
          np.float32, scale=8)


def test_empty_batch_launches_nothing():
    x = np.zeros((0, 7), np.float32)
    assert host(ck.softmax_forward(dev(x), threads=T)).shape == (0, 7)
    gx, gw = ck.rms_norm_backward(dev(x), dev(x), None, np.zeros(0, np.float32), threads=T)
    assert host(gx).shape == (0, 7) and (host(gw) == 0).all()


def test_bad_input_is_refused_with_the_op_and_shapes():
    with pytest.raises(TypeError, match=r"softmax_forward: expected a float16/32/64 array, "
                                        r"got int64"):
        ck.softmax_forward(dev(np.zeros((2, 3), np.int64)))
    with pytest.raises(ValueError, match=r"layer_norm_forward: expected weights of shape "
                                         r"\(5,\) for input \(2, 5\), got \(4,\)"):
        ck.layer_norm_forward(dev(np.zeros((2, 5), np.float32)),
                              dev(np.ones(4, np.float32)), None, 1e-5)
    with pytest.raises(ValueError, match=r"rms_norm_forward: expected \(\.\.\., N\) with N > 0"):
        ck.rms_norm_forward(dev(np.zeros((2, 0), np.float32)), None, 1e-6)
    with pytest.raises(ValueError, match="threads must be a power of two <= 1024, got 48"):
        ck.kernels(48)
    x = dev(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"gelu_backward: expected a gradient like the input, "
                                         r"\(2, 5\) float32, got \(2, 5\) float16"):
        ck.gelu_backward(x, dev(np.zeros((2, 5), np.float16)))
    with pytest.raises(ValueError, match=r"softmax_backward: expected a gradient like the "
                                         r"input, \(2, 5\) float32, got \(5,\) float32"):
        ck.softmax_backward(x, dev(np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match="gelu_forward: approximate must be 'none' or 'tanh', "
                                         "got 'erf'"):
        ck.gelu_forward(x, "erf")
    with pytest.raises(ValueError, match=r"bias_gelu_forward: expected weights of shape \(5,\) "
                                         r"for input \(2, 5\), got \(2,\)"):
        ck.bias_gelu_forward(x, dev(np.zeros(2, np.float32)))


def test_the_switch_turns_fused_kernels_off():
    previous = ck.set_enabled(False)
    try:
        assert ck.enabled() is False
        assert ck.set_enabled(True) is False and ck.enabled() is True
    finally:
        ck.set_enabled(previous)
    for value, want in (("0", False), ("off", False), ("No", False), ("1", True), ("", True),
                        (None, True)):
        assert ck.switch_value(value) is want
    code = "from mytorch.ops import cuda_kernels as ck; print(ck.enabled())"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, MYTORCH_FUSED="0"),
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
