"""Laplace(loc, scale): density exp(-|x - loc| / scale) / (2 scale)."""
import math

import numpy as np

from mytorch import creation
from mytorch.distributions.distribution import LocationScale

__all__ = ["Laplace"]


class Laplace(LocationScale):
    """Laplace(loc, scale), scale > 0; loc and scale broadcast to batch_shape."""
    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Laplace, batch_shape, _instance, "loc", "scale")

    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    @property
    def variance(self):
        return 2 * self.scale ** 2

    def rsample(self, sample_shape=()):
        eps = float(np.finfo(self.loc.dtype).eps)
        u = creation.rand(self._extended_shape(sample_shape), dtype=self.loc.dtype,
                          device=self.loc.device)
        u = (u * 2 - 1).clamp(min=eps - 1, max=1)  # (-1, 1): log1p(-|u|) stays finite
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = value - self.loc
        return 0.5 - 0.5 * z.sign() * (-z.abs() / self.scale).expm1()

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()
