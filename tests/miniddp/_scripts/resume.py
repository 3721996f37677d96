"""save_state / load_state: an interrupted and resumed run repeats the uninterrupted losses.

argv: out_dir first|resume. "first" runs N micro-steps uninterrupted, then (reseeded) a run
stopped after S micro-steps that saves a checkpoint; "resume" loads it and runs to N.
Uses dropout (mytorch RNG), NumPy's global RNG, shuffling, AdamW, StepLR and accumulation.
"""
import json
import os
import random
import sys

import common as C
import numpy as np

import mytorch
from miniddp import Accelerator
from mytorch.optim import AdamW
from mytorch.optim.lr_scheduler import StepLR
from mytorch.utils.data import DataLoader

N, S = 13, 5  # S: after an optimizer step, in the middle of an epoch
out_dir, mode = sys.argv[1], sys.argv[2]
x, y = C.make_data(n=12)


class Counter:
    def __init__(self):
        self.step = 0

    def state_dict(self):
        return {"step": self.step}

    def load_state_dict(self, state):
        self.step = state["step"]


def run(stop, load=None, save=None):
    mytorch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    acc = Accelerator(gradient_accumulation_steps=2)
    model = C.make_model(p_drop=0.3)
    opt = AdamW(model.parameters(), lr=1e-2)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    loader = DataLoader(C.dataset(x, y), batch_size=4 // acc.num_processes, shuffle=True)
    model, opt, loader, sched = acc.prepare(model, opt, loader, sched)
    counter = Counter()
    acc.register_for_checkpointing(counter)
    if load:
        acc.load_state(load)
    losses = []
    while counter.step < stop:
        for xb, yb in loader:
            with acc.accumulate(model):
                noise = 1.0 + 0.1 * np.random.rand()  # NumPy's global stream must resume too
                loss = C.mse(model(xb), yb) * noise
                acc.backward(loss)
                opt.step()
                sched.step()
                opt.zero_grad()
            losses.append(loss.item())
            counter.step += 1
            if counter.step == stop:
                break
    if save:
        acc.save_state(save)
    return acc, losses


def dump(acc, name, losses):
    with open(os.path.join(out_dir, f"{name}_{acc.process_index}.json"), "w") as f:
        json.dump(losses, f)


ckpt = os.path.join(out_dir, "ckpt")
if mode == "first":
    acc, full = run(N)
    dump(acc, "full", full)
    acc, part = run(S, save=ckpt)
    C.close(part, full[:S], "the run before the interruption")
    dump(acc, "part", part)
    C.ok(acc, "saved")
else:
    acc, rest = run(N, load=ckpt)
    with open(os.path.join(out_dir, f"full_{acc.process_index}.json")) as f:
        full = json.load(f)
    assert len(rest) == N - S, (len(rest), N - S)
    C.close(rest, full[S:], "losses after load_state", atol=0, rtol=1e-6)
    C.ok(acc, "resumed")
