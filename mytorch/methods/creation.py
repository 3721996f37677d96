"""Tensor factory methods (new_zeros, new_full, ...) and the in-place random fills
(uniform_, normal_, bernoulli_, random_, exponential_)."""
import ml_dtypes
import numpy as np

from mytorch import backend, dtypes
from mytorch.autograd import function as _fn
from mytorch.autograd import grad_mode


class TensorCreation:
    __slots__ = ()

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from mytorch.nn import init  # draws a large CPU tensor in pieces (see init._fill_drawn)
        init.uniform_(self, a, b, generator)
        _fn.bump_version(self.data)
        return self

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from mytorch.nn import init
        init.normal_(self, mean, std, generator)
        _fn.bump_version(self.data)
        return self

    def _fill_random(self, arr, name):
        if grad_mode.is_grad_enabled() and self._requires_grad and self.grad_fn is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an "
                               "in-place operation (wrap it in mytorch.no_grad())")
        self.data[...] = arr.astype(self.dtype)
        _fn.bump_version(self.data)
        return self

    def bernoulli_(self, p=0.5, generator=None):
        """Fill with 1 with probability p (a number or a tensor broadcast to this shape)."""
        from mytorch import random
        prob = p.data if isinstance(p, _fn.Tensor) else p
        xp = backend.array_module(self.data)
        if bool(xp.any((xp.asarray(prob) < 0) | (xp.asarray(prob) > 1))):
            raise RuntimeError(f"bernoulli_: p must be in [0, 1], got {p}")
        u = random.generator_for(self.device, generator).random(self.shape)
        return self._fill_random(u < prob, "bernoulli_")

    def random_(self, *bounds, to=None, generator=None, **kwargs):
        """Fill with integers uniform on [from, to - 1]: `random_(to)`, `random_(from, to)`
        or, with no bounds, [0, largest integer the dtype holds exactly]."""
        from mytorch import random
        lo = kwargs.pop("from", 0)
        if kwargs:
            raise TypeError(f"random_: unexpected arguments {sorted(kwargs)}")
        if len(bounds) == 1:
            to = bounds[0]
        elif len(bounds) == 2:
            lo, to = bounds
        elif bounds:
            raise TypeError(f"random_: expected at most 2 bounds, got {len(bounds)}")
        rng = random.generator_for(self.device, generator)
        if to is None:
            dt = self.dtype
            hi = 1 if dt.kind == "b" else (
                2 ** (ml_dtypes.finfo(dt).nmant + 1) if dtypes.is_floating(dt)
                else int(np.iinfo(dt).max))
            arr = rng.integers(lo, hi, size=self.shape, endpoint=True)
        else:
            if lo >= to:
                raise RuntimeError(f"random_: expects 'from' ({lo}) to be less than 'to' ({to})")
            arr = rng.integers(lo, to, size=self.shape)
        return self._fill_random(arr, "random_")

    def exponential_(self, lambd=1.0, generator=None):
        """Fill with samples of the exponential distribution of rate lambd."""
        from mytorch import random
        if lambd <= 0:
            raise RuntimeError(f"exponential_: lambd must be positive, got {lambd}")
        rng = random.generator_for(self.device, generator)
        xp = backend.array_module(self.data)
        return self._fill_random(-xp.log1p(-rng.random(self.shape)) / lambd, "exponential_")

    def bernoulli(self, p=None, generator=None):
        """0/1 samples, 1 with probability p (default: this tensor's values)."""
        from mytorch import creation
        return creation.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, generator=None):
        from mytorch import creation
        return creation.multinomial(self, num_samples, replacement, generator=generator)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        from mytorch.creation import empty
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None):
        from mytorch.creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, device=self.device)

    def new_ones(self, *size, dtype=None):
        from mytorch.creation import ones
        return ones(*size, dtype=dtype or self.dtype, device=self.device)

    def new_full(self, size, fill_value, dtype=None):
        from mytorch.creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, device=self.device)

    def new_tensor(self, data, dtype=None):
        return _fn.Tensor(data, dtype=dtype or self.dtype, device=self.device)


