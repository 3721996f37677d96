"""F.embedding / nn.Embedding's backward, F.dropout and F.dropout_add on CUDA tensors take the
kernels of mytorch.ops.cuda_misc_kernels, and match the reference path and PyTorch where the
results are deterministic; dropout's draws are checked against the kernels' reference mask
for the seed the CUDA generator gives, and statistically.

They run on a real GPU or on the CuPy stand-in, where numba's CUDA simulator runs the kernels
on the stand-in's (host) memory, in blocks of 8 threads (4 blocks at most) on small shapes.
"""
import math

import numpy as np
import pytest
import torch

import mytorch
from mytorch import nn
from mytorch.nn import functional as F
from mytorch.ops import cuda_kernels as ck
from mytorch.ops import cuda_misc_kernels as cmk

pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(),
                                reason="needs CUDA: a GPU or the CuPy stand-in")

TOL = {np.float32: 1e-5, np.float16: 3e-3, np.float64: 1e-12}


@pytest.fixture
def launches(monkeypatch):
    """The fused path on, in blocks of 8 threads (4 blocks at most); gives the list of the
    cuda_misc_kernels kernels launched so far."""
    monkeypatch.setattr(ck, "THREADS", 8)
    monkeypatch.setattr(ck, "GRID", 4)
    monkeypatch.setattr(ck, "_enabled", True)
    names, launch = [], cmk._launch

    def counted(name, *args):
        names.append(name)
        return launch(name, *args)

    monkeypatch.setattr(cmk, "_launch", counted)
    return names


def data(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def cuda(a, grad=False):
    return mytorch.tensor(a, device="cuda", requires_grad=grad)


def host(t):
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------- embedding

# (indices shape, V, D, padding_idx, dtype): 1-D/2-D/3-D indices, V = 1, fp16, repeats
EMBEDDING = [((6,), 4, 5, None, np.float32), ((3, 4), 5, 11, 1, np.float32),
             ((2, 2, 3), 3, 9, None, np.float32), ((5,), 1, 3, None, np.float32),
             ((2, 5), 4, 7, 3, np.float16)]


def embedding_grads(idx, w, gy, padding_idx, fused):
    previous = ck.set_enabled(fused)
    try:
        weight = cuda(w, grad=True)
        y = F.embedding(cuda(idx), weight, padding_idx=padding_idx)
        y.backward(cuda(gy))
        return host(y), host(weight.grad)
    finally:
        ck.set_enabled(previous)


@pytest.mark.parametrize("shape, V, D, padding_idx, dtype", EMBEDDING)
def test_embedding_backward_takes_the_kernel(launches, shape, V, D, padding_idx, dtype):
    idx = np.random.default_rng(0).integers(0, V, shape)
    if padding_idx is not None:
        idx.flat[::2] = padding_idx
    w, gy = data((V, D), dtype, 1), data(shape + (D,), dtype, 2)
    y, gw = embedding_grads(idx, w, gy, padding_idx, True)
    assert launches == ["embedding_bwd"]
    y_ref, gw_ref = embedding_grads(idx, w, gy, padding_idx, False)
    assert launches == ["embedding_bwd"]  # the reference path launched nothing more
    wt = torch.tensor(w.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.embedding(torch.tensor(idx), wt, padding_idx=padding_idx)
    yt.backward(torch.tensor(gy.astype(np.float64)))
    assert gw.dtype == dtype and gw.shape == (V, D)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(gw.astype(np.float64), wt.grad.numpy(), rtol=TOL[dtype],
                               atol=TOL[dtype] * idx.size)
    if dtype == np.float32:  # both add the rows in index order in float32: equal
        np.testing.assert_array_equal(gw, gw_ref)
    else:  # the reference adds in float16
        np.testing.assert_allclose(gw, gw_ref, rtol=1e-2, atol=1e-2)


def test_nn_embedding_takes_the_kernel(launches):
    ours = nn.Embedding(6, 5, padding_idx=2).to("cuda")
    idx = np.array([[0, 2, 5, 0], [2, 1, 0, 3]])
    ours(cuda(idx)).sum().backward()
    assert launches == ["embedding_bwd"]
    theirs = torch.nn.Embedding(6, 5, padding_idx=2)
    theirs(torch.tensor(idx)).sum().backward()
    np.testing.assert_array_equal(host(ours.weight.grad), theirs.weight.grad.numpy())


def test_embedding_double_backward_through_the_kernel(launches):
    # Embedding is linear in the weight: create_graph differentiates its adjoint, whose
    # forward is this backward (the kernel)
    idx, w = np.array([1, 0, 1, 2]), data((3, 4), np.float32, 0)
    weight = cuda(w, grad=True)
    y = F.embedding(cuda(idx), weight)
    (gw,) = mytorch.autograd.grad((y * y).sum(), weight, create_graph=True)
    (gw * gw).sum().backward()
    wt = torch.tensor(w.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.embedding(torch.tensor(idx), wt)
    (gwt,) = torch.autograd.grad((yt * yt).sum(), wt, create_graph=True)
    (gwt * gwt).sum().backward()
    assert "embedding_bwd" in launches
    np.testing.assert_allclose(host(gw), gwt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(weight.grad), wt.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- dropout + residual add


def the_next_seed(s):
    """The seed the CUDA generator gives the next kernel after mytorch.manual_seed(s)."""
    mytorch.manual_seed(s)
    seed = mytorch.random.seed_for("cuda")
    mytorch.manual_seed(s)
    return seed


DROPOUT = [((3, 7), np.float32), ((2, 3, 5), np.float32), ((1,), np.float32),
           ((4, 9), np.float16)]


@pytest.mark.parametrize("shape, dtype", DROPOUT)
def test_dropout_add_takes_the_kernels(launches, shape, dtype):
    x, r, gy = (data(shape, dtype, s) for s in range(3))
    p, seed = 0.4, the_next_seed(5)
    xt, rt = cuda(x, grad=True), cuda(r, grad=True)
    y = F.dropout_add(xt, rt, p=p, training=True)
    y.backward(cuda(gy))
    assert launches == ["dropout_add_fwd", "dropout_bwd"]
    assert y.dtype == xt.dtype and y.shape == shape
    # exactly the kernels' reference for the generator's seed; the residual's grad is gy
    np.testing.assert_array_equal(host(y), cmk.dropout_add_reference(x, r, p, seed))
    np.testing.assert_array_equal(host(xt.grad), cmk.dropout_backward_reference(gy, p, seed))
    np.testing.assert_array_equal(host(rt.grad), gy)
    # torch's arithmetic, given the mask (float64)
    mask = cmk.dropout_mask_reference(np, shape, p, seed, np.float64)
    xs, rs = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, r))
    (rs + xs * torch.tensor(mask)).backward(torch.tensor(gy.astype(np.float64)))
    np.testing.assert_allclose(host(xt.grad).astype(np.float64), xs.grad.numpy(),
                               rtol=TOL[dtype], atol=TOL[dtype])


def test_dropout_add_is_reproducible_from_manual_seed(launches):
    x, r = cuda(data((4, 6), np.float32, 0)), cuda(data((4, 6), np.float32, 1))
    runs = []
    for s in (3, 3, 4):
        mytorch.manual_seed(s)
        runs.append(host(F.dropout_add(x, r, p=0.5)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] != runs[2]).any()
    mytorch.manual_seed(3)
    second = [host(F.dropout_add(x, r, p=0.5)) for _ in range(2)]
    assert (second[0] != second[1]).any()  # each call draws a new seed


def test_dropout_add_statistics(launches):
    # keep rate 1 - p within 5 standard deviations; kept elements are x / (1 - p) + residual
    n, p = 1500, 0.3
    x, r = np.ones(n, np.float32), np.full(n, 2.0, np.float32)
    y = host(F.dropout_add(cuda(x), cuda(r), p=p))
    kept = y != 2.0
    assert abs(kept.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 2.0 + 1 / (1 - p), rtol=1e-6)


def test_dropout_add_off_the_fused_path(launches):
    # eval and p = 0: no launch, residual + x exactly (torch's)
    x, r = data((3, 8), np.float32, 0), data((3, 8), np.float32, 1)
    want = (torch.tensor(r) + torch.tensor(x)).numpy()
    np.testing.assert_array_equal(host(F.dropout_add(cuda(x), cuda(r), 0.5, training=False)),
                                  want)
    np.testing.assert_array_equal(host(F.dropout_add(cuda(x), cuda(r), 0.0)), want)
    assert launches == []
    # a broadcast residual: residual + F.dropout(x), whose own kernel has no residual
    seed = the_next_seed(1)
    y = F.dropout_add(cuda(x), cuda(r[0]), 0.5)
    assert launches == ["dropout_add_fwd"]
    np.testing.assert_array_equal(host(y), r[0] + cmk.dropout_add_reference(x, None, 0.5, seed))
    # the switch off: residual + F.dropout's reference path (CuPy's generator): statistics
    previous = ck.set_enabled(False)
    try:
        ones = np.ones(2000, np.float32)
        y = host(F.dropout_add(cuda(ones), cuda(ones), 0.25))
    finally:
        ck.set_enabled(previous)
    assert launches == ["dropout_add_fwd"]
    assert abs((y != 1).mean() - 0.75) < 5 * math.sqrt(0.25 * 0.75 / 2000)
    np.testing.assert_allclose(y[y != 1], 1 + 1 / 0.75, rtol=1e-6)


def test_dropout_add_on_the_cpu_is_residual_plus_f_dropout():
    # the CPU keeps F.dropout's draws: bit for bit the unfused expression, same stream
    x, r = mytorch.tensor(data((5, 7), np.float32, 0)), mytorch.tensor(data((5, 7), np.float32, 1))
    mytorch.manual_seed(9)
    fused = F.dropout_add(x, r, 0.3)
    mytorch.manual_seed(9)
    np.testing.assert_array_equal(fused.numpy(), (r + F.dropout(x, 0.3)).numpy())
    with pytest.raises(ValueError, match="dropout_add: probability has to be between 0 and 1, "
                                         "but got 1.5"):
        F.dropout_add(x, r, 1.5)


def test_f_dropout_on_cuda_takes_the_kernels(launches):
    x, gy = data((5, 6), np.float32, 0), data((5, 6), np.float32, 1)
    p, seed = 0.5, the_next_seed(2)
    xt = cuda(x, grad=True)
    y = nn.Dropout(p)(xt)
    y.backward(cuda(gy))
    assert launches == ["dropout_add_fwd", "dropout_bwd"]
    np.testing.assert_array_equal(host(y), cmk.dropout_add_reference(x, None, p, seed))
    np.testing.assert_array_equal(host(xt.grad), cmk.dropout_backward_reference(gy, p, seed))
    # an explicit generator gives the seed
    g = mytorch.Generator("cuda").manual_seed(17)
    seed = mytorch.Generator("cuda").manual_seed(17).next_seed()
    y = F.dropout(cuda(x), p, generator=g)
    np.testing.assert_array_equal(host(y), cmk.dropout_add_reference(x, None, p, seed))


def test_dropout_add_double_backward(launches):
    # create_graph differentiates the composite (the mask rebuilt from the seed)
    x, r = data((3, 5), np.float32, 0), data((3, 5), np.float32, 1)
    p, seed = 0.5, the_next_seed(6)
    xt, rt = cuda(x, grad=True), cuda(r, grad=True)
    y = F.dropout_add(xt * xt, rt, p)
    (g,) = mytorch.autograd.grad(y.sum(), xt, create_graph=True)
    (g * g).sum().backward()
    m = cmk.dropout_mask_reference(np, x.shape, p, seed, np.float32)
    np.testing.assert_allclose(host(g), 2 * x * m, rtol=1e-6)
    np.testing.assert_allclose(host(xt.grad), 8 * x * m * m, rtol=1e-6)
    assert launches[0] == "dropout_add_fwd"


def test_gpt2_blocks_take_the_fused_dropout_add(launches):
    # the zoo's GPT-2 in training with dropout: each block's two residual adds are fused, and
    # the token embedding's gradient comes from the embedding kernel
    from zoo.gpt2 import GPT2, GPTConfig
    mytorch.manual_seed(0)
    model = GPT2(GPTConfig(block_size=4, vocab_size=11, n_layer=1, n_head=2, n_embd=8,
                           dropout=0.1)).to("cuda")
    idx = cuda(np.array([[1, 2, 3, 4], [4, 3, 2, 1]]))
    _, loss = model(idx, idx)
    loss.backward()
    assert launches.count("dropout_add_fwd") == 3  # the embeddings' dropout and two adds
    assert launches.count("dropout_bwd") == 3
    assert launches.count("embedding_bwd") == 2  # wte and wpe
    assert np.isfinite(host(model.transformer.wte.weight.grad)).all()


def test_dropout_add_backward_skips_an_unneeded_gx(launches):
    # only the residual needs a gradient: backward launches nothing (its grad is gy)
    x, r, gy = (data((3, 4), np.float32, s) for s in range(3))
    rt = cuda(r, grad=True)
    F.dropout_add(cuda(x), rt, 0.5).backward(cuda(gy))
    assert launches == ["dropout_add_fwd"]
    np.testing.assert_array_equal(host(rt.grad), gy)


def test_gradcheck_in_float64_through_the_kernels(launches):
    # float64 numerical gradients: dropout_add's mask fixed by re-seeding before each call
    from mytorch.autograd import gradcheck, gradgradcheck

    def dropout_add(x, r):
        mytorch.manual_seed(4)
        return F.dropout_add(x * x, r, 0.4)

    x, r = (cuda(data((2, 5), np.float64, s), grad=True) for s in range(2))
    assert gradcheck(dropout_add, [x, r])
    assert gradgradcheck(dropout_add, [x, r])
    w = cuda(data((4, 3), np.float64, 2), grad=True)
    idx = cuda(np.array([[3, 0, 3], [1, 3, 2]]))
    assert gradcheck(lambda t: F.embedding(idx, t) ** 2, [w])  # (padding rows differ by design)
    assert {"dropout_add_fwd", "dropout_bwd", "embedding_bwd"} <= set(launches)
