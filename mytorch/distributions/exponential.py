"""Exponential(rate): density rate * exp(-rate * x) on x >= 0."""
from mytorch import creation
from mytorch.distributions import constraints
from mytorch.distributions.distribution import Distribution, broadcast_all

__all__ = ["Exponential"]


class Exponential(Distribution):
    """Exponential(rate), rate > 0, with mean 1 / rate."""
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(tuple(self.rate.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Exponential, batch_shape, _instance, "rate")

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return creation.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate ** -2

    def rsample(self, sample_shape=()):
        u = creation.rand(self._extended_shape(sample_shape), dtype=self.rate.dtype,
                          device=self.rate.device)
        return -(-u).log1p() / self.rate  # inverse CDF; u in [0, 1) keeps the log finite

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()
