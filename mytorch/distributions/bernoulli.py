"""Bernoulli(probs=None, logits=None): 1 with probability probs, else 0."""
import math

from mytorch import creation
from mytorch.autograd.grad_mode import no_grad
from mytorch.distributions import constraints
from mytorch.distributions.distribution import (
    Distribution,
    broadcast_all,
    logits_to_probs,
    probs_to_logits,
)
from mytorch.ops.elementwise import where
from mytorch.ops.shape import broadcast_tensors

__all__ = ["Bernoulli"]


def _softplus(x):
    """log(1 + exp(x)) without overflow."""
    return x.relu() + (-x.abs()).exp().log1p()


class Bernoulli(Distribution):
    """Bernoulli with exactly one of probs (in [0, 1]) or logits (log-odds)."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            self.logits = probs_to_logits(self.probs, is_binary=True)
            self._given = "probs"
        else:
            (self.logits,) = broadcast_all(logits)
            self.probs = logits_to_probs(self.logits, is_binary=True)
            self._given = "logits"
        super().__init__(tuple(self.probs.shape), validate_args=validate_args)

    def _derived_params(self):
        return ("logits",) if self._given == "probs" else ("probs",)

    @property
    def param_shape(self):
        return tuple(self.probs.shape)

    def expand(self, batch_shape, _instance=None):
        new = self._expand_params(Bernoulli, batch_shape, _instance, "probs", "logits")
        new._given = self._given
        return new

    def __repr__(self):
        p = getattr(self, self._given)
        return f"Bernoulli({self._given}: {p if p.numel() == 1 else tuple(p.shape)})"

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return where(self.probs == 0.5, math.nan, mode)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return creation.bernoulli(self.probs.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_tensors(self.logits, value)
        # -BCE(logits, value) = value * logits - softplus(logits)
        return value * logits - _softplus(logits)

    def entropy(self):
        return _softplus(self.logits) - self.probs * self.logits

    def enumerate_support(self, expand=True):
        values = creation.arange(2, dtype=self.probs.dtype, device=self.probs.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((2,) + self._batch_shape) if expand else values
