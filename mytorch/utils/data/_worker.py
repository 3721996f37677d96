"""What runs inside a DataLoader worker process, and the fetchers both paths share.

Protocol. The main process puts `(epoch, idx, index)` on a worker's own index queue (`index` is
a list of indices, one index, or None for iterable datasets) and `None` to stop it. The worker
answers every task on the shared result queue with one message: pickled bytes of
`(epoch, idx, data)`, where data is the collated batch, an `_IterableEnd` once an iterable
dataset is exhausted, or an `_ExceptionWrapper`. Pickling in the worker (not in the queue's
feeder thread) turns an unpicklable batch into an error instead of a silent hang.
"""
import dataclasses
import os
import pickle
import queue
import random
import sys
import traceback

import numpy as np

# How often an idle worker checks that its parent is alive, and an idle main process checks
# its workers, in seconds.
STATUS_CHECK_INTERVAL = 1.0

_worker_info = None


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """Who this worker is: `id` in [0, num_workers), the `seed` it was given and its copy of the
    dataset."""
    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """The `WorkerInfo` inside a DataLoader worker process; None in the main process."""
    return _worker_info


class _IterableEnd:
    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ExceptionWrapper:
    """An exception caught in a worker, carried to the main process with its traceback text."""

    def __init__(self, where):
        exc_type, exc, _ = sys.exc_info()
        self.exc_type = exc_type
        self.msg = f"Caught {exc_type.__name__} {where}.\nOriginal {traceback.format_exc()}"
        try:
            pickle.dumps(exc_type)
        except Exception:  # e.g. a class defined inside a function
            self.exc_type = RuntimeError

    def reraise(self):
        msg = self.msg
        if self.exc_type is KeyError:  # KeyError shows repr(message): keep newlines readable
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # constructors with other signatures
            exc = RuntimeError(msg)
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


class _MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self._getitems = getattr(dataset, "__getitems__", None)

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self._getitems is not None:
            return self.collate_fn(self._getitems(index))
        return self.collate_fn([self.dataset[i] for i in index])


class _IterFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, batch_size, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index=None):
        """The next batch (or sample); StopIteration when the stream is done."""
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            try:
                return self.collate_fn(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                raise
        batch = []
        for item in self.dataset_iter:
            batch.append(item)
            if len(batch) == self.batch_size:
                break
        else:
            self.ended = True
            if not batch or self.drop_last:
                raise StopIteration
        return self.collate_fn(batch)


def seed_worker(seed):
    """Seed Python's, NumPy's legacy and mytorch's global streams in a worker."""
    import mytorch
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    mytorch.manual_seed(seed)


def _check_on_host(data, worker_id):
    """Workers hand back host batches only: a worker (forked from a process that may hold a
    CUDA context) must never use the GPU; the main process moves batches to the device."""
    if isinstance(data, (list, tuple)):
        for d in data:
            _check_on_host(d, worker_id)
    elif isinstance(data, dict):
        for d in data.values():
            _check_on_host(d, worker_id)
    elif getattr(data, "device", None) is not None and getattr(data.device, "type", "") == "cuda":
        raise RuntimeError(f"DataLoader worker {worker_id}: the dataset returned a CUDA tensor "
                           f"of shape {tuple(data.shape)}; workers must return CPU tensors. Keep "
                           "the dataset on the CPU and move each batch to the GPU in the main "
                           "process (or use num_workers=0)")


def worker_loop(dataset, is_iterable, auto_collation, collate_fn, batch_size, drop_last,
                index_queue, result_queue, done_event, seed, worker_id, num_workers,
                worker_init_fn, parent_pid):
    """Main function of a worker process; see the module docstring for the protocol."""
    global _worker_info
    # Exit without flushing results the main process will never read (it may be gone).
    result_queue.cancel_join_thread()
    try:
        seed_worker(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = None
        try:
            if worker_init_fn is not None:
                worker_init_fn(worker_id)
        except Exception:
            init_error = _ExceptionWrapper(f"in DataLoader worker process {worker_id} "
                                           f"(worker_init_fn)")
        fetcher, fetcher_epoch = None, None
        while True:
            try:
                task = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if done_event.is_set() or os.getppid() != parent_pid:
                    return
                continue
            if task is None or done_event.is_set():
                return
            epoch, idx, index = task
            if init_error is not None:
                data = init_error
            else:
                try:
                    if fetcher is None or (is_iterable and fetcher_epoch != epoch):
                        # An iterable dataset restarts its stream each epoch.
                        fetcher_epoch = epoch
                        fetcher = (_IterFetcher(dataset, auto_collation, collate_fn, batch_size,
                                                drop_last) if is_iterable else
                                   _MapFetcher(dataset, auto_collation, collate_fn))
                    data = fetcher.fetch(index)
                    _check_on_host(data, worker_id)
                except StopIteration:
                    data = _IterableEnd(worker_id)
                except Exception:
                    data = _ExceptionWrapper(f"in DataLoader worker process {worker_id}")
            result_queue.put(_dumps(epoch, idx, data, worker_id))
            del data
    except KeyboardInterrupt:
        pass  # the main process got it too and shuts the workers down


def _dumps(epoch, idx, data, worker_id):
    try:
        return pickle.dumps((epoch, idx, data), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        err = _ExceptionWrapper(f"in DataLoader worker process {worker_id} while pickling the "
                                f"batch to send it to the main process")
        return pickle.dumps((epoch, idx, err), protocol=pickle.HIGHEST_PROTOCOL)
