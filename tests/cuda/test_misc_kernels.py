"""The embedding-backward and dropout(+add) kernels of mytorch.ops.cuda_misc_kernels against
their references and PyTorch.

Without a GPU they run in numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1), thread by thread, on NumPy arrays; there the kernels must equal the
references bit for bit (same float32 additions in the same order). On a GPU host the same
tests launch them on the device, where the compiler may fuse a multiply and an add, so the
float results are compared to a rounding error there; the masks are compared exactly.
"""
import math

import numpy as np
import pytest
import torch

from mytorch.ops import cuda_misc_kernels as cmk
from tests.cuda.kernel_host import SIMULATED, dev, host  # skips without numba-cuda

T = 32  # threads per block in these tests
TOL = {np.float64: 1e-12, np.float32: 2e-6, np.float16: 2e-3}


def assert_same(got, want):
    """Bit for bit on the simulator; to the dtype's rounding on a GPU (FMA contraction)."""
    got = host(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    if SIMULATED:
        np.testing.assert_array_equal(got, want)
    else:
        tol = TOL[want.dtype.type]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol,
                                   atol=tol)


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- embedding backward

# (indices shape, V, padding_idx, dtype): 1-D/2-D/3-D indices, V = 1, repeats everywhere
# (V small against the index count), D below, above and not a multiple of the block
EMBEDDING = [((7,), 5, None, 9, np.float32), ((3, 5), 4, 2, 33, np.float32),
             ((2, 3, 4), 6, 0, 45, np.float32), ((6,), 1, None, 3, np.float32),
             ((4, 5), 3, None, 17, np.float16), ((2, 9), 7, 6, 40, np.float64),
             ((1,), 3, None, 1, np.float32)]


def torch_embedding_grad(idx, weight_shape, gy, padding_idx):
    w = torch.zeros(weight_shape, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.embedding(torch.tensor(idx), w, padding_idx=padding_idx)
    y.backward(torch.tensor(gy.astype(np.float64)))
    return w.grad.numpy()


@pytest.mark.parametrize("shape, V, padding_idx, D, dtype", EMBEDDING)
def test_embedding_backward(shape, V, padding_idx, D, dtype):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, V, shape)
    if padding_idx is not None:
        idx.flat[::3] = padding_idx  # padding among the indices, repeated
    gy = data(shape + (D,), dtype, 2)
    # 3 blocks stride over the sorted positions: runs start in every block
    gw = cmk.embedding_backward(V, dev(idx), dev(gy), padding_idx, threads=T, blocks=3)
    want = cmk.embedding_backward_reference(V, idx, gy, padding_idx)
    assert_same(gw, want)
    assert gw.dtype == dtype and gw.shape == (V, D)
    if padding_idx is not None:
        assert (host(gw)[padding_idx] == 0).all()
    theirs = torch_embedding_grad(idx, (V, D), gy, padding_idx)
    n = idx.size  # a row sums at most n rows of gy
    np.testing.assert_allclose(host(gw).astype(np.float64), theirs, rtol=TOL[dtype],
                               atol=TOL[dtype] * n)


def test_embedding_backward_float16_accumulates_in_float32():
    # 1024 then 100 quarters on one row: float16's step at 1024 is 1, so a float16 running
    # sum stays at 1024; float32 gets 1049, which float16 holds exactly
    gy = np.full((101, 4), 0.25, np.float16)
    gy[0] = 1024
    idx = np.zeros(101, np.int64)
    gw = host(cmk.embedding_backward(2, dev(idx), dev(gy), threads=T, blocks=2))
    assert (gw[0] == 1049).all() and (gw[1] == 0).all()
    f16_sum = np.float16(0)
    for v in gy[:, 0]:
        f16_sum = np.float16(f16_sum + v)
    assert f16_sum == 1024  # a float16 sum would be wrong: the test can tell


def test_embedding_backward_a_long_run_and_the_production_block():
    # one index 300 times (a run crossing many blocks' starting positions), D over 256
    idx = np.concatenate([np.full(300, 2), np.arange(5), np.full(7, 2)]).reshape(2, -1)
    gy = data(idx.shape + (260,), np.float32, 3)
    gw = cmk.embedding_backward(5, dev(idx), dev(gy), blocks=7)
    assert_same(gw, cmk.embedding_backward_reference(5, idx, gy))


def test_embedding_backward_empty_indices():
    gw = cmk.embedding_backward(4, dev(np.zeros((0, 3), np.int64)),
                                dev(np.zeros((0, 3, 6), np.float32)), threads=T)
    assert host(gw).shape == (4, 6) and (host(gw) == 0).all()


def test_embedding_backward_bad_input():
    gy = dev(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"embedding_backward: expected a gradient of shape "
                                         r"\(\*indices.shape, D\) for indices \(2, 4\), got "
                                         r"\(2, 3, 4\)"):
        cmk.embedding_backward(5, dev(np.zeros((2, 4), np.int64)), gy)
    with pytest.raises(TypeError, match="embedding_backward: indices must be integers, got "
                                        "float32"):
        cmk.embedding_backward(5, dev(np.zeros((2, 3), np.float32)), gy)
    with pytest.raises(TypeError, match="embedding_backward: expected a float16/32/64 array"):
        cmk.embedding_backward(5, dev(np.zeros((2, 3), np.int64)),
                               dev(np.zeros((2, 3, 4), np.int32)))


# ---------------------------------------------------------------- Philox and dropout


def test_philox_known_answers():
    # Random123's known-answer vectors for Philox4x32-10 (counter, key -> output)
    vectors = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
               ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2,
                (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
               ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
                (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for counter, key, want in vectors:
        got = cmk.philox4x32_reference(np, [np.array([c]) for c in counter], key)
        assert [int(w[0]) for w in got] == list(want)


DROPOUT = [((0,), np.float32), ((1,), np.float32), ((3, 31), np.float32),
           ((2, 5, 7), np.float32), ((4, 77), np.float16), ((4, 77), np.float64)]


@pytest.mark.parametrize("shape, dtype", DROPOUT)
@pytest.mark.parametrize("residual", [True, False], ids=["add", "plain"])
def test_dropout_add_equals_its_reference(shape, dtype, residual):
    x, gy = data(shape, dtype, 0), data(shape, dtype, 1)
    r = data(shape, dtype, 2) if residual else None
    p, seed = 0.3, 0x1234_5678_9ABC_DEF0 + len(shape)
    y = cmk.dropout_add_forward(dev(x), dev(r), p, seed, threads=T, blocks=2)
    assert_same(y, cmk.dropout_add_reference(x, r, p, seed))
    gx = cmk.dropout_backward(dev(gy), p, seed, threads=T, blocks=2)
    assert_same(gx, cmk.dropout_backward_reference(gy, p, seed))
    # forward drops where the mask is 0, and backward regenerates the same mask
    dropped = cmk.dropout_mask_reference(np, shape, p, seed, dtype) == 0
    np.testing.assert_array_equal(host(y)[dropped], r[dropped] if residual else 0)
    np.testing.assert_array_equal(host(gx) == 0, dropped)  # gy has no zeros
    if x.size > 100:
        assert 0 < dropped.mean() < 0.6


def test_dropout_add_matches_torch_where_it_can():
    # draws cannot match torch's; given the mask, the arithmetic is torch's in float64
    x, r, gy = (data((6, 11), np.float64, s) for s in range(3))
    p, seed = 0.25, 7
    mask = cmk.dropout_mask_reference(np, x.shape, p, seed, np.float64)
    xt, rt = (torch.tensor(a, requires_grad=True) for a in (x, r))
    yt = rt + xt * torch.tensor(mask)  # F.dropout(x) with this mask is x * keep / (1 - p)
    yt.backward(torch.tensor(gy))
    assert set(np.unique(mask)) == {0.0, 1 / (1 - p)}
    y = cmk.dropout_add_forward(dev(x), dev(r), p, seed, threads=T)
    gx = cmk.dropout_backward(dev(gy), p, seed, threads=T)
    np.testing.assert_allclose(host(y), yt.detach().numpy(), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(host(gx), xt.grad.numpy(), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(rt.grad.numpy(), gy)  # the residual's grad is gy


def test_dropout_keep_rate_and_scaling():
    # the kernel on a few thousand elements, the reference on a million: keep rate 1 - p
    # within 5 standard deviations, kept values scaled by exactly 1/(1-p)
    p = 0.3
    for n, mask in ((4099, host(cmk.dropout_backward(dev(np.ones(4099, np.float32)), p, 11,
                                                     threads=T, blocks=8))),
                    (1 << 20, cmk.dropout_mask_reference(np, (1 << 20,), p, 12))):
        keep = mask != 0
        sd = math.sqrt(p * (1 - p) / n)
        assert abs(keep.mean() - (1 - p)) < 5 * sd
        assert (mask[keep] == np.float32(1 / (1 - p))).all()
    # neighbours, and the four words of one Philox call (elements S apart, S = n / 4), are
    # independent: P(both kept) = (1 - p)^2
    n = 1 << 20
    big = cmk.dropout_mask_reference(np, (n,), p, 13) != 0
    sd = math.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / n)
    for step in (1, n // 4):
        both = (big[step:] & big[:-step]).mean()
        assert abs(both - (1 - p) ** 2) < 5 * sd
    # the same seed, the same mask; another seed, another one
    np.testing.assert_array_equal(cmk.dropout_mask_reference(np, (n,), p, 13) != 0, big)
    assert (big != (cmk.dropout_mask_reference(np, (n,), p, 14) != 0)).mean() > 0.3


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_dropout_probabilities(p):
    x = np.ones(2000, np.float32)
    y = host(cmk.dropout_add_forward(dev(x), None, p, 5, threads=T, blocks=4))
    if p == 0.0:
        np.testing.assert_array_equal(y, x)  # nothing dropped, scale 1
    else:
        assert abs((y != 0).mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / x.size)
        np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-7)


def test_dropout_bad_input():
    x = dev(np.zeros((2, 5), np.float32))
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=rf"dropout_add_forward: dropout probability must "
                                             rf"be in \[0, 1\), got {p}"):
            cmk.dropout_add_forward(x, None, p, 0)
    with pytest.raises(ValueError, match=r"dropout_add_forward: expected a residual like x, "
                                         r"\(2, 5\) float32, got \(5,\) float32"):
        cmk.dropout_add_forward(x, dev(np.zeros(5, np.float32)), 0.1, 0)
    with pytest.raises(ValueError, match=r"expected a residual like x, \(2, 5\) float32, got "
                                         r"\(2, 5\) float16"):
        cmk.dropout_add_forward(x, dev(np.zeros((2, 5), np.float16)), 0.1, 0)
    with pytest.raises(TypeError, match="dropout_backward: expected a float16/32/64 array, "
                                        "got int64"):
        cmk.dropout_backward(dev(np.zeros(3, np.int64)), 0.1, 0)
    with pytest.raises(ValueError, match="threads must be a power of two <= 1024, got 12"):
        cmk.kernels(12)
