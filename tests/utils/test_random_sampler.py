"""RandomSampler with replacement draws lazily in chunks, so `num_samples=10**10` (the
"infinite loader" idiom) starts at once in constant memory, as torch's does."""
import itertools
import tracemalloc

import numpy as np
import torch

import mytorch
from mytorch.utils.data import DataLoader, RandomSampler, TensorDataset
from mytorch.utils.data import sampler as sampler_module


def test_huge_num_samples_is_lazy_and_small():
    g = mytorch.Generator().manual_seed(0)
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 10, generator=g)
    ts = torch.utils.data.RandomSampler(range(10), replacement=True, num_samples=10 ** 10)
    assert len(s) == len(ts) == 10 ** 10
    tracemalloc.start()
    first = list(itertools.islice(iter(s), 200_000))  # crosses several chunks
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 2 ** 20  # the 200k Python ints themselves are ~8 MB; 10**10 would be 80 GB
    assert min(first) == 0 and max(first) == 9
    counts = np.bincount(first, minlength=10)
    assert counts.min() > 19_000 and counts.max() < 21_000  # uniform: 20k each, sd ~134


def test_small_cases_keep_the_one_shot_sequence():
    n_chunk = sampler_module._REPLACEMENT_CHUNK
    for num in (1, 7, 50, n_chunk):
        got = list(RandomSampler(range(13), replacement=True, num_samples=num,
                                 generator=mytorch.Generator().manual_seed(3)))
        want = mytorch.Generator().manual_seed(3).rng.integers(0, 13, size=num).tolist()
        assert got == want


def test_chunks_continue_one_stream_and_each_iter_continues_the_generator():
    # as torch: the generator is not reset between iter() calls, so two epochs differ
    g = mytorch.Generator().manual_seed(1)
    s = RandomSampler(range(1000), replacement=True, num_samples=3 * 2 ** 16 + 5, generator=g)
    a, b = list(s), list(s)
    assert len(a) == len(b) == 3 * 2 ** 16 + 5 and a != b
    again = RandomSampler(range(1000), replacement=True, num_samples=3 * 2 ** 16 + 5,
                          generator=mytorch.Generator().manual_seed(1))
    assert list(again) == a


def test_global_seed_fixes_the_sequence_without_a_generator():
    mytorch.manual_seed(5)
    a = list(itertools.islice(RandomSampler(range(9), True, 10 ** 12), 100))
    mytorch.manual_seed(5)
    b = list(itertools.islice(RandomSampler(range(9), True, 10 ** 12), 100))
    assert a == b


def test_infinite_loader_loop_with_workers():
    data = TensorDataset(mytorch.arange(20.0).reshape(10, 2), mytorch.arange(10))
    sampler = RandomSampler(data, replacement=True, num_samples=10 ** 10,
                            generator=mytorch.Generator().manual_seed(0))
    for workers in (0, 2):
        loader = DataLoader(data, batch_size=4, sampler=sampler, num_workers=workers)
        assert len(loader) == 10 ** 10 // 4
        seen = 0
        for step, (x, y) in enumerate(loader):
            assert x.shape == (4, 2) and bool((x[:, 0] == 2 * y.float()).all())
            seen += 1
            if step == 49:
                break
        assert seen == 50
