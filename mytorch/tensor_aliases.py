"""PyTorch's other spellings of Tensor methods: aliases, in-place forms and small composites.

Each is defined by the primary method it names, so it inherits that method's dtype rules,
errors and gradient; `Tensor` inherits them from `TensorAliases`.
"""
import math

import numpy as np

from mytorch import backend, dtypes


class TensorAliases:
    __slots__ = ()

    # ---- aliases

    def absolute(self):
        return self.abs()

    def negative(self):
        return self.neg()

    def positive(self):
        return self

    def sgn(self):
        return self.sign()

    def multiply(self, other):
        return self.mul(other)

    def subtract(self, other, alpha=1):
        return self.sub(other, alpha=alpha)

    def divide(self, other, rounding_mode=None):
        if rounding_mode is None:
            return self.div(other)
        if rounding_mode == "floor":
            return self.floor_divide(other)
        if rounding_mode == "trunc":
            q = self / other
            return q.trunc().to(q.dtype if dtypes.is_floating(self.dtype) else self.dtype)
        raise ValueError(f"divide: rounding_mode must be None, 'floor' or 'trunc', got "
                         f"{rounding_mode!r}")

    def true_divide(self, other):
        return self.div(other)

    def greater(self, other):
        return self > other

    def greater_equal(self, other):
        return self >= other

    def less(self, other):
        return self < other

    def less_equal(self, other):
        return self <= other

    def not_equal(self, other):
        return self != other

    def ravel(self):
        return self.reshape(-1)

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def byte(self):
        return self.to(dtypes.uint8)

    def char(self):
        return self.to(dtypes.int8)

    def short(self):
        return self.to(dtypes.int16)

    def split_with_sizes(self, split_sizes, dim=0):
        return self.split(list(split_sizes), dim)

    def inner(self, other):
        """Sum over the last dims of both: (*a, n) x (*b, n) -> (*a, *b)."""
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        return (self.reshape(*self.shape[:-1], *(1,) * (other.ndim - 1), self.shape[-1])
                * other).sum(-1)

    def mv(self, vec):
        if self.ndim != 2 or vec.ndim != 1:
            raise RuntimeError(f"mv: expected a matrix and a vector, got shapes "
                               f"{tuple(self.shape)} and {tuple(vec.shape)}")
        return self @ vec

    # ---- small composites

    def addcmul(self, tensor1, tensor2, *, value=1):
        """self + value * tensor1 * tensor2."""
        return self + value * tensor1 * tensor2

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """self + value * tensor1 / tensor2."""
        return self + value * tensor1 / tensor2

    def is_nonzero(self):
        if self.numel() != 1:
            raise RuntimeError(f"is_nonzero: a tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def is_signed(self):
        return self.dtype.kind != "u" and self.dtype.kind != "b"

    def is_same_size(self, other):
        return tuple(self.shape) == tuple(other.shape)

    def is_inference(self):
        return False

    # ---- devices and memory

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    def get_device(self):
        """The GPU index, or -1 on the CPU (as torch)."""
        return -1 if self.device.type == "cpu" else self.device.index

    def pin_memory(self, device=None):
        """Itself: host arrays are copied to the GPU from pageable memory (CuPy), so there is
        nothing to pin; `non_blocking=True` copies are synchronous."""
        if self.device.type != "cpu":
            raise RuntimeError(f"pin_memory: cannot pin a tensor on {self.device}; only CPU "
                               f"tensors can be pinned")
        return self

    def is_pinned(self, device=None):
        return False

    def storage_offset(self):
        """Offset, in elements, of this tensor's first element in the memory it views."""
        data = self.data
        base = data
        while getattr(base, "base", None) is not None and type(base.base) is type(data):
            base = base.base
        return (self.data_ptr() - _ptr(base)) // data.itemsize if base is not data else 0

    # ---- in place: computed by the out-of-place method, then written back

    def lerp_(self, end, weight):
        return self._unary_(self.lerp(end, weight), "lerp_")

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return self._unary_(self.addcmul(tensor1, tensor2, value=value), "addcmul_")

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return self._unary_(self.addcdiv(tensor1, tensor2, value=value), "addcdiv_")

    def clamp_min_(self, min):
        return self.clamp_(min=min)

    def clamp_max_(self, max):
        return self.clamp_(max=max)

    def clip_(self, min=None, max=None):
        return self.clamp_(min, max)

    def pow_(self, exponent):
        return self._unary_(self.pow(exponent), "pow_")

    def floor_(self):
        return self._unary_(self.floor(), "floor_")

    def ceil_(self):
        return self._unary_(self.ceil(), "ceil_")

    def round_(self, decimals=0):
        return self._unary_(self.round(decimals=decimals), "round_")

    def trunc_(self):
        return self._unary_(self.trunc(), "trunc_")

    def sign_(self):
        return self._unary_(self.sign(), "sign_")

    def square_(self):
        return self._unary_(self.square(), "square_")

    def reciprocal_(self):
        return self._unary_(self.reciprocal(), "reciprocal_")

    def rsqrt_(self):
        return self._unary_(self.rsqrt(), "rsqrt_")

    def sin_(self):
        return self._unary_(self.sin(), "sin_")

    def cos_(self):
        return self._unary_(self.cos(), "cos_")

    def tan_(self):
        return self._unary_(self.tan(), "tan_")

    def log1p_(self):
        return self._unary_(self.log1p(), "log1p_")

    def log2_(self):
        return self._unary_(self.log2(), "log2_")

    def log10_(self):
        return self._unary_(self.log10(), "log10_")

    def expm1_(self):
        return self._unary_(self.expm1(), "expm1_")

    def erf_(self):
        return self._unary_(self.erf(), "erf_")

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return self._unary_(self.nan_to_num(nan, posinf, neginf), "nan_to_num_")

    def unsqueeze_(self, dim):
        self._rebind_shape(self.unsqueeze(dim))
        return self

    def squeeze_(self, dim=None):
        self._rebind_shape(self.squeeze(dim))
        return self

    def transpose_(self, dim0, dim1):
        self._rebind_shape(self.transpose(dim0, dim1))
        return self

    def t_(self):
        self._rebind_shape(self.t())
        return self

    def _rebind_shape(self, out):
        # an in-place change of shape: this tensor becomes the (differentiable) view
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation")
        self._rebind(out)

    # ---- random fills (drawn in float64, then cast, so every float dtype works)

    def log_normal_(self, mean=1.0, std=2.0, generator=None):
        rng = _rng(self, generator)
        return self._fill_random(backend.array_module(self.data).exp(
            rng.standard_normal(self.shape) * std + mean), "log_normal_")

    def cauchy_(self, median=0.0, sigma=1.0, generator=None):
        rng = _rng(self, generator)
        xp = backend.array_module(self.data)
        return self._fill_random(median + sigma * xp.tan(xp.pi * (rng.random(self.shape) - 0.5)),
                                 "cauchy_")

    def geometric_(self, p, generator=None):
        if not 0 < p < 1:
            raise RuntimeError(f"geometric_: p must be in (0, 1), got {p}")
        rng = _rng(self, generator)
        xp = backend.array_module(self.data)
        return self._fill_random(xp.ceil(xp.log1p(-rng.random(self.shape)) / xp.log1p(-p)),
                                 "geometric_")


def _rng(t, generator):
    from mytorch import random
    return random.generator_for(t.device, generator)


def _ptr(arr):
    return arr.__array_interface__["data"][0] if hasattr(arr, "__array_interface__") \
        else arr.data.ptr


# ---- top-level functions (mytorch.addcmul, mytorch.std_mean, ...)

def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    return input.addcmul(tensor1, tensor2, value=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2."""
    return input.addcdiv(tensor1, tensor2, value=value)


def tensordot(a, b, dims=2):
    """Sum over the last `dims` dims of a and the first of b (or the dims in `dims`, a pair of
    lists) -> a's remaining dims then b's."""
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    da, db = [d % a.ndim for d in da], [d % b.ndim for d in db]
    keep_a = [d for d in range(a.ndim) if d not in da]
    keep_b = [d for d in range(b.ndim) if d not in db]
    k = 1
    for d in da:
        k *= a.shape[d]
    a2 = a.permute(*keep_a, *da).reshape(-1, k)
    b2 = b.permute(*db, *keep_b).reshape(k, -1)
    return (a2 @ b2).reshape(*(a.shape[d] for d in keep_a), *(b.shape[d] for d in keep_b))


def std_mean(input, dim=None, *, correction=1, keepdim=False):
    """(std, mean) over `dim`."""
    return (input.std(dim, correction=correction, keepdim=keepdim),
            input.mean(dim, keepdim=keepdim) if dim is not None else input.mean())


def var_mean(input, dim=None, *, correction=1, keepdim=False):
    """(var, mean) over `dim`."""
    return (input.var(dim, correction=correction, keepdim=keepdim),
            input.mean(dim, keepdim=keepdim) if dim is not None else input.mean())


def _tri_indices(row, col, offset, lower, dtype):
    import numpy as np

    from mytorch.tensor import Tensor
    r, c = np.tril_indices(row, offset, col) if lower else np.triu_indices(row, offset, col)
    return Tensor(np.stack([r, c]), dtype=dtype)


def tril_indices(row, col, offset=0, *, dtype=dtypes.int64, device="cpu"):
    """Indices (2, N) of the lower triangle of a row x col matrix, row by row."""
    return _tri_indices(row, col, offset, True, dtype).to(device)


def triu_indices(row, col, offset=0, *, dtype=dtypes.int64, device="cpu"):
    """Indices (2, N) of the upper triangle of a row x col matrix, row by row."""
    return _tri_indices(row, col, offset, False, dtype).to(device)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """A tensor sharing obj's memory when it can (a tensor or array of the right dtype and
    device), else a copy; copy=True always copies."""
    from mytorch.creation import tensor
    from mytorch.tensor import Tensor
    if isinstance(obj, Tensor) and not copy:
        out = obj.to(device=device, dtype=dtype) if (device or dtype) else obj
    elif backend.is_array(obj) and not copy:
        out = Tensor(obj, dtype=dtype, device=device)
    else:
        out = tensor(obj, dtype=dtype, device=device)
    return out.requires_grad_() if requires_grad else out


# ---- top-level names and aliases

inf, nan, pi, e, newaxis = math.inf, math.nan, math.pi, math.e, None
dtype = np.dtype  # mytorch's dtypes are NumPy dtypes: isinstance(x.dtype, mytorch.dtype)
Size = tuple  # shapes are plain tuples


def is_floating_point(input):
    return input.is_floating_point()


def is_nonzero(input):
    return input.is_nonzero()


def absolute(input):
    return input.abs()


def negative(input):
    return input.neg()


def sgn(input):
    return input.sign()


def multiply(input, other):
    return input * other


def subtract(input, other, *, alpha=1):
    return input.sub(other, alpha=alpha)


def divide(input, other, *, rounding_mode=None):
    return input.divide(other, rounding_mode=rounding_mode)


true_divide = div = divide


def greater(input, other):
    return input > other


def greater_equal(input, other):
    return input >= other


def less(input, other):
    return input < other


def less_equal(input, other):
    return input <= other


def not_equal(input, other):
    return input != other


def ravel(input):
    return input.reshape(-1)


def inner(input, other):
    return input.inner(other)


def mv(input, vec):
    return input.mv(vec)


def clamp_min(input, min):
    return input.clamp(min=min)


def clamp_max(input, max):
    return input.clamp(max=max)
