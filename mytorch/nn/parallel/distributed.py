"""DistributedDataParallel: torch's data-parallel wrapper on mytorch.distributed."""
import contextlib

from mytorch import autograd
from mytorch import distributed as dist
from mytorch.distributed.buckets import GradBuckets, check_same_model, embedding_roles
from mytorch.nn.modules.module import Module


class DistributedDataParallel(Module):
    """Average gradients over ranks during backward, in buckets of about `bucket_cap_mb`
    megabytes (the same buckets as miniddp's Accelerator): each starts a nonblocking allreduce
    as soon as all its gradients are ready and travels while backward computes the rest;
    backward waits for every bucket before it returns (a tied embedding's weight, GPT-2's wte,
    leaves in two parts: the head's gradient first, the embedding's rows at the end; see
    mytorch.distributed.buckets). On construction the model is checked to be the same on every
    rank (names, shapes, dtypes) and rank 0's parameters and buffers are copied to all; with
    `broadcast_buffers` rank 0's buffers are copied again before each training forward (grad
    enabled, train mode), so that an evaluation run on one rank alone cannot hang.

    >>> dist.init_process_group("gloo")
    >>> model = DistributedDataParallel(model)
    >>> loss_fn(model(x), y).backward()     # every .grad is now the mean over ranks
    >>> with model.no_sync():               # accumulate locally, no communication
    ...     loss_fn(model(x2), y2).backward()

    gradient_as_bucket_view: as in torch, every `.grad` is a view of its part of a bucket
    (the same Tensor object step after step): backward adds into the bucket where `.grad` is
    there already, the summed bucket is averaged in place and not copied back out, and the
    gradients take no memory of their own. `zero_grad(set_to_none=False)` zeroes the buckets
    in place; after `set_to_none=True` (the default) `.grad` is None until the next synced
    backward, whose new gradients are copied into the buckets once (a reference kept to the
    old `.grad` sees the new mean, as in torch). Under `no_sync`, a `.grad` that was None
    starts as an array of its own and moves into its bucket at the next synced backward. The
    values are the same bits as without. On one rank there are no buckets: `.grad` is as
    without DDP.

    device_ids, output_device, dim, find_unused_parameters and static_graph are accepted for
    torch's signature (a parameter no rank used keeps `grad=None`, one some rank used gets
    the mean).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got "
                            f"{type(module).__name__}")
        if not any(p.requires_grad for p in module.parameters()):
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        comm = dist.default_comm(process_group)
        devices = {str(p.device) for p in module.parameters()}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel: the module's parameters are on several "
                             f"devices {sorted(devices)}; put them on one")
        self.module = module
        self.device_ids = device_ids
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self._comm = comm
        check_same_model(comm, module, "DistributedDataParallel")
        for t in list(module.parameters()) + list(module.buffers()):
            comm.broadcast(t.data, root=0)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.buckets = GradBuckets(
            module.parameters(), 25.0 if bucket_cap_mb is None else bucket_cap_mb,
            gradient_as_bucket_view=self.gradient_as_bucket_view and comm.size > 1,
            **embedding_roles(module))
        self._hooks = self.buckets.attach(comm, enabled=self._syncing) if comm.size > 1 \
            else []

    def _syncing(self):
        return self.require_backward_grad_sync

    def forward(self, *args, **kwargs):
        self.buckets.reset()
        # Training forwards only: an evaluation that rank 0 runs alone must not wait for others.
        if self.broadcast_buffers and self._comm.size > 1 and self.training \
                and autograd.is_grad_enabled():
            for b in self.module.buffers():
                self._comm.broadcast(b.data, root=0)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """backward() inside accumulates gradients locally; the first backward after it
        averages the accumulated gradients."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
