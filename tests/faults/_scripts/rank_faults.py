"""One rank script, many faults: `rank_faults.py MODE`. Rank 1 misbehaves at step 3; every rank
prints `STEP <rank> <step>` as it goes, so the tests know how far each got."""
import os
import sys
import time

import numpy as np

import mytorch
import mytorch.nn as nn
from miniddp import Accelerator

MODE = sys.argv[1]
FAULT_STEP = 3


class Shaped(nn.Module):
    """One weight whose shape may differ by rank while its size does not."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(mytorch.randn(*shape))

    def forward(self, x):
        return x.reshape(x.shape[0], -1)[:, :24] * self.weight.reshape(1, 24)


class Tied(nn.Module):
    """An embedding that is also the output head: its head part leaves early in backward, while
    the rest of backward runs (mytorch.distributed.buckets)."""

    def __init__(self):
        super().__init__()
        self.emb, self.mid = nn.Embedding(64, 8), nn.Linear(8, 8)
        self.head = nn.Linear(8, 64, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        return self.head(self.mid(self.emb(idx)).tanh())


def build(rank):
    mytorch.manual_seed(0)
    if MODE == "shape_mismatch":
        return Shaped((4, 6) if rank == 0 else (6, 4))
    if MODE.startswith("tied_"):
        return Tied()
    layers = [nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1)]
    if MODE == "extra_layer" and rank == 1:
        layers += [nn.Linear(1, 1)]
    return nn.Sequential(*layers)


def main():
    timeout = os.environ.get("FAULT_TIMEOUT")  # Accelerator(timeout=...) instead of the env
    views = os.environ.get("FAULT_BUCKET_VIEW", "1") == "1"  # .grad as views of the buckets
    acc = Accelerator(device="cpu", timeout=float(timeout) if timeout else None,
                      gradient_as_bucket_view=views)
    rank = acc.process_index
    model = build(rank)
    opt = mytorch.optim.SGD(model.parameters(), lr=0.01)
    model, opt = acc.prepare(model, opt)
    print(f"PREPARED {rank}", flush=True)
    if MODE == "int_mean":
        x = np.arange(4, dtype=np.int64)
        try:
            acc.comm.allreduce(x, "mean")
        except TypeError as e:
            assert np.array_equal(x, np.arange(4)), x  # untouched
            print(f"INT_MEAN_REJECTED {rank}: {e}", flush=True)
    steps = {"loop": 10 ** 9, "fewer_steps": 6 if rank == 0 else 3}.get(MODE, 6)
    if MODE.startswith("tied_") and rank == 1:
        # Rank 1 fails in the middle of step 3's backward: once `mid` has its gradient, after
        # the tied weight's first part has left on a nonblocking allreduce.
        def fail(p):
            if acc.comm.step != FAULT_STEP:
                return
            assert model.buckets._in_flight, "the tied weight's bucket should be in flight"
            assert model.buckets.gradient_as_bucket_view is views
            print(f"FAILING {rank} with a bucket in flight", flush=True)
            if MODE == "tied_exit_mid_backward":
                os._exit(0)
            time.sleep(3600)
        acc.unwrap_model(model).mid.weight.register_post_accumulate_grad_hook(fail)
    for step in range(1, steps + 1):
        if MODE.startswith("tied_"):
            idx = mytorch.tensor(np.random.default_rng(step + 10 * rank).integers(0, 64, 6))
            acc.backward(model(idx).pow(2).mean())
            opt.step()
            opt.zero_grad()
            print(f"STEP {rank} {step}", flush=True)
            continue
        if rank == 1 and step == FAULT_STEP:
            if MODE == "exit0":
                sys.exit(0)
            if MODE == "os_exit":
                os._exit(0)
            if MODE == "hang":
                time.sleep(3600)
        x = mytorch.randn(4, 24 if MODE == "shape_mismatch" else 8)
        loss = model(x).pow(2).mean()
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
        print(f"STEP {rank} {step}", flush=True)
        if MODE == "loop":
            time.sleep(0.05)
    if MODE != "fewer_steps":  # there, rank 1 simply ends: a hand-written loop's mistake
        acc.wait_for_everyone()
    print(f"DONE {rank}", flush=True)


if __name__ == "__main__":
    main()
