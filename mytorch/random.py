"""Random streams: a `Generator` per device family and `manual_seed` for reproducible runs."""
import numpy as np

from mytorch import backend


class Generator:
    """A seeded random stream (NumPy's PCG64 on the CPU, CuPy's Philox on a GPU).

    >>> g = mytorch.Generator().manual_seed(0)
    >>> mytorch.randn(3, generator=g)
    """

    def __init__(self, device="cpu"):
        self.device = backend.resolve(device)
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._offset = 0
        self._make()

    def _make(self):
        self._offset = 0
        if self.device.type == "cpu":
            self._rng = np.random.Generator(np.random.PCG64(self._seed))

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
        return {"seed": self._seed, "offset": self._offset}

    def set_state(self, state):
        self._seed = state["seed"]
        self._make()
        if self.device.type == "cpu" and "bit_generator" in state:
            self._rng.bit_generator.state = state["bit_generator"]
        self._offset = state.get("offset", 0)

    @property
    def rng(self):
        """The stream to draw from. On a GPU each access is a new CuPy generator for draw
        number `offset` of this seed: CuPy's generators cannot export their state, so
        (seed, offset) is the state, and saving and restoring it repeats the draws exactly."""
        if self.device.type == "cpu":
            return self._rng
        xp = backend.module_for(self.device)
        with xp.cuda.Device(self.device.index):
            return xp.random.Generator(xp.random.Philox4x3210(self._next_key()))

    def _next_key(self):
        # draw number `offset` of this seed, as a 64-bit key; the next draw gets the next one
        key = np.random.SeedSequence([self._seed, self._offset]).generate_state(1, np.uint64)
        self._offset += 1
        return int(key[0])

    def next_seed(self):
        """A 64-bit seed for a kernel that makes its own random numbers from (seed, element
        index), such as the fused CUDA dropout: the next draw of this stream, so manual_seed
        makes it reproducible. On the CPU it is drawn from the stream itself."""
        if self.device.type == "cpu":
            return int(self._rng.integers(0, 1 << 63))
        return self._next_key()


default_generator = Generator()
_cuda_generators = {}


def cuda_generator(index):
    """The default generator of GPU `index`, made on first use from the last manual_seed."""
    gen = _cuda_generators.get(index)
    if gen is None:
        gen = Generator(backend.device("cuda", index)).manual_seed(
            default_generator.initial_seed())
        _cuda_generators[index] = gen
    return gen


def _generator(dev, generator):
    """The Generator for device `dev`: `generator` if given (it must live on `dev`, as in
    PyTorch), else the device's default one."""
    dev = backend.resolve(dev)
    if generator is not None:
        if generator.device != dev:
            raise RuntimeError(f"generator on {generator.device} cannot draw for a tensor on "
                               f"{dev}")
        return generator
    return default_generator if dev.type == "cpu" else cuda_generator(dev.index)


def generator_for(dev, generator=None):
    """The stream to draw from on device `dev` (an explicit generator wins; it must live on
    `dev`, as in PyTorch)."""
    return _generator(dev, generator).rng


def seed_for(dev, generator=None):
    """A 64-bit seed from the stream of device `dev` (chosen as in generator_for), for a
    kernel with its own counter-based random numbers (see Generator.next_seed)."""
    return _generator(dev, generator).next_seed()


def manual_seed(seed):
    """Seed every device's default stream with `seed` (as torch.manual_seed); returns the
    CPU generator."""
    default_generator.manual_seed(seed)
    for gen in _cuda_generators.values():
        gen.manual_seed(seed)
    return default_generator


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)
