"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d, one N-d class each."""
import math

from mytorch import creation
from mytorch.autograd.grad_mode import no_grad
from mytorch.nn.functional.convolution import conv_nd
from mytorch.nn.modules.module import Module
from mytorch.nn.parameter import Parameter
from mytorch.ops.window import ntuple

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class _ConvNd(Module):
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", output_padding=0, device=None,
                 dtype=None, auto=False):
        super().__init__()
        name = type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode {padding_mode!r} is not supported "
                                      "(only 'zeros')")
        n = self._nd
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", name)
        self.stride = ntuple(stride, n, "stride", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride {self.stride})")
            if self._transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
            self.padding = padding
        else:
            self.padding = ntuple(padding, n, "padding", name)
        self.dilation = ntuple(dilation, n, "dilation", name)
        self.output_padding = ntuple(output_padding, n, "output_padding", name)
        self.groups, self.padding_mode, self.auto = groups, padding_mode, auto
        self.transposed = self._transposed
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.bias = None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # with fan_in = weight.shape[1] * prod(kernel); the bias uses the same bound.
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        with no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def _check_input(self, x):
        n = self._nd
        name = type(self).__name__
        if x.ndim not in (n + 1, n + 2):
            raise RuntimeError(f"{name}: expected a {n + 1}-D (unbatched) or {n + 2}-D "
                               f"(batched) input, got input of shape {tuple(x.shape)}")
        if x.shape[-n - 1] != self.in_channels:
            raise RuntimeError(f"{name}: expected input with {self.in_channels} channels, got "
                               f"input of shape {tuple(x.shape)}")

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s

    def forward(self, input):
        self._check_input(input)
        extra = dict(transposed=True, output_padding=self.output_padding) \
            if self._transposed else {}
        return conv_nd(type(self).__name__, self._nd, input, self.weight, self.bias, self.stride,
                       self.padding, self.dilation, self.groups, self.auto, **extra)


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None,
                 auto=False):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype, auto)


class _ConvTranspose(_ConvNd):
    _transposed = True

    # PyTorch's argument order: output_padding and groups come before dilation.
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None, auto=False):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype, auto)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups, k).

    `auto=True` differentiates the Tensor-op composite instead of the hand-written backward.

    >>> conv = nn.Conv1d(16, 33, 3, stride=2)
    """
    _nd = 1


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight
    (C_out, C_in/groups, kh, kw). padding: int, pair, 'same' or 'valid'.

    >>> conv = nn.Conv2d(3, 16, 3, padding=1)
    >>> conv(mytorch.randn(8, 3, 32, 32)).shape   # (8, 16, 32, 32)
    """
    _nd = 2


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out); weight
    (C_out, C_in/groups, kd, kh, kw). padding: int, triple, 'same' or 'valid'.

    >>> conv = nn.Conv3d(3, 16, 3, padding=1)
    >>> conv(mytorch.randn(2, 3, 8, 16, 16)).shape   # (2, 16, 8, 16, 16)
    """
    _nd = 3


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution; weight (C_in, C_out/groups, k).

    L_out = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1.
    """
    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution; weight (C_in, C_out/groups, kh, kw).

    >>> up = nn.ConvTranspose2d(16, 8, 2, stride=2)    # doubles H and W
    """
    _nd = 2


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution; weight (C_in, C_out/groups, kd, kh, kw).

    >>> up = nn.ConvTranspose3d(16, 8, 2, stride=2)    # doubles D, H and W
    """
    _nd = 3
