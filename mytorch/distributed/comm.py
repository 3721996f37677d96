"""Communicators: one small interface, three implementations.

- `LocalCommunicator`: world size 1, every collective is the identity (no MPI needed).
- `MPICommunicator`: host (NumPy) arrays over mpi4py.
- `NCCLCommunicator`: GPU (CuPy) arrays over NCCL; its unique id travels over MPI (the ChainerMN
  pattern) and Python objects keep going over MPI.

Array collectives work in place on contiguous arrays where they can and return the result.
`iallreduce` starts an allreduce and returns a `Request` at once, so that gradient buckets can
travel while backward goes on; its `wait()` finishes it. Every collective bumps `calls[name]`
(a nonblocking allreduce counts as an "allreduce"), so tests can check that a step did not
communicate.
On more than one rank every collective runs under the watchdog (`watchdog.py`): one that
cannot complete aborts the job with a message instead of hanging.
"""
import collections
import contextlib
import os

import numpy as np

from mytorch.distributed.watchdog import Watchdog

_OPS = ("sum", "mean", "max", "min")


class Request:
    """A collective in flight, as `Communicator.iallreduce` returns it. `wait()` blocks until it
    has completed and returns its result (the reduced array); `test()` lets it progress and
    says whether it has completed. The array must not be touched until `wait()` returns.

    >>> req = comm.iallreduce(buf)   # returns at once
    >>> ...                          # other work; req.test() now and then
    >>> req.wait()                   # buf now holds the sum over ranks
    """

    __slots__ = ("result", "_finish", "_poll", "_done")

    def __init__(self, result, finish=None, poll=None):
        # finish(): blocks until the collective has completed and completes the result (copies
        # back, divides for a mean); poll(): progress, True once the collective has completed.
        # Neither: it completed already (one rank, or a blocking fallback).
        self.result = result
        self._finish, self._poll = finish, poll
        self._done = finish is None

    def test(self):
        if not self._done and self._poll is not None:
            self._done = bool(self._poll())
        return self._done

    def wait(self):
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
            self._done = True
        return self.result


class Communicator:
    """The interface. `rank`/`size` describe this process; collectives block until all join."""

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1
    name = "base"

    def __init__(self):
        self.calls = collections.Counter()
        self.watchdog = None
        self.step = 0

    def set_step(self, step):
        """The training step, for the watchdog's messages."""
        self.step = step
        if self.watchdog is not None:
            self.watchdog.set_step(step)

    def _watch(self, name):
        return contextlib.nullcontext() if self.watchdog is None else self.watchdog.watch(name)

    # ---- arrays ----
    def allreduce(self, x, op="sum"):
        """Reduce `x` (same shape on every rank) over ranks; "sum", "mean", "max" or "min"."""
        raise NotImplementedError

    def iallreduce(self, x, op="sum"):
        """Start `allreduce(x, op)` and return a `Request` at once; its `wait()` gives the result
        (x, reduced in place when it can be). Every rank must start its collectives, blocking or
        not, in the same order. This default runs the blocking one."""
        return Request(self.allreduce(x, op))

    def broadcast(self, x, root=0):
        """Overwrite `x` with root's values (shapes must agree); returns x."""
        raise NotImplementedError

    def allgather(self, x):
        """List of every rank's array in rank order; shapes and dtypes may differ by rank."""
        raise NotImplementedError

    def barrier(self):
        raise NotImplementedError

    # ---- Python objects (small: configs, RNG states, flags) ----
    def broadcast_object(self, obj, root=0):
        raise NotImplementedError

    def allgather_object(self, obj):
        raise NotImplementedError

    def _count(self, name):
        self.calls[name] += 1


def _check_op(op, x=None):
    if op not in _OPS:
        raise ValueError(f"allreduce: unknown op {op!r}; use one of {_OPS}")
    if op == "mean" and x is not None and x.dtype.kind in "iub":
        raise TypeError(f"allreduce: op='mean' needs a floating array, got {x.dtype} "
                        f"(shape {tuple(x.shape)})")


class LocalCommunicator(Communicator):
    """World size 1: collectives return their input (a copy for allgather's list)."""

    name = "local"

    def allreduce(self, x, op="sum"):
        _check_op(op, x)  # the same errors as on many ranks
        self._count("allreduce")
        return x

    def broadcast(self, x, root=0):
        self._count("broadcast")
        return x

    def allgather(self, x):
        self._count("allgather")
        return [x]

    def barrier(self):
        self._count("barrier")

    def broadcast_object(self, obj, root=0):
        self._count("broadcast_object")
        return obj

    def allgather_object(self, obj):
        self._count("allgather_object")
        return [obj]


def _widen(buf):
    """float16 is reduced in float32 (a copy); other dtypes as they are."""
    return buf.astype(np.float32) if buf.dtype == np.float16 else buf


def _local_comm(mpi, comm):
    """The ranks sharing this node (to pick one GPU per local rank)."""
    return comm.Split_type(mpi.COMM_TYPE_SHARED, key=comm.Get_rank())


class MPICommunicator(Communicator):
    """Host arrays over mpi4py (`comm` defaults to COMM_WORLD). `timeout`: seconds a collective
    may wait before the watchdog aborts the job (None: $MINIDDP_TIMEOUT, else 600)."""

    name = "mpi"

    def __init__(self, comm=None, timeout=None):
        super().__init__()
        from mpi4py import MPI
        self._mpi = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = _local_comm(MPI, self.comm)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self._ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        if self.size > 1:
            self.watchdog = Watchdog(self.comm, timeout)

    def allreduce(self, x, op="sum"):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"MPICommunicator.allreduce: expected a numpy array, got "
                            f"{type(x).__name__} (use NCCLCommunicator for GPU arrays)")
        _check_op(op, x)
        self._count("allreduce")
        with self._watch("allreduce"):
            self._allreduce(x, op)
        return x

    def _allreduce(self, x, op):
        buf = self._contiguous(x)
        self._reduce_widened(x, buf, op, lambda a: self.comm.Allreduce(self._mpi.IN_PLACE, a,
                                                                        op=self._ops[op]))

    def iallreduce(self, x, op="sum"):
        """MPI's Iallreduce in place on x (or on a contiguous copy, copied back by `wait()`).
        MPICH moves the data only inside MPI calls: `Request.test()` now and then lets it
        progress. The wait runs under the watchdog."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"MPICommunicator.iallreduce: expected a numpy array, got "
                            f"{type(x).__name__} (use NCCLCommunicator for GPU arrays)")
        _check_op(op, x)
        self._count("allreduce")
        buf = self._contiguous(x)
        wide = _widen(buf)
        req = self.comm.Iallreduce(self._mpi.IN_PLACE, wide, op=self._ops[op])

        def finish():
            with self._watch("allreduce"):
                req.Wait()
            self._complete(x, buf, wide, op)
        return Request(x, finish, poll=req.Test)

    @staticmethod
    def _contiguous(x):
        return x if x.flags.c_contiguous and x.flags.writeable else np.ascontiguousarray(x)

    def _reduce_widened(self, x, buf, op, reduce_):
        """reduce_(a) sums (or takes the max or min of) the contiguous `a` in place over ranks;
        `buf` is x or its contiguous copy. float16 is reduced and averaged in float32: MPI has
        no standard half type, and half sums lose digits rank by rank. Returns x."""
        wide = _widen(buf)
        reduce_(wide)
        return self._complete(x, buf, wide, op)

    def _complete(self, x, buf, wide, op):
        """After the reduction of `wide` (buf, or its float32 copy): divide for a mean and copy
        back into buf, then x. Returns x."""
        if op == "mean":
            wide /= wide.dtype.type(self.size)
        if wide is not buf:
            buf[...] = wide
        if buf is not x:
            x[...] = buf
        return x

    def broadcast(self, x, root=0):
        self._count("broadcast")
        buf = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        with self._watch("broadcast"):  # reshape first: a 0-d array has no byte view
            self.comm.Bcast(buf.reshape(-1).view(np.uint8), root=root)
        if buf is not x:
            x[...] = buf
        return x

    def allgather(self, x):
        self._count("allgather")
        x = np.ascontiguousarray(x)
        with self._watch("allgather"):
            metas = self.comm.allgather((x.shape, x.dtype.str))
            counts = [int(np.prod(s, dtype=np.int64)) * np.dtype(d).itemsize for s, d in metas]
            recv = np.empty(sum(counts), np.uint8)
            self.comm.Allgatherv(x.reshape(-1).view(np.uint8), [recv, counts])
        out, offset = [], 0
        for (shape, dt), n in zip(metas, counts):
            out.append(recv[offset:offset + n].view(np.dtype(dt)).reshape(shape))
            offset += n
        return out

    def barrier(self):
        self._count("barrier")
        with self._watch("barrier"):
            self.comm.Barrier()

    def broadcast_object(self, obj, root=0):
        self._count("broadcast_object")
        with self._watch("broadcast_object"):
            return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj):
        self._count("allgather_object")
        with self._watch("allgather_object"):
            return self.comm.allgather(obj)

    def abort(self, code=1):
        self.comm.Abort(code)


class NCCLCommunicator(MPICommunicator):
    """CuPy arrays over NCCL, one GPU per local rank; objects and barriers over MPI.

    Rank 0 makes the NCCL unique id and broadcasts it over MPI; every rank then joins the
    NCCL clique on device `local_rank`.
    """

    name = "nccl"

    def __init__(self, comm=None, timeout=None):
        super().__init__(comm, timeout)
        import cupy
        from cupy.cuda import nccl
        self._cp, self._nccl = cupy, nccl
        n_gpus = cupy.cuda.runtime.getDeviceCount()
        if n_gpus == 1 and os.environ.get("CUDA_VISIBLE_DEVICES"):
            self.device_id = 0  # the launcher gave each rank its own GPU
        elif self.local_rank < n_gpus:
            self.device_id = self.local_rank
        else:
            raise RuntimeError(f"NCCLCommunicator: local rank {self.local_rank} needs a GPU but "
                               f"this node has {n_gpus}; start at most {n_gpus} ranks per node")
        cupy.cuda.Device(self.device_id).use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = self.comm.bcast(uid, root=0)
        self.nccl = nccl.NcclCommunicator(self.size, uid, self.rank)
        self._nccl_ops = {"sum": nccl.NCCL_SUM, "mean": nccl.NCCL_SUM, "max": nccl.NCCL_MAX,
                          "min": nccl.NCCL_MIN}
        self._types = {np.dtype(np.float16): nccl.NCCL_FLOAT16,
                       np.dtype(np.float32): nccl.NCCL_FLOAT32,
                       np.dtype(np.float64): nccl.NCCL_FLOAT64,
                       np.dtype(np.int32): nccl.NCCL_INT32,
                       np.dtype(np.int64): nccl.NCCL_INT64,
                       np.dtype(np.uint8): nccl.NCCL_UINT8,
                       np.dtype(np.int8): nccl.NCCL_INT8}
        self._side = None  # the stream of nonblocking allreduces, made on first use
        self._side_done = None  # an event after the last one started there

    def _gpu(self, x, op):
        if not isinstance(x, self._cp.ndarray):
            raise TypeError(f"NCCLCommunicator.{op}: expected a cupy array, got "
                            f"{type(x).__name__}")
        return x if x.flags.c_contiguous else self._cp.ascontiguousarray(x)

    def _stream(self):
        """The current stream, made to wait for the nonblocking allreduces started before: NCCL
        kernels of one communicator on two streams could otherwise run in another order than
        they were started, which may differ by rank, and wait on each other forever."""
        stream = self._cp.cuda.get_current_stream()
        if self._side_done is not None:
            stream.wait_event(self._side_done)
        return stream.ptr

    def allreduce(self, x, op="sum"):
        buf = self._gpu(x, "allreduce")
        _check_op(op, buf)
        self._count("allreduce")
        if buf.dtype not in self._types:
            raise TypeError(f"NCCLCommunicator.allreduce: unsupported dtype {buf.dtype}")
        return self._reduce_widened(x, buf, op, lambda a: self.nccl.allReduce(
            a.data.ptr, a.data.ptr, a.size, self._types[a.dtype], self._nccl_ops[op],
            self._stream()))

    def iallreduce(self, x, op="sum"):
        """The allreduce on a side stream, so that it runs beside the kernels queued after it on
        the current stream. The side stream first waits for the work queued so far (what
        wrote x); `wait()` makes the current stream wait for the allreduce: the host never
        waits. x (and any float32 copy of a float16 x) is allocated on the current stream and
        only freed after that stream has waited, so the memory pool cannot reuse it early."""
        buf = self._gpu(x, "allreduce")
        _check_op(op, buf)
        self._count("allreduce")
        if buf.dtype not in self._types:
            raise TypeError(f"NCCLCommunicator.iallreduce: unsupported dtype {buf.dtype}")
        wide = _widen(buf)
        cuda = self._cp.cuda
        side = self._side_stream()
        side.wait_event(cuda.get_current_stream().record())
        self.nccl.allReduce(wide.data.ptr, wide.data.ptr, wide.size, self._types[wide.dtype],
                            self._nccl_ops[op], side.ptr)
        done = self._side_done = side.record()

        def finish():
            cuda.get_current_stream().wait_event(done)
            self._complete(x, buf, wide, op)
        return Request(x, finish, poll=lambda: done.done)

    def _side_stream(self):
        if self._side is None:
            with self._cp.cuda.Device(self.device_id):
                self._side = self._cp.cuda.Stream(non_blocking=True)
        return self._side

    def broadcast(self, x, root=0):
        self._count("broadcast")
        buf = self._gpu(x, "broadcast")
        raw = buf.reshape(-1).view(self._cp.uint8)  # a 0-d array has no byte view
        self.nccl.bcast(raw.data.ptr, raw.size, self._nccl.NCCL_UINT8, root, self._stream())
        if buf is not x:
            x[...] = buf
        return x

    def allgather(self, x):
        self._count("allgather")
        x = self._gpu(x, "allgather")
        with self._watch("allgather"):  # NCCL calls are asynchronous: only MPI ones are watched
            metas = self.comm.allgather((x.shape, x.dtype.str))
        nbytes = [int(np.prod(s, dtype=np.int64)) * np.dtype(d).itemsize for s, d in metas]
        width = max(nbytes)  # NCCL's allGather wants equal sizes: pad to the largest
        send = self._cp.zeros(width, self._cp.uint8)
        send[:x.nbytes] = x.reshape(-1).view(self._cp.uint8)
        recv = self._cp.empty(width * self.size, self._cp.uint8)
        self.nccl.allGather(send.data.ptr, recv.data.ptr, width, self._nccl.NCCL_UINT8,
                            self._stream())
        return [recv[r * width:r * width + n].view(np.dtype(dt)).reshape(shape)
                for r, ((shape, dt), n) in enumerate(zip(metas, nbytes))]

    def barrier(self):
        self._count("barrier")
        self._cp.cuda.get_current_stream().synchronize()
        with self._watch("barrier"):
            self.comm.Barrier()
