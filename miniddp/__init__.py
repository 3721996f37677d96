"""miniddp: data-parallel training for mytorch on MPI (CPUs, many machines) and NCCL (GPUs).

Launch with `python -m miniddp.launch -n N train.py` (or `mpiexec -n N python -m mpi4py
train.py`); a script also runs as a plain single process.
"""
from miniddp.accelerator import (
    AcceleratedOptimizer,
    AcceleratedScheduler,
    Accelerator,
    DistributedModel,
    GradientState,
)
from miniddp.amp import LossScaler
from mytorch.distributed.buckets import GradBuckets
from mytorch.distributed.comm import (
    Communicator,
    LocalCommunicator,
    MPICommunicator,
    NCCLCommunicator,
)
from miniddp.data import DataLoaderShard, shard_batches
from miniddp.state import ProcessState

__all__ = [
    "AcceleratedOptimizer", "AcceleratedScheduler", "Accelerator", "Communicator",
    "DataLoaderShard", "DistributedModel", "GradBuckets", "GradientState", "LocalCommunicator",
    "LossScaler", "MPICommunicator", "NCCLCommunicator", "ProcessState", "shard_batches",
]
