"""N ranks x batch G/N == one process x batch G: gradients, weights after 1 and 20 AdamW steps,
gradient accumulation (and no communication while accumulating), clip_grad_norm_."""
import common as C

import mytorch
from miniddp import Accelerator, shard_batches
from mytorch.nn.utils import clip_grad_norm_
from mytorch.optim import AdamW
from mytorch.utils.data import DataLoader

G = 4            # global batch per micro-step
x, y = C.make_data(n=16)


def reference(steps, batch, seed, shuffle, clip=None):
    """One process, plain mytorch: same samples per step as the N-rank run."""
    model = C.make_model()
    opt = AdamW(model.parameters(), lr=1e-2)
    grads0, norms, epoch, step = None, [], 0, 0
    while step < steps:
        for idx in shard_batches(len(x), batch, 0, 1, shuffle, seed, epoch)[0]:
            loss = C.mse(model(mytorch.tensor(x[idx])), mytorch.tensor(y[idx]))
            loss.backward()
            if grads0 is None:
                grads0 = C.grads_of(model)
            if clip is not None:
                norms.append(float(clip_grad_norm_(model.parameters(), clip)))
            opt.step()
            opt.zero_grad()
            step += 1
            if step == steps:
                break
        epoch += 1
    return model, grads0, norms


def distributed(steps, k=1, shuffle=True, clip=None, count_comm=False):
    acc = Accelerator(gradient_accumulation_steps=k)
    user_model = C.make_model()
    user_opt = AdamW(user_model.parameters(), lr=1e-2)
    loader = DataLoader(C.dataset(x, y), batch_size=G // acc.num_processes, shuffle=shuffle)
    model, opt, dl = acc.prepare(user_model, user_opt, loader)
    assert acc.unwrap_model(model) is user_model and opt.optimizer is user_opt
    assert dl.loader is loader and loader.batch_size == G // acc.num_processes
    grads0, norms, step = None, [], 0
    while step < steps:
        for xb, yb in dl:
            with acc.accumulate(model):
                before = sum(acc.comm.calls.values())
                acc.backward(C.mse(model(xb), yb))
                if grads0 is None and acc.sync_gradients:
                    grads0 = C.grads_of(model)
                if clip is not None and acc.sync_gradients:
                    norms.append(float(acc.clip_grad_norm_(model.parameters(), clip)))
                opt.step()
                opt.zero_grad()
                if count_comm and not acc.sync_gradients:
                    assert sum(acc.comm.calls.values()) == before, "communicated while accumulating"
                    assert model.module.fc1.weight.grad is not None, "accumulated grad was zeroed"
                if acc.sync_gradients:
                    step += 1
                    if step == steps:
                        break
    return acc, model, grads0, norms, dl.seed


# one step and 20 AdamW steps, reshuffled every epoch
for steps in (1, 20):
    acc, model, grads0, _, seed = distributed(steps)
    ref, ref_grads0, _ = reference(steps, G, seed, shuffle=True)
    if steps == 1:
        for g, rg in zip(grads0, ref_grads0):
            C.close(g, rg, "gradients after one step")
    for p, rp in zip(C.params_of(model), C.params_of(ref)):
        C.close(p, rp, f"weights after {steps} AdamW steps", atol=1e-5, rtol=1e-4)
    C.ok(acc, f"adamw_{steps}")

# k accumulation steps x batch G == one step of batch k*G; nothing sent on non-sync steps
acc, model, _, _, seed = distributed(4, k=2, shuffle=False, count_comm=True)
ref, _, _ = reference(4, 2 * G, seed, shuffle=False)
for p, rp in zip(C.params_of(model), C.params_of(ref)):
    C.close(p, rp, "weights with gradient accumulation", atol=1e-5, rtol=1e-4)
C.ok(acc, "accumulation")

# clip_grad_norm_ on the averaged gradient
acc, model, _, norms, seed = distributed(5, clip=0.05)
ref, _, ref_norms = reference(5, G, seed, shuffle=True, clip=0.05)
C.close(norms, ref_norms, "clip_grad_norm_ norms")
assert min(norms) > 0.05, "the test should clip"
for p, rp in zip(C.params_of(model), C.params_of(ref)):
    C.close(p, rp, "weights after clipping", atol=1e-5, rtol=1e-4)
acc.print("NORMS " + " ".join(f"{n:.6f}" for n in norms))
C.ok(acc, "clip")
