"""Constraints: the valid set of a parameter or a sample, as in torch.distributions.constraints.

`check(value)` returns a bool Tensor of value's shape less the constraint's `event_dim`
rightmost dims; the checks carry no gradient.
"""
import numpy as np

from mytorch.backend import array_module
from mytorch.tensor import Tensor

__all__ = ["Constraint", "boolean", "greater_than", "greater_than_eq", "integer_interval",
           "interval", "less_than", "lower_cholesky", "nonnegative", "one_hot", "positive",
           "positive_definite", "real", "real_vector", "simplex", "unit_interval"]


def _data(x):
    return x.data if isinstance(x, Tensor) else x


class Constraint:
    """A region of valid values; `event_dim` rightmost dims are checked together."""
    is_discrete = False
    event_dim = 0

    def check(self, value):
        x = _data(value)
        return Tensor._wrap(array_module(x).asarray(self._check(x)))

    def _check(self, x):
        raise NotImplementedError

    def __repr__(self):
        return type(self).__name__[1:] + "()"


class _Real(Constraint):
    def _check(self, x):
        return x == x  # False for NaNs


class _RealVector(_Real):
    event_dim = 1

    def _check(self, x):
        return (x == x).all(-1)


class _Boolean(Constraint):
    is_discrete = True

    def _check(self, x):
        return (x == 0) | (x == 1)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def _check(self, x):
        return ((x == 0) | (x == 1)).all(-1) & (x.sum(-1) == 1)


class _Bounded(Constraint):
    """lower_bound <op> x <op> upper_bound; a bound may be a number or a Tensor."""

    def __init__(self, lower_bound=None, upper_bound=None):
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def __repr__(self):
        args = []
        if self.lower_bound is not None:
            args.append(f"lower_bound={self.lower_bound}")
        if self.upper_bound is not None:
            args.append(f"upper_bound={self.upper_bound}")
        return f"{type(self).__name__[1:]}({', '.join(args)})"


class _GreaterThan(_Bounded):
    def _check(self, x):
        return _data(self.lower_bound) < x


class _GreaterThanEq(_Bounded):
    def _check(self, x):
        return _data(self.lower_bound) <= x


class _LessThan(_Bounded):
    def __init__(self, upper_bound):
        super().__init__(None, upper_bound)

    def _check(self, x):
        return x < _data(self.upper_bound)


class _Interval(_Bounded):
    def _check(self, x):
        return (_data(self.lower_bound) <= x) & (x <= _data(self.upper_bound))


class _HalfOpenInterval(_Bounded):
    def _check(self, x):
        return (_data(self.lower_bound) <= x) & (x < _data(self.upper_bound))


class _IntegerInterval(_Bounded):
    is_discrete = True

    def _check(self, x):
        return (x % 1 == 0) & (self.lower_bound <= x) & (x <= self.upper_bound)


class _Simplex(Constraint):
    event_dim = 1

    def _check(self, x):
        return (x >= 0).all(-1) & (abs(x.sum(-1) - 1) < 1e-6)


class _LowerCholesky(Constraint):
    event_dim = 2

    def _check(self, x):
        xp = array_module(x)
        lower = (xp.tril(x) == x).all(axis=(-2, -1))
        return lower & (xp.diagonal(x, axis1=-2, axis2=-1) > 0).all(-1)


class _PositiveDefinite(Constraint):
    event_dim = 2

    def _check(self, x):
        xp = array_module(x)
        sym = xp.isclose(x, xp.swapaxes(x, -1, -2), atol=1e-6).all(axis=(-2, -1))
        if not bool(sym.all()):
            return sym
        # positive-definite iff every eigenvalue of the symmetric matrix is positive
        return xp.linalg.eigvalsh(x.astype(np.float64)).min(-1) > 0


real = _Real()
real_vector = _RealVector()
boolean = _Boolean()
one_hot = _OneHot()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
unit_interval = _Interval(0.0, 1.0)
simplex = _Simplex()
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval
