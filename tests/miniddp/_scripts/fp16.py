"""mixed_precision="fp16": fp16 compute on fp32 master weights, dynamic loss scaling, and a step
skipped on every rank when one rank's gradients overflow."""
import common as C
import numpy as np

import mytorch
from miniddp import Accelerator
from mytorch.optim import AdamW
from mytorch.utils.data import DataLoader

G = 4
x, y = C.make_data(n=16)

acc = Accelerator(mixed_precision="fp16", scaler_kwargs={"init_scale": 256.0,
                                                         "growth_interval": 3})
user_model = C.make_model()
model, opt, dl = acc.prepare(user_model, AdamW(user_model.parameters(), lr=1e-2),
                             DataLoader(C.dataset(x, y), batch_size=G // acc.num_processes))
ref = C.make_model()
ref_opt = AdamW(ref.parameters(), lr=1e-2)

seen = []
acc.unwrap_model(model).fc1.register_forward_pre_hook(
    lambda m, args: seen.append((args[0].dtype, m.weight.dtype)))

for step, (xb, yb) in enumerate(dl):
    acc.backward(C.mse(model(xb), yb))
    for p in model.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, "master weights/grads fp32"
    opt.step()
    opt.zero_grad()
    assert not opt.step_was_skipped
    idx = slice(step * G, (step + 1) * G)
    C.mse(ref(mytorch.tensor(x[idx])), mytorch.tensor(y[idx])).backward()
    ref_opt.step()
    ref_opt.zero_grad()
assert seen and all(a == np.float16 and w == np.float16 for a, w in seen), seen
for p, rp in zip(C.params_of(model), C.params_of(ref)):
    C.close(p, rp, "fp16 training vs fp32", atol=3e-2, rtol=3e-2)
assert acc.scaler.scale == 256.0 * 2, acc.scaler.scale  # grew once after 3 clean steps
C.ok(acc, "fp16_train")

# overflow on the last rank only: every rank skips the step and halves the scale
before = C.params_of(model)
xb, yb = next(iter(dl))
loss = C.mse(model(xb), yb)
if acc.process_index == acc.num_processes - 1:
    loss = loss * 1e30
acc.backward(loss)
opt.step()
opt.zero_grad()
assert opt.step_was_skipped
assert acc.scaler.scale == 256.0, acc.scaler.scale
for p, b in zip(C.params_of(model), before):
    C.close(p, b, "weights after a skipped step", atol=0, rtol=0)
# and training goes on
acc.backward(C.mse(model(xb), yb))
opt.step()
assert not opt.step_was_skipped
assert acc.comm.allgather_object(acc.scaler.state_dict())[0] == acc.scaler.state_dict()
C.ok(acc, "fp16_overflow")
