"""Categorical(probs=None, logits=None): one of K categories, and its one-hot form."""
import math

import numpy as np

from mytorch import creation
from mytorch.autograd.grad_mode import no_grad
from mytorch.distributions import constraints
from mytorch.distributions.distribution import Distribution, logits_to_probs, probs_to_logits
from mytorch.ops.shape import broadcast_tensors
from mytorch.tensor import Tensor

__all__ = ["Categorical", "OneHotCategorical"]


class Categorical(Distribution):
    """Categorical over {0, ..., K-1} with exactly one of probs (..., K) (non-negative,
    normalised along the last dim) or logits (..., K) (unnormalised log-probabilities).
    batch_shape is the parameter's shape less its last dim; samples are int64.

    >>> d = Categorical(logits=mytorch.zeros(4, 3))
    >>> d.sample((2,)).shape  # (2, 4)
    """
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        given = "probs" if probs is not None else "logits"
        param = probs if probs is not None else logits
        if not isinstance(param, Tensor):
            raise ValueError(f"Categorical: `{given}` must be a Tensor, got "
                             f"{type(param).__name__}")
        if param.ndim < 1:
            raise ValueError(f"`{given}` parameter must be at least one-dimensional.")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = probs_to_logits(self.probs)
        else:
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = logits_to_probs(self.logits)
        self._given = given
        self._num_events = param.shape[-1]
        super().__init__(tuple(param.shape[:-1]), validate_args=validate_args)

    def _derived_params(self):
        return ("logits",) if self._given == "probs" else ("probs",)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = tuple(batch_shape)
        shape = batch_shape + (self._num_events,)
        new.probs = self.probs.expand(shape)
        new.logits = self.logits.expand(shape)
        new._given = self._given
        new._num_events = self._num_events
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self):
        p = getattr(self, self._given)
        return f"Categorical({self._given}: {tuple(p.shape)})"

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self):
        return tuple(self.probs.shape)

    @property
    def mean(self):
        return creation.full(self._extended_shape(), math.nan, dtype=self.probs.dtype,
                             device=self.probs.device)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return self.mean

    def sample(self, sample_shape=()):
        """int64 indices of shape sample_shape + batch_shape, drawn with mytorch.multinomial."""
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        n = int(np.prod(sample_shape, dtype=np.int64))
        with no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            idx = creation.multinomial(probs_2d, max(n, 1), replacement=True)  # (B, n)
            idx = idx[:, :n].mT.contiguous()
            return idx.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        min_real = float(np.finfo(self.logits.dtype).min)
        p_log_p = self.logits.clamp(min=min_real) * self.probs
        return -p_log_p.sum(-1)

    def enumerate_support(self, expand=True):
        values = creation.arange(self._num_events, dtype=np.int64, device=self.probs.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((self._num_events,) + self._batch_shape) if expand else values


class OneHotCategorical(Distribution):
    """Categorical whose samples are one-hot vectors (..., K) in the parameter's dtype;
    event_shape is (K,)."""
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        super().__init__(self._categorical.batch_shape,
                         (self._categorical._num_events,), validate_args=False)
        if validate_args is not None:
            self._validate_args = validate_args

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(OneHotCategorical, _instance)
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, tuple(batch_shape), self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self):
        return "OneHot" + repr(self._categorical)

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        k = self._event_shape[0]
        return self._one_hot(self.probs.argmax(-1), k)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def _one_hot(self, idx, k):
        return (idx.unsqueeze(-1) == creation.arange(k, device=idx.device)).to(self.probs.dtype)

    def sample(self, sample_shape=()):
        with no_grad():
            return self._one_hot(self._categorical.sample(sample_shape), self._event_shape[0])

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        k = self._event_shape[0]
        values = creation.eye(k, dtype=self.probs.dtype, device=self.probs.device)
        values = values.reshape((k,) + (1,) * len(self._batch_shape) + (k,))
        return values.expand((k,) + self._batch_shape + (k,)) if expand else values
