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
