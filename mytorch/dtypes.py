"""dtypes are NumPy dtypes; promotion follows PyTorch's rules for the common cases."""
import builtins

import ml_dtypes
import numpy as np

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
uint8 = np.dtype("uint8")
bfloat16 = np.dtype(ml_dtypes.bfloat16)  # NumPy has none: ml_dtypes' (kind "V", not "f")
bool = np.dtype("bool")

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(dtype):
    global _default_float
    dtype = np.dtype(dtype)
    if not is_floating(dtype):
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_float = dtype


def as_dtype(dtype):
    """A NumPy dtype from a mytorch/NumPy dtype or a name."""
    return None if dtype is None else np.dtype(dtype)


def is_floating(dtype):
    """True for float16/32/64 and bfloat16 (whose NumPy kind is "V")."""
    return dtype.kind == "f" or dtype == bfloat16


# 0: bool, 1: integers, 2: floats -- the "category" PyTorch promotes by.
def _category(dtype):
    return 0 if dtype.kind == "b" else (2 if is_floating(dtype) else 1)


def _default_for(category):
    return (bool, int64, _default_float)[category]


def result_type(a, b):
    """dtype of a binary op between arrays or Python scalars, as PyTorch computes it.

    Operands rank as: arrays with dims > 0-d arrays > Python scalars. A lower-ranked operand
    matters only when its category (bool < int < float) is higher: then a 0-d array gives its
    own dtype and a Python scalar the category's default. float32 + 2.0 stays float32,
    int64 + 0.5 gives the default float dtype, int64 + float64 0-d gives float64.
    """
    da, ra = _dtype_rank(a)
    db, rb = _dtype_rank(b)
    if da == db:
        return da
    ca, cb = _category(da), _category(db)
    if ra != rb:
        (ds, cs), (dw, cw) = ((da, ca), (db, cb)) if ra > rb else ((db, cb), (da, ca))
        if cw <= cs:
            return ds
        return dw if min(ra, rb) > 0 else _default_for(cw)
    if ca != cb:
        return da if ca > cb else db
    return np.promote_types(da, db)


def promote_floats(a, b):
    """The wider of two floating dtypes, as torch: float16 with bfloat16 gives float32."""
    return a if a == b else np.promote_types(a, b)


def _dtype_rank(x):
    dt = getattr(x, "dtype", None)
    if dt is not None and hasattr(x, "ndim"):
        return dt, (2 if x.ndim else 1)
    if isinstance(x, (builtins.bool, np.bool_)):
        return bool, 0
    if isinstance(x, (builtins.int, np.integer)):
        return int64, 0
    if isinstance(x, (builtins.float, np.floating)):
        return _default_float, 0
    raise TypeError(f"unsupported operand type {type(x).__name__}")


class finfo:
    """Machine limits of a floating dtype (default: the default dtype), as torch.finfo.

    >>> mytorch.finfo(mytorch.float16).max
    65504.0
    """

    def __init__(self, type=None):
        dt = np.dtype(type) if type is not None else _default_float
        if not is_floating(dt):
            raise TypeError(f"finfo: expected a floating dtype, got {dt}")
        info = ml_dtypes.finfo(dt)
        self.bits = builtins.int(info.bits)
        self.eps = builtins.float(info.eps)
        self.max = builtins.float(info.max)
        self.min = builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = 10.0 ** -builtins.int(info.precision)
        self.dtype = dt.name

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Machine limits of an integer dtype, as torch.iinfo.

    >>> mytorch.iinfo(mytorch.int8).min
    -128
    """

    def __init__(self, type):
        dt = np.dtype(type)
        if dt.kind not in "iu":
            raise TypeError(f"iinfo: expected an integer dtype, got {dt}")
        info = np.iinfo(dt)
        self.bits = builtins.int(info.bits)
        self.max = builtins.int(info.max)
        self.min = builtins.int(info.min)
        self.dtype = dt.name

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
