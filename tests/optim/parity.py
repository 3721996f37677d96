"""What the optimizer tests share: parameter pairs, a deterministic gradient, stepping both
sides, and the state-dict round trip against torch."""
import numpy as np
import torch

import mytorch
from mytorch import optim

SHAPES = [(5, 4), (4,), (3, 2, 2), (), (300, 250)]  # the last one is updated in blocks


def grad_fn(x, k):
    # A gradient that depends on the parameter (so errors would feed back) and on the step.
    return np.asarray(0.5 * x + 0.3 * np.sin(x + k) + 0.1 * k, dtype=x.dtype)


def pair(shapes=SHAPES, dtype=np.float32, seed=0):
    """The same random parameters as mytorch leaves and torch Parameters. Leaves stand in
    for nn.Parameter, so these tests do not depend on mytorch.nn."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    mp = [mytorch.tensor(a.copy()).requires_grad_() for a in arrays]
    tp = [torch.nn.Parameter(torch.tensor(a.copy())) for a in arrays]
    return mp, tp


def make(name, mp, tp, **kw):
    return getattr(optim, name)(mp, **kw), getattr(torch.optim, name)(tp, **kw)


def set_grads(k, *sides):
    """Step k's gradient on every parameter of every side (lists of mytorch or torch ones)."""
    for params in sides:
        for p in params:
            g = grad_fn(p.detach().numpy(), k)
            p.grad = torch.from_numpy(g) if isinstance(p, torch.Tensor) else mytorch.tensor(g)


def run(mopt, topt, mp, tp, steps, start=0):
    for k in range(start, start + steps):
        set_grads(k, mp, tp)
        mopt.step()
        topt.step()


def assert_close(mp, tp, rtol=2e-5, atol=1e-5):
    for m, t in zip(mp, tp):
        assert m.dtype == t.detach().numpy().dtype
        np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def check_state_dict_resume(name, kw, warm_steps):
    """After `warm_steps`, the state dict has torch's keys, shapes, dtypes and values; an
    optimizer resumed from ours continues bit for bit like the original, and one resumed from
    torch's (tensors converted) continues like torch, to step 20. Returns both optimizers and
    the resumed one's parameters."""
    mp, tp = pair()
    mopt, topt = make(name, mp, tp, **kw)
    run(mopt, topt, mp, tp, warm_steps)
    msd, tsd = mopt.state_dict(), topt.state_dict()
    assert set(msd["state"]) == set(tsd["state"]) == set(range(len(mp)))
    for i in tsd["state"]:
        assert set(msd["state"][i]) == set(tsd["state"][i])
        for k, tv in tsd["state"][i].items():
            mv = msd["state"][i][k]
            assert mv.dtype == tv.numpy().dtype and tuple(mv.shape) == tuple(tv.shape), k
            np.testing.assert_allclose(mv.numpy(), tv.numpy(), rtol=1e-4, atol=1e-6)
    for mg, tg in zip(msd["param_groups"], tsd["param_groups"]):
        assert mg["params"] == tg["params"]
        for k, v in mg.items():
            assert tg[k] == v, k

    mp2 = [mytorch.tensor(m.detach().numpy().copy()).requires_grad_() for m in mp]
    mopt2 = getattr(optim, name)(mp2, lr=123.0)
    mopt2.load_state_dict(msd)
    assert mopt2.param_groups[0]["lr"] == kw["lr"]
    mp3 = [mytorch.tensor(m.detach().numpy().copy()).requires_grad_() for m in mp]
    mopt3 = getattr(optim, name)(mp3)
    mopt3.load_state_dict({"state": {i: {k: mytorch.tensor(v.numpy()) for k, v in s.items()}
                                     for i, s in tsd["state"].items()},
                           "param_groups": tsd["param_groups"]})
    for k in range(warm_steps, 20):
        set_grads(k, mp, mp2, mp3, tp)
        mopt.step(), mopt2.step(), mopt3.step(), topt.step()
    assert_close(mp, tp)
    assert_close(mp3, tp)
    for a, b in zip(mp2, mp):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    return mopt, mopt2, mp, mp2
