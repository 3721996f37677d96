"""Stand-in `cupy.cuda.nccl`: an NCCL communicator over MPI (mpi4py's COMM_WORLD) on the
stand-in's host memory. Buffers are passed as raw pointers, as to NCCL; each must point into a
stand-in array on the communicator's device. Reductions run in the buffer's dtype, as NCCL's."""
import ctypes
import os

import numpy as np

from cupy import _core

available = True

NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
NCCL_INT8 = NCCL_CHAR = 0
NCCL_UINT8 = 1
NCCL_INT32 = NCCL_INT = 2
NCCL_UINT32 = 3
NCCL_INT64 = 4
NCCL_UINT64 = 5
NCCL_FLOAT16 = NCCL_HALF = 6
NCCL_FLOAT32 = NCCL_FLOAT = 7
NCCL_FLOAT64 = NCCL_DOUBLE = 8
_DTYPES = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32,
           NCCL_UINT32: np.uint32, NCCL_INT64: np.int64, NCCL_UINT64: np.uint64,
           NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}
_REDUCE = {NCCL_SUM: np.add, NCCL_PROD: np.multiply, NCCL_MAX: np.maximum,
           NCCL_MIN: np.minimum}


class NcclError(RuntimeError):
    pass


def get_unique_id():
    return tuple(int(b) for b in os.urandom(128))


def get_version():
    return 22000


def groupStart():
    pass


def groupEnd():
    pass


class NcclCommunicator:
    """`NcclCommunicator(ndev, commId, rank)` on the current device."""

    def __init__(self, ndev, commId, rank):
        from mpi4py import MPI
        world = MPI.COMM_WORLD
        if (ndev, rank) != (world.Get_size(), world.Get_rank()):
            raise NcclError(f"NCCL stand-in: ndev={ndev}, rank={rank} must be MPI's world "
                            f"({world.Get_size()}, {world.Get_rank()})")
        if len(commId) != 128:
            raise NcclError("NCCL stand-in: commId must be get_unique_id()'s 128 values")
        self._comm = world.Dup()
        self._dev = _core.current_device()
        self._rank, self._size = rank, ndev
        ids = self._comm.allgather((commId, _physical_device(self._dev)))
        if len({c for c, _ in ids}) != 1:
            raise NcclError("NCCL stand-in: ranks joined with different unique ids")
        if len({d for _, d in ids}) != ndev:
            raise NcclError("NCCL stand-in: invalid usage: duplicate GPU detected (two ranks "
                            f"on one device: {[d for _, d in ids]})")

    def rank_id(self):
        return self._rank

    def size(self):
        return self._size

    def device_id(self):
        return self._dev

    def destroy(self):
        if self._comm is not None:
            self._comm.Free()
            self._comm = None

    def abort(self):
        self.destroy()

    def _buf(self, ptr, count, datatype):
        if datatype not in _DTYPES:
            raise NcclError(f"NCCL stand-in: unsupported datatype {datatype}")
        dtype = np.dtype(_DTYPES[datatype])
        dev = _core.pointers.get(ptr)
        if dev is None:
            raise NcclError(f"NCCL stand-in: pointer {ptr:#x} is not device memory (pass "
                            "x.data.ptr of a cupy array)")
        if dev != self._dev:
            raise NcclError(f"NCCL stand-in: buffer on device {dev}, communicator on device "
                            f"{self._dev}")
        raw = (ctypes.c_uint8 * (count * dtype.itemsize)).from_address(ptr)
        return np.frombuffer(raw, dtype, count)

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        send = self._buf(sendbuf, count, datatype).copy()
        parts = self._comm.allgather(send)
        if op == NCCL_AVG:
            out = np.add.reduce(np.stack(parts), axis=0, dtype=send.dtype) / \
                send.dtype.type(self._size)
        else:
            out = _REDUCE[op].reduce(np.stack(parts), axis=0, dtype=send.dtype)
        self._buf(recvbuf, count, datatype)[...] = out

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        send = self._buf(sendbuf, count, datatype).copy()
        parts = self._comm.gather(send, root=root)
        if self._rank == root:
            self._buf(recvbuf, count, datatype)[...] = \
                _REDUCE[op].reduce(np.stack(parts), axis=0, dtype=send.dtype)

    def bcast(self, buff, count, datatype, root, stream):
        buf = self._buf(buff, count, datatype)
        buf[...] = self._comm.bcast(buf.copy() if self._rank == root else None, root=root)

    def broadcast(self, sendbuf, recvbuf, count, datatype, root, stream):
        data = self._buf(sendbuf, count, datatype).copy() if self._rank == root else None
        self._buf(recvbuf, count, datatype)[...] = self._comm.bcast(data, root=root)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        parts = self._comm.allgather(self._buf(sendbuf, count, datatype).copy())
        self._buf(recvbuf, count * self._size, datatype)[...] = np.concatenate(parts)

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        send = self._buf(sendbuf, recvcount * self._size, datatype).copy()
        total = _REDUCE[op].reduce(np.stack(self._comm.allgather(send)), axis=0,
                                   dtype=send.dtype)
        self._buf(recvbuf, recvcount, datatype)[...] = \
            total[self._rank * recvcount:(self._rank + 1) * recvcount]


def _physical_device(dev):
    """The device's id before CUDA_VISIBLE_DEVICES renumbered it."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return dev
    return int(visible.split(",")[dev])
