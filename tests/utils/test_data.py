import collections
import io
import multiprocessing
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import mytorch
from mytorch.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from tests.utils._datasets import Augment, Dies, Failing, Slow, Squares, Stream, Stuck, WhoAmI


def _no_children(timeout=3.0):
    deadline = time.time() + timeout
    while multiprocessing.active_children() and time.time() < deadline:
        time.sleep(0.02)
    return multiprocessing.active_children() == []


def _lists(batches):
    return [[np.asarray(t).tolist() if isinstance(t, mytorch.Tensor) else t for t in b]
            for b in batches]


# ---- datasets ----

def test_tensor_dataset():
    x, y = mytorch.randn(6, 3), mytorch.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[2]
    np.testing.assert_array_equal(xi.numpy(), x.numpy()[2])
    assert yi.item() == 2
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(mytorch.randn(6, 3), mytorch.arange(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_subset_concat_chain():
    base = Squares(10)
    sub = Subset(base, [7, 2, 9])
    assert len(sub) == 3 and sub[0][1] == 7 and sub[-1][1] == 9
    assert [s[1] for s in sub.__getitems__([2, 0])] == [9, 7]
    assert [s[1] for s in sub[[1, 2]]] == [2, 9]
    with pytest.raises(NotImplementedError, match="Dataset must define __getitem__"):
        Dataset()[0]
    cat = ConcatDataset([Squares(3), Squares(4)])
    ref = tud.ConcatDataset([Squares(3), Squares(4)])
    assert len(cat) == len(ref) == 7 and cat.cumulative_sizes == ref.cumulative_sizes
    for i in range(-7, 7):
        assert cat[i][1] == ref[i][1]
    with pytest.raises(IndexError, match="ConcatDataset"):
        cat[7]
    with pytest.raises(IndexError, match="ConcatDataset"):
        cat[-8]
    assert len(Squares(2) + Squares(3)) == 5
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Squares(2), Stream(3)])
    chain = Stream(3) + Stream(2)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 2, 0, 1] and len(chain) == 5


def test_random_split():
    ds = Squares(11)
    parts = random_split(ds, [0.3, 0.3, 0.4], generator=mytorch.Generator().manual_seed(1))
    ref = tud.random_split(range(11), [0.3, 0.3, 0.4], generator=torch.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [len(p) for p in ref]
    idx = sum((list(p.indices) for p in parts), [])
    assert sorted(idx) == list(range(11))
    again = random_split(ds, [0.3, 0.3, 0.4], generator=mytorch.Generator().manual_seed(1))
    assert [p.indices for p in again] == [p.indices for p in parts]
    other = random_split(ds, [0.3, 0.3, 0.4], generator=mytorch.Generator().manual_seed(2))
    assert [p.indices for p in other] != [p.indices for p in parts]
    a, b = random_split(ds, [4, 7])
    assert len(a) == 4 and len(b) == 7 and not set(a.indices) & set(b.indices)
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [4, 4])
    with pytest.raises(TypeError, match="mytorch.Generator"):
        random_split(ds, [4, 7], generator=np.random.default_rng(0))


# ---- samplers ----

def test_sequential_and_batch_sampler_match_torch():
    assert list(SequentialSampler(range(5))) == list(tud.SequentialSampler(range(5)))
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True)]:
        ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
        ref = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(ref) and len(ours) == len(ref)
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), 0, False)


def test_random_sampler_reproducible():
    def order(seed, **kw):
        return list(RandomSampler(range(20), generator=mytorch.Generator().manual_seed(seed), **kw))

    assert sorted(order(0)) == list(range(20))
    assert order(0) == order(0)
    assert order(0) != order(1)
    s = RandomSampler(range(20), generator=mytorch.Generator().manual_seed(0))
    e1, e2 = list(s), list(s)
    assert e1 == order(0) and e1 != e2 and sorted(e2) == list(range(20))  # fresh each epoch
    # No generator: seeded from the global stream.
    mytorch.manual_seed(5)
    a = list(RandomSampler(range(20)))
    mytorch.manual_seed(5)
    assert list(RandomSampler(range(20))) == a


def test_random_sampler_options():
    g = mytorch.Generator().manual_seed(0)
    r = list(RandomSampler(range(4), replacement=True, num_samples=50, generator=g))
    assert len(r) == 50 and set(r) <= set(range(4))
    long = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    assert len(RandomSampler(range(4), num_samples=10)) == 10
    assert list(RandomSampler([])) == []
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(4), num_samples=0)
    sub = list(SubsetRandomSampler([3, 5, 8], generator=g))
    assert sorted(sub) == [3, 5, 8]
    w = list(WeightedRandomSampler([0.0, 1.0, 3.0], 200, generator=g))
    assert 0 not in w and 80 < w.count(2) < 200
    assert sorted(WeightedRandomSampler([1, 1, 1], 3, replacement=False, generator=g)) == [0, 1, 2]
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([-1.0, 1.0], 2)


# ---- collate ----

def test_default_collate_nested_matches_torch():
    Point = collections.namedtuple("Point", "x y")
    batch = [{"img": np.full((2, 3), i, np.float64), "label": i, "w": 0.5 * i, "flag": i > 0,
              "name": f"s{i}", "pair": (i, np.float32(i)), "pt": Point(i, [i, i + 1]),
              "t": mytorch.full((2,), float(i))} for i in range(3)]
    ours = default_collate(batch)
    ref = tud.default_collate([{**b, "t": torch.full((2,), float(i))} for i, b in enumerate(batch)])
    assert set(ours) == set(ref)
    for key in ("img", "label", "flag", "t"):
        assert isinstance(ours[key], mytorch.Tensor)
        np.testing.assert_array_equal(ours[key].numpy(), ref[key].numpy())
        assert ours[key].dtype == np.dtype(str(ref[key].dtype).replace("torch.", ""))
    assert ours["w"].dtype == mytorch.float32  # Python floats -> default dtype (torch: float64)
    np.testing.assert_allclose(ours["w"].numpy(), [0, 0.5, 1])
    assert ours["name"] == ["s0", "s1", "s2"]
    assert isinstance(ours["pair"], list) and ours["pair"][1].dtype == mytorch.float32
    assert isinstance(ours["pt"], Point)
    assert ours["pt"].x.tolist() == [0, 1, 2]
    assert [t.tolist() for t in ours["pt"].y] == [t.tolist() for t in ref["pt"].y]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match=r"equal size, but got \(2,\) at entry 0 and \(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size, got 2 at entry 0 and 1"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert():
    out = default_convert((np.arange(3), {"a": np.float32(2)}, "s", 4))
    assert isinstance(out, list) and isinstance(out[0], mytorch.Tensor)
    assert out[0].tolist() == [0, 1, 2] and out[1]["a"].item() == 2 and out[2:] == ["s", 4]


# ---- DataLoader, main process ----

def test_loader_basic_and_drop_last():
    ds = Squares(10)
    for drop in (False, True):
        ours = list(DataLoader(ds, batch_size=4, drop_last=drop))
        ref = list(tud.DataLoader(ds, batch_size=4, drop_last=drop))
        assert len(ours) == len(ref) == len(DataLoader(ds, batch_size=4, drop_last=drop))
        for (x, y), (rx, ry) in zip(ours, ref):
            np.testing.assert_array_equal(x.numpy(), rx.numpy())
            assert y.tolist() == ry.tolist() and y.dtype == mytorch.int64
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4)] == [4, 4, 2]
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]


def test_loader_shuffle_reproducible():
    def order(seed):
        g = mytorch.Generator().manual_seed(seed)
        return [y.tolist() for _, y in DataLoader(Squares(12), batch_size=5, shuffle=True,
                                                   generator=g)]

    assert order(0) == order(0) and order(0) != order(1)
    assert sorted(sum(order(3), [])) == list(range(12))
    loader = DataLoader(Squares(12), batch_size=12, shuffle=True,
                        generator=mytorch.Generator().manual_seed(0))
    assert [y.tolist() for _, y in loader] != [y.tolist() for _, y in loader]  # new each epoch


def test_loader_options():
    ds = Squares(6)
    # batch_size=None: samples one by one, arrays converted to Tensors.
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 6 and isinstance(items[2][0], mytorch.Tensor) and items[2][1] == 2
    # sampler, batch_sampler, collate_fn.
    got = [y.tolist() for _, y in DataLoader(ds, batch_size=2, sampler=[5, 4, 3])]
    assert got == [[5, 4], [3]]
    loader = DataLoader(ds, batch_sampler=[[0, 1, 2], [5]], collate_fn=lambda b: [s[1] for s in b])
    assert list(loader) == [[0, 1, 2], [5]] and len(loader) == 2
    for kw, msg in [(dict(batch_sampler=[[0]], batch_size=2), "mutually exclusive"),
                    (dict(sampler=[0], shuffle=True), "mutually exclusive"),
                    (dict(batch_size=None, drop_last=True), "batch_size=None"),
                    (dict(num_workers=-1), "num_workers"), (dict(timeout=-1), "timeout"),
                    (dict(persistent_workers=True), "persistent_workers"),
                    (dict(batch_size=0), "batch_size")]:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kw)
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_loader_iterable_single_process():
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    assert len(DataLoader(Stream(7), batch_size=3)) == 3
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]


def test_tqdm_around_loader():
    tqdm = pytest.importorskip("tqdm").tqdm
    loader = DataLoader(Squares(10), batch_size=3)
    with tqdm(loader, disable=False, file=io.StringIO()) as bar:
        assert bar.total == 4
        n = sum(1 for _ in bar)
        assert n == 4 and bar.n == 4


# ---- DataLoader, worker processes ----

def test_workers_same_batches_as_main_process():
    def run(nw, seed, ds=Squares(23)):
        loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=nw,
                            generator=mytorch.Generator().manual_seed(seed))
        return [(x.numpy().tolist(), y.tolist()) for x, y in loader]

    assert run(2, 0) == run(0, 0)
    assert run(2, 0) != run(2, 1)
    # Without a generator both draw from the global stream in the same order.
    mytorch.manual_seed(7)
    main = [y.tolist() for _, y in DataLoader(Squares(9), batch_size=4, shuffle=True)]
    mytorch.manual_seed(7)
    assert main == [y.tolist() for _, y in DataLoader(Squares(9), batch_size=4, shuffle=True,
                                                      num_workers=2)]
    # In order even when workers finish out of order.
    out = [y.tolist() for _, y in DataLoader(Slow(12), batch_size=2, num_workers=2)]
    assert out == [[i, i + 1] for i in range(0, 12, 2)]
    assert _no_children()


def test_worker_exception_reraised_with_traceback():
    loader = DataLoader(Failing(10), batch_size=2, num_workers=2)
    seen = []
    with pytest.raises(ValueError) as info:
        for _, y in loader:
            seen.append(y.tolist())
    msg = str(info.value)
    assert "Caught ValueError in DataLoader worker process" in msg
    assert "bad sample 5 in Failing dataset" in msg
    assert 'raise ValueError(f"bad sample {i} in Failing dataset")' in msg  # the worker's frame
    assert seen == [[0, 1], [2, 3]]  # batches before the bad one still arrive, in order
    del info
    assert _no_children()


def test_worker_exception_unpicklable_type_and_batch():
    class LocalError(Exception):
        pass

    def bad_init(worker_id):
        raise LocalError("init failed")

    with pytest.raises(RuntimeError, match="(?s)worker_init_fn.*LocalError: init failed"):
        list(DataLoader(Squares(4), num_workers=1, worker_init_fn=bad_init))
    with pytest.raises(Exception, match="while pickling the batch"):
        list(DataLoader(Squares(4), num_workers=1, collate_fn=lambda b: (lambda: b)))
    assert _no_children()


def test_early_break_and_main_loop_error_leave_no_children():
    loader = DataLoader(Slow(40), batch_size=2, num_workers=2)
    for _ in loader:
        break
    assert _no_children()
    it = iter(loader)
    next(it)
    assert len(multiprocessing.active_children()) == 2
    del it
    assert _no_children()

    def train():
        for _ in loader:
            raise KeyError("main loop failed")

    with pytest.raises(KeyError):
        train()
    assert _no_children()


def test_iterable_dataset_with_workers():
    out = sum((b.tolist() for b in DataLoader(Stream(11), batch_size=3, num_workers=2)), [])
    assert sorted(out) == list(range(11))
    # Without sharding every worker yields the whole stream (PyTorch's semantics).
    dup = sum((b.tolist() for b in DataLoader(Stream(5, shard=False), batch_size=2,
                                              num_workers=2)), [])
    assert sorted(dup) == sorted(list(range(5)) * 2)
    single = list(DataLoader(Stream(5), batch_size=None, num_workers=3))
    assert sorted(single) == list(range(5))
    assert _no_children()


def test_timeout_and_dead_worker():
    t0 = time.time()
    with pytest.raises(RuntimeError, match="timed out after 0.3 seconds"):
        next(iter(DataLoader(Stuck(4), num_workers=1, timeout=0.3)))
    assert time.time() - t0 < 8
    with pytest.raises(RuntimeError, match="exited unexpectedly.*exit code 3"):
        list(DataLoader(Dies(4), num_workers=1))
    assert _no_children()


def test_worker_seeds_and_augmentation_reproducible():
    def run(seed, nw=2):
        loader = DataLoader(Augment(8), batch_size=2, num_workers=nw,
                            generator=mytorch.Generator().manual_seed(seed))
        return [[t.tolist() for t in b] for b in loader]

    assert run(0) == run(0) and run(0) != run(1)
    info = list(DataLoader(WhoAmI(4), batch_size=None, num_workers=2,
                           generator=mytorch.Generator().manual_seed(0)))
    ids = [i[0] for i in info]
    assert ids == [0, 1, 0, 1] and all(i[2] == 2 for i in info)
    seeds = {i[0]: i[1] for i in info}
    assert seeds[1] == seeds[0] + 1
    assert get_worker_info() is None
    calls = multiprocessing.get_context("fork").Queue()
    list(DataLoader(Squares(4), num_workers=2, worker_init_fn=calls.put))
    assert sorted(calls.get(timeout=2) for _ in range(2)) == [0, 1]


def test_persistent_workers():
    loader = DataLoader(WhoAmI(6), batch_size=None, num_workers=2, persistent_workers=True)
    pids1 = {b[3] for b in loader}
    pids2 = {b[3] for b in loader}
    assert pids1 == pids2 and len(pids1) == 2
    it = iter(loader)
    next(it)  # abandon an epoch half way: the next one starts clean
    assert [b[0] for b in loader] == [0, 1, 0, 1, 0, 1]
    stream = DataLoader(Stream(7), batch_size=2, num_workers=2, persistent_workers=True)
    assert sorted(sum((b.tolist() for b in stream), [])) == list(range(7))
    assert sorted(sum((b.tolist() for b in stream), [])) == list(range(7))
    del loader, it, stream
    assert _no_children()


def test_spawn_context():
    loader = DataLoader(Squares(6), batch_size=4, num_workers=2, multiprocessing_context="spawn")
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5]]
    assert _no_children()
