"""LBFGS against PyTorch: trajectories, losses and evaluation counts on three problems, with
and without the strong-Wolfe line search; state dicts; bad input."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch import optim

RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((20, 5)), RNG.standard_normal(20)
X, Y = RNG.standard_normal((16, 3)), RNG.standard_normal((16, 1))


def _least_squares(ps, c):
    (x,) = ps
    r = c["A"] @ x - c["B"]
    return (r * r).sum()


def _rosenbrock(ps, c):
    (x,) = ps
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _mlp(ps, c):
    w1, w2 = ps
    return ((((c["X"] @ w1).tanh()) @ w2 - c["Y"]) ** 2).mean()


PROBLEMS = {
    "least_squares": (_least_squares, [RNG.standard_normal(5)]),
    "rosenbrock": (_rosenbrock, [np.array([-1.2, 1.0, -0.5, 0.8, 1.5])]),
    "mlp": (_mlp, [0.5 * RNG.standard_normal((3, 8)), 0.5 * RNG.standard_normal((8, 1))]),
}
CONSTS = {"A": A, "B": B, "X": X, "Y": Y}

CONFIGS = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=7, history_size=3),
    dict(max_iter=10, max_eval=12, history_size=4, line_search_fn="strong_wolfe"),
    dict(lr=0.8, max_iter=6, tolerance_change=1e-6, line_search_fn="strong_wolfe"),
    # a short first trial step (the bracket grows by extrapolation) and a long one (zoom)
    dict(lr=0.02, max_iter=8, line_search_fn="strong_wolfe"),
    dict(lr=30.0, max_iter=8, history_size=5, line_search_fn="strong_wolfe"),
    # stopping early: line search out of evaluations; a large tolerance_change (which the
    # line search does not use); a tiny step
    dict(lr=1e-3, max_iter=4, max_eval=3, line_search_fn="strong_wolfe"),
    dict(lr=30.0, max_iter=6, tolerance_change=100.0, line_search_fn="strong_wolfe"),
    dict(lr=1e-4, max_iter=10, tolerance_change=1e-3),
]
# Without a line search a full step (lr=1) overshoots badly on Rosenbrock: lr <= 1e-3 there.
SAFE_LR = {"rosenbrock": 1e-3}


class _Side:
    """One library's copy of a problem: parameters, optimizer, closure and a call counter."""

    def __init__(self, lib, problem, dtype, device="cpu", **kw):
        fn, inits = PROBLEMS[problem]
        self.calls = 0
        if lib is torch:
            self.params = [torch.nn.Parameter(torch.tensor(a.astype(dtype))) for a in inits]
            self.consts = {k: torch.tensor(v.astype(dtype)) for k, v in CONSTS.items()}
            self.opt = torch.optim.LBFGS(self.params, **kw)
        else:
            self.params = [mytorch.Tensor(a.astype(dtype), device=device, requires_grad=True)
                           for a in inits]
            self.consts = {k: mytorch.Tensor(v.astype(dtype), device=device)
                           for k, v in CONSTS.items()}
            self.opt = optim.LBFGS(self.params, **kw)
        self.fn = fn

    def closure(self):
        self.calls += 1
        self.opt.zero_grad()
        loss = self.fn(self.params, self.consts)
        loss.backward()
        return loss

    def step(self):
        return self.opt.step(self.closure).item()

    def values(self):
        return [p.detach().numpy().copy() for p in self.params]

    def state(self):
        return self.opt.state[self.params[0]]


def _kw(problem, kw):
    if "line_search_fn" not in kw and problem in SAFE_LR:
        return dict(kw, lr=min(kw.get("lr", 1), SAFE_LR[problem]))
    return kw


def _assert_same(m, t, rtol, atol):
    for a, b in zip(m.values(), t.values()):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# Rounding differences (torch fuses multiply-adds, sums in another order) grow along a
# trajectory as they would from any 1-ulp change of the start: on the MLP, torch itself moves
# by ~1e-9 after 80 iterations from a start changed by one ulp. So free-running trajectories
# get a per-problem tolerance, and single steps from torch's own state get a tight one.
TRAJECTORY_RTOL = {"least_squares": 1e-10, "rosenbrock": 1e-8, "mlp": 1e-5}


def _convert(v):
    """A torch state value as a mytorch one (lists of tensors too)."""
    if isinstance(v, list):
        return [_convert(a) for a in v]
    return mytorch.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v


def _sync(m, t):
    """Put torch's parameters and optimizer state into the mytorch side."""
    for p, q in zip(m.params, t.params):
        p.data[...] = q.detach().numpy()
    sd = t.opt.state_dict()
    m.opt.load_state_dict({"state": {i: {k: _convert(v) for k, v in s.items()}
                                     for i, s in sd["state"].items()},
                           "param_groups": sd["param_groups"]})


def _assert_state_close(sm, st, rtol):
    assert set(sm) == set(st)
    assert sm["func_evals"] == st["func_evals"] and sm["n_iter"] == st["n_iter"]
    assert len(sm["old_dirs"]) == len(st["old_dirs"])
    for k in ("d", "prev_flat_grad"):
        np.testing.assert_allclose(sm[k].numpy(), st[k].numpy(), rtol=rtol, atol=rtol * 1e-2)
    for k in ("t", "H_diag", "prev_loss"):
        np.testing.assert_allclose(float(sm[k]), float(st[k]), rtol=rtol)
    for k in ("old_dirs", "old_stps", "ro"):
        for a, b in zip(sm[k], st[k]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("kw", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_trajectory_matches_torch_float64(problem, kw, device):
    kw, rtol = _kw(problem, kw), TRAJECTORY_RTOL[problem]
    m = _Side(mytorch, problem, np.float64, device, **kw)
    t = _Side(torch, problem, np.float64, **kw)
    for _ in range(4):
        np.testing.assert_allclose(m.step(), t.step(), rtol=rtol, atol=1e-12)
        _assert_same(m, t, rtol=rtol, atol=rtol * 1e-2)
        assert m.state()["func_evals"] == t.state()["func_evals"] == t.calls == m.calls
        assert m.state()["n_iter"] == t.state()["n_iter"]
    assert len(m.state()["old_dirs"]) <= kw.get("history_size", 100)
    _assert_state_close(m.state(), t.state(), rtol=1e3 * rtol)


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("kw", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_each_step_from_torch_state_agrees_to_rounding(problem, kw):
    # Every step starts from torch's parameters and state (loaded through load_state_dict).
    kw = _kw(problem, kw)
    m, t = _Side(mytorch, problem, np.float64, **kw), _Side(torch, problem, np.float64, **kw)
    for _ in range(4):
        _sync(m, t)
        np.testing.assert_allclose(m.step(), t.step(), rtol=1e-11, atol=1e-14)
        _assert_same(m, t, rtol=1e-9, atol=1e-11)
        _assert_state_close(m.state(), t.state(), rtol=1e-8)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_float32_mlp(line_search_fn):
    kw = dict(max_iter=5, line_search_fn=line_search_fn)
    m, t = _Side(mytorch, "mlp", np.float32, **kw), _Side(torch, "mlp", np.float32, **kw)
    for _ in range(2):
        np.testing.assert_allclose(m.step(), t.step(), rtol=1e-4)
        assert m.state()["func_evals"] == t.state()["func_evals"]
    _assert_same(m, t, rtol=1e-3, atol=1e-4)
    assert m.state()["d"].dtype == mytorch.float32


def test_converged_start_returns_after_one_evaluation():
    # The least-squares minimum: the first gradient is below tolerance_grad, nothing moves.
    x0 = np.linalg.lstsq(A, B, rcond=None)[0]
    p = mytorch.tensor(x0.copy()).requires_grad_()
    tp = torch.nn.Parameter(torch.tensor(x0.copy()))
    mopt, topt = optim.LBFGS([p], tolerance_grad=1e-5), torch.optim.LBFGS([tp], tolerance_grad=1e-5)

    def closure(opt, x, c):
        opt.zero_grad()
        loss = _least_squares([x], c)
        loss.backward()
        return loss

    lm = mopt.step(lambda: closure(mopt, p, {"A": mytorch.tensor(A), "B": mytorch.tensor(B)}))
    lt = topt.step(lambda: closure(topt, tp, {"A": torch.tensor(A), "B": torch.tensor(B)}))
    np.testing.assert_allclose(lm.item(), lt.item(), rtol=1e-9)
    np.testing.assert_array_equal(p.detach().numpy(), x0)
    assert mopt.state[p] == {"func_evals": 1, "n_iter": 0} == topt.state[tp]


def test_returns_first_loss_and_runs_under_no_grad():
    m = _Side(mytorch, "mlp", np.float64, max_iter=3)
    first = float(m.fn(m.params, m.consts))
    with mytorch.no_grad():  # the closure still records its graph
        loss = m.opt.step(m.closure)
    assert isinstance(loss, mytorch.Tensor) and float(loss) == first
    assert float(m.fn(m.params, m.consts)) < first


def test_bumps_parameter_versions():
    m = _Side(mytorch, "least_squares", np.float64, max_iter=2)
    (x,) = m.params
    y = (x * x).sum()  # saves x for backward
    m.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation|in.?place"):
        y.backward()


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_resume(line_search_fn):
    kw = dict(max_iter=5, history_size=3, line_search_fn=line_search_fn)
    m, t = _Side(mytorch, "mlp", np.float64, **kw), _Side(torch, "mlp", np.float64, **kw)
    for _ in range(2):
        m.step(), t.step()
    msd, tsd = m.opt.state_dict(), t.opt.state_dict()
    assert set(msd["state"]) == set(tsd["state"]) == {0}
    assert set(msd["state"][0]) == set(tsd["state"][0])
    assert msd["param_groups"] == tsd["param_groups"]

    # From mytorch's state dict: continues exactly like the uninterrupted optimizer.
    m2 = _Side(mytorch, "mlp", np.float64, lr=123.0)
    for p, q in zip(m2.params, m.params):
        p.data[...] = q.data
    m2.opt.load_state_dict(msd)
    assert m2.opt.param_groups[0]["lr"] == 1
    assert m2.state()["d"].data is not m.state()["d"].data

    # From torch's state dict (its tensors converted): continues like torch.
    m3 = _Side(mytorch, "mlp", np.float64)
    for p, q in zip(m3.params, t.params):
        p.data[...] = q.detach().numpy()
    m3.opt.load_state_dict({"state": {0: {k: _convert(v) for k, v in tsd["state"][0].items()}},
                            "param_groups": tsd["param_groups"]})
    for _ in range(3):
        l1, l2, l3, lt = m.step(), m2.step(), m3.step(), t.step()
        assert l1 == l2
        np.testing.assert_allclose(l3, lt, rtol=1e-9)
    for a, b in zip(m.values(), m2.values()):
        np.testing.assert_array_equal(a, b)
    _assert_same(m3, t, rtol=1e-9, atol=1e-11)
    assert m3.state()["func_evals"] == t.state()["func_evals"]


def test_load_state_dict_checks_flat_sizes():
    m = _Side(mytorch, "mlp", np.float64, max_iter=3)
    m.step()
    sd = m.opt.state_dict()
    bad = {"state": {0: dict(sd["state"][0], d=mytorch.zeros(7))},
           "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"'d' has shape \(7,\), expected \(32,\)"):
        m.opt.load_state_dict(bad)


def test_defaults_match_torch():
    p = mytorch.ones(3).requires_grad_()
    tp = torch.nn.Parameter(torch.ones(3))
    for kw in (dict(), dict(max_iter=7), dict(max_iter=3, max_eval=10)):
        mg = optim.LBFGS([p], **kw).param_groups[0]
        tg = torch.optim.LBFGS([tp], **kw).param_groups[0]
        assert {k: v for k, v in mg.items() if k != "params"} == \
            {k: v for k, v in tg.items() if k != "params"}


def test_bad_input():
    a, b = mytorch.ones(2).requires_grad_(), mytorch.ones(3).requires_grad_()
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b], "lr": 0.1}])
    opt = optim.LBFGS([a, b])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [mytorch.ones(1).requires_grad_()]})
    with pytest.raises(TypeError, match="LBFGS.step: requires a closure"):
        opt.step()
    with pytest.raises(TypeError, match="LBFGS.step: requires a closure"):
        opt.step(3.0)
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([a], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="learning rate"):
        optim.LBFGS([a], lr=-1.0)
    with pytest.raises(ValueError, match="history_size"):
        optim.LBFGS([a], history_size=0)
