"""Normal(loc, scale): the Gaussian with mean loc and standard deviation scale."""
import math

from mytorch import creation
from mytorch.distributions.distribution import LOG_SQRT_2PI, LocationScale

__all__ = ["Normal"]


class Normal(LocationScale):
    """Normal(loc, scale); loc and scale (tensors or numbers) broadcast to batch_shape.

    >>> d = Normal(mytorch.zeros(3), 1.0)
    >>> d.rsample((5,)).shape  # (5, 3)
    """
    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Normal, batch_shape, _instance, "loc", "scale")

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale ** 2

    def rsample(self, sample_shape=()):
        eps = creation.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype,
                             device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - LOG_SQRT_2PI

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)).erf())

    def icdf(self, value):
        return self.loc + self.scale * (2 * value - 1).erfinv() * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
