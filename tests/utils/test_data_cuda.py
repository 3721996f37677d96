"""DataLoader on a GPU host (a real GPU or the CuPy stand-in): workers forked from a process
that uses CUDA hand back CPU batches, a dataset of CUDA tensors is a clear error (never a hang),
and pin_memory=True works."""
import multiprocessing
import time

import numpy as np
import pytest

import mytorch
from mytorch.utils.data import DataLoader, Dataset, TensorDataset

pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(), reason="no CUDA GPU")


def _batches(loader):
    return [[t.numpy() for t in b] for b in loader]


def test_workers_forked_after_cuda_return_cpu_batches():
    mytorch.ones(3, device="cuda").sum().item()  # the parent has used the GPU
    ds = TensorDataset(mytorch.arange(20).float().reshape(10, 2), mytorch.arange(10))
    ref = _batches(DataLoader(ds, batch_size=3))
    for pin in (False, True):
        loader = DataLoader(ds, batch_size=3, num_workers=2, pin_memory=pin)
        got = []
        for x, y in loader:
            assert x.device.type == "cpu" and y.device.type == "cpu"
            x, y = x.to("cuda"), y.to("cuda")  # the main process moves them
            got.append([x.cpu().numpy(), y.cpu().numpy()])
        for a, b in zip(got, ref):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)
    pinned = next(iter(DataLoader(ds, batch_size=4, pin_memory=True)))
    np.testing.assert_array_equal(pinned[0].numpy(), np.arange(8, dtype=np.float32).reshape(4, 2))


class _OnGPU(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return mytorch.full((2,), float(i), device="cuda")


def test_a_dataset_of_cuda_tensors_in_workers_is_a_clear_error():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="workers must return CPU tensors"):
        list(DataLoader(_OnGPU(), batch_size=2, num_workers=2, timeout=60))
    assert time.monotonic() - start < 60
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()  # no worker left behind
    # without workers the same dataset works: batches stay on the GPU
    (b,) = list(DataLoader(_OnGPU(), batch_size=4))
    assert b.device.type == "cuda"
