"""Multi-tensor Adam/AdamW and SGD: every parameter of a param group updated in one CUDA launch.

The reference path of mytorch.optim (adam.py, sgd.py) walks the parameters one by one, and
on a GPU each parameter costs a dozen CuPy launches; a model with hundreds of small tensors
spends its step launching. These numba-cuda kernels update all of them in one launch.

Design: a table of addresses. numba-cuda takes a fixed list of arrays per launch, and a
parameter group has any number of tensors, so the host writes one int64 row per tensor,
`tensors[k] = (n, param, grad, master, state0, state1, state2, flag)` (the element count, the
device addresses of its arrays, and a per-tensor flag), and one row per chunk of at most
CHUNK elements, `chunks[c] = (k, start, stop)`. Block c of the launch updates elements
start..stop of tensor k, its threads striding over them. In the kernel, `_viewer(dtype)`
turns an address back into an array: on a GPU with an `inttoptr` intrinsic and numba's
`carray`; in numba's CUDA simulator (whose "device memory" is host memory, see
cuda_kernels._host_view) with a NumPy view of that address. Nothing is copied or packed: the
parameters, gradients and state stay the separate arrays the optimizer and its state_dict
know, and the only uploads per step are the small tables (one int64 copy, and Adam's
per-tensor bias corrections). (Packing the parameters into one
flat buffer would need the gradients packed too, a copy per step, and would change what
`p.data` is.)

Numerics: the same float arithmetic in the same order as the CPU loops of
mytorch/optim/_fused.py and the array-module reference path, so the results agree to the
last bit. Every multiply, add and subtract goes through `_arithmetic`: on a GPU the
round-to-nearest libdevice functions (`fmul_rn`, ...), which the compiler never contracts
into a fused multiply-add (a CuPy ufunc per operation never does either); division and sqrt
are IEEE-rounded without fastmath. float16/float32 parameters compute in float32, float64 in
float64.

Mixed precision: a float16 parameter takes the kernels only with an fp32 master copy
(`master_weights=True` on the optimizer): the kernel reads the fp32 master and the
fp16/fp32 gradient, updates the master and fp32 moments, and writes the master and the fp16
parameter (rounded to nearest) in the same pass. float32/float64 parameters have no master.

The rule: mytorch.optim.Adam, AdamW and SGD call `batches` at every step (unless built with
`fused=False`), and `fits` decides per parameter: the fused switch on (MYTORCH_FUSED,
cuda_kernels.set_enabled), a C-contiguous CUDA array numba can launch on, a gradient of the
parameter's dtype (or fp32 for an fp16 parameter) on the same device, state arrays of the
compute dtype. A group launches once per (device, parameter dtype, gradient dtype); what does
not fit (CPU tensors above all) takes the reference path, which computes the same numbers.
"""
import ctypes
import math

import numpy as np

from mytorch import backend
from mytorch.backend import array_module
from mytorch.ops import cuda_kernels as ck
from mytorch.ops.cuda_kernels import _acc, _host_view, _simulated

__all__ = ["THREADS", "CHUNK", "PAIRS", "may_fit", "fits", "batches", "kernels", "adam", "sgd",
           "adam_reference", "sgd_reference", "compile_targets"]

# Read at each launch, so tests on the simulator can use small blocks and chunks.
THREADS = 256  # threads per block
CHUNK = 65536  # elements per block (per chunk of a tensor)

# Columns of the per-tensor table.
N, PARAM, GRAD, MASTER, STATE0, STATE1, STATE2, FLAG = range(8)
_COLUMNS = 8

# The (parameter dtype, gradient dtype) pairs the kernels are built for; float16 parameters
# always come with an fp32 master copy.
PAIRS = ((np.float16, np.float16), (np.float16, np.float32), (np.float32, np.float32),
         (np.float64, np.float64))


# ---------------------------------------------------------------- which tensors fit


def _compute_dtype(param_dtype):
    """The dtype of the master copy and the state: float32 for float16 parameters."""
    return np.dtype(_acc(param_dtype))


def fits(param, grad, states=(), master=None):
    """Whether the multi-tensor kernels take this parameter: `cuda_kernels.fits` holds for it
    (the switch on, a CUDA float array, numba able to launch), its dtype and its gradient's are
    one of PAIRS (float16 only with a master), every array is C-contiguous on its device, and
    the master and the state arrays (None entries skipped) have the compute dtype."""
    if not ck.fits(param):
        return False
    pair = (param.dtype, grad.dtype)
    if not any(pair == (np.dtype(p), np.dtype(g)) for p, g in PAIRS):
        return False
    half = param.dtype == np.float16
    if half != (master is not None):
        return False
    cp, dev = backend.cupy, param.device.id
    compute = _compute_dtype(param.dtype)
    for a in (param, grad, master, *states):
        if a is None:
            continue
        if not isinstance(a, cp.ndarray) or a.device.id != dev or not a.flags.c_contiguous:
            return False
        if a is not param and a is not grad and a.dtype != compute:
            return False
    return grad.shape == param.shape


def may_fit(params):
    """A quick test before `batches`, so a CPU step pays next to nothing: whether any of the
    tensors `params` could fit (the switch on, CuPy loaded, a parameter not on the CPU)."""
    if not ck.enabled() or backend.cupy is None:
        return False
    return any(type(p.data) is not np.ndarray for p in params)


def batches(entries):
    """Group the indices of `entries` ((param, grad, states, master) tuples) that `fits` into
    {(device id, param dtype, grad dtype): [indices]}, one launch each; returns that dict and
    the list of the other indices (the reference path's)."""
    groups, rest = {}, []
    for i, (param, grad, states, master) in enumerate(entries):
        if fits(param, grad, states, master):
            key = (param.device.id, param.dtype.str, grad.dtype.str)
            groups.setdefault(key, []).append(i)
        else:
            rest.append(i)
    return groups, rest


# ---------------------------------------------------------------- references
# Plain array-module code, tensor by tensor, in the order of _fused.py's loops.


def _lerp_weights(beta1, f):
    """Adam's m.lerp_(g, 1 - beta1) as torch computes it: m + w (g - m) when w < 0.5, else
    g - (g - m)(1 - w); returns (w, 1 - w, whether the second form is used) in dtype f."""
    w = f(1.0 - beta1)
    return w, f(1.0 - float(w)), not w < 0.5


def adam_reference(params, grads, exp_avgs, exp_avg_sqs, *, steps, lr, beta1, beta2, eps,
                   weight_decay=0.0, decoupled=False, maximize=False, max_exp_avg_sqs=None,
                   masters=None):
    """What `adam` does, with array-module ops, one tensor at a time (see `adam`)."""
    for k, x in enumerate(params):
        xp, f = array_module(x), _acc(x.dtype)
        w = masters[k] if masters is not None else x
        g = grads[k].astype(f)
        m, v = exp_avgs[k], exp_avg_sqs[k]
        step_size, bc2_sqrt = _bias_corrections(steps[k], lr, beta1, beta2)
        wd = f(0.0) if decoupled else f(weight_decay)
        decay = f(1.0 - lr * weight_decay) if decoupled else f(1.0)
        g = g * f(-1.0 if maximize else 1.0) + wd * w
        xn = w * decay
        w1, wb, hi = _lerp_weights(beta1, f)
        m[...] = g - (g - m) * wb if hi else m + w1 * (g - m)
        v[...] = v * f(beta2) + f(1.0 - beta2) * g * g
        vv = v
        if max_exp_avg_sqs is not None:
            vv = max_exp_avg_sqs[k]
            xp.maximum(vv, v, out=vv)
        xn = xn + m / (xp.sqrt(vv) / f(bc2_sqrt) + f(eps)) * f(-step_size)
        w[...] = xn
        if masters is not None:
            x[...] = xn


def sgd_reference(params, grads, momentum_buffers=None, *, first, lr, momentum=0.0,
                  dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
                  masters=None):
    """What `sgd` does, with array-module ops, one tensor at a time (see `sgd`)."""
    for k, x in enumerate(params):
        f = _acc(x.dtype)
        w = masters[k] if masters is not None else x
        g = grads[k].astype(f) * f(-1.0 if maximize else 1.0) + f(weight_decay) * w
        if momentum_buffers is not None:
            b = momentum_buffers[k]
            b[...] = g if first[k] else b * f(momentum) + f(1.0 - dampening) * g
            g = g + f(momentum) * b if nesterov else b
        xn = w - f(lr) * g
        w[...] = xn
        if masters is not None:
            x[...] = xn


def _bias_corrections(step, lr, beta1, beta2):
    """Adam's step size lr / (1 - beta1^t) and sqrt(1 - beta2^t), as adam.py computes them."""
    return lr / (1.0 - beta1 ** step), math.sqrt(1.0 - beta2 ** step)


# ---------------------------------------------------------------- kernels

_built = {}
cuda = None  # numba.cuda, imported by the first kernels() call


def kernels(param_dtype=np.float32, grad_dtype=None):
    """The jitted {"adam": ..., "sgd": ...} for parameters of `param_dtype` and gradients of
    `grad_dtype` (default: the parameter's), built once per pair of PAIRS."""
    pd = np.dtype(param_dtype)
    gd = pd if grad_dtype is None else np.dtype(grad_dtype)
    key = (pd.str, gd.str)
    if not any((pd, gd) == (np.dtype(p), np.dtype(g)) for p, g in PAIRS):
        raise TypeError(f"cuda_multi_tensor: no kernels for {pd} parameters with {gd} "
                        f"gradients (float16 with float16/float32 gradients, float32, "
                        f"float64)")
    if key not in _built:
        _built[key] = _build(pd.type, gd.type, _acc(pd))
    return _built[key]


def _viewer(dtype):
    """A device function view(address, n): the n-element array of `dtype` at a device
    address (the GPU: an inttoptr intrinsic and carray; the simulator: a NumPy view)."""
    if _simulated():
        itemsize = np.dtype(dtype).itemsize

        def view(address, n):
            buf = (ctypes.c_char * (int(n) * itemsize)).from_address(int(address))
            return np.frombuffer(buf, dtype)

        return view

    from numba.cuda import types
    from numba.cuda.extending import intrinsic
    from numba.cuda.np.numpy_support import carray

    pointer_type = types.CPointer({np.float16: types.float16, np.float32: types.float32,
                                   np.float64: types.float64}[dtype])

    @intrinsic
    def pointer(typingctx, address):
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(pointer_type))

        return pointer_type(types.int64), codegen

    @cuda.jit(device=True, inline=True)
    def view(address, n):
        return carray(pointer(address), n)

    return view


def _arithmetic(acc):
    """(mul, add, sub) in `acc`, each rounded on its own: on a GPU the libdevice _rn functions,
    which are never contracted into a fused multiply-add; in the simulator the NumPy scalar
    operators (which are not either)."""
    if _simulated():
        return (lambda a, b: a * b), (lambda a, b: a + b), (lambda a, b: a - b)
    from numba.cuda import libdevice
    if acc != np.float64:
        return libdevice.fmul_rn, libdevice.fadd_rn, libdevice.fsub_rn

    @cuda.jit(device=True, inline=True)
    def dsub(a, b):  # libdevice has no dsub_rn; a + (-b) is the same rounded difference
        return libdevice.dadd_rn(a, -b)

    return libdevice.dmul_rn, libdevice.dadd_rn, dsub


def _build(param_dtype, grad_dtype, acc):
    # `cuda` must be a module global: the simulator swaps a kernel's global `cuda` for its
    # per-thread API (a closure variable would keep pointing at the real module).
    global cuda
    from numba import cuda

    param_view, grad_view, acc_view = _viewer(param_dtype), _viewer(grad_dtype), _viewer(acc)
    mul, add, sub = _arithmetic(acc)
    master = param_dtype == np.float16  # a compile-time constant: dead branches are dropped

    @cuda.jit
    def adam(tensors, chunks, scalars, decay, wd, sign, w1, wb, lerp_hi, beta2, w2, eps,
             amsgrad):
        # Block c: elements start..stop of tensor k. Per tensor: scalars[k] = (sqrt of the
        # second bias correction, -step size); tensors[k] = (n, param, grad, master, m, v,
        # max v, -).
        c, t = cuda.blockIdx.x, cuda.threadIdx.x
        k, start, stop = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        n = tensors[k, N]
        x, g = param_view(tensors[k, PARAM], n), grad_view(tensors[k, GRAD], n)
        w = acc_view(tensors[k, MASTER], n)
        m, v = acc_view(tensors[k, STATE0], n), acc_view(tensors[k, STATE1], n)
        vmax = acc_view(tensors[k, STATE2], n)
        bc2_sqrt, neg_step = scalars[k, 0], scalars[k, 1]
        for i in range(start + t, stop, cuda.blockDim.x):
            xi = w[i] if master else acc(x[i])
            gi = add(mul(acc(g[i]), sign), mul(wd, xi))
            xi = mul(xi, decay)
            mi = m[i]
            if lerp_hi:
                mi = sub(gi, mul(sub(gi, mi), wb))
            else:
                mi = add(mi, mul(w1, sub(gi, mi)))
            m[i] = mi
            vi = add(mul(v[i], beta2), mul(mul(w2, gi), gi))
            v[i] = vi
            if amsgrad:  # np.maximum: a NaN in either wins
                vm = vmax[i]
                if vm > vi or vm != vm:
                    vi = vm
                vmax[i] = vi
            xi = add(xi, mul(mi / add(acc(math.sqrt(vi)) / bc2_sqrt, eps), neg_step))
            if master:
                w[i] = xi
            x[i] = xi

    @cuda.jit
    def sgd(tensors, chunks, lr, wd, sign, has_buf, momentum, keep, nesterov):
        # tensors[k] = (n, param, grad, master, momentum buffer, -, -, first step)
        c, t = cuda.blockIdx.x, cuda.threadIdx.x
        k, start, stop = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        n = tensors[k, N]
        x, g = param_view(tensors[k, PARAM], n), grad_view(tensors[k, GRAD], n)
        w, buf = acc_view(tensors[k, MASTER], n), acc_view(tensors[k, STATE0], n)
        first = tensors[k, FLAG] != 0
        for i in range(start + t, stop, cuda.blockDim.x):
            xi = w[i] if master else acc(x[i])
            gi = add(mul(acc(g[i]), sign), mul(wd, xi))
            if has_buf:
                if first:
                    b = gi
                else:
                    b = add(mul(buf[i], momentum), mul(keep, gi))
                buf[i] = b
                if nesterov:
                    gi = add(gi, mul(momentum, b))
                else:
                    gi = b
            xi = sub(xi, mul(lr, gi))
            if master:
                w[i] = xi
            x[i] = xi

    return {"adam": adam, "sgd": sgd}


def compile_targets():
    """{name: [(kernel, numba signature), ...]}: both kernels for every pair of PAIRS, for CI
    to compile for the targets (cuda_kernels.KERNEL_MODULES lists this module)."""
    from numba import types

    out = {}
    for pd, gd in PAIRS:
        a = types.float64 if pd == np.float64 else types.float32
        table = types.int64[:, ::1]
        b = types.boolean
        sigs = {"multi_tensor_adam": (table, table, a[:, ::1], a, a, a, a, a, b, a, a, a, b),
                "multi_tensor_sgd": (table, table, a, a, a, b, a, a, b)}
        built = kernels(pd, gd)
        out.setdefault("multi_tensor_adam", []).append((built["adam"],
                                                        sigs["multi_tensor_adam"]))
        out.setdefault("multi_tensor_sgd", []).append((built["sgd"], sigs["multi_tensor_sgd"]))
    return out


# ---------------------------------------------------------------- host wrappers


def _address(a):
    """The device address of an array's first element (0 for None). Under the simulator the
    kernels may also take NumPy arrays, whose address is host memory as well."""
    if a is None:
        return 0
    desc = getattr(a, "__cuda_array_interface__", None) or a.__array_interface__
    return desc["data"][0]


def _describe(a):
    return f"{tuple(a.shape)} {a.dtype}"


def _check(name, params, grads, masters, states):
    """The lists line up, and every tensor is what the kernels take (see `fits`): one
    (param dtype, grad dtype) pair of PAIRS for the whole call, an fp32 master copy exactly
    for float16 parameters, state of the compute dtype, shapes alike, C-contiguous arrays of
    one device (CUDA arrays, or NumPy ones in the simulator). `states` maps each state's name
    to its list (or None when that state is off)."""
    lists = {"grad": grads, "master": masters, **states}
    for what, arrays in lists.items():
        if arrays is not None and len(arrays) != len(params):
            raise ValueError(f"{name}: {len(params)} parameters but {len(arrays)} {what}s")
    if not params:
        return
    pd, gd = params[0].dtype, grads[0].dtype
    if not any((pd, gd) == (np.dtype(p), np.dtype(g)) for p, g in PAIRS):
        raise TypeError(f"{name}: expected float16 (with float16 or float32 gradients), "
                        f"float32 or float64 parameters, got {pd} parameters with {gd} "
                        f"gradients")
    if (pd == np.float16) != (masters is not None):
        raise ValueError(f"{name}: float16 parameters need fp32 master copies (masters=), "
                         f"float32/float64 ones have none; got {pd} parameters and "
                         f"masters={'a list' if masters is not None else None}")
    if array_module(params[0]) is np and not _simulated():
        raise TypeError(f"{name}: expected CUDA arrays, got NumPy arrays")
    compute, device = _compute_dtype(pd), backend.device_of(params[0])
    for k, x in enumerate(params):
        wanted = [("param", x, pd)] + [(what, arrays[k], gd if what == "grad" else compute)
                                       for what, arrays in lists.items() if arrays is not None]
        for what, a, dtype in wanted:
            if tuple(a.shape) != tuple(x.shape) or a.dtype != dtype:
                raise ValueError(f"{name}: tensor {k}: {what} is {_describe(a)}, expected "
                                 f"{tuple(x.shape)} {np.dtype(dtype)} for a {_describe(x)} "
                                 f"parameter")
            if backend.device_of(a) != device:
                raise ValueError(f"{name}: tensor {k}: {what} is on {backend.device_of(a)}, "
                                 f"the first parameter on {device}")
            if not a.flags.c_contiguous:
                raise ValueError(f"{name}: tensor {k}: {what} {_describe(a)} is not "
                                 f"C-contiguous")


def _tables(xp, rows, chunk):
    """The per-tensor rows (lists of _COLUMNS ints) as an int64 (K, _COLUMNS) table and the
    (C, 3) chunk table (tensor, start, stop), uploaded together in one copy; returns both
    device tables and C."""
    tensors = np.array(rows, dtype=np.int64).reshape(-1, _COLUMNS)
    sizes = tensors[:, N]
    counts = -(-sizes // chunk)  # chunks per tensor, 0 for an empty one
    k = np.repeat(np.arange(len(sizes)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    start = (np.arange(int(counts.sum())) - first) * chunk
    chunks = np.stack([k, start, np.minimum(start + chunk, sizes[k])], axis=1)
    flat = xp.asarray(np.concatenate([tensors.reshape(-1), chunks.reshape(-1).astype(np.int64)]))
    cut = tensors.size
    return flat[:cut].reshape(tensors.shape), flat[cut:].reshape(-1, 3), len(chunks)


def _launch(name, dtypes, grid, threads, *args):
    """kernels(*dtypes)[name] on `grid` blocks of `threads` (nothing when grid is 0); in the
    simulator, on NumPy views of the device arrays (cuda_kernels._host_view)."""
    if grid:
        kernel = kernels(*dtypes)[name]
        kernel[grid, threads](*(map(_host_view, args) if _simulated() else args))


def _row(n, param, grad, master=None, s0=None, s1=None, s2=None, flag=0):
    """One tensor's row of the table (columns N ... FLAG); absent arrays have address 0."""
    return [n, _address(param), _address(grad), _address(master), _address(s0), _address(s1),
            _address(s2), int(flag)]


def adam(params, grads, exp_avgs, exp_avg_sqs, *, steps, lr, beta1, beta2, eps,
         weight_decay=0.0, decoupled=False, maximize=False, max_exp_avg_sqs=None,
         masters=None, threads=None, chunk=None):
    """One Adam step (AdamW's with `decoupled=True`) of every tensor of the lists, in place,
    in one launch; torch.optim.Adam's update, in the arithmetic of _fused.adam:

        g = ±grad + wd * p (L2);  p *= 1 - lr * wd (decoupled);  m = lerp(m, g, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g;  v = max(v_max, v) (amsgrad)
        p += m / (sqrt(v) / sqrt(1 - beta2^t) + eps) * -lr / (1 - beta1^t)

    `steps[k]` is tensor k's step count t (this step included). float16 parameters need
    `masters` (fp32 copies, updated and rounded back into the parameters); the state is
    float32 (float64 for float64 parameters). All arrays C-contiguous on one device.

    >>> adam([p.data for p in ps], [p.grad.data for p in ps], ms, vs, steps=[1] * len(ps),
    ...      lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    """
    name = "multi_tensor_adam"
    states = {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs,
              "max_exp_avg_sq": max_exp_avg_sqs}
    _check(name, params, grads, masters, states)
    if len(steps) != len(params):
        raise ValueError(f"{name}: {len(params)} parameters but {len(steps)} step counts")
    if not params:
        return
    f, xp = _acc(params[0].dtype), array_module(params[0])
    amsgrad = max_exp_avg_sqs is not None
    rows, scalars = [], []
    for k, x in enumerate(params):
        step_size, bc2_sqrt = _bias_corrections(steps[k], lr, beta1, beta2)
        rows.append(_row(x.size, x, grads[k], None if masters is None else masters[k],
                         exp_avgs[k], exp_avg_sqs[k],
                         max_exp_avg_sqs[k] if amsgrad else None))
        scalars.append((bc2_sqrt, -step_size))
    w1, wb, hi = _lerp_weights(beta1, f)
    with backend.device_scope(params[0]):
        tensors, chunks, grid = _tables(xp, rows, chunk or CHUNK)
        scalars = xp.asarray(np.array(scalars, dtype=f))
        _launch("adam", (params[0].dtype, grads[0].dtype), grid, threads or THREADS, tensors,
                chunks, scalars, f(1.0 - lr * weight_decay) if decoupled else f(1.0),
                f(0.0) if decoupled else f(weight_decay), f(-1.0 if maximize else 1.0), w1,
                wb, hi, f(beta2), f(1.0 - beta2), f(eps), amsgrad)


def sgd(params, grads, momentum_buffers=None, *, first, lr, momentum=0.0, dampening=0.0,
        weight_decay=0.0, nesterov=False, maximize=False, masters=None, threads=None,
        chunk=None):
    """One SGD step of every tensor of the lists, in place, in one launch; torch.optim.SGD's
    update, in the arithmetic of _fused.sgd:

        g = ±grad + wd * p;  b = g (first step) or momentum * b + (1 - dampening) * g
        p -= lr * (g + momentum * b if nesterov else b)

    `momentum_buffers` is None without momentum; `first[k]` says tensor k's buffer is new
    (this step sets it to g). float16 parameters need `masters`, as in `adam`.
    """
    name = "multi_tensor_sgd"
    _check(name, params, grads, masters, {"momentum_buffer": momentum_buffers})
    if len(first) != len(params):
        raise ValueError(f"{name}: {len(params)} parameters but {len(first)} first flags")
    if not params:
        return
    f, xp = _acc(params[0].dtype), array_module(params[0])
    has_buf = momentum_buffers is not None
    rows = [_row(x.size, x, grads[k], None if masters is None else masters[k],
                 momentum_buffers[k] if has_buf else None, flag=first[k])
            for k, x in enumerate(params)]
    with backend.device_scope(params[0]):
        tensors, chunks, grid = _tables(xp, rows, chunk or CHUNK)
        _launch("sgd", (params[0].dtype, grads[0].dtype), grid, threads or THREADS, tensors,
                chunks, f(lr), f(weight_decay), f(-1.0 if maximize else 1.0), has_buf,
                f(momentum), f(1.0 - dampening), nesterov)
