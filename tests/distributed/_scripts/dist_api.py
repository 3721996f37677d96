"""mytorch.distributed and DistributedDataParallel on N ranks (run by test_distributed.py under
`python -m miniddp.launch`); each check prints `OK <name> <rank>`, a failure aborts the job."""
import os

import numpy as np

import mytorch
import mytorch.distributed as dist
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.nn.parallel import DistributedDataParallel as DDP


def ok(name):
    print(f"OK {name} {os.environ['RANK']}", flush=True)


def close(a, b, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol), (a, b)


def check_env(rank, world):
    assert os.environ["RANK"] == str(rank) and os.environ["WORLD_SIZE"] == str(world)
    assert os.environ["LOCAL_RANK"] == str(rank) and os.environ["MASTER_ADDR"]
    assert dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo"
    ok("env")


def check_collectives(rank, world):
    values = np.array([[r + 1.0, -2.0 * r, 0.5] for r in range(world)])
    for op, expect in ((dist.ReduceOp.SUM, values.sum(0)), (dist.ReduceOp.AVG, values.mean(0)),
                       (dist.ReduceOp.MAX, values.max(0)), (dist.ReduceOp.MIN, values.min(0))):
        t = mytorch.tensor(values[rank], dtype=mytorch.float64)
        assert dist.all_reduce(t, op=op) is None
        close(t.numpy(), expect)
    t = mytorch.tensor([rank, 10], dtype=mytorch.int64)
    dist.all_reduce(t)
    assert t.tolist() == [sum(range(world)), 10 * world]
    ok("all_reduce")
    t = mytorch.full((2, 3), float(rank))
    work = dist.broadcast(t, src=world - 1, async_op=True)
    assert work.wait()
    close(t.numpy(), np.full((2, 3), world - 1.0))
    s = mytorch.tensor(float(rank) * 2)  # 0-d
    dist.broadcast(s, src=0)
    assert s.item() == 0.0
    ok("broadcast")
    outs = [mytorch.zeros(2, dtype=mytorch.int64) for _ in range(world)]
    dist.all_gather(outs, mytorch.tensor([rank, rank * 10]))
    assert [o.tolist() for o in outs] == [[r, r * 10] for r in range(world)]
    ok("all_gather")
    inputs = [mytorch.full((3,), float(rank * 100 + j)) for j in range(world)]
    out = mytorch.zeros(3)
    dist.reduce_scatter(out, inputs)
    close(out.numpy(), np.full(3, float(sum(r * 100 + rank for r in range(world)))))
    ok("reduce_scatter")
    objs = [None] * world
    dist.all_gather_object(objs, {"rank": rank})
    assert objs == [{"rank": r} for r in range(world)]
    lst = [rank, "x"] if rank == 0 else [None, None]
    dist.broadcast_object_list(lst, src=0)
    assert lst == [0, "x"]
    dist.barrier()
    ok("objects_barrier")
    try:
        dist.all_gather([mytorch.zeros(2)], mytorch.zeros(2))
    except ValueError as e:
        assert "tensor_list has 1 tensors for a world of" in str(e), e
    else:
        raise AssertionError("all_gather accepted a short list")
    ok("bad_input")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 16), nn.Linear(16, 16), nn.Linear(16, 3)
        self.side = nn.Linear(6, 3)    # used on rank 0 only (when asked)
        self.never = nn.Linear(2, 2)   # used nowhere
        self.bn = nn.BatchNorm1d(16)  # its buffers only (batch statistics differ by rank)

    def forward(self, x, use_side=False):
        y = self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
        return y + self.side(x) if use_side else y


def batches(steps, n):
    g = np.random.default_rng(0)
    return [(g.standard_normal((n, 6)), g.integers(0, 3, n)) for _ in range(steps)]


def make_model():
    mytorch.manual_seed(0)
    return Net().double()


def check_ddp(rank, world, bucket_cap_mb):
    # world ranks with b samples each == one process with world * b samples: gradients after
    # one step and weights after five Adam steps.
    b = 4
    ref, model = make_model(), DDP(make_model(), bucket_cap_mb=bucket_cap_mb)
    assert isinstance(model.module, Net) and list(model.state_dict())[0] == "module.fc1.weight"
    opt_ref = mytorch.optim.Adam(ref.parameters(), lr=1e-2)
    opt = mytorch.optim.Adam(model.parameters(), lr=1e-2)
    for step, (x, y) in enumerate(batches(5, b * world)):
        x, y = mytorch.tensor(x), mytorch.tensor(y)
        F.cross_entropy(ref(x), y).backward()
        mine = slice(rank * b, (rank + 1) * b)
        F.cross_entropy(model(x[mine]), y[mine]).backward()
        for (name, p), q in zip(ref.named_parameters(), model.module.parameters()):
            if p.grad is None:
                assert q.grad is None, name
            else:
                close(q.grad.numpy(), p.grad.numpy(), 1e-10)
        opt_ref.step(), opt.step(), opt_ref.zero_grad(), opt.zero_grad()
    for p, q in zip(ref.parameters(), model.module.parameters()):
        close(q.detach().numpy(), p.detach().numpy(), 1e-10)
    assert len(model.buckets) > 1 if bucket_cap_mb < 0.01 else True
    ok(f"ddp_{len(model.buckets)}_buckets" if bucket_cap_mb < 0.01 else "ddp")


def check_no_sync(rank, world):
    # two micro-batches, the first under no_sync: one allreduce of the accumulated gradients
    b = 3
    ref, model = make_model(), DDP(make_model())
    (x1, y1), (x2, y2) = batches(2, b * world)
    mine = slice(rank * b, (rank + 1) * b)
    comm = dist.default_comm()
    before = comm.calls["allreduce"]
    with model.no_sync():
        F.cross_entropy(model(mytorch.tensor(x1[mine])), mytorch.tensor(y1[mine])).backward()
    assert comm.calls["allreduce"] == before, "no_sync communicated"
    F.cross_entropy(model(mytorch.tensor(x2[mine])), mytorch.tensor(y2[mine])).backward()
    assert comm.calls["allreduce"] == before + len(model.buckets)
    for x, y in ((x1, y1), (x2, y2)):
        F.cross_entropy(ref(mytorch.tensor(x)), mytorch.tensor(y)).backward()
    for p, q in zip(ref.parameters(), model.module.parameters()):
        if p.grad is not None:
            close(q.grad.numpy(), p.grad.numpy(), 1e-10)
    ok("no_sync")


def check_unused(rank, world):
    # `side` runs on rank 0 only: every rank gets rank 0's gradient / world (torch's
    # find_unused_parameters); `never` runs nowhere and keeps grad None.
    model = DDP(make_model(), bucket_cap_mb=1e-4)
    x = mytorch.tensor(batches(1, 4)[0][0])
    model(x, use_side=rank == 0).sum().backward()
    g = model.module.side.weight.grad
    local = make_model()
    local(x, use_side=True).sum().backward()
    close(g.numpy(), local.side.weight.grad.numpy() / world, 1e-10)
    assert model.module.never.weight.grad is None
    ok("unused")


def check_buffers(rank, world):
    model = DDP(make_model())
    model.module.bn.running_mean.data[...] = rank  # drift on purpose
    model(mytorch.tensor(batches(1, 4)[0][0]))  # broadcasts rank 0's buffers first
    parts = [mytorch.zeros(16, dtype=mytorch.float64) for _ in range(world)]
    dist.all_gather(parts, model.module.bn.running_mean)
    for p in parts[1:]:
        close(p.numpy(), parts[0].numpy())
    if rank == 0:  # an evaluation on rank 0 alone communicates nothing, so it cannot hang
        before = sum(dist.default_comm().calls.values())
        with mytorch.no_grad():
            model(mytorch.tensor(batches(1, 4)[0][0]))
        model.eval()
        model(mytorch.tensor(batches(1, 4)[0][0]))
        model.train()
        assert sum(dist.default_comm().calls.values()) == before
    dist.barrier()
    ok("buffers")


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn1, self.bn2 = nn.Linear(6, 16), nn.BatchNorm1d(16), nn.BatchNorm2d(4)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = F.relu(self.bn1(self.fc1(x)))
        h = self.bn2(h.reshape(-1, 4, 2, 2)).reshape(-1, 16)
        return self.fc2(h)


def check_sync_batchnorm(rank, world):
    # SyncBatchNorm on world ranks with b samples each == BatchNorm on one process with world*b
    # samples: gradients, weights and running statistics after 3 SGD steps
    mytorch.manual_seed(0)
    ref = BNNet().double()
    mytorch.manual_seed(0)
    model = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(BNNet().double()))
    assert type(model.module.bn1).__name__ == "SyncBatchNorm"
    opt_ref = mytorch.optim.SGD(ref.parameters(), lr=0.1)
    opt = mytorch.optim.SGD(model.parameters(), lr=0.1)
    b = 5
    for x, y in batches(3, b * world):
        x, y = mytorch.tensor(x), mytorch.tensor(y)
        F.cross_entropy(ref(x), y).backward()
        mine = slice(rank * b, (rank + 1) * b)
        F.cross_entropy(model(x[mine]), y[mine]).backward()
        for p, q in zip(ref.parameters(), model.module.parameters()):
            close(q.grad.numpy(), p.grad.numpy(), 1e-10)
        opt_ref.step(), opt.step(), opt_ref.zero_grad(), opt.zero_grad()
    for (name, p), q in zip(ref.state_dict().items(), model.module.state_dict().values()):
        close(q.numpy(), p.numpy(), 1e-10)
    ok("sync_batchnorm")


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    check_env(rank, world)
    check_collectives(rank, world)
    check_ddp(rank, world, 25)
    check_ddp(rank, world, 1e-4)
    check_no_sync(rank, world)
    check_unused(rank, world)
    check_buffers(rank, world)
    check_sync_batchnorm(rank, world)
    dist.destroy_process_group()
    assert not dist.is_initialized()
    dist.init_process_group("mpi")  # again, as a script that trains twice would
    t = mytorch.ones(2)
    dist.all_reduce(t)
    assert t.tolist() == [world, world] and dist.get_backend() == "mpi"
    dist.destroy_process_group()
    ok("destroyed")


if __name__ == "__main__":
    main()
