"""F.cross_entropy and nn.CrossEntropyLoss on CUDA tensors take the fused kernels of
mytorch.ops.cuda_cross_entropy, and match the reference path and PyTorch.

They run on a real GPU or on the CuPy stand-in, where numba's CUDA simulator runs the kernels
on the stand-in's (host) memory; blocks of 8 threads and small vocabularies (below, above and
not a multiple of a block) keep the simulator quick.
"""
import numpy as np
import pytest
import torch

import mytorch
from mytorch import nn
from mytorch.nn import functional as F
from mytorch.ops import cuda_cross_entropy as cx
from mytorch.ops import cuda_kernels as ck

pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(),
                                reason="needs CUDA: a GPU or the CuPy stand-in")

TOL = {np.float32: (1e-5, 1e-6), np.float16: (2e-3, 2e-3)}  # rtol, atol vs torch in float64
KERNELS = ["cross_entropy_fwd", "cross_entropy_bwd"]


@pytest.fixture
def launches(monkeypatch):
    """The fused path on, in blocks of 8 threads; gives the names of the kernels launched."""
    monkeypatch.setattr(cx, "THREADS", 8)
    monkeypatch.setattr(ck, "_enabled", True)
    names, launch = [], cx._launch

    def counted(name, *args):
        names.append(name)
        return launch(name, *args)

    monkeypatch.setattr(cx, "_launch", counted)
    return names


def logits(shape, dtype, seed=0, scale=2.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def class_targets(shape, c, seed=1, ignore=()):
    t = np.random.default_rng(seed).integers(0, c, shape)
    t.reshape(-1)[list(ignore)] = -100
    return t


def run(x, t, w, kw, fused, module=False):
    """Loss and grad of the logits on CUDA (fused kernels on or off), against a fixed gy."""
    previous = ck.set_enabled(fused)
    try:
        xd = mytorch.tensor(x, device="cuda", requires_grad=True)
        td = mytorch.tensor(t, device="cuda")
        wd = None if w is None else mytorch.tensor(w, device="cuda")
        if module:
            loss = nn.CrossEntropyLoss(wd, **kw)(xd, td)
        else:
            loss = F.cross_entropy(xd, td, wd, **kw)
        gy = logits(loss.shape, x.dtype, 9, 1.0)
        loss.backward(mytorch.tensor(gy, device="cuda"))
        return loss.detach().cpu().numpy(), xd.grad.cpu().numpy()
    finally:
        ck.set_enabled(previous)


def torch_run(x, t, w, kw):
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    wt = None if w is None else torch.tensor(w.astype(np.float64))
    loss = torch.nn.functional.cross_entropy(xt, torch.tensor(t), wt, **kw)
    gy = logits(tuple(loss.shape), x.dtype, 9, 1.0).astype(np.float64)
    loss.backward(torch.tensor(gy))
    return loss.detach().numpy(), xt.grad.numpy()


def check(launches, x, t, w=None, module=False, reference=True, **kw):
    """Fused (2 launches) == torch, loss and grad, and == the reference path (no launch)
    unless `reference` is False."""
    dtype = x.dtype.type
    fused = run(x, t, w, kw, True, module)
    assert launches == KERNELS
    want = torch_run(x, t, w, kw)
    refs = run(x, t, w, kw, False, module) if reference else want
    assert launches == KERNELS
    rtol, atol = TOL[dtype]
    for got, ref, wnt in zip(fused, refs, want):
        assert got.dtype == dtype and got.shape == wnt.shape
        scale = max(1.0, float(np.abs(wnt).max()))
        np.testing.assert_allclose(got.astype(np.float64), wnt, rtol=rtol, atol=atol * scale)
        np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=rtol,
                                   atol=atol * scale)


CASES = [((4, 13), np.float32), ((1, 1), np.float32), ((3, 8), np.float32),
         ((5, 21), np.float16)]


@pytest.mark.parametrize("shape, dtype", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_takes_the_fused_kernels(launches, shape, dtype, reduction):
    check(launches, logits(shape, dtype), class_targets(shape[:1], shape[1]),
          reduction=reduction)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_weights_ignore_index_and_smoothing(launches, dtype, reduction, eps):
    x, t = logits((6, 11), dtype), class_targets((6,), 11, ignore=(0, 3))
    w = np.random.default_rng(2).uniform(0.5, 2.0, 11).astype(dtype)
    check(launches, x, t, w, reduction=reduction, label_smoothing=eps)


def test_an_ignore_index_that_is_a_class(launches):
    check(launches, logits((5, 9), np.float32), np.array([2, 4, 2, 0, 8]), ignore_index=2,
          label_smoothing=0.2)


def test_spatial_logits_and_a_single_sample(launches):
    # (N, C, d1, d2): the class dim moves last (a copy) and the rows take the kernels
    check(launches, logits((2, 7, 3, 2), np.float32), class_targets((2, 3, 2), 7, ignore=(4,)),
          reduction="none", label_smoothing=0.1)
    launches.clear()
    check(launches, logits((9,), np.float32), np.array(4), reduction="sum")  # (C,) logits


def test_nn_cross_entropy_loss_takes_the_fused_kernels(launches):
    w = np.random.default_rng(2).uniform(0.5, 2.0, 10).astype(np.float32)
    check(launches, logits((4, 10), np.float32), class_targets((4,), 10, ignore=(1,)), w,
          module=True, label_smoothing=0.05)


def test_float16_logits_of_large_magnitude(launches):
    # the kernels sum in float32; the reference path computes in float16, and its smoothing
    # sum overflows to inf here, so only torch is the judge
    x = logits((4, 17), np.float16, scale=3000.0)
    check(launches, x, class_targets((4,), 17), reference=False, label_smoothing=0.1)
    launches.clear()
    check(launches, x, class_targets((4,), 17, seed=3), reduction="none")


def test_every_target_ignored_gives_nan_and_a_zero_gradient(launches):
    x, t = logits((3, 10), np.float32), np.full(3, -100)
    loss, gx = run(x, t, None, {}, True)
    assert launches == KERNELS
    want_loss, want_gx = torch_run(x, t, None, {})
    assert np.isnan(loss) and np.isnan(want_loss)
    assert (gx == 0).all() and (want_gx == 0).all()


def test_no_float32_logits_sized_array_is_allocated_for_float16(launches, monkeypatch):
    # the stand-in records every allocation in its pool: forward and backward of float16
    # logits (M, V) may allocate the (M, V) float16 gradient, never (M, V) float32 or wider
    core = getattr(mytorch.backend.cupy, "_core", None)
    if not hasattr(core, "pool"):
        pytest.skip("needs the CuPy stand-in, which records allocations")
    m, v = 6, 64
    x = mytorch.tensor(logits((m, v), np.float16), device="cuda", requires_grad=True)
    t = mytorch.tensor(class_targets((m,), v, ignore=(2,)), device="cuda")
    sizes, add = [], core.pool.add
    monkeypatch.setattr(core.pool, "add", lambda dev, n: (sizes.append(n), add(dev, n)))
    loss = F.cross_entropy(x, t, label_smoothing=0.1)
    node = loss.grad_fn.next_functions[0][0]  # the loss is poisoned by the target flag: a Mul
    assert isinstance(node, cx.FusedCrossEntropy)
    saved_x, lse = node.saved_tensors
    assert saved_x is x.data and lse.shape == (m,) and lse.dtype == np.float32
    loss.backward()
    assert launches == KERNELS
    assert m * v * 2 in sizes  # the float16 gradient: the record sees logits-sized arrays
    assert max(sizes) < m * v * 4, sorted(sizes)[-5:]
    # the reference path does make a float32 (M, V) array for float32 logits: the same check
    # would catch one
    sizes.clear()
    xf = mytorch.tensor(logits((m, v), np.float32), device="cuda", requires_grad=True)
    with_ref = ck.set_enabled(False)
    try:
        F.cross_entropy(xf, t).backward()
    finally:
        ck.set_enabled(with_ref)
    assert max(sizes) >= m * v * 4


def test_no_host_sync_in_forward_and_backward(launches, host_syncs):
    x = mytorch.tensor(logits((4, 12), np.float32), device="cuda", requires_grad=True)
    t = mytorch.tensor(class_targets((4,), 12, ignore=(1,)), device="cuda")
    w = mytorch.tensor(np.linspace(0.5, 1.5, 12).astype(np.float32), device="cuda")
    before = host_syncs()
    for reduction in ("mean", "sum", "none"):
        F.cross_entropy(x, t, w, reduction=reduction, label_smoothing=0.1).sum().backward()
    assert host_syncs() == before
    assert launches == KERNELS * 3


def test_an_out_of_range_target_makes_loss_and_grads_nan_without_a_sync(launches, host_syncs):
    # the forward kernel raises a device flag; F.cross_entropy folds it into the loss (NaN),
    # as the reference CUDA path does, without reading it back
    x = mytorch.tensor(logits((3, 6), np.float32), device="cuda", requires_grad=True)
    for bad in (6, -1):
        x.grad = None
        t = mytorch.tensor(np.array([0, bad, 1]), device="cuda")
        before = host_syncs()
        loss = F.cross_entropy(x, t, reduction="none")
        loss.sum().backward()
        assert host_syncs() == before
        assert np.isnan(loss.detach().cpu().numpy()).all()
        assert np.isnan(x.grad.cpu().numpy()).all()
    assert launches == KERNELS * 2


def test_double_backward_matches_torch(launches):
    # create_graph differentiates the reference composite; the first forward is fused
    a = logits((4, 9), np.float32)
    t = class_targets((4,), 9, ignore=(2,))
    w = np.random.default_rng(2).uniform(0.5, 2.0, 9).astype(np.float32)
    x = mytorch.tensor(a, device="cuda", requires_grad=True)
    loss = F.cross_entropy(x, mytorch.tensor(t, device="cuda"), mytorch.tensor(w, device="cuda"),
                           label_smoothing=0.1)
    (g,) = mytorch.autograd.grad(loss, x, create_graph=True)
    (g * g).sum().backward()
    assert launches == ["cross_entropy_fwd"]
    xt = torch.tensor(a.astype(np.float64), requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), torch.tensor(w.astype(np.float64)),
                                           label_smoothing=0.1)
    (gt,) = torch.autograd.grad(lt, xt, create_graph=True)
    (gt * gt).sum().backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-6)
    np.testing.assert_allclose(g.detach().cpu().numpy(), gt.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_non_contiguous_logits_first_and_second_order(launches):
    # a transposed view: the kernels read a contiguous copy, kept once for create_graph too
    a, t = logits((11, 4), np.float32), class_targets((4,), 11, ignore=(3,))
    leaf = mytorch.tensor(a, device="cuda", requires_grad=True)
    x = leaf.transpose(0, 1)  # (4, 11), not contiguous
    loss = F.cross_entropy(x, mytorch.tensor(t, device="cuda"), label_smoothing=0.1)
    (g,) = mytorch.autograd.grad(loss, leaf, create_graph=True)
    (g * g).sum().backward()
    assert launches == ["cross_entropy_fwd"]
    at = torch.tensor(a.astype(np.float64), requires_grad=True)
    lt = torch.nn.functional.cross_entropy(at.T, torch.tensor(t), label_smoothing=0.1)
    (gt,) = torch.autograd.grad(lt, at, create_graph=True)
    (gt * gt).sum().backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-6)
    np.testing.assert_allclose(g.detach().cpu().numpy(), gt.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(leaf.grad.cpu().numpy(), at.grad.numpy(), rtol=1e-4, atol=1e-6)
    launches.clear()
    leaf.grad = None
    F.cross_entropy(leaf.transpose(0, 1), mytorch.tensor(t, device="cuda")).backward()
    assert launches == KERNELS
    at.grad = None
    torch.nn.functional.cross_entropy(at.T, torch.tensor(t)).backward()
    np.testing.assert_allclose(leaf.grad.cpu().numpy(), at.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_the_reference_path_is_kept_where_the_kernels_do_not_apply(launches):
    x = mytorch.tensor(logits((3, 5), np.float32), device="cuda", requires_grad=True)
    t = mytorch.tensor(np.array([0, 4, 2]), device="cuda")
    F.cross_entropy(x, mytorch.tensor(np.ones((3, 5), np.float32) / 5, device="cuda"))  # probs
    F.cross_entropy(x, t, mytorch.ones(5, dtype=mytorch.float64, device="cuda"))  # mixed dtypes
    F.cross_entropy(x, t, auto=True)
    F.cross_entropy(x.detach().cpu(), t.cpu())  # CPU
    assert launches == []
    previous = ck.set_enabled(False)
    try:
        F.cross_entropy(x, t).backward()
    finally:
        ck.set_enabled(previous)
    assert launches == []
    F.cross_entropy(x, t)
    assert launches == ["cross_entropy_fwd"]
