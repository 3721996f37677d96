"""Activations: elementwise nonlinearities, their in-place spellings, and the softmax family.

Layers with two paths take `auto=`: `auto=False` (default) runs the hand-written Function in
mytorch.ops; `auto=True` composes Tensor ops and lets autograd differentiate.
"""
import math
import warnings

from mytorch import random as _random
from mytorch.amp import autocast_mode as _amp
from mytorch.backend import array_module
from mytorch.nn.functional._util import check_float, dim_of, maybe_inplace, mytorch_where
from mytorch.ops import elementwise as E
from mytorch.ops import nn as N
from mytorch.tensor import Tensor

__all__ = ["bias_gelu", "celu", "elu", "elu_", "gelu", "glu", "gumbel_softmax", "hardshrink",
           "hardsigmoid", "hardswish", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_",
           "log_softmax", "logsigmoid", "mish", "prelu", "relu", "relu6", "relu_", "selu",
           "sigmoid", "silu", "softmax", "softmin", "softplus", "softshrink", "softsign", "tanh",
           "tanhshrink", "threshold"]


def relu(input, inplace=False, auto=False):
    if auto:
        out = input * Tensor._wrap((input.data > 0).astype(input.dtype))
    else:
        out = E.Relu.apply(input)
    return maybe_inplace(input, out, inplace)


def relu_(input):
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    """min(max(0, x), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def sigmoid(input, auto=False):
    if auto:
        return 1.0 / (1.0 + (-input).exp())
    return E.Sigmoid.apply(input)


def tanh(input, auto=False):
    if auto:
        return 2.0 / (1.0 + (input * -2.0).exp()) - 1.0
    return E.Tanh.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False, auto=False):
    if auto:
        out = mytorch_where(input.data > 0, input, input * negative_slope)
    else:
        out = N.LeakyRelu.apply(input, negative_slope)
    return maybe_inplace(input, out, inplace)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def silu(input, inplace=False, auto=False):
    if auto:
        out = input * sigmoid(input, auto=True)
    else:
        out = N.Silu.apply(input)
    return maybe_inplace(input, out, inplace)


def _erfc_nonneg(a):
    """Autograd-visible erfc for a >= 0, the same fit as mytorch.ops.nn.erfc_nonneg."""
    t = 1.0 / (a * 0.5 + 1.0)
    p = t * N.ERFC_COEFFS[0]
    for c in N.ERFC_COEFFS[1:-1]:
        p = (p + c) * t
    p = p + N.ERFC_COEFFS[-1] - a * a
    return t * p.exp()


def gelu(input, approximate="none", auto=False):
    """GELU: x * Phi(x) (approximate='none', erf-exact to float precision) or the tanh form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    check_float(input, "gelu")
    if approximate == "tanh":
        if auto:
            u = (input + input * input * input * N.GELU_C) * N.SQRT_2_PI
            return input * 0.5 * (u.tanh() + 1.0)
        return N.GeluTanh.apply(input)
    if auto:
        h = _erfc_nonneg(input.abs() * N.SQRT1_2) * 0.5
        return input * mytorch_where(input.data < 0, h, 1.0 - h)
    return N.Gelu.apply(input)


def bias_gelu(input, bias, approximate="none"):
    """GELU(input + bias) for input (..., N) and bias (N,): mytorch's fused form of
    `F.gelu(input + bias)` (torch has no such function; the two give the same values). On CUDA
    float tensors (mytorch.ops.cuda_kernels.bias_gelu_*) and on CPU float32 tensors with
    approximate="tanh" (a numba loop) it is one kernel each way that never stores
    input + bias and sums the bias gradient in the same pass; elsewhere, or on CUDA with
    MYTORCH_FUSED=0, it is exactly `gelu(input + bias, approximate)`. The zoo's GPT-2 MLP uses
    it after a bias-free Linear."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"bias_gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    check_float(input, "bias_gelu")
    if bias.dim() != 1 or input.dim() < 1 or bias.shape[0] != input.shape[-1]:
        raise ValueError(f"bias_gelu: expected input (..., N) and bias (N,), got "
                         f"{tuple(input.shape)} and {tuple(bias.shape)}")
    if input.device != bias.device:
        raise RuntimeError(f"bias_gelu: input is on {input.device} but bias is on {bias.device}")
    if N.BiasGelu.fits(input.data, bias.data, approximate) and input.numel() > 0:
        return N.BiasGelu.apply(input, bias, approximate)
    return gelu(input + bias, approximate)


def _clip_strict(x, lo, hi):
    """min(max(x, lo), hi) whose gradient is zero at the bounds too (PyTorch's hardtanh)."""
    inside = (x.data > lo) & (x.data < hi)
    return mytorch_where(inside, x, x.detach().clamp(lo, hi))


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    check_float(input, "elu")
    out = _elu(input, alpha, 1.0)
    return maybe_inplace(input, out, inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def _elu(x, alpha, input_scale):
    # exp of the non-positive part only, so large x cannot overflow into the unused branch
    neg = ((x.clamp(max=0.0) * input_scale).exp() - 1.0) * alpha
    return mytorch_where(x.data > 0, x, neg)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    check_float(input, "celu")
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return maybe_inplace(input, _elu(input, alpha, 1.0 / alpha), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717


_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    check_float(input, "selu")
    return maybe_inplace(input, _elu(input, _SELU_ALPHA, 1.0) * _SELU_SCALE, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold."""
    (input,) = _amp.cast("softplus", input)
    check_float(input, "softplus")
    return N.Softplus.apply(input, float(beta), float(threshold))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val]; zero gradient outside (and on) the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    check_float(input, "hardtanh")
    return maybe_inplace(input, _clip_strict(input, min_val, max_val), inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def hardsigmoid(input, inplace=False):
    """min(max(x + 3, 0), 6) / 6."""
    check_float(input, "hardsigmoid")
    return maybe_inplace(input, _clip_strict(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(input, inplace=False):
    """x * min(max(x + 3, 0), 6) / 6."""
    check_float(input, "hardswish")
    return maybe_inplace(input, input * _clip_strict(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return maybe_inplace(input, input * softplus(input).tanh(), inplace)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    check_float(input, "logsigmoid")
    return -N.Softplus.apply(-input, 1.0, math.inf)


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - input.tanh()


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    return (input - lambd) * (input > lambd) + (input + lambd) * (input < -lambd)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return input * (input.abs() > lambd)


def threshold(input, threshold, value, inplace=False):
    """input where input > threshold, else value."""
    out = mytorch_where(input.data > threshold, input, float(value))
    return maybe_inplace(input, out, inplace)


def glu(input, dim=-1):
    """Gated linear unit: split `input` in halves a, b along `dim`; a * sigmoid(b).

    >>> F.glu(x, -1).shape    # x (N, 2H) -> (N, H)
    """
    if input.ndim == 0:
        raise RuntimeError("glu: does not support scalars because halving size must be even")
    d = dim_of(input, dim, "glu")
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {d} is size "
                           f"{input.shape[d]} (input shape {tuple(input.shape)})")
    a, b = input.chunk(2, d)
    return a * b.sigmoid()


def prelu(input, weight):
    """x where x > 0, else weight * x; weight has 1 element or one per channel (dim 1)."""
    input, weight = _amp.cast("prelu", input, weight)
    c = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, c) or weight.ndim > 1:
        raise RuntimeError(f"prelu: weight of shape {tuple(weight.shape)} must have 1 element or "
                           f"{c} (the channels of input {tuple(input.shape)})")
    if weight.numel() == 1:
        w = weight.reshape((1,) * input.ndim)
    else:
        w = weight.reshape((c,) + (1,) * (input.ndim - 2))
    return mytorch_where(input.data > 0, input, w * input)


def _rows(name, function, composite, input, dim, dtype, auto):
    """The front softmax and log_softmax share: autocast, dtype, checks, 0-d and empty input."""
    (input,) = _amp.cast(name, input)
    if dim is None:
        dim = -1
    if dtype is not None:
        input = input.to(dtype)
    check_float(input, name)
    d = dim_of(input, dim, name)
    if input.ndim == 0:  # a 0-d input is its own 1-element row
        return _rows(name, function, composite, input.reshape(1), 0, None, auto).reshape(())
    if input.numel() == 0:  # nothing to normalize: an empty result linked to the input
        return input * 0
    if auto:
        return composite(input, d)
    return function.apply(input, d)


def _softmax_composite(input, d):
    e = (input - input.amax(d, keepdim=True).detach()).exp()
    return e / e.sum(d, keepdim=True)


def _log_softmax_composite(input, d):
    z = input - input.amax(d, keepdim=True).detach()
    return z - z.exp().sum(d, keepdim=True).log()


def softmax(input, dim=-1, dtype=None, auto=False):
    """exp(x) / sum(exp(x)) along `dim` (default: the last)."""
    return _rows("softmax", N.Softmax, _softmax_composite, input, dim, dtype, auto)


def log_softmax(input, dim=-1, dtype=None, auto=False):
    """log(softmax(x)) along `dim`, computed without forming softmax."""
    return _rows("log_softmax", N.LogSoftmax, _log_softmax_composite, input, dim, dtype, auto)


def _implicit_softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along `dim` (None: PyTorch's legacy choice, 0 for 0/1/3-D input, else 1)."""
    (input,) = _amp.cast("softmin", input)
    if dim is None:
        dim = _implicit_softmax_dim("softmin", input.ndim)
    return softmax(-input, dim, dtype=dtype)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Softmax of (logits + Gumbel noise) / tau; with hard=True a one-hot of its argmax whose
    gradient is the soft sample's (straight-through)."""
    u = _random.generator_for(logits.device).random(tuple(logits.shape))
    xp = array_module(u)
    gumbels = Tensor(-xp.log(-xp.log(u + eps) + eps), dtype=logits.dtype)
    y = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    idx = y.argmax(dim, keepdim=True)
    one_hot_y = y.detach() * 0
    one_hot_y.scatter_(dim, idx, 1.0)
    return one_hot_y - y.detach() + y
