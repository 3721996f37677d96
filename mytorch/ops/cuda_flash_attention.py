"""Flash attention on CUDA: softmax(q k^T * scale + mask) v in numba-cuda kernels, beside an
array-module reference.

Forward (`flash_attn_fwd`): one block per (batch*head, tile of TILE query rows). The block keeps
its query tile in shared memory and walks the keys TILE rows at a time: it computes the
(TILE, TILE) scores, updates each row's running max m and running sum l in float32 (the
"online softmax": the output accumulated so far is rescaled by exp(m_old - m_new)), and adds
p @ v into per-thread accumulators. Only the output (B, H, T, Ev) and the row log-sum-exp
lse = m + log(l) (B, H, T) go to global memory; the (T, S) scores never do. Scores, exps and
dropout draws are spread over every thread of the block; one thread per row keeps its max and
sum.

Backward (flash-attention-2 style), three launches and no atomics:
  1. `flash_attn_bwd_pre`: delta = rowsum(dO * O), one value per query row.
  2. `flash_attn_bwd_kv`: one block per (batch*head, key tile); it walks the query tiles,
     recomputes p = exp(s - lse) from q, k and the saved lse, and accumulates
     dV = p_dropped^T dO and dK = scale * dS^T q with dS = p * (dP - delta).
  3. `flash_attn_bwd_q`: one block per (batch*head, query tile); it walks the key tiles and
     accumulates dQ = scale * dS k.
Every gradient element has a single writer, at the price of computing the scores twice.

Masks: `is_causal` (query i sees keys j <= i: the top-left aligned mask torch's
scaled_dot_product_attention uses when T != S) is tested in the kernel, and its key loop stops
at the tile's last visible key; an additive float mask (a boolean mask is turned into 0/-inf
first) is read through a (B, H, T, S) view that broadcasts it with zero strides, so it is never
expanded. A row whose keys are all masked gives output 0, lse = +inf and zero gradients: what
torch 2.13 gives (it returns zeros, not NaN, for such rows).

Dropout on the probabilities: keep (i, j) when hash(seed, b, h, i, j) >= dropout_p * 2^32,
with `hash` a counter-based integer mix (`_mix`, below), and scale the kept ones by
1 / (1 - dropout_p). Backward recomputes the same keep decisions from the seed, so no mask is
stored; `dropout_keep_reference` gives the same decisions with array ops, for tests. The draws
cannot match torch's generator; they are tested for the keep rate and the scaling.

dtypes: float16 and float32 inputs, float32 accumulation. float64 is left to the reference
path (`fits` says no): its tiles would overflow the 48 KiB of static shared memory at this
tile size. bfloat16: CuPy has no bfloat16 dtype, and mytorch's scaled_dot_product_attention
(an autocast `low_precision_op`) computes a bfloat16 call in float32 and rounds the result back
to bfloat16, so bfloat16 tensors reach these kernels as float32. Head dims up to DMAX = 128
(any value, not only powers of two; the value head dim may differ from the query's).

Speed: the products are scalar float32 FMAs on CUDA cores from shared memory (numba-cuda
exposes no tensor-core instructions), so on float16 these kernels cannot reach a tensor-core
flash attention such as torch's; what they save is the (T, S) memory and its traffic. Their
speed has not been measured on a GPU yet.
"""
import math

import numpy as np

from mytorch.backend import array_module
from mytorch.ops import cuda_kernels as ck

__all__ = ["TILE", "THREADS", "DMAX", "fits", "compile_targets", "flash_attention_forward",
           "flash_attention_backward", "flash_attention_forward_reference",
           "flash_attention_backward_reference", "dropout_keep_reference", "dropout_threshold"]

# Read at each launch (not bound as default arguments), so tests on the simulator can use
# small tiles and blocks by setting them.
TILE = 16  # query rows and key rows per tile
THREADS = 128  # threads per block
DMAX = 128  # the largest head dim: shared tiles are (TILE, DMAX + 1)

_KERNEL_DTYPES = (np.float16, np.float32)

# The dropout hash works on 32-bit values held in int64: each product of a value below 2^32
# and a multiplier below 2^31 stays below 2^63, so int64 never overflows and numba never mixes
# signed with unsigned integers (which it would widen to float64).
_MASK32 = 0xFFFFFFFF
_MUL1 = 0x7FEB352D  # odd multipliers below 2^31 with good avalanche
_MUL2 = 0x5BD1E995


def fits(q, k, v, mask=None):
    """Whether scaled dot-product attention on these arrays takes the fused kernels: the switch
    on, CUDA float16/float32 arrays of one dtype (the mask too, if any), (B, H, T, E) query and
    (B, H, S, E) / (B, H, S, Ev) key and value with T, S > 0 and E, Ev <= DMAX, and numba able
    to launch. Anything else takes the reference path."""
    if not ck.fits(q, k, v, mask) or q.dtype not in _KERNEL_DTYPES:
        return False
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        return False
    return (q.shape[:2] == k.shape[:2] == v.shape[:2] and k.shape[2] == v.shape[2]
            and q.shape[3] == k.shape[3] and q.shape[2] > 0 and k.shape[2] > 0
            and 0 < q.shape[3] <= DMAX and 0 < v.shape[3] <= DMAX)


def dropout_threshold(dropout_p):
    """The integer threshold of the keep test: keep when hash >= it (keep rate 1 - p); at
    least 1 for any p > 0, so that the kernels take their dropout branch (and scale)."""
    thr = int(round(float(dropout_p) * 2.0 ** 32))
    return max(thr, 1) if dropout_p > 0 else 0


# ---------------------------------------------------------------- references


def _mix_reference(x):
    """The kernels' 32-bit integer mix on int64 arrays (values below 2^32)."""
    x = x ^ (x >> 16)
    x = (x * _MUL1) & _MASK32
    x = x ^ (x >> 15)
    x = (x * _MUL2) & _MASK32
    return x ^ (x >> 16)


def dropout_keep_reference(seed, shape, dropout_p, xp=np):
    """The keep decisions (bool, shape (B, H, T, S)) the kernels draw for `seed`: element
    (b, h, i, j) is kept when hash(seed, b, h, i, j) >= dropout_threshold(dropout_p)."""
    B, H, T, S = shape
    b, h, i, j = (xp.arange(n, dtype=xp.int64).reshape([-1 if a == d else 1 for a in range(4)])
                  for d, n in enumerate((B, H, T, S)))
    mix = _mix_reference
    row = mix(mix(mix(mix(xp.int64(int(seed) & _MASK32)) ^ b) ^ h) ^ i)
    return mix(mix(row ^ j)) >= dropout_threshold(dropout_p)


def _reference_probs(q, k, mask, is_causal, scale):
    """Probabilities p (B, H, T, S) and row log-sum-exp (B, H, T) in q's accumulator dtype;
    fully masked rows give p = 0 and lse = +inf."""
    xp, acc = array_module(q), ck._acc(q.dtype)
    s = xp.matmul(q.astype(acc), xp.swapaxes(k.astype(acc), -1, -2)) * acc(scale)
    if mask is not None:
        s = s + mask.astype(acc)
    if is_causal:
        T, S = s.shape[-2:]
        s = xp.where(xp.tril(xp.ones((T, S), dtype=bool)), s, -xp.inf)
    m = s.max(axis=-1, keepdims=True)
    empty = m == -xp.inf
    m = xp.where(empty, 0, m)
    e = xp.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    p = e / xp.where(empty, 1, total)
    lse = xp.where(empty, xp.inf, m + xp.log(xp.where(empty, 1, total)))
    return p.astype(acc), lse[..., 0].astype(acc)


def _reference_dropped(p, dropout_p, seed):
    if dropout_p == 0:
        return p
    xp = array_module(p)
    keep = dropout_keep_reference(seed, p.shape, dropout_p, xp)
    return p * keep * p.dtype.type(1.0 / (1.0 - dropout_p))


def flash_attention_forward_reference(q, k, v, mask=None, is_causal=False, scale=None,
                                      dropout_p=0.0, seed=0):
    """What flash_attention_forward computes, with array ops (the (T, S) matrix included):
    returns (output (B, H, T, Ev) in q's dtype, lse (B, H, T) in the accumulator dtype)."""
    scale = _scale(q, scale)
    p, lse = _reference_probs(q, k, mask, is_causal, scale)
    y = array_module(q).matmul(_reference_dropped(p, dropout_p, seed), v.astype(p.dtype))
    return y.astype(q.dtype), lse


def flash_attention_backward_reference(q, k, v, gy, mask=None, is_causal=False, scale=None,
                                       dropout_p=0.0, seed=0):
    """Grads (gq, gk, gv) of flash_attention_forward_reference for the output grad gy."""
    xp, scale = array_module(q), _scale(q, scale)
    p, _ = _reference_probs(q, k, mask, is_causal, scale)
    acc = p.dtype.type
    g = gy.astype(acc)
    pd = _reference_dropped(p, dropout_p, seed)
    gv = xp.matmul(xp.swapaxes(pd, -1, -2), g)
    dp = _reference_dropped(xp.matmul(g, xp.swapaxes(v.astype(acc), -1, -2)), dropout_p, seed)
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True))
    gq = xp.matmul(ds, k.astype(acc)) * acc(scale)
    gk = xp.matmul(xp.swapaxes(ds, -1, -2), q.astype(acc)) * acc(scale)
    return gq.astype(q.dtype), gk.astype(q.dtype), gv.astype(q.dtype)


# ---------------------------------------------------------------- kernels

_built = {}
cuda = None  # numba.cuda, imported by the first kernels() call


def kernels(tile=None, threads=None, dtype=np.float32):
    """The jitted kernels for `tile`-row tiles, blocks of `threads` threads and inputs of
    `dtype` (float16/32: float32 accumulators), built once per combination."""
    tile = TILE if tile is None else tile
    threads = THREADS if threads is None else threads
    # tile 16: the backward's four (tile, DMAX + 1) float32 tiles take 34 KiB of the 48 KiB of
    # static shared memory a block may have; a larger tile would not launch
    if not 1 <= tile <= 16 or not 1 <= threads <= 1024:
        raise ValueError(f"cuda_flash_attention: need 1 <= tile <= 16 and 1 <= threads <= 1024, "
                         f"got tile {tile}, threads {threads}")
    acc = ck._acc(dtype)
    if (tile, threads, acc) not in _built:
        _built[tile, threads, acc] = _build(tile, threads, acc)
    return _built[tile, threads, acc]


def _build(tile, threads, acc):
    # `cuda` must be a module global: the simulator swaps a kernel's global `cuda` for its
    # per-thread API (a closure variable would keep pointing at the real module).
    global cuda
    from numba import cuda

    per_thread = -(-tile * DMAX // threads)  # accumulator elements of a (tile, DMAX) tile each
    # Shared tiles are (tile, DMAX + 1): the threads of a warp reading k[j, d] for 16 rows j
    # then hit 16 different banks (a row of 128 words would put them all in one bank).
    padded = DMAX + 1
    zero, ninf, inf = acc(0), acc(-math.inf), acc(math.inf)

    @cuda.jit(device=True)
    def mix(x):
        x ^= x >> 16
        x = (x * _MUL1) & _MASK32
        x ^= x >> 15
        x = (x * _MUL2) & _MASK32
        return x ^ (x >> 16)

    @cuda.jit(device=True)
    def kept(seed, b, h, i, j, thr):
        row = mix(mix(mix(mix(seed & _MASK32) ^ b) ^ h) ^ i)
        return mix(mix(row ^ j)) >= thr

    @cuda.jit(device=True)
    def load(dst, src, b, h, r0):
        # rows r0 .. r0 + tile of src[b, h] into the shared (tile, DMAX + 1) dst; 0 past the end
        rows, width = src.shape[2], src.shape[3]
        for e in range(cuda.threadIdx.x, tile * width, threads):
            i = e // width
            d = e - i * width
            dst[i, d] = acc(src[b, h, r0 + i, d]) if r0 + i < rows else zero

    @cuda.jit(device=True)
    def load_rows(dst, src, b, h, r0, fill):
        # (tile,) per-row values src[b, h, r0 ..] into dst; `fill` past the end
        for i in range(cuda.threadIdx.x, tile, threads):
            dst[i] = acc(src[b, h, r0 + i]) if r0 + i < src.shape[2] else fill

    @cuda.jit(device=True)
    def visible(qi, kj, n_q, n_k, causal):
        return qi < n_q and kj < n_k and not (causal and kj > qi)

    @cuda.jit(device=True)
    def score(sq, sk, i, j, width, scale, mask, has_mask, b, h, qi, kj):
        s = zero
        for d in range(width):
            s += sq[i, d] * sk[j, d]
        s *= scale
        if has_mask:
            s += acc(mask[b, h, qi, kj])
        return s

    @cuda.jit(device=True)
    def score_grads(sq, sk, sv, sgo, slse, sdelta, i, j, q0, k0, q, k, v, mask, has_mask,
                    causal, scale, thr, inv_keep, seed, b, h):
        # (p after dropout, dS) of score (q0 + i, k0 + j), recomputed from the saved lse
        qi, kj = q0 + i, k0 + j
        if not visible(qi, kj, q.shape[2], k.shape[2], causal):
            return zero, zero
        p = math.exp(score(sq, sk, i, j, q.shape[3], scale, mask, has_mask, b, h, qi, kj)
                     - slse[i])
        dp = zero
        for d in range(v.shape[3]):
            dp += sgo[i, d] * sv[j, d]
        pd = p
        if thr > 0:
            if kept(seed, b, h, qi, kj, thr):
                pd *= inv_keep
                dp *= inv_keep
            else:
                pd = zero
                dp = zero
        return pd, p * (dp - sdelta[i])

    @cuda.jit
    def flash_attn_fwd(q, k, v, mask, has_mask, causal, scale, thr, inv_keep, seed, o, lse):
        # q (B, H, T, E), k (B, H, S, E), v (B, H, S, Ev), mask viewed as (B, H, T, S);
        # o (B, H, T, Ev), lse (B, H, T). Grid (B * H, tiles of T).
        sq = cuda.shared.array((tile, padded), acc)
        sk = cuda.shared.array((tile, padded), acc)
        sv = cuda.shared.array((tile, padded), acc)
        sp = cuda.shared.array((tile, tile), acc)  # scores, then probabilities
        spd = cuda.shared.array((tile, tile), acc)  # probabilities after dropout
        sm = cuda.shared.array(tile, acc)  # running row max
        sl = cuda.shared.array(tile, acc)  # running row sum of exp(s - max), before dropout
        sa = cuda.shared.array(tile, acc)  # this step's rescale of the rows' output so far
        out = cuda.local.array(per_thread, acc)  # this thread's elements of the (tile, Ev) output
        t, bh, q0 = cuda.threadIdx.x, cuda.blockIdx.x, cuda.blockIdx.y * tile
        b = bh // q.shape[1]
        h = bh - b * q.shape[1]
        n_q, n_k, ev = q.shape[2], k.shape[2], v.shape[3]
        load(sq, q, b, h, q0)
        for i in range(t, tile, threads):
            sm[i] = ninf
            sl[i] = zero
        for r in range(per_thread):
            out[r] = zero
        k_end = min(n_k, q0 + tile) if causal else n_k  # later keys are masked for every row
        for k0 in range(0, k_end, tile):
            load(sk, k, b, h, k0)
            load(sv, v, b, h, k0)
            cuda.syncthreads()
            for e in range(t, tile * tile, threads):  # the scores, every thread
                i = e // tile
                j = e - i * tile
                s = ninf
                if visible(q0 + i, k0 + j, n_q, n_k, causal):
                    s = score(sq, sk, i, j, q.shape[3], scale, mask, has_mask, b, h, q0 + i,
                              k0 + j)
                sp[i, j] = s
            cuda.syncthreads()
            for i in range(t, tile, threads):  # the new row max, one thread per row
                m_old = sm[i]
                m_new = m_old
                for j in range(tile):
                    m_new = max(m_new, sp[i, j])
                # a row with nothing visible yet keeps max -inf, its output 0 and alpha 1
                sa[i] = acc(1) if m_new == ninf else math.exp(m_old - m_new)
                sm[i] = m_new
            cuda.syncthreads()
            for e in range(t, tile * tile, threads):  # exp(s - max) and dropout, every thread
                i = e // tile
                j = e - i * tile
                p = zero if sm[i] == ninf else math.exp(sp[i, j] - sm[i])
                sp[i, j] = p
                if thr > 0:
                    p = p * inv_keep if kept(seed, b, h, q0 + i, k0 + j, thr) else zero
                spd[i, j] = p
            cuda.syncthreads()
            for i in range(t, tile, threads):  # running sums; the loop below reads no sl
                total = zero
                for j in range(tile):
                    total += sp[i, j]
                sl[i] = sl[i] * sa[i] + total
            for r in range(per_thread):  # out = out * alpha + p @ v
                e = t + r * threads
                if e >= tile * ev:
                    break
                i = e // ev
                d = e - i * ev
                a = out[r] * sa[i]
                for j in range(tile):
                    a += spd[i, j] * sv[j, d]
                out[r] = a
            cuda.syncthreads()  # the tiles are reloaded next step
        for r in range(per_thread):
            e = t + r * threads
            if e >= tile * ev:
                break
            i = e // ev
            d = e - i * ev
            if q0 + i < n_q:
                o[b, h, q0 + i, d] = out[r] / sl[i] if sl[i] > zero else zero
        for i in range(t, tile, threads):
            if q0 + i < n_q:
                lse[b, h, q0 + i] = sm[i] + math.log(sl[i]) if sl[i] > zero else inf

    @cuda.jit
    def flash_attn_bwd_pre(o, go, delta):  # delta = rowsum(o * go); o, go (N, Ev), delta (N,)
        for r in range(cuda.grid(1), o.shape[0], cuda.gridsize(1)):
            s = zero
            for d in range(o.shape[1]):
                s += acc(o[r, d]) * acc(go[r, d])
            delta[r] = s

    @cuda.jit
    def flash_attn_bwd_kv(q, k, v, mask, has_mask, causal, scale, thr, inv_keep, seed, go, lse,
                          delta, gk, gv):
        # One block per (b * H + h, key tile): walks the query tiles. Grid (B * H, tiles of S).
        sq = cuda.shared.array((tile, padded), acc)
        sgo = cuda.shared.array((tile, padded), acc)
        sk = cuda.shared.array((tile, padded), acc)
        sv = cuda.shared.array((tile, padded), acc)
        sp = cuda.shared.array((tile, tile), acc)  # probabilities after dropout
        sds = cuda.shared.array((tile, tile), acc)  # grads of the scores
        slse = cuda.shared.array(tile, acc)
        sdelta = cuda.shared.array(tile, acc)
        ak = cuda.local.array(per_thread, acc)  # this thread's elements of dK (tile, E)
        av = cuda.local.array(per_thread, acc)  # and of dV (tile, Ev)
        t, bh, k0 = cuda.threadIdx.x, cuda.blockIdx.x, cuda.blockIdx.y * tile
        b = bh // q.shape[1]
        h = bh - b * q.shape[1]
        n_q, n_k, width, ev = q.shape[2], k.shape[2], q.shape[3], v.shape[3]
        load(sk, k, b, h, k0)
        load(sv, v, b, h, k0)
        for r in range(per_thread):
            ak[r] = zero
            av[r] = zero
        q_start = k0 if causal else 0  # causal: rows before k0 see none of these keys
        for q0 in range(q_start, n_q, tile):
            load(sq, q, b, h, q0)
            load(sgo, go, b, h, q0)
            load_rows(slse, lse, b, h, q0, inf)
            load_rows(sdelta, delta, b, h, q0, zero)
            cuda.syncthreads()
            for e in range(t, tile * tile, threads):
                i = e // tile
                j = e - i * tile
                pd, ds = score_grads(sq, sk, sv, sgo, slse, sdelta, i, j, q0, k0, q, k, v,
                                     mask, has_mask, causal, scale, thr, inv_keep, seed, b, h)
                sp[i, j] = pd
                sds[i, j] = ds
            cuda.syncthreads()
            for r in range(per_thread):
                e = t + r * threads
                if e < tile * ev:  # dV[j, d] += sum_i p[i, j] dO[i, d]
                    j = e // ev
                    d = e - j * ev
                    a = av[r]
                    for i in range(tile):
                        a += sp[i, j] * sgo[i, d]
                    av[r] = a
                if e < tile * width:  # dK[j, d] += sum_i dS[i, j] q[i, d]
                    j = e // width
                    d = e - j * width
                    a = ak[r]
                    for i in range(tile):
                        a += sds[i, j] * sq[i, d]
                    ak[r] = a
            cuda.syncthreads()
        for r in range(per_thread):
            e = t + r * threads
            if e < tile * ev and k0 + e // ev < n_k:
                gv[b, h, k0 + e // ev, e % ev] = av[r]
            if e < tile * width and k0 + e // width < n_k:
                gk[b, h, k0 + e // width, e % width] = ak[r] * scale

    @cuda.jit
    def flash_attn_bwd_q(q, k, v, mask, has_mask, causal, scale, thr, inv_keep, seed, go, lse,
                         delta, gq):
        # One block per (b * H + h, query tile): walks the key tiles. Grid (B * H, tiles of T).
        sq = cuda.shared.array((tile, padded), acc)
        sgo = cuda.shared.array((tile, padded), acc)
        sk = cuda.shared.array((tile, padded), acc)
        sv = cuda.shared.array((tile, padded), acc)
        sds = cuda.shared.array((tile, tile), acc)
        slse = cuda.shared.array(tile, acc)
        sdelta = cuda.shared.array(tile, acc)
        aq = cuda.local.array(per_thread, acc)  # this thread's elements of dQ (tile, E)
        t, bh, q0 = cuda.threadIdx.x, cuda.blockIdx.x, cuda.blockIdx.y * tile
        b = bh // q.shape[1]
        h = bh - b * q.shape[1]
        n_q, n_k, width = q.shape[2], k.shape[2], q.shape[3]
        load(sq, q, b, h, q0)
        load(sgo, go, b, h, q0)
        load_rows(slse, lse, b, h, q0, inf)
        load_rows(sdelta, delta, b, h, q0, zero)
        for r in range(per_thread):
            aq[r] = zero
        k_end = min(n_k, q0 + tile) if causal else n_k
        for k0 in range(0, k_end, tile):
            load(sk, k, b, h, k0)
            load(sv, v, b, h, k0)
            cuda.syncthreads()
            for e in range(t, tile * tile, threads):
                i = e // tile
                j = e - i * tile
                pd, ds = score_grads(sq, sk, sv, sgo, slse, sdelta, i, j, q0, k0, q, k, v,
                                     mask, has_mask, causal, scale, thr, inv_keep, seed, b, h)
                sds[i, j] = ds
            cuda.syncthreads()
            for r in range(per_thread):  # dQ[i, d] += sum_j dS[i, j] k[j, d]
                e = t + r * threads
                if e >= tile * width:
                    break
                i = e // width
                d = e - i * width
                a = aq[r]
                for j in range(tile):
                    a += sds[i, j] * sk[j, d]
                aq[r] = a
            cuda.syncthreads()
        for r in range(per_thread):
            e = t + r * threads
            if e >= tile * width:
                break
            if q0 + e // width < n_q:
                gq[b, h, q0 + e // width, e % width] = aq[r] * scale

    return {"flash_attn_fwd": flash_attn_fwd, "flash_attn_bwd_pre": flash_attn_bwd_pre,
            "flash_attn_bwd_kv": flash_attn_bwd_kv, "flash_attn_bwd_q": flash_attn_bwd_q}


def compile_targets(tile=None, threads=None):
    """{name: [(kernel, numba signature), ...]}: every kernel for float16 and float32 inputs,
    for CI to compile for the targets (tests/cuda/test_sources_compile.py)."""
    from numba import types

    out = {}
    for dtype, t in ((np.float16, types.float16), (np.float32, types.float32)):
        a = types.float32
        x4, m4, r3 = t[:, :, :, ::1], t[:, :, :, :], a[:, :, ::1]  # arrays, mask view, rows
        flag, i64 = types.boolean, types.int64
        common = (x4, x4, x4, m4, flag, flag, a, i64, a, i64)
        sigs = {"flash_attn_fwd": common + (x4, r3),
                "flash_attn_bwd_pre": (t[:, ::1], t[:, ::1], a[::1]),
                "flash_attn_bwd_kv": common + (x4, r3, r3, x4, x4),
                "flash_attn_bwd_q": common + (x4, r3, r3, x4)}
        for name, kernel in kernels(tile, threads, dtype).items():
            out.setdefault(name, []).append((kernel, sigs[name]))
    return out


# ---------------------------------------------------------------- host wrappers


def _launch(name, grid, tile, threads, dtype, *args):
    """Launch kernel `name` of the (tile, threads, dtype) build on `grid` (a tuple)."""
    kernel = kernels(tile, threads, dtype)[name]
    threads = THREADS if threads is None else threads
    kernel[grid, threads](*(map(ck._host_view, args) if ck._simulated() else args))


def _scale(q, scale):
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


def _check(name, q, k, v, mask):
    """(B, H, T, E) q, (B, H, S, E) k, (B, H, S, Ev) v of one float16/32 dtype, E, Ev <= DMAX,
    and a mask of that dtype broadcastable to (B, H, T, S); returns the mask as a (B, H, T, S)
    view (or None)."""
    shapes = f"query {tuple(q.shape)}, key {tuple(k.shape)}, value {tuple(v.shape)}"
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"{name}: expected 4-D (B, H, T, D) arrays, got {shapes}")
    if (q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[3] != k.shape[3]
            or min(q.shape[2], k.shape[2]) == 0):
        raise ValueError(f"{name}: expected query (B, H, T, E), key (B, H, S, E), value "
                         f"(B, H, S, Ev) with T, S > 0, got {shapes}")
    if not 0 < q.shape[3] <= DMAX or not 0 < v.shape[3] <= DMAX:
        raise ValueError(f"{name}: head dims must be 1 .. {DMAX}, got {shapes}")
    dtypes = {a.dtype for a in (q, k, v) + (() if mask is None else (mask,))}
    if len(dtypes) != 1 or q.dtype not in _KERNEL_DTYPES:
        raise TypeError(f"{name}: expected float16 or float32 query, key, value (and mask) of "
                        f"one dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
                        + ("" if mask is None else f", mask {mask.dtype}"))
    if mask is None:
        return None
    full = q.shape[:3] + (k.shape[2],)
    try:
        view = array_module(q).broadcast_to(mask, full)
    except ValueError:
        raise ValueError(f"{name}: mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"the scores' shape {full}") from None
    if isinstance(view, np.ndarray):
        # NumPy arrays (the simulator's tests): the simulator copies every argument back after
        # a launch, which a read-only broadcast view refuses; the same strides, writable
        base = mask if mask.flags.writeable else mask.copy()
        view = np.lib.stride_tricks.as_strided(base, full, np.broadcast_to(base, full).strides)
    return view


def _common_args(q, mask, is_causal, scale, dropout_p, seed):
    """The arguments every kernel shares after q, k, v (a dummy mask when there is none)."""
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"flash attention: dropout_p must be in [0, 1), got {dropout_p}")
    has_mask = mask is not None
    if not has_mask:
        mask = array_module(q).zeros((1, 1, 1, 1), q.dtype)
    acc = np.float32
    return (mask, has_mask, bool(is_causal), acc(_scale(q, scale)),
            np.int64(dropout_threshold(dropout_p)), acc(1.0 / (1.0 - dropout_p)),
            np.int64(int(seed) & _MASK32))


def _contiguous(*arrays):
    xp = array_module(arrays[0])
    return [xp.ascontiguousarray(a) for a in arrays]


def flash_attention_forward(q, k, v, mask=None, is_causal=False, scale=None, dropout_p=0.0,
                            seed=0, tile=None, threads=None):
    """softmax(q k^T * scale + mask) (with dropout) @ v in one launch, never storing the scores.

    q (B, H, T, E), k (B, H, S, E), v (B, H, S, Ev), float16 or float32; mask None or an additive
    float mask of q's dtype broadcastable to (B, H, T, S); is_causal: keys j <= i only (top-left);
    scale defaults to 1/sqrt(E); dropout draws are keyed by `seed`.
    Returns the output (B, H, T, Ev) in q's dtype and the float32 row log-sum-exp (B, H, T).
    """
    mask = _check("flash_attention_forward", q, k, v, mask)
    q, k, v = _contiguous(q, k, v)
    xp, tile = array_module(q), TILE if tile is None else tile
    (B, H, T, _), ev = q.shape, v.shape[3]
    o = xp.empty((B, H, T, ev), q.dtype)
    lse = xp.empty((B, H, T), np.float32)
    _launch("flash_attn_fwd", (B * H, -(-T // tile)), tile, threads, q.dtype, q, k, v,
            *_common_args(q, mask, is_causal, scale, dropout_p, seed), o, lse)
    return o, lse


def flash_attention_backward(q, k, v, o, lse, gy, mask=None, is_causal=False, scale=None,
                             dropout_p=0.0, seed=0, tile=None, threads=None):
    """Grads (gq, gk, gv) of flash_attention_forward from its output o and lse and the output
    grad gy (like o), with the same mask, is_causal, scale, dropout_p and seed: three launches
    (delta = rowsum(gy * o); dK and dV per key tile; dQ per query tile), no atomics."""
    mask = _check("flash_attention_backward", q, k, v, mask)
    if gy.shape != o.shape or gy.dtype != q.dtype or lse.shape != q.shape[:3]:
        raise ValueError(f"flash_attention_backward: expected output and grad of shape "
                         f"{tuple(o.shape)} {q.dtype} and lse {tuple(q.shape[:3])}, got grad "
                         f"{tuple(gy.shape)} {gy.dtype}, lse {tuple(lse.shape)}")
    q, k, v, o, gy = _contiguous(q, k, v, o, gy)
    xp, tile = array_module(q), TILE if tile is None else tile
    lse = xp.ascontiguousarray(lse, dtype=np.float32)
    (B, H, T, _), S = q.shape, k.shape[2]
    delta = xp.empty(B * H * T, np.float32)
    blocks = min(-(-B * H * T // (THREADS if threads is None else threads)), ck.GRID)
    _launch("flash_attn_bwd_pre", (blocks,), tile, threads, q.dtype,  # one thread per row
            o.reshape(B * H * T, -1), gy.reshape(B * H * T, -1), delta)
    common = _common_args(q, mask, is_causal, scale, dropout_p, seed)
    delta = delta.reshape(B, H, T)
    gq, gk, gv = xp.empty_like(q), xp.empty_like(k), xp.empty_like(v)
    _launch("flash_attn_bwd_kv", (B * H, -(-S // tile)), tile, threads, q.dtype, q, k, v,
            *common, gy, lse, delta, gk, gv)
    _launch("flash_attn_bwd_q", (B * H, -(-T // tile)), tile, threads, q.dtype, q, k, v,
            *common, gy, lse, delta, gq)
    return gq, gk, gv
