"""A small classifier trained with autocast and a GradScaler, in the style of the PyTorch
examples. Weights and data come from NumPy so that torch and mytorch start equal."""
import argparse
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--dtype", default="float16")
parser.add_argument("--steps", type=int, default=12)
parser.add_argument("--overflow-at", type=int, default=4)
args = parser.parse_args()

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
device = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else "cpu"
device_type = "cuda" if "cuda" in str(device) else "cpu"
ptdtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[
    args.dtype]
ctx = nullcontext() if ptdtype == torch.float32 else \
    torch.amp.autocast(device_type=device_type, dtype=ptdtype)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.ln = nn.LayerNorm(64)
        self.drop = nn.Dropout(0.0)
        self.fc2 = nn.Linear(64, 5)

    def forward(self, x):
        return self.fc2(self.drop(F.gelu(self.ln(self.fc1(x)))))


rng = np.random.default_rng(0)
model = Net()
model.load_state_dict({k: torch.tensor(rng.standard_normal(tuple(v.shape)).astype(np.float32)
                                       * 0.2) for k, v in model.state_dict().items()})
model = torch.compile(model)
print(f"parameters: {sum(p.nelement() for p in model.parameters())}")
x = torch.tensor(rng.standard_normal((256, 20)).astype(np.float32))
y = torch.tensor(rng.integers(0, 5, 256))
loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
scaler = torch.amp.GradScaler(device_type, init_scale=2.0 ** 10, growth_interval=5,
                              enabled=(ptdtype == torch.float16))

step = 0
while step < args.steps:
    for xb, yb in loader:
        with ctx:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
        # an overflowing step, which the scaler (fp16 only) must skip
        overflow = scaler.is_enabled() and step == args.overflow_at
        scaled = loss * float("inf") if overflow else loss
        scaler.scale(scaled).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        print(f"step {step} loss {loss:.4f} dtype {str(logits.dtype).split('.')[-1]} "
              f"scale {scaler.get_scale():g}")
        step += 1
        if step >= args.steps:
            break
