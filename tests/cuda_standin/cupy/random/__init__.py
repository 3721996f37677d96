"""Stand-in `cupy.random`: the Generator API of CuPy (a subset of NumPy's: no `normal`, no
`permutation`, no `choice`), backed by NumPy's PCG64. A bit generator lives on the device that
was current when it was made, and draws only there."""
import numpy as np

from cupy import _core


class BitGenerator:
    def __init__(self, seed=None, *, size=-1):
        self._np = np.random.PCG64(seed)
        self._dev = _core.current_device()

    def random_raw(self, size=None, out=False):
        return self._draw(lambda g: g.integers(0, 2 ** 32, size=size, dtype=np.uint64))

    def _draw(self, fn):
        if self._dev != _core.current_device():
            raise _core._peer_error(self._dev, "random draw")
        return _core.wrap_array(np.asarray(fn(np.random.Generator(self._np))),
                                self._dev)


class XORWOW(BitGenerator):
    pass


class MRG32k3a(BitGenerator):
    pass


class Philox4x3210(BitGenerator):
    pass


_FLOATS = (np.float32, np.float64)


class Generator:
    """`Generator(bit_generator)`: CuPy's draws; dtypes float32/float64 where CuPy has them."""

    def __init__(self, bit_generator):
        if not isinstance(bit_generator, BitGenerator):
            raise TypeError("Generator: expected a cupy.random BitGenerator")
        self.bit_generator = bit_generator

    def _call(self, name, kwargs, fn):
        _core.check_kwargs("cupy.random.Generator", name, kwargs)
        return self.bit_generator._draw(fn)

    def random(self, size=None, dtype=np.float64, out=None):
        if np.dtype(dtype).type not in _FLOATS:
            raise TypeError(f"random: dtype must be float32 or float64, got {dtype}")
        return self._call("random", {}, lambda g: g.random(size, dtype=dtype))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        if np.dtype(dtype).type not in _FLOATS:
            raise TypeError(f"standard_normal: dtype must be float32 or float64, got {dtype}")
        return self._call("standard_normal", {},
                          lambda g: g.standard_normal(size, dtype=dtype))

    def standard_exponential(self, size=None, dtype=np.float64, method="inv", out=None):
        return self._call("standard_exponential", {},
                          lambda g: g.standard_exponential(size, dtype=dtype))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        for v in (low, high):
            if isinstance(v, (_core.ndarray, np.ndarray)):
                raise NotImplementedError("cupy stand-in: integers with array bounds")
        return self._call("integers", {}, lambda g: g.integers(low, high, size, dtype=dtype,
                                                               endpoint=endpoint))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._call("uniform", {}, lambda g: g.uniform(low, high, size).astype(dtype))

    def exponential(self, scale=1.0, size=None):
        return self._call("exponential", {}, lambda g: g.exponential(scale, size))

    def poisson(self, lam=1.0, size=None):
        return self._call("poisson", {}, lambda g: g.poisson(lam, size))


def default_rng(seed=None):
    return Generator(XORWOW(seed))
