"""Fused CUDA kernels for the embedding gradient and for dropout (+ a residual add), written
with numba-cuda beside their array-module references (see mytorch.ops.cuda_kernels for how
such kernels are built, launched, tested on numba's simulator and compiled for CI).

Embedding backward, `embedding_backward`: the weight's gradient (V, D) sums the rows of gy
(N, D) that share an index. It is deterministic: no float atomics. The N indices are sorted
(a stable argsort, so equal indices keep their order), and the kernel strides its blocks over
the sorted positions; the block at the start of each run of equal indices sums that run's gy
rows, in sorted order, one column per thread, and writes the weight row once. So every weight
element has one writer and a fixed order of additions, and the float32 (float64 for float64)
sums equal the reference's (`np.add.at`, which adds in index order) on the simulator. Rows no
index names stay zero, and so does the padding_idx row (its run is skipped).

Dropout + residual add, `dropout_add_forward`: out = residual + x * mask, one pass, where
mask = 1/(1-p) where kept, 0 where dropped. The mask is never stored: its draws are a
counter-based generator, Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
1, 2, 3", SC 2011; cuRAND's and CuPy's), keyed by the 64-bit `seed`, so backward
(`dropout_backward`: gx = gy * mask) regenerates it from the seed alone. That saves the
mask's memory (a byte, or in the reference path a whole float array, per element kept from
forward to backward in every layer) for ~5 32-bit integer multiplies per element, which a
memory-bound kernel has to spare. One Philox call gives four 32-bit words: for L elements
and S = ceil(L / 4), element e takes word e // S of the call at counter e % S, so a thread
makes one call for elements g, g + S, g + 2S, g + 3S, and neighbouring threads read
neighbouring elements. The top 24 bits of a word make a uniform u in [0, 1) (float32's
resolution); an element is kept when u >= p, as mytorch's CPU dropout keeps it. Without a
residual it is plain dropout.

The draws cannot match torch's (or the reference path's, which draws a mask with CuPy's
generator): the seed comes from the device's mytorch generator (`mytorch.random.seed_for`),
so mytorch.manual_seed makes them reproducible, and the reference functions here, given the
same seed, give the same mask.
"""
import math

import numpy as np

from mytorch.backend import array_module
from mytorch.ops import cuda_kernels as ck
from mytorch.ops.cuda_kernels import _acc, _check_float

__all__ = ["kernels", "compile_targets", "embedding_backward", "embedding_backward_reference",
           "dropout_add_forward", "dropout_backward", "dropout_add_reference",
           "dropout_backward_reference", "dropout_mask_reference", "philox4x32_reference"]

# Philox4x32-10's constants: round multipliers and the key's per-round increments (Weyl).
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
PHILOX_ROUNDS = 10
UNIFORM_BITS = 24  # bits of the uniform draw that decides keep / drop

# Philox's arithmetic on 32-bit words is done in uint64 (the reference's arrays, the kernel's
# products and sums): a product of two words fits, and so does a sum, so nothing overflows
# (numba's simulator, on NumPy scalars, would warn) and masks bring results back to 32 bits.
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


# ---------------------------------------------------------------- references


def embedding_backward_reference(n_rows, idx, gy, padding_idx=None):
    """Grad of the weight (n_rows, D) of weight[idx]: gy (*idx.shape, D) added into the rows
    idx names (repeats summed, in float32 for float16 gy), the padding_idx row zero."""
    xp = array_module(gy)
    d = gy.shape[-1]
    acc = _acc(gy.dtype)
    out = xp.zeros((n_rows, d), acc)
    xp.add.at(out, xp.asarray(idx).reshape(-1), gy.reshape(-1, d).astype(acc))
    if padding_idx is not None:
        out[padding_idx] = 0
    return out.astype(gy.dtype)


def philox4x32_reference(xp, counter, key):
    """Philox4x32-10 of the counters (4 uint32-valued arrays) under key (k0, k1): the four
    32-bit output words as uint64 arrays (the kernel's generator, vectorized)."""
    c0, c1, c2, c3 = (xp.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for _ in range(PHILOX_ROUNDS):
        p0, p1 = c0 * np.uint64(PHILOX_M0), c2 * np.uint64(PHILOX_M1)
        c0, c1, c2, c3 = ((p1 >> _SHIFT32) ^ c1 ^ k0, p1 & _MASK32,
                          (p0 >> _SHIFT32) ^ c3 ^ k1, p0 & _MASK32)
        k0 = (k0 + np.uint64(PHILOX_W0)) & _MASK32
        k1 = (k1 + np.uint64(PHILOX_W1)) & _MASK32
    return c0, c1, c2, c3


def _dropout_constants(name, p, seed):
    """Checks p, and gives the kernel's uint32 key words and keep threshold, and the scale
    1/(1-p)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name}: dropout probability must be in [0, 1), got {p}")
    seed = int(seed) % (1 << 64)
    # u = bits / 2^24 >= p  <=>  bits >= ceil(p 2^24) (exact: p 2^24 is exact in float64)
    threshold = math.ceil(p * (1 << UNIFORM_BITS))
    return (np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32), np.uint32(threshold),
            1.0 / (1.0 - p))


def dropout_mask_reference(xp, shape, p, seed, dtype=np.float32):
    """The kernels' mask for an array of `shape`: 1/(1-p) where kept, 0 where dropped, in the
    accumulator type of `dtype` (float32, or float64 for float64)."""
    k0, k1, threshold, scale = _dropout_constants("dropout_mask_reference", p, seed)
    n = math.prod(shape)
    g = xp.arange(-(-n // 4), dtype=np.uint64)  # the counters: one call per 4 elements
    zero = xp.zeros(g.shape[0], np.uint64)
    words = philox4x32_reference(xp, (g & _MASK32, g >> _SHIFT32, zero, zero), (k0, k1))
    word = xp.concatenate(words)[:n]  # element e: word e // S of counter e % S
    keep = (word >> np.uint64(32 - UNIFORM_BITS)) >= threshold
    acc = _acc(dtype)
    return xp.where(keep, acc(scale), acc(0)).astype(acc).reshape(shape)


def dropout_add_reference(x, residual, p, seed):
    """residual + dropout(x, p) with the kernels' mask for `seed` (residual None: dropout
    alone), computed in float32 (float64 for float64) and rounded once, as the kernel."""
    xp, acc = array_module(x), _acc(x.dtype)
    y = x.astype(acc) * dropout_mask_reference(xp, x.shape, p, seed, x.dtype)
    if residual is not None:
        y = residual.astype(acc) + y
    return y.astype(x.dtype)


def dropout_backward_reference(gy, p, seed):
    """gx = gy * mask, the mask of dropout_add_reference for `seed` (the residual's grad is
    gy itself)."""
    return dropout_add_reference(gy, None, p, seed)


# ---------------------------------------------------------------- kernels

_built = {}
cuda = None  # numba.cuda, imported by the first kernels() call


def kernels(threads=None, dtype=np.float32):
    """The jitted kernels for inputs of `dtype` (float64 accumulates in float64, float16 and
    float32 in float32). None of them use shared memory, so one build serves every block
    size; `threads` is only checked, as cuda_kernels.kernels checks it."""
    if threads is not None and (threads & (threads - 1) or not 1 <= threads <= 1024):
        raise ValueError(f"cuda_misc_kernels: threads must be a power of two <= 1024, "
                         f"got {threads}")
    acc = _acc(dtype)
    if acc not in _built:
        _built[acc] = _build(acc)
    return _built[acc]


def _build(acc):
    # `cuda` must be a module global: the simulator swaps a kernel's global `cuda` for its
    # per-thread API (a closure variable would keep pointing at the real module).
    global cuda
    from numba import cuda

    # Philox in 32-bit words. numba widens integer arithmetic to 64 bits; every word is cast
    # back with u32(...), so the compiler keeps 32-bit operations (a product u64(a) * u64(b)
    # of two words becomes one 32x32->64 multiply). No operation overflows: on the simulator
    # these are NumPy scalars, which warn on overflow.
    u32, u64 = np.uint32, np.uint64
    mask32, shift32 = _MASK32, _SHIFT32
    m0, m1, w0, w1 = u64(PHILOX_M0), u64(PHILOX_M1), u64(PHILOX_W0), u64(PHILOX_W1)
    drop_shift = u32(32 - UNIFORM_BITS)
    zero = acc(0)

    @cuda.jit
    def embedding_bwd(order, rows, gy, padding_idx, gw):
        # order (N,): gy's row of each sorted position; rows (N,): the sorted indices;
        # gy (N, D); gw (V, D), zeroed. A block per run of equal indices, a thread per column.
        n, d = rows.shape[0], gy.shape[1]
        for k in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            r = rows[k]
            if r == padding_idx or (k > 0 and rows[k - 1] == r):
                continue  # the padding row stays zero; a run is summed by its first position
            for j in range(cuda.threadIdx.x, d, cuda.blockDim.x):
                s = zero
                e = k
                while e < n and rows[e] == r:
                    s += acc(gy[order[e], j])
                    e += 1
                gw[r, j] = s

    @cuda.jit(device=True)
    def philox(c0, c1, k0, k1):
        # Philox4x32-10 at counter (c0, c1, 0, 0), key (k0, k1): four words
        c2 = u32(0)
        c3 = u32(0)
        for _ in range(PHILOX_ROUNDS):
            p0 = u64(c0) * m0
            p1 = u64(c2) * m1
            c0, c1, c2, c3 = (u32((p1 >> shift32) ^ c1 ^ k0), u32(p1 & mask32),
                              u32((p0 >> shift32) ^ c3 ^ k1), u32(p0 & mask32))
            k0 = u32((u64(k0) + w0) & mask32)
            k1 = u32((u64(k1) + w1) & mask32)
        return c0, c1, c2, c3

    @cuda.jit(device=True)
    def put(x, residual, has_residual, y, e, word, threshold, scale):
        # y[e] = residual[e] + x[e] * mask, mask = scale where the word's top bits >= threshold
        if e < x.shape[0]:
            v = acc(x[e]) * (scale if word >> drop_shift >= threshold else zero)
            if has_residual:
                v = acc(residual[e]) + v
            y[e] = v

    @cuda.jit(device=True)
    def dropout_add(x, residual, has_residual, k0, k1, threshold, scale, y):
        # all flat (L,): one Philox call per thread and step for elements g + j S, j < 4
        s = (x.shape[0] + 3) // 4
        for g in range(cuda.grid(1), s, cuda.gridsize(1)):
            c = u64(g)
            r0, r1, r2, r3 = philox(u32(c & mask32), u32(c >> shift32), k0, k1)
            put(x, residual, has_residual, y, g, r0, threshold, scale)
            put(x, residual, has_residual, y, g + s, r1, threshold, scale)
            put(x, residual, has_residual, y, g + 2 * s, r2, threshold, scale)
            put(x, residual, has_residual, y, g + 3 * s, r3, threshold, scale)

    @cuda.jit
    def dropout_add_fwd(x, residual, has_residual, k0, k1, threshold, scale, y):
        # residual is ignored (x may stand in) when has_residual is False
        dropout_add(x, residual, has_residual, k0, k1, threshold, scale, y)

    @cuda.jit
    def dropout_bwd(gy, k0, k1, threshold, scale, gx):  # gx = gy * mask
        dropout_add(gy, gy, False, k0, k1, threshold, scale, gx)

    return {"embedding_bwd": embedding_bwd, "dropout_add_fwd": dropout_add_fwd,
            "dropout_bwd": dropout_bwd}


def compile_targets(threads=None):
    """{name: [(kernel, numba signature), ...]}: every kernel, built for each input dtype,
    for CI to compile for the targets (cuda_kernels.all_compile_targets collects it)."""
    from numba import types

    out = {}
    for dtype, t in ((np.float16, types.float16), (np.float32, types.float32),
                     (np.float64, types.float64)):
        a = types.float64 if dtype == np.float64 else types.float32
        i, w = types.int64, types.uint32
        v = t[::1]
        sigs = {"embedding_bwd": (i[::1], i[::1], t[:, ::1], i, t[:, ::1]),
                "dropout_add_fwd": (v, v, types.boolean, w, w, w, a, v),
                "dropout_bwd": (v, w, w, w, a, v)}
        for name, kernel in kernels(threads, dtype).items():
            out.setdefault(name, []).append((kernel, sigs[name]))
    return out


# ---------------------------------------------------------------- host wrappers


def _launch(name, grid, threads, dtype, *args):
    ck.launch(kernels, name, grid, threads, dtype, *args)


def _grid(n, threads, blocks):
    """Blocks for a grid-stride loop over n items (dropout: groups of 4 elements), enough to
    cover them, GRID (or `blocks`) at most."""
    threads = ck.THREADS if threads is None else threads
    return min(-(-n // threads), ck.GRID if blocks is None else blocks)


def embedding_backward(n_rows, idx, gy, padding_idx=None, threads=None, blocks=None):
    """Grad of the weight (n_rows, D) of weight[idx], one kernel after a sort of the indices:
    gy (*idx.shape, D) rows added into the rows idx names, in gy's dtype (float16 summed in
    float32), the padding_idx row zero. Deterministic (no atomics: see the module's doc).
    idx must lie in range(n_rows), as F.embedding checks in forward."""
    _check_float("embedding_backward", gy)
    xp = array_module(gy)
    idx = xp.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding_backward: indices must be integers, got {idx.dtype}")
    if gy.ndim != idx.ndim + 1 or gy.shape[:-1] != idx.shape:
        raise ValueError(f"embedding_backward: expected a gradient of shape (*indices.shape, "
                         f"D) for indices {tuple(idx.shape)}, got {tuple(gy.shape)}")
    d = gy.shape[-1]
    flat = xp.ascontiguousarray(idx.reshape(-1), dtype=np.int64)
    order = xp.ascontiguousarray(xp.argsort(flat, kind="stable"), dtype=np.int64)
    rows = flat[order]
    gw = xp.zeros((n_rows, d), gy.dtype)
    pad = -1 if padding_idx is None else int(padding_idx)
    n = rows.shape[0]
    grid = min(n, ck.GRID if blocks is None else blocks) if d else 0
    _launch("embedding_bwd", grid, threads, gy.dtype, order, rows,
            xp.ascontiguousarray(gy).reshape(-1, d), np.int64(pad), gw)
    return gw


def _flat(a):
    return array_module(a).ascontiguousarray(a).reshape(-1)


def dropout_add_forward(x, residual, p, seed, threads=None, blocks=None):
    """residual + dropout(x, p) in one kernel (residual None: dropout(x) alone); x and
    residual of one shape and dtype. The mask (1/(1-p) where kept) comes from Philox of
    (seed, flat element index) and is not stored: dropout_backward regenerates it."""
    name = "dropout_add_forward"
    _check_float(name, x)
    if residual is not None and (residual.shape != x.shape or residual.dtype != x.dtype):
        raise ValueError(f"{name}: expected a residual like x, {tuple(x.shape)} {x.dtype}, "
                         f"got {tuple(residual.shape)} {residual.dtype}")
    k0, k1, threshold, scale = _dropout_constants(name, p, seed)
    xf = _flat(x)
    y = array_module(x).empty(x.size, x.dtype)
    _launch("dropout_add_fwd", _grid(-(-x.size // 4), threads, blocks), threads, x.dtype, xf,
            xf if residual is None else _flat(residual), residual is not None, k0, k1,
            threshold, _acc(x.dtype)(scale), y)
    return y.reshape(x.shape)


def dropout_backward(gy, p, seed, threads=None, blocks=None):
    """gx = gy * mask, the mask of dropout_add_forward for (p, seed) regenerated, one kernel
    (the residual's gradient is gy itself)."""
    _check_float("dropout_backward", gy)
    k0, k1, threshold, scale = _dropout_constants("dropout_backward", p, seed)
    gx = array_module(gy).empty(gy.size, gy.dtype)
    _launch("dropout_bwd", _grid(-(-gy.size // 4), threads, blocks), threads, gy.dtype,
            _flat(gy), k0, k1, threshold, _acc(gy.dtype)(scale), gx)
    return gx.reshape(gy.shape)
