"""Losses: classification, regression, divergence, margin and ranking.

Every loss takes `reduction` ('none', 'mean', 'sum'); the deprecated size_average/reduce
pair maps to it through `legacy_reduction`, which the loss layers share.
"""
import math
import warnings

import numpy as np

from mytorch import backend
from mytorch.amp import autocast_mode as _amp
from mytorch.backend import array_module
from mytorch.nn.functional._util import check_float, mytorch_where
from mytorch.nn.functional.activation import log_softmax, logsigmoid
from mytorch.nn.functional.distance import pairwise_distance
from mytorch.ops import cuda_cross_entropy
from mytorch.ops import nn as N
from mytorch.tensor import Tensor

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
           "cross_entropy", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
           "l1_loss", "legacy_reduction", "margin_ranking_loss", "mse_loss", "multi_margin_loss",
           "multilabel_margin_loss", "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss",
           "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss"]


_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def legacy_reduction(size_average, reduce, reduction):
    """The deprecated size_average/reduce pair -> a reduction string, as PyTorch."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", stacklevel=3)
    return ret


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _weighted(loss, weight, reduction, op):
    if tuple(weight.shape) != tuple(loss.shape):
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} must have the input's "
                         f"shape {tuple(loss.shape)}")
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


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


def _warn_broadcast(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"{op}: using a target size {tuple(target.shape)} that is different to "
                      f"the input size {tuple(input.shape)}. This will likely lead to "
                      "incorrect results due to broadcasting. Please ensure they have the same "
                      "size.", stacklevel=3)


def _check_targets(t, c, ignore_index, op):
    """Class indices must lie in [0, c) or equal ignore_index -> (t, flag).

    On the host a bad target raises IndexError naming it (flag None). On a GPU that test
    would wait for the device on every call, so bad targets become class 0 and `flag` is a
    0-d device bool, true if any was bad, for `_poison` to fold into the loss: the loss and
    its gradients turn NaN, seen when the caller next reads the loss."""
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {t.dtype}")
    if t.size == 0:
        return t, None
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    xp = array_module(t)
    if xp is not np:
        return xp.where(bad, 0, t), bad.any()
    if bad.any():
        v = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target {v} is out of bounds for {c} classes (valid: 0..{c - 1}"
                         f" or ignore_index={ignore_index})")
    return t, None


def _poison(loss, flag):
    """loss, or NaN (value and gradients) where the device-side target check `flag` failed."""
    if flag is None:
        return loss
    xp = array_module(flag)
    with backend.device_scope(flag):
        factor = xp.where(flag, xp.nan, 1.0).astype(loss.dtype)
    return loss * Tensor._wrap(factor)


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
    (N, d1, ...) or class probabilities (same shape as input).

    On CUDA float logits with class indices, one fused kernel each way does the work
    (mytorch.ops.cuda_cross_entropy: no (N, C) temporaries; switched off by MYTORCH_FUSED=0).
    An out-of-range class index raises IndexError on the CPU; on CUDA it makes the loss and
    its gradients NaN instead, so that the call never waits for the GPU."""
    input, target, weight = _amp.cast("cross_entropy", input, target, weight)
    op = "cross_entropy"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    check_float(input, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not match {c} "
                           f"classes of input {tuple(input.shape)}")
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, auto)
    x, t, out_shape = _class_last(input, target, op)
    w = None if weight is None else weight.data
    if not auto and cuda_cross_entropy.fits(x.data, t, w):
        # CUDA: one kernel each way, no (M, C) temporaries; the kernel flags bad targets
        loss, bad = cuda_cross_entropy.FusedCrossEntropy.apply(
            x, t, w, ignore_index, float(label_smoothing), reduction)
        return _poison(loss.reshape(out_shape) if reduction == "none" else loss, bad.data)
    with backend.device_scope(t):
        t, bad = _check_targets(t, c, ignore_index, "CrossEntropyLoss")
    if auto:
        logp = log_softmax(x, 1, auto=True)
        loss = _nll(logp, t, weight, ignore_index, reduction, out_shape, label_smoothing)
        return _poison(loss, bad)
    loss = N.CrossEntropy.apply(x, t, w, ignore_index, float(label_smoothing), reduction)
    return _poison(loss.reshape(out_shape) if reduction == "none" else loss, bad)


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
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    check_float(input, op)
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not match {c} "
                           f"classes of input {tuple(input.shape)}")
    x, t, out_shape = _class_last(input, target, op)
    with backend.device_scope(t):
        t, bad = _check_targets(t, c, ignore_index, "NLLLoss")
    return _poison(_nll(x, t, weight, ignore_index, reduction, out_shape), bad)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """Binary cross-entropy of probabilities `input` in [0, 1] against `target` (same shape),
    each log clamped at -100 as PyTorch; `weight` broadcasts to the input.

    >>> F.binary_cross_entropy(torch.sigmoid(logits), labels)
    """
    input, target, weight = _amp.cast("binary_cross_entropy", input, target, weight)
    op = "binary_cross_entropy"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    check_float(input, op)
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


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression; pos_weight scales positives."""
    input, target, weight = _amp.cast("binary_cross_entropy_with_logits", input, target, weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
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


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence with log-probabilities `input`: target * (log target - input) elementwise
    (target given as log-probabilities when log_target). reduction='batchmean' divides the sum
    by the batch size (the true KL divergence); 'mean' divides by the element count."""
    input, target = _amp.cast("kl_div", input, target)
    op = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction)
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


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: exp(input) - target * input with log_input, else
    input - target * log(input + eps); full adds the Stirling term where target > 1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
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


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None,
             auto=False):
    """Mean squared error: mean((input - target)^2) (or sum, or elementwise); `weight` (same
    shape as input) scales each element, and 'mean' then divides by its sum, as PyTorch."""
    input, target = _amp.cast("mse_loss", input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
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
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    _broadcast_loss_pair(input, target, "l1_loss")
    if weight is not None:
        return _weighted((input - target).abs(), weight, reduction, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0 is L1."""
    input, target = _amp.cast("smooth_l1_loss", input, target)
    op = "smooth_l1_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
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


def _ones_mask(t, v):
    """(t == v) as an array (targets never need a gradient here)."""
    return (t.data if isinstance(t, Tensor) else np.asarray(t)) == v


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (input1 - input2) + margin); target in {1, -1}."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "margin_ranking_loss")
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss: all input tensors should have the same "
                           f"dimension, got sizes {tuple(input1.shape)}, {tuple(input2.shape)}, "
                           f"{tuple(target.shape)}")
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """input where target == 1, max(0, margin - input) where target == -1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "hinge_embedding_loss")
    neg = mytorch_where(~_ones_mask(target, 1), (margin - input).clamp(min=0), 0.0)
    pos = mytorch_where(~_ones_mask(target, -1), input, 0.0)
    return _reduce(neg + pos, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), target in {1, -1}."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "soft_margin_loss")
    _broadcast_loss_pair(input, target, "soft_margin_loss")
    return _reduce((-input * target).exp().log1p(), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1.
    input1, input2 (N, D) or (D,); target (N,) or ()."""
    reduction = legacy_reduction(size_average, reduce, reduction)
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
    reduction = legacy_reduction(size_average, reduce, reduction)
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


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Per-class logistic loss averaged over the C classes of input (N, C) or (C,)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
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
    reduction = legacy_reduction(size_average, reduce, reduction)
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
    reduction = legacy_reduction(size_average, reduce, reduction)
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
