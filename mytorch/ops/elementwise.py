"""Pointwise ops: arithmetic, the unary table, comparisons, clamp, where.

The Functions come first (arrays in, arrays out); the public functions at the bottom (pow,
atan2, remainder, maximum, where, ...) take and return Tensors and do the argument checks and
dtype promotion; `Tensor` methods and `mytorch.*` call them.
"""
import contextlib
import math
import operator
from typing import Callable, NamedTuple, Optional

import numpy as np

from mytorch import dtypes
from mytorch.autograd import function as _fn
from mytorch.autograd.function import Function, NonDifferentiable
from mytorch.backend import array_module
from mytorch.promotion import binary, floating, operand, scalar_like, to_array


def _pow_int(x, n):
    # x ** n with small integer n as multiplications: NumPy's generic power is ~250x slower.
    if n == 2:
        return x * x
    if n == 3:
        return x * x * x
    if n == 4:
        y = x * x
        return y * y
    if n == 1:
        return x.copy()
    if n == 0:
        return array_module(x).ones_like(x)
    if n == -1:
        return 1 / x
    if n == -2:
        return 1 / (x * x)
    return x ** n


def _quiet(xp):
    """Silence NumPy's floating-point warnings where inf/nan is the intended result."""
    if xp is not np:
        return contextlib.nullcontext()
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def _cast(y, dtype):
    return y if dtype is None or y.dtype == dtype else y.astype(dtype)


# ---- binary arithmetic; `dtype` is the promoted result dtype when NumPy's differs ----

class Add(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        return _cast(a + b, dtype)

    @staticmethod
    def backward(ctx, gy):
        return gy, gy


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        return _cast(a - b, dtype)

    @staticmethod
    def backward(ctx, gy):
        return gy, (-gy if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        ctx.save_for_backward(a, b)
        return _cast(a * b, dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        return (gy * b if ctx.needs_input_grad[0] else None,
                gy * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        ctx.save_for_backward(a, b)
        with _quiet(array_module(a)):  # x / 0 is inf or nan, silently, as in PyTorch
            return _cast(a / b, dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        ga = gy / b if ctx.needs_input_grad[0] else None
        gb = -gy * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    """a ** b for tensor a and a Python-number exponent b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a)
        ctx.b = b
        if float(b).is_integer() and abs(b) <= 4:  # not for inf or NaN exponents
            return _pow_int(a, int(b))
        if b == 0.5:
            return array_module(a).sqrt(a)
        return a ** b

    @staticmethod
    def backward(ctx, gy):
        (a,) = ctx.saved_tensors
        b = ctx.b
        if b == 0:
            return gy * 0, None
        if b == 0.5:  # sqrt's gradient, as PyTorch: -inf at -0.0
            with _quiet(array_module(a)):
                return gy / (2 * array_module(a).sqrt(a)), None
        if float(b).is_integer() and abs(b - 1) <= 4:
            d = _pow_int(a, int(b) - 1)
        else:
            d = a ** (b - 1)
        return gy * (d * b if b != 1 else d), None


class PowTensor(Function):
    """a ** b where the exponent is a tensor (the base may be a tensor or a number)."""

    @staticmethod
    def forward(ctx, a, b, dtype=None):
        ka, kb = _kind(a), _kind(b)
        if ka == "b" and kb == "b":
            raise RuntimeError("pow: not implemented for bool base and exponent (as in PyTorch)")
        if ka in "iub" and kb in "iub" and _any(b < 0):
            y = _cast(_int_pow(array_module(b), a, b), dtype)
        else:
            y = _cast(a ** b, dtype)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        a, b, y = ctx.saved_tensors
        xp = array_module(y)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            with _quiet(xp):  # 0 ** negative is inf where b == 0; masked out
                ga = gy * b * xp.where(b == 0, 0, a ** (b - 1))
        if ctx.needs_input_grad[1]:
            # d/db a**b = a**b log a; defined as 0 where a == 0 and b >= 0, as in PyTorch
            # (where a == 0 and b < 0 it is inf * -inf = -inf).
            with _quiet(xp):
                with_log = xp.where((a == 0) & (b >= 0), 0, y * xp.log(a))
            gb = gy * with_log
        return ga, gb


def _int_pow(xp, a, b):
    """Integer a ** b allowing b < 0, as PyTorch: 1 ** b is 1, (-1) ** b is +-1, the rest 0."""
    a, b = xp.asarray(a), xp.asarray(b)
    neg = b < 0
    y = a ** xp.where(neg, 0, b)
    sign = xp.where(b % 2 == 0, 1, -1)
    at_neg = xp.where(a == 1, 1, xp.where(a == -1, sign, 0)).astype(y.dtype)
    return xp.where(neg, at_neg, y)


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        ctx.save_for_backward(a, b)
        return _cast(array_module(a).maximum(a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        return _split_ties(gy, a, b, ctx.needs_input_grad, greater=True)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        ctx.save_for_backward(a, b)
        return _cast(array_module(a).minimum(a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        return _split_ties(gy, a, b, ctx.needs_input_grad, greater=False)


def _split_ties(gy, a, b, needs, greater):
    # The winner takes the gradient and a tie splits it in half, as PyTorch does; where one
    # side is NaN neither loses, so both get all of it (PyTorch's masks, not NumPy's choice).
    xp = array_module(gy)
    a_loses, b_loses = ((a < b), (a > b)) if greater else ((a > b), (a < b))
    g = xp.where(a == b, gy * 0.5, gy)
    zero = gy.dtype.type(0)
    ga = xp.where(a_loses, zero, g) if needs[0] else None
    gb = xp.where(b_loses, zero, g) if needs[1] else None
    return ga, gb


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b, dtype=None):
        ctx.save_for_backward(cond)
        return _cast(array_module(cond).where(cond, a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        (cond,) = ctx.saved_tensors
        xp = array_module(gy)
        zero = gy.dtype.type(0)
        return (None,
                xp.where(cond, gy, zero) if ctx.needs_input_grad[1] else None,
                xp.where(cond, zero, gy) if ctx.needs_input_grad[2] else None)


# ---- unary ops, from one table ----
#
# Each row names an op, its forward and backward on arrays, what backward reads (the input
# "x", the output "y" or nothing) and its dtype rule. From a row come the Function class
# (`FUNCTIONS[name]`, named `Exp` for "exp"), the Tensor method (mytorch.methods.math) and
# `mytorch.<name>` (listed in mytorch/__init__.py). Adding a unary op is one row here, one
# entry in tests/ops/test_unary_table.py and its name in the export list.

FLOAT = "float"      # integer and bool inputs compute in the default float dtype, as torch.exp
NO_BOOL = "no_bool"  # bool inputs are refused; integers keep their dtype, as torch.neg
WHOLE = "whole"      # bool refused; integers are already whole, so they are copied, as torch.trunc


class UnaryOp(NamedTuple):
    name: str
    dtypes: str                                       # FLOAT, NO_BOOL or WHOLE
    saves: Optional[str]                              # "x", "y" or None
    forward: Callable                                 # (xp, x) -> y
    backward: Callable                                # (xp, gy, saved) -> gx


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_HALF_SQRT_PI = math.sqrt(math.pi) / 2


def sgn(x):
    """sign(x) in x's dtype with 0 at NaN: PyTorch's gradient of abs (NumPy's sign gives NaN)."""
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def _sigmoid(xp, x):
    if x.dtype.itemsize < 4:
        # float16: exp overflows at 11, so use the form that only takes exp(-|x|).
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    # 1 / (1 + exp(-x)) in place: exact in both tails (exp(-x) -> inf gives 0), and
    # ~6x faster than the two-branch form. The overflow itself is expected.
    y = xp.negative(x, out=xp.empty_like(x))  # out=: stays an array when x is 0-d
    with _quiet(xp):
        xp.exp(y, out=y)
    y += 1
    xp.reciprocal(y, out=y)
    return y


def _sigmoid_backward(xp, gy, y):
    g = 1 - y
    g *= y
    g *= gy
    return g


def _zero_gradient(xp, gy, _):
    # piecewise-constant ops: a zero gradient, as PyTorch's (not None, so requires_grad
    # survives)
    return xp.zeros_like(gy)


# The backward expressions are the ones PyTorch's parity tests were run with: keep them
# bit for bit (x * x, not x ** 2; the dtype of every constant).
UNARY_OPS = (
    # UnaryOp(name, dtypes, saves, forward, backward)
    UnaryOp("neg", NO_BOOL, None, lambda xp, x: -x, lambda xp, gy, _: -gy),
    UnaryOp("abs", NO_BOOL, "x", lambda xp, x: xp.abs(x), lambda xp, gy, x: gy * sgn(x)),
    UnaryOp("relu", NO_BOOL, "y", lambda xp, x: xp.maximum(x, 0),
            lambda xp, gy, y: gy * ~(y <= 0)),  # NaN passes the gradient, as in PyTorch
    UnaryOp("trunc", WHOLE, None, lambda xp, x: xp.trunc(x), _zero_gradient),
    UnaryOp("floor", WHOLE, None, lambda xp, x: xp.floor(x), _zero_gradient),
    UnaryOp("ceil", WHOLE, None, lambda xp, x: xp.ceil(x), _zero_gradient),
    UnaryOp("sqrt", FLOAT, "y", lambda xp, x: xp.sqrt(x), lambda xp, gy, y: gy / (2 * y)),
    UnaryOp("rsqrt", FLOAT, "y", lambda xp, x: 1 / xp.sqrt(x),
            lambda xp, gy, y: gy * (-0.5 * y * y * y)),
    UnaryOp("exp", FLOAT, "y", lambda xp, x: xp.exp(x), lambda xp, gy, y: gy * y),
    UnaryOp("exp2", FLOAT, "y", lambda xp, x: xp.exp2(x), lambda xp, gy, y: gy * y * _LN2),
    UnaryOp("expm1", FLOAT, "y", lambda xp, x: xp.expm1(x), lambda xp, gy, y: gy * (y + 1)),
    UnaryOp("log", FLOAT, "x", lambda xp, x: xp.log(x), lambda xp, gy, x: gy / x),
    UnaryOp("log2", FLOAT, "x", lambda xp, x: xp.log2(x), lambda xp, gy, x: gy / (x * _LN2)),
    UnaryOp("log10", FLOAT, "x", lambda xp, x: xp.log10(x), lambda xp, gy, x: gy / (x * _LN10)),
    UnaryOp("log1p", FLOAT, "x", lambda xp, x: xp.log1p(x), lambda xp, gy, x: gy / (1 + x)),
    UnaryOp("sin", FLOAT, "x", lambda xp, x: xp.sin(x), lambda xp, gy, x: gy * xp.cos(x)),
    UnaryOp("cos", FLOAT, "x", lambda xp, x: xp.cos(x), lambda xp, gy, x: -gy * xp.sin(x)),
    UnaryOp("tan", FLOAT, "y", lambda xp, x: xp.tan(x), lambda xp, gy, y: gy * (1 + y * y)),
    UnaryOp("asin", FLOAT, "x", lambda xp, x: xp.arcsin(x),
            lambda xp, gy, x: gy / xp.sqrt(1 - x * x)),
    UnaryOp("acos", FLOAT, "x", lambda xp, x: xp.arccos(x),
            lambda xp, gy, x: -gy / xp.sqrt(1 - x * x)),
    UnaryOp("atan", FLOAT, "x", lambda xp, x: xp.arctan(x), lambda xp, gy, x: gy / (1 + x * x)),
    UnaryOp("sinh", FLOAT, "x", lambda xp, x: xp.sinh(x), lambda xp, gy, x: gy * xp.cosh(x)),
    UnaryOp("cosh", FLOAT, "x", lambda xp, x: xp.cosh(x), lambda xp, gy, x: gy * xp.sinh(x)),
    UnaryOp("tanh", FLOAT, "y", lambda xp, x: xp.tanh(x), lambda xp, gy, y: gy * (1 - y * y)),
    UnaryOp("sigmoid", FLOAT, "y", _sigmoid, _sigmoid_backward),
    UnaryOp("erf", FLOAT, "x", lambda xp, x: special("erf", x),
            lambda xp, gy, x: gy * (xp.exp(-x * x) / _HALF_SQRT_PI)),
    UnaryOp("erfc", FLOAT, "x", lambda xp, x: special("erfc", x),
            lambda xp, gy, x: gy * (xp.exp(-x * x) / -_HALF_SQRT_PI)),
    UnaryOp("erfinv", FLOAT, "y", lambda xp, x: special("erfinv", x),
            lambda xp, gy, y: gy * (xp.exp(y * y) * _HALF_SQRT_PI)),
)


def unary_function(op):
    """The Function class of one UNARY_OPS row."""
    fwd, bwd = op.forward, op.backward
    if op.saves == "x":
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return fwd(array_module(x), x)
    elif op.saves == "y":
        def forward(ctx, x):
            y = fwd(array_module(x), x)
            ctx.save_for_backward(y)
            return y
    else:
        def forward(ctx, x):
            return fwd(array_module(x), x)

    if op.saves is None:
        def backward(ctx, gy):
            return bwd(array_module(gy), gy, None)
    else:
        def backward(ctx, gy):
            (saved,) = ctx.saved_tensors
            return bwd(array_module(saved), gy, saved)

    name = op.name.capitalize()
    return type(name, (Function,), {"__module__": __name__, "__qualname__": name,
                                    "__doc__": f"{op.name}(x), elementwise (a UNARY_OPS row).",
                                    "forward": staticmethod(forward),
                                    "backward": staticmethod(backward)})


FUNCTIONS = {op.name: unary_function(op) for op in UNARY_OPS}
# nn.functional applies these directly
Relu, Sigmoid, Tanh = FUNCTIONS["relu"], FUNCTIONS["sigmoid"], FUNCTIONS["tanh"]


# ---- clamp, casts, piecewise-constant ops ----

class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return xp.clip(x, lo, hi) if (lo is not None or hi is not None) else x.copy()

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        mask = True
        if ctx.lo is not None:
            mask = x >= ctx.lo
        if ctx.hi is not None:
            mask = mask & (x <= ctx.hi)
        return gy * mask


class ClampTensor(Function):
    """clamp with array bounds (lo or hi may be None). x keeps the gradient inside the bounds,
    ties included, and a bound gets it where x crosses it, as in PyTorch (maximum/minimum
    would split ties)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        y = x if lo is None else xp.maximum(x, lo)
        return xp.minimum(y, hi) if hi is not None else y

    @staticmethod
    def backward(ctx, gy):
        (x,), lo, hi = ctx.saved_tensors, ctx.lo, ctx.hi
        zero = gy.dtype.type(0)
        inside = True if lo is None else (x >= lo)
        if hi is not None:
            inside = inside & (x <= hi)
        xp = array_module(gy)
        gx = xp.where(inside, gy, zero) if ctx.needs_input_grad[0] else None
        glo = ghi = None
        if lo is not None and ctx.needs_input_grad[1]:
            below = (x < lo) if hi is None else (x < lo) & (lo < hi)
            glo = xp.where(below, gy, zero)
        if hi is not None and ctx.needs_input_grad[2]:
            ghi = xp.where((x > hi) if lo is None else (x > hi) | (hi < lo), gy, zero)
        return gx, glo, ghi


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype_in = x.dtype
        with _quiet(array_module(x)):  # out-of-range values become inf, as in PyTorch
            return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        with _quiet(array_module(gy)):
            return gy.astype(ctx.dtype_in), None


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, dev):
        from mytorch.backend import device_of, to_device
        ctx.src = device_of(x)
        return to_device(x, dev)

    @staticmethod
    def backward(ctx, gy):
        from mytorch.backend import to_device
        return to_device(gy, ctx.src), None


class Staircase(Function):
    """A piecewise-constant function of x (floor, ceil, round, sign): the gradient is zero
    everywhere, as PyTorch's (not None, so requires_grad survives)."""

    @staticmethod
    def forward(ctx, x, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, gy):
        return array_module(gy).zeros_like(gy), None


class NanToNum(Function):
    @staticmethod
    def forward(ctx, x, nan=0.0, posinf=None, neginf=None):
        xp = array_module(x)
        ctx.save_for_backward(x)
        return xp.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * array_module(x).isfinite(x)


# ---- erf, erfc, erfinv: NumPy has none; numba ufuncs on the CPU, cupyx.scipy on a GPU ----

_erf_ufuncs = None


def _compiled_erf():
    # numba is imported on first use and its machine code cached (cache=True), as in _kernels
    global _erf_ufuncs
    if _erf_ufuncs is None:
        from numba import vectorize

        sigs = ["float32(float32)", "float64(float64)"]

        @vectorize(sigs, cache=True)
        def erf(x):
            return math.erf(x)

        @vectorize(sigs, cache=True)
        def erfc(x):
            return math.erfc(x)

        @vectorize(sigs, cache=True)
        def erfinv(y):
            # erfinv_reference, one element at a time (~10x faster than its array passes)
            y = float(y)
            a = abs(y)
            if not a < 1:
                return math.copysign(math.inf, y) if a == 1 else math.nan
            t = math.log((1 - a) * (1 + a))
            c = 2 / (math.pi * 0.147) + t / 2
            b = -t / 0.147
            r = math.sqrt(c * c + b)
            x = math.sqrt(b / (r + c) if c > 0 else r - c)
            for _ in range(3):
                res = math.erf(x) - a if a < 0.5 else (1 - a) - math.erfc(x)
                dx = res * _HALF_SQRT_PI * math.exp(x * x)
                x = x - dx / (1 + x * dx)
            return math.copysign(x, y)

        _erf_ufuncs = {"erf": erf, "erfc": erfc, "erfinv": erfinv}
    return _erf_ufuncs


def special(name, x):
    """erf, erfc or erfinv of a floating array, in its dtype."""
    xp = array_module(x)
    if xp is not np:
        from cupyx.scipy import special as sp
        return getattr(sp, name)(x)
    return _compiled_erf()[name](x).astype(x.dtype, copy=False)


def erfinv_reference(y):
    """Inverse error function of a float64 NumPy array, to float64 rounding (the reference
    for the numba ufunc that `special` uses).

    Winitzki's closed form (relative error ~2e-3) starts three Halley steps on erf(x) = y;
    for |y| >= 0.5 the residual is taken as (1 - |y|) - erfc(x), which stays exact near 1.
    """
    a = np.abs(y)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.log((1 - a) * (1 + a))  # ln(1 - y^2), -inf at |y| = 1
        c = 2 / (math.pi * 0.147) + t / 2
        b = -t / 0.147
        r = np.sqrt(c * c + b)
        # sqrt(c^2 + b) - c, written without cancellation where c > 0
        x = np.sqrt(np.where(c > 0, b / (r + c), r - c))
        erf, erfc = _compiled_erf()["erf"], _compiled_erf()["erfc"]
        for _ in range(3):
            res = np.where(a < 0.5, erf(x) - a, (1 - a) - erfc(x))
            dx = res * _HALF_SQRT_PI * np.exp(x * x)
            x = x - dx / (1 + x * dx)
    x = np.where(a == 1, np.inf, np.where(a > 1, np.nan, x))
    return np.copysign(x, y)


# ---- binary: lerp, atan2, remainder, fmod, floor_divide ----

class Lerp(Function):
    """a + w * (b - a), as PyTorch computes it: b - (b - a) * (1 - w) where |w| >= 0.5 (exact
    at w = 1). w is an array or a Python number."""

    @staticmethod
    def forward(ctx, a, b, w):
        xp = array_module(a)
        ctx.save_for_backward(a, b)
        ctx.w = w
        diff = b - a
        with _quiet(xp):
            return xp.where(xp.abs(w) < 0.5, a + w * diff, b - diff * (1 - w))

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        w = ctx.w
        gw = gy * (b - a) if ctx.needs_input_grad[2] else None
        return gy * (1 - w), gy * w, gw

    @staticmethod
    def composite(a, b, w):  # create_graph: the weight sits on ctx, outside saved_tensors
        return a + w * (b - a)


class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b, dtype=None):
        ctx.save_for_backward(a, b)
        return _cast(array_module(a).arctan2(a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        xp = array_module(a)
        r2 = a * a + b * b
        with _quiet(xp):
            g = xp.where(r2 == 0, 0, gy / r2)  # 0 at the origin, as in PyTorch
        return (g * b if ctx.needs_input_grad[0] else None,
                -g * a if ctx.needs_input_grad[1] else None)


def _kind(v):
    """'b', 'i', 'u' or 'f' for an array or a Python number."""
    dt = getattr(v, "dtype", None)
    if dt is not None:
        return dt.kind
    return "b" if isinstance(v, bool) else ("i" if isinstance(v, int) else "f")


def _any(mask):
    """True if any element of a mask (array or Python bool) is set."""
    return bool(mask.any()) if hasattr(mask, "any") else bool(mask)


def _check_int_divisor(a, b, op):
    # Only an integer result divides by zero: float32 % bool(False) is NaN, as in PyTorch.
    ka, kb = _kind(a), _kind(b)
    if ka == "b" and kb == "b":
        raise RuntimeError(f"{op}: not implemented for bool operands (as in PyTorch)")
    empty = 0 in (getattr(a, "size", 1), getattr(b, "size", 1))  # nothing divided
    if ka in "iub" and kb in "iub" and not empty and _any(b == 0):
        raise RuntimeError(f"{op}: ZeroDivisionError (integer division by zero)")


class Remainder(Function):
    """a - b * floor(a / b): the sign of the divisor, as Python's %."""

    @staticmethod
    def forward(ctx, a, b, dtype=None):
        _check_int_divisor(a, b, "remainder")
        ctx.save_for_backward(a, b)
        with _quiet(array_module(a)):
            return _cast(array_module(a).remainder(a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        gb = None
        if ctx.needs_input_grad[1]:
            with _quiet(array_module(a)):
                gb = -gy * array_module(a).floor_divide(a, b)
        return gy, gb


class Fmod(Function):
    """a - b * trunc(a / b): the sign of the dividend, as C's fmod."""

    @staticmethod
    def forward(ctx, a, b, dtype=None):
        _check_int_divisor(a, b, "fmod")
        ctx.save_for_backward(a, b)
        with _quiet(array_module(a)):
            return _cast(array_module(a).fmod(a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        gb = None
        if ctx.needs_input_grad[1]:
            xp = array_module(a)
            with _quiet(xp):
                gb = -gy * xp.trunc(a / b)
        return gy, gb


class FloorDivide(Function):
    """floor(a / b), as PyTorch's floor_divide and //; not differentiable."""

    @staticmethod
    def forward(ctx, a, b, dtype=None):
        _check_int_divisor(a, b, "floor_divide")
        with _quiet(array_module(a)):
            return _cast(array_module(a).floor_divide(a, b), dtype)

    @staticmethod
    def backward(ctx, gy):
        raise RuntimeError("floor_divide: the derivative is not implemented (as in PyTorch)")


# ---- comparisons, logical and bit ops, predicates: no gradient, from one table ----
# (name, forward on arrays) -> a NonDifferentiable class in PREDICATES[name]; Tensor methods
# and operators call them (mytorch.methods.comparison).

PREDICATE_OPS = (
    ("eq", operator.eq),
    ("ne", operator.ne),
    ("lt", operator.lt),
    ("le", operator.le),
    ("gt", operator.gt),
    ("ge", operator.ge),
    ("bitwise_and", operator.and_),
    ("bitwise_or", operator.or_),
    ("bitwise_xor", operator.xor),
    ("bitwise_not", operator.invert),
    ("logical_and", lambda a, b: array_module(a).logical_and(a, b)),
    ("logical_or", lambda a, b: array_module(a).logical_or(a, b)),
    ("logical_xor", lambda a, b: array_module(a).logical_xor(a, b)),
    ("logical_not", lambda a: array_module(a).logical_not(a)),
    ("isnan", lambda a: array_module(a).isnan(a)),
    ("isinf", lambda a: array_module(a).isinf(a)),
    ("isfinite", lambda a: array_module(a).isfinite(a)),
)


def predicate_function(name, fn):
    """The NonDifferentiable class of one PREDICATE_OPS row."""
    cls_name = "".join(part.capitalize() for part in name.split("_"))
    return type(cls_name, (NonDifferentiable,), {"__module__": __name__,
                                                 "__qualname__": cls_name,
                                                 "__doc__": f"{name}, elementwise; no gradient.",
                                                 "forward": staticmethod(fn)})


PREDICATES = {name: predicate_function(name, fn) for name, fn in PREDICATE_OPS}


class IsClose(NonDifferentiable):
    @staticmethod
    def forward(a, b, rtol, atol, equal_nan):
        return array_module(a).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


# ---- public functions: Tensors in, Tensors out (also exported as mytorch.*) ----

def pow(x, exponent):
    """x ** exponent; integer tensors to float powers compute in the default float dtype."""
    if isinstance(exponent, _fn.Tensor):
        return binary(PowTensor, x, exponent)
    if not isinstance(x, _fn.Tensor):
        x = _fn._wrap(to_array(x))
    if not dtypes.is_floating(x.dtype) and isinstance(exponent, float):
        x = x.to(dtypes.get_default_dtype())
    elif not dtypes.is_floating(x.dtype) and exponent < 0:
        raise RuntimeError(f"pow: integers to negative integer powers are not allowed "
                           f"({x.dtype} tensor ** {exponent})")
    elif x.dtype == np.bool_ and not isinstance(exponent, bool):
        x = x.to(dtypes.int64)  # bool ** 2 is int64, as in PyTorch
    return Pow.apply(x, exponent)


def float_power(input, exponent):
    """input ** exponent computed in float64 (the result is float64)."""
    f64 = dtypes.float64
    base = input.to(f64) if isinstance(input, _fn.Tensor) else _fn._wrap(np.asarray(input, f64))
    if isinstance(exponent, _fn.Tensor):
        if not isinstance(input, _fn.Tensor):
            base = base.to(exponent.device)
        return pow(base, exponent.to(f64))
    return pow(base, float(exponent))


def atan2(input, other):
    """Elementwise angle of (other, input) in radians, in (-pi, pi]."""
    if not isinstance(input, _fn.Tensor) and not isinstance(other, _fn.Tensor):
        raise TypeError("atan2: expected at least one tensor")
    da, db = (t.data if isinstance(t, _fn.Tensor) else t for t in (input, other))
    # else promotion gives the float dtype
    if not dtypes.is_floating(dtypes.result_type(da, db)):
        input, other = (floating(t) if isinstance(t, _fn.Tensor) else t for t in (input, other))
    return binary(Atan2, input, other)


arctan2 = atan2


def remainder(input, other):
    """input - other * floor(input / other): the result takes the sign of other."""
    return binary(Remainder, input, other)


def fmod(input, other):
    """input - other * trunc(input / other): the result takes the sign of input."""
    return binary(Fmod, input, other)


def floor_divide(input, other):
    """floor(input / other) with PyTorch's dtype promotion (no gradient, as in PyTorch)."""
    return binary(FloorDivide, input, other)


def maximum(input, other):
    """Elementwise maximum; a tie splits the gradient in half, as in PyTorch."""
    return binary(Maximum, input, other)


def minimum(input, other):
    """Elementwise minimum; a tie splits the gradient in half, as in PyTorch."""
    return binary(Minimum, input, other)


def clamp(input, min=None, max=None):
    """input limited to [min, max] (either may be None; numbers or tensors broadcast with
    input). A tensor bound gets the gradient where input crosses it, as in PyTorch."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, _fn.Tensor) or isinstance(max, _fn.Tensor):
        bounds = [None if b is None else operand(b) for b in (min, max)]
        dt = input.dtype
        for b in bounds:
            if b is not None:
                bd = b.data if isinstance(b, _fn.Tensor) else b
                dt = np.promote_types(dt, dtypes.result_type(input.data, bd))
        lo, hi = (None if b is None else (b.to(dt) if isinstance(b, _fn.Tensor) else
                  _fn._wrap(scalar_like(b, input.data, dt))) for b in bounds)
        try:
            np.broadcast_shapes(*(tuple(t.shape) for t in (input, lo, hi) if t is not None))
        except ValueError:
            raise RuntimeError(f"clamp: shapes of input {tuple(input.shape)} and bounds do "
                               "not broadcast") from None
        return ClampTensor.apply(input.to(dt), lo, hi)
    x = input
    if not dtypes.is_floating(x.dtype) and (isinstance(min, float) or isinstance(max, float)):
        x = x.to(dtypes.get_default_dtype())  # int tensor, float bounds: as PyTorch
    return Clamp.apply(x, min, max)


def lerp(input, end, weight):
    """input + weight * (end - input); weight a number or a tensor broadcast with both.

    As PyTorch, end - (end - input) * (1 - weight) where |weight| >= 0.5 (exact at 1)."""
    if not isinstance(end, _fn.Tensor) or end.dtype != input.dtype:
        raise RuntimeError(f"lerp: expected end to be a tensor of dtype {input.dtype}, got "
                           f"{getattr(end, 'dtype', type(end).__name__)}")
    if isinstance(weight, _fn.Tensor) and weight.dtype != input.dtype:
        raise RuntimeError(f"lerp: expected weight of dtype {input.dtype}, got {weight.dtype}")
    try:
        np.broadcast_shapes(*(tuple(getattr(t, "shape", ())) for t in (input, end, weight)))
    except ValueError:
        raise RuntimeError(f"lerp: shapes {tuple(input.shape)}, {tuple(end.shape)} and "
                           f"{tuple(getattr(weight, 'shape', ()))} do not broadcast") from None
    return Lerp.apply(input, end, weight)


def where(condition, x=None, y=None):
    """Elementwise `x if condition else y` (condition: bool tensor); `where(condition)` alone is
    `nonzero(condition, as_tuple=True)`."""
    if x is None and y is None:
        from mytorch.ops.index import nonzero  # index imports this module
        return nonzero(condition, as_tuple=True)
    if x is None or y is None:
        raise TypeError("where: pass both x and y, or neither")
    c = condition.data if isinstance(condition, _fn.Tensor) else to_array(condition)
    if c.dtype != np.bool_:
        raise RuntimeError(f"where: expected a bool condition, got dtype {c.dtype}")
    x, y = operand(x), operand(y)
    ref = x if isinstance(x, _fn.Tensor) else y
    if not isinstance(ref, _fn.Tensor):
        ref = _fn._wrap(to_array(x))
        x = ref
    dx = x.data if isinstance(x, _fn.Tensor) else x
    dy = y.data if isinstance(y, _fn.Tensor) else y
    dtype = dtypes.result_type(dx, dy)
    if not isinstance(x, _fn.Tensor):
        x = _fn._wrap(scalar_like(x, ref.data, dtype))
    if not isinstance(y, _fn.Tensor):
        y = _fn._wrap(scalar_like(y, ref.data, dtype))
    try:
        np.broadcast_shapes(c.shape, x.shape, y.shape)
    except ValueError:
        raise RuntimeError(f"where: shapes {tuple(c.shape)}, {tuple(x.shape)} and "
                           f"{tuple(y.shape)} do not broadcast") from None
    return Where.apply(_fn._wrap(c), x, y, dtype=dtype)
