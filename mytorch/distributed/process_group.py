"""The default process group behind `mytorch.distributed`'s functions, and how a process finds
out that it is one rank of many.

Ranks meet over MPI: `python -m miniddp.launch -n N train.py` (which also sets torchrun's
RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR) or `mpiexec -n N python train.py`. torchrun's variables
are read when present and checked against MPI's; without either the world is one process.
"""
import os
import sys
import time

from mytorch import backend as array_backend  # `backend` is init_process_group's argument
from mytorch.distributed.comm import (
    Communicator,
    LocalCommunicator,
    MPICommunicator,
    NCCLCommunicator,
)

BACKENDS = ("mpi", "gloo", "nccl")
# Launchers announce the world size in the environment (MPICH/Hydra, Open MPI, Slurm's PMI).
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")

_default = None  # the Communicator of init_process_group, as torch's default group


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


def make_communicator(cuda, timeout=None):
    """A communicator for this process: MPI (NCCL when `cuda`) under an MPI launcher with more
    than one rank, else a LocalCommunicator. An uncaught exception on one rank then aborts
    every rank instead of leaving them waiting."""
    if not launched_by_mpi():
        return LocalCommunicator()
    try:
        import mpi4py  # noqa: F401
    except ImportError as e:
        raise RuntimeError("started under an MPI launcher but mpi4py is not installed: "
                           "pip install 'mytorch[dist]'") from e
    comm = NCCLCommunicator(timeout=timeout) if cuda else MPICommunicator(timeout=timeout)
    abort_on_exception(comm)
    return comm


def abort_on_exception(comm):
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


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the job's ranks. backend: "gloo" or "mpi" (CPU tensors over MPI), "nccl" (CUDA
    tensors), None (nccl when a GPU is there, else gloo). timeout: a timedelta or seconds after
    which a collective that has not completed aborts the job (default 600 s, or
    $MINIDDP_TIMEOUT). init_method/store are accepted for torch's signature; ranks always
    meet over MPI.

    >>> dist.init_process_group("gloo")
    >>> dist.get_rank(), dist.get_world_size()
    """
    global _default
    if _default is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend is None:
        backend = "nccl" if array_backend.cuda_available() else "gloo"
    backend = str(backend).lower()
    if backend not in BACKENDS:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; use one of "
                         f"{BACKENDS}")
    if backend == "nccl" and not array_backend.cuda_available():
        raise RuntimeError("init_process_group: backend='nccl' needs a CUDA GPU and CuPy")
    comm = make_communicator(backend == "nccl", timeout)
    want = _env_int("WORLD_SIZE", world_size)
    if want is not None and want != comm.size:
        raise RuntimeError(
            f"init_process_group: world size {want} (WORLD_SIZE or world_size=) but {comm.size} "
            "rank(s) joined over MPI; mytorch's ranks meet over MPI: start them with "
            "`python -m miniddp.launch -n N script.py` (torchrun's variables are set for you)")
    want = _env_int("RANK", rank)
    if want is not None and want != comm.rank:
        raise RuntimeError(f"init_process_group: rank {want} (RANK or rank=) but MPI says this "
                           f"process is rank {comm.rank}")
    comm.backend = backend
    _default = comm


def _env_int(name, given):
    if given is not None and given >= 0:
        return int(given)
    text = os.environ.get(name)
    return int(text) if text not in (None, "") else None


def is_available():
    """True: collectives work on one process without MPI, and across ranks with mpi4py."""
    return True


def is_initialized():
    return _default is not None


def is_mpi_available():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_nccl_available():
    return array_backend.cuda_available()


def is_gloo_available():
    return is_mpi_available()


def default_comm(group=None):
    """The Communicator behind `group`: the default group's, or `group` itself when it is a
    Communicator (miniddp's Accelerator hands its own to SyncBatchNorm)."""
    if isinstance(group, Communicator):
        return group
    if group is not None and group is not GroupMember.WORLD and group is not _default:
        raise NotImplementedError("mytorch.distributed: only the default process group exists")
    if _default is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return _default


def destroy_process_group(group=None):
    """Leave the default group; init_process_group may be called again."""
    global _default
    comm = default_comm(group)
    if comm.watchdog is not None:
        comm.watchdog.close()
    _default = None


def get_rank(group=None):
    return default_comm(group).rank


def get_world_size(group=None):
    return default_comm(group).size


def get_backend(group=None):
    return default_comm(group).backend


class GroupMember:
    """torch's `GroupMember.WORLD`: the default group."""

    WORLD = object()
