"""Gradient buckets that leave during backward (issue #14), on N real ranks: run by
tests/distributed/test_overlap.py under `python -m miniddp.launch`. Each check prints
`OK <name> <rank>`; a failure aborts the job.

The reference is the blocking path: a plain backward, then one blocking allreduce per bucket
(`GradBuckets.reduce` on a communicator without a nonblocking allreduce). The overlapped
buckets (the Accelerator's and DistributedDataParallel's) must give the same bits.
OVERLAP_DEVICE=cuda runs it on a GPU per rank over NCCL (the CuPy stand-in's 2 pretend GPUs in
CI), where the buckets travel on a side stream.
"""
import os

import numpy as np

import mytorch
import mytorch.distributed as dist
import mytorch.nn as nn
import mytorch.nn.functional as F
from miniddp import Accelerator
from mytorch.distributed.buckets import GradBuckets
from mytorch.distributed.comm import Communicator
from mytorch.nn.parallel import DistributedDataParallel as DDP

DEVICE = os.environ.get("OVERLAP_DEVICE", "cpu")
BUCKET_MB = 4400 / 2 ** 20  # about one 32x32 weight per bucket: many buckets
STEPS = 4


def ok(name):
    print(f"OK {name} {os.environ['RANK']}", flush=True)


class Net(nn.Module):
    """An embedding at the bottom (its gradient is ready last), a stack of layers above it, and
    a `side` layer that rank 0 alone uses on odd steps: the last bucket, which holds it, is
    ready at different times on different ranks. (Registered first, so that its bucket is the
    last: a bucket waiting for a gradient its rank never computes holds back the later ones.)"""

    def __init__(self):
        super().__init__()
        self.side = nn.Linear(16, 8)
        self.emb = nn.Embedding(50, 16)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 32)
        self.head = nn.Linear(32, 8)

    def forward(self, idx, use_side=False):
        h = self.emb(idx)
        y = self.head(F.gelu(self.fc3(F.gelu(self.fc2(F.gelu(self.fc1(h)))))))
        return y + self.side(h) if use_side else y


def make_model(device):
    mytorch.manual_seed(0)
    return Net().to(device)


def batches(rank, device):
    g = np.random.default_rng(100 + rank)  # each rank its own data
    return [(mytorch.tensor(g.integers(0, 50, 6), device=device),
             mytorch.tensor(g.integers(0, 8, 6), device=device)) for _ in range(STEPS)]


class Blocking(Communicator):
    """Today's path: its allreduce is the real one, blocking; `iallreduce` is the base class's,
    which runs it at once."""

    def __init__(self, comm):
        super().__init__()
        self.inner, self.rank, self.size = comm, comm.rank, comm.size

    def allreduce(self, x, op="sum"):
        return self.inner.allreduce(x, op)


def record_sends(comm, model):
    """Log (elements, emb.weight had its gradient yet) for every nonblocking allreduce."""
    log = []
    start = comm.iallreduce

    def iallreduce(x, op="sum"):
        log.append((int(x.size), model.emb.weight.grad is not None))
        return start(x, op)
    comm.iallreduce = iallreduce
    return log


def reference_grads(ref, comm, idx, y, use_side):
    """The blocking path's gradients: local backward, then a blocking allreduce per bucket."""
    F.cross_entropy(ref(idx, use_side), y).backward()
    GradBuckets(ref.parameters(), BUCKET_MB).reduce(Blocking(comm))
    return [None if p.grad is None else p.grad.numpy().copy() for p in ref.parameters()]


def same_bits(model, ref, grads):
    for (name, p), g in zip(model.named_parameters(), grads):
        if g is None:
            assert p.grad is None, name
        else:
            assert p.grad is not None and np.array_equal(p.grad.numpy(), g), name


def check_order(comm, log, buckets, rank):
    """Every rank started the same collectives in the same order: the buckets' fixed order;
    the first bucket left before backward reached the embedding (the communication overlapped
    the rest of backward), the embedding's own bucket after."""
    sizes = [b.numel + len(b.params) for b in buckets.buckets]
    assert len(sizes) > 4, sizes
    assert [n for n, _ in log] == sizes * STEPS, (log, sizes)
    logs = comm.allgather_object([n for n, _ in log])
    assert all(other == logs[0] for other in logs), logs
    for step in range(STEPS):
        sent = log[step * len(sizes):(step + 1) * len(sizes)]
        assert sent[0][1] is False and sent[-1][1] is True, (step, sent)


def check_accelerator(rank, world, comm, device):
    acc = Accelerator(device=DEVICE, bucket_mb=BUCKET_MB, comm=comm)
    assert acc.device == device, (acc.device, device)
    model = acc.prepare(make_model(device))
    opt = acc.prepare(mytorch.optim.AdamW(model.parameters(), lr=1e-2))
    ref = make_model(device)
    ref_opt = mytorch.optim.AdamW(ref.parameters(), lr=1e-2)
    log = record_sends(comm, acc.unwrap_model(model))
    for step, (idx, y) in enumerate(batches(rank, device)):
        use_side = rank == 0 and step % 2 == 1
        acc.backward(F.cross_entropy(model(idx, use_side), y))
        same_bits(acc.unwrap_model(model), ref, reference_grads(ref, comm, idx, y, use_side))
        opt.step(), opt.zero_grad(), ref_opt.step(), ref_opt.zero_grad()
    for p, q in zip(acc.unwrap_model(model).parameters(), ref.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    ok("accelerator_equal")
    check_order(comm, log, model.buckets, rank)
    ok("accelerator_order")
    del comm.iallreduce


def check_ddp(rank, world, comm, device):
    model = DDP(make_model(device), bucket_cap_mb=BUCKET_MB)
    opt = mytorch.optim.AdamW(model.parameters(), lr=1e-2)
    ref = make_model(device)
    ref_opt = mytorch.optim.AdamW(ref.parameters(), lr=1e-2)
    log = record_sends(comm, model.module)
    for step, (idx, y) in enumerate(batches(rank, device)):
        use_side = rank == 0 and step % 2 == 1
        F.cross_entropy(model(idx, use_side), y).backward()
        same_bits(model.module, ref, reference_grads(ref, comm, idx, y, use_side))
        opt.step(), opt.zero_grad(), ref_opt.step(), ref_opt.zero_grad()
    ok("ddp_equal")
    check_order(comm, log, model.buckets, rank)
    ok("ddp_order")
    del comm.iallreduce


def main():
    dist.init_process_group("nccl" if DEVICE == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = dist.default_comm()
    device = f"cuda:{comm.device_id}" if DEVICE == "cuda" else "cpu"
    check_accelerator(rank, world, comm, device)
    check_ddp(rank, world, comm, device)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
