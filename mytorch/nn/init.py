"""Parameter initialisation with PyTorch's distributions, in place and without autograd.

Every function takes an optional `generator` (a mytorch.Generator); by default it draws from
the default stream of the tensor's device (so `mytorch.manual_seed` makes it reproducible).
"""
import math

import numpy as np

from mytorch.autograd.grad_mode import no_grad
from mytorch.backend import array_module
from mytorch.random import generator_for

__all__ = ["calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "constant_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_", "orthogonal_", "eye_", "dirac_", "sparse_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended std gain for a nonlinearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than "
                         f"2 dimensions (shape {tuple(tensor.shape)})")
    receptive = math.prod(tensor.shape[2:]) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode {mode!r} is not 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    with no_grad():
        tensor.data[...] = values.astype(tensor.dtype, copy=False)
    return tensor


def _rng(tensor, generator):
    return generator_for(tensor.device, generator)


_CHUNK = 1 << 20  # values drawn at a time into a large NumPy tensor (8 MiB of float64)
_Generator, _ndarray = np.random.Generator, np.ndarray


def _fill_drawn(tensor, rng, draw):
    """Fill `tensor` with `draw(rng, n)` (n float64 values; draw scales and shifts them).

    NumPy's generators give the same values drawn in pieces as in one call, so a large CPU
    tensor is filled a megavalue at a time: GPT-2's (50257, 768) embedding would otherwise
    pass through two float64 copies of itself (about 600 MiB for a 147 MiB float32 weight).
    Other streams (CuPy's) draw the whole tensor at once, as their pieces could differ."""
    data = tensor.data
    if not (isinstance(rng, _Generator) and isinstance(data, _ndarray)
            and data.size > _CHUNK and data.flags.c_contiguous):
        return _fill(tensor, draw(rng, tensor.shape))
    flat = data.reshape(-1)
    with no_grad():
        for start in range(0, flat.size, _CHUNK):
            stop = min(start + _CHUNK, flat.size)
            flat[start:stop] = draw(rng, stop - start)
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    return _fill_drawn(tensor, _rng(tensor, generator), lambda rng, n: rng.uniform(a, b, n))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2)."""
    return _fill_drawn(tensor, _rng(tensor, generator),
                       lambda rng, n: rng.standard_normal(n) * std + mean)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) restricted to [a, b] (redrawing values outside)."""
    rng = _rng(tensor, generator)
    xp = type(tensor.data).__module__.split(".")[0] == "cupy"
    out = rng.standard_normal(tensor.shape) * std + mean
    bad = (out < a) | (out > b)
    for _ in range(100):
        n = int(bad.sum())
        if not n:
            break
        out[bad] = rng.standard_normal(n) * std + mean
        bad = (out < a) | (out > b)
    if bool(bad.any()):  # the window holds almost no mass: clip what is left
        out = out.clip(a, b)
    del xp
    return _fill(tensor, out)


def constant_(tensor, val):
    with no_grad():
        tensor.data[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan) (He et al.)."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix times `gain` (Saxe et al.); dims after the first
    are flattened, so rows or columns of the (shape[0], rest) view are orthonormal."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(tensor, generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    xp = array_module(flat)
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diagonal(r))  # makes the decomposition unique (uniform over O(n))
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(tensor.shape))


def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the main diagonal of a non-square one)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    xp = array_module(tensor.data)
    return _fill(tensor, xp.eye(*tensor.shape))


def dirac_(tensor, groups=1):
    """Fill a {3, 4, 5}-D conv weight (out, in, *k) with the Dirac delta, so the conv keeps
    its input channels (per group of out // groups outputs)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got "
                         f"shape {tuple(tensor.shape)}")
    if tensor.shape[0] % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups "
                         f"({groups})")
    per_group = tensor.shape[0] // groups
    n = min(per_group, tensor.shape[1])
    centre = tuple(k // 2 for k in tensor.shape[2:])
    with no_grad():
        tensor.data[...] = 0
        for g in range(groups):
            for d in range(n):
                tensor.data[(g * per_group + d, d) + centre] = 1
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """Fill a 2-D tensor with N(0, std^2), then zero ceil(sparsity * rows) random entries of
    each column (Martens, 2010)."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    rows, cols = tensor.shape
    n_zeros = int(math.ceil(sparsity * rows))
    rng = _rng(tensor, generator)
    out = rng.standard_normal((rows, cols)) * std
    xp = array_module(out)
    # A random permutation of the rows per column: argsort of uniform draws.
    zero_rows = xp.argsort(rng.uniform(0.0, 1.0, (rows, cols)), axis=0)[:n_zeros]
    out[zero_rows, xp.arange(cols)] = 0
    return _fill(tensor, out)


del np
