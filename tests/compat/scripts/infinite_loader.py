"""The "infinite loader" idiom of minGPT and makemore: a RandomSampler with replacement and
num_samples=int(1e10), pulled from with next() for as many steps as training wants."""
import argparse
import time

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--workers", type=int, default=0)
args = parser.parse_args()


class Chars(Dataset):
    """Next-character pairs of a tiny repeated text."""

    def __init__(self):
        text = "hello world, hello mytorch. " * 8
        self.vocab = sorted(set(text))
        self.ids = np.array([self.vocab.index(c) for c in text])

    def __len__(self):
        return len(self.ids) - 1

    def __getitem__(self, i):
        return torch.tensor(self.ids[i]), torch.tensor(self.ids[i + 1])


class InfiniteDataLoader:
    def __init__(self, dataset, **kwargs):
        sampler = RandomSampler(dataset, replacement=True, num_samples=int(1e10))
        self.loader = DataLoader(dataset, sampler=sampler, **kwargs)
        self.data_iter = iter(self.loader)

    def next(self):
        try:
            return next(self.data_iter)
        except StopIteration:  # never, in practice
            self.data_iter = iter(self.loader)
            return next(self.data_iter)


torch.manual_seed(0)
data = Chars()
t0 = time.time()
loader = InfiniteDataLoader(data, batch_size=16, num_workers=args.workers)
model = nn.Sequential(nn.Embedding(len(data.vocab), 32), nn.Linear(32, len(data.vocab)))
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
losses = []
for step in range(args.steps):
    xb, yb = loader.next()
    loss = nn.functional.cross_entropy(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"batches {args.steps} first_loss {losses[0]:.4f} last_loss {np.mean(losses[-10:]):.4f} "
      f"seconds {time.time() - t0:.2f}")
