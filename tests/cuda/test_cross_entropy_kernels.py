"""The fused cross-entropy kernels (mytorch.ops.cuda_cross_entropy) against their references,
and the references against PyTorch, forward and backward.

Without a GPU the kernels run in numba's CUDA simulator on NumPy arrays (tests/conftest.py);
on a GPU host the same tests launch them on the device. Blocks of 32 threads keep the simulator
quick; the vocabulary sizes go around them (1, 31, 33, 77, and 64, a multiple), and one case
runs the production block size.
"""
import numpy as np
import pytest
import torch

from mytorch.ops import cuda_cross_entropy as cx
from tests.cuda.kernel_host import dev, host  # skips without numba-cuda

T = 32  # threads per block in these tests
TOL = {np.float64: 1e-12, np.float32: 2e-6, np.float16: 2e-3}  # relative, on loss and grads


def assert_close(got, want, rtol, scale=1.0):
    got, want = host(got).astype(np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def logits(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def targets(m, v, seed=1, ignore=()):
    t = np.random.default_rng(seed).integers(0, v, m)
    t[list(ignore)] = -100
    return t


def f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


def run_kernels(x, t, w, ignore_index, eps, scale, threads=T):
    """Both kernels on x, t, w: (loss, lse, wt, bad) and gx, on the host."""
    loss, lse, wt, bad = cx.cross_entropy_forward(dev(x), dev(t), dev(w), ignore_index, eps,
                                                  threads=threads)
    gx = cx.cross_entropy_backward(dev(x), dev(t), dev(w), ignore_index, eps, lse,
                                   dev(scale), threads=threads)
    return [host(a) for a in (loss, lse, wt, bad)] + [host(gx)]


def check_against_reference(x, t, w=None, ignore_index=-100, eps=0.0, threads=T):
    dtype = x.dtype.type
    acc = np.float64 if dtype == np.float64 else np.float32
    scale = logits(x.shape[:1], np.float32, 5, 1.0)  # a gradient per row ('none')
    loss, lse, wt, bad, gx = run_kernels(x, t, w, ignore_index, eps, scale, threads)
    assert loss.dtype == lse.dtype == wt.dtype == acc and gx.dtype == dtype
    assert bad.dtype == np.int32 and bad.shape == (1,)
    x64, w64 = f64(x, w)
    r_loss, r_lse, r_wt, r_bad = cx.cross_entropy_forward_reference(x64, t, w64, ignore_index,
                                                                    eps)
    finite = np.abs(x64[np.isfinite(x64)])
    big = max(1.0, float(finite.max(initial=0)))  # float32 sums are relative to the logits' size
    tol = TOL[acc]
    assert_close(loss, r_loss, tol, scale=big)
    assert_close(lse, r_lse, tol, scale=big)
    assert_close(wt, r_wt, tol)
    assert bool(bad[0]) == bool(r_bad)
    r_gx = cx.cross_entropy_backward_reference(x64, t, w64, ignore_index, eps, r_lse,
                                               scale.astype(np.float64))
    assert_close(gx, r_gx, TOL[dtype], scale=4 * big * TOL[acc] / TOL[dtype] + 1)
    return loss, gx


SHAPES = [(1, 1), (3, 31), (2, 33), (4, 77), (5, 64), (1, 40)]  # V=1, N=1, around the block
# every shape in float32; float16 and float64 on two of them (the simulator is slow)
CASES = [(s, np.float32) for s in SHAPES] + [(s, d) for s in SHAPES[1:4:2]
                                              for d in (np.float16, np.float64)]


@pytest.mark.parametrize("shape, dtype", CASES)
def test_kernels_match_the_reference(shape, dtype):
    m, v = shape
    check_against_reference(logits(shape, dtype), targets(m, v))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_ignore_index_weights_and_smoothing(dtype, weighted, eps):
    x = logits((6, 37), dtype)
    t = targets(6, 37, ignore=(1, 4))
    w = np.random.default_rng(3).uniform(0.25, 2.0, 37).astype(dtype) if weighted else None
    loss, gx = check_against_reference(x, t, w, -100, eps)
    assert loss[1] == loss[4] == 0 and (gx[[1, 4]] == 0).all()  # ignored rows add nothing


def test_an_ignore_index_inside_the_class_range():
    x, t = logits((4, 19), np.float32), np.array([3, 7, 3, 0])
    loss, gx = check_against_reference(x, t, None, 3, 0.05)
    assert loss[0] == loss[2] == 0 and (gx[[0, 2]] == 0).all() and (gx[1] != 0).all()


def test_every_row_ignored():
    x, t = logits((3, 33), np.float32), np.full(3, -100)
    loss, gx = check_against_reference(x, t)
    assert (loss == 0).all() and (gx == 0).all()
    # the mean divides by zero weight: NaN, as torch; the gradient stays 0 (never scaled)
    loss_t = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    ours = cx.reduce_rows(loss, np.zeros(3, np.float32), "mean")
    assert np.isnan(ours) and torch.isnan(loss_t)
    scale = cx.row_scale(np.float32(1.0), np.zeros(3, np.float32), "mean", np.float32)
    _, _, _, _, gx = run_kernels(x, t, None, -100, 0.0, scale)
    assert (gx == 0).all()


def test_float16_logits_of_large_magnitude():
    # logits in the thousands (float16 reaches 65504): exp(x - max) in float32, and the loss
    # as (max - x[t]) + log(sum) keeps it accurate where lse - x[t] would cancel
    x = logits((4, 45), np.float16, scale=8000.0)
    x[2, 5] = 60000.0
    t = targets(4, 45)
    loss, gx = check_against_reference(x, t, None, -100, 0.1)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    want = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction="none",
                                             label_smoothing=0.1)
    np.testing.assert_allclose(loss, want.detach().numpy(), rtol=1e-6, atol=0.05)
    assert np.isfinite(gx).all()


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_masked_vocabulary_entries(eps):
    # -inf logits (a masked vocabulary) add nothing to the sum; without smoothing they get a
    # zero gradient, with it the loss is inf (it averages every log-probability), as torch
    x = logits((3, 40), np.float32)
    x[:, ::3] = -np.inf
    x[1, :33] = -np.inf  # a thread whose every entry is -inf
    t = np.array([1, 35, 38])
    loss, gx = check_against_reference(x, t, None, -100, eps)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    want = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction="none",
                                             label_smoothing=eps)
    np.testing.assert_allclose(loss, want.detach().numpy(), rtol=2e-6)
    assert np.isfinite(gx).all() and (eps or (gx[:, ::3] == 0).all())
    assert np.isinf(loss).all() == bool(eps)


def test_out_of_range_targets_raise_the_flag():
    x = logits((4, 9), np.float32)
    for t, want in ((np.array([0, 9, 2, -100]), 1), (np.array([0, -3, 2, 1]), 1),
                    (np.array([0, 8, -100, 1]), 0)):
        loss, lse, wt, bad = (host(a) for a in cx.cross_entropy_forward(dev(x), dev(t),
                                                                        threads=T))
        assert bad.tolist() == [want]
        assert bool(cx.cross_entropy_forward_reference(x, t, None, -100, 0.0)[3]) == bool(want)


def test_the_production_block_size():
    x = logits((2, 300), np.float32)  # 300: over one block of 256, not a multiple
    check_against_reference(x, targets(2, 300), threads=256)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_the_references_match_torch(reduction, weighted, eps):
    x, t = logits((7, 11), np.float64), targets(7, 11, ignore=(2,))
    w = np.random.default_rng(4).uniform(0.5, 2.0, 11) if weighted else None
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.cross_entropy(
        xt, torch.tensor(t), None if w is None else torch.tensor(w), reduction=reduction,
        label_smoothing=eps)
    gy = np.random.default_rng(6).standard_normal(want.shape)
    want.backward(torch.tensor(gy))
    loss, lse, wt, bad = cx.cross_entropy_forward_reference(x, t, w, -100, eps)
    assert not bad
    np.testing.assert_allclose(cx.reduce_rows(loss, wt, reduction), want.detach().numpy(),
                               rtol=1e-12)
    gx = cx.cross_entropy_backward_reference(x, t, w, -100, eps, lse,
                                             cx.row_scale(gy, wt, reduction, np.float64))
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_bad_input_is_refused_with_the_op_and_shapes():
    x, t = dev(np.zeros((2, 5), np.float32)), dev(np.zeros(2, np.int64))
    with pytest.raises(TypeError, match=r"cross_entropy_forward: expected a float16/32/64 "
                                        r"array, got int64"):
        cx.cross_entropy_forward(dev(np.zeros((2, 5), np.int64)), t)
    with pytest.raises(ValueError, match=r"cross_entropy_forward: expected logits \(M, V\) "
                                         r"with V > 0, got shape \(2, 0\)"):
        cx.cross_entropy_forward(dev(np.zeros((2, 0), np.float32)), t)
    with pytest.raises(ValueError, match=r"expected integer class indices of shape \(2,\) "
                                         r"for logits \(2, 5\), got \(3,\) int64"):
        cx.cross_entropy_forward(x, dev(np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match=r"expected class weights \(5,\) float32 for logits "
                                         r"\(2, 5\) float32, got \(5,\) float16"):
        cx.cross_entropy_forward(x, t, dev(np.ones(5, np.float16)))
    with pytest.raises(ValueError, match=r"cross_entropy_backward: expected lse \(2,\) and "
                                         r"scale \(2,\) or \(1,\) for logits \(2, 5\), got "
                                         r"\(2,\) and \(3,\)"):
        cx.cross_entropy_backward(x, t, None, -100, 0.0, dev(np.zeros(2, np.float32)),
                                  dev(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="threads must be a power of two <= 1024, got 48"):
        cx.kernels(48)


def test_an_empty_batch_launches_nothing():
    loss, lse, wt, bad = cx.cross_entropy_forward(dev(np.zeros((0, 7), np.float32)),
                                                  dev(np.zeros(0, np.int64)), threads=T)
    assert host(loss).shape == (0,) and host(bad).tolist() == [0]
    gx = cx.cross_entropy_backward(dev(np.zeros((0, 7), np.float32)),
                                   dev(np.zeros(0, np.int64)), None, -100, 0.0, lse,
                                   dev(np.ones(1, np.float32)), threads=T)
    assert host(gx).shape == (0, 7)
