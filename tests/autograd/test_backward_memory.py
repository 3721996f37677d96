"""Backward frees what it no longer needs: measured with tracemalloc (NumPy reports its
allocations to it), on arrays large enough that one extra copy shows."""
import tracemalloc

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F

MB = 2 ** 20


def peak_of(fn):
    """(result, peak bytes traced during fn above what was live when it started)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("engine", ["topological", "recursive"])
def test_a_tied_weights_two_gradients_need_no_third_array(engine):
    # GPT-2's wte is both the embedding and the LM head: the head's (V, D) gradient is the
    # only (V, D) array backward makes; the embedding's rows are added into it in place
    V, D, n = 8192, 256, 16  # one (V, D) float32 array is 8 MiB, the (n, V) ones 0.5 MiB
    rng = np.random.default_rng(0)
    w0, idx = rng.standard_normal((V, D)).astype(np.float32), rng.integers(0, V, n)

    def loss_of(w, i=idx):
        return F.linear(F.embedding(mytorch.tensor(i), w), w).square().mean()

    loss_of(mytorch.tensor(w0[:8], requires_grad=True), idx % 8).backward()  # compile first
    w = mytorch.tensor(w0, requires_grad=True)
    loss = loss_of(w)
    _, peak = peak_of(lambda: loss.backward(engine=engine))
    size = V * D * 4
    assert peak < 1.5 * size, f"backward peak {peak / MB:.1f} MiB for a {size / MB:.0f} MiB weight"
    wt = torch.tensor(w0, requires_grad=True)
    torch.nn.functional.linear(torch.nn.functional.embedding(torch.from_numpy(idx), wt),
                               wt).square().mean().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_cross_entropy_backward_reuses_its_saved_softmax():
    n, c = 512, 2048  # the (N, C) float32 logits are 4 MiB
    rng = np.random.default_rng(0)
    x0, t = rng.standard_normal((n, c)).astype(np.float32), rng.integers(0, c, n)
    F.cross_entropy(mytorch.tensor(x0[:2], requires_grad=True), mytorch.tensor(t[:2])).backward()
    x = mytorch.tensor(x0, requires_grad=True)
    loss = F.cross_entropy(x, mytorch.tensor(t))
    _, peak = peak_of(loss.backward)
    # the gradient is written into the saved softmax: no second (N, C) array beside it
    assert peak < 0.5 * n * c * 4, f"backward peak {peak / MB:.1f} MiB"
    xt = torch.tensor(x0, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.from_numpy(t)).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-9)


def test_a_retained_graph_keeps_its_saved_softmax_intact():
    # retain_graph=True: the saved softmax is used again, so backward must not write into it
    rng = np.random.default_rng(1)
    x = mytorch.tensor(rng.standard_normal((6, 5)).astype(np.float32), requires_grad=True)
    t = mytorch.tensor(rng.integers(0, 5, 6))
    loss = F.cross_entropy(x, t, label_smoothing=0.1)
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)
