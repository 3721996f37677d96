"""Linear and Identity."""
import math

from mytorch import creation
from mytorch.nn import functional as F
from mytorch.nn import init
from mytorch.nn.modules.module import Module
from mytorch.nn.parameter import Parameter

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ W.T + b for x of shape (*, in_features) -> (*, out_features).

    W and b start uniform in (-1/sqrt(in_features), 1/sqrt(in_features)), as in PyTorch.
    auto=True differentiates the composed matmul instead of the hand-written backward.

    >>> fc = nn.Linear(784, 128); y = fc(mytorch.randn(32, 784))   # (32, 128)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None,
                 auto=False):
        super().__init__()
        self.in_features, self.out_features, self.auto = in_features, out_features, auto
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"Linear(in_features={self.in_features}, out_features="
                               f"{self.out_features}): input of shape {tuple(input.shape)} has "
                               f"last dim {input.shape[-1] if input.ndim else None}, expected "
                               f"{self.in_features}")
        return F.linear(input, self.weight, self.bias, auto=self.auto)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """y = x1 @ W[o] @ x2 + b_o for x1 (*, in1_features), x2 (*, in2_features) ->
    (*, out_features); W and b start U(-1/sqrt(in1_features), 1/sqrt(in1_features)).

    >>> nn.Bilinear(20, 30, 40)(x1, x2).shape     # (N, 40)
    """

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features,
                                               dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
