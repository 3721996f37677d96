"""Process state: who this process is among the ranks, as a plain object.

`ProcessState.create()` looks at how the process was started:
- under `mpiexec` (mpi4py already imported by `python -m mpi4py`, or MPI launcher variables in
  the environment) with more than one rank: an MPI communicator, or NCCL when GPUs are wanted;
- otherwise world size 1 with a `LocalCommunicator`; mpi4py is then never imported.
"""
from mytorch import backend
from mytorch.distributed.process_group import launched_by_mpi, make_communicator

__all__ = ["ProcessState", "launched_by_mpi"]


class ProcessState:
    """Rank bookkeeping for one process: `rank`, `world_size`, `local_rank`, `device`, `comm`."""

    def __init__(self, comm, device):
        self.comm = comm
        self.device = backend.device(device)

    @classmethod
    def create(cls, device=None, comm=None, timeout=None):
        """Pick a communicator and device. `device`: None (a GPU when CUDA is available, one per
        local rank; else the CPU), "cpu" or "cuda". `timeout`: the collective watchdog's, in
        seconds (None: $MINIDDP_TIMEOUT, else 600)."""
        want_cuda = backend.cuda_available() if device is None else \
            backend.device(device).type == "cuda"
        if want_cuda and not backend.cuda_available():
            raise RuntimeError(f"ProcessState: device={device!r} asked for CUDA, which is not "
                               "available (no GPU or CuPy not installed)")
        if comm is None:
            comm = make_communicator(want_cuda, timeout)
        if want_cuda:
            index = getattr(comm, "device_id", comm.local_rank)
            backend.cupy.cuda.Device(index).use()
            dev = backend.device("cuda", index)
        else:
            dev = backend.device("cpu")
        return cls(comm, dev)

    @property
    def rank(self):
        return self.comm.rank

    @property
    def world_size(self):
        return self.comm.size

    @property
    def local_rank(self):
        return self.comm.local_rank

    @property
    def is_main_process(self):
        return self.comm.rank == 0

    @property
    def is_local_main_process(self):
        return self.comm.local_rank == 0

    @property
    def distributed(self):
        return self.comm.size > 1

    def __repr__(self):
        return (f"ProcessState(backend={self.comm.name}, rank={self.rank}/{self.world_size}, "
                f"local_rank={self.local_rank}, device={self.device})")
