"""The stand-in's array: a NumPy array that lives on a numbered pretend GPU.

What it enforces, as real CuPy does (or stricter, never looser):
- no implicit conversion to NumPy (`np.asarray(d)`, `d.__array__()` raise TypeError);
- no NumPy arrays among the inputs of a device function or operator (TypeError);
- every array carries a device index, and a computation only runs when its arrays live on the
  current device (CuPy without peer access: ValueError naming both devices);
- reductions and scalar indexing give 0-d arrays, never NumPy scalars;
- keyword arguments are checked against the real CuPy's signatures (`_real_api.json`).
Host copies (`get`, `asnumpy`, `item`, `float()`, ...) are counted in `syncs` so tests can
check that a training step does not wait on the device.
"""
import json
import os
import pathlib
import threading
import types
import weakref

import numpy as np

API = json.loads((pathlib.Path(__file__).parent / "_real_api.json").read_text())

_local = threading.local()
syncs = 0  # device -> host copies so far (see the module docstring)
pointers = {}  # x.data.ptr -> device, for the NCCL stand-in's check of raw pointers


def device_count():
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    n = int(os.environ.get("CUDA_STANDIN_GPUS", "1"))
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() != ""]
        n = len([v for v in ids if v.strip().isdigit() and int(v) < n])
    return n


def current_device():
    return getattr(_local, "device", 0)


def set_current_device(index):
    if not 0 <= index < device_count():
        raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {index} "
                           f"(the stand-in has {device_count()} GPUs)")
    _local.device = index


def count_sync():
    global syncs
    syncs += 1


class _Pool:
    """Bytes held by live arrays per device; `total` is the high-water mark until freed."""

    def __init__(self):
        self.used = {}
        self.total = {}

    def add(self, dev, n):
        self.used[dev] = self.used.get(dev, 0) + n
        self.total[dev] = max(self.total.get(dev, 0), self.used[dev])

    def sub(self, dev, n):
        self.used[dev] = self.used.get(dev, 0) - n


pool = _Pool()


def _peer_error(array_dev, what):
    return ValueError(
        f"The device where the array resides ({array_dev}) is different from the current "
        f"device ({current_device()}). Peer access is unavailable between these devices. "
        f"[cupy stand-in: {what}]")


def check_kwargs(api_key, name, kwargs):
    params = API[api_key].get(name)
    if params is None or params == "attribute":
        return
    bad = [k for k in kwargs if k not in params]
    if bad:
        raise TypeError(f"{name}() got an unexpected keyword argument {bad[0]!r} "
                        f"(cupy's {name} takes {params})")


class _Unwrapper:
    """Turns arguments into NumPy for the call, refusing NumPy arrays and arrays on another
    device, and remembering the input arrays so results can be matched to them."""

    def __init__(self, what, allow_host=False, check_device=True):
        self.what = what
        self.allow_host = allow_host
        self.check_device = check_device
        self.inputs = {}  # id(numpy array) -> stand-in array

    def __call__(self, obj):
        if isinstance(obj, ndarray):
            if self.check_device and obj._dev != current_device():
                raise _peer_error(obj._dev, self.what)
            self.inputs[id(obj._a)] = obj
            return obj._a
        if isinstance(obj, np.ndarray) and not self.allow_host:
            raise TypeError(f"Unsupported type <class 'numpy.ndarray'> [cupy stand-in: "
                            f"{self.what} got a NumPy array; move it with cupy.asarray]")
        if isinstance(obj, (list, tuple)):
            return type(obj)(self(o) for o in obj)
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        return obj

    def wrap(self, res):
        """Stand-in arrays for the NumPy results (on the current device)."""
        if isinstance(res, tuple):
            return tuple(self.wrap(r) for r in res)
        if isinstance(res, list):
            return [self.wrap(r) for r in res]
        if isinstance(res, np.generic) and not isinstance(res, np.dtype):
            res = np.asarray(res)
        if type(res) is not np.ndarray:
            return res
        same = self.inputs.get(id(res))
        if same is not None:
            return same
        return wrap_array(res, current_device(), self._root_of(res))

    def _root_of(self, res):
        base = res.base
        if base is None:
            return None
        for a in self.inputs.values():
            root = a._root()
            if base is root._a or np.may_share_memory(res, root._a):
                return root
        return None


def wrap_array(a, dev, base=None):
    x = ndarray.__new__(ndarray)
    x._a = a
    x._dev = dev
    x._base = base
    if base is None and a.nbytes:
        pool.add(dev, a.nbytes)
        weakref.finalize(x, pool.sub, dev, a.nbytes)
    return x


def call_numpy(func, what, args, kwargs, allow_host=False, check_device=True):
    un = _Unwrapper(what, allow_host, check_device)
    args = un(args)
    kwargs = un(kwargs)
    with np.errstate(all="ignore"):  # CuPy never warns about inf/nan
        return un.wrap(func(*args, **kwargs))


class MemoryPointer:
    """`x.data`: the address of the array's first element (host memory in the stand-in)."""

    def __init__(self, a, dev):
        self.ptr = a.ctypes.data
        self.device_id = dev
        pointers[self.ptr] = dev
        self.mem = a

    def __int__(self):
        return self.ptr


_NO_KERNEL = {"view", "transpose", "swapaxes", "squeeze", "get", "item", "tolist", "set",
              "diagonal"}
_HOST_COPIES = {"get", "item", "tolist"}


class ndarray:
    """A stand-in `cupy.ndarray`: `ndarray(shape, dtype=float, memptr=None, strides=None,
    order='C')` allocates on the current device."""

    __slots__ = ("_a", "_dev", "_base", "__weakref__")
    __array_priority__ = 100

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("cupy stand-in: ndarray(memptr=, strides=) is not "
                                      "implemented")
        dev = current_device()
        a = np.empty(shape, dtype, order=order)
        self._a, self._dev, self._base = a, dev, None
        if a.nbytes:
            pool.add(dev, a.nbytes)
            weakref.finalize(self, pool.sub, dev, a.nbytes)

    def _root(self):
        """The array owning this one's memory (itself, or the base of a view)."""
        return self if self._base is None else self._base

    # ---- metadata (no kernel, any current device) ----
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: self._base)

    @property
    def device(self):
        from cupy.cuda import Device
        return Device(self._dev)

    @property
    def data(self):
        return MemoryPointer(self._a, self._dev)

    @property
    def __cuda_array_interface__(self):
        # CuPy's (v3, without a stream): the address is the pretend device's memory, which is
        # host memory. numba's CUDA simulator launches on host arrays, so
        # mytorch.ops.cuda_kernels hands it a NumPy view through this: that is how the fused
        # kernels run on stand-in arrays. No copy, so no sync counted.
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "descr": [("", a.dtype.str)],
                "data": (a.ctypes.data, False), "version": 3,
                "strides": None if a.flags.c_contiguous else a.strides}

    @property
    def T(self):
        return wrap_array(self._a.T, self._dev, self._root())

    @property
    def mT(self):
        return wrap_array(np.swapaxes(self._a, -1, -2), self._dev, self._root())

    @property
    def real(self):
        return self._method("real", (), {}, attr=True)

    @property
    def imag(self):
        return self._method("imag", (), {}, attr=True)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield self[i]

    def __repr__(self):
        count_sync()
        return repr(self._a)

    def __str__(self):
        count_sync()
        return str(self._a)

    # ---- host copies: explicit, or the scalar conversions CuPy also allows ----
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def _scalar(self, kind):
        if self._a.size != 1:
            raise TypeError(f"only size-1 arrays can be converted to Python scalars "
                            f"({kind} of shape {self._a.shape})")
        count_sync()
        return kind(self._a.reshape(()).item())

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __complex__(self):
        return self._scalar(complex)

    def __bool__(self):
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous.")
        count_sync()
        return bool(self._a.reshape(()))

    def get(self, stream=None, order="C", out=None, blocking=True):
        count_sync()
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self._a.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self._a.shape}, new shape: "
                             f"{arr.shape}")
        self._a[...] = arr

    # ---- indexing ----
    def __getitem__(self, key):
        un = _Unwrapper("getitem", allow_host=True, check_device=_has_array(key))
        un.inputs[id(self._a)] = self
        return un.wrap(self._a[un(key)])

    def __setitem__(self, key, value):
        if self._dev != current_device():
            raise _peer_error(self._dev, "setitem")
        un = _Unwrapper("setitem", allow_host=True)
        key = un(key)
        value = _Unwrapper("setitem value")(value)
        self._a[key] = value

    # ---- NumPy protocols: np.* on a stand-in array runs the stand-in's function ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        import cupy
        mine = getattr(cupy, ufunc.__name__, None)
        if mine is None:
            return NotImplemented
        return getattr(mine, method)(*inputs, **kwargs) if method != "__call__" \
            else mine(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        import cupy
        mod = func.__module__ or ""
        owner = cupy.linalg if "linalg" in mod else cupy
        mine = getattr(owner, func.__name__, None)
        if mine is None:
            return NotImplemented
        return mine(*args, **kwargs)

    # ---- methods: NumPy's, restricted to CuPy's names and keywords ----
    def _method(self, name, args, kwargs, attr=False):
        if name not in _HOST_COPIES and name not in _NO_KERNEL and \
                self._dev != current_device():
            raise _peer_error(self._dev, f"ndarray.{name}")
        un = _Unwrapper(f"ndarray.{name}", check_device=name not in _NO_KERNEL)
        un.inputs[id(self._a)] = self
        target = getattr(self._a, name)
        with np.errstate(all="ignore"):
            res = target if attr else target(*un(args), **un(kwargs))
        if name in _NO_KERNEL:  # views stay on the array's device
            if type(res) is np.ndarray and id(res) not in un.inputs:
                return wrap_array(res, self._dev, self._root())
        return un.wrap(res)

    def __getattr__(self, name):
        if name.startswith("_") or name not in API["cupy.ndarray"] or \
                not hasattr(np.ndarray, name):
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")

        def method(*args, **kwargs):
            check_kwargs("cupy.ndarray", name, kwargs)
            if name in _HOST_COPIES:
                count_sync()
            return self._method(name, args, kwargs)
        return method

    def __reduce__(self):
        raise TypeError("cupy stand-in: pickling a device array is not supported; use .get()")

    __hash__ = None


def _has_array(key):
    if isinstance(key, tuple):
        return any(_has_array(k) for k in key)
    return isinstance(key, (ndarray, np.ndarray, list))


def _operator(name):
    def op(self, *args):
        un = _Unwrapper(f"operator {name}")
        un.inputs[id(self._a)] = self
        if self._dev != current_device():
            raise _peer_error(self._dev, f"operator {name}")
        with np.errstate(all="ignore"):
            res = getattr(self._a, name)(*un(args))
        if res is NotImplemented:
            return res
        return un.wrap(res)
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
              "or", "xor", "lshift", "rshift", "divmod"):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        if hasattr(np.ndarray, _form):
            setattr(ndarray, _form, _operator(_form))
for _form in ("__neg__", "__pos__", "__abs__", "__invert__", "__lt__", "__le__", "__gt__",
              "__ge__", "__eq__", "__ne__"):
    setattr(ndarray, _form, _operator(_form))


def _set_compute_type(dtype, compute_type):
    _compute_types[np.dtype(dtype)] = compute_type


_compute_types = {}
# Real CuPy keeps its GEMM compute types (and their setter) in cupy._core._routines_linalg,
# not in cupy._core itself; the values are the real wheel's.
_routines_linalg = types.SimpleNamespace(
    COMPUTE_TYPE_DEFAULT=1, COMPUTE_TYPE_TF32=7, set_compute_type=_set_compute_type,
    get_compute_type=lambda dtype: _compute_types.get(np.dtype(dtype), 1))
