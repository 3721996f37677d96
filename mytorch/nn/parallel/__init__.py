"""Data parallelism: `DistributedDataParallel` (torch.nn.parallel's, on mytorch.distributed)."""
from mytorch.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
