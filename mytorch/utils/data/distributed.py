"""`DistributedSampler`: each of `num_replicas` processes reads its own share of a dataset."""
import math
import warnings

from mytorch.random import Generator
from mytorch.utils.data.sampler import Sampler


class DistributedSampler(Sampler):
    """The indices of process `rank` out of `num_replicas`: every `num_replicas`-th index of
    one (shuffled) order, starting at `rank`, so the processes split the dataset.

    The partitioning is torch's: without drop_last the order is padded by repeating its start
    until it divides evenly (some samples are seen twice); with drop_last the tail is cut off.
    With shuffle, the order is a permutation from a `mytorch.Generator` seeded `seed + epoch`
    (the same on every process, different each `set_epoch`); it is mytorch's permutation, not
    the one torch's generator draws. Without shuffle the indices are exactly torch's.

    num_replicas and rank default to 1 and 0 (one process, with a warning): pass them from
    your process group, e.g. `miniddp`'s world size and rank.

    >>> sampler = DistributedSampler(ds, num_replicas=world, rank=rank)
    >>> for epoch in range(epochs):
    ...     sampler.set_epoch(epoch)
    ...     for batch in DataLoader(ds, batch_size=32, sampler=sampler): ...
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            warnings.warn("DistributedSampler: num_replicas and rank were not both given; "
                          "assuming a single process (num_replicas=1, rank=0). Pass the world "
                          "size and rank of your process group.", stacklevel=2)
            num_replicas = 1 if num_replicas is None else num_replicas
            rank = 0 if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas should be a positive integer, "
                             f"got {num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            gen = Generator().manual_seed(self.seed + self.epoch)
            indices = gen.rng.permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Set the epoch, which seeds the shuffle: call it before each epoch for a new order."""
        self.epoch = epoch
