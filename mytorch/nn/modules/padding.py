"""Padding layers: Zero/Constant/Reflection/Replication/CircularPad 1d and 2d over F.pad."""
from mytorch.nn import functional as F
from mytorch.nn.modules.module import Module
from mytorch.ops.window import ntuple

__all__ = ["ZeroPad1d", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d",
           "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d",
           "CircularPad2d"]


class _PadNd(Module):
    """padding: an int (every side) or (left, right[, top, bottom]) for the last _nd dims."""
    _nd, _mode = 1, "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = ntuple(padding, 2 * self._nd, "padding", type(self).__name__)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim of (N, C, W) or (C, W) with `value`."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims of (N, C, H, W) or (C, H, W) with `value`."""
    _nd = 2


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros: padding int or (left, right, top, bottom).

    >>> nn.ZeroPad2d((1, 1, 2, 0))(x)    # (N, C, H, W) -> (N, C, H + 2, W + 2)
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror the last dim about its edge samples (the edge is not repeated)."""
    _mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the last two dims about their edge samples."""
    _nd, _mode = 2, "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge sample of the last dim."""
    _mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge samples of the last two dims."""
    _nd, _mode = 2, "replicate"


class CircularPad1d(_PadNd):
    """Wrap the last dim around."""
    _mode = "circular"


class CircularPad2d(_PadNd):
    """Wrap the last two dims around."""
    _nd, _mode = 2, "circular"
