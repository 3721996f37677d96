"""Cross-entropy over a large vocabulary as two fused CUDA kernels (numba-cuda), beside their
array-module references.

The reference path (mytorch.ops.nn.CrossEntropy) materializes softmax(x) as an (M, V) array in
forward and keeps it for backward. For a language model's head (V ~ 50k) that is one more
logits-sized array written and read, and for float16 logits its arithmetic runs in float16.
Here:

- forward: one block per row makes one pass over the row's V logits, keeping a running maximum
  and a running sum of exp(x - max) per thread (rescaled when the maximum grows: the "online"
  logsumexp), merges the threads' pairs in shared memory, and writes the row's loss and its
  logsumexp. Only the (M,) float32 logsumexp is saved (float64 for float64 logits), besides
  the logits themselves: no probabilities, no float32 copy of float16 logits.
- backward: one block per row recomputes softmax from the logits and the saved logsumexp and
  writes grad = (softmax - onehot(target)) * scale, with label smoothing and class weights
  folded in, straight into a fresh grad buffer of the logits' dtype.

Everything torch's F.cross_entropy does with class-index targets works: ignore_index,
reduction none/mean/sum, class weights, label_smoothing; (N, V, d1, ...) logits come here as
(M, V) rows (F.cross_entropy moves the class dim last, a copy in the logits' dtype, as the
reference path does). Probability targets take the reference path.

Out-of-range targets: the forward kernel records a flag on the device instead of raising, so
the call never waits for the GPU; F.cross_entropy folds it into the loss, which becomes NaN
(and so do the gradients), as on the reference CUDA path. On the host the reference path
raises IndexError naming the target.
"""
import math

import numpy as np

from mytorch import backend
from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops import cuda_kernels as ck
from mytorch.ops.elementwise import _quiet
from mytorch.ops.nn import CrossEntropy

__all__ = ["THREADS", "compile_targets", "fits", "cross_entropy_forward",
           "cross_entropy_backward", "cross_entropy_forward_reference",
           "cross_entropy_backward_reference", "reduce_rows", "row_scale", "FusedCrossEntropy"]

THREADS = 256  # threads per block (a power of two), read at each launch so tests can shrink it


def fits(x, target, weight=None):
    """Whether cross-entropy of logits x (M, V) and class indices `target` (M,) should take the
    fused kernels: `cuda_kernels.fits(x, weight)` (the switch on, a CUDA float array, weight
    None or of x's dtype, numba able to launch), V > 0, and integer targets (and the weights)
    on x's device."""
    cp = backend.cupy
    return (x.ndim == 2 and x.shape[1] > 0 and cp is not None
            and isinstance(target, cp.ndarray) and target.dtype.kind in "iu"
            and target.shape == x.shape[:1] and target.device == x.device
            and (weight is None or weight.device == x.device) and ck.fits(x, weight))


# ---------------------------------------------------------------- references
# Plain array-module code with the kernels' contract: what they compute, row by row.


def _row_targets(xp, target, ignore_index, n):
    """(valid, t, bad): rows not ignored, the class index per row (0 where ignored or out of
    range, as the kernels read it) and whether any row's target was out of range."""
    valid = target != ignore_index
    out = valid & ((target < 0) | (target >= n))
    t = xp.where(valid & ~out, target, 0)
    return valid, t, out.any()


def cross_entropy_forward_reference(x, target, weight, ignore_index, eps):
    """Per-row cross-entropy of logits x (M, V) at class indices target (M,), in the
    accumulator dtype (float32, float64 for float64 x): (loss, lse, wt, bad).

    loss[r] = (1 - eps) w[t] (lse - x[t]) + eps / V * sum_j w[j] (lse - x[j]), 0 for ignored
    rows; lse the row's logsumexp (0 for ignored rows); wt[r] = w[t] (0 for ignored rows), the
    mean's denominator terms; bad whether a target was out of range. weight (V,) or None."""
    xp, acc = array_module(x), ck._acc(x.dtype)
    m, n = x.shape
    valid, t, bad = _row_targets(xp, target, ignore_index, n)
    xa = x.astype(acc)
    w = xp.ones(n, acc) if weight is None else weight.astype(acc)
    mx = xa.max(axis=1, keepdims=True)
    with _quiet(xp):
        lse = (mx + xp.log(xp.exp(xa - mx).sum(axis=1, keepdims=True)))[:, 0]
        loss = (1 - eps) * w[t] * (lse - xa[xp.arange(m), t])
        if eps:
            loss += eps / n * (w.sum() * lse - xa @ w)
    wt = xp.where(valid, w[t], 0).astype(acc)
    loss = xp.where(valid, loss, 0).astype(acc)
    return loss, xp.where(valid, lse, 0).astype(acc), wt, bad


def cross_entropy_backward_reference(x, target, weight, ignore_index, eps, lse, scale):
    """Grad of the rows' losses wrt x, each row's times scale[r] (scale (M,) or (1,)):
    scale (1 - eps) w[t] (softmax - onehot(t)) + scale eps / V (sum(w) softmax - w), 0 for
    ignored rows, in x's dtype."""
    xp, acc = array_module(x), ck._acc(x.dtype)
    m, n = x.shape
    valid, t, _ = _row_targets(xp, target, ignore_index, n)
    w = xp.ones(n, acc) if weight is None else weight.astype(acc)
    p = xp.exp(x.astype(acc) - lse[:, None])
    onehot = (xp.arange(n)[None, :] == t[:, None]).astype(acc)
    s = xp.broadcast_to(scale.astype(acc), (m,))[:, None]
    g = s * (1 - eps) * w[t][:, None] * (p - onehot) + s * eps / n * (w.sum() * p - w)
    return xp.where(valid[:, None], g, 0).astype(x.dtype)


def reduce_rows(loss, wt, reduction):
    """The per-row losses (M,) reduced: 'none' as is, 'sum', or 'mean' = sum / sum(wt), the
    weights of the rows not ignored (NaN when every row is ignored, as torch)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    with _quiet(array_module(loss)):
        return loss.sum() / wt.sum()


def row_scale(gy, wt, reduction, acc):
    """The gradient's scale per row, (M,) or (1,) in `acc`, from the loss' gradient gy: gy
    itself ('none', 'sum') or gy / sum(wt) ('mean')."""
    xp = array_module(gy)
    gy = xp.asarray(gy, dtype=acc)
    if reduction == "none":
        return xp.ascontiguousarray(gy).reshape(-1)
    if reduction == "mean":
        with _quiet(xp):
            gy = gy / wt.sum()
    return gy.reshape(1)


# ---------------------------------------------------------------- kernels

_built = {}
cuda = None  # numba.cuda, imported by the first kernels() call (see cuda_kernels._build)


def kernels(threads=THREADS, dtype=np.float32):
    """The jitted kernels for blocks of `threads` threads and logits of `dtype`, built once per
    block size and accumulator (float64 for float64 logits, float32 otherwise)."""
    if threads & (threads - 1) or not 1 <= threads <= 1024:
        raise ValueError(f"cuda_cross_entropy: threads must be a power of two <= 1024, "
                         f"got {threads}")
    acc = ck._acc(dtype)
    if (threads, acc) not in _built:
        _built[threads, acc] = _build(threads, acc)
    return _built[threads, acc]


def _build(threads, acc):
    # a module global, as in cuda_kernels: the simulator swaps a kernel's global `cuda`
    global cuda
    from numba import cuda

    zero, one, neg_inf = acc(0), acc(1), acc(-math.inf)

    @cuda.jit(device=True)
    def row_target(target, r, ignore_index, n, bad):
        # the row's class (-1: ignored); an out-of-range one raises the flag and reads as 0
        t = target[r]
        if t == ignore_index:
            return -1
        if t < 0 or t >= n:
            bad[0] = 1  # every writer writes 1: no atomics needed
            return 0
        return t

    @cuda.jit
    def cross_entropy_fwd(x, target, w, wsum, ignore_index, eps, loss, lse, wt, bad):
        # x (M, V); target (M,) int64; w (V,); wsum (1,) = sum(w); loss, lse, wt (M,); bad (1,)
        bm = cuda.shared.array(threads, acc)  # running max,
        bs = cuda.shared.array(threads, acc)  # sum of exp(x - max),
        bx = cuda.shared.array(threads, acc)  # sum of w (x - x[0]) (label smoothing)
        r, k, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        t = row_target(target, r, ignore_index, n, bad)
        if t < 0:  # ignored: the whole block leaves, so no barrier is left waiting
            if k == 0:
                loss[r] = zero
                lse[r] = zero
                wt[r] = zero
            return
        smooth = eps > zero
        x0 = acc(x[r, 0])  # a shift for the smoothing sum: no cancellation with large logits
        if x0 == neg_inf:  # a masked first entry: no shift (the smoothing loss is inf, as torch)
            x0 = zero
        m, s, sx = neg_inf, zero, zero
        for j in range(k, n, threads):
            v = acc(x[r, j])
            if v > m:  # a new maximum: rescale what was summed so far
                s = s * math.exp(m - v) + one
                m = v
            elif v > neg_inf:  # -inf logits add nothing (and -inf - -inf would be NaN)
                s += math.exp(v - m)
            if smooth:
                sx += acc(w[j]) * (v - x0)
        bm[k], bs[k], bx[k] = m, s, sx
        cuda.syncthreads()
        step = threads // 2
        while step > 0:  # tree merge of the threads' (max, sum) pairs
            if k < step:
                m1, m2 = bm[k], bm[k + step]
                mm = max(m1, m2)
                if mm > neg_inf:
                    bs[k] = bs[k] * math.exp(m1 - mm) + bs[k + step] * math.exp(m2 - mm)
                bm[k] = mm
                bx[k] += bx[k + step]
            cuda.syncthreads()
            step //= 2
        if k == 0:
            mx, log_s = bm[0], math.log(bs[0])
            w_t = acc(w[t])
            out = (one - eps) * w_t * ((mx - acc(x[r, t])) + log_s)  # lse - x[t], exact-ish
            if smooth:
                out += eps / acc(n) * (wsum[0] * ((mx - x0) + log_s) - bx[0])
            loss[r] = out
            lse[r] = mx + log_s
            wt[r] = w_t

    @cuda.jit
    def cross_entropy_bwd(x, target, w, wsum, ignore_index, eps, lse, scale, gx, bad):
        # gx (M, V) like x; scale (M,) or (1,): the loss' gradient per row; the rest as forward
        r, k, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        t = row_target(target, r, ignore_index, n, bad)
        if t < 0:
            for j in range(k, n, threads):
                gx[r, j] = zero
            return
        g = scale[r if scale.shape[0] > 1 else 0]
        c_nll = g * (one - eps) * acc(w[t])
        c_smooth = g * eps / acc(n)
        smooth = eps > zero
        row_lse = lse[r]
        for j in range(k, n, threads):
            p = math.exp(acc(x[r, j]) - row_lse)
            d = c_nll * p
            if smooth:
                d += c_smooth * (wsum[0] * p - acc(w[j]))
            if j == t:
                d -= c_nll
            gx[r, j] = d

    return {"cross_entropy_fwd": cross_entropy_fwd, "cross_entropy_bwd": cross_entropy_bwd}


def compile_targets(threads=THREADS):
    """{name: [(kernel, numba signature), ...]}: both kernels for float16/32/64 logits, for CI
    to compile for the targets (cuda_kernels.KERNEL_MODULES lists this module)."""
    from numba import types

    out = {}
    for dtype, ty in ((np.float16, types.float16), (np.float32, types.float32),
                      (np.float64, types.float64)):
        a = types.float64 if dtype == np.float64 else types.float32
        m, v, p = ty[:, ::1], ty[::1], a[::1]  # logits, class weights, per-row statistics
        idx, flag = types.int64[::1], types.int32[::1]
        sigs = {"cross_entropy_fwd": (m, idx, v, p, types.int64, a, p, p, p, flag),
                "cross_entropy_bwd": (m, idx, v, p, types.int64, a, p, p, m, flag)}
        for name, kernel in kernels(threads, dtype).items():
            out.setdefault(name, []).append((kernel, sigs[name]))
    return out


# ---------------------------------------------------------------- host wrappers


def _launch(name, grid, threads, dtype, *args):
    """Launch this module's kernel `name` on `grid` blocks, as cuda_kernels' _launch does
    (its _host_view hands the simulator NumPy views of device arrays)."""
    if grid:
        threads = THREADS if threads is None else threads
        kernel = kernels(threads, dtype)[name]
        kernel[grid, threads](*(map(ck._host_view, args) if ck._simulated() else args))


def _check(name, x, target, weight):
    ck._check_float(name, x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{name}: expected logits (M, V) with V > 0, got shape "
                         f"{tuple(x.shape)}")
    if target.dtype.kind not in "iu" or tuple(target.shape) != x.shape[:1]:
        raise ValueError(f"{name}: expected integer class indices of shape ({x.shape[0]},) "
                         f"for logits {tuple(x.shape)}, got {tuple(target.shape)} "
                         f"{target.dtype}")
    if weight is not None and (tuple(weight.shape) != x.shape[1:] or weight.dtype != x.dtype):
        raise ValueError(f"{name}: expected class weights ({x.shape[1]},) {x.dtype} for logits "
                         f"{tuple(x.shape)} {x.dtype}, got {tuple(weight.shape)} "
                         f"{weight.dtype}")


def _operands(x, target, weight):
    """The kernels' shared arguments: contiguous logits, int64 targets, weights (ones when
    None) and their (1,) sum, all on x's device."""
    xp, acc = array_module(x), ck._acc(x.dtype)
    n = x.shape[1]
    w = xp.ones(n, x.dtype) if weight is None else xp.ascontiguousarray(weight)
    wsum = xp.full(1, n, acc) if weight is None else w.sum(dtype=acc).reshape(1)
    return (xp.ascontiguousarray(x), xp.ascontiguousarray(target, dtype=np.int64), w, wsum)


def cross_entropy_forward(x, target, weight=None, ignore_index=-100, eps=0.0, threads=None):
    """Per-row cross-entropy of logits x (M, V) at class indices target (M,), one kernel:
    (loss, lse, wt, bad) as cross_entropy_forward_reference, bad an int32 (1,) flag that is 1
    when a target was out of range (left on the device: reading it would wait for the GPU)."""
    _check("cross_entropy_forward", x, target, weight)
    xp, acc = array_module(x), ck._acc(x.dtype)
    x, target, w, wsum = _operands(x, target, weight)
    m = x.shape[0]
    loss, lse, wt = xp.empty(m, acc), xp.empty(m, acc), xp.empty(m, acc)
    bad = xp.zeros(1, np.int32)
    _launch("cross_entropy_fwd", m, threads, x.dtype, x, target, w, wsum,
            np.int64(ignore_index), acc(eps), loss, lse, wt, bad)
    return loss, lse, wt, bad


def cross_entropy_backward(x, target, weight, ignore_index, eps, lse, scale, threads=None):
    """Grad wrt x (M, V) of the rows' losses, each row's times scale[r] (scale (M,) or (1,)),
    from the logits and the saved lse, one kernel, in x's dtype (no (M, V) temporary)."""
    _check("cross_entropy_backward", x, target, weight)
    xp, acc = array_module(x), ck._acc(x.dtype)
    x, target, w, wsum = _operands(x, target, weight)
    m = x.shape[0]
    if tuple(lse.shape) != (m,) or scale.ndim != 1 or scale.shape[0] not in (1, m):
        raise ValueError(f"cross_entropy_backward: expected lse ({m},) and scale ({m},) or "
                         f"(1,) for logits {tuple(x.shape)}, got {tuple(lse.shape)} and "
                         f"{tuple(scale.shape)}")
    gx = xp.empty(x.shape, x.dtype)
    _launch("cross_entropy_bwd", m, threads, x.dtype, x, target, w, wsum,
            np.int64(ignore_index), acc(eps), xp.ascontiguousarray(lse, dtype=acc),
            xp.ascontiguousarray(scale, dtype=acc), gx, xp.zeros(1, np.int32))
    return gx


class FusedCrossEntropy(Function):
    """Cross-entropy from logits (M, V) and class indices (M,) in one kernel each way, on CUDA.
    Hand-written to save only the per-row logsumexp and to allocate no (M, V) temporary.
    Returns (loss, bad): bad is the device flag of an out-of-range target (not differentiable).
    create_graph differentiates mytorch.ops.nn.CrossEntropy's composite (the reference)."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        x = array_module(x).ascontiguousarray(x)  # what the kernels read, saved once
        loss, lse, wt, bad = cross_entropy_forward(x, target, weight, ignore_index,
                                                   label_smoothing)
        ctx.save_for_backward(x, lse)
        ctx.target, ctx.weight, ctx.wt = target, weight, wt
        ctx.ignore_index, ctx.eps, ctx.reduction = ignore_index, label_smoothing, reduction
        bad = bad.reshape(())
        ctx.mark_non_differentiable(bad)
        return reduce_rows(loss, wt, reduction).astype(x.dtype), bad

    @staticmethod
    def backward(ctx, gy, _gbad=None):
        x, lse = ctx.saved_tensors
        scale = row_scale(gy, ctx.wt, ctx.reduction, lse.dtype)
        gx = cross_entropy_backward(x, ctx.target, ctx.weight, ctx.ignore_index, ctx.eps, lse,
                                    scale)
        return gx, None, None

    # create_graph: differentiate the reference's composite (a kernel has no graph)
    composite = staticmethod(CrossEntropy.composite)

    @staticmethod
    def rebuilt_inputs(ctx):  # the saved contiguous logits are the input: keep one copy
        return (0,)

    @staticmethod
    def rebuild_input(ctx, i):
        return ctx.saved_tensors[0]
