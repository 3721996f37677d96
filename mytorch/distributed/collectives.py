"""torch.distributed's collectives on tensors, over the default group's Communicator. They
work in place on the tensors given, as torch's do; async_op=True returns a finished Work."""
import enum

from mytorch import backend
from mytorch.autograd.function import bump_version
from mytorch.distributed.process_group import default_comm
from mytorch.tensor import Tensor


class ReduceOp(enum.Enum):
    """torch.distributed.ReduceOp (AVG as with NCCL, on every backend here)."""

    SUM = "sum"
    AVG = "mean"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class Work:
    """What an `async_op=True` collective returns; ours have completed already."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True

    def is_success(self):
        return True


def _work(async_op):
    return Work() if async_op else None


def _tensor(t, op):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
    return t


def _op(op, who):
    if isinstance(op, str):
        op = ReduceOp[op.upper()]
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{who}: op must be a ReduceOp, got {op!r}")
    if op is ReduceOp.PRODUCT:
        raise NotImplementedError(f"{who}: ReduceOp.PRODUCT is not supported (SUM, AVG, MAX, "
                                  "MIN are)")
    return op.value


def _written(t):
    """Collectives write into t's array: autograd must see a new version, as after add_."""
    bump_version(t.data)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` over ranks, in place: every rank ends with the result."""
    comm = default_comm(group)
    _tensor(tensor, "all_reduce")
    comm.allreduce(tensor.data, _op(op, "all_reduce"))
    _written(tensor)
    return _work(async_op)


def broadcast(tensor, src=0, group=None, async_op=False):
    """Overwrite `tensor` on every rank with rank `src`'s."""
    comm = default_comm(group)
    _tensor(tensor, "broadcast")
    if not 0 <= src < comm.size:
        raise ValueError(f"broadcast: src={src} is not a rank of a world of {comm.size}")
    comm.broadcast(tensor.data, root=src)
    _written(tensor)
    return _work(async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill `tensor_list[r]` with rank r's `tensor` (same shape and dtype on every rank)."""
    comm = default_comm(group)
    _tensor(tensor, "all_gather")
    if len(tensor_list) != comm.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world "
                         f"of {comm.size}")
    parts = comm.allgather(tensor.data)
    for r, (out, part) in enumerate(zip(tensor_list, parts)):
        if tuple(out.shape) != tuple(part.shape):
            raise ValueError(f"all_gather: rank {r} sent shape {tuple(part.shape)} but "
                             f"tensor_list[{r}] has shape {tuple(out.shape)}")
        out.data[...] = part
        _written(out)
    return _work(async_op)


def all_gather_object(object_list, obj, group=None):
    """Fill `object_list[r]` with rank r's picklable `obj`."""
    comm = default_comm(group)
    object_list[:] = comm.allgather_object(obj)


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Replace `object_list`'s items on every rank with rank `src`'s."""
    comm = default_comm(group)
    object_list[:] = comm.broadcast_object(list(object_list), root=src)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """`output` on rank r = the reduction over ranks of their `input_list[r]`."""
    comm = default_comm(group)
    _tensor(output, "reduce_scatter")
    if len(input_list) != comm.size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors for a "
                         f"world of {comm.size}")
    shapes = {tuple(t.shape) for t in input_list}
    if shapes != {tuple(output.shape)}:
        raise ValueError(f"reduce_scatter: every input must have the output's shape "
                         f"{tuple(output.shape)}, got {sorted(shapes)}")
    xp = backend.array_module(output.data)
    # One allreduce of the stacked inputs: simple, and at most world-size times the traffic.
    stacked = xp.stack([t.data for t in input_list])
    comm.allreduce(stacked, _op(op, "reduce_scatter"))
    output.data[...] = stacked[comm.rank]
    _written(output)
    return _work(async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached this point."""
    default_comm(group).barrier()
    return _work(async_op)
