"""create_graph=True: higher orders, gradgradcheck, hooks, leaves, refusals that name the op.

Per-op second-order coverage lives in test_double_backward.py; this file tests the machinery.
"""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd import Function, grad, gradgradcheck
from mytorch.autograd.engine import ENGINES


def pair(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
    return ([mytorch.tensor(a, requires_grad=True) for a in arrays],
            [torch.from_numpy(a.copy()).requires_grad_() for a in arrays])


@pytest.mark.parametrize("engine", ENGINES)
def test_third_and_fourth_derivatives_match_torch(engine):
    (x,), (tx,) = pair((5,))

    def f(L, x):
        return (L.sin(x) * x * x).sum()
    gm, gt = f(mytorch, x), f(torch, tx)
    for order in range(1, 5):
        (gm,) = grad(gm, [x], create_graph=True, engine_name=engine)
        (gt,) = torch.autograd.grad(gt, [tx], create_graph=True)
        np.testing.assert_allclose(gm.detach().numpy(), gt.detach().numpy(), rtol=1e-10,
                                   err_msg=f"order {order}")
        gm, gt = gm.sum(), gt.sum()


@pytest.mark.parametrize("engine", ENGINES)
def test_gradient_penalty_of_an_mlp_matches_torch(engine):
    """WGAN-GP: the loss is the squared distance of |d D(x) / dx| from 1, trained through."""
    (x, w1, b1, w2), (tx, tw1, tb1, tw2) = pair((4, 3), (5, 3), (5,), (1, 5))

    def penalty(L, x, w1, b1, w2, F):
        d = F.linear(L.tanh(F.linear(x, w1, b1)), w2).sum()
        (gx,) = (grad if L is mytorch else torch.autograd.grad)(d, [x], create_graph=True)
        return ((gx.norm(dim=1) - 1) ** 2).mean()
    pm = penalty(mytorch, x, w1, b1, w2, F)
    pt = penalty(torch, tx, tw1, tb1, tw2, torch.nn.functional)
    pm.backward(engine=engine)
    pt.backward()
    np.testing.assert_allclose(pm.item(), pt.item(), rtol=1e-12)
    for m, t in zip((x, w1, b1, w2), (tx, tw1, tb1, tw2)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_backward_create_graph_accumulates_graph_tensors_into_grad():
    (x,), (tx,) = pair((3,))
    for _ in range(2):  # the second call adds, out of place, keeping both graphs
        (x ** 3).sum().backward(create_graph=True)
        (tx ** 3).sum().backward(create_graph=True)
    assert x.grad.grad_fn is not None
    (gg,), (tgg,) = grad(x.grad.sum(), [x]), torch.autograd.grad(tx.grad.sum(), [tx])
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-12)


def test_hooks_and_retain_grad_see_graph_tensors():
    (x,), (tx,) = pair((3,))
    seen = []

    def run(L, x):
        h = x * x
        h.retain_grad()
        h.register_hook(lambda g: seen.append(g) or g * h)  # a hook that uses the graph
        return (h.sin()).sum(), h
    ym, hm = run(mytorch, x)
    yt, ht = run(torch, tx)
    ym.backward(create_graph=True)
    yt.backward(create_graph=True)
    assert all(g.requires_grad for g in seen)
    assert hm.grad.requires_grad
    (gm,), (gt,) = grad(x.grad.sum(), [x]), torch.autograd.grad(tx.grad.sum(), [tx])
    np.testing.assert_allclose(gm.numpy(), gt.numpy(), rtol=1e-12)


def test_grad_outputs_with_a_graph_are_differentiated_through():
    (x, v), (tx, tv) = pair((3,), (3,))
    (g,) = grad(x.exp(), [x], grad_outputs=[v * v], create_graph=True)
    (tg,) = torch.autograd.grad(tx.exp(), [tx], grad_outputs=[tv * tv], create_graph=True)
    got = grad(g.sum(), [x, v])
    want = torch.autograd.grad(tg.sum(), [tx, tv])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_grad_runs_only_nodes_that_lead_to_the_inputs():
    """A branch not leading to the requested inputs is not run (here it could not be)."""
    (x, z), _ = pair((3,), (3,))
    y = (x * x).sum() + CubeKeepingSquare.apply(z * 1).sum()
    (g,) = grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 2 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="CubeKeepingSquareBackward: double backward"):
        grad(y, [z], create_graph=True)


def test_freed_graph_and_in_place_writes_are_caught():
    (x,), _ = pair((3,))
    y = (x.exp() * x).sum()
    (g,) = grad(y, [x], create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        grad(y, [x])
    w = x.detach() * 2
    w.requires_grad_()
    h = w.sin()
    (g,) = grad(h.sum(), [w], create_graph=True)
    with mytorch.no_grad():
        w += 1  # w is saved by sin's backward, which g's graph runs again
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        grad(g.sum(), [w])


class CubeKeepingSquare(Function):
    """x^3 whose backward reads x^2 kept on ctx: first order right, and its dependence on x
    invisible to create_graph."""

    @staticmethod
    def forward(ctx, x):
        ctx.x2 = x * x
        return ctx.x2 * x

    @staticmethod
    def backward(ctx, gy):
        return 3 * ctx.x2 * gy


class CubeWrongConstant(CubeKeepingSquare):
    graph_constants = ("x2",)  # a false claim: x^2 depends on x


class CubeSaved(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return 3 * x * x * gy


class WritesIntoAView(CubeSaved):
    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        xp = mytorch.backend.array_module(gy)
        g = xp.zeros(gy.shape, gy.dtype)
        g.reshape(-1)[...] = 3 * x * x * gy  # a write that works through NumPy's view only
        return g


def test_user_functions_double_backward_or_refuse_by_name():
    (x,), (tx,) = pair((4,))
    assert gradgradcheck(CubeSaved.apply, [x])
    (g,) = grad(CubeSaved.apply(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(grad(g.sum(), [x])[0].numpy(), 6 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="CubeKeepingSquareBackward: double backward .*not "
                                           "supported.*ctx.x2"):
        grad(CubeKeepingSquare.apply(x).sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError, match="WritesIntoAViewBackward: double backward.*view"):
        grad(WritesIntoAView.apply(x).sum(), [x], create_graph=True)
    # first order is untouched by any of this
    (g1,) = grad(WritesIntoAView.apply(x).sum(), [x])
    np.testing.assert_allclose(g1.numpy(), 3 * x.detach().numpy() ** 2)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    (x,), _ = pair((4,))
    assert mytorch.autograd.gradcheck(CubeWrongConstant.apply, [x])  # first order is right
    with pytest.raises(AssertionError, match="gradcheck: analytic and numerical"):
        gradgradcheck(CubeWrongConstant.apply, [x])
    assert gradgradcheck(CubeWrongConstant.apply, [x], raise_exception=False) is False


@pytest.mark.parametrize("fn", [
    lambda x, w: F.layer_norm(x @ w, (4,)).tanh(),
    lambda x, w: F.softmax(x @ w, dim=-1) * x.sum(),
    lambda x, w: F.conv1d(x.reshape(1, 3, 2), w.reshape(4, 3, 1)).sigmoid(),
    lambda x, w: (x @ w).logsumexp(dim=1) + F.gelu(w).sum(),
])
def test_gradgradcheck_passes_on_layers(fn):
    (x, w), _ = pair((2, 3), (3, 4))
    assert gradgradcheck(fn, [x, w])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-4)])
@pytest.mark.parametrize("op", ["cross_entropy", "cross_entropy_smooth_weighted", "softmax",
                                "log_softmax"])
def test_softmax_family_second_order_from_saved_probabilities(op, dtype, rtol):
    # create_graph rebuilds these ops' logits from their saved output (first order keeps no
    # copy of the input): rows whose probabilities underflow to 0 must still match torch.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7)) * np.array([1, 40, 400, 4000])[:, None]  # rows: tame..wild
    target = np.array([0, 3, 6, 2])
    weight = rng.uniform(0.5, 2, 7)
    proj = rng.standard_normal((4, 7))

    def f(L, Fn, x):
        if op == "cross_entropy":
            return Fn.cross_entropy(x, L.tensor(target))
        if op == "cross_entropy_smooth_weighted":
            return Fn.cross_entropy(x, L.tensor(target), L.tensor(weight.astype(dtype)),
                                   label_smoothing=0.2)
        fn = Fn.softmax if op == "softmax" else Fn.log_softmax
        return (fn(x, dim=-1) * L.tensor(proj.astype(dtype))).sum()

    out = []
    for L, Fn in ((mytorch, mytorch.nn.functional), (torch, torch.nn.functional)):
        t = L.tensor(x.astype(dtype), requires_grad=True)
        (g,) = L.autograd.grad(f(L, Fn, t), [t], create_graph=True)
        (gg,) = L.autograd.grad((g * L.tensor(proj.astype(dtype))).sum(), [t])
        out.append((g.detach().numpy(), gg.numpy()))
    (g_m, gg_m), (g_t, gg_t) = out
    assert np.isfinite(gg_m).all()
    np.testing.assert_allclose(g_m, g_t, rtol=rtol, atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(gg_m, gg_t, rtol=rtol, atol=1e-6 if dtype == np.float32 else 1e-12)


def test_first_order_keeps_no_input_that_forward_did_not_save():
    # The logits of cross-entropy and softmax, a non-contiguous input of linear (saved as a
    # reshaped copy), the input of var/std (they save x - mean), of max/min along a dim
    # (indices) and of batch norm in training (xhat) die with their Tensors: create_graph
    # rebuilds them from saved state. (Max pooling keeps its input only where windows overlap.)
    import gc
    import weakref
    w = mytorch.randn(6, 5, requires_grad=True)
    cases = {"cross_entropy": lambda h: F.cross_entropy(h, mytorch.tensor([0, 1, 2, 3])),
             "softmax": lambda h: F.softmax(h, dim=-1).sum(),
             "log_softmax": lambda h: F.log_softmax(h, dim=0).sum(),
             "linear": lambda h: F.linear(h.reshape(2, 2, 5).transpose(0, 1), w).sum(),
             "var": lambda h: h.var(0).sum(),
             "std": lambda h: h.std(1).sum(),
             "max": lambda h: h.max(1)[0].sum(),
             "min": lambda h: h.min(0)[0].sum(),
             "batch_norm": lambda h: F.batch_norm(h, None, None, training=True).sum(),
             "max_pool2d": lambda h: F.max_pool2d(h.reshape(1, 1, 4, 5), 2).sum()}
    for name, make in cases.items():
        h = mytorch.randn(4, 5) @ mytorch.randn(5, 5, requires_grad=True)
        ref = weakref.ref(h.data)
        loss = make(h)
        del h
        gc.collect()
        assert ref() is None, f"{name}: an input that forward did not save is still alive"
        loss.backward()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=2, stride=3, padding=1),
                                dict(kernel_size=3, stride=2, ceil_mode=True),  # overlapping
                                dict(kernel_size=2, dilation=2, stride=3)])
def test_max_pool_second_order_from_its_indices(kw, engine):
    (x,), (tx,) = pair((2, 3, 7, 8))
    out = []
    for L, t in ((mytorch, x), (torch, tx)):
        y = L.nn.functional.max_pool2d(t * t, **kw)
        kwargs = dict(engine_name=engine) if L is mytorch else {}
        (g,) = L.autograd.grad((y * y).sum(), [t], create_graph=True, **kwargs)
        (gg,) = L.autograd.grad((g * g).sum(), [t], **kwargs)
        out.append((g.detach().numpy(), gg.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10)


@pytest.mark.skipif(not mytorch.cuda.is_available(), reason="needs CUDA or the CuPy stand-in")
def test_rebuilt_inputs_on_cuda_match_the_cpu():
    # The rebuilds (log of the probabilities, a one at the index, xhat / rstd, ...) run on the
    # GPU's arrays: second derivatives through each equal the CPU's.
    x0 = np.random.default_rng(0).standard_normal((4, 6))

    def second_order(dev):
        out = []
        for f in (lambda h: F.cross_entropy(h, mytorch.tensor([0, 1, 2, 3], device=dev)),
                  lambda h: (F.softmax(h, -1) ** 2).sum(),
                  lambda h: (F.log_softmax(h, 0) ** 2).sum(),
                  lambda h: (h.max(1)[0] ** 2).sum(),
                  lambda h: (h.var(0) ** 2).sum(),
                  lambda h: (F.batch_norm(h, None, None, training=True) ** 3).sum(),
                  lambda h: (F.max_pool2d(h.reshape(1, 1, 4, 6), 2) ** 2).sum(),
                  lambda h: (F.linear(h.t(), mytorch.ones(3, 4, device=dev,
                                                          dtype=mytorch.float64)) ** 2).sum()):
            x = mytorch.tensor(x0, device=dev, requires_grad=True)
            (g,) = grad(f(x * 1.0), [x], create_graph=True)
            (gg,) = grad((g * g).sum(), [x])
            out.append(gg.cpu().numpy())
        return out

    for a, b in zip(second_order("cpu"), second_order("cuda")):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
