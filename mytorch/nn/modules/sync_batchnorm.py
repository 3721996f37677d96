"""SyncBatchNorm: batch normalization whose statistics are those of the whole global batch,
summed over the ranks of the process group (on one process it is BatchNorm)."""
from mytorch import autograd
from mytorch.backend import array_module
from mytorch.nn.modules.batchnorm import _BatchNorm
from mytorch.nn.modules.module import Module

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) inputs with statistics over every rank's batch, so that N ranks
    with b samples each normalize as one process with N*b samples does; gradients flow back
    through the statistics to every rank. `process_group`: None (mytorch.distributed's default
    group) or a Communicator.

    >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    """

    _ranks = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def forward(self, input):
        if not (self.training or not self.track_running_stats):
            return super().forward(input)  # eval: the running statistics, no communication
        from mytorch.distributed import default_comm
        from mytorch.distributed.nn import all_reduce_sum
        comm = default_comm(self.process_group) if self.process_group is not None or \
            _initialized() else None
        if comm is None or comm.size == 1:
            return super().forward(input)
        if input.ndim not in self._ranks or input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm({self.num_features}): expected (N, "
                             f"{self.num_features}, *) input, got shape {tuple(input.shape)}")
        c = input.shape[1]
        axes = (0,) + tuple(range(2, input.ndim))
        bshape = (1, c) + (1,) * (input.ndim - 2)
        count = array_module(input.data).array([input.numel() // c], dtype="float64")
        n = float(comm.allreduce(count, "sum")[0])
        if n <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all "
                             f"ranks, got input of shape {tuple(input.shape)}")
        # Two passes, as BatchNorm on one process: the mean, then the centred variance.
        mean = all_reduce_sum(input.sum(axes, keepdim=True), comm) / n
        xc = input - mean
        var = all_reduce_sum((xc * xc).sum(axes, keepdim=True), comm) / n
        y = xc / (var + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight.reshape(bshape)
        if self.bias is not None:
            y = y + self.bias.reshape(bshape)
        if self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            m = self.momentum if self.momentum is not None else \
                1.0 / float(self.num_batches_tracked.data)
            with autograd.no_grad():
                rm, rv = self.running_mean.data, self.running_var.data
                rm[...] = (1 - m) * rm + m * mean.data.reshape(-1)
                rv[...] = (1 - m) * rv + m * var.data.reshape(-1) * (n / (n - 1))
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """`module` with every BatchNorm*d inside replaced by a SyncBatchNorm holding the same
        parameters and buffers (torch's classmethod)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if getattr(module, name, None) is not None:
                    setattr(out, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(out, name, getattr(module, name))
            out.train(module.training)
            return out
        if isinstance(module, Module):
            for name, child in list(module.named_children()):
                setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module


def _initialized():
    from mytorch.distributed import is_initialized
    return is_initialized()
