"""Datasets: map-style (`__getitem__` + `__len__`) and iterable (`__iter__`), and combinators."""
import bisect
import itertools
import math

import numpy as np

from mytorch import random as _random
from mytorch.tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses define `__getitem__(index)` and usually `__len__`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define `__iter__`.

    With `num_workers > 0` every worker process iterates its own copy of the dataset, so a
    dataset that does not shard itself yields every sample once per worker. Shard in `__iter__`
    with `get_worker_info()` (None in the main process):

    >>> def __iter__(self):
    ...     info = get_worker_info()
    ...     start, step = (0, 1) if info is None else (info.id, info.num_workers)
    ...     return iter(self.items[start::step])
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are tuples `(t[i] for t in tensors)`; all tensors share their first dimension.

    >>> ds = TensorDataset(mytorch.randn(10, 3), mytorch.arange(10))
    >>> x, y = ds[0]    # x: (3,), y: ()
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        for t in tensors:
            if not isinstance(t, (Tensor, np.ndarray)) or t.ndim == 0:
                raise ValueError(f"TensorDataset: expected tensors or arrays with at least one "
                                 f"dimension, got {type(t).__name__}"
                                 f"{' of shape ()' if getattr(t, 'ndim', 1) == 0 else ''}")
        sizes = [t.shape[0] for t in tensors]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions "
                             f"{sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        # Plain array indexing skips the autograd op (~10x cheaper per sample) when no tensor
        # needs a graph.
        return tuple(Tensor._wrap(t.data[index]) if isinstance(t, Tensor) and
                     not t.requires_grad else t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    """Map-style datasets one after another: index i falls in the dataset holding it."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset; use ChainDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            if -index > n:
                raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
            index += n
        elif index >= n:
            raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][index - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got "
                                f"{type(d).__name__}")

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices):
        # Lets a parent dataset's batched fetch (if it has one) see the whole batch.
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random `Subset`s of the given lengths.

    `lengths` are counts summing to `len(dataset)`, or fractions summing to 1 (each part gets
    `floor(frac * n)`, and the remainder goes one by one to the parts in order).
    `generator`: a `mytorch.Generator` for a reproducible split (default: the global stream).

    >>> train, val = random_split(ds, [0.8, 0.2], generator=mytorch.Generator().manual_seed(0))
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and \
            math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1.0 + 1e-9:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions summing "
                         f"to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not equal the "
                         f"length of the input dataset ({n})")
    rng = _rng(generator, "random_split")
    perm = rng.permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset:offset + int(length)]))
        offset += int(length)
    return out


def _rng(generator, who):
    """The NumPy stream behind a CPU `mytorch.Generator` (the global one when None)."""
    if generator is None:
        return _random.default_generator.rng
    if not isinstance(generator, _random.Generator):
        raise TypeError(f"{who}: generator must be a mytorch.Generator, got "
                        f"{type(generator).__name__}")
    if generator.device.type != "cpu":
        raise ValueError(f"{who}: expected a CPU generator, got one on {generator.device}")
    return generator.rng
