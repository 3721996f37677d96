"""The one place that knows both array libraries: NumPy on "cpu", CuPy on "cuda".

Every op asks `array_module(x)` for the `xp` of its inputs; data crosses between host
and device only through `to_device`.
"""
import contextlib

import numpy as np

try:  # CuPy imports without a GPU; it is simply unusable then.
    import cupy
except Exception:  # pragma: no cover - depends on the host
    cupy = None

_cuda_ok = None


def cuda_available():
    """True when CuPy is installed and sees at least one GPU. Never raises."""
    global _cuda_ok
    if _cuda_ok is None:
        try:
            _cuda_ok = cupy is not None and cupy.cuda.is_available()
        except Exception:
            _cuda_ok = False
    return _cuda_ok


def array_module(x):
    """numpy or cupy, by the type of `x` (or, for an array-like registered in `namespaces`,
    the namespace it names: autograd's differentiable arrays under create_graph)."""
    t = type(x)
    if t is np.ndarray:
        return np
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy
    ns = namespaces.get(t)
    return np if ns is None else ns(x)


namespaces = {}  # array-like type -> function giving its namespace


def is_array(x):
    return isinstance(x, np.ndarray) or (cupy is not None and isinstance(x, cupy.ndarray))


class device:
    """A device: `device("cpu")`, `device("cuda")`, `device("cuda:1")`, `device("cuda", 1)`.

    As in PyTorch, a bare "cuda" (index None) means the current device
    (`mytorch.cuda.set_device`, `with mytorch.cuda.device(i):`); it compares equal to it."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, num = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type {spec!r}; use 'cpu' or 'cuda[:N]'")
        if num:
            if index is not None or not num.isdigit():
                raise ValueError(f"device: invalid device string {spec!r}")
            index = int(num)
        if kind == "cpu":
            index = None
        self.type, self.index = kind, index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, TypeError):
                return False
        if not isinstance(other, device) or other.type != self.type:
            return False
        return resolve(self).index == resolve(other).index

    def __hash__(self):
        return hash(self.type)  # "cuda" and "cuda:<current>" are equal, so hash alike


def current_cuda_index():
    """The current CUDA device's index (0 without a GPU)."""
    return cupy.cuda.runtime.getDevice() if cuda_available() else 0


def resolve(dev):
    """`dev` with its index filled in: a bare "cuda" becomes the current device."""
    dev = device(dev)
    if dev.type == "cuda" and dev.index is None:
        return device("cuda", current_cuda_index())
    return dev


def on_device(dev):
    """A context in which CuPy allocates and computes on `dev` (None for the CPU)."""
    dev = resolve(dev)
    if dev.type == "cpu":
        return None
    module_for(dev)
    return cupy.cuda.Device(dev.index)


def device_scope(x):
    """`scope_of(x)`, or a context that does nothing: `with device_scope(x):` runs the block on
    x's device (for code that uses arrays outside Function.apply)."""
    scope = scope_of(x)
    return contextlib.nullcontext() if scope is None else scope


def scope_of(x):
    """The context that makes array x's GPU current, or None when it is a host array or its
    GPU already is current: ops run on their inputs' device, as in PyTorch."""
    if type(x) is np.ndarray or cupy is None or not isinstance(x, cupy.ndarray):
        return None
    dev = x.device
    return None if dev.id == cupy.cuda.runtime.getDevice() else dev


CPU = device("cpu")


def device_of(x):
    """The device an array lives on."""
    if isinstance(x, np.ndarray):
        return CPU
    if cupy is not None and isinstance(x, cupy.ndarray):
        return device("cuda", x.device.id)
    return CPU


def module_for(dev):
    """The array module of a device."""
    dev = device(dev)
    if dev.type == "cpu":
        return np
    if not cuda_available():
        raise RuntimeError(f"device {dev}: CUDA is not available (no GPU or CuPy not installed)")
    if dev.index is not None and dev.index >= cupy.cuda.runtime.getDeviceCount():
        raise RuntimeError(f"device {dev}: invalid device index; this host has "
                           f"{cupy.cuda.runtime.getDeviceCount()} GPU(s)")
    return cupy


def to_device(x, dev):
    """Copy an array to `dev` (a no-op when it is already there)."""
    dev = device(dev)
    if dev.type == "cpu":
        if isinstance(x, np.ndarray):
            return x
        if cupy is not None and isinstance(x, cupy.ndarray):
            return cupy.asnumpy(x)
        return np.asarray(x)
    dev = resolve(dev)
    module_for(dev)
    if isinstance(x, cupy.ndarray) and x.device.id == dev.index:
        return x
    with cupy.cuda.Device(dev.index):
        return cupy.asarray(x)


def pinned(arr):
    """A copy of host array `arr` in page-locked memory (CuPy's pinned pool), from which copies
    to a GPU are faster; `arr` itself when no GPU is usable."""
    if not cuda_available():
        return arr
    import cupyx
    out = cupyx.empty_pinned(arr.shape, arr.dtype)
    out[...] = arr
    return out


def host_float_arrays(*arrays):
    """True when every array is a C-contiguous NumPy float32/float64 array of one dtype: what
    the numba CPU loops accept (anything else takes the array-module reference path)."""
    dtype = arrays[0].dtype
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return dtype in (np.float32, np.float64)
