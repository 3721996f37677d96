"""Collectives and the Accelerator's process API on N ranks."""
import contextlib
import json
import os
import sys

import common as C
import numpy as np

import mytorch
from miniddp import Accelerator
from mytorch.utils.data import DataLoader, TensorDataset

out_dir = sys.argv[1]
acc = Accelerator(project_dir=out_dir)
comm, rank, world = acc.comm, acc.process_index, acc.num_processes
assert 0 <= acc.local_process_index <= rank
assert acc.device == ("cuda" if mytorch.cuda.is_available() else "cpu")
assert acc.is_main_process == (rank == 0)
assert acc.is_local_main_process == (acc.local_process_index == 0)

# communicator: allreduce sum/mean/max, broadcast, allgather with variable sizes, barrier
xp = mytorch.backend.module_for(acc.device)  # NumPy over MPI, CuPy over NCCL
with mytorch.backend.on_device(acc.device) or contextlib.nullcontext():
    a = xp.full((2, 3), rank + 1.0, np.float32)
    b = xp.arange(4, dtype=np.int64) * (rank + 1)
    c = xp.arange(rank + 1, dtype=np.float64).reshape(rank + 1, 1) + 10 * rank
    h = xp.full(3, 60000.0, np.float16)
C.close(comm.allreduce(a.copy(), "sum"), np.full((2, 3), sum(range(1, world + 1))), "sum")
C.close(comm.allreduce(a.copy(), "mean"), np.full((2, 3), (world + 1) / 2), "mean")
C.close(comm.allreduce(a.copy(), "max"), np.full((2, 3), world), "max")
# a float16 sum over ranks overflows (120000 > 65504): the mean must be taken in float32
C.close(comm.allreduce(h, "mean"), np.full(3, 60000.0), "float16 mean")
C.close(comm.broadcast(b), np.arange(4), "broadcast")
parts = comm.allgather(c)
assert [p.shape for p in parts] == [(r + 1, 1) for r in range(world)]
for r, p in enumerate(parts):
    C.close(p[:, 0], np.arange(r + 1) + 10 * r, "allgather")
assert comm.allgather_object({"rank": rank}) == [{"rank": r} for r in range(world)]
comm.barrier()
C.ok(acc, "communicator")

# gather (variable sizes, nested, 0-d) and reduce
t = mytorch.full((rank + 1, 2), float(rank), device=acc.device)
g = acc.gather({"t": t, "s": mytorch.tensor(float(rank), device=acc.device)})
assert tuple(g["t"].shape) == (sum(r + 1 for r in range(world)), 2)
C.close(g["s"].numpy(), np.arange(world, dtype=np.float32), "gather 0-d")
C.close(acc.reduce(mytorch.tensor([1.0, rank], device=acc.device), "sum").numpy(),
        [world, sum(range(world))], "reduce sum")
C.close(acc.reduce(mytorch.tensor([2.0], device=acc.device), "mean").numpy(), [2.0],
        "reduce mean")
C.ok(acc, "gather_reduce")

# gather_for_metrics: exactly len(dataset) items, in order, for uneven sizes
for n, bs in ((7, 2), (9, 4), (3, 2), (8, 2)):
    ds = TensorDataset(mytorch.arange(n), mytorch.arange(n) * 10)
    dl = acc.prepare(DataLoader(ds, batch_size=bs))
    seen, objs = [], []
    for idx, ten in dl:
        got = acc.gather_for_metrics((idx, ten))
        seen += got[0].tolist()
        assert got[1].tolist() == [10 * i for i in got[0].tolist()]
        objs += acc.gather_for_metrics([f"s{i}" for i in idx.tolist()])
    assert seen == list(range(n)), (n, bs, seen)
    assert objs == [f"s{i}" for i in range(n)], objs
C.ok(acc, "gather_for_metrics")

# sharding: disjoint per-rank parts covering the epoch, the same number of batches everywhere,
# reshuffled per epoch with the same permutation on every rank
ds = TensorDataset(mytorch.arange(10))
dl = acc.prepare(DataLoader(ds, batch_size=2, shuffle=True))
epochs = []
for _ in range(2):
    mine = [i for (b,) in dl for i in b.tolist()]
    everyone = comm.allgather_object(mine)
    assert len({len(m) for m in everyone}) == 1, "uneven shards"
    flat = [i for m in everyone for i in m]
    assert sorted(set(flat)) == list(range(10))
    if 10 % world == 0 and 10 % (2 * world) == 0:
        assert len(flat) == 10
    epochs.append(everyone)
assert epochs[0] != epochs[1], "not reshuffled between epochs"
C.ok(acc, "sharding")

# main_process_first: the main process finishes the body before the others start it
marker = os.path.join(out_dir, "first.txt")
with acc.main_process_first():
    if acc.is_main_process:
        with open(marker, "w") as f:
            f.write("main")
    else:
        with open(marker) as f:
            assert f.read() == "main"
C.ok(acc, "main_process_first")

# trackers: JSON-lines on the main process only
acc.init_trackers("proj", config={"lr": 0.1})
acc.log({"loss": mytorch.tensor(1.5), "acc": np.float32(0.25)}, step=3)
acc.end_training()
path = os.path.join(out_dir, "proj.jsonl")
if acc.is_main_process:
    with open(path) as f:
        lines = [json.loads(s) for s in f]
    assert lines[0]["config"] == {"lr": 0.1}
    assert lines[1]["step"] == 3 and lines[1]["loss"] == 1.5 and lines[1]["acc"] == 0.25
else:
    assert acc.trackers == []
acc.print(f"PRINT from {rank}")
C.ok(acc, "trackers")
