"""Factories: tensor, zeros, ones, full, empty, arange, linspace, eye, rand*, *_like."""
import contextlib

import numpy as np

from mytorch import backend, dtypes
from mytorch import random as _random
from mytorch.promotion import shape_args as _shape_args
from mytorch.promotion import to_array as _to_array
from mytorch.tensor import Tensor


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor from Python numbers/lists or a NumPy/CuPy array (always a copy).

    Python floats give the default dtype (float32), ints int64, bools bool; arrays keep theirs.
    """
    arr = _to_array(data, dtype, device)
    if arr is data or (isinstance(data, Tensor) and arr is data.data):
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like `tensor` but shares memory with an array when it can."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(_to_array(data, dtype, device))


def from_numpy(arr):
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(arr).__name__}")
    return Tensor(arr)


def _on(device):
    """A context allocating on `device` ("cuda" = the current GPU); nothing for the CPU."""
    scope = backend.on_device(device or "cpu")
    return contextlib.nullcontext() if scope is None else scope


def _make(fill, shape, dtype, device, requires_grad, default=None):
    dtype = np.dtype(dtype) if dtype is not None else (default or dtypes.get_default_dtype())
    xp = backend.module_for(device or "cpu")
    shape = _shape_args(shape)
    for s in shape:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"invalid shape {shape}: sizes must be non-negative ints")
    with _on(device):
        arr = fill(xp, shape, dtype)
    return Tensor(arr, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.empty(s, d), shape, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.result_type(np.zeros(1, dtypes.bool), fill_value) \
            if not isinstance(fill_value, bool) else dtypes.bool
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), (size,) if isinstance(size, int)
                 else tuple(size), dtype, device, requires_grad)


def _like(x, dtype, device):
    return dtype or x.dtype, device or x.device


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return empty(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if is_float else dtypes.int64
    xp = backend.module_for(device or "cpu")
    with _on(device):
        arr = xp.arange(start, end, step).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    xp = backend.module_for(device or "cpu")
    dtype = dtype or dtypes.get_default_dtype()
    with _on(device):
        arr = xp.linspace(start, end, steps).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    xp = backend.module_for(device or "cpu")
    with _on(device):
        arr = xp.eye(n, m, dtype=dtype or dtypes.get_default_dtype())
    return Tensor(arr, requires_grad=requires_grad)


def _device(device, generator):
    if device is None:
        return generator.device if generator is not None else backend.CPU
    return backend.resolve(device)


def _rng(device, generator):
    return _random.generator_for(device, generator)


def randn(*shape, dtype=None, device=None, generator=None, requires_grad=False):
    """Standard normal samples from the device's default (or the given) generator."""
    dtype = np.dtype(dtype or dtypes.get_default_dtype())
    device = _device(device, generator)
    with _on(device):
        arr = _rng(device, generator).standard_normal(_shape_args(shape), dtype=np.float64)
        arr = arr.astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, generator=None, requires_grad=False):
    dtype = np.dtype(dtype or dtypes.get_default_dtype())
    device = _device(device, generator)
    with _on(device):
        arr = _rng(device, generator).random(_shape_args(shape)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None):
    if high is None or isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, size if high is None else high
    if low >= high:
        raise ValueError(f"randint: low ({low}) must be less than high ({high})")
    device = _device(device, generator)
    with _on(device):
        arr = _rng(device, generator).integers(low, high, size=tuple(size))
        arr = backend.array_module(arr).asarray(arr, dtype=dtype or dtypes.int64)
    return Tensor(arr)


def randperm(n, dtype=None, device=None, generator=None):
    """A random permutation of 0..n-1."""
    device = _device(device, generator)
    with _on(device):
        if device.type == "cpu":
            arr = _rng(device, generator).permutation(n)
        else:  # CuPy's Generator has no permutation: sort random keys
            arr = backend.cupy.argsort(_rng(device, generator).random(n))
        arr = arr.astype(dtype or dtypes.int64)
    return Tensor(arr)


def randn_like(x, dtype=None, device=None, requires_grad=False):
    return randn(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False):
    return rand(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def randint_like(x, low, high=None, dtype=None, device=None):
    return randint(low, high, x.shape, dtype=dtype or x.dtype, device=device or x.device)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """`steps` points from base**start to base**end, evenly spaced in the exponent."""
    xp = backend.module_for(device or "cpu")
    dtype = dtype or dtypes.get_default_dtype()
    with _on(device):
        arr = xp.power(float(base), xp.linspace(start, end, steps)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def normal(mean, std=1.0, size=None, generator=None, dtype=None, device=None,
           requires_grad=False):
    """Normal samples with the given mean and std: tensors (broadcast together) or numbers;
    with two numbers, pass `size`. Samples carry no gradient to mean or std."""
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mt and not st:
        if size is None:
            raise TypeError("normal: with a number mean and std, pass size=")
        if std < 0:
            raise RuntimeError(f"normal: std must be >= 0, got {std}")
        dtype = np.dtype(dtype or dtypes.get_default_dtype())
        device = _device(device, generator)
        with _on(device):
            arr = _rng(device, generator).standard_normal(_shape_args((size,)),
                                                          dtype=np.float64)
            arr = (arr * std + mean).astype(dtype)
        return Tensor(arr, requires_grad=requires_grad)
    ref = mean if mt else std
    m = mean.data if mt else mean
    s = std.data if st else std
    xp = backend.array_module(ref.data)
    if mt and st and mean.dtype != std.dtype:
        raise RuntimeError(f"normal: mean ({mean.dtype}) and std ({std.dtype}) must have one "
                           "dtype")
    if bool(xp.any(xp.asarray(s) < 0)):
        raise RuntimeError("normal: std must be >= 0")
    shape = np.broadcast_shapes(tuple(getattr(m, "shape", ())), tuple(getattr(s, "shape", ())))
    with _on(ref.device):
        z = _rng(ref.device, generator).standard_normal(shape, dtype=np.float64)
        return Tensor._wrap((z * s + m).astype(ref.dtype))


def bernoulli(input, p=None, generator=None):
    """0/1 samples in input's dtype: 1 with probability `input` (or p, when given)."""
    prob = input.data if p is None else (p.data if isinstance(p, Tensor) else p)
    xp = backend.array_module(input.data)
    if bool(xp.any((xp.asarray(prob) < 0) | (xp.asarray(prob) > 1))):
        raise RuntimeError("bernoulli: probabilities must be in [0, 1]")
    with _on(input.device):
        u = _rng(input.device, generator).random(input.shape)
        return Tensor._wrap((u < prob).astype(input.dtype))


def multinomial(input, num_samples, replacement=False, generator=None):
    """Indices drawn from each row of `input` (1-D or 2-D non-negative weights, not
    necessarily summing to one) -> int64 of shape (num_samples,) or (rows, num_samples)."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: expected a 1-D or 2-D weight tensor, got shape "
                           f"{tuple(input.shape)}")
    w = input.data.astype(np.float64).reshape(-1, input.shape[-1])
    xp = backend.array_module(w)
    n = w.shape[1]
    if n == 0 or num_samples <= 0:
        raise RuntimeError(f"multinomial: need categories and num_samples > 0, got shape "
                           f"{tuple(input.shape)} and num_samples {num_samples}")
    if not bool(xp.all(xp.isfinite(w) & (w >= 0))):
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or "
                           "element < 0")
    if not bool(xp.all(w.sum(axis=1) > 0)):
        raise RuntimeError("multinomial: invalid distribution (a row of weights sums to 0)")
    rng = _rng(input.device, generator)
    if replacement:
        # inverse CDF: the first category whose cumulative weight exceeds u
        cdf = xp.cumsum(w, axis=1)
        cdf /= cdf[:, -1:]
        u = rng.random((w.shape[0], num_samples))
        idx = xp.stack([xp.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
        idx = xp.minimum(idx, n - 1)
    else:
        if num_samples > n:
            raise RuntimeError(f"multinomial: cannot sample {num_samples} > {n} categories "
                               "without replacement")
        if bool(xp.any((w > 0).sum(axis=1) < num_samples)):
            raise RuntimeError(f"multinomial: fewer than {num_samples} categories with "
                               "non-zero weight; cannot sample without replacement")
        # Exponential races: the k smallest E_i / w_i are k draws without replacement
        with np.errstate(divide="ignore") if xp is np else contextlib.nullcontext():
            keys = -xp.log1p(-rng.random(w.shape)) / w
        idx = xp.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64)
    return Tensor._wrap(idx if input.ndim == 2 else idx[0])
