"""What a user of DistributedDataParallel(gradient_as_bucket_view=...) sees of `.grad`, step by
step: which `.grad` is the same object as before, what a reference kept to it holds, and the
values. `scenario` runs on torch or mytorch alike; tests/miniddp/test_bucket_view.py runs it on
mytorch (a pretend second rank) and, through this file's main, on torch (one gloo rank, in a
process of its own), and compares.

    python tests/miniddp/_scripts/bucket_view.py VIEW INIT_FILE   # prints one line of JSON
"""
import contextlib
import json
import sys

import numpy as np


def build(lib):
    """A two-layer net with fixed weights and its batches (NumPy in, lib's tensors out)."""
    rng = np.random.default_rng(0)
    net = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 3))
    for p in net.parameters():
        p.data[...] = lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
    batches = [lib.tensor(rng.standard_normal((5, 4)).astype(np.float32)) for _ in range(9)]
    return net, batches


def scenario(lib, ddp, opt, w, batches):
    """Train `ddp` (w: its first weight) through zero_grad both ways, no_sync and a .grad the
    user set; returns {observation: bool} and the .grad values (lists) after each backward."""
    seen, values = {}, []
    step_no = iter(range(len(batches)))

    def backward(sync=True):
        with contextlib.nullcontext() if sync else ddp.no_sync():
            ddp(batches[next(step_no)]).square().mean().backward()
        values.append(w.grad.detach().numpy().tolist())

    # warm-up: torch rebuilds its buckets once, after the first backward
    for _ in range(2):
        backward(), opt.step(), opt.zero_grad(set_to_none=True)
    backward()
    ref, before = w.grad, w.grad.detach().numpy().copy()
    opt.zero_grad(set_to_none=False)
    seen["zero_grad(set_to_none=False) keeps the object"] = w.grad is ref
    seen["... and zeroes it in place"] = bool((ref.detach().numpy() == 0).all())
    backward()
    seen["the next backward fills the same object"] = w.grad is ref
    before = ref.detach().numpy().copy()
    opt.step(), opt.zero_grad(set_to_none=True)
    seen["zero_grad(set_to_none=True) drops .grad"] = w.grad is None
    seen["... a kept reference still holds the old values"] = bool(
        np.array_equal(ref.detach().numpy(), before))
    backward()
    seen["after set_to_none, .grad is the old object again"] = w.grad is ref
    seen["... and the kept reference holds the new values"] = bool(
        np.array_equal(ref.detach().numpy(), w.grad.detach().numpy()))
    opt.step(), opt.zero_grad(set_to_none=True)
    before = ref.detach().numpy().copy()
    backward(sync=False)
    seen["a no_sync backward from None makes a .grad of its own"] = w.grad is not ref
    seen["... and leaves the kept reference alone"] = bool(
        np.array_equal(ref.detach().numpy(), before))
    backward()
    seen["the synced backward after it is the old object again"] = w.grad is ref
    opt.step()
    mine = w.grad = lib.zeros(tuple(w.shape))
    backward()
    seen["a .grad the user set is replaced by the old object"] = w.grad is ref
    seen["... the user's tensor got the local gradient"] = bool(
        (mine.detach().numpy() != 0).any())
    return {"seen": seen, "values": values}


def main(view, init_file):
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=0, world_size=1)
    try:
        net, batches = build(torch)
        ddp = torch.nn.parallel.DistributedDataParallel(net, gradient_as_bucket_view=view)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
        print(json.dumps(scenario(torch, ddp, opt, net[0].weight, batches)), flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1] == "1", sys.argv[2])
