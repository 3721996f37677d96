"""Post-accumulate-grad hooks and end-of-backward callbacks (what DDP's buckets run on),
against torch."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch.autograd import engine


def _calls(lib, tensor_of):
    w = tensor_of(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = tensor_of(np.ones(3), requires_grad=True)
    seen = []
    for name, p in (("w", w), ("b", b)):
        p.register_post_accumulate_grad_hook(
            lambda t, name=name: seen.append((name, t.grad.detach().numpy().copy())))
    x = tensor_of(np.linspace(-1, 1, 6).reshape(3, 2))
    for _ in range(2):  # the second backward sees the accumulated gradient
        ((x @ w + b) * (x @ w)).sum().backward()  # w used twice: one hook call per backward
    return seen


def test_post_accumulate_grad_hook_matches_torch():
    ours = _calls(mytorch, lambda a, **k: mytorch.tensor(a, **k))
    theirs = _calls(torch, lambda a, **k: torch.tensor(a, **k))
    assert sorted(n for n, _ in ours) == sorted(n for n, _ in theirs) == ["b", "b", "w", "w"]
    for name in ("w", "b"):
        for (_, g), (_, h) in zip([c for c in ours if c[0] == name],
                                  [c for c in theirs if c[0] == name]):
            np.testing.assert_allclose(g, h, rtol=1e-6)


def test_post_accumulate_grad_hook_only_on_leaves_and_removable():
    a = mytorch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (a * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        mytorch.ones(2).register_post_accumulate_grad_hook(lambda t: None)
    seen = []
    handle = a.register_post_accumulate_grad_hook(seen.append)
    (a * 2).sum().backward()
    handle.remove()
    (a * 2).sum().backward()
    assert seen == [a] and a.grad.tolist() == [4.0, 4.0]


def test_queue_callback_runs_once_at_the_end_of_its_own_backward():
    a = mytorch.ones(2, requires_grad=True)
    order = []

    def hook(t):
        order.append("hook")
        engine.queue_callback(lambda: order.append(("end", t.grad.tolist())))
        inner = mytorch.ones(1, requires_grad=True)  # a backward inside backward (checkpoint)
        (inner * 3).sum().backward()
        order.append("inner done")
    a.register_post_accumulate_grad_hook(hook)
    (a * 5).sum().backward()
    assert order == ["hook", "inner done", ("end", [5.0, 5.0])]
    with pytest.raises(RuntimeError, match="no backward pass is running"):
        engine.queue_callback(lambda: None)


@pytest.mark.parametrize("which", ["topological", "recursive"])
def test_delivery_hook_sees_each_contribution_before_the_sum(which):
    # A tied weight: the head's dense gradient arrives first, the embedding's rows (a RowGrad)
    # last; the hook sees both as they come, .grad is their sum as without the hook.
    from mytorch.autograd.row_grad import RowGrad
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((40, 6)).astype(np.float32)
    idx = mytorch.tensor(rng.integers(0, 40, 7))  # 7 lookups: at most half the rows, so rows

    def loss(w):
        h = mytorch.nn.functional.embedding(idx, w).tanh()
        return mytorch.nn.functional.linear(h, w).square().sum()
    w = mytorch.tensor(w0, requires_grad=True)
    seen = []

    def hook(g):
        # a copy of what the hook sees: the engine may add later gradients into g in place
        seen.append((type(g), g.dense() if type(g) is RowGrad else g.copy()))
    handle = engine.register_delivery_hook(w, hook)
    loss(w).backward(engine=which)
    assert [t for t, _ in seen] == [np.ndarray, RowGrad]
    np.testing.assert_array_equal(w.grad.numpy(), seen[0][1] + seen[1][1])
    ref = mytorch.tensor(w0, requires_grad=True)
    loss(ref).backward(engine=which)
    np.testing.assert_array_equal(w.grad.numpy(), ref.grad.numpy())
    wt = torch.tensor(w0, requires_grad=True)
    ht = torch.nn.functional.embedding(torch.from_numpy(idx.numpy()), wt).tanh()
    torch.nn.functional.linear(ht, wt).square().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-5)
    # not under autograd.grad (nothing is accumulated), nor with create_graph; removable
    mytorch.autograd.grad(loss(w), [w])
    loss(w).backward(create_graph=True)
    assert len(seen) == 2
    handle.remove()
    loss(w).backward()
    assert len(seen) == 2


@pytest.mark.parametrize("which", ["topological", "recursive"])
def test_delivery_hook_that_returns_true_takes_the_gradient_out_of_grad(which):
    # A tied weight whose hook takes the dense head's part: .grad gets only the rows. Taking
    # every part leaves .grad alone and runs no post-accumulate hook.
    from mytorch.autograd.row_grad import RowGrad
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((40, 6)).astype(np.float32)
    idx = mytorch.tensor(rng.integers(0, 40, 7))

    def loss(w):
        h = mytorch.nn.functional.embedding(idx, w).tanh()
        return mytorch.nn.functional.linear(h, w).square().sum()
    w = mytorch.tensor(w0, requires_grad=True)
    taken, posts = [], []
    take = {np.ndarray}

    def hook(g):
        if type(g) in take:
            taken.append(g.dense() if type(g) is RowGrad else g.copy())
            return True
        return None
    engine.register_delivery_hook(w, hook)
    w.register_post_accumulate_grad_hook(lambda t: posts.append(t.grad.numpy().copy()))
    loss(w).backward(engine=which)
    ref = mytorch.tensor(w0, requires_grad=True)
    loss(ref).backward(engine=which)
    rows = ref.grad.numpy() - taken[0]  # what the hook left: the embedding's rows
    np.testing.assert_allclose(w.grad.numpy(), rows, rtol=1e-5, atol=1e-5)
    assert np.count_nonzero(np.abs(w.grad.numpy()).sum(1)) <= 7  # only looked-up rows
    assert len(posts) == 1
    take.add(RowGrad)
    before = w.grad.numpy().copy()
    loss(w).backward(engine=which)
    assert len(taken) == 3 and len(posts) == 1  # both parts taken: no accumulation at all
    np.testing.assert_array_equal(w.grad.numpy(), before)


def test_delivery_hook_only_on_leaves_that_require_grad():
    a = mytorch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"register_delivery_hook: only leaf tensors.*"
                                           r"shape \(2,\).*grad_fn MulBackward"):
        engine.register_delivery_hook(a * 2, print)
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        engine.register_delivery_hook(mytorch.ones(2), print)
