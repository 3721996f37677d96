"""Gradient buckets live in `mytorch.distributed.buckets`, shared by the Accelerator and
`mytorch.nn.parallel.DistributedDataParallel`; this name keeps old imports working."""
from mytorch.distributed.buckets import GradBuckets

__all__ = ["GradBuckets"]
