"""CPU row loops (numba) for AttentionFunction's softmax, beside their NumPy references.

Attention's GEMMs stay NumPy matmuls; what is left between them is elementwise work on the
(N, L, S) score matrices: scale, causal mask, softmax and its log-sum-exp forward; the
recomputed probabilities and the score gradient backward. NumPy does that in ~8 passes over
memory each way; these loops do it in one pass per row while the row is in cache, and with a
causal mask they touch only the keys j <= i of query i (half the matrix), writing exact zeros
past them. The exp is the softmax loops' vectorizing one (mytorch.ops._kernels).

Only NumPy float32 score matrices take the loops (`fits`); every other array goes through the
references, which are what AttentionFunction's general path computes for these cases.
"""
import functools

import numpy as np

from mytorch.ops._kernels import (
    _EXP32_DEGREE,
    _EXP_LN2_HI,
    _EXP_LN2_LO,
    _EXP_LOG2E,
    _EXP_TAYLOR,
    _EXP_UNDERFLOW,
    _SOFTMAX_EXP32,
)

__all__ = []


def fits(s):
    """True when the loops take the score matrices s (..., L, S): a NumPy float32 array."""
    return type(s) is np.ndarray and s.dtype == np.float32 and s.ndim >= 2


def valid_keys(L, S, causal):
    """n[i] = how many leading keys query i sees: all S, or j <= i when causal (top-left
    aligned, as torch's is_causal)."""
    return np.minimum(np.arange(1, L + 1), S) if causal else np.full(L, S)


def _mask_past_keys(s, n_keys):
    """s[..., i, j] = -inf for keys j >= n_keys[i]."""
    s[..., np.arange(s.shape[-1])[None, :] >= n_keys[:, None]] = -np.inf


def softmax_scores_reference(s, scale, n_keys, lse):
    """s (..., R, K) raw q k^T of R query rows and their first K keys -> in place
    softmax(s * scale) over the first n_keys[i] keys of row i, zeros past them; the row
    log-sum-exp goes to lse (N, R), N the product of s's batch dims. Rows whose scores are all
    -inf give zeros and lse = +inf (as AttentionFunction's general path)."""
    s *= scale
    _mask_past_keys(s, n_keys)
    m = s.max(axis=-1, keepdims=True)
    empty = m == -np.inf
    m[empty] = 0
    s -= m
    np.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    total[empty] = 1
    s /= total
    row_lse = np.log(total)
    row_lse += m
    row_lse[empty] = np.inf
    lse[...] = row_lse.reshape(lse.shape)


def softmax_scores_backward_reference(s, dpd, scale, n_keys, lse):
    """From s (..., R, K) raw q k^T, the probabilities' gradient dpd (same shape) and the
    forward's lse (N, R): in place, s becomes the probabilities p and dpd the scores' gradient
    p (dpd - sum(p dpd)) (without the scale), both zero past each row's keys."""
    s *= scale
    _mask_past_keys(s, n_keys)
    s -= lse.reshape(s.shape[:-1] + (1,))
    np.exp(s, out=s)
    dpd -= (s * dpd).sum(axis=-1, keepdims=True)
    dpd *= s
    dpd[..., np.arange(s.shape[-1])[None, :] >= n_keys[:, None]] = 0


@functools.cache
def _compiled():
    from numba import njit

    # reassoc: the row max / sum / dot vectorize; contract: FMAs in the exp polynomial
    opts = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})

    # exp(t) below: t = n ln2 + r (Cody-Waite), Taylor in r, 2**n from its exponent bits,
    # 0 under the underflow bound (t may be -inf), NaN kept; as mytorch.ops._kernels' softmax.
    @njit(**opts)
    def forward32(s, scale, n_keys, c, lse):
        # s (N, L, S) in place: t = s * scale, m = max over the row's keys, p = exp(t - m) /
        # sum; zeros past the keys; lse = log(sum) + m (+inf for an all -inf row)
        acc = np.empty(16, np.float32)
        zero, half = np.float32(0), np.float32(0.5)
        for b in range(s.shape[0]):
            for i in range(s.shape[1]):
                row, n = s[b, i], n_keys[i]
                n16 = n - n % 16
                acc[:] = -np.inf
                for j0 in range(0, n16, 16):
                    for k in range(16):
                        t = row[j0 + k] * scale
                        row[j0 + k] = t
                        acc[k] = max(acc[k], t)
                m = acc[0]
                for k in range(16):
                    m = max(m, acc[k])
                for j in range(n16, n):
                    t = row[j] * scale
                    row[j] = t
                    m = max(m, t)
                empty = m == -np.inf
                if empty:
                    m = zero
                total = zero
                for j in range(n):
                    t = row[j] - m
                    tc = t if t > c[_EXP_UNDERFLOW] else c[_EXP_UNDERFLOW]
                    nf = np.floor(tc * c[_EXP_LOG2E] + half)
                    r = (t - nf * c[_EXP_LN2_HI]) - nf * c[_EXP_LN2_LO]
                    p = c[_EXP_TAYLOR]
                    for k in range(_EXP_TAYLOR + 1, _EXP_TAYLOR + _EXP32_DEGREE + 1):
                        p = p * r + c[k]
                    e = p * np.int32((np.int32(nf) + 127) << 23).view(np.float32)
                    e = zero if t < c[_EXP_UNDERFLOW] else e
                    row[j] = e
                    total += e
                if empty:
                    total = np.float32(1)
                for j in range(n):
                    row[j] /= total
                for j in range(n, s.shape[2]):
                    row[j] = zero
                lse[b, i] = np.float32(np.inf) if empty else np.log(total) + m

    @njit(**opts)
    def backward32(s, dpd, scale, n_keys, c, lse):
        # s (N, L, S) raw scores -> p = exp(s * scale - lse); dpd -> p (dpd - sum(p dpd));
        # both 0 past the row's keys
        zero, half = np.float32(0), np.float32(0.5)
        for b in range(s.shape[0]):
            for i in range(s.shape[1]):
                row, g, n, li = s[b, i], dpd[b, i], n_keys[i], lse[b, i]
                dot = zero
                for j in range(n):
                    t = row[j] * scale - li
                    tc = t if t > c[_EXP_UNDERFLOW] else c[_EXP_UNDERFLOW]
                    nf = np.floor(tc * c[_EXP_LOG2E] + half)
                    r = (t - nf * c[_EXP_LN2_HI]) - nf * c[_EXP_LN2_LO]
                    p = c[_EXP_TAYLOR]
                    for k in range(_EXP_TAYLOR + 1, _EXP_TAYLOR + _EXP32_DEGREE + 1):
                        p = p * r + c[k]
                    e = p * np.int32((np.int32(nf) + 127) << 23).view(np.float32)
                    e = zero if t < c[_EXP_UNDERFLOW] else e
                    row[j] = e
                    dot += e * g[j]
                for j in range(n):
                    g[j] = (g[j] - dot) * row[j]
                for j in range(n, s.shape[2]):
                    row[j] = zero
                    g[j] = zero

    return forward32, backward32


def _as_3d(a):
    """a (..., R, K) as an (N, R, K) view: the loops need C-contiguous rows."""
    return a.reshape((-1,) + a.shape[-2:])


def softmax_scores_(s, scale, n_keys, lse):
    """Same as softmax_scores_reference, for a C-contiguous float32 s (a fresh matmul)."""
    _compiled()[0](_as_3d(s), np.float32(scale), n_keys, _SOFTMAX_EXP32, lse)


def softmax_scores_backward_(s, dpd, scale, n_keys, lse):
    """Same as softmax_scores_backward_reference, for C-contiguous float32 s and dpd."""
    _compiled()[1](_as_3d(s), _as_3d(dpd), np.float32(scale), n_keys, _SOFTMAX_EXP32, lse)
