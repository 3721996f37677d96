"""A strict NumPy-backed stand-in for the parts of CuPy that mytorch uses: FOR TESTS ONLY.

Selected by putting `tests/cuda_standin` first on PYTHONPATH (subprocesses inherit it);
`CUDA_STANDIN_GPUS=N` sets how many pretend GPUs there are (default 1) and
`CUDA_VISIBLE_DEVICES` narrows them as it does on a real host. Arrays are NumPy arrays in host
memory tagged with a device index; see `_core` for the rules it enforces. Only names the real
CuPy has (`_real_api.json`, written by `make_api.py` from the installed wheel) exist here.
"""
import numpy as np

from cupy import _core, cuda, lib, linalg, random, testing
from cupy._core import ndarray

__version__ = "14.2.0+standin"
STANDIN = True

_OWN = {"ndarray", "asarray", "array", "asanyarray", "asnumpy", "get_array_module",
        "get_default_memory_pool", "get_default_pinned_memory_pool", "ufunc", "cuda",
        "random", "linalg", "lib", "testing"}


class ufunc:
    """A NumPy ufunc behind CuPy's call rules (keywords: out, casting, dtype)."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = self.name = np_ufunc.__name__
        self.nin, self.nout, self.nargs = np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs

    def __call__(self, *args, **kwargs):
        _core.check_kwargs("cupy", self.name, kwargs)
        return _core.call_numpy(self._u, self.name, args, kwargs)

    def _method(self, method, args, kwargs):
        _core.check_kwargs("cupy.ufunc", method, kwargs)
        return _core.call_numpy(getattr(self._u, method), f"{self.name}.{method}", args,
                                kwargs)

    def at(self, *args, **kwargs):
        un = _core._Unwrapper(f"{self.name}.at")
        un(args[0])
        _core.check_kwargs("cupy.ufunc", "at", kwargs)
        self._u.at(*un(args), **un(kwargs))

    def reduce(self, *args, **kwargs):
        return self._method("reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._method("accumulate", args, kwargs)

    def outer(self, *args, **kwargs):
        return self._method("outer", args, kwargs)

    def __repr__(self):
        return f"<ufunc '{self.name}'>"


def _function(name, func):
    def f(*args, **kwargs):
        _core.check_kwargs("cupy", name, kwargs)
        return _core.call_numpy(func, name, args, kwargs)
    f.__name__ = f.__qualname__ = name
    return f


def asarray(a, dtype=None, order=None, copy=None, blocking=True):
    """Host data (NumPy arrays, lists, scalars) or a device array -> an array on the current
    device (a copy when it lives elsewhere)."""
    if isinstance(a, ndarray):
        if a._dev == _core.current_device() and (dtype is None or a.dtype == dtype):
            return a
        return array(a, dtype=dtype, order=order)
    return array(a, dtype=dtype, order=order or "K", copy=False if copy is None else copy)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=True):
    un = _core._Unwrapper("array", allow_host=True, check_device=False)
    host = un(obj)
    out = np.array(host, dtype=dtype, copy=True, order=order, ndmin=ndmin)
    if out.dtype.kind in "OUS":
        raise ValueError(f"Unsupported dtype {out.dtype}")
    return _core.wrap_array(out, _core.current_device())


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """Device (or host) data -> a NumPy array."""
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    if out is not None:
        out[...] = a
        return out
    return np.asarray(a, order=order)


def get_array_module(*args):
    for a in args:
        if isinstance(a, ndarray):
            import cupy
            return cupy
    return np


def get_default_memory_pool():
    return cuda.MemoryPool._default


def get_default_pinned_memory_pool():
    return cuda.PinnedMemoryPool._default


def __getattr__(name):
    if name not in _core.API["cupy"] or name.startswith("_"):
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    target = getattr(np, name, None)
    if target is None:
        raise AttributeError(f"cupy stand-in: cupy.{name} exists in CuPy but the stand-in does "
                             "not implement it (tests/cuda_standin/cupy)")
    if isinstance(target, np.ufunc):
        value = ufunc(target)
    elif callable(target) and not isinstance(target, type):
        value = _function(name, target)
    else:
        value = target  # dtypes, constants, np.newaxis
    globals()[name] = value
    return value
