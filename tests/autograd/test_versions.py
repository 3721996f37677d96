"""Version counters: an array saved for backward and then written in place is an error at
backward time, as in PyTorch, never a silently wrong gradient."""
import numpy as np
import pytest

import mytorch
import mytorch.nn as nn


def _assert_saved_error(loss):
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize("write", [
    lambda w: w.add_(1),
    lambda w: w.mul_(2),
    lambda w: w.zero_(),
    lambda w: w.fill_(3.0),
    lambda w: w.copy_(mytorch.ones(3)),
    lambda w: w.clamp_(-0.1, 0.1),
    lambda w: w.uniform_(),
    lambda w: w.__setitem__(0, 5.0),
    lambda w: w.masked_fill_(mytorch.tensor([True, False, True]), 0.0),
], ids=["add_", "mul_", "zero_", "fill_", "copy_", "clamp_", "uniform_", "setitem",
        "masked_fill_"])
def test_write_to_saved_input_is_detected(write):
    x = mytorch.randn(3, requires_grad=True)
    w = mytorch.randn(3)
    loss = (x * w).sum()  # Mul saves w for x's gradient
    before = w._version
    write(w)
    assert w._version == before + 1
    _assert_saved_error(loss)


def test_write_to_saved_output_under_no_grad_is_detected():
    x = mytorch.randn(4, requires_grad=True)
    y = x.exp()  # Exp saves its output
    loss = y.sum()
    with mytorch.no_grad():
        y.mul_(2)
    _assert_saved_error(loss)


def test_write_through_a_view_or_detached_alias_is_detected():
    x = mytorch.randn(3, requires_grad=True)
    w = mytorch.randn(2, 3)
    loss = (x * w[0]).sum()
    w[1] = 0.0  # same memory as the saved row's base: PyTorch raises too
    _assert_saved_error(loss)

    x = mytorch.randn(3, requires_grad=True)
    y = x.exp()
    loss = y.sum()
    y.detach().zero_()
    _assert_saved_error(loss)


def test_writes_that_backward_does_not_need_are_fine():
    x = mytorch.randn(3, requires_grad=True)
    w = mytorch.randn(3)
    loss = (x + w).sum()  # Add saves nothing
    w.add_(1)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3, np.float32))

    # a copy taken before the write keeps the graph valid
    x.grad = None
    w2 = mytorch.randn(3)
    loss = (x * w2.clone()).sum()
    expected = w2.numpy().copy()
    w2.add_(1)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_in_place_in_grad_mode_keeps_saved_arrays_intact():
    # With a graph recorded, mytorch computes in-place ops out of place and rebinds the tensor,
    # so the array Sin saved is untouched and the gradient stays right.
    x = mytorch.randn(3, requires_grad=True)
    y = x * 2
    z = y.sin()
    y.add_(1)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(2 * x.detach().numpy()), rtol=1e-6)


def test_second_backward_after_a_write_is_detected():
    x = mytorch.randn(3, requires_grad=True)
    w = mytorch.randn(3)
    loss = (x * w).sum()
    loss.backward(retain_graph=True)
    w.add_(1)
    _assert_saved_error(loss)


def test_optimizer_step_before_backward_is_detected():
    m = nn.Linear(3, 2)
    opt = mytorch.optim.SGD(m.parameters(), lr=0.1)
    x = mytorch.randn(4, 3, requires_grad=True)  # the weight is saved for x's gradient
    m(x).sum().backward()
    loss = m(x).sum()
    opt.step()  # writes the saved weight in place
    _assert_saved_error(loss)


def test_training_loop_is_unaffected():
    m = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = mytorch.optim.Adam(m.parameters(), lr=0.01)
    x = mytorch.randn(16, 3)
    for _ in range(3):
        opt.zero_grad()
        loss = m(x).pow(2).mean()
        loss.backward()
        opt.step()
    assert m[0].weight._version >= 3
