"""Learning-rate schedules against PyTorch's, step by step."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
from mytorch import optim
from mytorch.optim import lr_scheduler as lrs

STEPS = 40


def _opts(kind="SGD", **kw):
    mp = [mytorch.ones(2).requires_grad_(), mytorch.ones(3).requires_grad_()]
    tp = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))]
    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}]
    return getattr(optim, kind)(groups(mp), lr=0.1, **kw), \
        getattr(torch.optim, kind)(groups(tp), lr=0.1, **kw)


def _compare(make, kind="SGD", steps=STEPS, opt_kw=None, extra=None):
    mopt, topt = _opts(kind, **(opt_kw or {}))
    msched, tsched = make(lrs, mopt), make(torch.optim.lr_scheduler, topt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when no optimizer.step() ran
        for _ in range(steps):
            np.testing.assert_allclose(msched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                                       atol=1e-15)
            for mg, tg in zip(mopt.param_groups, topt.param_groups):
                assert mg["lr"] == pytest.approx(tg["lr"], rel=1e-12, abs=1e-15)
                for k in extra or ():
                    np.testing.assert_allclose(mg[k], tg[k], rtol=1e-12)
            mopt.step()
            topt.step()
            msched.step()
            tsched.step()
    return msched, tsched


SCHEDULES = {
    "step": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.3),
    "constant": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.93),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
    "linear": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=15),
    "lambda": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1 + e) ** 0.5),
    "lambda-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: e % 3 + 1]),
    "warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.01, total_iters=8), m.CosineAnnealingLR(o, T_max=30)],
        milestones=[8]),
    "three-stage": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=5)], milestones=[5, 20]),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name):
    _compare(SCHEDULES[name])


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_sgd_momentum(strategy, three_phase):
    make = lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS,
                                     anneal_strategy=strategy, three_phase=three_phase)
    _compare(make, "SGD", opt_kw=dict(momentum=0.9), extra=("momentum",))


def test_one_cycle_adam_betas_and_epochs():
    make = lambda m, o: m.OneCycleLR(o, max_lr=0.3, epochs=4, steps_per_epoch=9,
                                     pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
    _compare(make, "AdamW", steps=36, extra=("betas",))
    mopt, _ = _opts("AdamW")
    sched = lrs.OneCycleLR(mopt, max_lr=0.3, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="total_steps is 3"):
        sched.step()


def test_one_cycle_bad_arguments():
    mopt, _ = _opts()
    with pytest.raises(ValueError, match="total_steps"):
        lrs.OneCycleLR(mopt, max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lrs.OneCycleLR(mopt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum"):
        lrs.OneCycleLR(_NoMomentum([mytorch.ones(1).requires_grad_()], {"lr": 0.1}),
                       max_lr=0.1, total_steps=10)


class _NoMomentum(optim.Optimizer):
    def _update_group(self, group):
        pass


def test_state_dict_resume():
    def make(m, o):
        return m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                  m.CosineAnnealingLR(o, T_max=20)], milestones=[5])

    mopt, _ = _opts()
    sched = make(lrs, mopt)
    for _ in range(9):
        mopt.step()
        sched.step()
    saved_opt, saved = mopt.state_dict(), sched.state_dict()
    expected = []
    for _ in range(10):
        mopt.step()
        sched.step()
        expected.append(sched.get_last_lr())

    mopt2, _ = _opts()
    sched2 = make(lrs, mopt2)
    mopt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    got = []
    for _ in range(10):
        mopt2.step()
        sched2.step()
        got.append(sched2.get_last_lr())
    assert got == expected
    assert saved["last_epoch"] == 9 and len(saved["_schedulers"]) == 2


def test_closed_form_epoch_and_resume_requires_initial_lr():
    mopt, topt = _opts()
    m, t = lrs.StepLR(mopt, step_size=3, gamma=0.5), torch.optim.lr_scheduler.StepLR(
        topt, step_size=3, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.step(10)
        t.step(10)
    np.testing.assert_allclose(m.get_last_lr(), t.get_last_lr())
    fresh, _ = _opts()
    with pytest.raises(KeyError, match="initial_lr"):
        lrs.StepLR(fresh, step_size=3, last_epoch=5)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lrs.StepLR(object(), step_size=3)
    with pytest.raises(ValueError, match="2 lr_lambdas"):
        lrs.LambdaLR(fresh, [lambda e: 1.0])
