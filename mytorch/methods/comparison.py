"""Tensor comparisons, logical and bit ops, predicates: bool results with no gradient. Each
calls a NonDifferentiable Function of `mytorch.ops.elementwise.PREDICATES`."""
from mytorch import backend
from mytorch.ops import elementwise as E
from mytorch.ops import reduce as R
from mytorch.ops.reduce import normalize_dims

_P = E.PREDICATES
_EQ, _NE, _LT, _LE, _GT, _GE = _P["eq"], _P["ne"], _P["lt"], _P["le"], _P["gt"], _P["ge"]
_AND, _OR, _XOR, _NOT = (_P["bitwise_and"], _P["bitwise_or"], _P["bitwise_xor"],
                         _P["bitwise_not"])
_ISNAN, _ISINF, _ISFINITE = _P["isnan"], _P["isinf"], _P["isfinite"]
_LOGICAL_NOT, _LOGICAL_AND = _P["logical_not"], _P["logical_and"]
_LOGICAL_OR, _LOGICAL_XOR = _P["logical_or"], _P["logical_xor"]


class TensorComparison:
    __slots__ = ()

    def __eq__(self, other):
        return _EQ.apply(self, other)

    def __ne__(self, other):
        return _NE.apply(self, other)

    def __lt__(self, other):
        return _LT.apply(self, other)

    def __le__(self, other):
        return _LE.apply(self, other)

    def __gt__(self, other):
        return _GT.apply(self, other)

    def __ge__(self, other):
        return _GE.apply(self, other)

    def __and__(self, other):
        return _AND.apply(self, other)

    def __or__(self, other):
        return _OR.apply(self, other)

    def __xor__(self, other):
        return _XOR.apply(self, other)

    def __rand__(self, other):
        return _AND.apply(self, other)

    def __ror__(self, other):
        return _OR.apply(self, other)

    def __rxor__(self, other):
        return _XOR.apply(self, other)

    def __invert__(self):
        return _NOT.apply(self)

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__
    __hash__ = object.__hash__  # defining __eq__ would otherwise unset it

    def equal(self, other):
        return self.shape == other.shape and bool((self.data == other.data).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        return bool(backend.array_module(self.data).allclose(self.data, other.data, rtol, atol))

    def isclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
        return E.IsClose.apply(self, other, rtol, atol, equal_nan)

    def isnan(self):
        return _ISNAN.apply(self)

    def isinf(self):
        return _ISINF.apply(self)

    def isfinite(self):
        return _ISFINITE.apply(self)

    def logical_not(self):
        return _LOGICAL_NOT.apply(self)

    def logical_and(self, other):
        return _LOGICAL_AND.apply(self, other)

    def logical_or(self, other):
        return _LOGICAL_OR.apply(self, other)

    def logical_xor(self, other):
        return _LOGICAL_XOR.apply(self, other)

    def any(self, dim=None, keepdim=False):
        ax = None if dim is None else normalize_dims(dim, self.shape, "any")
        return R.Any.apply(self, ax, keepdim)

    def all(self, dim=None, keepdim=False):
        ax = None if dim is None else normalize_dims(dim, self.shape, "all")
        return R.All.apply(self, ax, keepdim)
