"""Waits on the GPU per training step of 2-rank DDP over NCCL (the CuPy stand-in counts every
device->host copy): none in fp32, one in fp16 (the overflow check that decides whether the
optimizer steps). Each step: forward, loss, backward with bucketed all-reduce, step, zero_grad."""
import common as C

import mytorch
from miniddp import Accelerator
from mytorch import backend
from mytorch.optim import AdamW

core = backend.cupy._core  # the stand-in's counter (the test runs this script on it only)
x, y = C.make_data(n=16)
comm = None
for precision, expected in (("no", 0), ("fp16", 1)):
    acc = Accelerator(mixed_precision=precision, comm=comm)
    comm = acc.comm
    assert acc.device.type == "cuda" and comm.name == "nccl" and acc.num_processes == 2, acc
    user_model = C.make_model()
    model, opt = acc.prepare(user_model, AdamW(user_model.parameters(), lr=1e-2))
    rows = slice(8 * acc.process_index, 8 * acc.process_index + 8)
    xb, yb = (mytorch.tensor(a[rows], device=acc.device) for a in (x, y))
    per_step = []
    for _ in range(4):
        before = core.syncs
        acc.backward(C.mse(model(xb), yb))
        opt.step()
        opt.zero_grad()
        per_step.append(core.syncs - before)
        assert not opt.step_was_skipped
    assert per_step == [expected] * 4, f"{precision}: host syncs per step {per_step}"
    C.ok(acc, f"host_syncs_{precision}")
