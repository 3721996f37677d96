"""Collectives that autograd can differentiate (torch.distributed.nn's): what SyncBatchNorm
builds its statistics with."""
from mytorch.autograd.function import Function
from mytorch.distributed.process_group import default_comm


class _AllReduceSum(Function):
    # d(sum over ranks of x_r)/d(x_r) = 1 on every rank, and every rank's output feeds its own
    # loss: the gradient of x_r is the sum of all ranks' output gradients.
    @staticmethod
    def forward(ctx, x, comm):
        ctx.comm = comm
        return comm.allreduce(x.copy(), "sum")

    @staticmethod
    def backward(ctx, gy):
        return ctx.comm.allreduce(gy.copy(), "sum"), None


def all_reduce_sum(tensor, group=None):
    """Sum of `tensor` over ranks, differentiable: the gradient flowing back to each rank is
    the sum of every rank's gradient."""
    return _AllReduceSum.apply(tensor, default_comm(group))
