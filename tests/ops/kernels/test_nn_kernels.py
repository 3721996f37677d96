"""Blocked CPU kernels of mytorch.ops.nn against their references and torch."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from mytorch.ops import _kernels as K


def test_blocks_cover_rows_in_order():
    for n, width in [(0, 1), (1, 1), (K.BLOCK + 3, 1), (1000, 128), (5, K.BLOCK * 2)]:
        bl = K.blocks(np, n, width)
        idx = np.concatenate([np.arange(n)[b] for b in bl]) if bl else np.arange(0)
        np.testing.assert_array_equal(idx, np.arange(n))
        assert all(b.stop - b.start <= max(1, K.BLOCK // width) for b in bl)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
def test_embedding_grad_matches_reference(dtype, idx_dtype):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 50, 3000).astype(idx_dtype)  # many repeats
    gy = rng.standard_normal((3000, 7)).astype(dtype)
    got = K.embedding_grad(60, idx, gy)
    ref = K.embedding_grad_reference(60, idx, gy)
    assert got.dtype == dtype and got.shape == (60, 7)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert not got[50:].any()


def test_embedding_grad_non_contiguous_gy():
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 10, 40)
    gy = rng.standard_normal((7, 40)).astype(np.float32).T
    np.testing.assert_allclose(K.embedding_grad(10, idx, gy),
                               K.embedding_grad_reference(10, idx, gy), rtol=1e-6, atol=1e-6)


# sizes span several blocks and end in a partial one
@pytest.mark.parametrize("fn,tfn", [
    (lambda x: F.gelu(x), torch.nn.functional.gelu),
    (lambda x: F.gelu(x, "tanh"), lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
    (lambda x: F.softmax(x, -1), lambda x: torch.softmax(x, -1)),
    (lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1)),
])
def test_blocked_layers_match_torch_across_blocks(fn, tfn):
    rng = np.random.default_rng(2)
    x = rng.uniform(-6, 6, (3, K.BLOCK // 100 + 7, 100)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    mx = mytorch.tensor(x, requires_grad=True)
    # float64 reference: torch's float32 erf form loses the negative tail to cancellation
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    my, ty = fn(mx), tfn(tx)
    my.backward(mytorch.tensor(g))
    ty.backward(torch.from_numpy(g.astype(np.float64)))
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_softmax_broadcast_grad():
    x = mytorch.randn(4, 5, requires_grad=True)
    F.softmax(x, -1).sum().backward()  # gy arrives as a broadcast of ones
    np.testing.assert_allclose(x.grad.numpy(), np.zeros((4, 5)), atol=1e-6)


# layer norm row loops against their array-module references; odd row sizes exercise the
# vector loops' remainders
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 1), (3, 7), (2, 4, 33), (64, 256), (9, 1000)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_kernels_match_reference(dtype, shape, affine):
    rng = np.random.default_rng(3)
    n = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # offset mean: tests the two passes
    gy = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(n).astype(dtype) if affine else None
    b = rng.standard_normal(n).astype(dtype) if affine else None
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y, mean, rstd = K.layer_norm_forward(x, w, b, 1e-5)
    ry, rmean, rrstd = K.layer_norm_forward_reference(x, w, b, 1e-5)
    assert y.dtype == mean.dtype == rstd.dtype == dtype and y.shape == shape
    for got, ref in [(y, ry), (mean, rmean), (rstd, rrstd)]:
        np.testing.assert_allclose(got, ref, **tol)
    got = K.layer_norm_backward(x, gy, w, mean, rstd)
    ref = K.layer_norm_backward_reference(x, gy, w, rmean, rrstd)
    for g, r in zip(got, ref):
        assert g.dtype == dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, **tol)
    assert got[0].flags.owndata  # x.grad can take it over without a copy


def test_layer_norm_kernels_non_contiguous_and_fallbacks():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 9)).astype(np.float32).T  # (9, 40), not C-contiguous
    gy = rng.standard_normal((9, 40)).astype(np.float32)[:, ::-1]
    w, b = rng.standard_normal(40).astype(np.float32), rng.standard_normal(40).astype(np.float32)
    for got, ref in zip(K.layer_norm_forward(x, w, b, 1e-5),
                        K.layer_norm_forward_reference(x, w, b, 1e-5)):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    _, mean, rstd = K.layer_norm_forward_reference(x, w, b, 1e-5)
    for got, ref in zip(K.layer_norm_backward(x, gy, w, mean, rstd),
                        K.layer_norm_backward_reference(x, gy, w, mean, rstd)):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # float16 and mixed dtypes take the reference path
    y16, _, _ = K.layer_norm_forward(x.astype(np.float16), None, None, 1e-5)
    assert y16.dtype == np.float16
    y, _, _ = K.layer_norm_forward(x.astype(np.float64), w, b, 1e-5)
    np.testing.assert_allclose(y, K.layer_norm_forward_reference(x, w, b, 1e-5)[0], atol=1e-5)


def test_layer_norm_kernel_constant_rows_and_nan():
    x = np.full((3, 16), 2.5, np.float32)
    x[2, 3] = np.nan
    y, mean, rstd = K.layer_norm_forward(x, None, None, 1e-5)
    np.testing.assert_array_equal(y[:2], 0.0)
    np.testing.assert_allclose(mean[:2], 2.5)
    assert np.isnan(y[2]).all() and np.isnan(mean[2])


@pytest.mark.parametrize("shape,nshape", [((8, 3, 37), (37,)), ((6, 5, 4), (5, 4))])
def test_layer_norm_float64_matches_torch(shape, nshape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(shape)
    w, b = rng.standard_normal(nshape), rng.standard_normal(nshape)
    mx, mw, mb = (mytorch.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    F.layer_norm(mx, nshape, mw, mb).backward(mytorch.tensor(g))
    torch.nn.functional.layer_norm(tx, nshape, tw, tb).backward(torch.from_numpy(g))
    for m, t in [(mx, tx), (mw, tw), (mb, tb)]:
        assert m.grad.dtype == mytorch.float64
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 1), (3, 15), (2, 5, 16), (7, 37), (K.BLOCK // 100 + 3, 100)])
def test_softmax_kernels_match_reference(dtype, shape):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    y, ry = K.softmax_forward(x), K.softmax_forward_reference(x)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, ry, **tol)
    gx, rgx = K.softmax_backward(y, gy), K.softmax_backward_reference(y, gy)
    assert gx.dtype == dtype and gx.flags.owndata
    np.testing.assert_allclose(gx, rgx, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_kernel_exp_over_the_whole_range(dtype):
    # x - max from 0 down past exp's underflow (-87 float32, -708 float64), through every
    # power of two of the kernel's exp, against torch
    lo = 110.0 if dtype == np.float32 else 760.0
    x = -np.linspace(0.0, lo, 20011).astype(dtype).reshape(1, -1)
    x = np.concatenate([x, x * 0.01, x[:, ::-1] * 0.001])
    y = K.softmax_forward(x)
    ty = torch.softmax(torch.from_numpy(x), -1).numpy()
    tol = dict(rtol=2e-6, atol=1e-30) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(y, ty, **tol)


def test_softmax_kernels_non_contiguous_masks_and_nan():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((40, 20)).astype(np.float32).T  # (20, 40), not C-contiguous
    x[3, 5:] = -np.inf  # a causal-style mask: exact zeros
    x[4, 7] = np.nan
    x[5, :] = -np.inf  # fully masked row: NaN, as in torch
    y = K.softmax_forward(x)
    ty = torch.softmax(torch.from_numpy(np.ascontiguousarray(x)), -1).numpy()
    np.testing.assert_allclose(y, ty, rtol=1e-6, atol=1e-7)  # NaNs compare equal
    assert (y[3, 5:] == 0).all()
    gy = rng.standard_normal((20, 40)).astype(np.float32)[:, ::-1]
    np.testing.assert_allclose(K.softmax_backward(y, gy), K.softmax_backward_reference(y, gy),
                               rtol=1e-6, atol=1e-7)


def test_fused_exact_gelu_matches_its_numpy_reference():
    # The numba path of nn.Gelu against the blocked NumPy path it replaces (forced by handing
    # the reference an array subclass the fused check refuses).
    from mytorch.ops import _kernels as K
    from mytorch.ops.nn import Gelu

    class Plain(np.ndarray):
        pass

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = np.concatenate([rng.normal(0, 3, 200_003), [0.0, -0.0, 40.0, -40.0]]).astype(dtype)
        gy = rng.standard_normal(x.shape).astype(dtype)
        assert K.gelu_fits(x) and not K.gelu_fits(x.view(Plain))
        ref_ctx, ctx = Gelu(), Gelu()
        ref_ctx.needs_input_grad = ctx.needs_input_grad = (True,)
        want = np.asarray(Gelu.forward(ref_ctx, x.view(Plain)))
        got = Gelu.forward(ctx, x)
        tol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=tol)
        want_g = np.asarray(Gelu.backward(ref_ctx, gy.view(Plain)))
        np.testing.assert_allclose(Gelu.backward(ctx, gy), want_g, rtol=1e-5, atol=tol)


def test_fused_exact_gelu_as_accurate_as_torch_float32():
    # Max abs error against float64 torch: the fused loops' (FMAs contracted in their
    # polynomials) must be within 1.5x of torch's own float32 kernel's, forward and backward.
    from mytorch.ops import _kernels as K
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 3, 200_000), rng.uniform(-12, 12, 50_000),
                        [0.0, -0.0, 40.0, -40.0, 1e4, -1e4]]).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    errs = {}
    for name, dtype in (("torch32", torch.float32), ("torch64", torch.float64)):
        tx = torch.from_numpy(x).to(dtype).requires_grad_()
        torch.nn.functional.gelu(tx).backward(torch.from_numpy(gy).to(dtype))
        errs[name] = torch.nn.functional.gelu(tx.detach()).double().numpy(), \
            tx.grad.double().numpy()
    got = K.gelu_forward(x), K.gelu_backward(x, gy, x.shape)
    for i in range(2):  # forward, backward
        want = errs["torch64"][i]
        ours, theirs = np.abs(got[i] - want).max(), np.abs(errs["torch32"][i] - want).max()
        assert ours <= 1.5 * theirs, (i, ours, theirs)


def _tanh_gelu_inputs(rng):
    """float32 x over GELU's whole range (both tanh branches, the exp underflow, overflowing
    x^3, signed zeros, infinities, NaN) and a gradient of its shape."""
    x = np.concatenate([rng.normal(0, 3, 200_003), np.linspace(-12, 12, 40_001),
                        [0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0, 1e20, -1e20,
                         np.inf, -np.inf, np.nan]]).astype(np.float32)
    return x, rng.standard_normal(x.shape).astype(np.float32)


def test_fused_tanh_gelu_matches_its_numpy_reference():
    # The numba loop of nn.GeluTanh against the blocked NumPy path it replaces (an array
    # subclass the fused check refuses takes the reference), special values included.
    from mytorch.ops.nn import GeluTanh

    class Plain(np.ndarray):
        pass

    x, gy = _tanh_gelu_inputs(np.random.default_rng(3))
    assert K.gelu_tanh_fits(x, gy) and not K.gelu_tanh_fits(x.view(Plain))
    assert not K.gelu_tanh_fits(x.astype(np.float64))
    ref_ctx, ctx = GeluTanh(), GeluTanh()
    ref_ctx.needs_input_grad = ctx.needs_input_grad = (True,)
    with np.errstate(all="ignore"):
        want = np.asarray(GeluTanh.forward(ref_ctx, x.view(Plain)))
        want_g = np.asarray(GeluTanh.backward(ref_ctx, gy.view(Plain)))
    got, got_g = GeluTanh.forward(ctx, x), GeluTanh.backward(ctx, gy)
    assert got.dtype == got_g.dtype == np.float32 and got_g.flags.owndata
    # The two tanh agree to 2 ulp of 1 (dt); where tanh is near -1, 1 + t cancels and dt
    # shows in y as 0.5 |x| dt, in y' as (0.5 + |x| sqrt(2/pi) (1 + 3c x^2) |t|) dt |gy|.
    # NaNs and infinities in the same places.
    dt, ax = 2 * 2.0 ** -23, np.abs(x.astype(np.float64))
    with np.errstate(all="ignore"):
        tol_y = 4e-7 * np.abs(want) + 0.5 * ax * dt + 1e-30
        tol_g = 4e-7 * np.abs(want_g) + (0.5 + 0.8 * ax * (1 + 0.134 * ax * ax)) * dt * abs(gy)
    for a, b, tol in ((got, want, tol_y), (got_g, want_g, tol_g)):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(b)
        with np.errstate(invalid="ignore"):  # inf - inf
            bad = (a[ok] != b[ok]) & ~(np.abs(a[ok] - b[ok]) <= tol[ok])
        assert not bad.any(), (x[ok][bad], a[ok][bad], b[ok][bad])
    np.testing.assert_array_equal(np.signbit(got[x == 0]), np.signbit(x[x == 0]))


def test_fused_tanh_gelu_as_accurate_as_torch_float32():
    # Max abs error against float64 torch, over finite x: the fused loop's must be within
    # 1.5x of torch's own float32 kernel's (their tanh differ by an ulp or two).
    x, gy = _tanh_gelu_inputs(np.random.default_rng(4))
    x = x[np.isfinite(x) & (np.abs(x) < 1e10)]
    gy = gy[:x.shape[0]]
    errs = {}
    for name, dtype in (("torch32", torch.float32), ("torch64", torch.float64)):
        tx = torch.from_numpy(x).to(dtype).requires_grad_()
        ty = torch.nn.functional.gelu(tx, approximate="tanh")
        ty.backward(torch.from_numpy(gy).to(dtype))
        errs[name] = ty.detach().double().numpy(), tx.grad.double().numpy()
    got = K.gelu_tanh_forward(x), K.gelu_tanh_backward(x, gy)[0]
    for i in range(2):  # forward, backward
        want = errs["torch64"][i]
        ours, theirs = np.abs(got[i] - want).max(), np.abs(errs["torch32"][i] - want).max()
        assert ours <= 1.5 * theirs, (i, ours, theirs)


def test_fused_bias_tanh_gelu_matches_reference_and_torch():
    # F.bias_gelu's CPU float32 loop: gelu(x + b) and, from the same pass, the bias gradient,
    # against the blocked NumPy GeluTanh of x + b (the sum of its gx over rows) and torch
    from mytorch.ops.nn import BiasGelu, GeluTanh

    class Plain(np.ndarray):
        pass

    rng = np.random.default_rng(6)
    x = rng.normal(0, 3, (3, 50, 37)).astype(np.float32)
    b = rng.normal(0, 1, 37).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    assert BiasGelu.fits(x, b, "tanh") and not BiasGelu.fits(x, b, "none")
    ref = GeluTanh()
    ref.needs_input_grad = (True,)
    want = np.asarray(GeluTanh.forward(ref, (x + b).view(Plain)))
    want_g = np.asarray(GeluTanh.backward(ref, gy.view(Plain)))
    got, (got_g, got_b) = K.gelu_tanh_forward(x, b), K.gelu_tanh_backward(x, gy, b)
    np.testing.assert_allclose(got, want, rtol=4e-7, atol=2e-6)
    np.testing.assert_allclose(got_g, want_g, rtol=4e-7, atol=1e-5)
    np.testing.assert_allclose(got_b, got_g.sum(axis=(0, 1)), rtol=1e-6, atol=1e-6)
    mx, mb = mytorch.tensor(x, requires_grad=True), mytorch.tensor(b, requires_grad=True)
    tx, tb = torch.from_numpy(x).requires_grad_(), torch.from_numpy(b).requires_grad_()
    my = F.bias_gelu(mx, mb, "tanh")
    ty = torch.nn.functional.gelu(tx + tb, approximate="tanh")
    my.backward(mytorch.tensor(gy))
    ty.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-4)


def test_fused_tanh_gelu_empty_and_scalar():
    for x in (np.zeros((0, 5), np.float32), np.array(0.7, np.float32)):
        y = K.gelu_tanh_forward(x)
        gx, gb = K.gelu_tanh_backward(x, np.ones_like(x))
        assert y.shape == gx.shape == x.shape and gb is None
        want = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
        np.testing.assert_allclose(y, want, rtol=1e-6)


# ---------------------------------------------------------------- BatchNorm (training)

def _bn_formula(x3, w, b, eps, g3):
    """float64 training BatchNorm of x3 (N, C, L) and its backward for g3, written out."""
    x, g = x3.astype(np.float64), g3.astype(np.float64)
    mean = x.mean(axis=(0, 2))
    var = ((x - mean[:, None]) ** 2).mean(axis=(0, 2))
    rstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean[:, None]) * rstd[:, None]
    y = xhat * w[:, None] + b[:, None]
    gb, gw = g.sum(axis=(0, 2)), (g * xhat).sum(axis=(0, 2))
    k = rstd * w
    gx = k[:, None] * (g - xhat * (gw / (x.shape[0] * x.shape[2]))[:, None]
                       - (gb / (x.shape[0] * x.shape[2]))[:, None])
    return y, xhat, mean, var, rstd, gx, gb, gw


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape", [(64, 16, 196), (3, 5, 1), (1, 4, 7), (2, 1, 33)])
def test_batch_norm_kernels_match_the_formula(dtype, tol, shape):
    from mytorch.ops import _kernels_batchnorm as kbn
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w, b = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    y, xhat, mean, var, rstd = kbn.forward(x, w, b, 1e-5)
    ref = _bn_formula(x, w, b, 1e-5, g)
    for got, want in zip((y, xhat, mean, var, rstd), ref[:5]):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    gx, gb, gw = kbn.backward(g, xhat, rstd * w, True)
    for got, want in zip((gx, gb, gw), ref[5:]):
        np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol * 10)
    assert kbn.backward(g, xhat, rstd * w, False)[0] is None
    y1, *_ = kbn.forward(x, None, None, 1e-5)  # no affine: weight 1, bias 0
    np.testing.assert_allclose(y1, ref[1], rtol=tol, atol=tol)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_kernel_path_equals_the_array_path_and_torch(affine):
    """The same layer on a contiguous input (numba loops) and on a channels-last view of the
    same values (array-module path): outputs, running statistics and gradients agree with
    each other and with torch."""
    rng = np.random.default_rng(4)
    data = (rng.standard_normal((8, 6, 5, 7)) * 2 - 1).astype(np.float32)
    gy = rng.standard_normal(data.shape).astype(np.float32)
    outs = []
    for layout in ("contiguous", "channels_last"):
        m = mytorch.nn.BatchNorm2d(6, affine=affine)
        if layout == "contiguous":
            leaf = x = mytorch.tensor(data, requires_grad=True)
        else:  # a permuted view: not C-contiguous, so the array path runs
            leaf = mytorch.tensor(data.transpose(0, 2, 3, 1), requires_grad=True)
            x = leaf.permute(0, 3, 1, 2)
            assert not x.data.flags.c_contiguous
        y = m(x)
        y.backward(mytorch.tensor(gy))
        gx = leaf.grad.numpy()
        gx = gx if layout == "contiguous" else gx.transpose(0, 3, 1, 2)
        grads = [gx] + ([m.weight.grad.numpy(), m.bias.grad.numpy()] if affine else [])
        outs.append([y.detach().numpy(), m.running_mean.numpy(), m.running_var.numpy(), *grads])
    t = torch.nn.BatchNorm2d(6, affine=affine)
    tx = torch.tensor(data, requires_grad=True)
    ty = t(tx)
    ty.backward(torch.tensor(gy))
    want = [ty.detach().numpy(), t.running_mean.numpy(), t.running_var.numpy(),
            tx.grad.numpy()] + ([t.weight.grad.numpy(), t.bias.grad.numpy()] if affine else [])
    for kernel, array, ref in zip(*outs, want):
        np.testing.assert_allclose(kernel, array, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(kernel, ref, rtol=1e-4, atol=1e-4)
