"""Fused single-pass CPU kernels (numba) for the Adam and SGD updates.

The ufunc path in adam.py / sgd.py is the reference (and what CuPy, non-contiguous or
non-float arrays use); these loops do the same float arithmetic in the same order, element
by element in one pass, instead of a dozen ufunc passes. Scalars are passed in the arrays'
dtype so float32 math stays float32, like PyTorch's kernels (no fastmath: no reassociation).
"""
import functools

import numpy as np

from mytorch.backend import host_float_arrays

# The loops take what mytorch.backend.host_float_arrays accepts; other arrays use the reference.
available = host_float_arrays


@functools.cache
def _compiled():
    # numba is imported on first use, so `import mytorch` stays fast; cache=True keeps the
    # machine code on disk between processes.
    from numba import njit

    # error_model="numpy": no ZeroDivisionError check, so the loop vectorizes.
    # Branch-free body: maximize is a sign, L2 weight decay is wd (0 for AdamW),
    # decoupled decay is a factor (1 for Adam).
    @njit(cache=True, nogil=True, error_model="numpy")
    def adam(x, g, m, v, decay, wd, sign, w1, beta2, w2, bc2_sqrt, eps, neg_step):
        for i in range(x.shape[0]):
            xi = x[i]
            gi = g[i] * sign + wd * xi
            xi = xi * decay
            mi = m[i]
            mi = mi + w1 * (gi - mi)
            m[i] = mi
            vi = v[i] * beta2 + w2 * gi * gi
            v[i] = vi
            x[i] = xi + mi / (np.sqrt(vi) / bc2_sqrt + eps) * neg_step

    @njit(cache=True, nogil=True, error_model="numpy")
    def sgd(x, g, buf, lr, wd, sign, has_buf, first, momentum, keep, nesterov):
        for i in range(x.shape[0]):
            xi = x[i]
            gi = g[i] * sign + wd * xi
            if has_buf:
                if first:
                    b = gi
                else:
                    b = buf[i] * momentum + keep * gi
                buf[i] = b
                if nesterov:
                    gi = gi + momentum * b
                else:
                    gi = b
            x[i] = xi - lr * gi

    return (adam, sgd)


def adam_supported(amsgrad, beta1):
    """The fused Adam loop covers the common case; amsgrad and beta1 <= 0.5 (the other
    torch.lerp formula) take the ufunc path."""
    return not amsgrad and beta1 > 0.5


def adam(x, g, m, v, *, lr, beta1, beta2, eps, wd, decoupled, maximize, step_size,
         bias_correction2_sqrt):
    """One Adam/AdamW update of flat arrays in place."""
    f = x.dtype.type
    decay = f(1.0 - lr * wd) if decoupled else f(1.0)
    l2 = f(0.0) if decoupled else f(wd)
    _compiled()[0](x, g, m, v, decay, l2, f(-1.0 if maximize else 1.0), f(1.0 - beta1),
                   f(beta2), f(1.0 - beta2), f(bias_correction2_sqrt), f(eps), f(-step_size))


def sgd(x, g, buf, *, lr, momentum, wd, dampening, nesterov, maximize, first):
    """One SGD update of flat arrays in place (buf is None without momentum)."""
    f = x.dtype.type
    _compiled()[1](x, g, x if buf is None else buf, f(lr), f(wd), f(-1.0 if maximize else 1.0),
                   buf is not None, first, f(momentum), f(1.0 - dampening), nesterov)
