"""DataLoader: batches from a dataset, in the main process or in worker processes.

With `num_workers > 0` each worker is a process (start method "fork" on Linux by default, as
in PyTorch: cheap to start, the dataset is shared copy-on-write, nothing needs pickling; pass
`multiprocessing_context="spawn"` or `"forkserver"` when the parent runs threads that a forked
child could deadlock on -- then the dataset, collate_fn and worker_init_fn must be picklable).
Workers fetch samples *and* collate them, so the stacking runs in parallel too; the batch goes
to the main process pickled (Tensors pickle as their NumPy arrays) and is unpickled into
Tensors there. Batches come back in sampler order whatever the workers' timing.

Reproducibility: each `iter(loader)` draws a base seed from `generator` (or the global
stream); worker `i` seeds Python's, NumPy's and mytorch's global streams with `base_seed + i`,
so shuffling and worker-side augmentation repeat for a given seed.
"""
import itertools
import multiprocessing
import os
import pickle
import queue
import time

from mytorch import backend
from mytorch.utils.data import _worker
from mytorch.utils.data.collate import default_collate, default_convert
from mytorch.utils.data.dataset import IterableDataset, _rng
from mytorch.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

# Seconds a worker gets to exit on its own before it is terminated: after a normal end or an
# early break it may be finishing a batch; after an error or a timeout it may be stuck.
_JOIN_TIMEOUT = 5.0
_JOIN_TIMEOUT_ON_ERROR = 0.5


class DataLoader:
    """Iterate over `dataset` in batches.

    >>> loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=2,
    ...                     generator=mytorch.Generator().manual_seed(0))
    >>> for xb, yb in loader: ...

    `batch_size=None` turns batching off (each sample goes through `collate_fn`, by default
    `default_convert`). `sampler` yields indices, `batch_sampler` yields lists of indices (it
    excludes batch_size, shuffle, sampler and drop_last). `timeout` (seconds, workers only)
    bounds the wait for one batch. `persistent_workers` keeps the workers between epochs.
    Workers return CPU batches (a dataset yielding CUDA tensors is an error there: a forked
    worker must never use the GPU); move batches to the device in the main process.
    `pin_memory=True` puts batches in page-locked host memory when a GPU is present (faster
    copies to it) and is a no-op otherwise. For an `IterableDataset` with workers, see its
    docstring: each worker iterates its own copy and should shard with `get_worker_info()`.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None,
                 prefetch_factor=2, persistent_workers=False):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative integer, "
                             f"got {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout}")
        if not isinstance(prefetch_factor, int) or prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got "
                             f"{prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if generator is not None:
            _rng(generator, "DataLoader")

        self.is_iterable = isinstance(dataset, IterableDataset)
        if self.is_iterable:
            if shuffle:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 "option")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 "batch_sampler option")
        else:
            if sampler is not None and shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
            if batch_sampler is not None:
                if batch_size != 1 or shuffle or sampler is not None or drop_last:
                    raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                     "batch_size, shuffle, sampler, and drop_last")
                batch_size, drop_last = None, False
            elif batch_size is None and drop_last:
                raise ValueError("DataLoader: batch_size=None option disables auto-batching and "
                                 "is mutually exclusive with drop_last")
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=generator) if shuffle else
                           SequentialSampler(dataset))
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size should be a positive integer or None, got "
                             f"{batch_size!r}")

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else
                                         default_convert)
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = _context(multiprocessing_context)
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_size is not None if self.is_iterable else self.batch_sampler is not None

    @property
    def _index_sampler(self):
        # What the main process iterates: index lists, single indices, or (iterable) nothing.
        if self.is_iterable:
            return itertools.repeat(None)
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if self.is_iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None or self._iterator._shutdown:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def _base_seed(self):
        return int(_rng(self.generator, "DataLoader").integers(2 ** 62))


def _context(ctx):
    if ctx is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else None)
    if isinstance(ctx, str):
        return multiprocessing.get_context(ctx)
    if not hasattr(ctx, "Process"):
        raise TypeError(f"DataLoader: multiprocessing_context should be a start method name or a "
                        f"multiprocessing context, got {type(ctx).__name__}")
    return ctx


class _SingleProcessIter:
    def __init__(self, loader):
        self._len = _safe_len(loader)
        self._index_iter = iter(loader._index_sampler)
        self._pin = loader.pin_memory
        loader._base_seed()  # drawn as with workers, so the global stream advances the same way
        if loader.is_iterable:
            self._fetcher = _worker._IterFetcher(loader.dataset, loader._auto_collation,
                                                 loader.collate_fn, loader.batch_size,
                                                 loader.drop_last)
        else:
            self._fetcher = _worker._MapFetcher(loader.dataset, loader._auto_collation,
                                                loader.collate_fn)

    def __iter__(self):
        return self

    def __next__(self):
        data = self._fetcher.fetch(next(self._index_iter))
        return _pin(data) if self._pin else data

    def __len__(self):
        return self._len


class _MultiProcessIter:
    """Keeps up to `prefetch_factor` tasks per worker in flight and returns results in order."""

    def __init__(self, loader):
        self._len = _safe_len(loader)
        self._timeout = loader.timeout
        self._prefetch = loader.prefetch_factor
        self._persistent = loader.persistent_workers
        self._num_workers = loader.num_workers
        self._pin = loader.pin_memory
        self._shutdown = False
        self._workers, self._index_queues = [], []
        self._epoch = -1
        ctx = loader.multiprocessing_context
        self._result_queue = ctx.Queue()
        self._done_event = ctx.Event()
        self._sampler_iter = iter(loader._index_sampler)
        base_seed = loader._base_seed()
        try:
            for i in range(self._num_workers):
                index_queue = ctx.Queue()
                # Our tasks are tiny; never block process exit flushing them to a dead worker.
                index_queue.cancel_join_thread()
                w = ctx.Process(
                    target=_worker.worker_loop, daemon=True,
                    args=(loader.dataset, loader.is_iterable, loader._auto_collation,
                          loader.collate_fn, loader.batch_size, loader.drop_last, index_queue,
                          self._result_queue, self._done_event, base_seed + i, i,
                          self._num_workers, loader.worker_init_fn, os.getpid()))
                w.start()
                self._index_queues.append(index_queue)
                self._workers.append(w)
        except BaseException:
            self._shutdown_workers(_JOIN_TIMEOUT_ON_ERROR)
            raise
        self._reset(loader, first=True)

    def _reset(self, loader, first=False):
        if not first:
            self._sampler_iter = iter(loader._index_sampler)
        self._epoch += 1  # results of an abandoned earlier epoch are dropped on arrival
        self._send_idx = 0
        self._rcvd_idx = 0
        self._buffer = {}
        self._active = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        for _ in range(self._prefetch * self._num_workers):
            self._put_task()

    def _put_task(self):
        if not any(self._active):
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        while True:
            w = next(self._worker_cycle)
            if self._active[w]:
                break
        self._index_queues[w].put((self._epoch, self._send_idx, index))
        self._send_idx += 1

    def __iter__(self):
        return self

    def __len__(self):
        return self._len

    def __next__(self):
        try:
            data = self._next()
            return _pin(data) if self._pin else data
        except StopIteration:
            if not self._persistent:
                self._shutdown_workers()
            raise
        except BaseException:  # a worker's error, a timeout, Ctrl-C: leave no workers behind
            self._shutdown_workers(_JOIN_TIMEOUT_ON_ERROR)
            raise

    def _next(self):
        while True:
            if self._shutdown or self._rcvd_idx == self._send_idx:
                raise StopIteration
            if self._rcvd_idx in self._buffer:
                data = self._buffer.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                if isinstance(data, _worker._IterableEnd):
                    continue
                if isinstance(data, _worker._ExceptionWrapper):
                    data.reraise()
                self._put_task()
                return data
            epoch, idx, data = self._get()
            if epoch != self._epoch:
                continue
            if isinstance(data, _worker._IterableEnd):
                self._active[data.worker_id] = False
            self._buffer[idx] = data

    def _get(self):
        if self._timeout > 0:
            try:
                return pickle.loads(self._result_queue.get(timeout=self._timeout))
            except queue.Empty:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds waiting "
                                   f"for a batch from its workers") from None
        while True:
            try:
                return pickle.loads(self._result_queue.get(timeout=_worker.STATUS_CHECK_INTERVAL))
            except queue.Empty:
                dead = [w for w in self._workers if not w.is_alive()]
                if dead:
                    desc = ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in dead)
                    raise RuntimeError(f"DataLoader worker(s) exited unexpectedly ({desc})") \
                        from None

    def _shutdown_workers(self, join_timeout=_JOIN_TIMEOUT):
        if self._shutdown:
            return
        self._shutdown = True
        self._done_event.set()
        for q in self._index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + join_timeout
        for w in self._workers:
            w.join(max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join()
        for q in self._index_queues:
            q.close()
        self._result_queue.cancel_join_thread()
        self._result_queue.close()

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:  # interpreter teardown
            pass


def _pin(data):
    """The batch with every CPU tensor's array copied into page-locked memory."""
    from mytorch.tensor import Tensor
    if isinstance(data, Tensor):
        return Tensor(backend.pinned(data.data)) if data.device.type == "cpu" else data
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple
        return type(data)(*(_pin(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_pin(d) for d in data)
    if isinstance(data, dict):
        return {k: _pin(v) for k, v in data.items()}
    return data


def _safe_len(loader):
    try:
        return len(loader)
    except TypeError:
        return None
