"""Pooling layers: max, average, power-average, adaptive and unpooling, 1-D to 3-D, over the
N-d fronts of mytorch.nn.functional.pooling."""
from mytorch.nn import functional as F
from mytorch.nn.functional.pooling import (
    adaptive_avg_pool_nd,
    avg_pool_nd,
    lp_pool_nd,
    max_pool_nd,
    max_unpool_nd,
)
from mytorch.nn.modules.module import Module
from mytorch.ops.window import ntuple

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d",
           "LPPool2d", "LPPool3d"]


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False, auto=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode, self.auto = return_indices, ceil_mode, auto

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, input):
        return max_pool_nd(type(self).__name__, self._nd, input, self.kernel_size, self.stride,
                           self.padding, self.dilation, self.ceil_mode, self.return_indices,
                           self.auto)


class MaxPool1d(_MaxPoolNd):
    """Max pooling over (N, C, L); stride defaults to kernel_size.

    >>> nn.MaxPool1d(3, stride=2)(x)
    """
    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """Max pooling over (N, C, H, W); stride defaults to kernel_size.

    >>> nn.MaxPool2d(2)(x)      # halves H and W
    """
    _nd = 2


class MaxPool3d(_MaxPoolNd):
    """Max pooling over (N, C, D, H, W); stride defaults to kernel_size.

    >>> nn.MaxPool3d(2)(x)      # halves D, H and W
    """
    _nd = 3


class AvgPool1d(Module):
    """Average pooling over (N, C, L); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, auto=False):
        super().__init__()
        self.kernel_size = ntuple(kernel_size, 1, "kernel_size", "AvgPool1d")
        self.stride = ntuple(stride if stride is not None else kernel_size, 1, "stride",
                              "AvgPool1d")
        self.padding = ntuple(padding, 1, "padding", "AvgPool1d")
        self.ceil_mode, self.count_include_pad, self.auto = ceil_mode, count_include_pad, auto

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input):
        return avg_pool_nd("AvgPool1d", 1, input, self.kernel_size, self.stride, self.padding,
                           self.ceil_mode, self.count_include_pad, None, self.auto)


class _AvgPoolNd(Module):

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, auto=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override, self.auto = (count_include_pad,
                                                                    divisor_override, auto)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input):
        return avg_pool_nd(type(self).__name__, self._nd, input, self.kernel_size, self.stride,
                           self.padding, self.ceil_mode, self.count_include_pad,
                           self.divisor_override, self.auto)


class AvgPool2d(_AvgPoolNd):
    """Average pooling over (N, C, H, W); stride defaults to kernel_size.

    >>> nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)(x)
    """
    _nd = 2


class AvgPool3d(_AvgPoolNd):
    """Average pooling over (N, C, D, H, W); stride defaults to kernel_size.

    >>> nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False)(x)
    """
    _nd = 3


class _AdaptiveAvgPoolNd(Module):
    def __init__(self, output_size, auto=False):
        super().__init__()
        self.output_size, self.auto = output_size, auto

    def extra_repr(self):
        return f"output_size={self.output_size}"

    def forward(self, input):
        return adaptive_avg_pool_nd(type(self).__name__, self._nd, input, self.output_size,
                                    self.auto)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, L) to length `output_size`."""
    _nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, H, W) to `output_size` (int or pair; None keeps that size);
    window i spans [floor(i*H/out), ceil((i+1)*H/out)).

    >>> nn.AdaptiveAvgPool2d((1, 1))(x).shape     # (N, C, 1, 1)
    """
    _nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, D, H, W) to `output_size` (int or triple; None keeps that
    size).

    >>> nn.AdaptiveAvgPool3d(1)(x).shape     # (N, C, 1, 1, 1)
    """
    _nd = 3


class _AdaptiveMaxPoolNd(Module):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, L) or (C, L) to length `output_size`."""

    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, H, W) or (C, H, W) to `output_size` (int or pair; None keeps that
    size); return_indices also gives the argmax as flat indices into each H*W plane.

    >>> nn.AdaptiveMaxPool2d((5, 7))(x).shape     # (N, C, 5, 7)
    """

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class _MaxUnpoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        op = type(self).__name__
        self.kernel_size = ntuple(kernel_size, self._nd, "kernel_size", op)
        self.stride = ntuple(stride if stride is not None else kernel_size, self._nd,
                              "stride", op)
        self.padding = ntuple(padding, self._nd, "padding", op)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input, indices, output_size=None):
        return max_unpool_nd(type(self).__name__, self._nd, input, indices, self.kernel_size,
                             self.stride, self.padding, output_size)


class MaxUnpool1d(_MaxUnpoolNd):
    """Inverse of MaxPool1d(return_indices=True): (N, C, L) -> (N, C, L_out), zeros off
    the argmax positions."""
    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Inverse of MaxPool2d(return_indices=True): (N, C, H, W) -> (N, C, H_out, W_out).

    >>> y, i = nn.MaxPool2d(2, return_indices=True)(x); nn.MaxUnpool2d(2)(y, i)
    """
    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Inverse of MaxPool3d(return_indices=True): (N, C, D, H, W) -> (N, C, D_out, H_out,
    W_out)."""
    _nd = 3


class _LPPoolNd(Module):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")

    def forward(self, input):
        return lp_pool_nd(type(self).__name__, self._nd, input, self.norm_type,
                          self.kernel_size, self.stride, self.ceil_mode)


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L): (sum of x^p over each window)^(1/p)."""
    _nd = 1


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W): (sum of x^p over each window)^(1/p)."""
    _nd = 2


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W): (sum of x^p over each window)^(1/p)."""
    _nd = 3
