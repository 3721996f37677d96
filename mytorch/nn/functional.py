"""Functional forms of the layers: `mytorch.nn.functional as F`.

Every layer with two paths takes `auto=`: `auto=False` (default) runs the hand-written
Function in mytorch.ops.nn; `auto=True` composes Tensor ops and lets autograd differentiate.
"""
import math
import numbers

import numpy as np

from mytorch import random as _random
from mytorch.backend import array_module
from mytorch.ops import elementwise as E
from mytorch.ops import nn as N
from mytorch.ops.reduce import normalize_dims
from mytorch.tensor import Tensor, one_hot  # noqa: F401  (F.one_hot)

_REDUCTIONS = ("none", "mean", "sum")


def _dim(x, dim, op):
    return normalize_dims(dim, x.ndim, op)[0]


def _check_float(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")


def _erfc_nonneg(a):
    """Autograd-visible erfc for a >= 0, the same fit as mytorch.ops.nn.erfc_nonneg."""
    t = 1.0 / (a * 0.5 + 1.0)
    p = t * N.ERFC_COEFFS[0]
    for c in N.ERFC_COEFFS[1:-1]:
        p = (p + c) * t
    p = p + N.ERFC_COEFFS[-1] - a * a
    return t * p.exp()


# ---------------------------------------------------------------- linear, embedding, dropout


def linear(input, weight, bias=None, auto=False):
    """y = input @ weight.T + bias. input (*, in), weight (out, in), bias (out,) -> (*, out)."""
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(input.shape)} does not match weight "
                           f"of shape {tuple(weight.shape)} (expected last dim "
                           f"{weight.shape[-1]})")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {input.dtype} != weight dtype {weight.dtype}")
    if auto:
        y = input @ weight.t()
        return y if bias is None else y + bias
    return N.Linear.apply(input, weight, bias)


def embedding(input, weight, padding_idx=None, auto=False):
    """Rows of `weight` (num, dim) picked by the integer tensor `input` -> (*input.shape, dim).
    The padding_idx row receives no gradient."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for an embedding table "
                             f"of {n} rows (weight shape {tuple(weight.shape)})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if auto:
        out = weight[Tensor._wrap(idx)]
        if padding_idx is not None and out.requires_grad:
            out = mytorch_where((idx == padding_idx)[..., None], out.detach(), out)
        return out
    return N.Embedding.apply(weight, idx, padding_idx)


def dropout(input, p=0.5, training=True, inplace=False, auto=False, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when
    not training or p == 0)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    rng = _random.generator_for(input.device, generator)
    mask = N.dropout_mask(input.data, p, rng)
    if auto:
        return input * Tensor._wrap(mask)
    return N.Dropout.apply(input, mask)


# ---------------------------------------------------------------- activations


def relu(input, inplace=False, auto=False):
    if auto:
        out = input * Tensor._wrap((input.data > 0).astype(input.dtype))
    else:
        out = E.Relu.apply(input)
    return _maybe_inplace(input, out, inplace)


def _maybe_inplace(input, out, inplace):
    if not inplace:
        return out
    input._rebind_or_write(out)
    return input


def sigmoid(input, auto=False):
    if auto:
        return 1.0 / (1.0 + (-input).exp())
    return E.Sigmoid.apply(input)


def tanh(input, auto=False):
    if auto:
        return 2.0 / (1.0 + (input * -2.0).exp()) - 1.0
    return E.Tanh.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False, auto=False):
    if auto:
        out = mytorch_where(input.data > 0, input, input * negative_slope)
    else:
        out = N.LeakyRelu.apply(input, negative_slope)
    return _maybe_inplace(input, out, inplace)


def silu(input, inplace=False, auto=False):
    if auto:
        out = input * sigmoid(input, auto=True)
    else:
        out = N.Silu.apply(input)
    return _maybe_inplace(input, out, inplace)


def gelu(input, approximate="none", auto=False):
    """GELU: x * Phi(x) (approximate='none', erf-exact to float precision) or the tanh form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    _check_float(input, "gelu")
    if approximate == "tanh":
        if auto:
            u = (input + input * input * input * N._GELU_C) * N._SQRT_2_PI
            return input * 0.5 * (u.tanh() + 1.0)
        return N.GeluTanh.apply(input)
    if auto:
        h = _erfc_nonneg(input.abs() * N._SQRT1_2) * 0.5
        return input * mytorch_where(input.data < 0, h, 1.0 - h)
    return N.Gelu.apply(input)


def softmax(input, dim=-1, dtype=None, auto=False):
    """exp(x) / sum(exp(x)) along `dim` (default: the last)."""
    if dim is None:
        dim = -1
    if dtype is not None:
        input = input.to(dtype)
    _check_float(input, "softmax")
    d = _dim(input, dim, "softmax")
    if auto:
        e = (input - input.amax(d, keepdim=True).detach()).exp()
        return e / e.sum(d, keepdim=True)
    return N.Softmax.apply(input, d)


def log_softmax(input, dim=-1, dtype=None, auto=False):
    if dim is None:
        dim = -1
    if dtype is not None:
        input = input.to(dtype)
    _check_float(input, "log_softmax")
    d = _dim(input, dim, "log_softmax")
    if auto:
        z = input - input.amax(d, keepdim=True).detach()
        return z - z.exp().sum(d, keepdim=True).log()
    return N.LogSoftmax.apply(input, d)


def mytorch_where(cond, x, y):
    from mytorch.tensor import where
    return where(Tensor._wrap(cond), x, y)


# ---------------------------------------------------------------- normalization


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, auto=False):
    """Normalize over the trailing `normalized_shape` dims, then scale and shift."""
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
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise RuntimeError(f"group_norm: {input.shape[1] if input.ndim > 1 else '?'} channels "
                           f"of input {tuple(input.shape)} are not divisible into {num_groups} "
                           f"groups")
    n, c = input.shape[:2]
    x = input.reshape(n, num_groups, -1)
    xc = x - x.mean(2, keepdim=True)
    y = (xc / ((xc * xc).mean(2, keepdim=True) + eps).sqrt()).reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


# ---------------------------------------------------------------- losses


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_targets(t, c, ignore_index, op):
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {t.dtype}")
    if t.size == 0:
        return
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        v = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target {v} is out of bounds for {c} classes (valid: 0..{c - 1}"
                         f" or ignore_index={ignore_index})")


def _class_last(input, target, op):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (M, C) and (M,)."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if input.ndim == 1:
        if t.ndim != 0:
            raise ValueError(f"{op}: input of shape {tuple(input.shape)} needs a scalar target, "
                             f"got shape {tuple(t.shape)}")
        return input.reshape(1, -1), t.reshape(1), ()
    n, c = input.shape[:2]
    if tuple(t.shape) != (n,) + tuple(input.shape[2:]):
        raise ValueError(f"{op}: expected target of shape {(n,) + tuple(input.shape[2:])} for "
                         f"input of shape {tuple(input.shape)}, got {tuple(t.shape)}")
    if input.ndim > 2:
        perm = (0,) + tuple(range(2, input.ndim)) + (1,)
        x = input.permute(*perm).reshape(-1, c)
        return x, t.reshape(-1), tuple(t.shape)
    return input, t, tuple(t.shape)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, auto=False):
    """Cross-entropy of logits `input` (N, C) or (N, C, d1, ...) with class indices
    (N, d1, ...) or class probabilities (same shape as input)."""
    op = "cross_entropy"
    _check_reduction(reduction, op)
    _check_float(input, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not match {c} "
                           f"classes of input {tuple(input.shape)}")
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, auto)
    x, t, out_shape = _class_last(input, target, op)
    _check_targets(t, c, ignore_index, "CrossEntropyLoss")
    w = None if weight is None else weight.data
    if auto:
        logp = log_softmax(x, 1, auto=True)
        loss = _nll(logp, t, weight, ignore_index, reduction, out_shape, label_smoothing)
        return loss
    loss = N.CrossEntropy.apply(x, t, w, ignore_index, float(label_smoothing), reduction)
    return loss.reshape(out_shape) if reduction == "none" else loss


def _cross_entropy_probs(input, target, weight, reduction, eps, auto):
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"cross_entropy: probability targets of shape {tuple(target.shape)} "
                         f"must match input of shape {tuple(input.shape)}")
    cdim = 1 if input.ndim > 1 else 0
    c = input.shape[cdim]
    if eps:
        target = target * (1.0 - eps) + eps / c
    logp = log_softmax(input, cdim, auto=auto)
    prod = logp * target
    if weight is not None:
        wshape = [1] * input.ndim
        wshape[cdim] = c
        prod = prod * weight.reshape(wshape)
    loss = -prod.sum(cdim)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (input.numel() // c)


def _nll(logp, t, weight, ignore_index, reduction, out_shape, label_smoothing=0.0):
    """NLL on (M, C) log-probabilities and (M,) class indices, composed of Tensor ops."""
    xp = array_module(t)
    m, c = logp.shape
    valid = t != ignore_index
    tt = xp.where(valid, t, 0)
    picked = logp.gather(1, Tensor._wrap(tt[:, None])).reshape(-1)
    vmask = Tensor._wrap(valid.astype(logp.dtype))
    w_t = vmask if weight is None else weight[Tensor._wrap(tt)] * vmask
    loss = -picked * w_t
    if label_smoothing:
        smooth = -(logp.sum(1) if weight is None else (logp * weight).sum(1)) * vmask
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / c)
    if reduction == "none":
        return loss.reshape(out_shape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w_t.sum()


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d1, ...) at class
    indices (N, d1, ...)."""
    op = "nll_loss"
    _check_reduction(reduction, op)
    _check_float(input, op)
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not match {c} "
                           f"classes of input {tuple(input.shape)}")
    x, t, out_shape = _class_last(input, target, op)
    _check_targets(t, c, ignore_index, "NLLLoss")
    return _nll(x, t, weight, ignore_index, reduction, out_shape)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_shape(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} and target of shape "
                         f"{tuple(target.shape)} must have the same shape")


def mse_loss(input, target, reduction="mean", auto=False):
    """Mean squared error: mean((input - target)^2) (or sum, or elementwise)."""
    _check_reduction(reduction, "mse_loss")
    _check_same_shape(input, target, "mse_loss")
    if auto:
        d = input - target
        return _reduce(d * d, reduction)
    return N.MSE.apply(input, target, reduction)


def l1_loss(input, target, reduction="mean"):
    _check_reduction(reduction, "l1_loss")
    _check_same_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression; pos_weight scales positives."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    # log(1 + exp(-x)) computed without overflow
    softplus_neg = (-input.abs()).exp().log1p() + (-input).relu()
    if pos_weight is not None:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * softplus_neg
    else:
        loss = (1.0 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- shapes


def pad(input, pad, mode="constant", value=0.0):
    """Pad the last len(pad)//2 dims: pad = (left_last, right_last, left_prev, ...).
    Only mode='constant'; negative amounts crop."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {tuple(pad)} must have an even length of at most "
                         f"2 * {input.ndim} for input of shape {tuple(input.shape)}")
    pads = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pads[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return N.Pad.apply(input, tuple(pads), value)


# Convolution, pooling and interpolation live in mytorch.ops.conv; attention in
# mytorch.ops.attention; recurrent cells in mytorch.ops.rnn. Keep these re-exports.
from mytorch.ops.attention import *  # noqa: F401,F403,E402
from mytorch.ops.conv import *  # noqa: F401,F403,E402
from mytorch.ops.rnn import *  # noqa: F401,F403,E402
