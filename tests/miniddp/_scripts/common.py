"""Shared bits of the rank scripts: a tiny model and dataset, result reporting."""
import os
import sys

if os.environ.get("MINIDDP_TEST_NO_MPI"):  # prove world size 1 needs no mpi4py
    sys.modules["mpi4py"] = None

import numpy as np

import mytorch
from mytorch import backend, nn
from mytorch.utils.data import TensorDataset


class TinyMLP(nn.Module):
    def __init__(self, d_in=5, d_hidden=8, d_out=3, p_drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)
        self.drop = nn.Dropout(p_drop)

    def forward(self, x):
        return self.fc2(self.drop(self.fc1(x).relu()))


def make_model(seed=0, **kw):
    mytorch.manual_seed(seed)
    return TinyMLP(**kw)


def make_data(n=16, d_in=5, d_out=3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in)).astype(np.float32)
    y = rng.standard_normal((n, d_out)).astype(np.float32)
    return x, y


def dataset(x, y):
    return TensorDataset(mytorch.tensor(x), mytorch.tensor(y))


def mse(pred, y):
    d = pred - y
    return (d * d).mean()


def close(a, b, what, atol=1e-6, rtol=1e-5):
    a, b = (backend.to_device(x, "cpu") if backend.is_array(x) else np.asarray(x)
            for x in (a, b))
    if a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=rtol):
        err = np.abs(a - b).max() if a.shape == b.shape else f"shapes {a.shape} vs {b.shape}"
        raise AssertionError(f"{what}: mismatch (max abs err {err})")


def params_of(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def grads_of(model):
    return [p.grad.numpy().copy() for p in model.parameters()]


def ok(acc, name):
    """Mark a check as passed (main process only, once every rank got here)."""
    acc.wait_for_everyone()
    acc.print(f"OK {name}", flush=True)
