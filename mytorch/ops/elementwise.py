"""Pointwise primitives: arithmetic, unary math, activations, clamp, where."""
import contextlib

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
        if b == int(b) and abs(b) <= 4:
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
        if b == int(b) and abs(b - 1) <= 4:
            d = _pow_int(a, int(b) - 1)
        else:
            d = a ** (b - 1)
        return gy * (d * b if b != 1 else d), None


class PowTensor(Function):
    """a ** b where the exponent is a tensor (the base may be a tensor or a number)."""

    @staticmethod
    def forward(ctx, a, b, dtype=None):
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
            # d/db a**b = a**b log a; defined as 0 where a == 0 and b >= 0, as in PyTorch.
            with_log = xp.where((a == 0) & (b >= 0), 0, y * xp.log(xp.where(a == 0, 1, a)))
            gb = gy * with_log
        return ga, gb


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
    # The winner takes the gradient; a tie splits it in half, as PyTorch does.
    xp = array_module(gy)
    win_a = (a > b) if greater else (a < b)
    tie = a == b
    half = gy * 0.5
    ga = xp.where(win_a, gy, xp.where(tie, half, 0)) if needs[0] else None
    gb = xp.where(win_a, 0, xp.where(tie, half, gy)) if needs[1] else None
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
        return gy * array_module(x).sign(x)


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
        return gy * (y > 0)


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


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype_in = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
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
