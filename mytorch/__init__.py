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
from mytorch.printing import set_printoptions
from mytorch.tensor import Tensor
from mytorch.ops.elementwise import (arctan2, atan2, float_power, floor_divide, fmod, lerp,
                                     maximum, minimum, pow, remainder, where)
from mytorch.ops.index import gather, index_select, nonzero, one_hot, scatter_add
from mytorch.ops.linalg import bmm, matmul, mm, outer
from mytorch.ops.shape import cat, chunk, concat, concatenate, split, stack
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

# Functional forms of Tensor methods: mytorch.exp(x) is x.exp(), mytorch.sum(x, dim=1) is
# x.sum(dim=1).
abs = Tensor.abs
abs_ = Tensor.abs_
acos = Tensor.acos
add = Tensor.add
all = Tensor.all
allclose = Tensor.allclose
amax = Tensor.amax
amin = Tensor.amin
any = Tensor.any
arccos = Tensor.arccos
arcsin = Tensor.arcsin
arctan = Tensor.arctan
argmax = Tensor.argmax
argmin = Tensor.argmin
argsort = Tensor.argsort
asin = Tensor.asin
atan = Tensor.atan
ceil = Tensor.ceil
clamp = Tensor.clamp
clip = Tensor.clip
clone = Tensor.clone
cos = Tensor.cos
cosh = Tensor.cosh
count_nonzero = Tensor.count_nonzero
cummax = Tensor.cummax
cummin = Tensor.cummin
cumprod = Tensor.cumprod
cumsum = Tensor.cumsum
detach = Tensor.detach
eq = Tensor.eq
equal = Tensor.equal
erf = Tensor.erf
erfc = Tensor.erfc
erfinv = Tensor.erfinv
exp = Tensor.exp
exp2 = Tensor.exp2
exp_ = Tensor.exp_
expm1 = Tensor.expm1
fix = Tensor.fix
flatten = Tensor.flatten
flip = Tensor.flip
floor = Tensor.floor
frac = Tensor.frac
ge = Tensor.ge
gt = Tensor.gt
isclose = Tensor.isclose
isfinite = Tensor.isfinite
isinf = Tensor.isinf
isnan = Tensor.isnan
kthvalue = Tensor.kthvalue
le = Tensor.le
log = Tensor.log
log10 = Tensor.log10
log1p = Tensor.log1p
log2 = Tensor.log2
log_ = Tensor.log_
log_softmax = Tensor.log_softmax
logical_and = Tensor.logical_and
logical_not = Tensor.logical_not
logical_or = Tensor.logical_or
logical_xor = Tensor.logical_xor
logsumexp = Tensor.logsumexp
lt = Tensor.lt
masked_fill = Tensor.masked_fill
max = Tensor.max
mean = Tensor.mean
median = Tensor.median
min = Tensor.min
mode = Tensor.mode
mul = Tensor.mul
nan_to_num = Tensor.nan_to_num
nanmean = Tensor.nanmean
nansum = Tensor.nansum
narrow = Tensor.narrow
ne = Tensor.ne
neg = Tensor.neg
neg_ = Tensor.neg_
norm = Tensor.norm
permute = Tensor.permute
prod = Tensor.prod
reciprocal = Tensor.reciprocal
relu = Tensor.relu
relu_ = Tensor.relu_
reshape = Tensor.reshape
round = Tensor.round
rsqrt = Tensor.rsqrt
sigmoid = Tensor.sigmoid
sigmoid_ = Tensor.sigmoid_
sign = Tensor.sign
sin = Tensor.sin
sinh = Tensor.sinh
softmax = Tensor.softmax
sort = Tensor.sort
sqrt = Tensor.sqrt
sqrt_ = Tensor.sqrt_
square = Tensor.square
squeeze = Tensor.squeeze
std = Tensor.std
sub = Tensor.sub
sum = Tensor.sum
t = Tensor.t
tan = Tensor.tan
tanh = Tensor.tanh
tanh_ = Tensor.tanh_
topk = Tensor.topk
transpose = Tensor.transpose
tril = Tensor.tril
triu = Tensor.triu
trunc = Tensor.trunc
unflatten = Tensor.unflatten
unsqueeze = Tensor.unsqueeze
var = Tensor.var


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
