"""Autocast: inside `autocast(device_type, dtype)`, listed ops cast their floating inputs.

As torch's op lists: ops in `LOWER_PRECISION` run in the autocast dtype (matmuls,
convolutions, attention), ops in `FP32` run in float32 (losses, and on CUDA the
softmax/normalization family), ops in `PROMOTE` run in the widest input dtype (cat, stack);
every other op runs in its inputs' dtype. float64 tensors are never cast down. The state is
per thread and per device type, so `autocast("cpu")` leaves CUDA tensors alone.
"""
import functools
import threading

import numpy as np

from mytorch import dtypes

# torch's CPU autocast lists (aten/src/ATen/autocast_mode.cpp), for the ops mytorch has
_MATMULS = {"linear", "matmul", "mm", "bmm", "addmm", "baddbmm", "addbmm", "einsum", "tensordot",
            "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
            "conv_transpose3d", "prelu", "scaled_dot_product_attention"}
_LOSSES = {"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "cosine_embedding_loss", "triplet_margin_loss", "poisson_nll_loss",
           "multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "cdist"}
# (on CUDA torch lists einsum/tensordot elsewhere, but they reach its matmuls and come out
# in float16 all the same)
LOWER_PRECISION = {"cpu": frozenset(_MATMULS), "cuda": frozenset(_MATMULS)}
FP32 = {"cpu": frozenset(_LOSSES),
        "cuda": frozenset(_LOSSES | {"softmax", "log_softmax", "softmin", "layer_norm",
                                     "group_norm", "softplus", "normalize",
                                     "cosine_similarity"})}
PROMOTE = {"cpu": frozenset({"cat", "stack"}),
           "cuda": frozenset({"cat", "stack", "atan2", "cross", "dot"})}
DEFAULT_DTYPE = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}


class _State(threading.local):
    cpu = None   # the dtype autocast casts to on this device type; None while off
    cuda = None


_state = _State()


def is_autocast_available(device_type):
    return device_type in DEFAULT_DTYPE


def get_autocast_dtype(device_type):
    """The dtype `autocast(device_type)` would use now (its default when off)."""
    return getattr(_state, device_type) or DEFAULT_DTYPE[device_type]


def is_autocast_enabled(device_type="cuda"):
    return getattr(_state, device_type, None) is not None


def cast(op, *args):
    """`args` as autocast wants them for `op` (a name from the lists above): unchanged while
    autocast is off, for unlisted ops and for non-floating or float64 tensors."""
    if _state.cpu is None and _state.cuda is None:  # the hot path: one check
        return args
    from mytorch.tensor import Tensor
    dev = next((a.device.type for a in args if isinstance(a, Tensor)), None)
    target = getattr(_state, dev, None) if dev else None
    if target is None:
        return args
    if op in LOWER_PRECISION[dev]:
        to = target
    elif op in FP32[dev]:
        to = dtypes.float32
    elif op in PROMOTE[dev]:
        floats = [a.dtype for a in args if isinstance(a, Tensor) and dtypes.is_floating(a.dtype)]
        to = functools.reduce(dtypes.promote_floats, floats) if floats else None
    else:
        return args
    if to is None:
        return args
    return tuple(a.to(to) if isinstance(a, Tensor) and dtypes.is_floating(a.dtype)
                 and a.dtype != np.float64 and a.dtype != to else a for a in args)


def low_precision_op(name):
    """Decorator for the matmul-like functions NumPy has no bfloat16 kernels for (convolution,
    attention, einsum): autocast casts their tensor arguments as `cast(name, ...)`, and a
    bfloat16 call computes in float32 and gives bfloat16 back, as torch's dtype."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from mytorch.tensor import Tensor
            if _state.cpu is not None or _state.cuda is not None:
                keys = list(kwargs)
                cast_all = cast(name, *args, *kwargs.values())
                args, kwargs = cast_all[:len(args)], dict(zip(keys, cast_all[len(args):]))
            if not any(isinstance(a, Tensor) and a.dtype == dtypes.bfloat16 for a in args):
                return fn(*args, **kwargs)
            up = [a.float() if isinstance(a, Tensor) and a.dtype == dtypes.bfloat16 else a
                  for a in args]
            upk = {k: v.float() if isinstance(v, Tensor) and v.dtype == dtypes.bfloat16 else v
                   for k, v in kwargs.items()}
            out = fn(*up, **upk)
            if isinstance(out, tuple):
                return tuple(o.to(dtypes.bfloat16) if isinstance(o, Tensor) and
                             o.dtype == np.float32 else o for o in out)
            return out.to(dtypes.bfloat16)
        return wrapper
    return decorate


class autocast:
    """Context manager and decorator: listed ops run in `dtype` on `device_type` tensors.

    `dtype` defaults to bfloat16 on "cpu" and float16 on "cuda", as torch; `enabled=False`
    changes nothing (it also turns an enclosing autocast off, as torch).

    >>> with mytorch.autocast("cpu", dtype=mytorch.bfloat16):
    ...     y = model(x)          # Linear/conv outputs are bfloat16, losses float32
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str) or device_type.split(":")[0] not in DEFAULT_DTYPE:
            raise RuntimeError(f"autocast: device_type must be 'cpu' or 'cuda', got "
                               f"{device_type!r}")
        self.device = device_type.split(":")[0]
        self.fast_dtype = dtypes.as_dtype(dtype) if dtype is not None else \
            DEFAULT_DTYPE[self.device]
        if self.fast_dtype not in (dtypes.float16, dtypes.bfloat16):
            raise RuntimeError(f"autocast: dtype must be float16 or bfloat16 on "
                               f"{self.device}, got {self.fast_dtype}")
        self._enabled = bool(enabled)

    def __enter__(self):
        self._prev = getattr(_state, self.device)
        setattr(_state, self.device, self.fast_dtype if self._enabled else None)
        # fp16 overflow to inf is expected here (GradScaler skips such steps); torch is silent
        self._quiet = np.errstate(over="ignore", invalid="ignore") if self._enabled else None
        if self._quiet is not None:
            self._quiet.__enter__()
        return self

    def __exit__(self, *exc):
        setattr(_state, self.device, self._prev)
        if self._quiet is not None:
            self._quiet.__exit__(*exc)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return fn(*args, **kwargs)
        return wrapper
