"""Normalization: layer, batch, group, instance, RMS, local response, L_p normalize.
"""
import math
import numbers

import numpy as np

from mytorch import dtypes
from mytorch.amp import autocast_mode as _amp
from mytorch.nn.functional._util import check_float, dim_of
from mytorch.nn.functional.distance import vector_norm
from mytorch.nn.functional.resampling import pad
from mytorch.ops import cuda_kernels as ck
from mytorch.ops import nn as N

__all__ = ["batch_norm", "group_norm", "instance_norm", "layer_norm", "local_response_norm",
           "normalize", "rms_norm"]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, auto=False):
    """Normalize over the trailing `normalized_shape` dims, then scale and shift."""
    input, weight, bias = _amp.cast("layer_norm", input, weight, bias)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or input.ndim < k:
        raise RuntimeError(f"layer_norm: input of shape {tuple(input.shape)} does not end with "
                           f"normalized_shape {normalized_shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise RuntimeError(f"layer_norm: {name} of shape {tuple(p.shape)} does not match "
                               f"normalized_shape {normalized_shape}")
    if input.dtype == dtypes.bfloat16:  # the kernels' einsum has no bfloat16: compute in fp32
        up = [None if t is None else t.float() for t in (input, weight, bias)]
        return layer_norm(*up[:1], normalized_shape, *up[1:], eps=eps, auto=auto).bfloat16()
    if input.numel() == 0:  # nothing to normalize: an empty result linked to every input
        out = input * 0
        for p in (weight, bias):
            out = out if p is None else out + p * 0
        return out
    if auto:
        dims = tuple(range(input.ndim - k, input.ndim))
        xc = input - input.mean(dims, keepdim=True)
        y = xc / ((xc * xc).mean(dims, keepdim=True) + eps).sqrt()
        if weight is not None:
            y = y * weight
        return y if bias is None else y + bias
    return N.LayerNorm.apply(input, weight, bias, math.prod(normalized_shape), eps)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, auto=False, num_batches_tracked=None):
    """Normalize each channel of (N, C, *) over the batch (training) or by the running
    statistics (eval). In training, running_mean/var are updated in place:
    new = (1 - momentum) * old + momentum * batch (momentum None: cumulative average,
    needs `num_batches_tracked`), with the unbiased batch variance."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got {tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} of shape {tuple(t.shape)} does not match "
                               f"{c} channels of input {tuple(input.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var are needed in eval mode")
    n = input.numel() // c
    if training and n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {tuple(input.shape)}")
    axes = (0,) + tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if auto:
        if training:
            mean = input.mean(axes, keepdim=True)
            xc = input - mean
            var = (xc * xc).mean(axes, keepdim=True)
            batch_mean, batch_var = mean.data.reshape(-1), var.data.reshape(-1)
        else:
            xc = input - running_mean.reshape(bshape)
            var = running_var.reshape(bshape)
        y = xc / (var + eps).sqrt()
        if weight is not None:
            y = y * weight.reshape(bshape)
        if bias is not None:
            y = y + bias.reshape(bshape)
    else:
        y, batch_mean, batch_var = N.BatchNorm.apply(
            input, weight, bias, None if training else running_mean,
            None if training else running_var, eps, training)
        batch_mean, batch_var = batch_mean.data, batch_var.data
    if training and running_mean is not None:
        if momentum is None:
            if num_batches_tracked is None:
                raise ValueError("batch_norm: momentum=None (cumulative average) needs "
                                 "num_batches_tracked")
            factor = 1.0 / float(num_batches_tracked.item())
        else:
            factor = momentum
        unbiased = batch_var * (n / (n - 1))
        rm, rv = running_mean.data, running_var.data
        rm *= 1.0 - factor
        rm += (factor * batch_mean).astype(rm.dtype, copy=False)
        rv *= 1.0 - factor
        rv += (factor * unbiased).astype(rv.dtype, copy=False)
    return y


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize (N, C, *) over groups of C // num_groups channels, then per-channel affine."""
    input, weight, bias = _amp.cast("group_norm", input, weight, bias)
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise RuntimeError(f"group_norm: {input.shape[1] if input.ndim > 1 else '?'} channels "
                           f"of input {tuple(input.shape)} are not divisible into {num_groups} "
                           f"groups")
    n, c = input.shape[:2]
    if n * (c // num_groups) * math.prod(input.shape[2:]) == 1:
        raise ValueError(f"group_norm: expected more than 1 value per group, got input of shape "
                         f"{tuple(input.shape)} with {num_groups} groups")
    x = input.reshape(n, num_groups, -1)
    xc = x - x.mean(2, keepdim=True)
    y = (xc / ((xc * xc).mean(2, keepdim=True) + eps).sqrt()).reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) plane of (N, C, *) over its spatial dims, then
    per-channel affine. With use_input_stats and running_mean/var given, those are updated in
    place by the batch average of the per-instance statistics (unbiased variance)."""
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected input of shape (N, C, *), got "
                         f"{tuple(input.shape)}")
    n, c = input.shape[:2]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"instance_norm: {name} of shape {tuple(t.shape)} does not match "
                               f"{c} channels of input {tuple(input.shape)}")
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if use_input_stats:
        m = input.numel() // max(n * c, 1)
        if m <= 1:
            raise ValueError(f"instance_norm: expected more than 1 spatial element when "
                             f"training, got input of shape {tuple(input.shape)}")
        axes = tuple(range(2, input.ndim))
        mean = input.mean(axes, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(axes, keepdim=True)
        y = xc / (var + eps).sqrt()
        if running_mean is not None:
            _update_running(running_mean, mean.data.reshape(n, c).mean(0), momentum)
        if running_var is not None:
            unbiased = var.data.reshape(n, c).mean(0) * (m / (m - 1))
            _update_running(running_var, unbiased, momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        y = (input - running_mean.reshape(bshape)) / (running_var.reshape(bshape) + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


def _update_running(stat, batch, momentum):
    a = stat.data
    a *= 1.0 - momentum
    a += (momentum * batch).astype(a.dtype, copy=False)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the trailing `normalized_shape` dims) + eps) * weight;
    eps=None uses the machine epsilon of input's dtype, as PyTorch."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise RuntimeError(f"rms_norm: given normalized_shape={list(normalized_shape)}, expected "
                           f"input with shape [*, {', '.join(map(str, normalized_shape))}], "
                           f"but got input of shape {tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise RuntimeError(f"rms_norm: weight of shape {tuple(weight.shape)} does not match "
                           f"normalized_shape {normalized_shape}")
    check_float(input, "rms_norm")
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    if input.numel() and ck.fits(input.data, None if weight is None else weight.data):
        return N.RMSNorm.apply(input, weight, k, eps)  # the fused CUDA kernels
    return N.RMSNorm.composite(input, weight, k, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """input / (k + alpha/size * sum of squares over `size` neighbouring channels)^beta."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input, "
                         f"got shape {tuple(input.shape)}")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = pad(input * input, (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2))
    div = sq[:, 0:c]
    for s in range(1, size):
        div = div + sq[:, s:s + c]
    return input / (div * (alpha / size) + k) ** beta


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps).

    >>> F.normalize(x, dim=-1)     # unit rows
    """
    (input,) = _amp.cast("normalize", input)
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    check_float(input, "normalize")
    d = dim_of(input, dim, "normalize")
    return input / vector_norm(input, p, d, True).clamp(min=eps)
