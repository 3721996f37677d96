import numpy as np
import pytest
import torch

import mytorch
from miniddp import DataLoaderShard, shard_batches
from mytorch.utils.data import DataLoader, TensorDataset


@pytest.mark.parametrize("n,bs,world", [(10, 2, 2), (7, 2, 2), (9, 4, 3), (3, 2, 4), (16, 4, 2)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_disjoint_even_and_in_epoch_order(n, bs, world, shuffle):
    shards = [shard_batches(n, bs, r, world, shuffle, seed=3, epoch=1) for r in range(world)]
    rems = {rem for _, rem in shards}
    assert len(rems) == 1
    batches = [b for b, _ in shards]
    assert len({len(b) for b in batches}) == 1, "every rank gets the same number of batches"
    # step s gathered in rank order == the epoch's order; only the last step has padding
    order = np.random.default_rng([3, 1]).permutation(n).tolist() if shuffle else list(range(n))
    gathered = [i for s in range(len(batches[0])) for r in range(world) for i in batches[r][s]]
    rem = rems.pop()
    real = len(gathered) - (len(batches[0][-1]) * world - rem if rem else 0)
    assert real == n and gathered[:n] == order
    for s in range(len(batches[0])):
        assert len({len(batches[r][s]) for r in range(world)}) == 1


@pytest.mark.parametrize("drop_last", [False, True])
def test_one_rank_batches_match_torch(drop_last):
    got, _ = shard_batches(10, 4, 0, 1, drop_last=drop_last)
    want = [b.tolist() for b in torch.utils.data.DataLoader(torch.arange(10), batch_size=4,
                                                            drop_last=drop_last)]
    assert got == want


def test_drop_last_and_reshuffling():
    b, rem = shard_batches(10, 2, 1, 2, drop_last=True)
    assert b == [[2, 3], [6, 7]] and rem == 0
    e0 = shard_batches(20, 2, 0, 2, shuffle=True, seed=5, epoch=0)[0]
    assert e0 == shard_batches(20, 2, 0, 2, shuffle=True, seed=5, epoch=0)[0]
    assert e0 != shard_batches(20, 2, 0, 2, shuffle=True, seed=5, epoch=1)[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        shard_batches(10, 0, 0, 1)
    with pytest.raises(ValueError, match="rank 2 outside world size 2"):
        shard_batches(10, 2, 2, 2)
    with pytest.raises(ValueError, match="batch_sampler"):
        DataLoaderShard(DataLoader(TensorDataset(mytorch.arange(4)), batch_size=None))


def _loader(n=10, bs=3, **kw):
    x = mytorch.arange(n)
    return DataLoader(TensorDataset(x, x * 2), batch_size=bs, **kw)


def test_world_one_matches_the_user_loader_and_leaves_it_alone():
    user = _loader()
    sampler = user.sampler
    shard = DataLoaderShard(user)
    assert [b[0].tolist() for b in shard] == [b[0].tolist() for b in user]
    assert len(shard) == len(user) == 4
    assert user.sampler is sampler and user.batch_size == 3 and shard.epoch == 1


def test_state_dict_resumes_mid_epoch():
    shard = DataLoaderShard(_loader(shuffle=True), seed=7)
    first = [b[0].tolist() for b in shard]
    it = iter(shard)
    taken = [next(it)[0].tolist(), next(it)[0].tolist()]
    state = shard.state_dict()
    assert state == {"epoch": 1, "position": 2, "seed": 7}
    rest = [b[0].tolist() for b in it]
    other = DataLoaderShard(_loader(shuffle=True), seed=0)
    other.load_state_dict(state)
    assert [b[0].tolist() for b in other] == rest
    assert taken + rest != first  # epoch 1 was reshuffled
    assert other.epoch == 2 and other.position == 0
