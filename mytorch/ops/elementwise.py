"""Pointwise primitives: arithmetic, unary math, activations, clamp, where."""
import contextlib
import math

import numpy as np

from mytorch.autograd.function import Function
from mytorch.backend import array_module


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


# ---- unary ----

class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * sgn(x)


def sgn(x):
    """sign(x) in x's dtype with 0 at NaN: PyTorch's gradient of abs (NumPy's sign gives NaN)."""
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy / (2 * y)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = 1 / array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (-0.5 * y * y * y)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / x


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / (1 + x)


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).sin(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * array_module(x).cos(x)


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).cos(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return -gy * array_module(x).sin(x)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (1 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        if x.dtype.itemsize < 4:
            # float16: exp overflows at 11, so use the form that only takes exp(-|x|).
            e = xp.exp(-xp.abs(x))
            y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        else:
            # 1 / (1 + exp(-x)) in place: exact in both tails (exp(-x) -> inf gives 0), and
            # ~6x faster than the two-branch form. The overflow itself is expected.
            y = xp.negative(x, out=xp.empty_like(x))  # out=: stays an array when x is 0-d
            with _quiet(xp):
                xp.exp(y, out=y)
            y += 1
            xp.reciprocal(y, out=y)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        g = 1 - y
        g *= y
        g *= gy
        return g


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * ~(y <= 0)  # NaN passes the gradient, as in PyTorch


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


# ---- more unary math ----

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_HALF_SQRT_PI = math.sqrt(math.pi) / 2


class Log2(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log2(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / (x * _LN2)


class Log10(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log10(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / (x * _LN10)


class Exp2(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp2(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y * _LN2


class Expm1(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (y + 1)


class Tan(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (1 + y * y)


class Asin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).arcsin(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / array_module(x).sqrt(1 - x * x)


class Acos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).arccos(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return -gy / array_module(x).sqrt(1 - x * x)


class Atan(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).arctan(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / (1 + x * x)


class Sinh(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).sinh(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * array_module(x).cosh(x)


class Cosh(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).cosh(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * array_module(x).sinh(x)


class Trunc(Function):
    """Rounds toward zero; the gradient is zero everywhere (as PyTorch's, not None)."""

    @staticmethod
    def forward(ctx, x):
        return array_module(x).trunc(x)

    @staticmethod
    def backward(ctx, gy):
        return array_module(gy).zeros_like(gy)


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


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special("erf", x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * (array_module(x).exp(-x * x) / _HALF_SQRT_PI)


class Erfc(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special("erfc", x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * (array_module(x).exp(-x * x) / -_HALF_SQRT_PI)


class Erfinv(Function):
    @staticmethod
    def forward(ctx, x):
        y = special("erfinv", x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (array_module(y).exp(y * y) * _HALF_SQRT_PI)


# ---- more binary ----

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
