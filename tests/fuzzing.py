"""Property-style fuzzing against PyTorch: random cases drawn from a seeded numpy Generator.

A generator `gen(rng)` returns a `Case`: `fn(m, *tensors)` written once for both libraries
(`m` is `mytorch` or `torch`), plus the numpy inputs it takes. `assert_case_matches_torch`
builds tensors from the same arrays on both sides and checks that

- where torch raises, mytorch raises a clear error (ValueError, TypeError, IndexError or
  RuntimeError with a message), and where torch does not, mytorch does not either;
- every output has torch's shape, dtype and values (tolerance per dtype);
- the gradients of a random projection of the float outputs agree for every float input.

`FUZZ_SEEDS=500 pytest tests/.../test_fuzz_*.py` runs many seeds; the default is a small
fixed set so the committed tests stay fast and deterministic.
"""
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

import mytorch
from mytorch.autograd.engine import ENGINES

SEEDS = range(int(os.environ.get("FUZZ_SEEDS", "40")))
TOL = {"float32": (2e-5, 2e-4), "float64": (1e-9, 1e-7)}
CLEAR_ERRORS = (ValueError, TypeError, IndexError, RuntimeError)


@dataclass
class Case:
    fn: object                      # fn(m, *tensors) -> tensor, tuple of tensors or python value
    inputs: list                    # numpy arrays (float ones get gradients) or python values
    grad: bool = True               # compare gradients of float inputs
    tol: tuple = None               # (atol, rtol) instead of the dtype's default
    no_grad_inputs: tuple = ()      # positions of float inputs that take no gradient
    info: dict = field(default_factory=dict)  # what was drawn, shown on failure


def float_dtype(rng):
    return np.float64 if rng.random() < 0.5 else np.float32


def shape(rng, ndim=None, lo=0, hi=4, min_side=1, max_side=4):
    """A random shape: ndim in [lo, hi], sides in [min_side, max_side] with size-1 dims common."""
    ndim = int(rng.integers(lo, hi + 1)) if ndim is None else ndim
    return tuple(int(1 if rng.random() < 0.2 else rng.integers(min_side, max_side + 1))
                 for _ in range(ndim))


def floats(rng, shp, dtype=None, low=-2.0, high=2.0, noncontig=None):
    """Random floats; often a non-contiguous view (transposed or strided) of a larger array."""
    dtype = float_dtype(rng) if dtype is None else dtype
    a = rng.uniform(low, high, size=shp).astype(dtype)
    if noncontig is None:
        noncontig = rng.random() < 0.3
    if noncontig and a.ndim >= 2 and rng.random() < 0.5:
        return np.asfortranarray(a)
    if noncontig and a.ndim >= 1:
        big = np.zeros(shp[:-1] + (2 * shp[-1],), dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a


def ints(rng, low, high, shp):
    return rng.integers(low, high, size=shp).astype(np.int64)


def _to_torch(a, grad):
    if not isinstance(a, np.ndarray):
        return a
    # torch, the reference, gets a contiguous copy: its batch_norm backward is wrong on some
    # strided inputs (torch 2.13, channels-last-like strides with size-1 dims)
    return torch.from_numpy(np.array(a, order="C")).requires_grad_(grad)


def _to_mytorch(a, grad):
    if not isinstance(a, np.ndarray):
        return a
    return mytorch.Tensor(a, requires_grad=grad)  # keeps a non-contiguous view as drawn


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in _flat(x)]
    return [out]


def _describe(case, seed):
    shapes = [getattr(a, "shape", a) for a in case.inputs]
    dtypes = [str(a.dtype) for a in case.inputs if isinstance(a, np.ndarray)]
    return f"seed={seed} inputs={shapes} dtypes={dtypes} {case.info}"


def assert_case_matches_torch(gen, seed, engine=None):
    """Draw one case from `gen` with `seed` and hold mytorch to torch on it."""
    rng = np.random.default_rng(seed)
    case = gen(rng)
    case.inputs = [np.asarray(a) if isinstance(a, np.generic) else a for a in case.inputs]
    where = _describe(case, seed)
    wants = [case.grad and isinstance(a, np.ndarray) and a.dtype.kind == "f"
             and i not in case.no_grad_inputs for i, a in enumerate(case.inputs)]
    t_in = [_to_torch(a, w) for a, w in zip(case.inputs, wants)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            t_out = case.fn(torch, *t_in)
            t_err = None
        except Exception as e:  # noqa: BLE001 - any torch error means mytorch must raise
            t_err = e
        m_in = [_to_mytorch(a, w) for a, w in zip(case.inputs, wants)]
        try:
            m_out = case.fn(mytorch, *m_in)
            m_err = None
        except Exception as e:  # noqa: BLE001
            m_err = e
    if t_err is not None:
        assert m_err is not None, f"torch raises {t_err!r} but mytorch returns; {where}"
        assert isinstance(m_err, CLEAR_ERRORS) and str(m_err), \
            f"unclear error {m_err!r} (torch: {t_err!r}); {where}"
        return "raised"
    if m_err is not None:
        raise AssertionError(f"mytorch raises {m_err!r} but torch returns; {where}") from m_err
    t_outs, m_outs = _flat(t_out), _flat(m_out)
    assert len(m_outs) == len(t_outs), f"{len(m_outs)} outputs vs {len(t_outs)}; {where}"
    for k, (m, t) in enumerate(zip(m_outs, t_outs)):
        if not isinstance(t, torch.Tensor):
            assert not isinstance(m, mytorch.Tensor) and m == t, f"output {k}: {m} vs {t}; {where}"
            continue
        assert isinstance(m, mytorch.Tensor), f"output {k} is {type(m)}; {where}"
        assert tuple(m.shape) == tuple(t.shape), \
            f"output {k}: shape {tuple(m.shape)} vs torch {tuple(t.shape)}; {where}"
        tv, mv = t.detach().numpy(), m.detach().numpy()
        assert str(mv.dtype) == str(t.dtype).replace("torch.", ""), \
            f"output {k}: dtype {mv.dtype} vs torch {t.dtype}; {where}"
        atol, rtol = case.tol or TOL.get(str(mv.dtype), (0, 0))
        np.testing.assert_allclose(mv, tv, atol=atol, rtol=rtol,
                                   err_msg=f"output {k} values; {where}")
    if not any(wants):
        return "ok"
    proj_rng = np.random.default_rng(seed + 1)
    proj = [proj_rng.standard_normal(tuple(t.shape)) if isinstance(t, torch.Tensor) else None
            for t in t_outs]
    diff = [k for k, t in enumerate(t_outs) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not diff:
        return "ok"
    loss = sum((t_outs[k].double() * torch.from_numpy(proj[k])).sum() for k in diff)
    t_leaves = [t for t, w in zip(t_in, wants) if w]
    try:
        t_grads = torch.autograd.grad(loss, t_leaves, allow_unused=True)
    except RuntimeError:
        # torch's own backward fails (e.g. scatter_add with src larger than index): no judge
        return "torch backward failed"
    m_diff = [k for k in diff if m_outs[k].requires_grad]
    assert m_diff == diff, f"outputs {diff} need gradients, mytorch's {m_diff}; {where}"
    loss = None
    for k in diff:
        term = (m_outs[k].to(mytorch.float64) * mytorch.Tensor(proj[k])).sum()
        loss = term if loss is None else loss + term
    engine = engine or ENGINES[seed % len(ENGINES)]
    try:
        loss.backward(engine=engine)
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"mytorch backward raises {e!r}; {where}") from e
    m_leaves = [x for x, w in zip(m_in, wants) if w]
    for k, (x, tg) in enumerate(zip(m_leaves, t_grads)):
        if tg is None:
            assert x.grad is None or not np.any(x.grad.numpy()), \
                f"input {k}: torch has no gradient, mytorch has one; {where}"
            continue
        assert x.grad is not None, f"input {k}: no gradient (engine {engine}); {where}"
        assert x.grad.dtype == x.dtype, f"input {k}: grad dtype {x.grad.dtype}; {where}"
        atol, rtol = case.tol or TOL[str(x.dtype)]
        np.testing.assert_allclose(x.grad.numpy(), tg.numpy(), atol=atol * 10, rtol=rtol * 10,
                                   err_msg=f"grad of input {k} (engine {engine}); {where}")
    return "ok"


def sweep(gens, seeds):
    """Run every generator on every seed; collect failures instead of stopping at the first."""
    failures = []
    for name, gen in gens.items():
        for seed in seeds:
            try:
                assert_case_matches_torch(gen, seed)
            except AssertionError as e:
                failures.append(f"{name}: " + " | ".join(str(e).split("\n"))[:700])
    return failures
