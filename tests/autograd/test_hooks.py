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
