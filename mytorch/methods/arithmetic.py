"""Tensor arithmetic: the operators, add/sub/mul/div/pow and their in-place forms, clamp,
where, and the matrix products."""
import numpy as np

from mytorch import backend, dtypes
from mytorch.autograd import function as _fn
from mytorch.autograd import grad_mode
from mytorch.ops import elementwise as E
from mytorch.ops import linalg as L
from mytorch.promotion import binary, no_bool_sub, operand


def _ufunc(name):
    def apply(a, b, out):
        return getattr(backend.array_module(a), name)(a, b, out=out)
    return apply


_UFUNC_ADD, _UFUNC_SUB = _ufunc("add"), _ufunc("subtract")
_UFUNC_MUL, _UFUNC_DIV = _ufunc("multiply"), _ufunc("true_divide")


class TensorArithmetic:
    __slots__ = ()

    # ---- operators ----

    def __add__(self, other):
        return binary(E.Add, self, other)

    def __radd__(self, other):
        return binary(E.Add, other, self)

    def __sub__(self, other):
        no_bool_sub(self, other)
        return binary(E.Sub, self, other)

    def __rsub__(self, other):
        no_bool_sub(self, other)
        return binary(E.Sub, other, self)

    def __mul__(self, other):
        return binary(E.Mul, self, other)

    def __rmul__(self, other):
        return binary(E.Mul, other, self)

    def __truediv__(self, other):
        out_float = not dtypes.is_floating(self.dtype) and (
            not isinstance(other, _fn.Tensor) or not dtypes.is_floating(other.dtype)) and \
            not isinstance(other, float)
        a = self.to(dtypes.get_default_dtype()) if out_float else self
        return binary(E.Div, a, other)

    def __rtruediv__(self, other):
        a = self.to(dtypes.get_default_dtype()) if not dtypes.is_floating(self.dtype) else self
        return binary(E.Div, other, a)

    def __floordiv__(self, other):
        return E.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return E.floor_divide(other, self)

    def __mod__(self, other):
        return E.remainder(self, other)

    def __rmod__(self, other):
        return E.remainder(other, self)

    def __pow__(self, exponent):
        return E.pow(self, exponent)

    def __rpow__(self, base):
        return binary(E.PowTensor, base, self)

    def __matmul__(self, other):
        return L.matmul(self, other)

    def __rmatmul__(self, other):
        return L.matmul(operand(other), self)

    def __pos__(self):
        return self

    # ---- in place: see Tensor._inplace ----

    def __iadd__(self, other):
        return self._inplace(TensorArithmetic.__add__, other, _UFUNC_ADD)

    def __isub__(self, other):
        return self._inplace(TensorArithmetic.__sub__, other, _UFUNC_SUB)

    def __imul__(self, other):
        return self._inplace(TensorArithmetic.__mul__, other, _UFUNC_MUL)

    def __itruediv__(self, other):
        return self._inplace(TensorArithmetic.__truediv__, other, _UFUNC_DIV)

    def add_(self, other, alpha=1):
        return self.__iadd__(other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        return self.__isub__(other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self.__imul__(other)

    def div_(self, other):
        return self.__itruediv__(other)

    def clamp_(self, min=None, max=None):
        if self._requires_grad and grad_mode.is_grad_enabled():
            self._rebind(self.clamp(min, max))
        else:
            backend.array_module(self.data).clip(self.data, min, max, out=self.data)
            _fn.bump_version(self.data)
        return self

    # ---- named forms ----

    def add(self, other, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return E.pow(self, exponent)

    def remainder(self, other):
        return E.remainder(self, other)

    def fmod(self, other):
        return E.fmod(self, other)

    def floor_divide(self, other):
        return E.floor_divide(self, other)

    def float_power(self, exponent):
        return E.float_power(self, exponent)

    def atan2(self, other):
        return E.atan2(self, other)

    arctan2 = atan2

    def maximum(self, other):
        return E.maximum(self, other)

    def minimum(self, other):
        return E.minimum(self, other)

    def lerp(self, end, weight):
        """self + weight * (end - self); see `mytorch.lerp`."""
        return E.lerp(self, end, weight)

    def where(self, condition, other):
        return E.where(condition, self, other)

    def square(self):
        x = self.to(dtypes.int64) if self.dtype == np.bool_ else self
        return x * x

    def reciprocal(self):
        return 1.0 / self if self.is_floating_point() else 1.0 / self.float()

    def clamp(self, min=None, max=None):
        return E.clamp(self, min, max)

    clip = clamp

    # ---- matrix products ----

    def matmul(self, other):
        return L.matmul(self, other)

    def mm(self, mat2):
        return L.mm(self, mat2)

    def bmm(self, mat2):
        return L.bmm(self, mat2)

    def outer(self, vec2):
        return L.outer(self, vec2)

    def dot(self, other):
        return L.dot(self, other)

    def cross(self, other, dim=None):
        return L.cross(self, other, dim)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return L.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return L.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)
