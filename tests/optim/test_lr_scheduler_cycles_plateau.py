"""MultiplicativeLR, PolynomialLR, CosineAnnealingWarmRestarts, CyclicLR, ChainedScheduler and
ReduceLROnPlateau against PyTorch's, step by step, and resumed from state dicts."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
from mytorch import optim
from mytorch.optim import lr_scheduler as lrs

STEPS = 50


def _opts(kind="SGD", **kw):
    mp = [mytorch.ones(2).requires_grad_(), mytorch.ones(3).requires_grad_()]
    tp = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))]

    def groups(ps):
        return [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}]

    return getattr(optim, kind)(groups(mp), lr=0.1, **kw), \
        getattr(torch.optim, kind)(groups(tp), lr=0.1, **kw)


def _check_groups(mopt, topt, extra=()):
    for mg, tg in zip(mopt.param_groups, topt.param_groups):
        assert mg["lr"] == pytest.approx(tg["lr"], rel=1e-12, abs=1e-15)
        for k in extra:
            np.testing.assert_allclose(mg[k], tg[k], rtol=1e-12, atol=1e-15)


def _assert_steps(msched, tsched, mopt, topt, steps, extra=(), step_args=None):
    """Step both `steps` times (optimizer first), checking the lrs before every step;
    returns mytorch's lr sequence."""
    seq = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about step(epoch) and step order
        for i in range(steps):
            np.testing.assert_allclose(msched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                                       atol=1e-15)
            _check_groups(mopt, topt, extra)
            seq.append(list(msched.get_last_lr()))
            mopt.step()
            topt.step()
            args = step_args(i) if step_args else ()
            msched.step(*args)
            tsched.step(*args)
    return seq


class Halve:
    """A callable object (its state goes into state dicts, unlike a lambda's)."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 if epoch % self.every == 0 else 1.0


SCHEDULES = {
    "multiplicative": (lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.95), "SGD"),
    "multiplicative-per-group": (lambda m, o: m.MultiplicativeLR(
        o, [lambda e: 0.9, Halve(5)]), "SGD"),
    "polynomial-default": (lambda m, o: m.PolynomialLR(o), "SGD"),
    "polynomial": (lambda m, o: m.PolynomialLR(o, total_iters=30, power=0.9), "SGD"),
    "polynomial-square": (lambda m, o: m.PolynomialLR(o, total_iters=40, power=2.0), "SGD"),
    "warm-restarts": (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7), "SGD"),
    "warm-restarts-mult": (lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.001), "SGD"),
    "cyclic-triangular": (lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=6), "SGD"),
    "cyclic-triangular2": (lambda m, o: m.CyclicLR(
        o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=5, step_size_down=8,
        mode="triangular2"), "SGD"),
    "cyclic-exp-range": (lambda m, o: m.CyclicLR(
        o, base_lr=0.001, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.97,
        base_momentum=[0.7, 0.75], max_momentum=0.95), "SGD"),
    "cyclic-custom": (lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=7, scale_fn=lambda x: 1 / (1 + 0.1 * x),
        scale_mode="iterations"), "SGD"),
    "cyclic-adam-betas": (lambda m, o: m.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=9, mode="triangular2"), "Adam"),
    "cyclic-no-momentum": (lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False), "Adagrad"),
    "chained": (lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.1, total_iters=20), m.ExponentialLR(o, gamma=0.9)]), "SGD"),
    "chained-three": (lambda m, o: m.ChainedScheduler(
        [m.MultiplicativeLR(o, lambda e: 0.98), m.PolynomialLR(o, total_iters=45),
         m.StepLR(o, step_size=10, gamma=0.5)], optimizer=o), "SGD"),
}
EXTRA = {"SGD": ("momentum",), "Adam": ("betas",), "Adagrad": ()}


def _opt_kw(kind):
    return dict(momentum=0.9) if kind == "SGD" else {}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name):
    make, kind = SCHEDULES[name]
    mopt, topt = _opts(kind, **_opt_kw(kind))
    msched, tsched = make(lrs, mopt), make(torch.optim.lr_scheduler, topt)
    extra = EXTRA[kind] if name.startswith("cyclic") else ()
    _assert_steps(msched, tsched, mopt, topt, STEPS, extra)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_state_dict_resume(name):
    make, kind = SCHEDULES[name]
    mopt, topt = _opts(kind, **_opt_kw(kind))
    msched, tsched = make(lrs, mopt), make(torch.optim.lr_scheduler, topt)
    extra = EXTRA[kind] if name.startswith("cyclic") else ()
    _assert_steps(msched, tsched, mopt, topt, 20, extra)
    saved_opt, saved = mopt.state_dict(), msched.state_dict()
    torch_saved = tsched.state_dict()
    ignore = {"_get_lr_called_within_step"}  # torch's bookkeeping for a warning
    assert set(saved) == set(torch_saved) - ignore
    rest = _assert_steps(msched, tsched, mopt, topt, 30, extra)

    # A fresh pair (constructed, then loaded, as torch documents) continues identically.
    mopt2, _ = _opts(kind, **_opt_kw(kind))
    msched2 = make(lrs, mopt2)
    mopt2.load_state_dict(saved_opt)
    msched2.load_state_dict(saved)
    got = []
    for _ in range(30):
        got.append(list(msched2.get_last_lr()))
        mopt2.step()
        msched2.step()
    assert got == rest
    # ... and so does one loaded from torch's scheduler state dict.
    mopt3, _ = _opts(kind, **_opt_kw(kind))
    msched3 = make(lrs, mopt3)
    mopt3.load_state_dict(saved_opt)
    msched3.load_state_dict(torch_saved)
    got = []
    for _ in range(30):
        got.append(list(msched3.get_last_lr()))
        mopt3.step()
        msched3.step()
    np.testing.assert_allclose(got, rest, rtol=1e-12)


def test_multiplicative_state_keeps_callable_objects():
    mopt, _ = _opts()
    halve = Halve(4)
    sched = lrs.MultiplicativeLR(mopt, [lambda e: 0.9, halve])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"every": 4}]
    halve.every = 99
    sched.load_state_dict(sd)
    assert halve.every == 4


def test_cyclic_custom_scale_object_in_state_dict():
    class Scale:
        def __init__(self):
            self.k = 0.5

        def __call__(self, x):
            return self.k

    mopt, _ = _opts()
    fn = Scale()
    sched = lrs.CyclicLR(mopt, 0.01, 0.1, step_size_up=4, scale_fn=fn)
    sd = sched.state_dict()
    assert sd["_scale_fn_custom"] == {"k": 0.5} and "_scale_fn_ref" not in sd
    fn.k = 0.1
    sched.load_state_dict(sd)
    assert fn.k == 0.5


@pytest.mark.parametrize("T_0,T_mult", [(5, 1), (3, 2), (2, 3)])
def test_warm_restarts_fractional_epochs(T_0, T_mult):
    make = lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult,  # noqa: E731
                                                      eta_min=0.002)
    mopt, topt = _opts()
    msched, tsched = make(lrs, mopt), make(torch.optim.lr_scheduler, topt)
    iters = 7
    _assert_steps(msched, tsched, mopt, topt, 20 * iters,
           step_args=lambda i: ((i + 1) // iters + ((i + 1) % iters) / iters,))
    assert msched.T_cur == pytest.approx(tsched.T_cur, rel=1e-12)
    assert msched.T_i == tsched.T_i and msched.last_epoch == tsched.last_epoch
    # Jumping to an epoch, then stepping on from there, as torch does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msched.step(26.5)
        tsched.step(26.5)
    _assert_steps(msched, tsched, mopt, topt, 10)


def test_polynomial_closed_form_epoch():
    mopt, topt = _opts()
    m = lrs.PolynomialLR(mopt, total_iters=12, power=1.5)
    t = torch.optim.lr_scheduler.PolynomialLR(topt, total_iters=12, power=1.5)
    _assert_steps(m, t, mopt, topt, 4, step_args=lambda i: ((3, 9, 15, 2)[i],))
    np.testing.assert_allclose(m.get_last_lr(), t.get_last_lr(), rtol=1e-12)


METRICS = [1.0, 0.9, 0.85, 0.85, 0.86, 0.8499, 0.84995, 0.9, 0.9, 0.9, 0.7, 0.7, 0.71, 0.72,
           0.7, 0.69999, 0.65, 0.66, 0.67, 0.68, 0.69, 0.7, 0.6, 0.6, 0.6, 0.61, 0.5, 0.5]


@pytest.mark.parametrize("kw", [
    dict(),
    dict(patience=0),
    dict(patience=2, factor=0.5, cooldown=2),
    dict(patience=1, factor=0.3, threshold=0.01, threshold_mode="abs", min_lr=0.004),
    dict(patience=1, factor=0.2, min_lr=[0.001, 0.002], eps=1e-3),
    dict(mode="max", patience=1, factor=0.5),
    dict(mode="max", patience=0, threshold=0.05, threshold_mode="abs", cooldown=1),
], ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "defaults")
def test_reduce_on_plateau_matches_torch(kw):
    mopt, topt = _opts()
    msched = lrs.ReduceLROnPlateau(mopt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    metrics = METRICS + [0.5 + 0.01 * (i % 4) for i in range(22)]  # 50 steps
    if kw.get("mode") == "max":
        metrics = [-x for x in metrics]
    for i, x in enumerate(metrics):
        mopt.step()
        topt.step()
        msched.step(mytorch.tensor(x, dtype="float64") if i % 2 else x)  # a 0-d tensor too
        tsched.step(x)
        assert msched.get_last_lr() == tsched.get_last_lr()
        _check_groups(mopt, topt)
        for k in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            assert getattr(msched, k) == getattr(tsched, k), k
    assert mopt.param_groups[0]["lr"] < 0.1  # the sequence did reduce


def test_reduce_on_plateau_state_dict_resume():
    kw = dict(patience=1, factor=0.5, cooldown=1, mode="max", threshold_mode="abs")
    metrics = [-x for x in METRICS]
    mopt, topt = _opts()
    msched = lrs.ReduceLROnPlateau(mopt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for x in metrics[:12]:
        msched.step(x)
        tsched.step(x)
    saved, torch_saved = msched.state_dict(), tsched.state_dict()
    assert set(saved) == set(torch_saved)
    saved_opt = mopt.state_dict()
    for saved_sched in (saved, torch_saved):
        mopt2, _ = _opts()
        sched2 = lrs.ReduceLROnPlateau(mopt2)  # mode etc. come from the state dict
        mopt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved_sched)
        assert sched2.mode_worse == -float("inf")
        for x in metrics[12:]:
            sched2.step(x)
        if saved_sched is saved:
            for x in metrics[12:]:
                tsched.step(x)
        assert sched2.get_last_lr() == tsched.get_last_lr()
        assert sched2.best == tsched.best


def test_reduce_on_plateau_added_group():
    mopt, _ = _opts()
    sched = lrs.ReduceLROnPlateau(mopt, patience=0, min_lr=0.01)
    mopt.add_param_group({"params": [mytorch.ones(1).requires_grad_()], "lr": 0.2})
    for x in (1.0, 2.0):
        sched.step(x)
    assert sched.get_last_lr() == pytest.approx([0.01, 0.01, 0.02])
    fixed = lrs.ReduceLROnPlateau(_opts()[0], patience=0, min_lr=[0.0, 0.0])
    fixed.optimizer.add_param_group({"params": [mytorch.ones(1).requires_grad_()]})
    fixed.step(1.0)
    with pytest.raises(RuntimeError, match="ReduceLROnPlateau: the optimizer has 3"):
        fixed.step(2.0)


def test_chained_inside_sequential_matches_torch():
    # The chain comes first: a later child is restarted with _update_lr(0), which torch's
    # ChainedScheduler does not support either.
    def make(m, o):
        chained = m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=6),
                                      m.ExponentialLR(o, gamma=0.95)])
        return m.SequentialLR(o, [chained, m.CosineAnnealingLR(o, T_max=30)],
                              milestones=[12])

    mopt, topt = _opts(momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: the chain steps before optimizer.step()
        tsched = make(torch.optim.lr_scheduler, topt)
    _assert_steps(make(lrs, mopt), tsched, mopt, topt, STEPS)


def test_bad_arguments():
    mopt, _ = _opts()
    with pytest.raises(ValueError, match="positive integer T_0"):
        lrs.CosineAnnealingWarmRestarts(mopt, T_0=0)
    with pytest.raises(ValueError, match="T_mult >= 1"):
        lrs.CosineAnnealingWarmRestarts(mopt, T_0=3, T_mult=0)
    with pytest.raises(ValueError, match="non-negative epoch"):
        lrs.CosineAnnealingWarmRestarts(mopt, T_0=3).step(-1)
    with pytest.raises(ValueError, match="CyclicLR: mode"):
        lrs.CyclicLR(mopt, 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="2 values for max_lr"):
        lrs.CyclicLR(mopt, 0.01, [0.1, 0.2, 0.3])
    adagrad, _ = _opts("Adagrad")
    with pytest.raises(ValueError, match="momentum or beta1"):
        lrs.CyclicLR(adagrad, 0.01, 0.1)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lrs.CyclicLR(object(), 0.01, 0.1)
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        lrs.ReduceLROnPlateau(mopt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        lrs.ReduceLROnPlateau(mopt, mode="up")
    with pytest.raises(ValueError, match="threshold_mode"):
        lrs.ReduceLROnPlateau(mopt, threshold_mode="pct")
    with pytest.raises(ValueError, match="2 values for min_lr"):
        lrs.ReduceLROnPlateau(mopt, min_lr=[0.1])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        lrs.ChainedScheduler([lrs.ReduceLROnPlateau(mopt)])
    other, _ = _opts()
    with pytest.raises(ValueError, match="different optimizer"):
        lrs.ChainedScheduler([lrs.StepLR(mopt, 3), lrs.StepLR(other, 3)])
    with pytest.raises(ValueError, match="at least one"):
        lrs.ChainedScheduler([])
    with pytest.raises(TypeError, match="MultiplicativeLR: lr_lambda should be a function"):
        lrs.MultiplicativeLR(mopt, 0.9)
    with pytest.raises(ValueError, match="MultiplicativeLR: expected 2 lr_lambdas"):
        lrs.MultiplicativeLR(mopt, [lambda e: 0.9])
