"""A small GPT trained with DistributedDataParallel, written as public PyTorch DDP examples are
(torchrun's variables, init_process_group, DDP, a slice of the batch per rank). With
USE_MYTORCH=1 it runs on mytorch through `sys.modules` aliasing, unchanged otherwise.

    python -m miniddp.launch -n 2 gpt_ddp.py     # or torchrun --nproc_per_node=2 with torch
    python gpt_ddp.py                            # one process, the whole batch
"""
import math
import os
import sys

import numpy as np

if os.environ.get("USE_MYTORCH") == "1":
    import mytorch
    import mytorch.distributed
    import mytorch.nn.parallel
    sys.modules["torch"] = mytorch
    sys.modules["torch.nn"] = mytorch.nn
    sys.modules["torch.nn.functional"] = mytorch.nn.functional
    sys.modules["torch.distributed"] = mytorch.distributed
    sys.modules["torch.nn.parallel"] = mytorch.nn.parallel

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

VOCAB, BLOCK, EMBD, HEADS, LAYERS = 48, 16, 32, 4, 2
BATCH, STEPS, LR = 8, 10, 1e-2


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(EMBD, 3 * EMBD)
        self.c_proj = nn.Linear(EMBD, EMBD)
        self.register_buffer("bias", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(EMBD, dim=2)
        k = k.view(B, T, HEADS, C // HEADS).transpose(1, 2)
        q = q.view(B, T, HEADS, C // HEADS).transpose(1, 2)
        v = v.view(B, T, HEADS, C // HEADS).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(EMBD), CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(EMBD)
        self.mlp = nn.Sequential(nn.Linear(EMBD, 4 * EMBD), nn.GELU(), nn.Linear(4 * EMBD, EMBD))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, EMBD), nn.Embedding(BLOCK, EMBD)
        self.h = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(EMBD)
        self.lm_head = nn.Linear(EMBD, VOCAB, bias=False)

    def forward(self, idx, targets):
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    ddp = int(os.environ.get("RANK", -1)) != -1
    if ddp:
        dist.init_process_group(backend="gloo")
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    else:
        rank, world = 0, 1
    model = GPT()
    rng = np.random.default_rng(1337)  # the same weights for torch and mytorch
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.05,
                                 dtype=torch.float32))
    if ddp:
        model = DDP(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    text = (np.arange(4096) * 7 + np.arange(4096) // 5) % VOCAB  # learnable, not trivial
    per_rank = BATCH // world
    for step in range(STEPS):
        starts = np.random.default_rng(step).integers(0, len(text) - BLOCK - 1, BATCH)
        mine = starts[rank * per_rank:(rank + 1) * per_rank]
        x = torch.tensor(np.stack([text[s:s + BLOCK] for s in mine]), dtype=torch.long)
        y = torch.tensor(np.stack([text[s + 1:s + 1 + BLOCK] for s in mine]), dtype=torch.long)
        loss = model(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ddp:
            loss = loss.detach().clone()
            dist.all_reduce(loss, op=dist.ReduceOp.SUM)
            loss = loss / world
        if rank == 0:
            print(f"step {step} loss {loss.item():.7f} norm {float(norm):.7f}", flush=True)
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
