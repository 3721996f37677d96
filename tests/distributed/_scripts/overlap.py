"""Gradient buckets that leave during backward (issue #14), on N real ranks: run by
tests/distributed/test_overlap.py under `python -m miniddp.launch`. Each check prints
`OK <name> <rank>`; a failure aborts the job.

The reference is the blocking path: a plain backward, then one blocking allreduce per bucket
(`GradBuckets.reduce` on a communicator without a nonblocking allreduce). The overlapped
buckets (the Accelerator's and DistributedDataParallel's) must give the same bits.

A tied embedding (TiedNet, GPT-2's wte and head in small) is reduced in two parts on CPUs: the
head's dense part leaves first, the embedding's rows are exchanged at the end. That sum is
rounded differently from a whole-gradient allreduce, so its blocking reference is the same
two-part protocol on the blocking communicator (the same bits), and it is checked against one
process on both ranks' batches (up to float rounding).
OVERLAP_DEVICE=cuda runs it on a GPU per rank over NCCL (the CuPy stand-in's 2 pretend GPUs in
CI), where the buckets travel on a side stream.

With gradient_as_bucket_view (the `*_view_*` checks; the Accelerator's default) every .grad is
a view of its bucket and the values are the same bits again.
"""
import os

import numpy as np

import mytorch
import mytorch.distributed as dist
import mytorch.nn as nn
import mytorch.nn.functional as F
from miniddp import Accelerator
from mytorch import backend
from mytorch.distributed.buckets import GradBuckets, embedding_roles
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

    def allgather(self, x):
        return self.inner.allgather(x)


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


def grads_in_buckets(model, buckets):
    """Every .grad (None where no rank used the parameter) is a view of its bucket's buffer."""
    for b in buckets.buckets:
        xp = backend.array_module(b.buffer)
        for p in b.params:
            assert p.grad is None or xp.shares_memory(p.grad.data, b.buffer)


def check_accelerator(rank, world, comm, device, view, label):
    acc = Accelerator(device=DEVICE, bucket_mb=BUCKET_MB, comm=comm,
                      gradient_as_bucket_view=view)
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
        if view:
            grads_in_buckets(model, model.buckets)
        opt.step(), opt.zero_grad(), ref_opt.step(), ref_opt.zero_grad()
    for p, q in zip(acc.unwrap_model(model).parameters(), ref.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    ok(f"{label}_equal")
    check_order(comm, log, model.buckets, rank)
    ok(f"{label}_order")
    del comm.iallreduce


def check_ddp(rank, world, comm, device, view, label):
    model = DDP(make_model(device), bucket_cap_mb=BUCKET_MB, gradient_as_bucket_view=view)
    opt = mytorch.optim.AdamW(model.parameters(), lr=1e-2)
    ref = make_model(device)
    ref_opt = mytorch.optim.AdamW(ref.parameters(), lr=1e-2)
    log = record_sends(comm, model.module)
    for step, (idx, y) in enumerate(batches(rank, device)):
        use_side = rank == 0 and step % 2 == 1
        F.cross_entropy(model(idx, use_side), y).backward()
        same_bits(model.module, ref, reference_grads(ref, comm, idx, y, use_side))
        if view:
            grads_in_buckets(model.module, model.buckets)
        opt.step(), opt.zero_grad(), ref_opt.step(), ref_opt.zero_grad()
    ok(f"{label}_equal")
    check_order(comm, log, model.buckets, rank)
    ok(f"{label}_order")
    del comm.iallreduce


class TiedNet(nn.Module):
    """An embedding that is also the output head, a position embedding, two layers between.
    12 lookups per rank touch at most 12 of the 64 rows: the embedding sends rows."""

    def __init__(self):
        super().__init__()
        self.emb, self.pos = nn.Embedding(64, 16), nn.Embedding(6, 16)
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 16)
        self.head = nn.Linear(16, 64, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        h = self.emb(idx) + self.pos(mytorch.arange(idx.shape[1], device=idx.device))
        return self.head(F.gelu(self.fc2(F.gelu(self.fc1(h)))))


def make_tied(device):
    mytorch.manual_seed(1)
    return TiedNet().to(device)


def tied_batches(rank, device):
    g = np.random.default_rng(200 + rank)
    return [(mytorch.tensor(g.integers(0, 64, (2, 6)), device=device),
             mytorch.tensor(g.integers(0, 64, (2, 6)), device=device)) for _ in range(STEPS)]


def tied_loss(model, idx, y):
    return F.cross_entropy(model(idx).reshape(-1, 64), y.reshape(-1))


def check_tied(rank, world, comm, device, view, label):
    """DDP and the Accelerator on a tied model: the same bits as the two-part protocol on the
    blocking communicator, the head's part leaving first, and the training of one process on
    every rank's batch at once."""
    cpu = device == "cpu"
    ref = make_tied(device)
    ref_buckets = GradBuckets(ref.parameters(), BUCKET_MB, **embedding_roles(ref))
    ref_buckets.attach(Blocking(comm))
    ref_opt = mytorch.optim.AdamW(ref.parameters(), lr=1e-2)
    one = make_tied(device)  # one process, both ranks' batches
    one_opt = mytorch.optim.AdamW(one.parameters(), lr=1e-2)
    ddp = DDP(make_tied(device), bucket_cap_mb=BUCKET_MB, gradient_as_bucket_view=view)
    ddp_opt = mytorch.optim.AdamW(ddp.parameters(), lr=1e-2)
    acc = Accelerator(device=DEVICE, bucket_mb=BUCKET_MB, comm=comm,
                      gradient_as_bucket_view=view)
    accm = acc.prepare(make_tied(device))
    acc_opt = acc.prepare(mytorch.optim.AdamW(accm.parameters(), lr=1e-2))
    split = ddp.buckets.split  # GPUs get their embeddings densely: no split there
    assert (len(split) == 1 and split[0] is ddp.module.emb.weight) if cpu else split == []
    log = record_sends(comm, ddp.module)
    gathers = comm.calls["allgather"]
    mine, everyone = tied_batches(rank, device), [tied_batches(r, device) for r in range(world)]
    for step, (idx, y) in enumerate(mine):
        tied_loss(ref, idx, y).backward()
        grads = [p.grad.numpy().copy() for p in ref.parameters()]
        del log[:]
        tied_loss(ddp, idx, y).backward()
        sent = list(log)
        same_bits(ddp.module, ref, grads)
        acc.backward(tied_loss(accm, idx, y))
        same_bits(acc.unwrap_model(accm), ref, grads)
        if view:
            grads_in_buckets(ddp.module, ddp.buckets)
            grads_in_buckets(accm, accm.buckets)
        both = [mytorch.cat([b[step][k] for b in everyone]) for k in (0, 1)]
        tied_loss(one, *both).backward()
        for (name, p), q in zip(ddp.module.named_parameters(), one.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7,
                                       err_msg=name)
        for opt in (ref_opt, one_opt, ddp_opt, acc_opt):
            opt.step(), opt.zero_grad()
        if cpu:  # the tied weight's bucket left first, before backward reached the embedding
            assert sent[0] == (64 * 16 + 1, False), sent
    for p, q in zip(ddp.module.parameters(), one.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-6)
    ok(f"{label}_equal")
    # the rows exchange: one allgather per synced backward (the reference's, DDP's, the
    # Accelerator's) on CPUs, none on GPUs (no split there)
    assert comm.calls["allgather"] - gathers == (3 * STEPS if cpu else 0)
    # the late embeddings go last: the position one (and on a GPU the unsplit tied one too)
    late = [p for b in ddp.buckets.buckets[-2:] for p in b.params]
    assert any(p is ddp.module.pos.weight for p in late)
    assert cpu or any(p is ddp.module.emb.weight for p in late)
    ok(f"{label}_order")
    del comm.iallreduce


def main():
    dist.init_process_group("nccl" if DEVICE == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = dist.default_comm()
    device = f"cuda:{comm.device_id}" if DEVICE == "cuda" else "cpu"
    for view, suffix in ((False, ""), (True, "_view")):
        check_accelerator(rank, world, comm, device, view, "accelerator" + suffix)
        check_ddp(rank, world, comm, device, view, "ddp" + suffix)
        check_tied(rank, world, comm, device, view, "tied" + suffix)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
