"""Property-style fuzzing of elementwise, reduction and shape ops against PyTorch.

Each op in OPS draws a random case from a seeded NumPy Generator: shapes (0-d, size-1 and empty
dims, up to 4-D), dtypes (float32/64, int64, bool), non-contiguous views (transposed, strided,
reversed), special values (0, -0.0, inf, -inf, nan, ties), negative and out-of-range dims. The
case runs in both libraries; results must agree in kind (torch raises -> mytorch raises), shape,
dtype and values (NaN-aware), and for float inputs so must the gradient of a random projection
of the outputs. The committed test runs a few seeds per op; `FUZZ_SEEDS=500 pytest ...` runs
more, and `python -m tests.ops.test_fuzz_ops 500` lists every failing (op, seed).
"""
import operator
import os
import sys

import numpy as np
import pytest
import torch

import mytorch
from mytorch.autograd.engine import ENGINES

# NumPy warns on inf/NaN arithmetic; special values are what this file feeds in
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")]
N_SEEDS = int(os.environ.get("FUZZ_SEEDS", "10"))
ERRORS = (RuntimeError, ValueError, IndexError, TypeError)
TOL = {"float32": (2e-5, 1e-5), "float64": (1e-9, 1e-10)}  # (rtol, atol)
TOL.update({"torch." + k: v for k, v in TOL.items()})
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
OPS = {}
# torch's prod/cumprod backward is result / input, so an inf input gets a NaN gradient
# (d prod([inf, 2]) / dx0 is 2); mytorch's exclusive products give the true one. Finite only.
FINITE_GRADS_ONLY = {"prod", "cumprod"}
# torch picks any of several tied positions for these (CPU quickselect/sort): their indices
# are checked to point at the returned values, and gradients only where both picked the same
TIED_INDEX = {"kthvalue", "median", "mode"}


# ---- drawing inputs ----

def draw_shape(rng, min_dims=0, max_dims=4, empty=True):
    nd = int(rng.integers(min_dims, max_dims + 1))
    shape = [int(rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.25, 0.15])) for _ in range(nd)]
    if empty and nd and rng.random() < 0.1:
        shape[int(rng.integers(nd))] = 0
    return tuple(shape)


def draw_dtype(rng, kinds="fib"):
    pool = ([np.float32, np.float64] * 2 if "f" in kinds else []) + \
        ([np.int64] if "i" in kinds else []) + ([np.bool_] if "b" in kinds else [])
    return pool[int(rng.integers(len(pool)))]


def draw_array(rng, shape=None, dtype=None, kinds="fib", low=-3.0, high=3.0, special=True,
               **shape_kw):
    shape = draw_shape(rng, **shape_kw) if shape is None else shape
    dtype = draw_dtype(rng, kinds) if dtype is None else dtype
    if dtype is np.bool_:
        a = rng.random(shape) < 0.5
    elif dtype is np.int64:
        a = rng.integers(-4, 5, size=shape)
    else:
        if rng.random() < 0.3:  # ties
            a = rng.integers(-2, 3, size=shape).astype(np.float64)
        else:
            a = rng.uniform(low, high, size=shape)
        a = np.asarray(a, np.float64)
        if special and rng.random() < 0.3:
            mask = rng.random(shape) < 0.25
            a[mask] = rng.choice(SPECIAL, size=int(mask.sum()))
    return layout(rng, np.asarray(a, dtype))


def layout(rng, a):
    """The values of `a`, often as a non-contiguous view: transposed, strided or reversed."""
    r = rng.random()
    if a.ndim >= 2 and r < 0.2:
        return np.asfortranarray(a)
    if a.ndim >= 1 and r < 0.35:
        buf = np.zeros((2 * a.shape[0],) + a.shape[1:], a.dtype)
        buf[::2] = a
        return buf[::2]
    if a.ndim >= 1 and r < 0.45:
        return a[::-1].copy()[::-1]
    return a


def draw_dim(rng, ndim, tuples=False, none=True, oob=0.04):
    """A dim for a tensor with ndim dims: None, an int (often negative), or a tuple."""
    r = rng.random()
    if r < oob:
        return int(rng.choice([max(ndim, 1), -max(ndim, 1) - 1]))
    if none and r < 0.25:
        return None
    n = max(ndim, 1)
    if tuples and r < 0.5:
        k = int(rng.integers(0, n + 1))
        dims = rng.permutation(n)[:k]
        return tuple(int(d) - (n if rng.random() < 0.5 else 0) for d in dims)
    return int(rng.integers(-n, n))


def broadcast_pair(rng, max_dims=4):
    """Two shapes that broadcast together (or, rarely, that don't)."""
    out = draw_shape(rng, max_dims=max_dims)
    a = [s if rng.random() < 0.7 else 1 for s in out][int(rng.integers(0, len(out) + 1)):]
    b = [s if rng.random() < 0.7 else 1 for s in out][int(rng.integers(0, len(out) + 1)):]
    if rng.random() < 0.05 and b:
        b[-1] += 5
    if rng.random() < 0.5:
        a, b = b, a
    return tuple(a), tuple(b)


def draw_scalar(rng, kinds="fib"):
    pool = []
    if "f" in kinds:
        pool += [float(np.round(rng.uniform(-3, 3), 2)), 0.5, -0.0, float("inf"), float("nan")]
    if "i" in kinds:
        pool += [int(rng.integers(-3, 4)), 2, 0]
    if "b" in kinds:
        pool += [True, False]
    return pool[int(rng.integers(len(pool)))]


def call(lib, name, method, x, *args, **kw):
    """x.name(*args) (method) or lib.name(x, *args)."""
    return getattr(x, name)(*args, **kw) if method else getattr(lib, name)(x, *args, **kw)


def register(name):
    def deco(gen):
        OPS[name] = gen
        return gen
    return deco


# ---- elementwise ----

UNARY = ("abs neg sqrt rsqrt exp log log1p sin cos tanh sigmoid relu erf erfc erfinv log2 log10 "
         "exp2 expm1 tan asin acos atan sinh cosh trunc frac sign floor ceil round square "
         "reciprocal isnan isinf isfinite logical_not").split()
NARROW_DOMAIN = {"erfinv", "asin", "acos"}


def _unary(name):
    def gen(rng):
        lim = 1.2 if name in NARROW_DOMAIN else 3.0
        x = draw_array(rng, low=-lim, high=lim)
        method = bool(rng.random() < 0.5)
        return [x], lambda lib, x: call(lib, name, method, x), f"{name} method={method}"
    return gen


for _name in UNARY:
    register(_name)(_unary(_name))


@register("nan_to_num")
def _nan_to_num(rng):
    x = draw_array(rng)
    kw = {k: float(rng.uniform(-9, 9)) for k in ("nan", "posinf", "neginf") if rng.random() < .5}
    return [x], lambda lib, x: x.nan_to_num(**kw), f"nan_to_num {kw}"


BINARY_FUNCS = ("add sub mul div pow remainder fmod atan2 maximum minimum floor_divide "
                "float_power eq ne lt le gt ge logical_and logical_or logical_xor").split()
# torch's functions take no Python number here (mytorch accepts one: a convenience)
TENSOR_ONLY = {"atan2", "maximum", "minimum", "logical_and", "logical_or", "logical_xor"}
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
             "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">=": operator.ge,
             "&": operator.and_, "|": operator.or_, "^": operator.xor}


def _binary_inputs(rng, name):
    sa, sb = broadcast_pair(rng)
    da = draw_dtype(rng)
    db = da if rng.random() < 0.6 else draw_dtype(rng)
    if name in ("&", "|", "^"):
        da, db = (np.bool_, np.bool_) if rng.random() < 0.5 else (np.int64, np.int64)
    lo, hi = (0.0, 2.0) if name in ("pow", "**", "float_power") else (-3.0, 3.0)
    a = draw_array(rng, sa, da, low=lo, high=hi)
    b = draw_array(rng, sb, db, low=-2.0, high=2.0)
    return a, b


def _binary_func(name):
    def gen(rng):
        a, b = _binary_inputs(rng, name)
        method = bool(rng.random() < 0.5) and name not in ("atan2", "float_power") or \
            name in ("logical_and", "logical_or", "logical_xor")
        if rng.random() < 0.3 and name not in TENSOR_ONLY:
            s = draw_scalar(rng, "fi" if name in ("pow", "float_power") else "fib")
            return [a], lambda lib, a: call(lib, name, method, a, s), f"{name}(a, {s!r})"
        return [a, b], lambda lib, a, b: call(lib, name, method, a, b), f"{name} method={method}"
    return gen


def _operator(sym):
    fn = OPERATORS[sym]

    def gen(rng):
        a, b = _binary_inputs(rng, sym)
        r = rng.random()
        if r < 0.4:
            # torch bug: x ** False is not taken as exponent 0 by its backward (NaN gradients)
            s = draw_scalar(rng, "fi" if sym == "**" else "fib")
            if r < 0.2:
                return [a], lambda lib, a: fn(a, s), f"a {sym} {s!r}"
            return [a], lambda lib, a: fn(s, a), f"{s!r} {sym} a"
        return [a, b], lambda lib, a, b: fn(a, b), f"a {sym} b"
    return gen


for _name in BINARY_FUNCS:
    register(_name)(_binary_func(_name))
for _sym in OPERATORS:
    register(_sym)(_operator(_sym))


@register("lerp")
def _lerp(rng):
    sa, sb = broadcast_pair(rng, max_dims=3)
    dt = draw_dtype(rng, "f")
    a, b = draw_array(rng, sa, dt), draw_array(rng, sb, dt)
    if rng.random() < 0.5:
        w = float(np.round(rng.uniform(-1, 2), 2))
        return [a, b], lambda lib, a, b: lib.lerp(a, b, w), f"lerp(a, b, {w})"
    w = draw_array(rng, sb[1:], dt, special=False)
    return [a, b, w], lambda lib, a, b, w: a.lerp(b, w), "lerp(a, b, w)"


@register("clamp")
def _clamp(rng):
    x = draw_array(rng, kinds="fi")
    lo = float(np.round(rng.uniform(-2, 1), 1)) if rng.random() < 0.7 else None
    hi = float(np.round(rng.uniform(-1, 2), 1)) if rng.random() < 0.7 else None
    if lo is None and hi is None:
        lo = 0.0
    if rng.random() < 0.3:
        lo = hi = None if lo is None else lo
        lo_a = draw_array(rng, x.shape[1:], x.dtype, special=False)
        return [x, lo_a], lambda lib, x, m: lib.clamp(x, min=m), "clamp(x, min=tensor)"
    return [x], lambda lib, x: x.clamp(lo, hi), f"clamp({lo}, {hi})"


@register("where")
def _where(rng):
    sa, sb = broadcast_pair(rng, max_dims=3)
    cond = draw_array(rng, sa[1:], np.bool_)
    dt = draw_dtype(rng, "fi")
    a, b = draw_array(rng, sa, dt), draw_array(rng, sb, dt)
    if rng.random() < 0.3:
        s = draw_scalar(rng, "fi")
        return [cond, a], lambda lib, c, a: lib.where(c, a, s), f"where(c, a, {s!r})"
    return [cond, a, b], lambda lib, c, a, b: lib.where(c, a, b), "where(c, a, b)"


# ---- reductions ----

def _reduction(name, tuples, kinds="fib", dim_required=False, extra=None):
    def gen(rng):
        # torch's mode counts NaNs apart or together depending on where its sort puts them
        x = draw_array(rng, kinds=kinds, special=name != "mode")
        if name == "median" and x.size == 0:
            # mytorch raises where torch gives NaN (floats) or garbage (integers), as
            # test_reduce_scans_order.py::test_bad_dims_and_k pins; that test's owner decides
            x = np.ones(tuple(max(d, 1) for d in x.shape), x.dtype)
        dim = draw_dim(rng, x.ndim, tuples=tuples, none=not dim_required)
        if dim == () and name in ("var", "std", "logsumexp"):
            # torch bugs: var/std's gradient with dim=() divides by 1, not n; logsumexp
            # raises for keepdim=False. mytorch reduces over all dims as torch's sum does.
            dim = None if name != "logsumexp" else -1
        kw = {} if dim is None else {"dim": dim}
        if dim is not None or rng.random() < 0.5:
            kw["keepdim"] = bool(rng.random() < 0.5)
        if extra:
            kw.update(extra(rng))
        if dim is None and "keepdim" in kw and (name in NO_KEEPDIM_WITHOUT_DIM or
                                                "unbiased" in kw):
            del kw["keepdim"]
        method = bool(rng.random() < 0.5)
        return [x], lambda lib, x: call(lib, name, method, x, **kw), f"{name} {kw}", kw
    return gen


# these torch signatures take keepdim only with a dim (mytorch ignores it: a convenience)
NO_KEEPDIM_WITHOUT_DIM = {"sum", "mean", "prod", "max", "min", "median"}


NORM_P = [1, 2, 3, 0.5, 0, float("inf"), -float("inf"), "fro"]


def _var_kw(rng):
    r = rng.random()
    if r < 0.3:
        return {"unbiased": bool(rng.random() < 0.5)}
    if r < 0.6:
        return {"correction": int(rng.integers(0, 3))}
    return {}


for _name in ("sum", "mean", "amax", "amin", "nansum", "nanmean", "logsumexp"):
    register(_name)(_reduction(_name, tuples=True, kinds="f" if _name.startswith("nan") or
                               _name in ("mean", "logsumexp") else "fib",
                               dim_required=_name == "logsumexp"))
for _name in ("var", "std"):
    register(_name)(_reduction(_name, tuples=True, kinds="f", extra=_var_kw))
for _name in ("prod", "max", "min", "argmax", "argmin", "median"):
    register(_name)(_reduction(_name, tuples=False, kinds="fi" if _name != "prod" else "fib"))
register("mode")(_reduction("mode", tuples=False, kinds="fi"))
register("norm")(_reduction("norm", tuples=True, kinds="f",
                            extra=lambda rng: {"p": NORM_P[int(rng.integers(len(NORM_P)))]}))


@register("count_nonzero")
def _count_nonzero(rng):
    x = draw_array(rng)
    dim = draw_dim(rng, x.ndim, tuples=True)
    return [x], lambda lib, x: lib.count_nonzero(x, dim=dim), f"count_nonzero dim={dim}"


def _scan(name, kinds):
    def gen(rng):
        x = draw_array(rng, kinds=kinds)
        dim = draw_dim(rng, x.ndim, none=False, oob=0.04 if x.size else 0)  # torch bug:
        # cummax/cummin of an empty tensor take any dim
        method = bool(rng.random() < 0.5)
        return [x], lambda lib, x: call(lib, name, method, x, dim), f"{name} dim={dim}"
    return gen


for _name in ("cumsum", "cumprod", "cummax", "cummin"):
    register(_name)(_scan(_name, "fib" if _name in ("cumsum", "cumprod") else "fi"))


@register("kthvalue")
def _kthvalue(rng):
    x = draw_array(rng, kinds="fi")
    dim = draw_dim(rng, x.ndim, none=False)
    k = int(rng.integers(0, 5))
    keep = bool(rng.random() < 0.5)
    return [x], lambda lib, x: x.kthvalue(k, dim, keep), \
        f"kthvalue k={k} dim={dim} keep={keep}", {"dim": dim, "keepdim": keep}


# ---- shape ops ----

def _rand_reshape(rng, shape):
    n = int(np.prod(shape))
    if rng.random() < 0.1:
        return (n + 1,)
    sizes, rest = [], n
    for _ in range(int(rng.integers(0, 4))):
        f = [d for d in (1, 2, 3, 4) if rest % d == 0] if rest else [0, 1, 2]
        s = int(rng.choice(f))
        sizes.append(s)
        rest = rest // s if s else 0
    sizes.append(rest)
    if rng.random() < 0.4 and n:
        sizes[int(rng.integers(len(sizes)))] = -1
    return tuple(sizes)


@register("reshape")
def _reshape(rng):
    x = draw_array(rng)
    shape = _rand_reshape(rng, x.shape)
    return [x], lambda lib, x: x.reshape(shape), f"reshape {shape}"


@register("permute")
def _permute(rng):
    x = draw_array(rng)
    perm = tuple(int(d) - (x.ndim if rng.random() < 0.3 else 0) for d in rng.permutation(x.ndim))
    if rng.random() < 0.05:
        perm = perm + (0,)
    return [x], lambda lib, x: x.permute(perm), f"permute {perm}"


@register("transpose")
def _transpose(rng):
    x = draw_array(rng)
    d0, d1 = draw_dim(rng, x.ndim, none=False), draw_dim(rng, x.ndim, none=False)
    method = bool(rng.random() < 0.5)
    return [x], lambda lib, x: call(lib, "transpose", method, x, d0, d1), f"transpose {d0} {d1}"


@register("flip")
def _flip(rng):
    x = draw_array(rng)
    dims = draw_dim(rng, x.ndim, tuples=True, none=False)
    dims = dims if isinstance(dims, tuple) else (dims,)
    return [x], lambda lib, x: lib.flip(x, dims), f"flip {dims}"


@register("roll")
def _roll(rng):
    x = draw_array(rng)
    if rng.random() < 0.3:
        s = int(rng.integers(-5, 6))
        return [x], lambda lib, x: lib.roll(x, s), f"roll {s}"
    dims = draw_dim(rng, x.ndim, tuples=True, none=False, oob=0.04 if x.size else 0)  # torch
    # bug: an empty tensor rolls along any dim
    shifts = int(rng.integers(-5, 6)) if isinstance(dims, int) else \
        tuple(int(s) for s in rng.integers(-5, 6, size=len(dims)))
    return [x], lambda lib, x: x.roll(shifts, dims), f"roll {shifts} {dims}"


@register("repeat")
def _repeat(rng):
    x = draw_array(rng, max_dims=3)
    reps = tuple(int(r) for r in
                 rng.integers(0, 3, size=max(x.ndim + int(rng.integers(-1, 2)), 0)))
    return [x], lambda lib, x: x.repeat(reps), f"repeat {reps}"


@register("tile")
def _tile(rng):
    x = draw_array(rng, max_dims=3)
    reps = tuple(int(r) for r in rng.integers(0, 3, size=int(rng.integers(0, 4))))
    return [x], lambda lib, x: lib.tile(x, reps), f"tile {reps}"


@register("repeat_interleave")
def _repeat_interleave(rng):
    x = draw_array(rng, max_dims=3)
    dim = draw_dim(rng, x.ndim)
    if x.ndim == 0 and dim is not None:
        dim = None  # torch bug: a 0-d input with dim=0 or -1 raises "got 1" (out of range)
    if rng.random() < 0.5:
        r = int(rng.integers(0, 3))
        return [x], lambda lib, x: x.repeat_interleave(r, dim=dim), f"repeat_interleave {r} {dim}"
    n = x.size if dim is None else (x.shape[dim] if -x.ndim <= dim < x.ndim else 1)
    reps = rng.integers(0, 3, size=n if rng.random() < 0.9 else n + 1)
    return [x, reps], lambda lib, x, r: lib.repeat_interleave(x, r, dim=dim), \
        f"repeat_interleave {reps} dim={dim}"


@register("diag")
def _diag(rng):
    x = draw_array(rng, min_dims=0, max_dims=3)
    k = int(rng.integers(-3, 4))
    return [x], lambda lib, x: lib.diag(x, k), f"diag {k}"


@register("diagonal")
def _diagonal(rng):
    x = draw_array(rng, min_dims=1)
    d1, d2 = draw_dim(rng, x.ndim, none=False), draw_dim(rng, x.ndim, none=False)
    k = int(rng.integers(-3, 4))
    return [x], lambda lib, x: x.diagonal(k, d1, d2), f"diagonal {k} {d1} {d2}"


@register("movedim")
def _movedim(rng):
    x = draw_array(rng)
    n = max(x.ndim, 1)
    k = int(rng.integers(0, n + 1))
    src = tuple(int(d) for d in rng.permutation(n)[:k])
    dst = tuple(int(d) - (n if rng.random() < 0.3 else 0) for d in rng.permutation(n)[:k])
    if k == 1 and rng.random() < 0.5:
        src, dst = src[0], dst[0]
    return [x], lambda lib, x: lib.movedim(x, src, dst), f"movedim {src} {dst}"


@register("squeeze")
def _squeeze(rng):
    x = draw_array(rng)
    dim = draw_dim(rng, x.ndim, tuples=True)
    if dim is None:
        return [x], lambda lib, x: x.squeeze(), "squeeze()"
    return [x], lambda lib, x: lib.squeeze(x, dim), f"squeeze {dim}"


@register("unsqueeze")
def _unsqueeze(rng):
    x = draw_array(rng, max_dims=3)
    d = int(rng.integers(-x.ndim - 2, x.ndim + 2))
    return [x], lambda lib, x: x.unsqueeze(d), f"unsqueeze {d}"


@register("expand")
def _expand(rng):
    x = draw_array(rng, max_dims=3)
    lead = tuple(int(s) for s in rng.integers(0, 3, size=int(rng.integers(0, 2))))
    sizes = lead + tuple(int(rng.choice([-1, 3, s])) if s == 1 else
                         int(rng.choice([-1, s, s, s + 1])) for s in x.shape)
    return [x], lambda lib, x: x.expand(sizes), f"expand {sizes}"


def _cat_inputs(rng, same_shape):
    shape = draw_shape(rng, min_dims=0 if same_shape else 1, max_dims=3)
    dt = draw_dtype(rng)
    n = int(rng.integers(1, 4))
    dim = draw_dim(rng, len(shape) + (1 if same_shape else 0), none=False)
    xs = []
    for _ in range(n):
        s = list(shape)
        if not same_shape and s:
            s[dim % len(s) if -len(s) <= dim < len(s) else 0] = int(rng.integers(0, 3))
        if rng.random() < 0.05 and s:
            s[-1] += 1
        xs.append(draw_array(rng, tuple(s), dt if rng.random() < 0.8 else draw_dtype(rng)))
    return xs, dim


@register("cat")
def _cat(rng):
    xs, dim = _cat_inputs(rng, same_shape=False)
    if any(x.shape == (0,) for x in xs) and not -1 <= dim <= 0:
        dim = 0  # torch's legacy rule skips 1-D empty tensors, dim check included
    return xs, lambda lib, *xs: lib.cat(xs, dim), f"cat dim={dim}"


@register("stack")
def _stack(rng):
    xs, dim = _cat_inputs(rng, same_shape=True)
    xs = [x.astype(xs[0].dtype) for x in xs]
    return xs, lambda lib, *xs: lib.stack(xs, dim), f"stack dim={dim}"


@register("split")
def _split(rng):
    x = draw_array(rng, min_dims=1)
    dim = draw_dim(rng, x.ndim, none=False)
    n = x.shape[dim] if -x.ndim <= dim < x.ndim else 0
    if rng.random() < 0.5:
        s = int(rng.integers(1, 4))
        return [x], lambda lib, x: x.split(s, dim), f"split {s} dim={dim}"
    cuts = sorted(int(c) for c in rng.integers(0, n + 1, size=int(rng.integers(0, 3))))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    if rng.random() < 0.1:
        sizes[-1] += 1
    return [x], lambda lib, x: lib.split(x, sizes, dim), f"split {sizes} dim={dim}"


@register("chunk")
def _chunk(rng):
    x = draw_array(rng, min_dims=1)
    dim = draw_dim(rng, x.ndim, none=False)
    c = int(rng.integers(1, 6))
    return [x], lambda lib, x: x.chunk(c, dim), f"chunk {c} dim={dim}"


@register("narrow")
def _narrow(rng):
    x = draw_array(rng, min_dims=1)
    dim = draw_dim(rng, x.ndim, none=False)
    n = x.shape[dim] if -x.ndim <= dim < x.ndim else 1
    start = int(rng.integers(-n, n + 1))
    length = int(rng.integers(0, n + 2))
    return [x], lambda lib, x: lib.narrow(x, dim, start, length), \
        f"narrow dim={dim} start={start} length={length}"


def _tri(name):
    def gen(rng):
        x = draw_array(rng, min_dims=1)
        k = int(rng.integers(-3, 4))
        return [x], lambda lib, x: call(lib, name, True, x, k), f"{name} {k}"
    return gen


for _name in ("tril", "triu"):
    register(_name)(_tri(_name))


@register("rot90")
def _rot90(rng):
    x = draw_array(rng, min_dims=1)
    k = int(rng.integers(-5, 6))
    n = max(x.ndim, 2)
    dims = tuple(int(d) for d in rng.permutation(n)[:2])
    return [x], lambda lib, x: lib.rot90(x, k, dims), f"rot90 {k} {dims}"


# ---- running a case ----

def flat(out):
    if isinstance(out, (tuple, list)):
        return [o for item in out for o in flat(item)]
    return [out]


def describe(arrays):
    return ", ".join(f"{a.dtype}{list(a.shape)}" + ("" if a.flags.c_contiguous else " noncontig")
                     for a in arrays)


def assert_case_matches_torch(name, seed):
    """Run OPS[name] drawn with `seed` in both libraries; raise AssertionError on a mismatch."""
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    arrays, fn, desc, *info = OPS[name](rng)
    compare(fn, arrays, f"op {name!r} seed {seed}: {desc}", name, seed, info)


def compare(fn, arrays, where, name="", seed=0, info=()):
    """fn(lib, *tensors) on `arrays` in torch and mytorch: errors, outputs and gradients agree."""
    arrays = [np.asarray(a) for a in arrays]
    where = f"{where} on ({describe(arrays)})"
    floats = [a.dtype.kind == "f" for a in arrays]
    t_in = [torch.from_numpy(a.copy()).requires_grad_(f) for a, f in zip(arrays, floats)]
    m_in = [mytorch.Tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    try:
        t_out = fn(torch, *t_in)
    except ERRORS as err:
        try:
            m_out = fn(mytorch, *m_in)
        except ERRORS:
            return
        raise AssertionError(f"{where}: torch raises {type(err).__name__}({err}) but mytorch "
                             f"returns {m_out!r}") from None
    try:
        m_out = fn(mytorch, *m_in)
    except ERRORS as err:
        raise AssertionError(f"{where}: mytorch raises {type(err).__name__}({err})") from err
    t_outs, m_outs = flat(t_out), flat(m_out)
    assert len(m_outs) == len(t_outs), f"{where}: {len(m_outs)} outputs vs {len(t_outs)}"
    same_picks = True
    for i, (m, t) in enumerate(zip(m_outs, t_outs)):
        if name in TIED_INDEX and i == 1:
            check_picks(where, arrays[0], m_outs[0], m, info[0])
            same_picks = np.array_equal(m.numpy(), t.numpy())
            continue
        assert isinstance(m, mytorch.Tensor), f"{where}: output {i} is a {type(m).__name__}"
        assert tuple(m.shape) == tuple(t.shape), \
            f"{where}: output {i} shape {tuple(m.shape)} vs torch {tuple(t.shape)}"
        tdt = str(t.dtype).replace("torch.", "")
        assert str(m.dtype) == tdt, f"{where}: output {i} dtype {m.dtype} vs torch {tdt}"
        rtol, atol = TOL.get(tdt, (0, 0))
        np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{where}: output {i} values")
    if name in FINITE_GRADS_ONLY and not all(np.isfinite(a).all() for a in arrays):
        return
    if any(floats) and same_picks:
        check_grads(where, seed, t_in, m_in, t_outs, m_outs, ENGINES[seed % len(ENGINES)])


def check_picks(where, x, values, indices, kw):
    """indices (int64, values' shape) point at `values` along kw['dim'] of x."""
    assert str(indices.dtype) == "int64" and indices.shape == values.shape, f"{where}: indices"
    if x.ndim == 0:
        assert not indices.numpy().any(), f"{where}: index of a 0-d input"
        return
    dim = kw.get("dim", -1) % x.ndim
    idx = indices.numpy() if kw.get("keepdim") else np.expand_dims(indices.numpy(), dim)
    picked = np.take_along_axis(x, idx, dim)
    want = values.detach().numpy()
    np.testing.assert_array_equal(picked, want.reshape(picked.shape),
                                  err_msg=f"{where}: indices do not point at the values")


def check_grads(where, seed, t_in, m_in, t_outs, m_outs, engine):
    rng = np.random.default_rng(seed + 1)
    projs = [rng.standard_normal(tuple(t.shape)) for t in t_outs]
    pairs = [(t, m, p) for t, m, p in zip(t_outs, m_outs, projs)
             if t.dtype.is_floating_point and t.requires_grad]
    leaves = [(t, m) for t, m in zip(t_in, m_in) if t.requires_grad]
    if not pairs:
        return
    t_loss = sum((t.double() * torch.from_numpy(p)).sum() for t, _, p in pairs)
    try:
        t_grads = torch.autograd.grad(t_loss, [t for t, _ in leaves], allow_unused=True)
    except RuntimeError:
        return  # not differentiable in torch (floor_divide); mytorch may raise too
    m_terms = [(m.to(mytorch.float64) * mytorch.Tensor(p)).sum() for _, m, p in pairs
               if m.requires_grad]
    if m_terms:
        sum(m_terms[1:], m_terms[0]).backward(engine=engine)
    # float32 anywhere (an input or an output) sets the tolerance of every gradient
    used = {str(t.dtype) for t, _ in leaves} | {str(t.dtype) for t, _, _ in pairs}
    low_precision = "torch.float32" if "torch.float32" in used else "torch.float64"
    for k, ((_, m), tg) in enumerate(zip(leaves, t_grads)):
        got = None if m.grad is None else m.grad.numpy()
        if tg is None:
            assert got is None or not np.any(got), f"{where}: input {k} gets a gradient"
            continue
        want = tg.detach().numpy()
        got = np.zeros_like(want) if got is None else got
        assert got.dtype == want.dtype, f"{where}: grad {k} dtype {got.dtype} vs {want.dtype}"
        rtol, atol = TOL[low_precision]
        np.testing.assert_allclose(got, want, rtol=rtol * 50, atol=atol * 10,
                                   err_msg=f"{where}: gradient of input {k} ({engine})")


@pytest.mark.parametrize("name", sorted(OPS))
def test_fuzz(name):
    for seed in range(N_SEEDS):
        assert_case_matches_torch(name, seed)


# ---- regressions: one case per mismatch the fuzzer found (fixed in mytorch) ----

NAN, INF = float("nan"), float("inf")
F32 = np.array([[0.0, -0.0, 1.5], [-2.0, NAN, INF]], np.float32)
F64 = F32.astype(np.float64)
I64 = np.array([[3, -2, 0], [1, 4, -1]])
B = np.array([True, False, True])
REGRESSIONS = {
    # integer/bool inputs give float32, not float64/float16
    "float_of_int": ([I64], lambda lib, x: [f(x) for f in (
        lib.sqrt, lib.rsqrt, lib.exp, lib.log, lib.log1p, lib.sin, lib.cos, lib.tanh,
        lib.sigmoid)]),
    "float_of_bool": ([B], lambda lib, x: [lib.exp(x), lib.sin(x), lib.log(x), x.tanh()]),
    # torch raises on bool for these
    "abs_bool": ([B], lambda lib, x: lib.abs(x)),
    "neg_bool": ([B], lambda lib, x: -x),
    "relu_bool": ([B], lambda lib, x: lib.relu(x)),
    "floor_bool": ([B], lambda lib, x: x.floor()),
    "ceil_bool": ([B], lambda lib, x: x.ceil()),
    "round_bool": ([B], lambda lib, x: x.round()),
    "trunc_bool": ([B], lambda lib, x: x.trunc()),
    "sub_bool": ([F32[0]], lambda lib, x: x - True),
    "sub_bool_tensors": ([B, B], lambda lib, a, b: a - b),
    "remainder_bools": ([B, B | True], lambda lib, a, b: a % b),
    "fmod_bools": ([B, B | True], lambda lib, a, b: lib.fmod(a, b)),
    "floor_divide_bools": ([B, B | True], lambda lib, a, b: a // b),
    "pow_bools": ([B, B], lambda lib, a, b: a ** b),
    # dtypes and values
    "sign_nan": ([F64], lambda lib, x: x.sign()),
    "abs_grad_nan": ([F64], lambda lib, x: x.abs()),
    "square_bool": ([B], lambda lib, x: lib.square(x)),
    "pow_bool_int": ([B], lambda lib, x: x ** 2),
    "pow_int_negative_scalar": ([I64], lambda lib, x: x ** -1),
    "pow_int_negative_tensor": ([I64, -np.abs(I64)], lambda lib, a, b: a ** b),
    "pow_inf_exponent": ([np.abs(F64)], lambda lib, x: x ** INF),
    "pow_sqrt_grad_minus_zero": ([np.array([-0.0, 0.0, 2.0])], lambda lib, x: x ** 0.5),
    "pow_tensor_zero_base_grad": ([np.zeros(2), np.array([-1.0, 2.0])],
                                  lambda lib, a, b: lib.float_power(a, b)),
    "clamp_int_float_bounds": ([I64], lambda lib, x: x.clamp(-1.5, 0.5)),
    "clamp_tensor_ties": ([F64, np.array([1.5, NAN, 0.0])],
                          lambda lib, x, lo: lib.clamp(x, min=lo)),
    "clamp_tensor_both": ([F64, np.array([1.5, 0.0, 9.0]), np.array([-1.0, 0.0, 1.0])],
                          lambda lib, x, lo, hi: x.clamp(lo, hi)),
    "reflected_bitwise": ([I64], lambda lib, x: [1 & x, 2 | x, 3 ^ x]),
    "int_mod_zero_scalar": ([I64], lambda lib, x: x % 0),
    "float_mod_bool_false": ([F32, np.array(False)], lambda lib, a, b: [a % b, a // b]),
    "empty_int_mod_zero": ([np.zeros((2, 0), np.int64)], lambda lib, x: x % 0),
    "maximum_nan_grads": ([F64, F64[::-1].copy()], lambda lib, a, b: lib.maximum(a, b)),
    "minimum_nan_grads": ([F64, F64[:, ::-1].copy()], lambda lib, a, b: lib.minimum(a, b)),
    "max_all_nan_grad": ([F64], lambda lib, x: [x.max(), x.min()]),
    "relu_grad_nan": ([F64], lambda lib, x: x.relu()),
    "atan2_origin_grad": ([np.zeros(2), np.array([0.0, 1.0])], lambda lib, a, b: lib.atan2(a, b)),
    "atan2_int_float64_0d": ([I64, np.array(2.0)], lambda lib, a, b: lib.atan2(a, b)),
    "lerp_inf": ([np.array([1.0, -INF]), np.array([-INF, 2.0])],
                 lambda lib, a, b: [lib.lerp(a, b, 1.25), lib.lerp(a, b, 0.25)]),
    "lerp_tensor_weight": ([np.array([INF, 0.0, 1.0]), np.array([-INF, 2.0, INF]),
                            np.array([0.25, 0.75, 1.0])],
                           lambda lib, a, b, w: a.lerp(b, w)),
    # reductions
    "sum_empty_dims": ([F32], lambda lib, x: [x.sum(()), x.mean(()), x.amax(()), x.nansum(()),
                                              x.nanmean(()), lib.count_nonzero(x, ())]),
    "max_dim_0d_out_of_range": ([np.array(1.0)], lambda lib, x: x.max(1)),
    "prod_dim_0d_out_of_range": ([np.array(1.0)], lambda lib, x: x.prod(-2)),
    "cumsum_0d": ([np.array(2.5)], lambda lib, x: x.cumsum(0)),
    "logsumexp_0d_and_empty": ([np.array(2.5), np.zeros((0, 3))],
                               lambda lib, x, e: [x.logsumexp(-1), e.logsumexp(0)]),
    "var_std_correction_ge_n": ([np.array([[1.0], [2.0]]), np.array(3.0)],
                                lambda lib, x, z: [x.var(1, correction=2), x.std(-1),
                                                   z.var(), x.var(correction=2)]),
    "std_grad_at_zero": ([np.ones((2, 3))], lambda lib, x: x.std(1)),
    "norm_zero_grad": ([np.zeros((2, 3))], lambda lib, x: [x.norm(), x.norm(p=3, dim=1),
                                                           x.norm(p=0.5)]),
    "norm_p": ([F64[:, :2]], lambda lib, x: [x.norm(p=p, dim=1) for p in
                                             (INF, -INF, 0, 1, 0.5, 3, "fro")]),
    "norm_fro_3_dims": ([np.ones((2, 2, 2))], lambda lib, x: x.norm(p="fro", dim=(0, 1, 2))),
    "norm_int": ([I64], lambda lib, x: x.norm()),
    "cummin_empty_grad": ([np.zeros((2, 0))], lambda lib, x: x.cummin(1)),
    "cumprod_size1_inf": ([np.array([[INF, 2.0]])], lambda lib, x: x.cumprod(0)),
    "cumprod_inf_after_zero": ([np.array([[2.0, 0.0, INF], [-0.0, 0.0, NAN]])],
                               lambda lib, x: x.cumprod(1)),
    # shape ops
    "flip": ([F64], lambda lib, x: [x.flip(0), lib.flip(x, (-1, 0)), lib.rot90(x, 3)]),
    "flip_0d": ([np.array(1.5)], lambda lib, x: x.flip(0)),
    "movedim_0d": ([np.array(1.5)], lambda lib, x: lib.movedim(x, 0, -1)),
    "tril_1d": ([F64[0]], lambda lib, x: x.tril()),
    "triu_1d": ([F64[0]], lambda lib, x: lib.triu(x, 1)),
    "chunk_empty": ([np.zeros((2, 0))], lambda lib, x: x.chunk(3, 1)),
    "roll_no_shifts": ([F64], lambda lib, x: x.roll((), ())),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(name):
    arrays, fn = REGRESSIONS[name]
    for seed in range(len(ENGINES)):
        compare(fn, arrays, f"regression {name!r}", seed=seed)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    names = sys.argv[2:] or sorted(OPS)
    fails = {}
    for name in names:
        for seed in range(n):
            try:
                assert_case_matches_torch(name, seed)
            except Exception as err:  # noqa: BLE001  (a crash is a finding too)
                fails.setdefault(name, []).append((seed, f"{type(err).__name__}: {err}"))
    for name, items in fails.items():
        print(f"== {name}: {len(items)} failing seeds, e.g. {[s for s, _ in items[:8]]}")
        print("   ", items[0][1].strip().splitlines()[0][:400])
        for line in items[0][1].strip().splitlines()[1:6]:
            print("   ", line[:200])
