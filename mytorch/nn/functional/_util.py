"""Small checks and helpers the functional families share.
"""
from mytorch import dtypes
from mytorch.ops.reduce import normalize_dims
from mytorch.tensor import Tensor


def dim_of(x, dim, op):
    return normalize_dims(dim, x.ndim, op)[0]


def check_float(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")


def mytorch_where(cond, x, y):
    from mytorch.ops.elementwise import where
    return where(Tensor._wrap(cond), x, y)


def maybe_inplace(input, out, inplace):
    if not inplace:
        return out
    input._rebind_or_write(out)
    return input
