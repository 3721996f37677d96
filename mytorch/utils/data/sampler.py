"""Samplers: iterables of dataset indices (or of index lists, for `BatchSampler`).

Any iterable of indices works as a DataLoader `sampler`; any iterable of index lists works
as a `batch_sampler`. `set_epoch(epoch)` is a hook a DataLoader user (or a distributed trainer)
may call before each epoch; the samplers here ignore it except `BatchSampler`, which forwards it.
"""
import numpy as np

from mytorch import random as _random
from mytorch.utils.data.dataset import _rng


class Sampler:
    """Base class: subclasses define `__iter__` (and `__len__` when they know it)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def set_epoch(self, epoch):
        """Hook called with the epoch number; a no-op unless a sampler uses it."""


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


_REPLACEMENT_CHUNK = 1 << 16  # draws per chunk; up to this many, one draw as before


class RandomSampler(Sampler):
    """Random indices: a permutation (or `num_samples` draws with `replacement=True`).

    With a `mytorch.Generator`, every `iter()` draws a fresh permutation from it, so the order
    of each epoch is fixed by the generator's seed. Without one, each `iter()` seeds a private
    stream from the global generator (reproducible under `mytorch.manual_seed`).

    >>> list(RandomSampler(range(5), generator=mytorch.Generator().manual_seed(0)))
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a bool, got {replacement!r}")
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer, got "
                             f"{num_samples!r}")
        _rng(generator, "RandomSampler")  # validate early

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        if n == 0:
            return
        if self.generator is None:
            seed = int(_random.default_generator.rng.integers(2 ** 63))
            rng = np.random.Generator(np.random.PCG64(seed))
        else:
            rng = self.generator.rng
        if self.replacement:
            # in chunks, as torch: num_samples=10**10 is the "infinite loader" idiom
            left = self.num_samples
            while left > 0:
                k = min(left, _REPLACEMENT_CHUNK)
                yield from rng.integers(0, n, size=k).tolist()
                left -= k
            return
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[:self.num_samples % n].tolist()

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (a fresh one each `iter()`)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator
        _rng(generator, "SubsetRandomSampler")

    def __iter__(self):
        for i in _rng(self.generator, "SubsetRandomSampler").permutation(len(self.indices)):
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """`num_samples` indices drawn with probability proportional to `weights`."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1-d sequence, got "
                             f"shape {weights.shape}")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        if not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer, "
                             f"got {num_samples!r}")
        if not replacement and num_samples > int((weights > 0).sum()):
            raise ValueError("WeightedRandomSampler: cannot draw more samples than there are "
                             "non-zero weights without replacement")
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator
        _rng(generator, "WeightedRandomSampler")

    def __iter__(self):
        rng = _rng(self.generator, "WeightedRandomSampler")
        p = self.weights / self.weights.sum()
        yield from rng.choice(len(p), size=self.num_samples, replace=self.replacement,
                              p=p).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size` (the last one shorter unless
    `drop_last`).

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer, got "
                             f"{batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch):
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
