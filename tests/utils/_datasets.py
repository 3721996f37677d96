"""Tiny datasets for the DataLoader tests, in a module without torch so spawned workers start
fast."""
import os
import time

import numpy as np

import mytorch
from mytorch.utils.data import Dataset, IterableDataset, get_worker_info


class Squares(Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full(2, i * i, dtype=np.float32), i


class Failing(Squares):
    def __getitem__(self, i):
        if i == 5:
            raise ValueError(f"bad sample {i} in Failing dataset")
        return super().__getitem__(i)


class Slow(Squares):
    def __getitem__(self, i):
        time.sleep(0.02 * ((i * 7) % 5))  # uneven delays: batches finish out of order
        return super().__getitem__(i)


class Stuck(Squares):
    def __getitem__(self, i):
        time.sleep(3)
        return i


class Dies(Squares):
    def __getitem__(self, i):
        if get_worker_info() is not None:
            os._exit(3)
        return i


class Augment(Squares):
    """Worker-side randomness through the global streams the worker seeds."""
    def __getitem__(self, i):
        return np.random.rand(), mytorch.rand(1).item()


class WhoAmI(Squares):
    def __getitem__(self, i):
        info = get_worker_info()
        return info.id, info.seed, info.num_workers, os.getpid()


class Stream(IterableDataset):
    """0..n-1, sharded across workers by get_worker_info()."""
    def __init__(self, n=11, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n
