"""MultivariateNormal(loc, covariance_matrix=None, scale_tril=None): the Gaussian on R^n
parameterised by its mean and a covariance or its lower Cholesky factor."""
import math

from mytorch import creation, linalg
from mytorch.distributions import constraints
from mytorch.distributions.distribution import Distribution
from mytorch.ops.shape import broadcast_shapes
from mytorch.tensor import Tensor

__all__ = ["MultivariateNormal"]


def _batch_mahalanobis(L, x):
    """x^T (L L^T)^-1 x for L (..., n, n) lower-triangular and x (..., n), batch dims
    broadcast: |L^-1 x|^2. tril() keeps the gradient in L's lower triangle, as a triangular
    solve gives."""
    y = linalg.solve(L.tril(), x.unsqueeze(-1)).squeeze(-1)  # (..., n)
    return (y ** 2).sum(-1)


def _half_log_det(L):
    return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)


class MultivariateNormal(Distribution):
    """MultivariateNormal with mean loc (..., n) and exactly one of covariance_matrix
    (..., n, n), symmetric positive-definite, its inverse precision_matrix, or scale_tril
    (..., n, n), lower-triangular with positive diagonal (covariance = scale_tril @
    scale_tril.mT). event_shape is (n,); the batch dims of loc and the matrix broadcast.

    >>> d = MultivariateNormal(mytorch.zeros(2), scale_tril=mytorch.eye(2))
    >>> d.log_prob(mytorch.zeros(5, 2)).shape  # (5,)
    """
    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if not isinstance(loc, Tensor) or loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) \
                + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        given, matrix = next((k, m) for k, m in (("scale_tril", scale_tril),
                                                 ("covariance_matrix", covariance_matrix),
                                                 ("precision_matrix", precision_matrix))
                             if m is not None)
        if matrix.ndim < 2:
            raise ValueError(f"{given} matrix must be at least two-dimensional, with "
                             "optional leading batch dimensions")
        n = loc.shape[-1]
        if tuple(matrix.shape[-2:]) != (n, n):
            raise ValueError(f"MultivariateNormal: {given} must be ({n}, {n}) matrices to "
                             f"match loc {tuple(loc.shape)}, got shape {tuple(matrix.shape)}")
        batch_shape = broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        self._given = given
        setattr(self, given, matrix.expand(batch_shape + (n, n)))
        self.loc = loc.expand(batch_shape + (n,))
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = linalg.cholesky(linalg.inv(precision_matrix))

    def _derived_params(self):
        return tuple(k for k in ("scale_tril", "covariance_matrix", "precision_matrix")
                     if k != self._given)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = tuple(batch_shape)
        n = self._event_shape[0]
        new.loc = self.loc.expand(batch_shape + (n,))
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        new._given = self._given
        for k in ("scale_tril", "covariance_matrix", "precision_matrix"):
            if k in self.__dict__:
                setattr(new, k, self.__dict__[k].expand(batch_shape + (n, n)))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __getattr__(self, name):
        # the parameterisation not given is computed on first use, then cached
        L = self.__dict__.get("_unbroadcasted_scale_tril")
        if L is None or name not in ("scale_tril", "covariance_matrix", "precision_matrix"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        shape = self._batch_shape + self._event_shape + self._event_shape
        if name == "scale_tril":
            value = L.expand(shape)
        elif name == "covariance_matrix":
            value = (L @ L.mT).expand(shape)
        else:
            value = linalg.inv(L @ L.mT).expand(shape)
        self.__dict__[name] = value
        return value

    def __repr__(self):
        return (f"MultivariateNormal(loc: {tuple(self.loc.shape)}, {self._given}: "
                f"{tuple(getattr(self, self._given).shape)})")

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return (self._unbroadcasted_scale_tril ** 2).sum(-1).expand(
            self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = creation.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        L = self._unbroadcasted_scale_tril
        n = self._event_shape[0]
        m = _batch_mahalanobis(L, value - self.loc)
        return -0.5 * (n * math.log(2 * math.pi) + m) - _half_log_det(L)

    def entropy(self):
        n = self._event_shape[0]
        h = 0.5 * n * (1.0 + math.log(2 * math.pi)) + _half_log_det(self._unbroadcasted_scale_tril)
        return h.expand(self._batch_shape)
