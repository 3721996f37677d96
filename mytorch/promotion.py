"""How operands become arrays of one dtype: Python/NumPy data to arrays, and PyTorch's dtype
promotion for binary ops (integer tensors with float numbers, bool with int, ...).

Ops call these before `Function.apply`; `Function.forward` then sees arrays of the result
dtype.
"""
import numbers

import numpy as np

from mytorch import backend, dtypes
from mytorch.autograd import function as _fn


def to_array(data, dtype=None, device=None):
    """Turn Python/NumPy/CuPy data into a backend array with PyTorch's dtype inference."""
    if isinstance(data, _fn.Tensor):
        arr = data.data
    elif backend.is_array(data):
        arr = data
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, _fn.Tensor)
                                                   for d in _flat(data)):
            data = _nested_to_host(data)
        arr = np.asarray(data)
        if arr.dtype == np.float64 and dtype is None:
            arr = arr.astype(dtypes.get_default_dtype())  # Python floats -> default dtype
        elif arr.dtype.kind == "O":
            raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data")
        elif arr.dtype.kind in "US":
            raise TypeError("tensor: strings are not supported")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    if device is not None:
        arr = backend.to_device(arr, device)
    elif isinstance(arr, np.generic):
        arr = np.asarray(arr)
    return arr


def _flat(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _nested_to_host(seq):
    return [(_nested_to_host(x) if isinstance(x, (list, tuple)) else
             (x.detach().numpy() if isinstance(x, _fn.Tensor) else x)) for x in seq]


def operand(x):
    """The array (Tensor) or Python number (anything else) an op sees."""
    if isinstance(x, _fn.Tensor):
        return x
    if isinstance(x, (numbers.Number, np.generic)):
        return x
    if backend.is_array(x):
        return _fn._wrap(x)
    if isinstance(x, (list, tuple)):
        return _fn._wrap(to_array(x))
    raise TypeError(f"unsupported operand type {type(x).__name__}")


def shape_args(shape):
    """(2, 3) from either f(2, 3) or f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def scalar_like(x, ref, dtype):
    """Python number x as a 0-d array of `dtype` on ref's device."""
    xp = backend.array_module(ref)
    return xp.asarray(x, dtype=dtype)


def binary(fn, a, b):
    """Apply a binary elementwise Function with PyTorch's dtype promotion.

    Fast paths first: two tensors of one dtype, or a tensor with a Python number that cannot
    change its dtype (NumPy >= 2 treats Python scalars as weak, like PyTorch does).
    """
    tensor = _fn.Tensor
    if isinstance(a, tensor):
        if isinstance(b, tensor):
            if a.data.dtype == b.data.dtype:
                return _apply_binary(fn, a, b)
        elif keeps_dtype(a.data.dtype.kind, b):
            return _apply_binary(fn, a, b)
    elif isinstance(b, tensor) and keeps_dtype(b.data.dtype.kind, a):
        return _apply_binary(fn, a, b)
    return _binary_promote(fn, a, b)


def keeps_dtype(kind, x):
    """Whether Python number x leaves a tensor of dtype kind `kind` in its dtype."""
    t = type(x)
    return (t is float and kind in "fV") or (t is int and kind in "fiV")  # V: bfloat16


def _apply_binary(fn, a, b, dtype=None):
    try:
        return fn.apply(a, b) if dtype is None else fn.apply(a, b, dtype=dtype)
    except ValueError:
        sa, sb = tuple(getattr(a, "shape", ())), tuple(getattr(b, "shape", ()))
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise RuntimeError(f"{fn.__name__.lower()}: shapes {sa} and {sb} cannot be "
                               "broadcast together") from None
        raise


def _binary_promote(fn, a, b):
    a, b = operand(a), operand(b)
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    ta, tb = isinstance(a, _fn.Tensor), isinstance(b, _fn.Tensor)
    if not ta and not tb:
        a = _fn._wrap(to_array(a))
        ta = True
    da = a.data if ta else a
    db = b.data if tb else b
    if ta and tb and da.dtype == db.dtype:
        return _apply_binary(fn, a, b)
    dtype = dtypes.result_type(da, db)
    # Python numbers become arrays of the result dtype: NumPy would otherwise pick
    # float64 for int_tensor * 0.5.
    if not ta:
        a = _fn._wrap(scalar_like(a, db, dtype))
    if not tb:
        b = _fn._wrap(scalar_like(b, da, dtype))
    return _apply_binary(fn, a, b, dtype)


def floating(x):
    """x, or x in the default float dtype when it is an integer/bool tensor (as torch.exp)."""
    return x if dtypes.is_floating(x.dtype) else x.to(dtypes.get_default_dtype())


def no_bool(x, op):
    """x, or an error naming `op` when x is a bool tensor."""
    if x.dtype == np.bool_:
        raise RuntimeError(f"{op}: not implemented for bool tensors (as in PyTorch)")
    return x


def no_bool_sub(a, b):
    if any(isinstance(v, bool) or getattr(v, "dtype", None) == np.bool_ for v in (a, b)):
        raise RuntimeError("sub: subtraction with a bool tensor is not supported (as in "
                           "PyTorch); to invert a mask use ~ or logical_not()")
