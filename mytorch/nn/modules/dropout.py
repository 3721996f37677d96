"""Dropout."""
from mytorch.nn import functional as F
from mytorch.nn.modules.module import Module

__all__ = ["Dropout"]


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
