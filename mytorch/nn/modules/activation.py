"""Activation modules: Sigmoid, ReLU, GELU, Softmax, LogSoftmax, LeakyReLU, Tanh, SiLU (each
takes `auto=True` to use the composed, autograd-differentiated path), and the composites ELU,
CELU, SELU, Softplus, Hardtanh, ReLU6, Hardsigmoid, Hardswish, Mish, LogSigmoid, Softsign,
Tanhshrink, GLU, Softmin, PReLU.
"""
import warnings

from mytorch import creation
from mytorch.nn import functional as F
from mytorch.nn import init
from mytorch.nn.modules.module import Module
from mytorch.nn.parameter import Parameter

__all__ = ["Sigmoid", "ReLU", "GELU", "Softmax", "LogSoftmax", "LeakyReLU", "Tanh", "SiLU", "ELU",
           "CELU", "SELU", "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Mish",
           "LogSigmoid", "Softsign", "Tanhshrink", "GLU", "Softmin", "PReLU", "Threshold",
           "Softmax2d"]


class ReLU(Module):
    def __init__(self, inplace=False, auto=False):
        super().__init__()
        self.inplace, self.auto = inplace, auto

    def forward(self, input):
        return F.relu(input, inplace=self.inplace, auto=self.auto)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    def __init__(self, auto=False):
        super().__init__()
        self.auto = auto

    def forward(self, input):
        return F.sigmoid(input, auto=self.auto)


class Tanh(Module):
    def __init__(self, auto=False):
        super().__init__()
        self.auto = auto

    def forward(self, input):
        return F.tanh(input, auto=self.auto)


class SiLU(Module):
    def __init__(self, inplace=False, auto=False):
        super().__init__()
        self.inplace, self.auto = inplace, auto

    def forward(self, input):
        return F.silu(input, inplace=self.inplace, auto=self.auto)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False, auto=False):
        super().__init__()
        self.negative_slope, self.inplace, self.auto = negative_slope, inplace, auto

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, inplace=self.inplace,
                            auto=self.auto)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x); approximate='tanh' uses the tanh formula."""

    def __init__(self, approximate="none", auto=False):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate, self.auto = approximate, auto

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate, auto=self.auto)

    def extra_repr(self):
        return f"approximate='{self.approximate}'"


class Softmax(Module):
    """Softmax along `dim`. The dim may also be given per call: `softmax(scores, dim=-1)`;
    with neither, the last dim is used."""

    def __init__(self, dim=None, auto=False):
        super().__init__()
        self.dim, self.auto = dim, auto

    def forward(self, input, dim=None):
        d = dim if dim is not None else self.dim
        return F.softmax(input, -1 if d is None else d, auto=self.auto)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim`, computed stably; `dim` may also be given per call."""

    def __init__(self, dim=None, auto=False):
        super().__init__()
        self.dim, self.auto = dim, auto

    def forward(self, input, dim=None):
        d = dim if dim is not None else self.dim
        return F.log_softmax(input, -1 if d is None else d, auto=self.auto)

    def extra_repr(self):
        return f"dim={self.dim}"


class _Inplace(Module):
    """An elementwise activation F.<_fn>(input, inplace=...) with no other arguments."""
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return getattr(F, self._fn)(input, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class SELU(_Inplace):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    _fn = "selu"


class Hardsigmoid(_Inplace):
    """min(max(x + 3, 0), 6) / 6."""
    _fn = "hardsigmoid"


class Hardswish(_Inplace):
    """x * min(max(x + 3, 0), 6) / 6."""
    _fn = "hardswish"


class Mish(_Inplace):
    """x * tanh(softplus(x))."""
    _fn = "mish"


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """Clamp to [min_val, max_val] (min_value/max_value: deprecated names)."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        for old, new in (("min_value", min_value), ("max_value", max_value)):
            if new is not None:
                warnings.warn(f"keyword argument `{old}` is deprecated and renamed to "
                              f"`{old[:3]}_val`", FutureWarning, stacklevel=2)
        min_val = min_val if min_value is None else min_value
        max_val = max_val if max_value is None else max_value
        if max_val <= min_val:
            raise ValueError(f"{type(self).__name__}: max_val ({max_val}) must be greater than "
                             f"min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class ReLU6(Hardtanh):
    """min(max(0, x), 6)."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LogSigmoid(Module):
    """log(sigmoid(x)), computed stably."""

    def forward(self, input):
        return F.logsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input):
        return F.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input):
        return F.tanhshrink(input)


class GLU(Module):
    """Gated linear unit: halves a, b of the input along `dim`; a * sigmoid(b)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(Module):
    """softmax(-x) along `dim`."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class PReLU(Module):
    """x where x > 0, else a * x with a learnable slope `weight` (num_parameters: 1 or the
    number of channels), initialised to `init`."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(creation.empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Threshold(Module):
    """input where input > threshold, else value."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input of 3 or 4 dims, got shape "
                             f"{tuple(input.shape)}")
        return F.softmax(input, -3)
