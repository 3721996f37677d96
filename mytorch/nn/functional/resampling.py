"""Padding and resampling: pad, interpolate/upsample, pixel and channel shuffle, unfold/fold.

Interpolation is a separable linear map per axis (mytorch.ops.resample); 'area' mode is
adaptive average pooling. unfold/fold are conv's im2col/col2im on a 2-D window geometry.
"""
import math

import numpy as np

from mytorch import dtypes
from mytorch.backend import array_module
from mytorch.nn.functional.pooling import adaptive_avg_pool_nd
from mytorch.ops import nn as N
from mytorch.ops.resample import Separable, interp_plan
from mytorch.ops.window import geom, ntuple
from mytorch.tensor import Tensor

__all__ = ["channel_shuffle", "fold", "interpolate", "pad", "pixel_shuffle", "pixel_unshuffle",
           "unfold", "upsample"]


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad)//2 dims: pad = (left_last, right_last, left_prev, ...).

    mode 'constant' (fill `value`, default 0; negative amounts crop) pads any dims; 'reflect'
    (mirror without the edge), 'replicate' (repeat the edge) and 'circular' (wrap) pad the
    last 1, 2 or 3 dims of a batched or unbatched input, as PyTorch.

    >>> F.pad(x, (1, 1, 2, 2), mode="reflect")   # (N, C, H, W) -> (N, C, H + 4, W + 2)
    """
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r} (expected one of "
                                  f"{_PAD_MODES})")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {tuple(pad)} must have an even length of at most "
                         f"2 * {input.ndim} for input of shape {tuple(input.shape)}")
    k = len(pad) // 2
    if mode == "constant":
        pads = [(0, 0)] * input.ndim
        for i in range(k):
            pads[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
        return N.Pad.apply(input, tuple(pads), 0.0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'pad: padding mode "{mode}" doesn\'t take in value argument')
    if k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of an input "
                                  f"with 1 or 2 more dims; padding of length {len(pad)} is not "
                                  f"supported for input of shape {tuple(input.shape)}")
    xp = array_module(input.data)
    out = input
    for i in range(k):
        d = input.ndim - 1 - i
        lo, hi, n = int(pad[2 * i]), int(pad[2 * i + 1]), input.shape[d]
        if n + lo + hi < 1:
            raise RuntimeError(f"pad: padding ({lo}, {hi}) leaves no elements of dim {d} "
                               f"(size {n}) of input {tuple(input.shape)}")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"pad: reflect padding size should be less than the corresponding "
                               f"input dimension, but got padding ({lo}, {hi}) at dimension {d} "
                               f"of input {tuple(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(f"pad: circular padding ({lo}, {hi}) at dimension {d} of input "
                               f"{tuple(input.shape)} wraps around more than once")
        j = np.arange(-lo, n + hi)
        if mode == "reflect":
            j = np.abs(j)
            j = np.where(j >= n, 2 * (n - 1) - j, j)
        elif mode == "replicate":
            j = np.clip(j, 0, n - 1)
        else:  # crop by the negative amounts first, then wrap what is left (as PyTorch)
            a, b = max(-lo, 0), n - max(-hi, 0)
            j = a + np.arange(-max(lo, 0), b - a + max(hi, 0)) % (b - a)
        out = out.index_select(d, Tensor._wrap(xp.asarray(j)))
    return out


def _shuffle_factor(input, factor, op, arg):
    """pixel_(un)shuffle's factor r as an int, after checking it and input's rank."""
    r = int(factor)
    if input.ndim < 3:
        raise RuntimeError(f"{op}: expects input to have at least 3 dimensions, but got input "
                           f"of shape {tuple(input.shape)}")
    if r <= 0:
        raise RuntimeError(f"{op}: expects a positive {arg}, but got {r}")
    return r


def pixel_shuffle(input, upscale_factor):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r), r = upscale_factor."""
    r = _shuffle_factor(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle: expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    b = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)  # (*, C, H, r, W, r)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), r = downscale_factor."""
    r = _shuffle_factor(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = input.shape
    for name, n, d in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise RuntimeError(f"pixel_unshuffle: expects {name} to be divisible by "
                               f"downscale_factor, but input.size({d})={n} is not divisible "
                               f"by {r}")
    b = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)  # (*, C, r, r, H, W)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input, groups):
    """(N, C, *) with C = g * k: channels reordered as the transpose of a (g, k) grid."""
    if input.ndim < 3:
        raise RuntimeError(f"channel_shuffle: expected an input of at least 3 dims, got shape "
                           f"{tuple(input.shape)}")
    c = input.shape[1]
    if groups <= 0 or c % groups:
        raise RuntimeError(f"channel_shuffle: number of channels {c} must be divisible by "
                           f"groups {groups}")
    n, rest = input.shape[0], tuple(input.shape[2:])
    return input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(input.shape)


def _foldgeom(op, size, kernel_size, dilation, padding, stride):
    k, d = ntuple(kernel_size, 2, "kernel_size", op), ntuple(dilation, 2, "dilation", op)
    p, s = ntuple(padding, 2, "padding", op), ntuple(stride, 2, "stride", op)
    return geom(op, size, k, s, ((p[0], p[0]), (p[1], p[1])), d)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks (im2col): (N, C, H, W) -> (N, C * kh * kw, L), L the number of blocks;
    unbatched (C, H, W) -> (C * kh * kw, L).

    >>> F.unfold(x, 3, padding=1).shape      # x (2, 4, 5, 5) -> (2, 36, 25)
    """
    op = "unfold"
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    g = _foldgeom(op, tuple(x.shape[2:]), kernel_size, dilation, padding, stride)
    y = N.Unfold.apply(x, g)
    return y.squeeze(0) if unbatched else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks back into an image (col2im, the adjoint of unfold):
    (N, C * kh * kw, L) -> (N, C, *output_size); unbatched (C * kh * kw, L) -> (C, *output_size).
    """
    op = "fold"
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    size = ntuple(output_size, 2, "output_size", op)
    k = ntuple(kernel_size, 2, "kernel_size", op)
    if x.shape[1] % (k[0] * k[1]):
        raise RuntimeError(f"{op}: expected size of input's dimension 1 to be divisible by the "
                           f"product of kernel_size, but got input.size(1)={x.shape[1]} and "
                           f"kernel_size={k}")
    g = _foldgeom(op, size, k, dilation, padding, stride)
    if x.shape[2] != g.Ho * g.Wo:
        raise RuntimeError(f"{op}: given output_size={size}, kernel_size={k}, dilation="
                           f"{dilation}, padding={padding}, stride={stride}, expected size of "
                           f"input's dimension 2 to match the calculated number of sliding "
                           f"blocks {g.Ho} * {g.Wo} = {g.Ho * g.Wo}, but got input.size(2)="
                           f"{x.shape[2]}")
    y = N.Fold.apply(x, g, x.shape[1] // (k[0] * k[1]))
    return y.squeeze(0) if unbatched else y


_INTERP_RANK = {"nearest": (3, 4), "nearest-exact": (3, 4), "linear": (3,), "bilinear": (4,),
                "area": (3, 4)}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False, auto=False):
    """Resize (N, C, L) or (N, C, H, W) to `size` or by `scale_factor`.

    mode: 'nearest', 'nearest-exact', 'linear' (3-D), 'bilinear' (4-D), 'area'.
    align_corners (linear modes only) follows PyTorch's definition.

    >>> F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    """
    op = "interpolate"
    if mode not in _INTERP_RANK:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; use one of "
                                  f"{sorted(_INTERP_RANK)}")
    if input.ndim not in _INTERP_RANK[mode]:
        ranks = " or ".join(map(str, _INTERP_RANK[mode]))
        raise ValueError(f"{op}: mode {mode!r} expects a {ranks}-D input"
                         f", got input of shape {tuple(input.shape)}")
    if not dtypes.is_floating(input.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {input.dtype}")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported")
    linear = mode in ("linear", "bilinear")
    if align_corners is not None and not linear:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         f"modes: linear | bilinear (got mode {mode!r})")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    nd = input.ndim - 2
    spatial = tuple(input.shape[2:])
    if size is not None:
        out = ntuple(size, nd, "size", op)
        scales = (None,) * nd
    else:
        sf = tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list)) \
            else (float(scale_factor),) * nd
        if len(sf) != nd:
            raise ValueError(f"{op}: scale_factor must have {nd} element(s), got {scale_factor!r}")
        out = tuple(math.floor(n * s) for n, s in zip(spatial, sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} must be positive (input shape "
                         f"{tuple(input.shape)})")
    if mode == "area":
        return adaptive_avg_pool_nd(op, nd, input, out, auto)
    x = input.unsqueeze(2) if nd == 1 else input
    plans = [interp_plan(mode, n_in, n_out, sc, align_corners, x.dtype)
             for n_in, n_out, sc in zip(spatial, out, scales)]
    if nd == 1:
        plans = [None] + plans  # the height-1 axis is left alone
    y = _interp_auto(x, plans) if auto else _interp_fn(x, plans)
    return y.squeeze(2) if nd == 1 else y


def _interp_fn(x, plans):
    xp = array_module(x.data)
    ph, pw = plans
    mh = None if ph is None else xp.asarray(ph[0])
    mw = xp.asarray(pw[0])
    if pw[1] is not None:
        ih = xp.zeros(1, xp.int64) if ph is None else xp.asarray(ph[1])
        return Separable.apply(x, mh, mw, ih, xp.asarray(pw[1]))
    return Separable.apply(x, mh, mw)


def _interp_auto(x, plans):
    from mytorch.tensor import Tensor
    xp = array_module(x.data)
    for dim, plan in ((2, plans[0]), (3, plans[1])):
        if plan is None:
            continue
        _, idx, lin = plan
        key = (slice(None),) * dim
        if idx is not None:
            x = x[key + (xp.asarray(idx),)]
            continue
        i0, i1, l0, l1 = lin
        shape = (-1, 1) if dim == 2 else (-1,)
        w0 = Tensor._wrap(xp.asarray(l0.reshape(shape)))
        w1 = Tensor._wrap(xp.asarray(l1.reshape(shape)))
        x = x[key + (xp.asarray(i0),)] * w0 + x[key + (xp.asarray(i1),)] * w1
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
             auto=False):
    """Alias of `interpolate` (PyTorch's deprecated F.upsample)."""
    return interpolate(input, size, scale_factor, mode, align_corners, auto=auto)
