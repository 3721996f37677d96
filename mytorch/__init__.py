"""mytorch: a deep-learning framework with PyTorch's API on NumPy (CPU) and CuPy (CUDA)."""
from mytorch import cuda
from mytorch.autograd import grad_mode as _grad_mode
from mytorch.autograd.grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                                        set_grad_enabled)
from mytorch.backend import device
from mytorch.dtypes import (bfloat16, bool, double, finfo, float, float16, float32, float64,
                            get_default_dtype, half, iinfo, int, int8, int16, int32, int64, long,
                            set_default_dtype, uint8)
from mytorch.random import (Generator, get_rng_state, initial_seed, manual_seed, seed,
                            set_rng_state)
from mytorch.tensor import (arctan2, atan2, float_power, floor_divide, fmod, lerp,
                            remainder, set_printoptions)
from mytorch.tensor import (Tensor, bmm, cat, chunk, concat, concatenate, gather, index_select,
                            matmul, maximum, minimum, mm, nonzero, one_hot, outer, pow,
                            scatter_add, split, stack, where)
from mytorch.ops.shape import (broadcast_shapes, broadcast_tensors, broadcast_to, diag,
                               diag_embed, diagonal, hstack, meshgrid, moveaxis, movedim,
                               repeat_interleave, roll, rot90, row_stack, select, swapaxes,
                               swapdims, tile, trace, unbind, vstack)
from mytorch.ops.index import (argwhere, bincount, bucketize, histc, index_add, index_fill,
                               masked_scatter, masked_select, scatter, searchsorted,
                               take_along_dim, unique)
from mytorch.ops.linalg import addmm, baddbmm, cdist, cross, dot, einsum
from mytorch.creation import bernoulli, logspace, multinomial, normal
from mytorch.creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full,
                              full_like, linspace, ones, ones_like, rand, rand_like, randint,
                              randint_like, randn, randn_like, randperm, tensor, zeros,
                              zeros_like)
from mytorch import autograd  # noqa: E402

__version__ = "0.1.0"


def _method(name):
    def fn(x, *args, **kwargs):
        return getattr(x, name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"Functional form of `Tensor.{name}`."
    return fn


# Functional forms of Tensor methods: mytorch.exp(x), mytorch.sum(x, dim=1), ...
for _name in ("add sub mul div neg abs sqrt rsqrt exp log log1p sin cos tanh sigmoid relu clamp "
              "clip sum mean var std max min amax amin argmax argmin prod logsumexp norm reshape "
              "flatten unflatten squeeze unsqueeze transpose permute t tril triu masked_fill "
              "softmax log_softmax isnan isinf isfinite sign floor ceil round clone detach "
              "numel eq ne lt le gt ge equal allclose any all square reciprocal narrow flip cumsum "
              "sort argsort topk isclose logical_not logical_and logical_or logical_xor "
              "erf erfc erfinv log2 log10 exp2 expm1 tan asin acos atan arcsin arccos arctan "
              "sinh cosh trunc fix frac nan_to_num exp_ sqrt_ log_ abs_ neg_ sigmoid_ tanh_ relu_ "
              "cumprod cummax cummin median kthvalue mode count_nonzero nansum nanmean").split():
    globals()[_name] = _method(_name)
del _name


def is_tensor(x):
    return isinstance(x, Tensor)


def numel(x):
    return x.numel()


def save(obj, path):
    """Save a state dict (nested dicts of tensors and plain values): PyTorch's format for
    .pt/.pth/.bin names, safetensors otherwise; see mytorch.serialization."""
    from mytorch import serialization
    return serialization.save(obj, path)


def load(path, map_location=None, *, weights_only=True):
    """Load what `save` or torch.save wrote (always weights-only); see mytorch.serialization."""
    from mytorch import serialization
    return serialization.load(path, map_location=map_location, weights_only=weights_only)

# Subpackages, so `import mytorch` alone gives mytorch.nn, mytorch.optim, mytorch.utils.data.
from mytorch import nn, optim, utils  # noqa: E402
from mytorch import linalg  # noqa: E402
from mytorch import distributions  # noqa: E402
from mytorch import distributed  # noqa: E402
import mytorch.utils.data  # noqa: E402,F401
from mytorch import accelerator, amp, backends, compiler  # noqa: E402
from mytorch.amp import autocast  # noqa: E402
from mytorch.compiler import compile  # noqa: E402


# PyTorch's other spellings and the long tail scripts use (see scripts/api_coverage.py)
from mytorch.amp import GradScaler, is_autocast_enabled  # noqa: E402
from mytorch.autograd.grad_mode import is_anomaly_enabled  # noqa: E402,F401
from mytorch.random import default_generator  # noqa: E402
from mytorch.settings import (are_deterministic_algorithms_enabled, get_num_threads,  # noqa: E402
                              is_deterministic_algorithms_warn_only_enabled, set_num_threads,
                              use_deterministic_algorithms)
from mytorch.tensor_aliases import (Size, absolute, addcdiv, addcmul, asarray,  # noqa: E402
                                    clamp_max, clamp_min, div, divide, dtype, e, greater,
                                    greater_equal, inf, inner, is_floating_point, is_nonzero,
                                    less, less_equal, multiply, mv, nan, negative, newaxis,
                                    not_equal, pi, ravel, sgn, std_mean, subtract, tensordot,
                                    tril_indices, triu_indices, true_divide, var_mean)

def set_float32_matmul_precision(precision):
    """"highest" (full float32, the default) or "high"/"medium" (TF32 allowed on CUDA): sets
    `backends.cuda.matmul.allow_tf32`, as torch."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or "
                         f"'medium', got {precision!r}")
    backends.cuda.matmul.allow_tf32 = precision != "highest"


def get_float32_matmul_precision():
    return "high" if backends.cuda.matmul.allow_tf32 else "highest"
