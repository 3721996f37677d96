"""The differentiable array namespace that backward code runs on when `create_graph=True`.

Every Function's backward is written once, against arrays and `xp = array_module(gy)`. For a
first-order backward those are NumPy/CuPy arrays. For a higher-order one the engine hands the
backward `DArray`s instead: thin array-like wrappers around graph-recording Tensors, and
`array_module(DArray)` is the `xp` namespace below, whose functions call mytorch ops. The same
backward code then builds a graph of itself, which can be differentiated again (Chainer's
FunctionNode idea, without a second copy of every backward).

Comparisons, `sign` and the like give plain arrays: they are constants of the backward graph.
Anything that would turn a DArray into a plain array (`np.asarray`, a NumPy ufunc, `float()`)
raises instead of silently cutting the graph.
"""
import numpy as np

from mytorch.autograd import function as _function
from mytorch.backend import array_module as _raw_module
from mytorch.backend import is_array as _is_array


def _tensor_mod():
    import mytorch
    return mytorch


def _t(x):
    """A Tensor for an operand: a DArray's tensor, or an array as a constant."""
    if type(x) is DArray:
        return x.t
    if _is_array(x):
        return _function._wrap(x)
    return x


def _raw(x):
    return x.t.data if type(x) is DArray else x


def _w(t):
    return DArray(t)


class DArray:
    """An array-like view of a graph-recording Tensor, for backward code under create_graph."""

    __slots__ = ("t", "view")
    __array_ufunc__ = None  # NumPy defers to our reflected operators instead of converting
    __array_priority__ = 2000

    def __init__(self, t, view=False):
        self.t = t
        # In NumPy this result would share memory with its source (indexing, reshape, ...).
        # Here it is a new tensor, so a write into it would be lost: refuse it instead.
        self.view = view

    @property
    def shape(self):
        return self.t.data.shape

    @property
    def dtype(self):
        return self.t.data.dtype

    @property
    def ndim(self):
        return self.t.data.ndim

    @property
    def size(self):
        return self.t.data.size

    @property
    def strides(self):
        return self.t.data.strides

    @property
    def itemsize(self):
        return self.t.data.itemsize

    @property
    def T(self):
        return self.transpose()

    def __repr__(self):
        return f"DArray({self.t!r})"

    def __len__(self):
        return len(self.t.data)

    def __array__(self, *args, **kwargs):
        raise TypeError("a differentiable array (create_graph=True) cannot become a plain array: "
                        "the backward uses an operation with no differentiable equivalent")

    def __float__(self):
        self.__array__()

    __int__ = __bool__ = __float__

    # arithmetic, in NumPy's operand order
    def __add__(self, o):
        return _w(self.t + _t(o))

    def __radd__(self, o):
        return _w(_t(o) + self.t)

    def __sub__(self, o):
        return _w(self.t - _t(o))

    def __rsub__(self, o):
        return _w(_t(o) - self.t)

    def __mul__(self, o):
        return _w(self.t * _t(o))

    def __rmul__(self, o):
        return _w(_t(o) * self.t)

    def __truediv__(self, o):
        return _w(self.t / _t(o))

    def __rtruediv__(self, o):
        return _w(_t(o) / self.t)

    def __pow__(self, o):
        return _w(self.t ** _t(o))

    def __rpow__(self, o):
        return _w(_t(o) ** self.t)

    def __matmul__(self, o):
        return _w(self.t @ _t(o))

    def __rmatmul__(self, o):
        return _w(_t(o) @ self.t)

    def __neg__(self):
        return _w(-self.t)

    def __abs__(self):
        return _w(abs(self.t))

    # comparisons are constants of the backward graph
    def __lt__(self, o):
        return self.t.data < _raw(o)

    def __le__(self, o):
        return self.t.data <= _raw(o)

    def __gt__(self, o):
        return self.t.data > _raw(o)

    def __ge__(self, o):
        return self.t.data >= _raw(o)

    def __eq__(self, o):
        return self.t.data == _raw(o)

    def __ne__(self, o):
        return self.t.data != _raw(o)

    __hash__ = None

    # array methods used by backward code
    def sum(self, axis=None, keepdims=False, dtype=None):
        t = self.t if dtype is None else self.t.to(dtype)
        if axis is None:
            axis = tuple(range(t.ndim))
        return _w(t.sum(dim=axis, keepdim=keepdims))

    def mean(self, axis=None, keepdims=False):
        if axis is None:
            axis = tuple(range(self.ndim))
        return _w(self.t.mean(dim=axis, keepdim=keepdims))

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return DArray(self.t.reshape(*shape), True)

    def astype(self, dtype, copy=True):
        return self if np.dtype(dtype) == self.dtype and not copy else _w(self.t.to(dtype))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        return DArray(self.t.permute(*axes), True)

    def swapaxes(self, a, b):
        return DArray(self.t.transpose(a, b), True)

    def copy(self):
        return _w(self.t.clone())

    def ravel(self):
        return self.reshape(-1)

    def squeeze(self, axis=None):
        return _squeeze(self, axis)

    def clip(self, lo=None, hi=None):
        return _w(self.t.clamp(lo, hi))

    def conj(self):
        return self

    def __getitem__(self, key):
        return DArray(self.t[_raw_key(key)], True)

    def __setitem__(self, key, value):
        from mytorch.ops import index as I
        if self.view:
            raise TypeError("cannot write into a differentiable array that would be a view in "
                            "NumPy (the write would not reach the array it views)")
        v = _t(value)
        if not isinstance(v, type(self.t)):
            v = _function._wrap(_raw_module(self.t.data).asarray(v, dtype=self.dtype))
        self.t = I.SetItem.apply(self.t, v.to(self.dtype), _raw_key(key))


def _raw_key(key):
    if type(key) is tuple:
        return tuple(_raw(k) for k in key)
    return _raw(key)


def _unary(name):
    def fn(x, *args, **kwargs):
        if type(x) is not DArray:
            return getattr(_raw_module(x), name)(x, *args, **kwargs)
        return _w(getattr(x.t, name)())
    fn.__name__ = name
    return staticmethod(fn)


def _constant(name):
    """A function whose value is a constant of the graph (sign, isnan, ...)."""
    def fn(*args, **kwargs):
        args = [_raw(a) for a in args]
        ref = next((a for a in args if _is_array(a)), None)
        return getattr(_raw_module(ref), name)(*args, **kwargs)
    fn.__name__ = name
    return staticmethod(fn)


def _creator(name):
    """zeros/ones/full and their _like forms: constant DArrays, so backward code may write into
    them with differentiable values."""
    def fn(self, *args, **kwargs):
        args = [_raw(a) for a in args]
        return _w(_function._wrap(getattr(self.raw, name)(*args, **kwargs)))
    fn.__name__ = name
    return fn


class _Linalg:
    """`xp.linalg` for DArrays."""

    @staticmethod
    def inv(a):
        return _w(_tensor_mod().linalg.inv(_t(a)))

    @staticmethod
    def det(a):
        return _w(_tensor_mod().linalg.det(_t(a)))

    @staticmethod
    def solve(a, b):
        return _w(_tensor_mod().linalg.solve(_t(a), _t(b)))

    def __getattr__(self, name):
        raise AttributeError(f"the differentiable array namespace (create_graph=True) has no "
                             f"'linalg.{name}'")


class _Namespace:
    """`xp` for DArrays: the NumPy functions backward code uses, as graph-recording ops."""

    linalg = _Linalg()

    def __init__(self, raw):
        self.raw = raw  # numpy or cupy: where new constants are made

    ndarray = DArray
    newaxis = None
    float16, float32, float64 = np.float16, np.float32, np.float64
    int32, int64, bool_ = np.int32, np.int64, np.bool_
    dtype, finfo, iinfo, errstate = np.dtype, np.finfo, np.iinfo, np.errstate
    pi, e, inf, nan = np.pi, np.e, np.inf, np.nan

    exp, log, sqrt, sin, cos, tan, tanh = (_unary(n) for n in
                                           ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh"))
    sinh, cosh, log1p, expm1, log2, log10, reciprocal, sigmoid = (_unary(n) for n in (
        "sinh", "cosh", "log1p", "expm1", "log2", "log10", "reciprocal", "sigmoid"))
    arcsin, arccos, arctan = (_unary(n) for n in ("asin", "acos", "atan"))
    sign, isnan, isinf, isfinite, signbit, floor, ceil, round, trunc = (_constant(n) for n in (
        "sign", "isnan", "isinf", "isfinite", "signbit", "floor", "ceil", "round", "trunc"))
    logical_and, logical_or, logical_not, any, all, argmax, argmin, nonzero = (
        _constant(n) for n in ("logical_and", "logical_or", "logical_not", "any", "all",
                               "argmax", "argmin", "nonzero"))
    arange, asarray, array, broadcast_shapes = (_constant(n) for n in (
        "arange", "asarray", "array", "broadcast_shapes"))
    zeros, ones, full, empty, zeros_like, ones_like, full_like, empty_like = (
        _creator(n) for n in ("zeros", "ones", "full", "zeros", "zeros_like", "ones_like",
                              "full_like", "zeros_like"))

    @staticmethod
    def abs(x):
        return abs(x)

    @staticmethod
    def square(x):
        return x * x

    @staticmethod
    def negative(x):
        return -x

    @staticmethod
    def add(a, b):
        return a + b if type(a) is DArray else b.__radd__(a) if type(b) is DArray else a + b

    @staticmethod
    def multiply(a, b):
        return a * b if type(a) is DArray else b.__rmul__(a) if type(b) is DArray else a * b

    @staticmethod
    def where(cond, a, b):
        cond = _raw(cond)
        if type(a) is not DArray and type(b) is not DArray:
            return _raw_module(cond).where(cond, a, b)
        ref = a if type(a) is DArray else b
        a, b = (x.t if type(x) is DArray else _function._wrap(
            _raw_module(cond).asarray(x, dtype=ref.dtype)) for x in (a, b))
        return _w(_tensor_mod().where(_function._wrap(_raw_module(cond).asarray(cond)), a, b))

    @staticmethod
    def maximum(a, b):
        return _w(_tensor_mod().maximum(_t(a), _t(b)))

    @staticmethod
    def minimum(a, b):
        return _w(_tensor_mod().minimum(_t(a), _t(b)))

    @staticmethod
    def sum(x, axis=None, keepdims=False, dtype=None):
        return _as_d(x).sum(axis=axis, keepdims=keepdims, dtype=dtype)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return _as_d(x).mean(axis=axis, keepdims=keepdims)

    @staticmethod
    def matmul(a, b):
        return _w(_t(a) @ _t(b))

    @staticmethod
    def dot(a, b):
        return _w(_t(a) @ _t(b))

    @staticmethod
    def reshape(x, shape):
        return _as_d(x).reshape(shape)

    @staticmethod
    def transpose(x, axes=None):
        return _as_d(x).transpose(*(axes or ()))

    @staticmethod
    def swapaxes(x, a, b):
        return _as_d(x).swapaxes(a, b)

    @staticmethod
    def moveaxis(x, source, destination):
        return DArray(_tensor_mod().movedim(_t(x), source, destination), True)

    @staticmethod
    def expand_dims(x, axis):
        t = _t(x)
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        nd = t.ndim + len(axes)
        for a in sorted(a % nd for a in axes):
            t = t.unsqueeze(a)
        return DArray(t, True)

    @staticmethod
    def squeeze(x, axis=None):
        t = _t(x)
        if axis is None:
            return DArray(t.reshape(*[s for s in t.shape if s != 1]), True)
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = {a % t.ndim for a in axes}
        return DArray(t.reshape(*[s for i, s in enumerate(t.shape) if i not in axes]), True)

    @staticmethod
    def broadcast_to(x, shape):
        return DArray(_t(x).expand(*shape), True)

    @staticmethod
    def concatenate(seq, axis=0):
        return _w(_tensor_mod().cat([_t(x) for x in seq], dim=axis))

    @staticmethod
    def stack(seq, axis=0):
        return _w(_tensor_mod().stack([_t(x) for x in seq], dim=axis))

    @staticmethod
    def take_along_axis(x, index, axis):
        return _w(_tensor_mod().gather(_t(x), axis, _function._wrap(_raw(index))))

    @staticmethod
    def clip(x, lo=None, hi=None):
        return _as_d(x).clip(lo, hi)

    @staticmethod
    def ascontiguousarray(x):
        return x

    @staticmethod
    def einsum(subscripts, *operands, optimize=False):
        return _w(_tensor_mod().einsum(subscripts, *[_t(x) for x in operands]))

    @staticmethod
    def take(x, indices, axis=None):
        t = _t(x) if axis is not None else _t(x).reshape(-1)
        idx = _function._wrap(_raw_module(_raw(indices)).asarray(_raw(indices)))
        return _w(t.index_select(0 if axis is None else axis, idx.reshape(-1)).reshape(
            *(t.shape[:axis or 0] + tuple(idx.shape) + t.shape[(axis or 0) + 1:])))

    @staticmethod
    def flip(x, axis):
        return _w(_t(x).flip(axis if isinstance(axis, (tuple, list)) else (axis,)))

    @staticmethod
    def tril(x, k=0):
        return _w(_t(x).tril(k))

    @staticmethod
    def triu(x, k=0):
        return _w(_t(x).triu(k))

    @staticmethod
    def cross(a, b, axis=-1):
        return _w(_tensor_mod().linalg.cross(_t(a), _t(b), dim=axis))

    def __getattr__(self, name):
        raise AttributeError(f"the differentiable array namespace (create_graph=True) has no "
                             f"'{name}'")


def _as_d(x):
    return x if type(x) is DArray else _w(_t(_raw_module(x).asarray(x)))


_namespaces = {}


def namespace_of(x):
    """The `xp` of a DArray (backend.array_module's answer for one)."""
    raw = _raw_module(x.t.data)
    ns = _namespaces.get(raw)
    if ns is None:
        ns = _namespaces[raw] = _Namespace(raw)
    return ns


def _squeeze(x, axis=None):
    return _Namespace.squeeze(x, axis)


from mytorch import backend as _backend  # noqa: E402  (registered last: DArray is defined)

_backend.namespaces[DArray] = namespace_of
