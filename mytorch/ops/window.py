"""Sliding-window geometry shared by convolution, pooling, unfold/fold and their layers.

A geometry describes one N-d window problem: input spatial `size`, zero padding `lo` before
and `hi` after each axis (the padded extent is `padded`), `kernel`, `stride`, `dilation` and
the output size `out`, all tuples of one entry per spatial axis. `geom` builds one from the
arguments of an op and checks them. 2-D problems (and 1-D ones, run as height 1) get `Geom`,
whose named fields (H, W, pt, ..., Ho, Wo) the numba loops and Winograd read; other ranks get
`GeomNd`. Both answer the same tuple-valued properties, so the array helpers below and the
pooling and convolution code are written once for every rank.

>>> g = geom("max_pool2d", (32, 32), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1))
>>> g.out       # (16, 16)
"""
import itertools
from collections import namedtuple

import numpy as np

from mytorch.backend import array_module

__all__ = ["Geom", "GeomNd", "adaptive_matrix", "adaptive_ranges", "as_strided", "avg_divisor",
           "batch_chunks",
           "conv_pads", "crop", "geom", "max_indices", "ntuple", "offsets", "pad", "tap",
           "windows", "with_out"]


def batch_chunks(n, per_item, limit):
    """Batch ranges [(a, b), ...] over n items of `per_item` buffer elements each, as many items
    a chunk as keep its buffers near `limit` elements (at least one): the conv drivers' way of
    keeping a chunk's columns or transformed tensors in cache."""
    step = max(1, limit // max(per_item, 1))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def ntuple(v, n, what, op):
    """An int or an n-sequence of ints -> tuple of n ints (a 1-sequence is repeated)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    try:
        t = tuple(int(a) for a in v)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a tuple of {n} ints, got {v!r}") from None
    if len(t) == 1 and n > 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{op}: {what} must have {n} element(s), got {v!r}")
    return t


class Geom(namedtuple("Geom", "H W pt pb pl pr Hp Wp kh kw sh sw dh dw Ho Wo")):
    """One 2-D window problem: input (H, W) zero-padded by (pt, pb, pl, pr) into (Hp, Wp);
    kernel (kh, kw), stride (sh, sw), dilation (dh, dw); output (Ho, Wo)."""
    __slots__ = ()
    size = property(lambda g: (g.H, g.W))
    lo = property(lambda g: (g.pt, g.pl))
    hi = property(lambda g: (g.pb, g.pr))
    padded = property(lambda g: (g.Hp, g.Wp))
    kernel = property(lambda g: (g.kh, g.kw))
    stride = property(lambda g: (g.sh, g.sw))
    dilation = property(lambda g: (g.dh, g.dw))
    out = property(lambda g: (g.Ho, g.Wo))


class GeomNd(namedtuple("GeomNd", "size lo hi padded kernel stride dilation out")):
    """One window problem of any rank; every field a tuple with one entry per spatial axis."""
    __slots__ = ()


def geom(op, size, kernel, stride, pads, dilation, ceil_mode=False):
    """Check a window op's arguments and size its output; `pads` is ((lo, hi),) per axis.

    Raises ValueError for non-positive kernel/stride/dilation or negative padding and
    RuntimeError when the window does not fit the padded input."""
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: kernel size {kernel}, stride {stride} and dilation {dilation} "
                         "must be positive")
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {pads}")
    out, padded = [], []
    for n, (lo, hi), k, s, d in zip(size, pads, kernel, stride, dilation):
        span = n + lo + hi - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + lo:
            o -= 1  # the last window must start inside the input or the left padding
        if o < 1:  # with ceil_mode a window may still hang past a too-small input, as torch
            raise RuntimeError(
                f"{op}: kernel size {tuple(kernel)} (dilation {tuple(dilation)}) is larger than "
                f"the padded input {tuple(n + lo + hi for n, (lo, hi) in zip(size, pads))} "
                f"(input spatial size {tuple(size)}, padding {pads})")
        out.append(o)
        # The padded extent actually read by the windows (ceil_mode may reach past `hi`).
        padded.append(max(n + lo + hi, (o - 1) * s + d * (k - 1) + 1))
    lo = tuple(p[0] for p in pads)
    hi = tuple(p - n - a for p, n, a in zip(padded, size, lo))
    if len(size) == 2:
        (H, W), (Hp, Wp), (kh, kw), (sh, sw), (dh, dw) = size, padded, kernel, stride, dilation
        return Geom(H, W, lo[0], hi[0], lo[1], hi[1], Hp, Wp, kh, kw, sh, sw, dh, dw, *out)
    return GeomNd(tuple(size), lo, hi, tuple(padded), tuple(kernel), tuple(stride),
                  tuple(dilation), tuple(out))


def with_out(g, out):
    """`g` with its output size replaced (a transposed conv's output_padding may add one)."""
    if isinstance(g, Geom):
        return g._replace(Ho=out[0], Wo=out[1])
    return g._replace(out=tuple(out))


def conv_pads(padding, kernel, dilation, stride, op):
    """padding (int, tuple, 'same', 'valid') -> ((lo, hi),) per axis."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got "
                             f"{padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride {stride})")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    p = ntuple(padding, len(kernel), "padding", op)
    return tuple((v, v) for v in p)


# ---------------------------------------------------------------------------------------
# windows of arrays (N, C, *spatial)

def as_strided(xp, a, shape, strides):
    if xp is np:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(a, shape, strides)


def _inner(g):
    """Index of the unpadded input inside a padded (N, C, *padded) array."""
    return (slice(None), slice(None)) + tuple(slice(a, a + n) for a, n in zip(g.lo, g.size))


def pad(a, g, value=0):
    """(N, C, *size) -> (N, C, *padded) filled with `value` around `a` (no copy if no padding)."""
    if g.padded == g.size:
        return a
    xp = array_module(a)
    out = xp.full(a.shape[:2] + g.padded, value, a.dtype)
    out[_inner(g)] = a
    return out


def crop(a, g):
    """(N, C, *padded) -> its contiguous (N, C, *size) interior."""
    if g.padded == g.size:
        return a
    return array_module(a).ascontiguousarray(a[_inner(g)])


def windows(a, g):
    """Padded (N, C, *padded) -> read-only view (N, C, *kernel, *out) of every window."""
    s = a.strides
    nd = len(g.kernel)
    strides = s[:2] + tuple(s[2 + i] * g.dilation[i] for i in range(nd)) \
        + tuple(s[2 + i] * g.stride[i] for i in range(nd))
    return as_strided(array_module(a), a, a.shape[:2] + g.kernel + g.out, strides)


def offsets(g):
    """Every kernel offset, in row-major order (the order window arguments count in)."""
    return itertools.product(*(range(k) for k in g.kernel))


def tap(a, g, off):
    """The (N, C, *out) strided slice of padded `a` under kernel offset `off`."""
    return a[(slice(None), slice(None)) + tuple(
        slice(i * d, i * d + s * (o - 1) + 1, s)
        for i, d, s, o in zip(off, g.dilation, g.stride, g.out))]


# ---------------------------------------------------------------------------------------
# pooling arithmetic

def max_indices(xp, arg, g):
    """Window offsets (row-major in the kernel) -> flat indices into each unpadded spatial
    plane or volume (PyTorch's layout for return_indices)."""
    arg = arg.astype(xp.int64)
    nd = len(g.kernel)
    idx = 0
    for axis in range(nd):
        inner = 1
        for k in g.kernel[axis + 1:]:
            inner *= k
        part = (arg // inner) % g.kernel[axis] if axis else arg // inner
        shape = [1] * nd
        shape[axis] = -1
        start = xp.arange(g.out[axis], dtype=xp.int64).reshape(shape) * g.stride[axis]
        idx = idx * g.size[axis] + (start - g.lo[axis] + part * g.dilation[axis])
    return idx


def avg_divisor(xp, g, count_include_pad, divisor_override, dtype):
    """Per-output divisors (*out), PyTorch's rule: windows are clipped to input+padding
    (ceil_mode overhang never counts); without count_include_pad, to the input."""
    if divisor_override:
        return dtype.type(divisor_override)
    div = np.ones((), np.int64)
    for n_in, lo, n_out, k, s in zip(g.size, g.lo, g.out, g.kernel, g.stride):
        start = np.arange(n_out) * s - lo
        end = np.minimum(start + k, n_in + lo)
        if count_include_pad:
            size = end - start
        else:
            size = np.minimum(end, n_in) - np.maximum(start, 0)
        div = np.multiply.outer(div, size)
    return xp.asarray(div.astype(dtype))


def adaptive_ranges(n_in, n_out):
    """Adaptive pooling's windows: output i spans [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def adaptive_matrix(n_in, n_out, dtype):
    """(n_out, n_in) matrix averaging each adaptive window."""
    start, end = adaptive_ranges(n_in, n_out)
    m = np.zeros((n_out, n_in))
    for r, (a, b) in enumerate(zip(start, end)):
        m[r, a:b] = 1.0 / (b - a)
    return m.astype(dtype)
