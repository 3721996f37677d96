"""Adagrad, Adadelta, Adamax, NAdam and RAdam against PyTorch: trajectories, groups, state
dicts, allocation and bad input."""
import tracemalloc

import numpy as np
import pytest
import torch

import mytorch
from mytorch import optim
from tests.optim.parity import (
    assert_close,
    check_state_dict_resume,
    grad_fn,
    make,
    pair,
    run,
    set_grads,
)

CONFIGS = [
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.02, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.3, rho=0.95, maximize=True, weight_decay=0.01)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, betas=(0.3, 0.9), eps=1e-3, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, betas=(0.4, 0.9), weight_decay=0.01, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, betas=(0.4, 0.9), weight_decay=0.01, maximize=True)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
NAMES = ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_trajectory_matches_torch(name, kw):
    mp, tp = pair()
    mopt, topt = make(name, mp, tp, **kw)
    run(mopt, topt, mp, tp, 20)
    assert_close(mp, tp, rtol=2e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_trajectory_matches_torch_float64(name, kw):
    mp, tp = pair(dtype=np.float64)
    mopt, topt = make(name, mp, tp, **kw)
    run(mopt, topt, mp, tp, 20)
    assert_close(mp, tp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_each_step_agrees_to_rounding(name, kw):
    # From the same parameters and state, one float32 step lands within a few ulp of
    # torch's (torch fuses some multiply-adds), so the formulas match term by term.
    mp, tp = pair([(64, 50)])
    mopt, topt = make(name, mp, tp, **kw)
    for k in range(12):
        set_grads(k, mp, tp)
        mp[0].data[...] = tp[0].detach().numpy()
        mopt.step()
        topt.step()
        np.testing.assert_allclose(mp[0].detach().numpy(), tp[0].detach().numpy(), rtol=5e-7,
                                   atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_noncontiguous_grads(name):
    mp, tp = pair([(6, 5), (400, 100)])
    mopt, topt = make(name, mp, tp, lr=0.01)
    for k in range(5):
        for m in mp:
            g = np.ascontiguousarray(grad_fn(m.detach().numpy(), k).T).T  # Fortran order
            m.grad = mytorch.Tensor._wrap(g)
        for t in tp:
            t.grad = torch.from_numpy(grad_fn(t.detach().numpy(), k))
        mopt.step()
        topt.step()
    assert_close(mp, tp, rtol=2e-5, atol=1e-5)


GROUP_OPTIONS = {
    "Adagrad": dict(lr_decay=0.05, weight_decay=0.1),
    "Adadelta": dict(rho=0.7, weight_decay=0.1),
    "Adamax": dict(betas=(0.5, 0.9), weight_decay=0.1),
    "NAdam": dict(momentum_decay=0.02, decoupled_weight_decay=True, weight_decay=0.1),
    "RAdam": dict(betas=(0.8, 0.95), decoupled_weight_decay=True, weight_decay=0.1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_param_groups_and_missing_grads(name, dtype):
    mp, tp = pair(dtype=dtype)
    group_kw = dict(GROUP_OPTIONS[name], lr=0.03)
    mopt = getattr(optim, name)([{"params": mp[:2]}, dict(group_kw, params=mp[2:])], lr=0.01)
    topt = getattr(torch.optim, name)([{"params": tp[:2]}, dict(group_kw, params=tp[2:])],
                                      lr=0.01)
    for k, v in group_kw.items():
        assert mopt.param_groups[1][k] == v
        assert mopt.param_groups[0][k] == topt.param_groups[0][k]
    for k in range(12):
        set_grads(k, mp, tp)
        if k % 2:  # no gradient: the parameter (and its state) must not move
            mp[1].grad, tp[1].grad = None, None
        mopt.step()
        topt.step()
    if dtype == np.float32:
        assert_close(mp, tp, rtol=2e-5, atol=1e-5)
    else:
        assert_close(mp, tp, rtol=1e-10, atol=1e-12)


STATE_CONFIGS = [
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.01)),
    ("Adamax", dict(lr=0.01, weight_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.01, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.01)),
]


@pytest.mark.parametrize("name,kw", STATE_CONFIGS, ids=[n for n, _ in STATE_CONFIGS])
def test_state_dict_format_and_resume(name, kw):
    mopt, mopt2, mp, mp2 = check_state_dict_resume(name, kw, warm_steps=8)
    for p2, p in zip(mp2, mp):
        assert mopt2.state[p2]["step"] == mopt.state[p]["step"] == 20


def test_adagrad_state_exists_from_construction():
    mp, tp = pair([(3, 2), ()])
    mopt = optim.Adagrad([{"params": mp[:1]}, {"params": mp[1:], "lr": 0.1}],
                         initial_accumulator_value=0.25)
    topt = torch.optim.Adagrad([{"params": tp[:1]}, {"params": tp[1:], "lr": 0.1}],
                               initial_accumulator_value=0.25)
    msd, tsd = mopt.state_dict(), topt.state_dict()
    assert set(msd["state"]) == set(tsd["state"]) == {0, 1}
    for i in (0, 1):
        assert msd["state"][i]["step"].item() == 0.0
        np.testing.assert_array_equal(msd["state"][i]["sum"].numpy(),
                                      tsd["state"][i]["sum"].numpy())
    # A group added later starts from the constructor's accumulator value, as in torch.
    extra_m, extra_t = pair([(2,)], seed=1)
    mopt.add_param_group({"params": extra_m, "initial_accumulator_value": 3.0})
    topt.add_param_group({"params": extra_t, "initial_accumulator_value": 3.0})
    run(mopt, topt, mp + extra_m, tp + extra_t, 3)
    np.testing.assert_allclose(mopt.state[extra_m[0]]["sum"].numpy(),
                               topt.state[extra_t[0]]["sum"].numpy(), rtol=1e-6)
    assert_close(mp + extra_m, tp + extra_t, rtol=2e-5, atol=1e-5)


def test_nadam_mu_product_is_float32_like_torch():
    mp, tp = pair([(4,)], dtype=np.float64)
    mopt, topt = make("NAdam", mp, tp, lr=0.01, momentum_decay=0.05)
    for k in range(20):
        run(mopt, topt, mp, tp, 1, start=k)
        assert mopt.state[mp[0]]["mu_product"] == topt.state[tp[0]]["mu_product"].item()
    sd = mopt.state_dict()["state"][0]["mu_product"]
    assert sd.dtype == np.float32 and sd.shape == ()
    assert_close(mp, tp, rtol=1e-10, atol=1e-12)


def test_radam_early_steps_are_unrectified():
    # rho_t <= 5 for the first steps (beta2=0.999: steps 1-5): a plain bias-corrected
    # momentum step, so with a constant gradient the parameter moves by exactly lr * g.
    p = mytorch.tensor([1.0, -2.0], dtype="float64").requires_grad_()
    opt = optim.RAdam([p], lr=0.1)
    for _ in range(3):
        p.grad = mytorch.tensor([2.0, -3.0], dtype="float64")
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.4, -1.1], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_step_allocates_nothing(name):
    params = [mytorch.randn(256, 256).requires_grad_() for _ in range(4)]
    for p in params:
        p.grad = mytorch.randn(256, 256)
    kw = dict(weight_decay=0.1)
    if name in ("NAdam", "RAdam"):
        kw["decoupled_weight_decay"] = True
    opt = getattr(optim, name)(params, **kw)
    for _ in range(6):  # state and work buffers exist from here on (and RAdam rectifies)
        opt.step()
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


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    mp, tp = pair([(2,)])
    mopt, topt = make(name, mp, tp)
    for k, v in mopt.defaults.items():
        assert topt.defaults[k] == v, k
    assert name + " (" in repr(mopt)


def test_bad_arguments():
    p = mytorch.ones(2).requires_grad_()
    with pytest.raises(ValueError, match="Adagrad: invalid lr_decay"):
        optim.Adagrad([p], lr_decay=-0.1)
    with pytest.raises(ValueError, match="Adagrad: invalid initial_accumulator_value"):
        optim.Adagrad([p], initial_accumulator_value=-1.0)
    with pytest.raises(ValueError, match="Adadelta: invalid rho"):
        optim.Adadelta([p], rho=1.5)
    with pytest.raises(ValueError, match="Adadelta: invalid lr"):
        optim.Adadelta([p], lr=-1.0)
    with pytest.raises(ValueError, match="Adamax: invalid betas"):
        optim.Adamax([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="NAdam: invalid momentum_decay"):
        optim.NAdam([p], momentum_decay=-1e-3)
    with pytest.raises(ValueError, match="RAdam: invalid betas"):
        optim.RAdam([p], betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="RAdam: invalid eps"):
        optim.RAdam([p], eps=-1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.NAdam([])
