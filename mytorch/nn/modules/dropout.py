"""Dropout, and the channel-wise Dropout1d and Dropout2d."""
from mytorch.nn import functional as F
from mytorch.nn.modules.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class Dropout(Module):
    """Zero elements with probability p in training (scaling the rest by 1/(1-p));
    identity in eval. `dropout_p=` is accepted as another name for `p`."""

    def __init__(self, p=0.5, inplace=False, auto=False, dropout_p=None):
        super().__init__()
        if dropout_p is not None:
            p = dropout_p
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace, self.auto = p, inplace, auto

    def forward(self, input):
        return F.dropout(input, self.p, self.training, auto=self.auto)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) in training (scaling the rest by 1/(1-p))."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) in training (scaling the rest by 1/(1-p)).

    >>> nn.Dropout2d(0.2)(feature_maps)
    """

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)
