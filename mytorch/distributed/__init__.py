"""torch.distributed's API on mytorch: ranks meet over MPI (`python -m miniddp.launch -n N
script.py` sets torchrun's variables too), CPU tensors travel over MPI ("gloo"/"mpi"), CUDA
tensors over NCCL ("nccl"). Every collective runs under a watchdog: one that cannot complete
aborts the job with a message instead of hanging.

    import mytorch.distributed as dist
    dist.init_process_group("gloo")
    t = mytorch.ones(3) * dist.get_rank()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
"""
from mytorch.distributed.collectives import (
    ReduceOp,
    Work,
    all_gather,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    reduce_scatter,
)
from mytorch.distributed.process_group import (
    GroupMember,
    default_comm,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
)

__all__ = [
    "GroupMember", "ReduceOp", "Work", "all_gather", "all_gather_object", "all_reduce",
    "barrier", "broadcast", "broadcast_object_list", "default_comm", "destroy_process_group",
    "get_backend", "get_rank", "get_world_size", "init_process_group", "is_available",
    "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available",
    "reduce_scatter",
]
