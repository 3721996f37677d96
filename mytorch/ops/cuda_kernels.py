"""Fused CUDA kernels written with numba-cuda, beside their array-module references.

Each op is one launch (the norms' backward adds a sum over small per-block partials of gw,
gb) that makes its passes over a row while the row sits in L1/L2, where the reference path
runs several CuPy kernels with (M, N) temporaries between them. They are written with
numba-cuda because its CUDA simulator (`NUMBA_ENABLE_CUDASIM=1`) executes the same kernel
source thread by thread, with shared memory and barriers, on NumPy arrays: CI checks their
numerics on a CPU-only machine, and compiles them for the real targets through
NVVM (see CONTRIBUTING.md).

Softmax and the norms: one block of `threads` threads per row (the last dim); rows longer
than the block are strided over; sums and maxima are tree reductions in shared memory. GELU
(exact and tanh) and bias+GELU are elementwise: at most GRID blocks stride over the flat array.
Inputs may be float16, float32 or float64; statistics and accumulations are float32 (float64
for float64 inputs).

mytorch.ops.nn's Softmax, LayerNorm, RMSNorm, Gelu and GeluTanh (so F.softmax, F.layer_norm,
F.rms_norm, F.gelu and their modules) take these kernels when `fits` says so: CUDA float
arrays, the switch on, numba able to launch. `MYTORCH_FUSED=0` in the environment, or
`set_enabled(False)`, turns every fused kernel off, so a user can rule them out.
"""
import math
import os
import types

import numpy as np

from mytorch import backend
from mytorch.backend import array_module
from mytorch.ops._kernels import (
    layer_norm_backward_reference,
    layer_norm_forward_reference,
    softmax_backward_reference,
    softmax_forward_reference,
)

__all__ = ["THREADS", "GRID", "KERNEL_MODULES", "all_compile_targets", "enabled", "set_enabled",
           "fits", "launch", "softmax_forward", "softmax_backward", "layer_norm_forward",
           "layer_norm_backward", "rms_norm_forward", "rms_norm_backward", "gelu_forward",
           "gelu_backward", "bias_gelu_forward", "bias_gelu_backward", "rms_norm_forward_reference",
           "rms_norm_backward_reference", "softmax_forward_reference", "softmax_backward_reference",
           "layer_norm_forward_reference", "layer_norm_backward_reference",
           "gelu_forward_reference", "gelu_backward_reference", "bias_gelu_forward_reference",
           "bias_gelu_backward_reference"]

# Read at each launch (not bound as default arguments), so tests on the simulator can use
# small blocks by setting them.
THREADS = 256  # threads per block (a power of two) on a real GPU
GRID = 1024  # blocks at most for the elementwise kernels' grid-stride loops


def switch_value(text):
    """MYTORCH_FUSED's meaning: "0", "false", "off", "no" turn fused kernels off."""
    return (text or "1").strip().lower() not in ("0", "false", "off", "no")


_enabled = switch_value(os.environ.get("MYTORCH_FUSED"))


def enabled():
    """True unless fused kernels were turned off (MYTORCH_FUSED=0 or set_enabled(False))."""
    return _enabled


def set_enabled(flag):
    """Turn every fused kernel on or off for this process; returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous


_FLOATS = (np.float16, np.float32, np.float64)
_available = None


def available():
    """Whether numba can launch the kernels in this process: numba-cuda (installed by
    `make setup GPU=1` and mytorch[cuda]; without it the reference path runs) imports and
    sees a GPU, or runs its simulator (NUMBA_ENABLE_CUDASIM=1). Checked once, at the first
    CUDA op that could take a kernel."""
    global _available
    if _available is None:
        try:
            from numba import cuda as numba_cuda
            _available = bool(numba_cuda.is_available())
        except Exception:  # not installed, or no usable driver: the reference path runs
            _available = False
    return _available


def fits(x, *others):
    """Whether an op should take its fused kernel for the arrays x and `others` (None entries
    skipped): the switch is on, x is a CUDA (CuPy) float16/32/64 array, the others have x's
    dtype, and numba can launch here (`available`). Anything else takes the reference path."""
    cp = backend.cupy
    return (_enabled and cp is not None and isinstance(x, cp.ndarray) and x.dtype in _FLOATS
            and all(a is None or a.dtype == x.dtype for a in others) and available())


# ---------------------------------------------------------------- references (RMSNorm)
# softmax and LayerNorm references live in mytorch.ops._kernels, beside the CPU loops.


def rms_norm_forward_reference(x, w, eps):
    """x (..., N) / sqrt(mean(x^2 over N) + eps) * w; w (N,) or None.
    Returns y shaped like x and rstd (M,) over the M rows, in x's dtype."""
    xp = array_module(x)
    n = x.shape[-1]
    x2 = x.reshape(-1, n)
    rstd = 1.0 / xp.sqrt((x2 * x2).mean(axis=1) + eps)
    y = x2 * rstd[:, None]
    if w is not None:
        y = y * w
    return y.reshape(x.shape), rstd.astype(x.dtype)


def rms_norm_backward_reference(x, gy, w, rstd):
    """Grads of rms_norm_forward from x, gy (..., N) and the saved rstd: gx like x, gw (N,)."""
    n = x.shape[-1]
    x2, gy2 = x.reshape(-1, n), gy.reshape(-1, n)
    xhat = x2 * rstd[:, None]
    gw = (gy2 * xhat).sum(axis=0)
    g = gy2 * w if w is not None else gy2
    gx = (g - xhat * (g * xhat).mean(axis=1, keepdims=True)) * rstd[:, None]
    return gx.reshape(x.shape), gw


# ---------------------------------------------------------------- references (GELU)
# The same formulas as mytorch.ops.nn's Gelu / GeluTanh (the CPU path), written plainly; erf
# comes from that module's fit (relative error below 1.2e-7), as NumPy has none.


def _nn():
    """mytorch.ops.nn, for its GELU constants and erfc fit (imported here: it imports this
    module)."""
    from mytorch.ops import nn
    return nn


def gelu_forward_reference(x, approximate="none"):
    """GELU of x: x Phi(x) (approximate='none') or 0.5 x (1 + tanh(sqrt(2/pi) (x + c x^3)))."""
    xp, nn = array_module(x), _nn()
    if approximate == "tanh":
        return 0.5 * x * (1.0 + xp.tanh(nn.SQRT_2_PI * (x + nn.GELU_C * x * x * x)))
    h = 0.5 * nn.erfc_nonneg(xp.abs(x) * nn.SQRT1_2)  # Phi(-|x|), accurate in both tails
    return x * xp.where(x < 0, h, 1.0 - h)


def gelu_backward_reference(x, gy, approximate="none"):
    """gy * d/dx GELU(x), x and gy of one shape."""
    xp, nn = array_module(x), _nn()
    if approximate == "tanh":
        th = xp.tanh(nn.SQRT_2_PI * (x + nn.GELU_C * x * x * x))
        d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * nn.SQRT_2_PI * (
            1.0 + 3.0 * nn.GELU_C * x * x)
    else:
        h = 0.5 * nn.erfc_nonneg(xp.abs(x) * nn.SQRT1_2)
        d = xp.where(x < 0, h, 1.0 - h) + x * xp.exp(-0.5 * x * x) * nn._INV_SQRT_2PI
    return gy * d


def bias_gelu_forward_reference(x, b, approximate="none"):
    """GELU(x + b), x (..., N), b (N,)."""
    return gelu_forward_reference(x + b, approximate)


def bias_gelu_backward_reference(x, b, gy, approximate="none"):
    """Grads of bias_gelu_forward: gx like x and gb (N,) (gx summed over the rows)."""
    gx = gelu_backward_reference(x + b, gy, approximate)
    return gx, gx.reshape(-1, b.shape[0]).sum(axis=0)


# ---------------------------------------------------------------- kernels

_built = {}
cuda = None  # numba.cuda, imported by the first kernels() call


def kernels(threads=THREADS, dtype=np.float32):
    """The jitted kernels for blocks of `threads` threads and inputs of `dtype` (built once
    per block size and accumulator: float64 inputs accumulate in float64, others in float32).

    numba-cuda is imported here, so `import mytorch` does not need it.
    """
    if threads & (threads - 1) or not 1 <= threads <= 1024:
        raise ValueError(f"cuda_kernels: threads must be a power of two <= 1024, got {threads}")
    acc = _acc(dtype)
    if (threads, acc) not in _built:
        _built[threads, acc] = _build(threads, acc)
    return _built[threads, acc]


def _build(threads, acc):
    # `cuda` must be a module global: the simulator swaps a kernel's global `cuda` for its
    # per-thread API (a closure variable would keep pointing at the real module).
    global cuda
    from numba import cuda

    def block_reduce(combine):
        # A tree reduction over the block in one shared buffer; the trailing barrier lets the
        # next reduction reuse it.
        @cuda.jit(device=True)
        def reduce(buf, v):
            t = cuda.threadIdx.x
            buf[t] = v
            cuda.syncthreads()
            step = threads // 2
            while step > 0:
                if t < step:
                    buf[t] = combine(buf[t], buf[t + step])
                cuda.syncthreads()
                step //= 2
            total = buf[0]
            cuda.syncthreads()  # every thread has read buf[0] before the next reduction writes
            return total

        return reduce

    @cuda.jit(device=True)
    def add(a, b):
        return a + b

    @cuda.jit(device=True)
    def larger(a, b):
        return b if b > a else a

    block_sum, block_max = block_reduce(add), block_reduce(larger)

    @cuda.jit
    def softmax_fwd(x, y):  # x, y (M, N); one block per row
        buf = cuda.shared.array(threads, acc)
        r, t, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        m = acc(-math.inf)
        for j in range(t, n, threads):
            m = max(m, acc(x[r, j]))
        m = block_max(buf, m)
        s = acc(0)
        for j in range(t, n, threads):
            s += math.exp(acc(x[r, j]) - m)
        inv = acc(1) / block_sum(buf, s)
        for j in range(t, n, threads):
            y[r, j] = math.exp(acc(x[r, j]) - m) * inv

    @cuda.jit
    def softmax_bwd(y, gy, gx):  # gx = y * (gy - sum(gy * y)); all (M, N)
        buf = cuda.shared.array(threads, acc)
        r, t, n = cuda.blockIdx.x, cuda.threadIdx.x, y.shape[1]
        s = acc(0)
        for j in range(t, n, threads):
            s += acc(gy[r, j]) * acc(y[r, j])
        s = block_sum(buf, s)
        for j in range(t, n, threads):
            gx[r, j] = acc(y[r, j]) * (acc(gy[r, j]) - s)

    @cuda.jit
    def layer_norm_fwd(x, w, b, eps, y, mean, rstd):  # x, y (M, N); w, b (N,); mean, rstd (M,)
        buf = cuda.shared.array(threads, acc)
        r, t, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        nf = acc(n)  # float32 / int would widen to float64
        s = acc(0)
        for j in range(t, n, threads):
            s += acc(x[r, j])
        mu = block_sum(buf, s) / nf
        s = acc(0)
        for j in range(t, n, threads):  # two passes: no cancellation in E[x^2] - E[x]^2
            d = acc(x[r, j]) - mu
            s += d * d
        rs = acc(1) / math.sqrt(block_sum(buf, s) / nf + eps)
        for j in range(t, n, threads):
            y[r, j] = (acc(x[r, j]) - mu) * rs * acc(w[j]) + acc(b[j])
        if t == 0:
            mean[r] = mu
            rstd[r] = rs

    @cuda.jit
    def layer_norm_bwd(x, gy, w, mean, rstd, gx, gw_part, gb_part):
        # Block k takes rows k, k + G, ... and adds its share of gw, gb into row k of the
        # (G, N) partials: each element has one writer, so no atomics; the caller sums them.
        buf = cuda.shared.array(threads, acc)
        k, t, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        nf = acc(n)
        for r in range(k, x.shape[0], cuda.gridDim.x):
            mu, rs = acc(mean[r]), acc(rstd[r])
            s1 = acc(0)
            s2 = acc(0)
            for j in range(t, n, threads):
                xhat = (acc(x[r, j]) - mu) * rs
                g = acc(gy[r, j])
                gw_part[k, j] += g * xhat
                gb_part[k, j] += g
                g *= acc(w[j])
                s1 += g
                s2 += g * xhat
            m1 = block_sum(buf, s1) / nf
            m2 = block_sum(buf, s2) / nf
            for j in range(t, n, threads):
                xhat = (acc(x[r, j]) - mu) * rs
                gx[r, j] = (acc(gy[r, j]) * acc(w[j]) - m1 - xhat * m2) * rs

    @cuda.jit
    def rms_norm_fwd(x, w, eps, y, rstd):  # x, y (M, N); w (N,); rstd (M,)
        buf = cuda.shared.array(threads, acc)
        r, t, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        nf = acc(n)  # float32 / int would widen to float64
        s = acc(0)
        for j in range(t, n, threads):
            v = acc(x[r, j])
            s += v * v
        rs = acc(1) / math.sqrt(block_sum(buf, s) / nf + eps)
        for j in range(t, n, threads):
            y[r, j] = acc(x[r, j]) * rs * acc(w[j])
        if t == 0:
            rstd[r] = rs

    @cuda.jit
    def rms_norm_bwd(x, gy, w, rstd, gx, gw_part):  # rows and partials as layer_norm_bwd
        buf = cuda.shared.array(threads, acc)
        k, t, n = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        nf = acc(n)
        for r in range(k, x.shape[0], cuda.gridDim.x):
            rs = acc(rstd[r])
            s = acc(0)
            for j in range(t, n, threads):
                xhat = acc(x[r, j]) * rs
                g = acc(gy[r, j])
                gw_part[k, j] += g * xhat
                s += g * acc(w[j]) * xhat
            m = block_sum(buf, s) / nf
            for j in range(t, n, threads):
                xhat = acc(x[r, j]) * rs
                gx[r, j] = (acc(gy[r, j]) * acc(w[j]) - xhat * m) * rs

    # GELU: elementwise, each thread strides over the flat array (a grid-stride loop).
    # `tanh` picks the tanh approximation over the exact x Phi(x), Phi(v) = erfc(-v/sqrt2)/2.
    half, one = acc(0.5), acc(1)
    rsqrt2, rsqrt_2pi = acc(1 / math.sqrt(2)), acc(1 / math.sqrt(2 * math.pi))
    k_tanh, c_tanh = acc(math.sqrt(2 / math.pi)), acc(0.044715)

    @cuda.jit(device=True)
    def gelu(v, tanh):
        if tanh:
            return half * v * (one + math.tanh(k_tanh * (v + c_tanh * v * v * v)))
        return half * v * math.erfc(-v * rsqrt2)

    @cuda.jit(device=True)
    def gelu_grad(v, tanh):
        if tanh:
            th = math.tanh(k_tanh * (v + c_tanh * v * v * v))
            return half * (one + th) + half * v * (one - th * th) * k_tanh * (
                one + acc(3) * c_tanh * v * v)
        return half * math.erfc(-v * rsqrt2) + v * math.exp(-half * v * v) * rsqrt_2pi

    @cuda.jit
    def gelu_fwd(x, tanh, y):  # x, y flat (L,)
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            y[i] = gelu(acc(x[i]), tanh)

    @cuda.jit
    def gelu_bwd(x, gy, tanh, gx):  # all flat (L,)
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            gx[i] = acc(gy[i]) * gelu_grad(acc(x[i]), tanh)

    @cuda.jit
    def bias_gelu_fwd(x, b, tanh, y):  # x, y flat (M * N,) rows of N; b (N,)
        n = b.shape[0]
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            y[i] = gelu(acc(x[i]) + acc(b[i % n]), tanh)

    @cuda.jit
    def bias_gelu_bwd(x, b, gy, tanh, gx):  # gx of GELU(x + b); the caller sums gb from it
        n = b.shape[0]
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            gx[i] = acc(gy[i]) * gelu_grad(acc(x[i]) + acc(b[i % n]), tanh)

    return {"softmax_fwd": softmax_fwd, "softmax_bwd": softmax_bwd,
            "layer_norm_fwd": layer_norm_fwd, "layer_norm_bwd": layer_norm_bwd,
            "rms_norm_fwd": rms_norm_fwd, "rms_norm_bwd": rms_norm_bwd,
            "gelu_fwd": gelu_fwd, "gelu_bwd": gelu_bwd,
            "bias_gelu_fwd": bias_gelu_fwd, "bias_gelu_bwd": bias_gelu_bwd}


# Every module of numba-cuda kernels; each has a compile_targets() like this one's, and CI
# compiles them all for the real targets (tests/cuda/test_sources_compile.py).
KERNEL_MODULES = ("mytorch.ops.cuda_kernels", "mytorch.ops.cuda_cross_entropy",
                  "mytorch.ops.cuda_misc_kernels", "mytorch.optim.cuda_multi_tensor",
                  "mytorch.ops.cuda_flash_attention")


def all_compile_targets():
    """{name: [(kernel, numba signature), ...]} over every module in KERNEL_MODULES."""
    import importlib

    out = {}
    for module in KERNEL_MODULES:
        for name, builds in importlib.import_module(module).compile_targets().items():
            if name in out:
                raise ValueError(f"cuda_kernels: kernel name {name!r} is used by two modules")
            out[name] = builds
    return out


def compile_targets(threads=THREADS):
    """{name: [(kernel, numba signature), ...]}: every kernel, built for each input dtype
    (float64 inputs get the float64-accumulating build), for CI to compile for the targets."""
    from numba import types

    out = {}
    for dtype, t in ((np.float16, types.float16), (np.float32, types.float32),
                     (np.float64, types.float64)):
        a = types.float64 if dtype == np.float64 else types.float32
        m, v, p = t[:, ::1], t[::1], a[::1]  # rows, vectors, float32/64 statistics
        f = types.boolean  # a flag (GELU's tanh form)
        sigs = {"softmax_fwd": (m, m), "softmax_bwd": (m, m, m),
                "layer_norm_fwd": (m, v, v, a, m, p, p),
                "layer_norm_bwd": (m, m, v, p, p, m, a[:, ::1], a[:, ::1]),
                "rms_norm_fwd": (m, v, a, m, p), "rms_norm_bwd": (m, m, v, p, m, a[:, ::1]),
                "gelu_fwd": (v, f, v), "gelu_bwd": (v, v, f, v),
                "bias_gelu_fwd": (v, v, f, v), "bias_gelu_bwd": (v, v, v, f, v)}
        for name, kernel in kernels(threads, dtype).items():
            out.setdefault(name, []).append((kernel, sigs[name]))
    return out


# ---------------------------------------------------------------- host wrappers


def _rows(a):
    xp = array_module(a)
    return xp.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _acc(dtype):
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _check_float(name, x, like=()):
    """x float16/32/64; each array in `like` of x's shape and dtype."""
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name}: expected a float16/32/64 array, got {x.dtype}")
    for a in like:
        if a.shape != x.shape or a.dtype != x.dtype:
            raise ValueError(f"{name}: expected a gradient like the input, {tuple(x.shape)} "
                             f"{x.dtype}, got {tuple(a.shape)} {a.dtype}")


def _check(name, x, *vectors, like=()):
    """_check_float, x (..., N) with N > 0, and the vectors (None or (N,)) of x's dtype."""
    _check_float(name, x, like)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name}: expected (..., N) with N > 0, got shape {tuple(x.shape)}")
    for v in vectors:
        if v is not None and tuple(v.shape) != (x.shape[-1],):
            raise ValueError(f"{name}: expected weights of shape ({x.shape[-1]},) for input "
                             f"{tuple(x.shape)}, got {tuple(v.shape)}")


def _simulated():
    from numba.cuda.core import config
    return config.ENABLE_CUDASIM


def _host_view(a):
    """In numba's CUDA simulator, device memory is host memory, and the simulator launches on
    NumPy arrays only: a device array (one with `__cuda_array_interface__`) is handed over as a
    NumPy view of its memory, so the kernel writes into it in place. This is what lets the
    tests run the fused path of CUDA tensors on a machine without a GPU (the CuPy stand-in's
    arrays live in host memory); it knows nothing of who made the array. The simulator is a
    test setting for machines without a GPU: with a real GPU's arrays the pointer would not
    be host memory."""
    desc = getattr(a, "__cuda_array_interface__", None)
    if desc is None:
        return a
    iface = {k: desc[k] for k in ("shape", "typestr", "data", "strides") if k in desc}
    # the view's base holds `a`: a temporary made for the launch must outlive the kernel
    return np.asarray(types.SimpleNamespace(__array_interface__=dict(iface, version=3),
                                            owner=a))


def launch(build, name, grid, threads, dtype, *args):
    """Launch kernel `name` of `build(threads, dtype)` (a module's `kernels`) on `grid` blocks
    of `threads` (None: THREADS) threads; nothing when grid is 0. Every kernel module launches
    through here, so the simulator gets its NumPy views in one place."""
    if grid:
        threads = _threads(threads)
        kernel = build(threads, dtype)[name]
        kernel[grid, threads](*(map(_host_view, args) if _simulated() else args))


def _launch(name, grid, threads, dtype, *args):
    launch(kernels, name, grid, threads, dtype, *args)


def _threads(threads):
    return THREADS if threads is None else threads


def softmax_forward(x, threads=None):
    """Softmax of x (..., N) over its last dim, one kernel."""
    _check("softmax_forward", x)
    x2 = _rows(x)
    y = array_module(x).empty(x2.shape, x.dtype)
    _launch("softmax_fwd", x2.shape[0], threads, x.dtype, x2, y)
    return y.reshape(x.shape)


def softmax_backward(y, gy, threads=None):
    """gx = y * (gy - sum(gy * y)) over the last dim, one kernel; y, gy (..., N)."""
    _check("softmax_backward", y, like=(gy,))
    y2, g2 = _rows(y), _rows(gy)
    gx = array_module(y).empty(y2.shape, y.dtype)
    _launch("softmax_bwd", y2.shape[0], threads, y.dtype, y2, g2, gx)
    return gx.reshape(y.shape)


def _weights(xp, w, n, dtype, fill):
    return xp.full(n, fill, dtype) if w is None else xp.ascontiguousarray(w, dtype=dtype)


def layer_norm_forward(x, w, b, eps, threads=None):
    """LayerNorm of x (..., N) over its last dim; w, b (N,) or None.
    Returns y like x and the float32 (float64 for float64 x) mean, rstd (M,), one kernel."""
    _check("layer_norm_forward", x, w, b)
    xp, x2 = array_module(x), _rows(x)
    (m, n), acc = x2.shape, _acc(x.dtype)
    y = xp.empty(x2.shape, x.dtype)
    mean, rstd = xp.empty(m, acc), xp.empty(m, acc)
    _launch("layer_norm_fwd", m, threads, x.dtype, x2, _weights(xp, w, n, x.dtype, 1),
            _weights(xp, b, n, x.dtype, 0), acc(eps), y, mean, rstd)
    return y.reshape(x.shape), mean, rstd


def _partial_blocks(m, blocks):
    return max(1, min(m, blocks))


def layer_norm_backward(x, gy, w, mean, rstd, threads=None, blocks=256):
    """Grads of layer_norm_forward: gx like x, gw (N,), gb (N,) in x's dtype, one kernel
    over `blocks` row groups and a sum over their (blocks, N) partials."""
    _check("layer_norm_backward", x, w, like=(gy,))
    xp, x2, g2 = array_module(x), _rows(x), _rows(gy)
    (m, n), acc = x2.shape, _acc(x.dtype)
    g = _partial_blocks(m, blocks)
    gx = xp.empty(x2.shape, x.dtype)
    gw_part, gb_part = xp.zeros((g, n), acc), xp.zeros((g, n), acc)
    _launch("layer_norm_bwd", g if m else 0, threads, x.dtype, x2, g2,
            _weights(xp, w, n, x.dtype, 1), xp.ascontiguousarray(mean, dtype=acc),
            xp.ascontiguousarray(rstd, dtype=acc), gx, gw_part, gb_part)
    return (gx.reshape(x.shape), gw_part.sum(axis=0).astype(x.dtype),
            gb_part.sum(axis=0).astype(x.dtype))


def rms_norm_forward(x, w, eps, threads=None):
    """RMSNorm of x (..., N) over its last dim; w (N,) or None. Returns y like x and the
    float32 (float64 for float64 x) rstd (M,), one kernel."""
    _check("rms_norm_forward", x, w)
    xp, x2 = array_module(x), _rows(x)
    (m, n), acc = x2.shape, _acc(x.dtype)
    y, rstd = xp.empty(x2.shape, x.dtype), xp.empty(m, acc)
    _launch("rms_norm_fwd", m, threads, x.dtype, x2, _weights(xp, w, n, x.dtype, 1), acc(eps),
            y, rstd)
    return y.reshape(x.shape), rstd


def rms_norm_backward(x, gy, w, rstd, threads=None, blocks=256):
    """Grads of rms_norm_forward: gx like x and gw (N,) in x's dtype."""
    _check("rms_norm_backward", x, w, like=(gy,))
    xp, x2, g2 = array_module(x), _rows(x), _rows(gy)
    (m, n), acc = x2.shape, _acc(x.dtype)
    g = _partial_blocks(m, blocks)
    gx, gw_part = xp.empty(x2.shape, x.dtype), xp.zeros((g, n), acc)
    _launch("rms_norm_bwd", g if m else 0, threads, x.dtype, x2, g2,
            _weights(xp, w, n, x.dtype, 1), xp.ascontiguousarray(rstd, dtype=acc), gx, gw_part)
    return gx.reshape(x.shape), gw_part.sum(axis=0).astype(x.dtype)


def _check_approximate(name, approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate == "tanh"


def _elementwise(kernel, x, tanh, threads, blocks, *arrays):
    """Launch the GELU `kernel` on x and `arrays` (contiguous, flattened), at most `blocks`
    (GRID) blocks striding over x; returns its output, shaped like x."""
    xp, threads = array_module(x), _threads(threads)
    flat = [xp.ascontiguousarray(a).reshape(-1) for a in (x, *arrays)]
    out = xp.empty(x.size, x.dtype)
    grid = min(-(-x.size // threads), GRID if blocks is None else blocks)
    _launch(kernel, grid, threads, x.dtype, *flat, tanh, out)
    return out.reshape(x.shape)


def gelu_forward(x, approximate="none", threads=None, blocks=None):
    """GELU of x, any shape ('none': the exact x Phi(x); 'tanh': the tanh form), one kernel."""
    _check_float("gelu_forward", x)
    tanh = _check_approximate("gelu_forward", approximate)
    return _elementwise("gelu_fwd", x, tanh, threads, blocks)


def gelu_backward(x, gy, approximate="none", threads=None, blocks=None):
    """gy * GELU'(x), x and gy of one shape and dtype, one kernel."""
    _check_float("gelu_backward", x, like=(gy,))
    tanh = _check_approximate("gelu_backward", approximate)
    return _elementwise("gelu_bwd", x, tanh, threads, blocks, gy)


# bias + GELU: F.bias_gelu (mytorch.ops.nn.BiasGelu) launches these; the zoo's GPT-2 MLP calls
# it on CUDA after a bias-free Linear.


def bias_gelu_forward(x, b, approximate="none", threads=None, blocks=None):
    """GELU(x + b) for x (..., N) and b (N,), one kernel (x + b is never stored)."""
    _check("bias_gelu_forward", x, b)
    tanh = _check_approximate("bias_gelu_forward", approximate)
    b = _weights(array_module(x), b, x.shape[-1], x.dtype, 0)
    return _elementwise("bias_gelu_fwd", x, tanh, threads, blocks, b)


def bias_gelu_backward(x, b, gy, approximate="none", threads=None, blocks=None):
    """Grads of bias_gelu_forward: gx like x (one kernel) and gb (N,), gx summed over the rows
    in float32 (float64 for float64 x)."""
    _check("bias_gelu_backward", x, b, like=(gy,))
    tanh = _check_approximate("bias_gelu_backward", approximate)
    xp, n = array_module(x), x.shape[-1]
    gx = _elementwise("bias_gelu_bwd", x, tanh, threads, blocks,
                      _weights(xp, b, n, x.dtype, 0), gy)
    return gx, gx.reshape(-1, n).sum(axis=0, dtype=_acc(x.dtype)).astype(x.dtype)
