"""Autograd: custom Functions, the two engines, graph freeing, hooks, grad modes, grad()."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch.autograd import Function, gradcheck
from mytorch.autograd.engine import ENGINES
from tests.helpers import check

engines = pytest.mark.parametrize("engine", ENGINES)


class Cube(Function):
    """The docstring example of `Function`: y = x**3 with a hand-written backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return 3 * x * x * gy


class ScaledAdd(Function):
    """Two tensor inputs plus a non-tensor argument (alpha) that backward may leave out."""

    @staticmethod
    def forward(ctx, a, b, alpha):
        ctx.alpha = alpha
        return a + alpha * b

    @staticmethod
    def backward(ctx, gy):
        return (gy if ctx.needs_input_grad[0] else None,
                ctx.alpha * gy if ctx.needs_input_grad[1] else None)


class MinMax(Function):
    """Two outputs; the loss may use only one of them."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.min(axis=-1), x.max(axis=-1)

    @staticmethod
    def backward(ctx, gmin, gmax):
        (x,) = ctx.saved_tensors
        lo = (x == x.min(axis=-1, keepdims=True)) * gmin[..., None]
        hi = (x == x.max(axis=-1, keepdims=True)) * gmax[..., None]
        return lo + hi


def test_custom_function_matches_torch(device):
    check(lambda x: Cube.apply(x) if isinstance(x, mytorch.Tensor) else x ** 3, [(3, 4)],
          device=device)


def test_custom_function_extra_args_and_broadcast(device):
    check(lambda a, b: ScaledAdd.apply(a, b, 0.5) if isinstance(a, mytorch.Tensor)
          else a + 0.5 * b, [(3, 4), (4,)], device=device)


@engines
def test_multi_output_function_with_unused_output(engine):
    x = mytorch.tensor([[1.0, 5.0, 3.0], [2.0, 0.0, 4.0]], requires_grad=True)
    lo, hi = MinMax.apply(x)
    hi.sum().backward(engine=engine)
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert lo.grad_fn is hi.grad_fn and repr(hi.grad_fn) == "<MinMaxBackward>"


def test_custom_function_gradcheck():
    x = mytorch.tensor(np.random.default_rng(0).standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(Cube.apply, (x,))


@pytest.mark.parametrize("fn,shapes", [
    (lambda x: (x * x).sum(), [(3,)]),
    (lambda a, b: (a @ b).tanh(), [(2, 3), (3, 2)]),
    (lambda x: x.softmax(-1) if False else (x.exp() / x.exp().sum(1, keepdim=True)), [(2, 4)]),
    (lambda x: x.var(0), [(4, 3)]),
    (lambda x: x.prod(1), [(2, 3)]),
    (lambda x: x.logsumexp(1), [(2, 3)]),
    (lambda x: x[mytorch.tensor([0, 0, 1])].sigmoid(), [(2, 3)]),
    (lambda a, b: a ** b, [(3,), (3,)]),
])
def test_gradcheck(fn, shapes):
    rng = np.random.default_rng(1)
    xs = [mytorch.tensor(rng.uniform(0.5, 1.5, s), requires_grad=True) for s in shapes]
    assert gradcheck(fn, xs)


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, gy):
            return gy * 3

    x = mytorch.tensor([1.0, 2.0], dtype=mytorch.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="gradcheck"):
        gradcheck(Wrong.apply, (x,))
    assert gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    with pytest.raises(ValueError, match="float64"):
        gradcheck(Wrong.apply, (mytorch.tensor([1.0], requires_grad=True),))


# ---- graphs that both engines must get identical gradients on ----

def _diamond(lib, x):
    a = x * 2
    b = a.exp()
    c = a.sin()
    return (b * c + a).sum()


def _reused(lib, x):
    y = x.tanh()
    z = y * y * y + y  # y used four times
    w = z + y * z      # z twice
    return w.mean()


def _dead_branch(lib, x):
    logits = x * 3
    accuracy = (logits.argmax(1) == 0).float().mean()  # with grad on, no grad path
    unused = logits.exp().sum() * 2  # computed with grad on, never reaches the loss
    del unused
    side = logits.sigmoid()          # a grad-requiring branch that is dropped
    _ = side * 4
    return (logits ** 2).mean() + accuracy * 0


def _multi_path_depth(lib, x):
    h = x
    skip = x
    for i in range(5):
        h = (h * 0.9 + skip).relu()
        skip = skip + h * 0.1
    return (h + skip).sum()


@engines
@pytest.mark.parametrize("graph", [_diamond, _reused, _dead_branch, _multi_path_depth],
                         ids=lambda f: f.__name__)
def test_engines_match_torch(graph, engine):
    arr = np.random.default_rng(0).standard_normal((3, 4))
    tx = torch.tensor(arr, requires_grad=True)
    graph(torch, tx).backward()
    mx = mytorch.tensor(arr, requires_grad=True)
    graph(mytorch, mx).backward(engine=engine)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@engines
def test_branch_not_reaching_loss_does_not_stall(engine):
    # Built with grad on, the side branch has a consumer the loss never reaches. A gated
    # engine that counted consumers at graph-construction time would wait for it forever.
    x = mytorch.randn(4, 3, requires_grad=True)
    h = x * 2
    side = h.exp().sum()  # noqa: F841  (kept alive on purpose)
    acc = (h.argmax(1) == 1).float().mean()
    loss = (h * h).sum()
    loss.backward(engine=engine)
    np.testing.assert_allclose(x.grad.numpy(), 8 * x.detach().numpy(), rtol=1e-6)
    assert not acc.requires_grad


@engines
def test_long_chain_no_recursion_error(engine):
    x = mytorch.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0
    y.sum().backward(engine=engine)
    assert x.grad.tolist() == [1.0]


def test_both_engines_identical_on_wide_graph():
    rng = np.random.default_rng(3)
    arr = rng.standard_normal((5,))
    grads = []
    for engine in ENGINES:
        x = mytorch.tensor(arr, requires_grad=True)
        parts = [x * i for i in range(1, 8)]
        total = parts[0]
        for i, p in enumerate(parts[1:]):
            total = total + p * parts[i]
        total.sum().backward(engine=engine)
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_default_engine_switch():
    from mytorch.autograd import get_default_engine, set_default_engine
    assert get_default_engine() == "topological"
    set_default_engine("recursive")
    try:
        x = mytorch.tensor([2.0], requires_grad=True)
        (x * x).sum().backward()
        assert x.grad.tolist() == [4.0]
    finally:
        set_default_engine("topological")
    with pytest.raises(ValueError, match="engine"):
        set_default_engine("magic")
    with pytest.raises(ValueError, match="engine"):
        (mytorch.tensor([1.0], requires_grad=True) * 2).sum().backward(engine="magic")


# ---- graph lifetime ----

@engines
def test_second_backward_raises_unless_retained(engine):
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True, engine=engine)
    y.backward(engine=engine)  # the graph was retained: works and accumulates
    expected = 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(engine=engine)


def test_saved_arrays_are_freed_after_backward():
    x = mytorch.randn(3, requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert not node.__dict__, "saved state should be released"


def test_grad_accumulates_and_zero():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (x * 2).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    x.grad = None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_backward_with_gradient_argument(device):
    x = mytorch.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    y = x * x
    y.backward(mytorch.tensor([1.0, 0.5, 0.0], device=device))
    assert x.grad.tolist() == [2.0, 2.0, 0.0]


def test_backward_through_non_scalar_leaf_grad_dtype():
    x = mytorch.tensor([1.0, 2.0], dtype=mytorch.float64, requires_grad=True)
    (x.float() * 3).sum().backward()
    assert x.grad.dtype == mytorch.float64 and x.grad.tolist() == [3.0, 3.0]


# ---- leaves, retain_grad, detach ----

def test_leaf_flags_and_detach():
    x = mytorch.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data
    z = mytorch.ones(2).requires_grad_()
    assert z.requires_grad and z.is_leaf
    with pytest.raises(RuntimeError, match="floating point"):
        mytorch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


def test_retain_grad():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = y * y
    z.retain_grad()
    z.sum().backward()
    assert y.retains_grad and y.grad.tolist() == [6.0, 12.0]
    assert z.grad.tolist() == [1.0, 1.0]
    assert x.grad.tolist() == [18.0, 36.0]


def test_non_leaf_grad_not_kept_without_retain_grad():
    x = mytorch.tensor([1.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    assert y.grad is None


# ---- hooks ----

def test_hooks_on_leaf_and_non_leaf():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(("x", g.tolist())))
    y = x * 2
    handle = y.register_hook(lambda g: g * 10)  # replaces the gradient
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 20.0]
    assert seen == [("x", [20.0, 20.0])]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_hook_matches_torch():
    arr = np.array([1.0, -2.0, 3.0])
    results = []
    for lib in (torch, mytorch):
        x = lib.tensor(arr, requires_grad=True)
        h = x.exp()
        h.register_hook(lambda g: g.clamp(max=0.5))
        (h * x).sum().backward()
        results.append(np.asarray(x.grad.detach().numpy()))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


# ---- grad modes ----

def test_no_grad_context_and_decorator():
    x = mytorch.ones(2, requires_grad=True)
    with mytorch.no_grad():
        assert not (x * 2).requires_grad
        with mytorch.enable_grad():
            assert (x * 2).requires_grad
        assert not mytorch.is_grad_enabled()
    assert mytorch.is_grad_enabled()

    @mytorch.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad

    @mytorch.enable_grad()
    def g(t):
        return t * 2
    with mytorch.no_grad():
        assert g(x).requires_grad


def test_set_grad_enabled():
    x = mytorch.ones(2, requires_grad=True)
    with mytorch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    mytorch.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        mytorch.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ZeroDivisionError), mytorch.no_grad():
        raise ZeroDivisionError
    assert mytorch.is_grad_enabled()


# ---- autograd.grad ----

@engines
def test_autograd_grad(engine):
    arr = np.array([0.5, -1.0, 2.0])
    tx = torch.tensor(arr, requires_grad=True)
    ty = torch.tensor(arr * 2, requires_grad=True)
    tgx, tgy = torch.autograd.grad((tx.sin() * ty).sum(), [tx, ty])
    x = mytorch.tensor(arr, requires_grad=True)
    y = mytorch.tensor(arr * 2, requires_grad=True)
    gx, gy = mytorch.autograd.grad((x.sin() * y).sum(), [x, y], engine_name=engine)
    np.testing.assert_allclose(gx.numpy(), tgx.numpy())
    np.testing.assert_allclose(gy.numpy(), tgy.numpy())
    assert x.grad is None and y.grad is None  # grad() does not accumulate


def test_autograd_grad_non_leaf_and_outputs():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    out = h * h
    (gh,) = mytorch.autograd.grad(out, h, grad_outputs=mytorch.ones(2))
    assert gh.tolist() == [6.0, 12.0]
    unused = mytorch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        mytorch.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = mytorch.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0] and gu is None


def test_autograd_backward_several_roots():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    mytorch.autograd.backward([(x * 2).sum(), (x * x).sum()])
    assert x.grad.tolist() == [4.0, 6.0]


def test_leaf_grads_never_alias_each_other_or_the_callers_gradient():
    # Leaves take a gradient array over without a copy only when nothing else can reach it.
    a = mytorch.randn(3, requires_grad=True)
    b = mytorch.randn(3, requires_grad=True)
    (a + b).sum().backward()          # Add hands the same array to both inputs
    a.grad.mul_(2)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))
    g = mytorch.ones(3)
    c = mytorch.randn(3, requires_grad=True)
    c.backward(gradient=g)
    c.grad.mul_(5)
    np.testing.assert_array_equal(g.numpy(), np.ones(3, np.float32))
    w = mytorch.randn(4, 3, requires_grad=True)
    y = mytorch.randn(5, 4) @ w
    y.sum().backward(retain_graph=True)
    first = w.grad.numpy().copy()
    y.sum().backward()                # a retained graph may hand out the same arrays again
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-6)


def test_no_grad_as_bare_decorator():
    @mytorch.no_grad
    def f(x):
        return x * 2

    @mytorch.enable_grad
    def g(x):
        return x * 2

    x = mytorch.ones(2, requires_grad=True)
    assert not f(x).requires_grad and f.__name__ == "f"
    with mytorch.no_grad():
        assert g(x).requires_grad


def test_leaf_taking_a_reshaped_gradient_never_aliases_a_shared_one():
    a = mytorch.randn(2, 3, requires_grad=True)
    b = mytorch.randn(6, requires_grad=True)
    (a.reshape(6) + b).sum().backward()   # one array reaches b directly and a through a view
    a.grad.mul_(3)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(6, np.float32))
    c = mytorch.randn(2, 3, requires_grad=True)
    (c.reshape(6) * 2).sum().backward()   # a view of a fresh array: taken over, still right
    np.testing.assert_array_equal(c.grad.numpy(), np.full((2, 3), 2, np.float32))
    assert c.grad.shape == (2, 3)


def test_backward_inputs_accumulate_only_into_those_tensors():
    a = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    x, y = mytorch.tensor(a, requires_grad=True), mytorch.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    for _ in range(2):  # the second call accumulates
        (x * y).exp().sum().backward(inputs=[x])
        (tx * ty).exp().sum().backward(inputs=[tx])
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    assert y.grad is None and ty.grad is None
    # with create_graph the accumulated .grad has a graph: differentiate it w.r.t. y
    x.grad, tx.grad = None, None
    (x * y).exp().sum().backward(inputs=[x], create_graph=True)
    (tx * ty).exp().sum().backward(inputs=[tx], create_graph=True)
    assert x.grad.grad_fn is not None and y.grad is None
    (gy,), (tgy,) = mytorch.autograd.grad(x.grad.sum(), [y]), torch.autograd.grad(tx.grad.sum(),
                                                                                   [ty])
    np.testing.assert_allclose(gy.numpy(), tgy.numpy(), rtol=1e-5)
