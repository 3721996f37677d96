"""mytorch.ops.buffers: large CPU arrays are reused only when nothing refers to them, and a
model trained with reuse gives the same numbers as without it."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
from mytorch.ops import buffers


@pytest.fixture
def small_buffers(monkeypatch):
    """Reuse from 1 KiB up, with an empty cache before and after."""
    buffers.empty_cache()
    monkeypatch.setattr(buffers, "MIN_BYTES", 1024)
    before = buffers.enabled(True)
    yield
    buffers.enabled(before)
    buffers.empty_cache()


def _address(a):
    return a.__array_interface__["data"][0]


def _in_cache(a):
    """True when a's memory is one of the cache's buffers."""
    return any(np.shares_memory(a, e[0]) for es in buffers._buffers.values() for e in es)


def test_free_buffer_is_reused(small_buffers):
    a = buffers.empty((64, 32), np.float32)
    where = _address(a)
    del a
    b = buffers.empty((32, 64), np.float32)  # same size, another shape
    assert _address(b) == where
    assert b.shape == (32, 64) and b.dtype == np.float32 and b.flags.c_contiguous
    assert buffers.cached_bytes() == (64 * 32 * 4, 0)


def _hold(a, keep):
    """Something that keeps a's memory alive the way `keep` says."""
    if keep == "array":
        return a
    if keep == "view":
        return a[1:]
    if keep == "view_of_view":
        return a.reshape(-1)[5:].reshape(-1, 3)
    if keep == "tensor":
        return mytorch.from_numpy(a.reshape(-1))
    return memoryview(a)


@pytest.mark.parametrize("keep", ["array", "view", "view_of_view", "tensor", "memoryview"])
def test_buffer_in_use_is_never_handed_out(small_buffers, keep):
    a = buffers.empty((64, 32), np.float32)
    a[...] = 7.0
    held = _hold(a, keep)
    del a
    b = buffers.empty((64, 32), np.float32)
    b[...] = -1.0
    values = np.asarray(held.numpy() if keep == "tensor" else held)
    assert (values == 7.0).all(), "a buffer still in use was written over"
    assert buffers.cached_bytes() == (2 * 64 * 32 * 4, 0)


def test_idle_free_buffers_are_released(small_buffers):
    old = buffers.empty((1000,), np.float32)
    kept = buffers.empty((3000,), np.float32)  # in use throughout: never released
    del old
    for _ in range(buffers.MAX_IDLE + 1):  # requests of another size, each freed at once
        buffers.empty((2000,), np.float32)
    assert buffers.cached_bytes() == (12000, 8000)  # the idle 4000-byte buffer went
    del kept
    buffers.empty_cache()
    assert buffers.cached_bytes() == (0, 0)


def test_layer_buffers_reused_kept_through_large_requests_and_capped(small_buffers, monkeypatch):
    # layer_empty: any size, reused once free, never while in use, not released by the idle
    # rule of large requests, at most LAYER_BYTES in all, released by empty_cache()
    monkeypatch.setattr(buffers, "LAYER_BYTES", 1000)
    a = buffers.layer_empty((10, 10), np.float32)  # 400 bytes, under MIN_BYTES
    where = _address(a)
    b = buffers.layer_empty((100,), np.float32)  # a in use: another buffer
    assert _address(b) != where and not np.shares_memory(a, b)
    del a
    for _ in range(buffers.MAX_IDLE + 1):  # large requests, each freed at once
        buffers.empty((2000,), np.float32)
    assert _address(buffers.layer_empty((20, 5), np.float32)) == where
    c = buffers.layer_empty((60,), np.float32)  # 240 more bytes would pass 1000: plain
    assert c.base is None
    assert buffers.cached_bytes() == (400, 400 + 8000)  # b in use; a's and the large one free
    del b
    buffers.empty_cache()
    assert buffers.cached_bytes() == (0, 0)
    buffers.enabled(False)
    assert buffers.layer_empty((10, 10), np.float32).base is None


def test_small_or_disabled_means_plain_arrays(small_buffers):
    assert buffers.empty((10,), np.float32).base is None  # under MIN_BYTES
    buffers.enabled(False)
    assert buffers.empty((1000,), np.float32).base is None
    assert buffers.cached_bytes() == (0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("order", ["NN", "TN", "NT"])
def test_matmul_matches_numpy(small_buffers, dtype, order):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 30)).astype(dtype)
    b = rng.standard_normal((30, 50)).astype(dtype)
    a = a if order[0] == "N" else np.ascontiguousarray(a.T).T
    b = b if order[1] == "N" else np.ascontiguousarray(b.T).T
    for _ in range(2):  # the second product lands in the first one's freed buffer
        out = buffers.matmul(a, b)
        np.testing.assert_array_equal(out, np.matmul(a, b))
        assert out.dtype == np.matmul(a, b).dtype
        del out


def test_linear_training_with_reuse_matches_torch_and_no_reuse(small_buffers):
    """A Linear model's logits and weight gradients come from reused buffers: the gradient is
    taken over as .grad without a copy, the next step writes into the memory zero_grad freed,
    and the losses and weights are bit-identical to a run without reuse and match torch's."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 24)).astype(np.float32)
    y = rng.integers(0, 40, 16)
    w0 = (rng.standard_normal((40, 24)) * 0.1).astype(np.float32)

    def train(reuse, steps=3):
        buffers.enabled(reuse)
        lin = nn.Linear(24, 40)
        with mytorch.no_grad():
            lin.weight.copy_(mytorch.from_numpy(w0))
            lin.bias.zero_()
        opt = mytorch.optim.SGD(lin.parameters(), lr=0.5)
        losses, grad_memory = [], []
        for _ in range(steps):
            loss = nn.functional.cross_entropy(lin(mytorch.from_numpy(x)),
                                               mytorch.from_numpy(y))
            loss.backward()
            # taken over as .grad, not copied out of the cache
            assert _in_cache(lin.weight.grad.data) == reuse
            grad_memory.append(_address(lin.weight.grad.data))
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        return losses, lin.weight.detach().numpy().copy(), grad_memory

    losses, w, memory = train(True)
    plain_losses, plain_w, _ = train(False)
    assert losses == plain_losses
    np.testing.assert_array_equal(w, plain_w)
    assert memory[1] == memory[2]  # the gradient went into the buffer the last one left

    tlin = torch.nn.Linear(24, 40)
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(w0))
        tlin.bias.zero_()
    topt = torch.optim.SGD(tlin.parameters(), lr=0.5)
    for step in range(3):
        tloss = torch.nn.functional.cross_entropy(tlin(torch.from_numpy(x)),
                                                  torch.from_numpy(y))
        tloss.backward()
        topt.step()
        topt.zero_grad(set_to_none=True)
        assert losses[step] == pytest.approx(tloss.item(), rel=1e-6)
    np.testing.assert_allclose(w, tlin.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_gradient_kept_by_the_user_is_not_overwritten(small_buffers):
    lin = nn.Linear(24, 40)
    x = mytorch.randn(16, 24)
    lin(x).sum().backward()
    kept = lin.weight.grad
    first = kept.numpy().copy()
    lin.zero_grad(set_to_none=True)
    (lin(x * 2.0)).sum().backward()
    np.testing.assert_array_equal(kept.numpy(), first)
    np.testing.assert_allclose(lin.weight.grad.numpy(), 2.0 * first, rtol=1e-6)
