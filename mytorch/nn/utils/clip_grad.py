"""Gradient clipping: by the total norm of all gradients, or elementwise by value."""
import math

import numpy as np

from mytorch import backend
from mytorch.tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data for p in parameters if p.grad is not None]


def _vector_norm(g, norm_type):
    # 0-d array of g's dtype; 2-norm through dot (no temporary for contiguous g).
    xp = backend.array_module(g)
    if norm_type == 2.0:
        flat = g.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    a = xp.abs(g)
    if norm_type == math.inf:
        return a.max() if a.size else xp.zeros((), g.dtype)
    if norm_type == -math.inf:
        return a.min() if a.size else xp.asarray(math.inf, g.dtype)
    if norm_type == 0:
        return xp.asarray(xp.count_nonzero(a), dtype=g.dtype)
    if norm_type == 1.0:
        return a.sum()
    return xp.power(xp.power(a, norm_type).sum(), 1.0 / norm_type).astype(g.dtype)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The `norm_type`-norm of the norms of `tensors` (one Tensor or an iterable), as a 0-d
    Tensor; raises on a nan/inf total when `error_if_nonfinite`."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    arrays = [t.data if isinstance(t, Tensor) else t for t in tensors]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor._wrap(np.zeros((), np.float32))
    first = arrays[0]
    xp = backend.array_module(first)
    dev = backend.device_of(first)
    norms = xp.stack([backend.to_device(_vector_norm(a, norm_type), dev) for a in arrays])
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} for gradients "
                           f"from `parameters` is non-finite ({float(total)}), so it cannot be "
                           f"clipped. To scale the gradients by the non-finite norm anyway, "
                           f"set error_if_nonfinite=False")
    return Tensor._wrap(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale gradients in place by min(1, max_norm / (total_norm + 1e-6))."""
    grads = _grads(parameters)
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else total_norm
    xp = backend.array_module(grads[0])
    coef = xp.minimum(xp.asarray(float(max_norm), dtype=total.dtype) / (total + 1e-6), 1.0)
    # A nan norm gives a nan coefficient (minimum keeps nan), an inf norm a zero one (so
    # inf * 0 = nan): the grads are poisoned exactly as in PyTorch.
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= backend.to_device(coef, backend.device_of(g)).astype(g.dtype, copy=False)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients in place so that their total `norm_type`-norm is at most
    `max_norm`; returns the total norm (before clipping) as a 0-d Tensor.

    >>> total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)

    A nan/inf total raises with `error_if_nonfinite=True`; otherwise the gradients are
    multiplied by the resulting (nan or 0) coefficient, as PyTorch does.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    grads = _grads(parameters)
    with backend.device_scope(grads[0] if grads else None):
        total = get_total_norm(grads, norm_type, error_if_nonfinite)
        if grads:
            clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        backend.array_module(g).clip(g, -clip_value, clip_value, out=g)
