"""Activation modules: Sigmoid, ReLU, GELU, Softmax, LogSoftmax, LeakyReLU, Tanh, SiLU.

Each takes `auto=True` to use the composed (autograd-differentiated) path.
"""
from mytorch.nn import functional as F
from mytorch.nn.modules.module import Module

__all__ = ["Sigmoid", "ReLU", "GELU", "Softmax", "LogSoftmax", "LeakyReLU", "Tanh", "SiLU"]


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
