"""Sharded data loading: every rank sees a disjoint, equally long part of each epoch.

An epoch's index order (a permutation seeded by (seed, epoch) when shuffling, else 0..n-1) is cut
into global steps of `world_size` batches; rank r takes batch r of every step, so gathering one
step's batches in rank order gives the samples in epoch order. A last, incomplete global step is
split evenly over the ranks, padded with samples from the start of the epoch; `remainder` says
how many of its samples are real so `gather_for_metrics` can drop the padding.
"""
import math

import numpy as np

import mytorch
from mytorch import backend
from mytorch.tensor import Tensor


def shard_batches(n, batch_size, rank, world_size, shuffle=False, seed=0, epoch=0,
                  drop_last=False):
    """Index lists of rank `rank`'s batches for one epoch, and the count of real samples in the
    last global step (0 when that step is complete or dropped).

    >>> shard_batches(10, 2, rank=1, world_size=2)
    ([[2, 3], [6, 7], [9]], 2)
    """
    if batch_size is None or batch_size < 1:
        raise ValueError(f"shard_batches: batch_size must be a positive int, got {batch_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"shard_batches: rank {rank} outside world size {world_size}")
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    order = order.tolist()
    step = batch_size * world_size
    full = n // step
    batches = [order[(s * world_size + rank) * batch_size:(s * world_size + rank + 1) * batch_size]
               for s in range(full)]
    rest = n - full * step
    if rest == 0 or drop_last:
        return batches, 0
    per = math.ceil(rest / world_size)
    tail = order[full * step:]
    while len(tail) < per * world_size:  # pad from the start of the epoch (n may be tiny)
        tail += order[:per * world_size - len(tail)]
    batches.append(tail[rank * per:(rank + 1) * per])
    return batches, rest


def _move(batch, device):
    if isinstance(batch, Tensor):
        return batch.to(device)
    if backend.is_array(batch):  # a collate_fn returning numpy arrays (the design document's)
        return backend.to_device(batch, device)
    if isinstance(batch, (list, tuple)):
        moved = [_move(b, device) for b in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    if isinstance(batch, dict):
        return type(batch)((k, _move(v, device)) for k, v in batch.items())
    return batch


class DataLoaderShard:
    """Iterates over the user's DataLoader's dataset with this rank's batches; keeps its
    batch_size, collate_fn and num_workers and never modifies it.

    A new `for` loop starts the next epoch (reshuffled). `state_dict()` records the epoch and
    how many batches were taken, so a resumed run continues mid-epoch.
    """

    def __init__(self, loader, rank=0, world_size=1, seed=0, shuffle=None, device=None,
                 gradient_state=None):
        for attr in ("dataset", "batch_size"):
            if not hasattr(loader, attr):
                raise TypeError(f"prepare: a dataloader needs a .{attr}; got "
                                f"{type(loader).__name__}")
        if loader.batch_size is None:
            raise ValueError("prepare: dataloaders with a custom batch_sampler (batch_size=None) "
                             "cannot be sharded; pass batch_size instead")
        self.loader = loader
        self.dataset = loader.dataset
        self.batch_size = loader.batch_size
        self.drop_last = bool(getattr(loader, "drop_last", False))
        if shuffle is None:
            shuffle = type(getattr(loader, "sampler", None)).__name__ == "RandomSampler"
        self.shuffle = shuffle
        self.rank, self.world_size, self.seed = rank, world_size, int(seed)
        self.device = None if device is None else backend.device(device)
        self.gradient_state = gradient_state
        self.epoch = 0          # epoch the next (or current) loop runs
        self.position = 0       # batches taken in the current epoch
        self._skip = 0          # batches to skip at the start of the next loop (resume)
        self.end_of_dataloader = False
        self.remainder = 0

    def _batches(self, epoch):
        return shard_batches(len(self.dataset), self.batch_size, self.rank, self.world_size,
                             self.shuffle, self.seed, epoch, self.drop_last)

    def __len__(self):
        return len(self._batches(0)[0])

    def set_epoch(self, epoch):
        self.epoch, self.position, self._skip = int(epoch), 0, 0

    def _inner(self, batches, epoch):
        # Its own generator: the loader's per-epoch draw (worker seeds) must not touch the global
        # stream, or a run resumed mid-epoch would draw once more than the uninterrupted one.
        seed = int(np.random.SeedSequence([self.seed, epoch, self.rank]).generate_state(1)[0])
        kwargs = {"batch_sampler": batches, "generator": mytorch.Generator().manual_seed(seed)}
        for attr in ("num_workers", "collate_fn", "worker_init_fn", "timeout"):
            if getattr(self.loader, attr, None) is not None:
                kwargs[attr] = getattr(self.loader, attr)
        return type(self.loader)(self.dataset, **kwargs)

    def __iter__(self):
        batches, self.remainder = self._batches(self.epoch)
        skip, self._skip = self._skip, 0
        self.position = skip
        self.end_of_dataloader = skip >= len(batches)
        if self.gradient_state is not None:
            self.gradient_state.enter_dataloader(self)
        try:
            for batch in (self._inner(batches[skip:], self.epoch) if skip < len(batches) else ()):
                self.position += 1
                self.end_of_dataloader = self.position == len(batches)
                yield batch if self.device is None else _move(batch, self.device)
        finally:
            if self.gradient_state is not None:
                self.gradient_state.exit_dataloader(self)
        self.epoch += 1
        self.position = 0

    def state_dict(self):
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state):
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])
        self.position = self._skip = int(state["position"])

    def __repr__(self):
        return (f"DataLoaderShard(rank={self.rank}/{self.world_size}, batches={len(self)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle})")
