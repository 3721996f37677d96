"""Functional forms of the layers: `mytorch.nn.functional as F`.

Every layer with two paths takes `auto=`: `auto=False` (default) runs the hand-written
Function in mytorch.ops.nn; `auto=True` composes Tensor ops and lets autograd differentiate.
"""
import math
import numbers
import warnings

import numpy as np

from mytorch import backend, dtypes
from mytorch import random as _random
from mytorch.amp import autocast_mode as _amp
from mytorch.autograd.function import bump_version
from mytorch.backend import array_module
from mytorch.ops import conv as C
from mytorch.ops import elementwise as E
from mytorch.ops import nn as N
from mytorch.ops.conv import _adaptive_ranges, _geom, _pair
from mytorch.ops.reduce import normalize_dims
from mytorch.tensor import Tensor, one_hot  # noqa: F401  (F.one_hot)

_REDUCTIONS = ("none", "mean", "sum")


def _dim(x, dim, op):
    return normalize_dims(dim, x.ndim, op)[0]


def _check_float(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
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
    input, weight, bias = _amp.cast("linear", input, weight, bias)
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


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, auto=False):
    """Rows of `weight` (num, dim) picked by the integer tensor `input` -> (*input.shape, dim).
    The padding_idx row receives no gradient. With max_norm, the looked-up rows whose
    norm_type-norm exceeds it are first rescaled to norm max_norm, in place in `weight`."""
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
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if auto:
        out = weight[Tensor._wrap(idx)]
        if padding_idx is not None and out.requires_grad:
            out = mytorch_where((idx == padding_idx)[..., None], out.detach(), out)
        return out
    return N.Embedding.apply(weight, idx, padding_idx)


def _embedding_renorm(weight, idx, max_norm, norm_type):
    # As torch.embedding_renorm_: a write to the table outside autograd.
    xp = array_module(weight.data)
    rows = xp.unique(xp.asarray(idx).reshape(-1))
    w = weight.data[rows]
    if norm_type == math.inf:
        norms = xp.abs(w).max(1)
    else:
        norms = (xp.abs(w) ** norm_type).sum(1) ** (1.0 / norm_type)
    big = norms > max_norm
    scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
    weight.data[rows[big]] = w[big] * scale[:, None]
    bump_version(weight.data)


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
    (input,) = _amp.cast("softmax", input)
    if dim is None:
        dim = -1
    if dtype is not None:
        input = input.to(dtype)
    _check_float(input, "softmax")
    d = _dim(input, dim, "softmax")
    if input.ndim == 0:  # a 0-d input is its own 1-element row
        return softmax(input.reshape(1), 0, auto=auto).reshape(())
    if input.numel() == 0:  # nothing to normalize: an empty result linked to the input
        return input * 0
    if auto:
        e = (input - input.amax(d, keepdim=True).detach()).exp()
        return e / e.sum(d, keepdim=True)
    return N.Softmax.apply(input, d)


def log_softmax(input, dim=-1, dtype=None, auto=False):
    (input,) = _amp.cast("log_softmax", input)
    if dim is None:
        dim = -1
    if dtype is not None:
        input = input.to(dtype)
    _check_float(input, "log_softmax")
    d = _dim(input, dim, "log_softmax")
    if input.ndim == 0:  # a 0-d input is its own 1-element row
        return log_softmax(input.reshape(1), 0, auto=auto).reshape(())
    if input.numel() == 0:  # nothing to normalize: an empty result linked to the input
        return input * 0
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


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0, auto=False):
    """Cross-entropy of logits `input` (N, C) or (N, C, d1, ...) with class indices
    (N, d1, ...) or class probabilities (same shape as input)."""
    input, target, weight = _amp.cast("cross_entropy", input, target, weight)
    op = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
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
    with backend.device_scope(t):
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
    if not valid.any():  # every target ignored: the loss is NaN and the gradient 0, as torch
        return loss.sum() * 0 + float("nan")
    return loss.sum() / w_t.sum()


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d1, ...) at class
    indices (N, d1, ...)."""
    input, target, weight = _amp.cast("nll_loss", input, target, weight)
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _check_float(input, op)
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not match {c} "
                           f"classes of input {tuple(input.shape)}")
    x, t, out_shape = _class_last(input, target, op)
    with backend.device_scope(t):
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


def _broadcast_loss_pair(input, target, op):
    """torch warns and broadcasts input against target when their shapes differ."""
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} and target of shape "
                         f"{tuple(target.shape)} do not broadcast") from None
    _warn_broadcast(input, target, op)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None,
             auto=False):
    """Mean squared error: mean((input - target)^2) (or sum, or elementwise); `weight` (same
    shape as input) scales each element, and 'mean' then divides by its sum, as PyTorch."""
    input, target = _amp.cast("mse_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    _broadcast_loss_pair(input, target, "mse_loss")
    if weight is not None:
        d = input - target
        return _weighted(d * d, weight, reduction, "mse_loss")
    if auto or input.shape != target.shape:
        d = input - target
        return _reduce(d * d, reduction)
    return N.MSE.apply(input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error: mean(|input - target|) (or sum, or elementwise); `weight` as in
    `mse_loss`."""
    input, target = _amp.cast("l1_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    _broadcast_loss_pair(input, target, "l1_loss")
    if weight is not None:
        return _weighted((input - target).abs(), weight, reduction, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def _weighted(loss, weight, reduction, op):
    if tuple(weight.shape) != tuple(loss.shape):
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} must have the input's "
                         f"shape {tuple(loss.shape)}")
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression; pos_weight scales positives."""
    input, target, weight = _amp.cast("binary_cross_entropy_with_logits", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
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


# ---------------------------------------------------------------- more activations


def _clip_strict(x, lo, hi):
    """min(max(x, lo), hi) whose gradient is zero at the bounds too (PyTorch's hardtanh)."""
    inside = (x.data > lo) & (x.data < hi)
    return mytorch_where(inside, x, x.detach().clamp(lo, hi))


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    _check_float(input, "elu")
    out = _elu(input, alpha, 1.0)
    return _maybe_inplace(input, out, inplace)


def _elu(x, alpha, input_scale):
    # exp of the non-positive part only, so large x cannot overflow into the unused branch
    neg = ((x.clamp(max=0.0) * input_scale).exp() - 1.0) * alpha
    return mytorch_where(x.data > 0, x, neg)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    _check_float(input, "celu")
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return _maybe_inplace(input, _elu(input, alpha, 1.0 / alpha), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    _check_float(input, "selu")
    return _maybe_inplace(input, _elu(input, _SELU_ALPHA, 1.0) * _SELU_SCALE, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold."""
    (input,) = _amp.cast("softplus", input)
    _check_float(input, "softplus")
    return N.Softplus.apply(input, float(beta), float(threshold))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val]; zero gradient outside (and on) the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    _check_float(input, "hardtanh")
    return _maybe_inplace(input, _clip_strict(input, min_val, max_val), inplace)


def relu6(input, inplace=False):
    """min(max(0, x), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    """min(max(x + 3, 0), 6) / 6."""
    _check_float(input, "hardsigmoid")
    return _maybe_inplace(input, _clip_strict(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(input, inplace=False):
    """x * min(max(x + 3, 0), 6) / 6."""
    _check_float(input, "hardswish")
    return _maybe_inplace(input, input * _clip_strict(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _maybe_inplace(input, input * softplus(input).tanh(), inplace)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    _check_float(input, "logsigmoid")
    return -N.Softplus.apply(-input, 1.0, math.inf)


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - input.tanh()


def glu(input, dim=-1):
    """Gated linear unit: split `input` in halves a, b along `dim`; a * sigmoid(b).

    >>> F.glu(x, -1).shape    # x (N, 2H) -> (N, H)
    """
    if input.ndim == 0:
        raise RuntimeError("glu: does not support scalars because halving size must be even")
    d = _dim(input, dim, "glu")
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {d} is size "
                           f"{input.shape[d]} (input shape {tuple(input.shape)})")
    a, b = input.chunk(2, d)
    return a * b.sigmoid()


def _implicit_softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along `dim` (None: PyTorch's legacy choice, 0 for 0/1/3-D input, else 1)."""
    (input,) = _amp.cast("softmin", input)
    if dim is None:
        dim = _implicit_softmax_dim("softmin", input.ndim)
    return softmax(-input, dim, dtype=dtype)


def prelu(input, weight):
    """x where x > 0, else weight * x; weight has 1 element or one per channel (dim 1)."""
    input, weight = _amp.cast("prelu", input, weight)
    c = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, c) or weight.ndim > 1:
        raise RuntimeError(f"prelu: weight of shape {tuple(weight.shape)} must have 1 element or "
                           f"{c} (the channels of input {tuple(input.shape)})")
    if weight.numel() == 1:
        w = weight.reshape((1,) * input.ndim)
    else:
        w = weight.reshape((c,) + (1,) * (input.ndim - 2))
    return mytorch_where(input.data > 0, input, w * input)


# ---------------------------------------------------------------- channel dropout


def _feature_dropout(input, p, training, inplace, op, batched=True):
    """Zero whole channels: one keep/scale draw per (N, C) (per C if not batched), broadcast
    over the remaining dims."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim < 2:
        raise RuntimeError(f"{op}: feature dropout requires at least 2 dimensions in the input, "
                           f"got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = input * 0.0
    else:
        xp = array_module(input.data)
        k = 2 if batched else 1
        shape = tuple(input.shape[:k]) + (1,) * (input.ndim - k)
        rng = _random.generator_for(input.device, None)
        out = input * Tensor._wrap(N.dropout_mask(xp.empty(shape, input.dtype), p, rng))
    return _maybe_inplace(input, out, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability p, scaling the rest by
    1/(1-p)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: expected 2D or 3D input, but received a {input.ndim}D "
                           f"input of shape {tuple(input.shape)}")
    return _feature_dropout(input, p, training, inplace, "dropout1d", batched=input.ndim == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability p, scaling the rest by 1/(1-p).

    As PyTorch, a 3-D input is read as (N, C, L) (1-D channel dropout), with a warning.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. Use dropout1d for that.", stacklevel=2)
    elif input.ndim != 4:
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated; dropout2d expects 3D or 4D inputs.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, "dropout2d")


# ---------------------------------------------------------------- more normalization


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
    _check_float(input, "rms_norm")
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


# ---------------------------------------------------------------- more losses


def _legacy_reduction(size_average, reduce, reduction):
    """The deprecated size_average/reduce pair -> a reduction string, as PyTorch."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", stacklevel=3)
    return ret


def _warn_broadcast(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"{op}: using a target size {tuple(target.shape)} that is different to "
                      f"the input size {tuple(input.shape)}. This will likely lead to "
                      "incorrect results due to broadcasting. Please ensure they have the same "
                      "size.", stacklevel=3)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """Binary cross-entropy of probabilities `input` in [0, 1] against `target` (same shape),
    each log clamped at -100 as PyTorch; `weight` broadcasts to the input.

    >>> F.binary_cross_entropy(torch.sigmoid(logits), labels)
    """
    input, target, weight = _amp.cast("binary_cross_entropy", input, target, weight)
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _check_float(input, op)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: using a target size {tuple(target.shape)} that is different "
                         f"to the input size {tuple(input.shape)} is deprecated. Please ensure "
                         "they have the same size.")
    x = input.data
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1, got values "
                           f"in [{float(x.min())}, {float(x.max())}]")
    if not isinstance(target, Tensor):
        target = Tensor._wrap(array_module(x).asarray(target, dtype=x.dtype))
    loss = N.BinaryCrossEntropy.apply(input, target.to(input.dtype))
    if weight is not None:
        try:
            np.broadcast_shapes(tuple(weight.shape), tuple(input.shape))
        except ValueError:
            raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not broadcast "
                               f"to input of shape {tuple(input.shape)}") from None
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0 is L1."""
    input, target = _amp.cast("smooth_l1_loss", input, target)
    op = "smooth_l1_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if beta < 0:
        raise RuntimeError(f"{op}: does not support negative values for beta, got {beta}")
    _warn_broadcast(input, target, op)
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(mytorch_where(ad.data < beta, d * d * (0.5 / beta), ad - 0.5 * beta),
                   reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target);
    optional elementwise `weight` of input's shape."""
    input, target = _amp.cast("huber_loss", input, target)
    op = "huber_loss"
    _check_reduction(reduction, op)
    if delta <= 0:
        raise RuntimeError(f"{op}: does not support non-positive values for delta, got {delta}")
    _warn_broadcast(input, target, op)
    d = input - target
    ad = d.abs()
    loss = mytorch_where(ad.data < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} and input of shape "
                             f"{tuple(input.shape)} must have the same size")
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence with log-probabilities `input`: target * (log target - input) elementwise
    (target given as log-probabilities when log_target). reduction='batchmean' divides the sum
    by the batch size (the true KL divergence); 'mean' divides by the element count."""
    input, target = _amp.cast("kl_div", input, target)
    op = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("kl_div: reduction 'mean' divides the total loss by both the batch size "
                      "and the support size. 'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.", stacklevel=2)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS + ('batchmean',)}, got "
                         f"{reduction!r}")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # target * log(target) is 0 at target = 0; there its target-gradient is -input here,
        # not PyTorch's NaN (the true derivative, log(t) + 1 - input, is -inf)
        safe = mytorch_where(target.data > 0, target, 1.0)
        loss = target * safe.log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- distances


def _vector_norm(x, p, dim, keepdim):
    """||x||_p along dim; like PyTorch, the gradient of a zero norm is zero (not NaN)."""
    if p == math.inf:
        return x.abs().amax(dim, keepdim)
    if p == -math.inf:
        return x.abs().amin(dim, keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim)
    if p == 1:
        return x.abs().sum(dim, keepdim)
    s = (x * x if p == 2 else x.abs() ** p).sum(dim, keepdim)
    nz = s.data > 0
    root = mytorch_where(nz, s, 1.0) ** (1.0 / p)
    return mytorch_where(nz, root, 0.0)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps).

    >>> F.normalize(x, dim=-1)     # unit rows
    """
    (input,) = _amp.cast("normalize", input)
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    _check_float(input, "normalize")
    d = _dim(input, dim, "normalize")
    return input / _vector_norm(input, p, d, True).clamp(min=eps)


def _broadcast_pair(x1, x2, op):
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise RuntimeError(f"{op}: shapes {tuple(x1.shape)} and {tuple(x2.shape)} do not "
                           "broadcast") from None
    if tuple(x1.shape) != shape:
        x1 = x1.expand(*shape)
    if tuple(x2.shape) != shape:
        x2 = x2.expand(*shape)
    return x1, x2


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along `dim` (inputs broadcast)."""
    x1, x2 = _amp.cast("cosine_similarity", x1, x2)
    op = "cosine_similarity"
    _check_float(x1, op)
    _check_float(x2, op)
    x1, x2 = _broadcast_pair(x1, x2, op)
    d = _dim(x1, dim, op)

    def unit(x):
        n = _vector_norm(x, 2, d, True)
        # PyTorch clamps the norm outside autograd: value max(n, eps), gradient that of n
        return x / (n + (n.detach().clamp(min=eps) - n.detach()))
    return (unit(x1) * unit(x2)).sum(d)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (inputs broadcast)."""
    op = "pairwise_distance"
    _check_float(x1, op)
    _check_float(x2, op)
    _broadcast_pair(x1, x2, op)
    diff = x1 - x2 + eps
    return _vector_norm(diff, p, -1 if diff.ndim else None, keepdim)


# ---------------------------------------------------------------- padding, pixel shuffle


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


# ---------------------------------------------------------------- unfold / fold


def _fold_geom(op, size, kernel_size, dilation, padding, stride):
    k, d = _pair(kernel_size, 2, "kernel_size", op), _pair(dilation, 2, "dilation", op)
    p, s = _pair(padding, 2, "padding", op), _pair(stride, 2, "stride", op)
    return _geom(op, size, k, s, ((p[0], p[0]), (p[1], p[1])), d)


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
    g = _fold_geom(op, tuple(x.shape[2:]), kernel_size, dilation, padding, stride)
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
    size = _pair(output_size, 2, "output_size", op)
    k = _pair(kernel_size, 2, "kernel_size", op)
    if x.shape[1] % (k[0] * k[1]):
        raise RuntimeError(f"{op}: expected size of input's dimension 1 to be divisible by the "
                           f"product of kernel_size, but got input.size(1)={x.shape[1]} and "
                           f"kernel_size={k}")
    g = _fold_geom(op, size, k, dilation, padding, stride)
    if x.shape[2] != g.Ho * g.Wo:
        raise RuntimeError(f"{op}: given output_size={size}, kernel_size={k}, dilation="
                           f"{dilation}, padding={padding}, stride={stride}, expected size of "
                           f"input's dimension 2 to match the calculated number of sliding "
                           f"blocks {g.Ho} * {g.Wo} = {g.Ho * g.Wo}, but got input.size(2)="
                           f"{x.shape[2]}")
    y = N.Fold.apply(x, g, x.shape[1] // (k[0] * k[1]))
    return y.squeeze(0) if unbatched else y


# ---------------------------------------------------------------- adaptive max pooling


def _adaptive_max(op, nd, input, output_size, return_indices):
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(input.shape)}")
    _check_float(input, op)
    spatial = tuple(input.shape[-nd:])
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise ValueError(f"{op}: output_size must have {nd} element(s), got {output_size!r}")
        out = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    else:
        out = (int(output_size),) * nd
    if min(out) < 1 or min(spatial) < 1:
        raise ValueError(f"{op}: output size {out} and input spatial size {spatial} must be "
                         "positive")
    lead = tuple(input.shape[:-nd])
    h, w = (1,) + spatial if nd == 1 else spatial
    oh, ow = (1,) + out if nd == 1 else out
    y, idx = N.AdaptiveMaxPool2d.apply(input.reshape(-1, h, w), _adaptive_ranges(h, oh),
                                       _adaptive_ranges(w, ow))
    y, idx = y.reshape(*lead, *out), idx.reshape(*lead, *out)
    return (y, idx) if return_indices else y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over windows [floor(i*L/out), ceil((i+1)*L/out)) of (N, C, L) or (C, L)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) or (C, H, W) to `output_size` (int or pair; None keeps that
    size); with return_indices also the argmax as flat indices into each H*W plane.

    >>> y, idx = F.adaptive_max_pool2d(x, (2, 2), return_indices=True)
    """
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)

# ---------------------------------------------------------------- margin and ranking losses


def _ones_mask(t, v):
    """(t == v) as an array (targets never need a gradient here)."""
    return (t.data if isinstance(t, Tensor) else np.asarray(t)) == v


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (input1 - input2) + margin); target in {1, -1}."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "margin_ranking_loss")
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss: all input tensors should have the same "
                           f"dimension, got sizes {tuple(input1.shape)}, {tuple(input2.shape)}, "
                           f"{tuple(target.shape)}")
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """input where target == 1, max(0, margin - input) where target == -1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "hinge_embedding_loss")
    neg = mytorch_where(~_ones_mask(target, 1), (margin - input).clamp(min=0), 0.0)
    pos = mytorch_where(~_ones_mask(target, -1), input, 0.0)
    return _reduce(neg + pos, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), target in {1, -1}."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "soft_margin_loss")
    _broadcast_loss_pair(input, target, "soft_margin_loss")
    return _reduce((-input * target).exp().log1p(), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1.
    input1, input2 (N, D) or (D,); target (N,) or ()."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "cosine_embedding_loss"
    _check_reduction(reduction, op)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape) or \
            target.ndim != input1.ndim - 1:
        raise RuntimeError(f"{op}: expected input1, input2 of the same shape (N, D) or (D,) and "
                           f"target (N,) or (), got {tuple(input1.shape)}, "
                           f"{tuple(input2.shape)}, {tuple(target.shape)}")
    d = input1.ndim - 1
    eps = 1e-12
    prod = (input1 * input2).sum(d)
    mag = ((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)
    cos = prod / mag.sqrt()
    pos = mytorch_where(_ones_mask(target, 1), 1 - cos, 0.0)
    neg = mytorch_where(_ones_mask(target, -1), (cos - margin).clamp(min=0), 0.0)
    return _reduce(pos + neg, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin) with d the p-norm pairwise distance; with swap,
    d(a, n) becomes min(d(a, n), d(p, n)). Inputs (N, D) or (D,)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "triplet_margin_loss"
    _check_reduction(reduction, op)
    if not anchor.ndim == positive.ndim == negative.ndim or anchor.ndim not in (1, 2):
        raise RuntimeError(f"{op}: anchor, positive and negative must all be (N, D) or (D,), "
                           f"got {tuple(anchor.shape)}, {tuple(positive.shape)}, "
                           f"{tuple(negative.shape)}")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: exp(input) - target * input with log_input, else
    input - target * log(input + eps); full adds the Stirling term where target > 1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "poisson_nll_loss")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target.data > 1
        t = mytorch_where(big, target, 1.0)
        stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
        loss = loss + mytorch_where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 * (log(var) + (input - target)^2 / var), var clamped to eps (the clamp passes the
    gradient through, as PyTorch). var: same shape as input, one dim short, or with one
    broadcast dim; or a float."""
    op = "gaussian_nll_loss"
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = Tensor._wrap(array_module(input.data).full(input.shape, var, input.dtype))
    elif bool((var.data < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"{op}: var is of incorrect size {tuple(var.shape)} for input "
                             f"{tuple(input.shape)}")
    _check_reduction(reduction, op)
    var = var + (var.detach().clamp(min=eps) - var.detach())
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Per-class logistic loss averaged over the C classes of input (N, C) or (C,)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "multilabel_soft_margin_loss")
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    c = input.ndim - 1
    loss = loss.sum(c) / input.shape[c]
    return _reduce(loss, reduction)


def _class_targets(input, target, op):
    """input (N, C) or (C,), integer target (N,) or () -> (x (N, C), target array (N,))."""
    if input.ndim not in (1, 2) or target.ndim != input.ndim - 1 or (
            input.ndim == 2 and target.shape[0] != input.shape[0]):
        raise RuntimeError(f"{op}: expected input (N, C) with target (N,) or input (C,) with "
                           f"target (), got {tuple(input.shape)} and {tuple(target.shape)}")
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must be an integer tensor, got dtype {t.dtype}")
    c = input.shape[-1]
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        raise IndexError(f"{op}: target {t.tolist()} out of range for {c} classes")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    return x, t.reshape(-1)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """sum_{j != y} max(0, margin - x[y] + x[j])^p / C (times weight[y]); p is 1 or 2."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "multi_margin_loss"
    _check_reduction(reduction, op)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 supported, got {p}")
    x, t = _class_targets(input, target, op)
    xp = array_module(x.data)
    idx = Tensor._wrap(xp.asarray(t)[:, None])
    z = (margin - x.gather(1, idx) + x).clamp(min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight[Tensor._wrap(xp.asarray(t))].unsqueeze(1)
    other = xp.arange(x.shape[1])[None, :] != xp.asarray(t)[:, None]
    loss = mytorch_where(other, z, 0.0).sum(1) / x.shape[1]
    return _reduce(loss if input.ndim == 2 else loss.squeeze(0), reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes j and non-target classes k of max(0, 1 - (x[j] - x[k])) / C.
    target (N, C) or (C,) lists class indices, ended by the first -1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "multilabel_margin_loss"
    _check_reduction(reduction, op)
    if input.ndim not in (1, 2) or tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: expected input (N, C) or (C,) and a target of the same "
                           f"shape, got {tuple(input.shape)} and {tuple(target.shape)}")
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must be an integer tensor, got dtype {t.dtype}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    xp = array_module(x.data)
    t = t.reshape(x.shape)
    n, c = x.shape
    valid = xp.cumprod(t >= 0, axis=1).astype(bool)  # entries before the first -1
    if bool((t[valid] >= c).any()):
        raise IndexError(f"{op}: target class out of range for {c} classes")
    listed = xp.where(valid, t, -1)
    count = (listed[:, :, None] == xp.arange(c)).sum(1).astype(x.dtype)  # (N, C) times listed
    is_target = count > 0
    pairs = Tensor._wrap(count[:, :, None] * ~is_target[:, None, :])  # (N, j, k)
    hinge = (1 - x.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)
    loss = (hinge * pairs).sum((1, 2)) / c
    return _reduce(loss if input.ndim == 2 else loss.squeeze(0), reduction)


# ---------------------------------------------------------------- long-tail layers


def bilinear(input1, input2, weight, bias=None):
    """y_o = x1 @ weight[o] @ x2 + bias_o. input1 (*, in1), input2 (*, in2), weight
    (out, in1, in2) -> (*, out)."""
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear: input1 {tuple(input1.shape)} and input2 "
                           f"{tuple(input2.shape)} do not match weight {tuple(weight.shape)}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, 1, 1, input1.shape[-1])               # (B, 1, 1, in1)
    x2 = input2.reshape(-1, 1, input2.shape[-1], 1)               # (B, 1, in2, 1)
    y = (x1 @ weight @ x2).reshape(*lead, weight.shape[0])        # (B, out, 1, 1) -> (*, out)
    return y if bias is None else y + bias


def threshold(input, threshold, value, inplace=False):
    """input where input > threshold, else value."""
    out = mytorch_where(input.data > threshold, input, float(value))
    return _maybe_inplace(input, out, inplace)


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


def _lp_pool(op, nd, input, norm_type, kernel_size, stride, ceil_mode):
    ks = _pair(kernel_size, nd, "kernel_size", op)
    y = C._avg_pool(op, nd, input ** norm_type, ks, ks if stride is None else stride, 0,
                    ceil_mode, True, None, False)
    return (y.sign() * y.abs().relu()).mul(math.prod(ks)) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, L)."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, H, W)."""
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    if input.ndim not in (nd + 1, nd + 2) or tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: expected input of {nd + 1} or {nd + 2} dims and indices of "
                           f"the same shape, got {tuple(input.shape)} and "
                           f"{tuple(indices.shape)}")
    ks = _pair(kernel_size, nd, "kernel_size", op)
    st = _pair(ks if stride is None else stride, nd, "stride", op)
    pd = _pair(padding, nd, "padding", op)
    spatial = tuple(input.shape[-nd:])
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(spatial, st, pd, ks))
    if output_size is None:
        out = default
    else:
        out = tuple(output_size)
        if len(out) not in (nd, nd + 2):
            raise ValueError(f"{op}: output_size must have {nd} or {nd + 2} elements, got "
                             f"{out}")
        out = out[-nd:]
        for o, d, s in zip(out, default, st):
            if not d - s < o < d + s:
                raise ValueError(f"{op}: invalid output_size {tuple(output_size)} (expected "
                                 f"each spatial size within (default - stride, default + "
                                 f"stride) of {default})")
    lead = tuple(input.shape[:-nd])
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    numel = math.prod(out)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= numel):
        raise IndexError(f"{op}: indices out of range for output size {out}")
    xp = array_module(input.data)
    flat_idx = Tensor._wrap(xp.asarray(idx, dtype=np.int64).reshape(*lead, -1))
    base = Tensor._wrap(xp.zeros(lead + (numel,), input.dtype))
    y = base.scatter(-1, flat_idx, input.reshape(*lead, -1))
    return y.reshape(*lead, *out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool1d(return_indices=True): values placed at their argmax positions,
    zeros elsewhere. (N, C, L) -> (N, C, L_out)."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d(return_indices=True). (N, C, H, W) -> (N, C, H_out, W_out).

    >>> y, i = F.max_pool2d(x, 2, return_indices=True); F.max_unpool2d(y, i, 2)
    """
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)



# Convolution, pooling and interpolation live in mytorch.ops.conv; attention in
# mytorch.ops.attention; recurrent cells in mytorch.ops.rnn. Keep these re-exports.
from mytorch.ops.attention import *  # noqa: F401,F403,E402
from mytorch.ops.conv import *  # noqa: F401,F403,E402
from mytorch.ops.conv3d import *  # noqa: F401,F403,E402  (conv3d, max/avg/adaptive pool3d)
from mytorch.ops.rnn import *  # noqa: F401,F403,E402

# ---- in-place spellings and small composites scripts use (torch.nn.functional's long tail)

def relu_(input):
    return relu(input, inplace=True)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    return (input - lambd) * (input > lambd) + (input + lambd) * (input < -lambd)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return input * (input.abs() > lambd)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Softmax of (logits + Gumbel noise) / tau; with hard=True a one-hot of its argmax whose
    gradient is the soft sample's (straight-through)."""
    u = _random.generator_for(logits.device).random(tuple(logits.shape))
    xp = array_module(u)
    gumbels = Tensor(-xp.log(-xp.log(u + eps) + eps), dtype=logits.dtype)
    y = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    idx = y.argmax(dim, keepdim=True)
    one_hot_y = y.detach() * 0
    one_hot_y.scatter_(dim, idx, 1.0)
    return one_hot_y - y.detach() + y
