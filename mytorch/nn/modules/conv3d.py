"""3-D convolution and pooling layers: Conv3d, ConvTranspose3d, MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d."""
from mytorch.nn.modules.conv import _Conv, _ConvTranspose
from mytorch.nn.modules.module import Module
from mytorch.ops import conv3d as C3

__all__ = ["AdaptiveAvgPool3d", "AvgPool3d", "Conv3d", "ConvTranspose3d", "MaxPool3d"]


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out); weight
    (C_out, C_in/groups, kd, kh, kw). padding: int, triple, 'same' or 'valid'.

    >>> conv = nn.Conv3d(3, 16, 3, padding=1)
    >>> conv(mytorch.randn(2, 3, 8, 16, 16)).shape   # (2, 16, 8, 16, 16)
    """
    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        self._check_input(input)
        return C3._conv3d(type(self).__name__, input, self.weight, self.bias, self.stride,
                          self.padding, self.dilation, self.groups)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution; weight (C_in, C_out/groups, kd, kh, kw).

    >>> up = nn.ConvTranspose3d(16, 8, 2, stride=2)    # doubles D, H and W
    """
    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         output_padding, groups, bias, dilation, padding_mode, device, dtype)

    def forward(self, input):
        self._check_input(input)
        return C3._conv3d(type(self).__name__, input, self.weight, self.bias, self.stride,
                          self.padding, self.dilation, self.groups, transposed=True,
                          output_padding=self.output_padding)


class MaxPool3d(Module):
    """Max pooling over (N, C, D, H, W); stride defaults to kernel_size.

    >>> nn.MaxPool3d(2)(x)      # halves D, H and W
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, input):
        return C3._max_pool3d("MaxPool3d", input, self.kernel_size, self.stride, self.padding,
                              self.dilation, self.ceil_mode, self.return_indices)


class AvgPool3d(Module):
    """Average pooling over (N, C, D, H, W); stride defaults to kernel_size.

    >>> nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False)(x)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input):
        return C3._avg_pool3d("AvgPool3d", input, self.kernel_size, self.stride, self.padding,
                              self.ceil_mode, self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool3d(Module):
    """Average pooling of (N, C, D, H, W) to `output_size` (int or triple; None keeps that
    size).

    >>> nn.AdaptiveAvgPool3d(1)(x).shape     # (N, C, 1, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self):
        return f"output_size={self.output_size}"

    def forward(self, input):
        return C3._adaptive_avg3d("AdaptiveAvgPool3d", input, self.output_size)
