"""Stand-in `cupyx`: the scatter functions (unbuffered, as `np.add.at`)."""
import numpy as np

from cupy import _core
from cupyx import scipy  # noqa: F401


def _scatter(ufunc, name, a, slices, value):
    un = _core._Unwrapper(f"cupyx.{name}")
    target = un(a)
    ufunc.at(target, un(slices), un(value))


def scatter_add(a, slices, value):
    _scatter(np.add, "scatter_add", a, slices, value)


def scatter_max(a, slices, value):
    _scatter(np.maximum, "scatter_max", a, slices, value)


def scatter_min(a, slices, value):
    _scatter(np.minimum, "scatter_min", a, slices, value)


def empty_pinned(shape, dtype=float, order="C"):
    """Page-locked host memory: a NumPy array (the stand-in's host memory is all alike)."""
    return np.empty(shape, dtype, order=order)


def zeros_pinned(shape, dtype=float, order="C"):
    return np.zeros(shape, dtype, order=order)


def empty_like_pinned(a, dtype=None, order="K", subok=None, shape=None):
    return np.empty_like(a, dtype=dtype, order=order, shape=shape)
