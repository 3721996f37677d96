"""Upsample: a Module around `F.interpolate`."""
from mytorch.nn import functional as F
from mytorch.nn.modules.module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) to `size` or by `scale_factor`.

    mode: 'nearest', 'nearest-exact', 'linear', 'bilinear', 'area'.

    >>> nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)(x)
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None, auto=False):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor, self.auto = recompute_scale_factor, auto

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor, auto=self.auto)

    def extra_repr(self):
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None, auto=False):
        super().__init__(size, scale_factor, mode="nearest", auto=auto)


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with align_corners=True (PyTorch's definition)."""

    def __init__(self, size=None, scale_factor=None, auto=False):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True, auto=auto)
