"""Activation checkpointing: gradients as without it, and as torch.utils.checkpoint's."""
import numpy as np
import pytest
import torch
import torch.utils.checkpoint as tcp

import mytorch
from mytorch import nn
from mytorch.autograd.engine import ENGINES
from mytorch.utils.checkpoint import checkpoint, checkpoint_sequential

engines = pytest.mark.parametrize("engine", ENGINES)
reentrant = pytest.mark.parametrize("use_reentrant", [False, True])


def twin_mlp(sizes=(4, 8, 8, 3), seed=0):
    """A mytorch MLP and a torch MLP holding the same float64 weights."""
    rng = np.random.default_rng(seed)
    m_layers, t_layers = [], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, bias = rng.standard_normal((b, a)), rng.standard_normal(b)
        m, t = nn.Linear(a, b), torch.nn.Linear(a, b).double()
        m.weight.data, m.bias.data = w.copy(), bias.copy()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(w))
            t.bias.copy_(torch.from_numpy(bias))
        m_layers.append(m)
        t_layers.append(t)
        if i < len(sizes) - 2:
            m_layers.append(nn.Tanh())
            t_layers.append(torch.nn.Tanh())
    return nn.Sequential(*m_layers), torch.nn.Sequential(*t_layers)


def grads_of(params):
    return [None if p.grad is None else np.asarray(p.grad.detach().numpy()) for p in params]


def assert_grads_equal(m_params, t_params):
    for gm, gt in zip(grads_of(m_params), grads_of(t_params)):
        assert (gm is None) == (gt is None)
        if gm is not None:
            np.testing.assert_allclose(gm, gt, rtol=1e-10, atol=1e-12)


@engines
@reentrant
def test_checkpoint_matches_torch(engine, use_reentrant):
    m, t = twin_mlp()
    x_np = np.random.default_rng(1).standard_normal((5, 4))
    x = mytorch.tensor(x_np, requires_grad=True)
    tx = torch.from_numpy(x_np.copy()).requires_grad_()
    y = checkpoint(m, x, use_reentrant=use_reentrant)
    ty = tcp.checkpoint(t, tx, use_reentrant=use_reentrant)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    assert y.grad_fn is not None
    gy = np.random.default_rng(2).standard_normal(y.shape)
    y.backward(mytorch.tensor(gy), engine=engine)
    ty.backward(torch.from_numpy(gy))
    assert_grads_equal([x, *m.parameters()], [tx, *t.parameters()])


@engines
def test_checkpoint_equals_plain_run(engine):
    m, _ = twin_mlp((3, 6, 6, 2))
    x = mytorch.randn(4, 3, dtype=mytorch.float64, requires_grad=True)
    (checkpoint(m, x) ** 2).sum().backward(engine=engine)
    ck = grads_of([x, *m.parameters()])
    x.grad = None
    m.zero_grad()
    (m(x) ** 2).sum().backward(engine=engine)
    for a, b in zip(ck, grads_of([x, *m.parameters()])):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def dropout_model():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4),
                         nn.Dropout(0.3))


@engines
def test_dropout_masks_replayed(engine):
    m = dropout_model()
    x = mytorch.randn(8, 6, requires_grad=True)
    state = mytorch.random.get_rng_state()
    y = checkpoint(m, x, preserve_rng_state=True)
    after_forward = mytorch.random.get_rng_state()
    y.sum().backward(engine=engine)
    # backward's replay leaves the stream where the forward left it
    assert mytorch.randn(3).tolist() == (mytorch.random.set_rng_state(after_forward)
                                         or mytorch.randn(3).tolist())
    ck = grads_of([x, *m.parameters()])
    x.grad = None
    m.zero_grad()
    mytorch.random.set_rng_state(state)
    y_plain = m(x)
    y_plain.sum().backward(engine=engine)
    np.testing.assert_array_equal(y.detach().numpy(), y_plain.detach().numpy())
    for a, b in zip(ck, grads_of([x, *m.parameters()])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_dropout_without_preserving_rng_draws_new_masks():
    m = dropout_model()
    x = mytorch.randn(8, 6, requires_grad=True)
    state = mytorch.random.get_rng_state()
    checkpoint(m, x, preserve_rng_state=False).sum().backward()
    ck = x.grad.numpy().copy()
    x.grad = None
    mytorch.random.set_rng_state(state)
    m(x).sum().backward()
    assert not np.allclose(ck, x.grad.numpy())


def pair_fn(lib):
    def fn(a, b, scale, pair, shift=0.0):
        s = a * b * scale + pair[0]
        return s, lib.tanh(a - b + shift) * pair[1], 7
    return fn


@engines
def test_multiple_inputs_outputs_and_non_tensor_args(engine):
    rng = np.random.default_rng(3)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    a, b = (mytorch.tensor(v, requires_grad=True) for v in (a_np, b_np))
    ta, tb = (torch.from_numpy(v.copy()).requires_grad_() for v in (a_np, b_np))
    s, u, k = checkpoint(pair_fn(mytorch), a, b, 2.5, (1.0, 3.0), shift=0.5)
    ts, tu, tk = tcp.checkpoint(pair_fn(torch), ta, tb, 2.5, (1.0, 3.0), shift=0.5,
                                use_reentrant=False)
    assert k == tk == 7
    np.testing.assert_allclose(u.detach().numpy(), tu.detach().numpy(), rtol=1e-12)
    # only one output used: the other gets zeros
    ((s * s).sum() + u.sum()).backward(engine=engine)
    ((ts * ts).sum() + tu.sum()).backward()
    assert_grads_equal([a, b], [ta, tb])
    a.grad = b.grad = None
    ta.grad = tb.grad = None
    s, _, _ = checkpoint(pair_fn(mytorch), a, b, 2.5, (1.0, 3.0))
    ts, _, _ = tcp.checkpoint(pair_fn(torch), ta, tb, 2.5, (1.0, 3.0), use_reentrant=False)
    s.sum().backward(engine=engine)
    ts.sum().backward()
    assert_grads_equal([a, b], [ta, tb])


def test_input_without_grad_still_trains_parameters():
    m, t = twin_mlp()
    x_np = np.random.default_rng(4).standard_normal((2, 4))
    y = checkpoint(m, mytorch.tensor(x_np))
    ty = tcp.checkpoint(t, torch.from_numpy(x_np), use_reentrant=False)
    y.sum().backward()
    ty.sum().backward()
    assert_grads_equal(list(m.parameters()), list(t.parameters()))


def test_gradients_accumulate_into_existing_grad():
    m, t = twin_mlp()
    x_np = np.random.default_rng(5).standard_normal((2, 4))
    for _ in range(2):
        checkpoint(m, mytorch.tensor(x_np)).sum().backward()
        tcp.checkpoint(t, torch.from_numpy(x_np), use_reentrant=False).sum().backward()
    assert_grads_equal(list(m.parameters()), list(t.parameters()))


def test_integer_output_gets_no_grad():
    x = mytorch.randn(3, 4, requires_grad=True)
    y, idx = checkpoint(lambda v: (v * 2, v.argmax(dim=1)), x)
    assert y.requires_grad and not idx.requires_grad
    assert idx.tolist() == x.detach().numpy().argmax(1).tolist()
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 2.0))


def test_retain_graph_recomputes_again():
    m, _ = twin_mlp()
    x = mytorch.randn(2, 4, dtype=mytorch.float64, requires_grad=True)
    y = checkpoint(m, x).sum()
    y.backward(retain_graph=True)
    once = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * once, rtol=1e-12)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_inplace_change_of_saved_input_is_caught():
    x = mytorch.randn(3, requires_grad=True)
    h = x * 1.0
    y = checkpoint(lambda v: (v * v).sum(), h)
    with mytorch.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_no_grad_mode_just_runs():
    m, _ = twin_mlp()
    x = mytorch.randn(2, 4, dtype=mytorch.float64, requires_grad=True)
    with mytorch.no_grad():
        y = checkpoint(m, x)
    assert y.grad_fn is None and not y.requires_grad
    np.testing.assert_allclose(y.numpy(), m(x).detach().numpy())


def test_reentrant_rules():
    x = mytorch.randn(3)
    with pytest.raises(ValueError, match="keyword arguments"):
        checkpoint(lambda v, s: v * s, x, s=2.0, use_reentrant=True)
    with pytest.warns(UserWarning, match="none of the inputs have requires_grad"):
        y = checkpoint(lambda v: v * 2, x, use_reentrant=True)
    assert not y.requires_grad
    with pytest.raises(TypeError, match="should return a Tensor"):
        checkpoint(lambda v: 3, mytorch.randn(2, requires_grad=True))


@engines
@pytest.mark.parametrize("segments", [1, 2, 3, 5])
def test_checkpoint_sequential_matches_torch(engine, segments):
    m, t = twin_mlp((4, 6, 6, 6, 3))  # 5 modules
    x_np = np.random.default_rng(6).standard_normal((3, 4))
    x = mytorch.tensor(x_np, requires_grad=True)
    tx = torch.from_numpy(x_np.copy()).requires_grad_()
    y = checkpoint_sequential(m, segments, x)
    ty = tcp.checkpoint_sequential(t, segments, tx, use_reentrant=False)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    (y ** 2).sum().backward(engine=engine)
    (ty ** 2).sum().backward()
    assert_grads_equal([x, *m.parameters()], [tx, *t.parameters()])
    # a plain list of callables works too
    x.grad = None
    out = checkpoint_sequential(list(m.children()), segments, x, use_reentrant=True)
    np.testing.assert_allclose(out.detach().numpy(), y.detach().numpy())


def test_checkpoint_sequential_bad_arguments():
    m, _ = twin_mlp()
    with pytest.raises(ValueError, match="segments"):
        checkpoint_sequential(m, 0, mytorch.randn(2, 4))
    with pytest.raises(ValueError, match="unexpected keyword"):
        checkpoint_sequential(m, 1, mytorch.randn(2, 4), foo=1)
