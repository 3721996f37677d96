"""DistributedSampler: torch's partitioning and padding; shuffled orders split the data."""
import warnings

import pytest
import torch.utils.data as tud

import mytorch
from mytorch.utils.data import DataLoader, DistributedSampler, TensorDataset

SIZES = [0, 1, 5, 10, 11, 13]
REPLICAS = [1, 2, 3, 4, 7, 16]


def shares(n, replicas, **kw):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw))
            for r in range(replicas)]


def torch_shares(n, replicas, **kw):
    return [list(tud.DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw))
            for r in range(replicas)]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("replicas", REPLICAS)
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_indices_equal_torch(n, replicas, drop_last):
    got = shares(n, replicas, shuffle=False, drop_last=drop_last)
    assert got == torch_shares(n, replicas, shuffle=False, drop_last=drop_last)
    for r in range(replicas):
        s = DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)
        t = tud.DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)
        assert (len(s), s.num_samples, s.total_size) == (len(t), t.num_samples, t.total_size)


@pytest.mark.parametrize("n", [1, 5, 10, 11, 13])
@pytest.mark.parametrize("replicas", REPLICAS)
@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffled_shares_partition_like_torch(n, replicas, drop_last):
    got = shares(n, replicas, drop_last=drop_last, seed=3)
    ref = torch_shares(n, replicas, drop_last=drop_last, seed=3)
    assert [len(s) for s in got] == [len(s) for s in ref]
    flat = [i for s in got for i in s]
    assert all(0 <= i < n for i in flat)
    if drop_last:  # disjoint shares, n // replicas each
        assert len(set(flat)) == len(flat) == replicas * (n // replicas)
    else:  # every index at least once, padding repeats as few as possible
        assert set(flat) == set(range(n))
        # interleaving the shares gives the padded order: a permutation, then its start
        order = [got[r][k] for k in range(len(got[0])) for r in range(replicas)]
        if len(order) <= 2 * n:
            assert sorted(order[:n]) == list(range(n)) and order[n:] == order[:len(order) - n]


@pytest.mark.parametrize("shuffle", [False, True])
def test_empty_dataset(shuffle):
    for drop_last in (False, True):
        assert shares(0, 3, shuffle=shuffle, drop_last=drop_last) == [[], [], []]
        assert torch_shares(0, 3, shuffle=shuffle, drop_last=drop_last) == [[], [], []]


def test_epochs_reshuffle_and_seed_reproduces():
    a = DistributedSampler(range(20), num_replicas=2, rank=1, seed=5)
    b = DistributedSampler(range(20), num_replicas=2, rank=1, seed=5)
    first = list(a)
    assert first == list(a) == list(b)  # same epoch: same order
    a.set_epoch(1)
    assert list(a) != first and a.epoch == 1
    b.set_epoch(1)
    assert list(a) == list(b)
    # the order of seed s at epoch e is the order of seed s + e at epoch 0
    assert list(a) == list(DistributedSampler(range(20), num_replicas=2, rank=1, seed=6))
    # ranks of one epoch agree on the permutation, so they never share a sample
    other = DistributedSampler(range(20), num_replicas=2, rank=0, seed=5)
    other.set_epoch(1)
    assert set(other) | set(a) == set(range(20)) and not set(other) & set(a)


def test_with_dataloader():
    ds = TensorDataset(mytorch.arange(10))
    sampler = DistributedSampler(ds, num_replicas=3, rank=2, shuffle=False)
    batches = [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=sampler)]
    assert batches == [[2, 5], [8, 1]]


def test_defaults_and_bad_arguments():
    with pytest.warns(UserWarning, match="assuming a single process"):
        s = DistributedSampler(range(4), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (1, 0, [0, 1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DistributedSampler(range(4), num_replicas=2, rank=1)
    with pytest.raises(ValueError,
                       match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)
    with pytest.raises(ValueError, match="num_replicas should be a positive integer"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
