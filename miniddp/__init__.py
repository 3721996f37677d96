"""miniddp: data-parallel training for mytorch on MPI (CPUs, many machines) and NCCL (GPUs).

Launch with `python -m miniddp.launch -n N train.py` (or `mpiexec -n N python -m mpi4py
train.py`); a script also runs as a plain single process.
"""
from miniddp.accelerator import (AcceleratedOptimizer, AcceleratedScheduler, Accelerator,
                                 DistributedModel, GradientState)
from miniddp.amp import LossScaler
from miniddp.buckets import GradBuckets
from miniddp.comm import Communicator, LocalCommunicator, MPICommunicator, NCCLCommunicator
from miniddp.data import DataLoaderShard, shard_batches
from miniddp.state import ProcessState

__all__ = ["Accelerator", "AcceleratedOptimizer", "AcceleratedScheduler", "DistributedModel",
           "GradientState", "LossScaler", "GradBuckets", "Communicator", "LocalCommunicator",
           "MPICommunicator", "NCCLCommunicator", "DataLoaderShard", "shard_batches",
           "ProcessState"]
