"""Optimizers against PyTorch: 20-step trajectories, groups, state dicts, bad input."""
import tracemalloc

import numpy as np
import pytest
import torch

import mytorch
from mytorch import optim
from mytorch.optim import _fused
from tests.optim.parity import assert_close, check_state_dict_resume, grad_fn, pair, run


def _param(t):
    # Leaf tensors stand in for nn.Parameter, so these tests do not depend on mytorch.nn.
    return t.detach().requires_grad_()


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, maximize=True, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.45, momentum=0.5, centered=True, maximize=True,
                     weight_decay=0.01)),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "ufunc"])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in
                                                  enumerate(CONFIGS)])
def test_trajectory_matches_torch(name, kw, fused, monkeypatch):
    # fused: the numba loops where they apply; ufunc: the blocked NumPy reference everywhere.
    if not fused:
        monkeypatch.setattr(_fused, "available", lambda *arrays: False)
    mp, tp = pair()
    mopt, topt = getattr(optim, name)(mp, **kw), getattr(torch.optim, name)(tp, **kw)
    run(mopt, topt, mp, tp, 20)
    assert_close(mp, tp)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
                                     ("AdamW", dict(lr=0.01)),
                                     ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_noncontiguous_grads(name, kw):
    mp, tp = pair([(6, 5), (400, 100)])
    mopt, topt = getattr(optim, name)(mp, **kw), getattr(torch.optim, name)(tp, **kw)
    for k in range(5):
        for m, t in zip(mp, tp):
            g = np.ascontiguousarray(grad_fn(m.detach().numpy(), k).T).T  # Fortran order
            m.grad = mytorch.Tensor._wrap(g)
            t.grad = torch.from_numpy(grad_fn(t.detach().numpy(), k))
        mopt.step()
        topt.step()
    assert_close(mp, tp)


def test_param_groups_and_missing_grads():
    mp, tp = pair()
    mopt = optim.SGD([{"params": mp[:2]}, {"params": mp[2:], "lr": 0.01, "momentum": 0.5}],
                     lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.01,
                                                 "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert mopt.param_groups[1]["momentum"] == 0.5 and mopt.param_groups[0]["momentum"] == 0.9
    for k in range(10):
        for i, (m, t) in enumerate(zip(mp, tp)):
            if i == 1 and k % 2:  # no gradient: the parameter must not move
                m.grad, t.grad = None, None
                continue
            m.grad = mytorch.tensor(grad_fn(m.detach().numpy(), k))
            t.grad = torch.from_numpy(grad_fn(t.detach().numpy(), k))
        mopt.step()
        topt.step()
    assert_close(mp, tp)


def test_add_param_group_and_modules():
    w = _param(mytorch.ones(3))
    b = _param(mytorch.zeros(2))
    opt = optim.Adam([w], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    assert opt.param_groups[1]["params"] == [b]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


def test_closure_and_zero_grad():
    mp, _ = pair([(3,)])
    opt = optim.SGD(mp, lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (mp[0] * mp[0]).sum()
        loss.backward()
        calls.append(1)
        return loss

    before = mp[0].detach().numpy().copy()
    loss = opt.step(closure)
    assert calls and abs(loss.item() - float((before ** 2).sum())) < 1e-5
    np.testing.assert_allclose(mp[0].detach().numpy(), before - 0.1 * 2 * before, rtol=1e-6)
    opt.zero_grad(set_to_none=False)
    assert mp[0].grad is not None and not mp[0].grad.numpy().any()
    opt.zero_grad()
    assert mp[0].grad is None


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)),
                                     ("AdamW", dict(lr=0.01, amsgrad=True)),
                                     ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_state_dict_format_and_resume(name, kw):
    check_state_dict_resume(name, kw, warm_steps=5)


def test_load_state_dict_does_not_alias_and_validates():
    mp, _ = pair()
    opt = optim.Adam(mp, lr=0.1)
    for m in mp:
        m.grad = mytorch.ones_like(m)
    opt.step()
    sd = opt.state_dict()
    other = optim.Adam([_param(mytorch.tensor(m.detach().numpy())) for m in mp])
    other.load_state_dict(sd)
    q = other.param_groups[0]["params"][0]
    assert other.state[q]["exp_avg"].data is not opt.state[mp[0]]["exp_avg"].data
    before = {id(p): dict(s) for p, s in other.state.items()}
    with pytest.raises(ValueError, match="parameter group 0 has 5 parameters .* but 3"):
        optim.Adam(mp[:3]).load_state_dict(sd)
    with pytest.raises(ValueError, match="2 parameter groups"):
        optim.Adam([{"params": mp[:2]}]).load_state_dict(
            {"state": {}, "param_groups": sd["param_groups"] * 2})
    bad = {"state": {0: dict(sd["state"][0], exp_avg=mytorch.zeros(7))},
           "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="exp_avg.*shape"):
        other.load_state_dict(bad)
    assert {id(p): dict(s) for p, s in other.state.items()} == before


def test_bad_arguments():
    p = _param(mytorch.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True,
                                                  weight_decay=0.1)),
                                     ("AdamW", dict(lr=0.01)),
                                     ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
                                     ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_step_allocates_nothing(name, kw):
    params = [_param(mytorch.randn(256, 256)) for _ in range(4)]
    for p in params:
        p.grad = mytorch.randn(256, 256)
    opt = getattr(optim, name)(params, **kw)
    opt.step()
    opt.step()  # state and work buffers exist from here on
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        opt.step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 256 * 256 * 4 // 4, f"{name}.step allocated {peak} bytes"
    assert all(p.dtype == np.float32 and p.data.flags.c_contiguous for p in params)


def test_trains_a_small_model():
    rng = np.random.default_rng(0)
    x = mytorch.tensor(rng.standard_normal((64, 3)).astype(np.float32))
    y = x @ mytorch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    w = _param(mytorch.zeros(3, 1))
    b = _param(mytorch.zeros(1))
    opt = optim.AdamW([w, b], lr=0.05, weight_decay=0.0)
    for _ in range(300):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3


def test_repr():
    opt = optim.SGD([_param(mytorch.ones(1))], lr=0.1)
    assert "SGD (" in repr(opt) and "lr: 0.1" in repr(opt)
