"""Random streams: a `Generator` per device family and `manual_seed` for reproducible runs."""
import numpy as np

from mytorch import backend


class Generator:
    """A seeded random stream (NumPy's PCG64 on the CPU, CuPy's generator on a GPU).

    >>> g = mytorch.Generator().manual_seed(0)
    >>> mytorch.randn(3, generator=g)
    """

    def __init__(self, device="cpu"):
        self.device = backend.device(device)
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._make()

    def _make(self):
        if self.device.type == "cpu":
            self._rng = np.random.Generator(np.random.PCG64(self._seed))
        else:
            xp = backend.module_for(self.device)
            with xp.cuda.Device(self.device.index):
                self._rng = xp.random.Generator(xp.random.XORWOW(self._seed))

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._make()
        return self

    def seed(self):
        self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))
        return self._seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        if self.device.type == "cpu":
            return {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}
        return {"seed": self._seed}  # CuPy generators cannot export their state

    def set_state(self, state):
        self._seed = state["seed"]
        self._make()
        if self.device.type == "cpu" and "bit_generator" in state:
            self._rng.bit_generator.state = state["bit_generator"]

    @property
    def rng(self):
        return self._rng


default_generator = Generator()
_cuda_generators = {}


def generator_for(dev, generator=None):
    """The generator to draw from on device `dev` (an explicit one wins)."""
    if generator is not None:
        return generator.rng
    dev = backend.device(dev)
    if dev.type == "cpu":
        return default_generator.rng
    gen = _cuda_generators.get(dev.index)
    if gen is None:
        gen = Generator(dev).manual_seed(default_generator.initial_seed())
        _cuda_generators[dev.index] = gen
    return gen.rng


def manual_seed(seed):
    """Seed every device's default stream; returns the CPU generator."""
    default_generator.manual_seed(seed)
    for idx, gen in _cuda_generators.items():
        gen.manual_seed(seed + idx)
    return default_generator


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)
