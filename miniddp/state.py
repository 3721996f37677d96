"""Process state: who this process is among the ranks, as a plain object.

`ProcessState.create()` looks at how the process was started:
- under `mpiexec` (mpi4py already imported by `python -m mpi4py`, or MPI launcher variables in
  the environment) with more than one rank: an MPI communicator, or NCCL when GPUs are wanted;
- otherwise world size 1 with a `LocalCommunicator`; mpi4py is then never imported.
"""
import os
import sys
import time

from mytorch import backend
from mytorch.distributed.comm import LocalCommunicator, MPICommunicator, NCCLCommunicator

# Launchers announce the world size in the environment (MPICH/Hydra, Open MPI, Slurm's PMI).
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")


def launched_by_mpi():
    """True when this process is one rank of a multi-rank MPI job."""
    if "mpi4py.MPI" in sys.modules:
        return sys.modules["mpi4py.MPI"].COMM_WORLD.Get_size() > 1
    for var in _SIZE_VARS:
        try:
            if int(os.environ.get(var, "1")) > 1:
                return True
        except ValueError:
            pass
    return False


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
            if not launched_by_mpi():
                comm = LocalCommunicator()
            else:
                try:
                    import mpi4py  # noqa: F401
                except ImportError as e:
                    raise RuntimeError("started under an MPI launcher but mpi4py is not "
                                       "installed: pip install 'mytorch[dist]'") from e
                comm = NCCLCommunicator(timeout=timeout) if want_cuda \
                    else MPICommunicator(timeout=timeout)
                _abort_on_exception(comm)
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


def _abort_on_exception(comm):
    """An uncaught exception on one rank aborts every rank instead of leaving them waiting in a
    collective (what `python -m mpi4py` does; repeated here for `mpiexec python script.py`)."""
    previous = sys.excepthook
    if getattr(previous, "miniddp_abort", False):
        return

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if not issubclass(kind, KeyboardInterrupt):
            sys.stderr.write(f"[rank {comm.rank}] uncaught {kind.__name__}: aborting the job\n")
            sys.stderr.flush()
            time.sleep(0.2)  # let the launcher forward the traceback before the job is killed
            comm.abort(1)
    hook.miniddp_abort = True
    sys.excepthook = hook
